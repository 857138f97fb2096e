"""A relabelling computed from older labels, applied after the reviewer edited (core/project/rebase.py)."""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.project.rebase import Snapshot, rebase


def snap(cluster, verified=None, noise=None):
    cluster = np.asarray(cluster, np.int32)
    z = np.zeros(len(cluster), bool)
    return Snapshot(cluster, z.copy() if verified is None else np.asarray(verified), z.copy() if noise is None
                    else np.asarray(noise))


def test_untouched_segments_take_the_result_touched_ones_keep_the_reviewers_label():
    before = snap([0, 0, 1, 1, 2, 2])
    index = np.array([0, 1, 2, 3])
    proposal = np.array([1, 1, 0, 2])
    conf = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    now = snap([0, 3, 1, 1, 2, 2], verified=[False, False, True, False, False, False])  # moved 1, verified 2
    r = rebase(index, proposal, conf, before, now)
    assert r.index.tolist() == [0, 3] and r.clusters.tolist() == [1, 2]
    assert np.allclose(r.confidence, [0.9, 0.6]) and r.kept_by_reviewer == 2


def test_a_target_merged_away_follows_its_segments():
    before = snap([0, 0, 1, 1, 2, 2])
    now = snap([0, 0, 2, 2, 2, 2])  # the reviewer merged 1 into 2
    r = rebase([0, 1], [1, 1], [0.9, 0.9], before, now)
    assert r.clusters.tolist() == [2, 2] and r.redirected == 2 and r.kept_by_reviewer == 0


def test_a_target_that_vanished_entirely_is_not_applied():
    before = snap([0, 0, 1, 1])
    now = snap([0, 0, -1, -1], noise=[False, False, True, True])  # cluster 1 marked noise
    r = rebase([0, 1], [1, 1], [0.9, 0.9], before, now)
    assert len(r.index) == 0
