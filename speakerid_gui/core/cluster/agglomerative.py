"""Clustering speaker embeddings: agglomerative (default) or KMeans, count given or estimated."""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.cluster.same_speaker import _compact, centroids  # noqa: F401  (centroids: part of this module's API)
from speakerid_gui.core.cluster.within import within_normalised

# When the number of speakers is not given, the dendrogram is cut where the clusters
# are best separated (highest mean silhouette) among cuts at these cosine distances.
# No single distance threshold transfers between corpora: short or noisy segments
# spread a speaker wider (benchmarks/accuracy.py prints the evidence).
CUT_GRID = np.round(np.arange(0.40, 1.101, 0.02), 3)
SILHOUETTE_SAMPLE = 3000
MAX_DIRECT = 6000  # above this many points AHC runs on k-means micro-clusters
# Less speech than this is too little voice to found a speaker: when the count is estimated,
# a cluster holding less scores 0 in the silhouette that picks the cut (best_cut), and a
# segment this short left alone by the cut joins its nearest cluster (its low confidence then
# puts it in the reviewer's queue). On tc100-cut the latter turns 150 clusters (26 of them
# lone sub-second pieces) into 124; benchmarks/accuracy.py.
RELIABLE_SECONDS = 1.5


def prepare(emb: np.ndarray) -> np.ndarray:
    """Centre on the corpus mean and L2-normalise (cosine geometry without the shared direction)."""
    X = np.asarray(emb, dtype=np.float32)
    X = X - X.mean(axis=0, keepdims=True)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-8)


def cluster(X: np.ndarray, n_speakers: int | None = None, method: str = "ahc",
            threshold: float | None = None, durations: np.ndarray | None = None,
            raw: np.ndarray | None = None, impostor: float | None = None) -> np.ndarray:
    """Labels 0..k-1 for prepared embeddings X.

    Durations in seconds, if given, weigh in: a cluster of too little speech is no evidence of
    a speaker (best_cut), and a lone short segment joins its nearest cluster. raw (the uncentred
    embeddings) and impostor (the model's mean cosine between different speakers,
    same_speaker.IMPOSTOR_COSINE) turn on the one-speaker test: clusters of the cut that score
    as one speaker are merged, so one voice gives one cluster. Agglomerative labels are then
    refined (each segment to its nearest centroid). A given count goes through the same steps
    and ends with exactly that many clusters. All of it runs twice: the second time on the
    embeddings normalised by the first clusters' within-cluster spread (cluster.within)."""
    if method != "ahc" or threshold is not None or len(X) < 3:
        labels = _cluster(X, n_speakers, method, threshold, None if durations is None else
                          np.asarray(durations, dtype=np.float64))
        if n_speakers is None and durations is not None:
            labels = attach_short_singletons(X, labels, np.asarray(durations) < RELIABLE_SECONDS)
        if (len(X) == 2 and labels.max() > 0 and n_speakers is None and method == "ahc" and threshold is None
                and raw is not None and impostor is not None and durations is not None):
            labels = _two_segments(raw, np.asarray(durations, dtype=np.float64))
        return labels
    labels = _counted(X, n_speakers, durations, raw, impostor)
    space = cluster_space(X, labels)  # clustered again once the first clusters' own spread is damped
    if space is X:
        return labels
    _carry_micro_clusters(X, space)
    return _counted(space, n_speakers, durations, raw, impostor)


