"""2-D coordinates of every segment for the scatter: UMAP (cosine), t-SNE or PCA."""
from __future__ import annotations

import numpy as np


def layout(X: np.ndarray, method: str = "umap", seed: int = 0) -> np.ndarray:
    """(n, 2) float32 coordinates of prepared (centred, unit-norm) embeddings."""
    n = len(X)
    if n < 5 or method == "pca":
        return pca2(X)
    if method == "umap":
        import warnings

        import umap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # n_jobs/random_state chatter
            # 200 epochs (umap's own choice above 10k points) looks the same and is faster.
            reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), min_dist=0.1, metric="cosine",
                                random_state=seed, n_epochs=200, init="spectral" if n > 50 else "random")
            return reducer.fit_transform(X).astype(np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(2, perplexity=min(30, (n - 1) / 3), metric="cosine", init="pca",
                    random_state=seed).fit_transform(X).astype(np.float32)
    raise ValueError(f"unknown layout {method!r} (umap, tsne, pca)")


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
