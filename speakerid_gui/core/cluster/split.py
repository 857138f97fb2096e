"""Splitting one cluster: into k parts, or into as many as the corpus's own count logic finds."""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.cluster.agglomerative import (CUT_GRID, MAX_DIRECT, RELIABLE_SECONDS, SILHOUETTE_SAMPLE,
                                                      _compact, cluster, prepare, silhouette)


def split_labels(X: np.ndarray, k: int | None = None, threshold: float | None = None) -> np.ndarray:
    """Labels for splitting one cluster's members into k parts (or an estimated number >= 2)."""
    if len(X) < 2:
        return np.zeros(len(X), dtype=np.int32)
    Xc = prepare(X)  # centre on the cluster itself: its internal differences become visible
    if k:
        return cluster(Xc, k, "ahc")
    labels = cluster(Xc, None, "ahc", threshold)
    if len(np.unique(labels)) < 2:
        labels = cluster(Xc, 2, "ahc")
    return labels


def split_estimate(X: np.ndarray, labels: np.ndarray, members: np.ndarray,
                   durations: np.ndarray | None = None) -> np.ndarray:
    """How to split one cluster, by the logic that counts speakers in the corpus: among the cuts
    of the members' dendrogram, and leaving the cluster whole, the one with the highest mean
    silhouette of the whole corpus labelling (on a sample, the other clusters as they are).
    Returns part labels 0..k-1 per member; all 0 means "looks like one speaker".

    X: the corpus's prepared embeddings (cosine geometry of the whole corpus, not re-centred on the
    cluster: centred on itself, a pure cluster's noise looked like structure and an 8-segment
    cluster of one reader was cut in 4). labels: every segment's cluster (negative: none)."""
    members = np.asarray(members, dtype=np.int64)
    if len(members) < 2:
        return np.zeros(len(members), dtype=np.int32)
    labels = np.asarray(labels)
    rng = np.random.default_rng(0)
    own = members if len(members) <= SILHOUETTE_SAMPLE // 2 else np.sort(
        rng.choice(members, SILHOUETTE_SAMPLE // 2, replace=False))
    others = np.setdiff1d(np.flatnonzero(labels >= 0), members)
    room = SILHOUETTE_SAMPLE - len(own)
    if len(others) > room:
        others = np.sort(rng.choice(others, room, replace=False))
    sample = np.concatenate([own, others])
    D = np.clip(1.0 - X[sample] @ X[sample].T, 0.0, 2.0)
    sorter = np.argsort(members)
    where = sorter[np.searchsorted(members, own, sorter=sorter)]  # positions of the sampled members
    base = labels[others].astype(np.int64)
    offset = int(labels.max(initial=0)) + 1
    voice_all = None if durations is None else np.asarray(durations, dtype=np.float64)

    def score(parts: np.ndarray) -> float:
        combined = np.concatenate([offset + parts[where], base])
        credited = None
        if voice_all is not None:  # as in best_cut: a part with too little speech founds no speaker
            full = labels.astype(np.int64).copy()
            full[members] = offset + parts
            ok = full >= 0
            ids, inv = np.unique(full[ok], return_inverse=True)
            seconds = dict(zip(ids.tolist(), np.bincount(inv, weights=voice_all[ok]).tolist()))
            credited = np.array([seconds.get(int(c), 0.0) >= RELIABLE_SECONDS for c in combined])
        return silhouette(D, combined, credited)

    best = np.zeros(len(members), dtype=np.int32)  # whole: it wins ties
    best_score = score(best)
    for parts in _member_cuts(X[members]):
        value = score(parts)
        if value > best_score:
            best, best_score = parts, value
    # The silhouette favours any tight group (one file's windows): parts the one-speaker test calls
    # one voice are joined again; centred, two speakers score about the corpus's mean cosine.
    from speakerid_gui.core.cluster.same_speaker import merge_same_speaker

    return merge_same_speaker(X[members], best, float(np.square(X.mean(axis=0)).sum())) if best.max() else best


def _member_cuts(Xm: np.ndarray):
    """Distinct cuts (2 parts or more) of the members' average-linkage dendrogram on CUT_GRID;
    above MAX_DIRECT members, of the dendrogram of k-means micro-clusters (as _ahc_large)."""
    from scipy.cluster.hierarchy import linkage

    from speakerid_gui.core.cluster.cuts import distance_cuts

    lookup = None
    points = Xm
    if len(Xm) > MAX_DIRECT:
        from sklearn.cluster import MiniBatchKMeans

        km = MiniBatchKMeans(n_clusters=MAX_DIRECT // 2, init="random", random_state=0, batch_size=4096,
                             n_init=1, max_iter=50).fit(Xm)
        keep = np.bincount(km.labels_, minlength=MAX_DIRECT // 2) > 0
        points = km.cluster_centers_[keep]
        points = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-8)
        lookup = np.full(MAX_DIRECT // 2, -1)
        lookup[np.flatnonzero(keep)] = np.arange(int(keep.sum()))
        lookup = lookup[km.labels_]
    Z = linkage(points, method="average", metric="cosine")
    seen = {1}
    for _, cut in distance_cuts(Z, CUT_GRID):
        if cut.max() in seen:
            continue
        seen.add(cut.max())
        cut = _compact(cut)
        yield cut if lookup is None else cut[lookup]
