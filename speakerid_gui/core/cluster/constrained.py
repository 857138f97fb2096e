"""Clustering under the reviewer's constraints: average-linkage merging of existing clusters.

The units are the current clusters (a reviewer's verified members stay together: must-link).
Two units merge, closest first, while their average-linkage cosine distance is below a
threshold, unless a cannot-link separates them (a "different speakers" answer, a split, or
two clusters that both hold verified segments: the reviewer kept two named speakers apart).
Average linkage between clusters A and B is 1 - (sum A . sum B) / (|A| |B|) on unit vectors,
so cluster sums are all it needs: O(k^2) memory for k clusters, whatever the segment count.
This is the same distance scipy's average linkage cuts, so a threshold learnt from answers
means the same as the automatic cut's.
"""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.project.store import NOISE


def cluster_sums(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, member counts, row sums) per cluster, noise excluded."""
    from scipy.sparse import csr_matrix

    keep = labels != NOISE
    ids, inv = np.unique(labels[keep], return_inverse=True)
    rows = np.flatnonzero(keep)
    onehot = csr_matrix((np.ones(len(rows), np.float64), (inv, rows)), shape=(len(ids), len(X)))
    return ids, np.bincount(inv, minlength=len(ids)).astype(np.float64), np.asarray(onehot @ X, np.float64)


def linkage_distance(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average-linkage cosine distance between every pair of clusters (k x k)."""
    return 1.0 - (sums @ sums.T) / np.outer(counts, counts)


def pair_distance(X: np.ndarray, labels: np.ndarray, a: int, b: int) -> float:
    """Average-linkage distance between clusters a and b."""
    return group_distance(X, np.flatnonzero(labels == a), np.flatnonzero(labels == b))


def group_distance(X: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray) -> float:
    """Average-linkage distance between two groups of rows."""
    sa, sb = X[rows_a].sum(0, dtype=np.float64), X[rows_b].sum(0, dtype=np.float64)
    return float(1.0 - sa @ sb / max(len(rows_a) * len(rows_b), 1))


def constrained_merge(X: np.ndarray, labels: np.ndarray, threshold: float, cannot: set[tuple[int, int]],
                      anchors: set[int] = frozenset()) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    """Merge clusters (closest average linkage first) while below `threshold`.

    cannot: cluster-id pairs that must stay apart; anchors: clusters holding verified segments
    (two anchors never merge; an anchor keeps its id when it absorbs a cluster).
    Returns the new labels and the merges made (kept id, absorbed id, distance).
    """
    ids, counts, sums = cluster_sums(X, labels)
    k = len(ids)
    if k < 2:
        return labels.copy(), []
    row = {int(c): i for i, c in enumerate(ids)}
    D = linkage_distance(sums, counts)
    np.fill_diagonal(D, np.inf)
    forbid = np.zeros((k, k), bool)
    for a, b in cannot:
        if a in row and b in row:
            forbid[row[a], row[b]] = forbid[row[b], row[a]] = True
    anchor = np.array([int(c) in anchors for c in ids])
    forbid |= anchor[:, None] & anchor[None, :]
    D[forbid] = np.inf
    alive = np.ones(k, bool)
    target = np.arange(k)  # row each original row ended in
    merges = []
    while True:
        flat = int(np.argmin(D))
        i, j = divmod(flat, k)
        d = D[i, j]
        if not np.isfinite(d) or d >= threshold:
            break
        # keep the anchor (its verified members hold its id), else the larger cluster
        if anchor[j] and not anchor[i] or (anchor[i] == anchor[j] and counts[j] > counts[i]):
            i, j = j, i
        merges.append((int(ids[i]), int(ids[j]), float(d)))
        sums[i] += sums[j]
        counts[i] += counts[j]
        anchor[i] |= anchor[j]
        forbid[i] |= forbid[j]
        forbid[:, i] = forbid[i]
        alive[j] = False
        target[target == j] = i
        new = 1.0 - (sums @ sums[i]) / (counts * counts[i])
        new[~alive] = np.inf
        new[forbid[i]] = np.inf
        new[i] = np.inf
        if anchor[i]:
            new[anchor] = np.inf
        D[i], D[:, i] = new, new
        D[j], D[:, j] = np.inf, np.inf
    out = labels.copy()
    keep = labels != NOISE
    out[keep] = ids[target[np.searchsorted(ids, labels[keep])]]
    return out, merges
