"""2-D coordinates of every segment for the scatter: UMAP (cosine), t-SNE or PCA."""
from __future__ import annotations

import threading

import numpy as np

_helper = None  # the umap process started by prefetch(), or None


def prefetch(method: str = "umap") -> None:
    """Start a process of its own that imports umap (about 1.7 s of one core: umap, sklearn,
    scipy.stats, pynndescent, numba) while the analysis runs; layout() then computes the
    layout there. A thread did the same imports, but they hold the GIL most of the time and
    slowed the analysis about as much as they saved (fsdd-subset end to end on 2 cores: 5.0 s
    with the thread, 3.5-4.2 s with the process). Nothing else changes: the helper runs the
    same layout() on the same array."""
    global _helper
    if method != "umap" or (_helper is not None and _helper.alive()):
        return
    try:
        _helper = _Helper()
    except Exception:  # noqa: BLE001  (no process to start here: layout() computes it itself)
        _helper = None


def stop_helper() -> None:
    """End the helper process and wait for it (so its CPU time is counted in this process's
    children, as a benchmark reads it); it also ends by itself when this process does."""
    global _helper
    if _helper is not None:
        _helper.conn.close()
        try:
            _helper.process.wait(timeout=10)
        except Exception:  # noqa: BLE001  (still busy: it goes when its socket's reader fails)
            pass
        _helper = None


class _Helper:
    """A Python process serving layout() calls over a socket until the socket closes (this
    process ended) or it idles a while. Started with `python -c`, not multiprocessing's spawn,
    which imports the parent's main script again: a script without a __main__ guard that runs
    the pipeline would have run it twice."""

    IDLE_SECONDS = 300.0

    def __init__(self):
        import os
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection
        from pathlib import Path

        ours, theirs = socket.socketpair()
        root = str(Path(__file__).resolve().parents[2])  # where speakerid_gui is, installed or not
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from speakerid_gui.core.layout import _serve; "
             "_serve(int(sys.argv[1]), float(sys.argv[2]))", str(theirs.fileno()), str(self.IDLE_SECONDS)],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
        theirs.close()
        self.conn = Connection(ours.detach())
        self.lock = threading.Lock()  # one request at a time, whichever thread asks

    def alive(self) -> bool:
        return self.process.poll() is None

    def layout(self, X: np.ndarray, method: str, seed: int) -> np.ndarray | None:
        """The coordinates, or None when the process is gone (the caller computes them itself)."""
        try:
            with self.lock:
                self.conn.send((X, method, seed))
                ok, value = self.conn.recv()
        except (EOFError, OSError):
            return None
        return value if ok else None  # an error: layout() in this process raises it with its traceback


def _serve(fd: int, idle_seconds: float):
    """The helper's loop; it ends with os._exit: the interpreter's teardown of umap, numba and
    sklearn took a second, which stop_helper() would wait for."""
    import os

    try:
        _serve_until_done(fd, idle_seconds)
    finally:
        os._exit(0)


def _serve_until_done(fd: int, idle_seconds: float):
    from multiprocessing.connection import Connection

    conn = Connection(fd)
    try:
        import umap  # noqa: F401  (the point of the process: imported before it is needed)
    except Exception:  # layout() reports the error where it is needed
        pass
    while True:
        try:
            if not conn.poll(idle_seconds):
                return
            X, method, seed = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        try:
            conn.send((True, layout(X, method, seed, here=True)))
        except Exception as exc:  # noqa: BLE001
            conn.send((False, repr(exc)))


