"""Do two clusters hold one speaker? A test calibrated on the embedding model, not on a corpus.

The score is relative. For clusters A and B, take on raw (uncentred, unit-length) embeddings
  between = mean cosine over pairs (a in A, b in B)
  within  = mean cosine over pairs inside A and inside B
  z = (between - impostor) / (within - impostor)
where `impostor` is the model's mean cosine between two different speakers. One speaker: z near
1, whatever the clip length (short clips lower `within` and `between` together). Two speakers:
z near 0. Clusters are merged, most alike first, while z >= Z_SAME, the midpoint.

The score uses raw embeddings on purpose. Centring on the corpus mean (cluster.prepare) is right
for the cut, but with ONE speaker the corpus mean is that speaker, and what is left is noise. So
the silhouette cut always splits a single voice, and this test merges the parts again.

Every mean comes from cluster sums, since sum over pairs of a.b = (sum a).(sum b). So the test
costs O(k^2) per merge for k clusters, and never an n x n matrix.
"""
from __future__ import annotations

import numpy as np

# The mean raw cosine between two different speakers' segments. CAM++ medians per set:
# test-other 0.369, tc100-cut 0.362, fsdd 0.385, speech-commands 0.354, ami-debug 0.379
# (benchmarks/accuracy.py --calibration prints them). A backend with no entry skips the test.
IMPOSTOR_COSINE = {"campp": 0.37}
# Halfway between one speaker (z = 1) and two (z = 0). With the true speakers, the halves of
# one speaker scored z >= 0.7 (5th percentile) and different speakers z <= 0.57 (99th),
# on every set (benchmarks/accuracy.py --calibration).
Z_SAME = 0.5
# Clusters of long segments must score higher: Z_SAME up to SHORT_SECONDS of speech per segment,
# Z_SAME + LONG_EXTRA from LONG_SECONDS on, in between log-linear. A 2-3 s window gives a precise
# embedding, so one reader's parts score z near 1 (5th percentile of halves of 2 windows: 0.85
# on test-other and tc100-cut), and what scores 0.5-0.6 there is mostly two alike voices; a
# one-second word's parts spread down to 0.44 (speech-commands), where a higher bar splits
# speakers. Measured (float32; bf16 alike): tc100-cut 0.978 -> 0.987, ami-debug 0.869 -> 0.902,
# better on 8 of 8 and 6 of 8 random 80 % subsets of their speakers; short-clip sets unchanged.
# At +0.13 ami-debug falls to 0.787: its meeting windows spread wider than read speech.
LONG_EXTRA = 0.1
SHORT_SECONDS, LONG_SECONDS = 1.0, 2.0
# A small cluster's `within` is a mean over few pairs. It is drawn towards the mean within
# similarity of the clusters of like segment length (length_priors; of all clusters when the
# durations are not known), as if it held this many more pairs at that mean.
PRIOR_PAIRS = 20.0
# The whole-corpus one-speaker test (one_speaker_folder). Tried 0.5 / 0.6 / 0.7 on every set:
# 0.5 joined one 2-speaker folder of fsdd and one of ami; 0.7 changed nothing; 0.6 turned
# 1-speaker folders exact from 0.67 to 0.92 (speech-commands) and 0.67 to 0.75 (ami), nothing else.
Z_ONE = 0.6
# The same test on the corpus's most separated two-way split, for short clips only (a median
# segment under RELIABLE_SECONDS, agglomerative.estimated): a lone speaker of one-second words
# often ends in two clusters that fail Z_ONE, while the split that separates the corpus most
# still scores as one voice (z 0.70-1.02 over the one-speaker folders of every short-clip set,
# clean, telephone and noisy). Folders of 2-5 speakers score at most 0.51 clean and 0.66 in
# noise there, hence 0.7, not 0.6 (which would join a noisy 5-speaker folder into one). Long
# windows keep Z_ONE alone: two meeting speakers' 3 s windows score up to 0.84 on this split.
Z_ONE_SPLIT = 0.7
# One voice's most separated split scores at most about 1 (its halves are no closer across than
# the corpus on average: 0.68-1.02 measured); far above it the split holds no voice apart in
# CAM++'s space (a noisy 5-speaker folder scored 1.59 with 6 clips peeled off), so it is no evidence.
Z_ONE_SPLIT_MAX = 1.1


