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

SIZES = (1, 2, 3, 4, 6, 8, 12)  # sizes the references are drawn at (a size is read as the nearest below)
DRAWS = 2     # random draws per cluster for each reference sample
POOL = 150    # clusters the references are drawn from


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    # dot products, not np.linalg.norm: its wrapper was a fifth of a re-rank (20k calls)
    return float(u @ v) / max(float(np.sqrt(float(u @ u)) * np.sqrt(float(v @ v))), 1e-12)


def odds(x: float, same: np.ndarray, diff: np.ndarray, claim_same: bool = True, prior: float = 0.0) -> float:
    """P(the claimed case | cosine x) from the two reference samples; `prior`: log prior odds
    of the claimed case (see prior_odds).

    claim_same: the suggestion claims "same speaker" (a pair to merge); otherwise "different
    speakers" (a cluster to split, a segment in the wrong cluster)."""
    z = llr(x, same, diff)
    return float(_sigmoid((z if claim_same else -z) + prior))


def llr(x, same: np.ndarray, diff: np.ndarray):
    """Log-likelihood ratio same : different of cosine(s) x, from normals fitted to the two samples
    with one shared spread (the mean of the two variances), so it rises with the cosine: linear
    calibration, as for speaker verification scores. The spread is floored so that a handful of
    near-equal cosines cannot make every other value impossible."""
    if len(same) == 0 or len(diff) == 0:
        return np.zeros_like(np.asarray(x, float))
    mu_s, mu_d = float(np.mean(same)), float(np.mean(diff))
    var = max((float(np.var(same)) + float(np.var(diff))) / 2, 0.03 ** 2)
    return (mu_s - mu_d) / var * (np.asarray(x, float) - (mu_s + mu_d) / 2)


def prior_odds(llrs) -> float:
    """Log prior odds of the claimed case, from the whole population of candidates of one kind
    (every cluster's split, every cluster's nearest pair, every segment): the expected share of
    errors of that kind under even odds (one EM step from 1:1; iterating it to the end lets a
    misfitted likelihood drive the share to zero). A clean project makes every claim of that
    kind less likely, a noisy one more; no number is fixed per set."""
    z = np.asarray(llrs, float)
    if not len(z):
        return 0.0
    pi = float(np.clip(np.mean(_sigmoid(z)), 0.01, 0.99))
    return float(np.log(pi / (1 - pi)))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


class Reference:
    """Same- and different-speaker cosine samples of centroids of (ka, kb) segments, per size pair."""

    def __init__(self, X: np.ndarray, members: dict[int, np.ndarray], neighbour: dict[int, int], seed: int = 0):
        self.X, self.members, self.neighbour = X, members, neighbour
        self.rng = np.random.default_rng(seed)
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        keys = sorted(members)  # at most POOL clusters drawn from: enough for a reference, O(1) per size pair
        self.pool = keys if len(keys) <= POOL else sorted(self.rng.choice(keys, POOL, replace=False).tolist())

    def samples(self, na: int, nb: int) -> tuple[np.ndarray, np.ndarray]:
        """(same-speaker cosines, different-speaker cosines) for centroids of na and nb segments."""
        key = tuple(sorted(max(k for k in SIZES if k <= max(int(n), 1)) for n in (na, nb)))
        if key in self._cache:
            return self._cache[key]
        ka, kb = key
        same, diff = [], []
        X, rng = self.X, self.rng
        for c in self.pool:
            m = self.members[c]
            d = self.neighbour.get(c)
            for _ in range(DRAWS):
                if len(m) >= 2:
                    a = min(ka, len(m) - 1)
                    b = min(kb, len(m) - a)
                    pick = rng.permutation(m)
                    same.append(_cos(X[pick[:a]].sum(0), X[pick[a:a + b]].sum(0)))
                if d is not None:
                    md = self.members[d]
                    pa = rng.choice(m, min(ka, len(m)), replace=False)
                    pb = rng.choice(md, min(kb, len(md)), replace=False)
                    diff.append(_cos(X[pa].sum(0), X[pb].sum(0)))
        out = (np.array(same), np.array(diff))
        self._cache[key] = out
        return out

    def pair_llr(self, s: float, na: int, nb: int) -> float:
        """Log-likelihood ratio one speaker : two of clusters of na and nb segments at cosine s."""
        same, diff = self.samples(na, nb)
        return float(llr(s, same, diff))


def nearest_by(values: np.ndarray, x: float, k: int) -> np.ndarray:
    """Positions of the k entries of `values` nearest to x (the reference under like conditions)."""
    values = np.asarray(values, float)
    if len(values) <= k:
        return np.arange(len(values))
    dist = np.abs(values - np.asarray(x, float))
    return np.argsort(dist.sum(axis=1) if dist.ndim == 2 else dist, kind="stable")[:k]


def segment_llrs(own: np.ndarray, other: np.ndarray, durations: np.ndarray, k: int = 300) -> np.ndarray:
    """Log-likelihood ratio wrong : right cluster for every segment.

    own: cosine of each segment to its own cluster without it (leave-one-out); other: cosine to
    the nearest other cluster. The references are the segments of like duration (bins of k
    segments in duration order; short clips are further from everything): their `own` cosines are
    the same-speaker sample, their `other` cosines the different-speaker one. A wrongly placed
    segment looks like a "different" own cosine and a "same" other cosine; a rightly placed one
    the reverse."""
    order = np.argsort(durations, kind="stable")
    out = np.zeros(len(own))
    n_bins = max(1, round(len(order) / k))
    for ref in np.array_split(order, n_bins):
        out[ref] = llr(other[ref], own[ref], other[ref]) - llr(own[ref], own[ref], other[ref])
    return out


def probability(z, prior: float):
    return _sigmoid(np.asarray(z, float) + prior)