def _two_segments(raw: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Two segments alone that the cut left apart: there is no within-speaker level to measure
    on the corpus, so the model's own stands in (same_speaker.same_pair). Long enough and alike:
    one speaker."""
    from speakerid_gui.core.cluster.same_speaker import same_pair

    return np.zeros(2, np.int32) if same_pair(raw, durations) else np.arange(2, dtype=np.int32)


def cluster_space(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """X normalised by the within-cluster spread of labels (cluster.within); X itself when there
    is too little to estimate it. cluster() runs its second pass in this space of its first
    labels; the pipeline reads the confidence in this space of the final ones, where it ranks
    errors better: speech-commands 41 of its 50 least confident segments wrong, against 35 in X."""
    normalised = within_normalised(X, labels) if len(labels) and labels.max() > 0 else None
    return X if normalised is None else normalised


def _counted(X, n_speakers, durations, raw, impostor) -> np.ndarray:
    labels = estimated(X, durations, raw, impostor)
    if n_speakers is not None:
        labels = given_count(X, labels, max(1, min(int(n_speakers), len(X))), durations, raw, impostor)
    return labels


def given_count(X, estimate, k, durations=None, raw=None, impostor=None) -> np.ndarray:
    """k clusters, from the estimate whenever it can be brought to k by merging: k equal to the
    estimated count gives the estimate itself, and fewer merge the estimate's clusters of least
    speech first (to_count). Merging never re-cuts what the estimate got right: the dendrogram cut
    at k lost on tc100-cut (0.922 against 0.978) and on speech-commands (0.688 against 0.758).
    More clusters than estimated: the dendrogram cut at k (lone short segments attached, so k
    clusters of real speech) or the estimate with its least one-speaker-like clusters split, both
    refined; the better separated (silhouette) wins (ami-debug: the cut, 0.893 against 0.861)."""
    from speakerid_gui.core.cluster.same_speaker import refine

    estimate = _compact(estimate)
    if estimate.max() + 1 >= k:
        return to_count(X, estimate, k, raw, impostor, durations)
    cut = _cluster(X, k, "ahc", None)
    if durations is not None:
        short = np.asarray(durations) < RELIABLE_SECONDS
        cut = attach_short_singletons(X, cut, short)
        more = k
        while cut.max() + 1 < k and more < min(len(X), 3 * k) and len(X) <= MAX_DIRECT:
            more += 1  # attached singletons do not count: cut finer until k clusters remain
            cut = attach_short_singletons(X, _cluster(X, more, "ahc", None), short)
    if cut.max() + 1 < k:
        cut = _split_to(X, cut, k, raw, impostor)
    refined = refine(X, cut)
    candidates = [refined if refined.max() + 1 == k else cut, to_count(X, estimate, k, raw, impostor, durations)]
    rng = np.random.default_rng(0)
    sample = rng.choice(len(X), SILHOUETTE_SAMPLE, replace=False) if len(X) > SILHOUETTE_SAMPLE else np.arange(len(X))
    D = np.clip(1.0 - X[sample] @ X[sample].T, 0.0, 2.0)
    scores = [silhouette(D, c[sample]) if k > 1 else 0.0 for c in candidates]
    return candidates[int(np.argmax(scores))]


def estimated(X, durations=None, raw=None, impostor=None) -> np.ndarray:
    """The estimated-count path: silhouette cut, lone short segments attached, clusters that
    score as one speaker merged, then refined.

    With the one-speaker test, the cut is then chosen again by the silhouette of what the merge
    makes of it, among the coarser cuts too (up to MAX_DIRECT segments): on sub-second clips the
    silhouettes of the cuts differ by less than embedding noise, and bf16 embeddings of fsdd
    picked 60 clusters (against 6 in float32) which the merge only brought to 13 (0.779); scored
    after the merge, both give 6. A single cluster has no silhouette: when the merge of the best
    cut gives one, that stands (the test is there for one voice). After refinement the test runs
    again: one-speaker folders of fsdd gave 1 cluster 4 times in 6 (bf16 5), then 5 (bf16 6);
    speech-commands float32 lost 0.004 (0.712 to 0.708)."""
    from speakerid_gui.core.cluster.same_speaker import merge_same_speaker, one_speaker_folder, refine

    voice = None if durations is None else np.asarray(durations, dtype=np.float64)
    test = raw is not None and impostor is not None
    Z = None
    if test and len(X) <= MAX_DIRECT:
        from scipy.cluster.hierarchy import linkage

        Z = linkage(X, method="average", metric="cosine")
        first = _compact(best_cut(X, Z, voice))
    else:
        first = _cluster(X, None, "ahc", None, voice)

    def merged(cut):
        if voice is not None:
            cut = attach_short_singletons(X, cut, voice < RELIABLE_SECONDS)
        return merge_same_speaker(raw, cut, impostor, durations=voice) if test else cut

    labels = merged(first)
    if Z is not None and labels.max() > 0:
        labels = _best_merged(X, Z, first.max() + 1, labels, merged, voice, raw, impostor)
    for _ in range(5):  # refinement moves members; clusters it leaves as one speaker merge again
        if labels.max() < 1:
            break
        labels = refine(X, labels)
        again = merge_same_speaker(raw, labels, impostor, durations=voice) if test else labels
        if again.max() == labels.max():
            break
        labels = again
    if test and labels.max() > 0 and (one_speaker_folder(raw, labels, impostor)
                                      or _one_voice_split(X, Z, raw, impostor, voice)):
        labels = np.zeros_like(labels)
    return labels


def _one_voice_split(X, Z, raw, impostor, voice) -> bool:
    """Short clips: does even the corpus's most separated two-way split score as one voice
    (same_speaker.Z_ONE_SPLIT)? The split: the dendrogram's top (Z), else k-means. A split whose
    halves score above Z_ONE_SPLIT_MAX is closer across than the corpus is on average: made in
    the clustering space, it separates nothing in the test's (CAM++) space, so it says nothing."""
    from speakerid_gui.core.cluster.same_speaker import Z_ONE_SPLIT, Z_ONE_SPLIT_MAX, folder_pair_scores

    if voice is None or len(X) < 3 or np.median(voice) >= RELIABLE_SECONDS:
        return False
    if Z is not None:
        from scipy.cluster.hierarchy import fcluster

        halves = fcluster(Z, 2, criterion="maxclust") - 1
    else:
        halves = _kmeans(X, 2)
    if halves.max() < 1:
        return False
    z = folder_pair_scores(raw, halves, impostor)[0, 1]
    return bool(Z_ONE_SPLIT <= z <= Z_ONE_SPLIT_MAX)


def _best_merged(X, Z, k_first, labels, merged, voice, raw, impostor) -> np.ndarray:
    """Among the merged best cut (labels) and the merged coarser cuts of Z, the highest silhouette
    (clusters of too little speech credited 0, as in best_cut); ties keep labels.

    A coarser cut must keep single voices: its mean raw cosine inside clusters at least halfway
    (Z_SAME) from the impostor level to that of labels. On telephone speech the silhouette chose
    2 clusters (men, women) for 100 speakers whose merged best cut held 117."""
    from speakerid_gui.core.cluster.cuts import distance_cuts
    from speakerid_gui.core.cluster.same_speaker import Z_SAME, pooled_within

    rng = np.random.default_rng(0)
    sample = rng.choice(len(X), SILHOUETTE_SAMPLE, replace=False) if len(X) > SILHOUETTE_SAMPLE else np.arange(len(X))
    D = np.clip(1.0 - X[sample] @ X[sample].T, 0.0, 2.0)

    def score(lab):
        credited = None
        if voice is not None:
            credited = (np.bincount(lab, weights=voice) >= RELIABLE_SECONDS)[lab][sample]
        return silhouette(D, lab[sample], credited)

    base = pooled_within(raw, labels) - impostor
    best, best_score, seen = labels, score(labels), {k_first}
    for _, cut in distance_cuts(Z, CUT_GRID):
        cut = _compact(cut)
        if cut.max() + 1 in seen or cut.max() + 1 > k_first or cut.max() < 1:
            continue
        seen.add(cut.max() + 1)
        candidate = merged(cut)
        if candidate.max() < 1 or pooled_within(raw, candidate) - impostor < Z_SAME * base:
            continue
        value = score(candidate)
        if value > best_score:
            best, best_score = candidate, value
    return best


def to_count(X, labels, k, raw=None, impostor=None, durations=None) -> np.ndarray:
    """The estimated clusters brought to exactly k (unchanged when they are k already): merged
    down, or the clusters least like one speaker split in two, then refined if that keeps k.

    Merging takes, each time, the cluster of least speech (durations; without them, fewest
    segments) into the cluster most like it (the one-speaker score when raw embeddings are given,
    else centroid cosine). The small clusters of an over-estimate are mostly pieces of speakers
    found whole elsewhere; merging the most alike pair instead joined whole speakers:
    speech-commands 148 clusters to 100 went from 0.712 to 0.655, least speech first to 0.758."""
    from speakerid_gui.core.cluster.same_speaker import merge_smallest, refine

    labels = _compact(labels)
    if labels.max() + 1 == k:
        return labels
    if labels.max() + 1 > k:
        labels = merge_smallest(X, labels, k, raw, impostor, durations)
    if labels.max() + 1 < k:
        labels = _split_to(X, labels, k, raw, impostor)
    refined = refine(X, labels)
    return refined if refined.max() + 1 == k else labels


def _split_to(X, labels, k, raw=None, impostor=None) -> np.ndarray:
    """Split clusters in two until there are k: each time the one whose two halves look least
    like one speaker (lowest one-speaker score; without raw embeddings, lowest centroid cosine)."""
    from speakerid_gui.core.cluster.same_speaker import pair_scores, unit

    R = None if raw is None or impostor is None else unit(raw)
    labels = labels.copy()
    options = {}  # cluster id -> (score, member indices, halves), kept until the cluster changes

    def option(c):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            return None
        halves = _ahc(X[idx], 2, None) if len(idx) <= MAX_DIRECT else _kmeans(X[idx], 2)
        if halves.max() < 1:
            return None
        if R is not None:
            sums = np.stack([R[idx[halves == h]].sum(axis=0) for h in (0, 1)])
            score = pair_scores(sums @ sums.T, np.bincount(halves).astype(np.float64), impostor)[0, 1]
        else:
            score = float(np.prod(centroids(X[idx], halves)[1], axis=0).sum())
        return score, idx, halves

    for c in np.unique(labels):
        options[c] = option(c)
    while len(options) < k:
        ready = {c: o for c, o in options.items() if o is not None}
        if not ready:  # only single points left: nothing more to split
            break
        c = min(ready, key=lambda c: ready[c][0])
        _, idx, halves = ready[c]
        new = int(labels.max()) + 1
        labels[idx[halves == 1]] = new
        options[c], options[new] = option(c), option(new)
    return _compact(labels)


def _cluster(X, n_speakers, method, threshold, voice=None) -> np.ndarray:
    n = len(X)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    if n == 1:
        return np.zeros(1, dtype=np.int32)
    if n_speakers is not None:
        n_speakers = max(1, min(int(n_speakers), n))
    if method == "kmeans":
        k = n_speakers or estimate_count(X, threshold)
        return _kmeans(X, k)
    if method != "ahc":
        raise ValueError(f"unknown clustering method {method!r} (ahc, kmeans)")
    if n > MAX_DIRECT:
        return _ahc_large(X, n_speakers, threshold, voice)
    return _ahc(X, n_speakers, threshold, voice)


def _ahc(X, n_speakers, threshold, voice=None) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage

    Z = linkage(X, method="average", metric="cosine")
    if n_speakers:
        labels = fcluster(Z, t=n_speakers, criterion="maxclust")
    elif threshold is not None:
        labels = fcluster(Z, t=threshold, criterion="distance")
    else:
        labels = best_cut(X, Z, voice)
    return _compact(labels)


def best_cut(X: np.ndarray, Z: np.ndarray, voice: np.ndarray | None = None) -> np.ndarray:
    """The dendrogram cut with the highest silhouette (cosine), on a sample of points.

    voice: seconds of speech per point. A cluster holding less than RELIABLE_SECONDS of speech
    is no evidence of a speaker, so its points score 0, as singletons do. Without this, sub-second
    clips (whose embeddings spread wide) make many tiny clusters look well separated: fsdd digits
    were cut into 75 clusters for 6 speakers (accuracy 0.142); with it, 6 clusters (0.892), while
    test-other and tc100-cut are unchanged. ami-debug moves from 0.902 to 0.795: its two best cuts
    (19 and 24 clusters) differ by 0.001 in silhouette, and the 24-cluster one now wins
    (benchmarks/count_estimation.py)."""
    from speakerid_gui.core.cluster.cuts import distance_cuts

    rng = np.random.default_rng(0)
    sample = rng.choice(len(X), SILHOUETTE_SAMPLE, replace=False) if len(X) > SILHOUETTE_SAMPLE else np.arange(len(X))
    D = np.clip(1.0 - X[sample] @ X[sample].T, 0.0, 2.0)
    best, best_score, seen = None, -np.inf, set()
    for _, labels in distance_cuts(Z, CUT_GRID):
        k = labels.max()
        if k in seen:
            continue
        seen.add(k)
        credited = None
        if voice is not None:
            _, inv = np.unique(labels, return_inverse=True)
            credited = (np.bincount(inv, weights=voice) >= RELIABLE_SECONDS)[inv][sample]
        score = silhouette(D, labels[sample], credited)
        if score > best_score:
            best, best_score = labels, score
    return best


def silhouette(D: np.ndarray, labels: np.ndarray, credited: np.ndarray | None = None) -> float:
    """Mean silhouette (singletons count 0, as in sklearn; so do points not `credited`)."""
    return float(silhouette_values(D, labels, credited).mean())


def silhouette_values(D: np.ndarray, labels: np.ndarray, credited: np.ndarray | None = None) -> np.ndarray:
    """Per-point silhouette (all -1 when there are fewer than 2 clusters or only singletons)."""
    ids, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if len(ids) < 2 or len(ids) >= len(labels):
        return np.full(len(labels), -1.0)
    onehot = np.zeros((len(labels), len(ids)), dtype=np.float32)
    onehot[np.arange(len(labels)), inv] = 1.0
    sums = D.astype(np.float32) @ onehot  # distance of each point to each cluster, summed
    own = counts[inv]
    rows = np.arange(len(labels))
    a = sums[rows, inv] / np.maximum(own - 1, 1)
    means = sums / counts[None, :]
    means[rows, inv] = np.inf
    b = means.min(axis=1)
    keep = own > 1 if credited is None else (own > 1) & credited
    return np.where(keep, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)


def _ahc_large(X, n_speakers, threshold, voice=None) -> np.ndarray:
    """AHC on k-means micro-cluster centres, so memory stays O(n) at 100k segments.

    Micro-clusters are far finer than speakers (k = n/4, at most MAX_DIRECT/2), so
    merging their centres approximates AHC on the points.
    """
    micro_labels, centres = _micro_clusters(X)
    k = len(centres)
    keep = np.bincount(micro_labels, minlength=k) > 0
    # each centre carries its members' speech
    sub_voice = None if voice is None else np.bincount(micro_labels, weights=voice, minlength=k)[keep]
    sub = _ahc(centres[keep], n_speakers, threshold, sub_voice)
    lookup = np.full(k, -1)
    lookup[np.flatnonzero(keep)] = sub
    return _compact(lookup[micro_labels])


_MICRO: list = []  # the last (key, result): a given count cuts the same micro-clusters twice


def _micro_key(X) -> tuple:
    return X.__array_interface__["data"][0], X.shape, float(X[::97].sum())


def _carry_micro_clusters(X, space) -> None:
    """cluster()'s second pass keeps the first's micro-clusters (far finer than speakers, so still
    a fine partition of the normalised space), with their centres taken again there: k-means
    again cost 1.2 of 5.4 s at 17,000 segments."""
    if not (_MICRO and _MICRO[0][0] == _micro_key(X)):
        return
    labels = _MICRO[0][1][0]
    sums = np.zeros((labels.max() + 1, space.shape[1]))
    np.add.at(sums, labels, space)
    centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-8)
    _MICRO[:] = [(_micro_key(space), (labels, centres.astype(np.float32)))]