# Two segments of a corpus that holds nothing else: their raw cosine against the model's own
# same-speaker level. CAM++, pairs of 3 s windows from different files (benchmarks/accuracy.py
# sets): 0.6 is reached by 94-97 % of one reader's pairs (44 % of one meeting speaker's, whose
# far-field windows spread wider) and by 0.06-0.13 % of different readers' pairs (0.9 % in
# meetings). Below RELIABLE_PAIR_SECONDS per segment the two kinds overlap (one-second words: the
# median same-speaker pair scores what the 99th percentile of different speakers does), so two
# short clips stay two.
SAME_PAIR_COSINE = {"campp": 0.6}
RELIABLE_PAIR_SECONDS = 1.5


def same_pair(raw: np.ndarray, durations: np.ndarray, backend: str = "campp") -> bool:
    """Are two segments (raw embeddings of the calibrated model), alone in their corpus, one speaker?"""
    bar = SAME_PAIR_COSINE.get(backend)
    if bar is None or len(raw) != 2 or np.min(durations) < RELIABLE_PAIR_SECONDS:
        return False
    R = unit(raw)
    return bool(R[0] @ R[1] >= bar)


def backend_impostor(backend: str) -> float | None:
    """The backend's mean cosine between different speakers (None when not calibrated), looked
    up by its name so that options such as campp:precision=float32 keep it."""
    from speakerid_gui.core.embed import parse_spec

    return IMPOSTOR_COSINE.get(parse_spec(backend)[0])


def calibrated_part(backend: str) -> str | None:
    """The backend the one-speaker test reads: the backend itself when calibrated, else the first
    calibrated part of a combination (joint:campp=1,ge2e=0.5 -> campp), else None. A joint
    vector has no fixed impostor level (GE2E's ranges from 0.49 to 0.69 across the sets: it
    follows the channel), so counts are decided on the part that has one."""
    from speakerid_gui.core.embed import parts

    for spec in [backend, *parts(backend)]:
        if backend_impostor(spec) is not None:
            return spec
    return None


# How far above the wideband level a shared telephone line lifts the impostor cosine: the most
# measured on the telephone copies of ../shared/data (0.37 -> 0.471 on tc100-cut-phone).
TELEPHONE_LIFT = 0.10


class MeasuredImpostor(float):
    """An impostor level measured on the corpus (telephone speech), not calibrated on wideband
    speech. With it the one-speaker merge does not let the within similarity of clusters of
    long segments fall below their length prior (merge_same_speaker): a shared line lifts the
    level between different voices (0.44-0.47 against 0.37), so a cluster that had taken in a
    second voice, its within lowered, scored the next voices as its own and the merges
    cascaded (tc100-cut-phone: 52 clusters for 120 speakers, 98 with the floor). The floor is
    weighed as the longer segments' bar is (length_bar: none up to 1 s, whole from 2 s):
    one-second words' within similarity does vary, and holding it up split fsdd-phone's digits
    (2 of 8 subsets of 4 speakers gave 21 clusters)."""


def corpus_impostor(raw: np.ndarray, impostor: float, sample: int = 2000) -> float:
    """The impostor level measured on a corpus of telephone speech: the median over segments of
    their median cosine to the others (with several speakers most pairs are different speakers),
    kept within [impostor, impostor + TELEPHONE_LIFT]. The bound matters for folders of one or two
    speakers, whose median is their within-speaker level. On the telephone copies it gives 0.472,
    0.467, 0.447, 0.455, 0.470 where the true means are 0.469, 0.471, 0.437, 0.455, 0.459
    (test-other, tc100-cut, fsdd, speech-commands, ami-debug); a sample of segments bounds the cost."""
    R = unit(raw)
    if len(R) < 4:
        return MeasuredImpostor(impostor)
    if len(R) > sample:
        R = R[np.random.default_rng(0).choice(len(R), sample, replace=False)]
    C = R @ R.T
    np.fill_diagonal(C, np.nan)
    level = float(np.median(np.nanmedian(C, axis=1)))
    return MeasuredImpostor(np.clip(level, impostor, impostor + TELEPHONE_LIFT))


