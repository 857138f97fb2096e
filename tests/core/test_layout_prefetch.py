"""The umap prefetch (layout.prefetch) imports umap in a process of its own, which then computes
the layout; nothing about the layout changes: the same embeddings give the same coordinates
with and without it, and without it when the helper process has died."""
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
if sys.argv[1] != "plain":
    L.prefetch("umap")
    assert L._helper is not None and L._helper.alive()
if sys.argv[1] == "killed":  # the helper gone: this process computes it
    L._helper.process.kill()
    L._helper.process.wait()
X = np.load(sys.argv[2])
np.save(sys.argv[3], L.layout(X, "umap"))
# computed where it should be: umap imported here only without a live helper
assert ("umap" in sys.modules) == (sys.argv[1] != "prefetch"), sys.argv[1]
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
    a, b, c = (_coords(tmp_path, mode, tmp_path / "X.npy") for mode in ("plain", "prefetch", "killed"))
    assert a.shape == (160, 2) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a, c, atol=1e-5)


def test_prefetch_ignores_other_methods():
    from speakerid_gui.core import layout as L

    before = L._helper
    L.prefetch("pca")
    assert L._helper is before