def _micro_clusters(X) -> tuple[np.ndarray, np.ndarray]:
    """(micro-cluster per point, unit-norm centres) of k-means with k = n/4, at most MAX_DIRECT/2."""
    from sklearn.cluster import MiniBatchKMeans

    key = _micro_key(X)
    if _MICRO and _MICRO[0][0] == key:
        return _MICRO[0][1]
    k = min(MAX_DIRECT // 2, len(X) // 4)
    # Random initial centres: k-means++ seeding of 3000 centres took 15 of 25 s at 17k
    # segments, and micro-clusters need no careful seeding (dense regions get more of them).
    km = MiniBatchKMeans(n_clusters=k, init="random", random_state=0, batch_size=4096, n_init=1,
                         max_iter=50).fit(X)
    centres = km.cluster_centers_
    result = km.labels_, centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-8)
    _MICRO[:] = [(key, result)]
    return result


def attach_short_singletons(X: np.ndarray, labels: np.ndarray, short: np.ndarray) -> np.ndarray:
    """Clusters of one short segment are dissolved into the nearest other cluster (by centroid)."""
    ids, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    lone = (counts[inv] == 1) & short
    if not lone.any() or lone.all():
        return labels
    keep_ids, C = centroids(X[~lone], labels[~lone])
    labels = labels.copy()
    labels[lone] = keep_ids[np.argmax(X[lone] @ C.T, axis=1)]
    return _compact(labels)