def unit(emb: np.ndarray) -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float64)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def merge_same_speaker(raw: np.ndarray, labels: np.ndarray, impostor: float, z_same: float = Z_SAME,
                       until: int | None = None, durations: np.ndarray | None = None) -> np.ndarray:
    """Merge clusters whose members score as one speaker (z >= z_same), most alike first.

    raw: the uncentred embeddings. until: keep merging the most alike pair, whatever its z,
    until only this many clusters remain (a given count); no merge below it. durations: seconds
    per segment; given, a small cluster's `within` is drawn towards the within similarity of
    clusters of like segment length (length_priors), not of the whole corpus, and clusters of
    long segments must reach z_same + length_bar."""
    ids, inv = np.unique(labels, return_inverse=True)
    k = len(ids)
    if k < 2:
        return inv.astype(np.int32)
    R = unit(raw)
    sums = np.zeros((k, R.shape[1]))
    np.add.at(sums, inv, R)
    n = np.bincount(inv, minlength=k).astype(np.float64)
    seconds = None if durations is None else np.bincount(inv, weights=np.asarray(durations, np.float64), minlength=k)
    G = sums @ sums.T  # G[a, b] = sum of cosines over pairs (a member, b member)
    fallback = nearest_prior(G, n)
    alive = np.ones(k, bool)
    parent = np.arange(k)
    floor = 1 if until is None else max(1, until)
    while alive.sum() > floor:
        live = np.flatnonzero(alive)
        Gl = G[np.ix_(live, live)]
        prior = None if seconds is None else length_priors(Gl, n[live], seconds[live], fallback)
        held = 0.0  # how far each pair's within is held up to its prior (MeasuredImpostor)
        if isinstance(impostor, MeasuredImpostor) and seconds is not None:
            held = length_bar(seconds[live], n[live]) / LONG_EXTRA
        z = row_scores(Gl, np.diag(Gl), n[live], np.arange(len(live)), impostor, fallback, prior, held)
        if seconds is not None:  # the margin over each pair's own bar, so the bar is z_same for all
            z = z - length_bar(seconds[live], n[live])
        i, j = np.unravel_index(np.argmax(z), z.shape)
        if until is None and z[i, j] < z_same:
            break
        a, b = live[i], live[j]
        G[a, :] += G[b, :]
        G[:, a] += G[:, b]
        n[a] += n[b]
        if seconds is not None:
            seconds[a] += seconds[b]
        alive[b] = False
        parent[parent == b] = a
    _, out = np.unique(parent[inv], return_inverse=True)
    return out.astype(np.int32)


def length_bar(seconds: np.ndarray, n: np.ndarray) -> np.ndarray:
    """How much more than z_same each pair of clusters must score, from the mean segment length
    of the pair (0 up to SHORT_SECONDS, LONG_EXTRA from LONG_SECONDS)."""
    mean = (seconds[:, None] + seconds[None, :]) / np.maximum(n[:, None] + n[None, :], 1)
    ramp = np.log2(np.maximum(mean, 1e-3) / SHORT_SECONDS) / np.log2(LONG_SECONDS / SHORT_SECONDS)
    return LONG_EXTRA * np.clip(ramp, 0.0, 1.0)


def length_priors(G: np.ndarray, n: np.ndarray, seconds: np.ndarray, fallback: float | None = None) -> np.ndarray:
    """Each cluster's prior within similarity: the pooled within similarity of the clusters whose
    mean segment length falls in the same octave (0.5-1 s, 1-2 s, 2-4 s, ...), else of all.

    Short clips spread a voice wider, so in a corpus mixing one-second words with 3 s windows of
    long recordings a prior pooled over everything is the long windows' level: the words'
    fragments then scored below z_same and stayed apart. In the "mixed" set of
    benchmarks/accuracy.py (four sets in one folder) speech-commands' 100 speakers took 207
    clusters (accuracy of its part 0.680), 136 with these priors (0.775); the whole pile went from
    0.802 to 0.849. On each set alone they change little (ami-debug 0.861 -> 0.869, the rest equal)."""
    pairs = n * (n - 1) / 2
    inside = (np.diag(G) - n) / 2
    overall = inside.sum() / pairs.sum() if pairs.sum() > 0 else (1.0 if fallback is None else fallback)
    octave = np.floor(np.log2(np.maximum(seconds / n, 1e-3)))
    prior = np.full(len(n), overall)
    for o in np.unique(octave):
        here = octave == o
        if pairs[here].sum() > 0:
            prior[here] = inside[here].sum() / pairs[here].sum()
    return prior


