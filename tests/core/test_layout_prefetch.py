"""The umap prefetch (layout.prefetch) starts its import in the background and changes nothing
about the layout: the same embeddings give the same coordinates with and without it."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # UMAP in two fresh processes

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, numpy as np
from speakerid_gui.core import layout as L
if sys.argv[1] == "prefetch":
    L.prefetch("umap")
    assert L._prefetch is not None and L._prefetch.name == "umap-prefetch"
X = np.load(sys.argv[2])
np.save(sys.argv[3], L.layout(X, "umap"))
"""


def _coords(tmp_path, mode: str, X_path: Path) -> np.ndarray:
    out = tmp_path / f"{mode}.npy"
    subprocess.run([sys.executable, "-c", SCRIPT, mode, str(X_path), str(out)], check=True,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=300)
    return np.load(out)


def test_prefetch_gives_the_same_layout(tmp_path):
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((4, 64))
    X = np.concatenate([c + 0.3 * rng.standard_normal((40, 64)) for c in centres]).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    np.save(tmp_path / "X.npy", X)
    a, b = _coords(tmp_path, "plain", tmp_path / "X.npy"), _coords(tmp_path, "prefetch", tmp_path / "X.npy")
    assert a.shape == (160, 2) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_prefetch_ignores_other_methods():
    from speakerid_gui.core import layout as L

    before = L._prefetch
    L.prefetch("pca")
    assert L._prefetch is before