def _kmeans(X, k) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=4, random_state=0).fit_predict(X).astype(np.int32)


def estimate_count(X: np.ndarray, threshold: float | None = None) -> int:
    return int(len(np.unique(cluster(X, None, "ahc", threshold))))


def confidence(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per segment: margin between the similarity to its own centroid and the best other one.

    Mapped to [0, 1] as 0.5 + margin/2 (0.5: on the border; below 0.5: closer to another cluster).
    """
    if len(X) == 0:
        return np.zeros(0, np.float32)
    ids, C = centroids(X, labels)
    if len(ids) == 1:
        return np.ones(len(X), np.float32)
    own = np.searchsorted(ids, labels)
    out = np.empty(len(X), np.float32)
    for start in range(0, len(X), 8192):  # bounded memory at 100k segments x 300 clusters
        S = X[start:start + 8192] @ C.T
        rows = np.arange(len(S))
        mine = S[rows, own[start:start + 8192]].copy()
        S[rows, own[start:start + 8192]] = -np.inf
        out[start:start + 8192] = np.clip(0.5 + (mine - S.max(axis=1)) / 2, 0, 1)
    return out


def cluster_recordings(X: np.ndarray, recordings: np.ndarray, n_speakers=None, method="ahc",
                       threshold=None) -> np.ndarray:
    """One speaker per recording: cluster recording means, then every segment takes its file's label."""
    rec_ids, inv = np.unique(recordings, return_inverse=True)
    _, means = centroids(X, inv)
    file_labels = cluster(means, n_speakers, method, threshold)
    return file_labels[inv]


def similar_pairs(X: np.ndarray, labels: np.ndarray, top: int = 20) -> list[tuple[int, int, float]]:
    """The most similar cluster pairs (likely one speaker split in two): (a, b, cosine)."""
    ids, C = centroids(X, labels)
    if len(ids) < 2:
        return []
    S = C @ C.T
    iu = np.triu_indices(len(ids), 1)
    order = np.argsort(-S[iu])[:top]
    return [(int(ids[iu[0][o]]), int(ids[iu[1][o]]), float(S[iu][o])) for o in order]
