"""The one-pass cuts of a dendrogram are fcluster's own, label for label."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from speakerid_gui.core.cluster.agglomerative import CUT_GRID
from speakerid_gui.core.cluster.cuts import distance_cuts


@pytest.mark.parametrize("n, dim, seed", [(2, 4, 0), (3, 8, 1), (40, 16, 2), (300, 32, 3), (700, 192, 4)])
def test_every_cut_equals_fcluster(n, dim, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 8), dim))
    X = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Z = linkage(X, method="average", metric="cosine")
    cuts = dict(distance_cuts(Z, CUT_GRID))
    assert sorted(cuts) == sorted(float(t) for t in CUT_GRID)
    for t in CUT_GRID:
        assert np.array_equal(cuts[float(t)], fcluster(Z, t=t, criterion="distance")), t


def test_ties_and_unsorted_thresholds():
    # duplicated points merge at distance 0: ties everywhere, as in clips cut from one file
    X = np.repeat(np.eye(5) + 0.01, 4, axis=0)
    Z = linkage(X, method="average", metric="cosine")
    grid = [1.0, 0.0, 0.5, 1e-9]
    got = list(distance_cuts(Z, grid))
    assert [t for t, _ in got] == sorted(grid)
    for t, labels in got:
        assert np.array_equal(labels, fcluster(Z, t=t, criterion="distance"))
