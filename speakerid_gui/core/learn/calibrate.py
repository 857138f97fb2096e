"""Calibrated scores for review suggestions: the chance that a suggestion points at a real error.

Every score compares one observed cosine with two reference samples drawn from the project
itself, under the same conditions (how many segments stand on each side, how long a clip is):
- "same speaker": centroids of two disjoint parts of one cluster (clusters are mostly pure);
- "different speakers": centroids of parts of a cluster and of its nearest neighbouring cluster
  (neighbours are mostly different speakers).
A centroid of one or two short clips is far noisier than one of twenty, so a tiny cluster is
only called a fragment of its neighbour when its cosine is typical of same-speaker parts of
that size, and atypical of different-speaker parts of that size; nothing is a fixed cosine.

The score is tail(same) / (tail(same) + tail(different)), with tail(same) = share of the
same-speaker sample at or below the cosine and tail(different) = share of the different-speaker
sample at or above it (equal prior odds; add-one smoothing). It is 0.5 where the two samples
cannot tell, near 1 where only the claimed case reaches, near 0 where only the other does, and
it is on one scale for every kind.
"""
from __future__ import annotations

import numpy as np

CAP = 12      # beyond this many segments a centroid hardly gets steadier: sizes are capped here
DRAWS = 3     # random draws per cluster for each reference sample


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-8)


def odds(x: float, same: np.ndarray, diff: np.ndarray, claim_same: bool = True) -> float:
    """P(the claimed case | cosine x) from the two reference samples, equal prior odds.

    claim_same: the suggestion claims "same speaker" (a pair to merge); otherwise "different
    speakers" (a cluster to split, a segment in the wrong cluster)."""
    p = float(_sigmoid(llr(x, same, diff)))
    return p if claim_same else 1.0 - p


def llr(x, same: np.ndarray, diff: np.ndarray):
    """Log-likelihood ratio same : different of cosine(s) x, from normals fitted to the two samples
    with one pooled spread (so it rises with the cosine: linear calibration, as for speaker
    verification scores); the spread is floored so that a handful of near-equal cosines cannot
    make every other value impossible."""
    if len(same) == 0 or len(diff) == 0:
        return np.zeros_like(np.asarray(x, float))
    mu_s, mu_d = float(np.mean(same)), float(np.mean(diff))
    var = max((float(np.var(same)) * len(same) + float(np.var(diff)) * len(diff)) / (len(same) + len(diff)), 0.02 ** 2)
    return (mu_s - mu_d) / var * (np.asarray(x, float) - (mu_s + mu_d) / 2)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


class Reference:
    """Same- and different-speaker cosine samples of centroids of (ka, kb) segments, per size pair."""

    def __init__(self, X: np.ndarray, members: dict[int, np.ndarray], neighbour: dict[int, int], seed: int = 0):
        self.X, self.members, self.neighbour = X, members, neighbour
        self.rng = np.random.default_rng(seed)
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _centroid(self, rows: np.ndarray) -> np.ndarray:
        return _unit(self.X[rows].sum(0))

    def samples(self, na: int, nb: int) -> tuple[np.ndarray, np.ndarray]:
        """(same-speaker cosines, different-speaker cosines) for centroids of na and nb segments."""
        key = tuple(sorted((min(int(na), CAP), min(int(nb), CAP))))
        if key in self._cache:
            return self._cache[key]
        ka, kb = key
        same, diff = [], []
        for c, m in self.members.items():
            for _ in range(DRAWS):
                if len(m) >= 2:
                    a = min(ka, len(m) - 1)
                    b = min(kb, len(m) - a)
                    pick = self.rng.permutation(m)
                    same.append(float(self._centroid(pick[:a]) @ self._centroid(pick[a:a + b])))
                d = self.neighbour.get(c)
                if d is not None:
                    md = self.members[d]
                    pa = self.rng.choice(m, min(ka, len(m)), replace=False)
                    pb = self.rng.choice(md, min(kb, len(md)), replace=False)
                    diff.append(float(self._centroid(pa) @ self._centroid(pb)))
        out = (np.array(same), np.array(diff))
        self._cache[key] = out
        return out

    def pair(self, s: float, na: int, nb: int) -> float:
        """P(two clusters of na and nb segments whose centroids have cosine s are one speaker)."""
        same, diff = self.samples(na, nb)
        return odds(s, same, diff, claim_same=True)


def nearest_by(values: np.ndarray, x: float, k: int) -> np.ndarray:
    """Positions of the k entries of `values` nearest to x (the reference under like conditions)."""
    values = np.asarray(values, float)
    if len(values) <= k:
        return np.arange(len(values))
    dist = np.abs(values - np.asarray(x, float))
    return np.argsort(dist.sum(axis=1) if dist.ndim == 2 else dist, kind="stable")[:k]


def segment_scores(own: np.ndarray, other: np.ndarray, durations: np.ndarray, rows: np.ndarray,
                   k: int = 300) -> np.ndarray:
    """P(segment is in the wrong cluster) for the segments at `rows`.

    own: cosine of each segment to its own cluster without it (leave-one-out); other: cosine to
    the nearest other cluster. The references are all segments of like duration (the k nearest
    in log-duration): their `own` cosines are the same-speaker sample, their `other` cosines the
    different-speaker one. A wrongly placed segment looks like a "different" own cosine and a
    "same" other cosine; a rightly placed one the reverse; the score weighs the two readings."""
    order = np.argsort(np.log(np.maximum(durations, 1e-3)), kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    k = min(k, len(order))
    out = np.zeros(len(rows))
    for j, i in enumerate(rows):
        lo = int(np.clip(rank[i] - k // 2, 0, len(order) - k))
        ref = order[lo:lo + k]  # the k segments nearest in duration (a window of the sorted order)
        same, diff = own[ref], other[ref]
        # wrong: its cosine to the other cluster reads "same", to its own "different"; right: the reverse
        out[j] = _sigmoid(llr(other[i], same, diff) - llr(own[i], same, diff))
    return out