def merge_smallest(X, labels, k, raw=None, impostor=None, durations=None) -> np.ndarray:
    """Merge the cluster of least speech into the one most like it until k clusters remain."""
    labels = _compact(labels)
    weights = np.ones(len(labels)) if durations is None else np.asarray(durations, dtype=np.float64)
    P = unit(raw) if raw is not None and impostor is not None else np.asarray(X, dtype=np.float64)
    K = labels.max() + 1
    sums = np.zeros((K, P.shape[1]))
    np.add.at(sums, labels, P)
    n = np.bincount(labels, minlength=K).astype(np.float64)
    voice = np.bincount(labels, weights=weights, minlength=K)
    alive = np.ones(K, bool)
    parent = np.arange(K)
    fallback = nearest_prior(sums, n, gram=False) if raw is not None and impostor is not None else None
    while alive.sum() > max(1, k):
        live = np.flatnonzero(alive)
        s = live[np.argmin(voice[live])]
        i = int(np.flatnonzero(live == s)[0])
        if raw is not None and impostor is not None:
            own = np.einsum("ij,ij->i", sums[live], sums[live])
            like = row_scores((sums[live] @ sums[s])[None, :], own, n[live], np.array([i]), impostor, fallback)[0]
        else:
            C = sums[live] / np.maximum(np.linalg.norm(sums[live], axis=1, keepdims=True), 1e-12)
            like = C @ C[i]
            like[i] = -np.inf
        t = live[int(np.argmax(like))]
        sums[t] += sums[s]
        n[t] += n[s]
        voice[t] += voice[s]
        alive[s] = False
        parent[parent == s] = t
    return _compact(parent[labels])


def pair_scores(G: np.ndarray, n: np.ndarray, impostor: float, fallback: float | None = None) -> np.ndarray:
    """z for every pair of clusters from their pair-sum matrix G and sizes n (diagonal -inf)."""
    return row_scores(G, np.diag(G), n, np.arange(len(n)), impostor, fallback)


def nearest_prior(M: np.ndarray, n: np.ndarray, gram: bool = True) -> float | None:
    """The within-speaker cosine when every cluster is one segment (no pair inside any cluster
    to measure it on): the mean over segments of the cosine to the most similar other segment.
    M: the pair-sum matrix G (gram) or the segments themselves (unit rows). None otherwise, and
    with two segments (whose nearest is each other, so any two would score as one speaker).

    A segment's nearest neighbour is nearly always its own speaker's (at one speaker, always),
    so this is within-speaker similarity measured on the folder itself, at its clip lengths and
    recording conditions; the constant it replaces (1.0) kept one reader's 3-4 single-segment
    files of tc100-cut in 3-4 clusters (one-speaker folders exact 10 in 12 -> 12 in 12)."""
    if len(n) < 3 or n.max() > 1:
        return None
    best = np.empty(len(n))
    for start in range(0, len(n), 4096):  # bounded memory on a large corpus of singletons
        S = M[start:start + 4096] if gram else M[start:start + 4096] @ M.T
        S = np.array(S, dtype=np.float64)
        S[np.arange(len(S)), np.arange(start, start + len(S))] = -np.inf
        best[start:start + len(S)] = S.max(axis=1)
    return float(best.mean())