def layout(X: np.ndarray, method: str = "umap", seed: int = 0, here: bool = False) -> np.ndarray:
    """(n, 2) float32 coordinates of prepared (centred, unit-norm) embeddings: computed in the
    process prefetch() started when there is one (unless `here`), else in this one."""
    n = len(X)
    if n < 5 or method == "pca":
        return pca2(X)
    helper = _helper
    if method == "umap" and not here and helper is not None and helper.alive():
        coords = helper.layout(X, method, seed)
        if coords is not None:
            return coords
    if method == "umap":
        import warnings

        import umap

        _cache_umap_kernels(umap)
        k = min(15, n - 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # n_jobs/random_state chatter
            # 200 epochs (umap's own choice above 10k points) looks the same and is faster.
            reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=0.1, metric="cosine",
                                random_state=seed, n_epochs=200, init="spectral" if n > 50 else "random",
                                precomputed_knn=cosine_knn(X, k) if n <= EXACT_KNN_MAX else (None, None, None))
            return reducer.fit_transform(X).astype(np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(2, perplexity=min(30, (n - 1) / 3), metric="cosine", init="pca",
                    random_state=seed).fit_transform(X).astype(np.float32)
    raise ValueError(f"unknown layout {method!r} (umap, tsne, pca)")


# Up to here exact neighbours by blocked matrix products take a second or two; above, umap's
# approximate search (pynndescent) is faster.
EXACT_KNN_MAX = 20000


def cosine_knn(X: np.ndarray, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray, None]:
    """Exact k nearest neighbours by cosine distance, self first, in umap's precomputed_knn form.
    Faster than umap's own search at this size, and skips its 4-5 s numba compile."""
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    idx = np.empty((len(X), k), np.int64)
    dist = np.empty((len(X), k), np.float32)
    for s in range(0, len(X), block):
        sim = X[s:s + block] @ X.T
        sim[np.arange(len(sim)), np.arange(s, s + len(sim))] = np.inf  # each point is its own nearest
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sim, part, 1), axis=1)
        idx[s:s + block] = np.take_along_axis(part, order, 1)
        dist[s:s + block] = 1 - np.take_along_axis(sim, idx[s:s + block], 1)
    dist[:, 0] = 0.0
    return idx, np.maximum(dist, 0.0), None


def _cache_umap_kernels(umap) -> None:
    """umap recompiles most of its numba kernels in every new process (5-10 s before the first
    layout); ask numba to keep them on disk, as it does for functions declared cache=True."""
    try:
        from numba.core.caching import NullCache
        from numba.core.registry import CPUDispatcher
    except ImportError:
        return
    for module in (umap.umap_, umap.layouts, umap.distances, umap.utils, umap.spectral, umap.sparse):
        for fn in list(vars(module).values()):
            if isinstance(fn, CPUDispatcher) and isinstance(getattr(fn, "_cache", None), NullCache):
                try:
                    fn.enable_caching()
                except Exception:  # noqa: BLE001  (only speed is at stake)
                    pass


def warm_up() -> None:
    """Compile and cache umap's kernels once (run at install), so the first layout is quick."""
    layout(np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32))


def place(X: np.ndarray, xy: np.ndarray, rows: np.ndarray, k: int = 10) -> np.ndarray:
    """Points for `rows` of prepared embeddings X on an existing map `xy`: the similarity-weighted
    mean of the points of their k most similar other rows. New segments (a turn cut on the
    timeline) get a place on the map without a new layout, which would move every point."""
    rows = np.asarray(rows, np.int64)
    others = np.setdiff1d(np.arange(len(X)), rows)
    if not len(rows) or not len(others):
        return xy[rows].copy()
    k = min(k, len(others))
    S = X[rows] @ X[others].T
    top = np.argpartition(-S, k - 1, axis=1)[:, :k]
    w = np.clip(np.take_along_axis(S, top, axis=1), 1e-3, None)
    return ((w[..., None] * xy[others][top]).sum(axis=1) / w.sum(axis=1, keepdims=True)).astype(xy.dtype)


def pca2(X: np.ndarray) -> np.ndarray:
    """Instant first layout (shown while UMAP runs)."""
    Xc = X - X.mean(axis=0)
    if len(X) < 2:
        return np.zeros((len(X), 2), np.float32)
    _, _, vt = np.linalg.svd(Xc[:: max(1, len(X) // 20000)], full_matrices=False)
    out = Xc @ vt[:2].T
    if out.shape[1] < 2:
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out.astype(np.float32)