def row_scores(G_rows: np.ndarray, self_sums: np.ndarray, n: np.ndarray, rows: np.ndarray,
               impostor: float, fallback: float | None = None, prior: np.ndarray | None = None,
               floor: float | np.ndarray = 0.0) -> np.ndarray:
    """z of clusters `rows` against every cluster: G_rows[r, b] = sum of cosines over pairs
    (member of rows[r], member of b), self_sums[b] = the same for b with itself (z of a cluster
    with itself -inf). Costs O(len(rows) k), so a merge that looks at one cluster needs no k x k.
    prior: each cluster's prior within similarity (length_priors); by default one for all.
    floor: how far (0-1, per pair or for all) a pair's within similarity below its prior is
    raised to it (MeasuredImpostor)."""
    pairs = n * (n - 1) / 2
    inside = (self_sums - n) / 2  # each member's cosine with itself (1) left out
    if prior is None:
        if pairs.sum() > 0:
            prior = inside.sum() / pairs.sum()
        else:
            prior = 1.0 if fallback is None else fallback
        pair_prior = prior
    else:
        pair_prior = (prior[rows, None] + prior[None, :]) / 2
    within = (inside[rows, None] + inside[None, :] + PRIOR_PAIRS * pair_prior) / (pairs[rows, None] + pairs[None, :]
                                                                                 + PRIOR_PAIRS)
    if np.any(floor):
        within = within + floor * np.maximum(pair_prior - within, 0.0)
    between = G_rows / np.outer(n[rows], n)
    z = (between - impostor) / np.maximum(within - impostor, 1e-3)
    z[np.arange(len(rows)), rows] = -np.inf
    return z


def pooled_within(raw: np.ndarray, labels: np.ndarray) -> float:
    """Mean raw cosine over the pairs of segments that share a cluster (1.0 with no such pair)."""
    R = unit(raw)
    ids, inv = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(ids), R.shape[1]))
    np.add.at(sums, inv, R)
    n = np.bincount(inv).astype(np.float64)
    pairs = (n * (n - 1) / 2).sum()
    return float((np.einsum("ij,ij->i", sums, sums) - n).sum() / 2 / pairs) if pairs else 1.0


def one_speaker_folder(raw: np.ndarray, labels: np.ndarray, impostor: float, z_one: float = Z_ONE) -> bool:
    """Is the whole corpus one voice? Every pair of clusters scored against the corpus's own mean
    cosine over all pairs (w): z = (between - impostor) / (w - impostor). At one speaker w is the
    within-speaker level, so the parts of one voice score near 1; with two speakers or more, w
    falls towards the impostor level while some pair's between stays at it (z near 0). One
    cluster when every pair scores >= z_one."""
    if len(np.unique(labels)) < 2:
        return True
    return bool(folder_pair_scores(raw, labels, impostor).min() >= z_one)


def folder_pair_scores(raw: np.ndarray, labels: np.ndarray, impostor: float) -> np.ndarray:
    """one_speaker_folder's z of every pair of clusters (clusters in sorted id order; diagonal inf)."""
    ids, inv = np.unique(labels, return_inverse=True)
    R = unit(raw)
    total = R.sum(axis=0)
    m = len(R)
    w = (total @ total - m) / (m * (m - 1))
    sums = np.zeros((len(ids), R.shape[1]))
    np.add.at(sums, inv, R)
    c = np.bincount(inv).astype(np.float64)
    z = (sums @ sums.T / np.outer(c, c) - impostor) / max(w - impostor, 1e-3)
    np.fill_diagonal(z, np.inf)
    return z


def refine(X: np.ndarray, labels: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Each segment moves to its nearest centroid (cosine on prepared X) until nothing moves.

    AHC never revisits a merge; on sub-second clips this put fsdd from 0.892 to 0.938 with the
    count given. A cluster that loses every member disappears."""

    labels = _compact(labels)
    for _ in range(iterations):
        ids, C = centroids(X, labels)
        moved = ids[np.argmax(X @ C.T, axis=1)]
        if np.array_equal(moved, labels):
            break
        labels = _compact(moved)
    return labels


def _compact(labels) -> np.ndarray:
    _, inv = np.unique(labels, return_inverse=True)
    return inv.astype(np.int32)


def centroids(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster ids, unit-norm centroids)."""
    ids, inv = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(ids), X.shape[1]), dtype=np.float64)
    np.add.at(sums, inv, X)
    C = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-8)
    return ids, C.astype(np.float32)
