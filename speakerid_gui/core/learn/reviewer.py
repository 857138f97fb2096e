"""Learning from the reviewer: review suggestions, label propagation and refinement.

All functions take the project and its raw embeddings (pipeline.embeddings(project)) and
work in the prepared space (corpus mean removed, L2-normalised; see cluster.prepare).

Verified labels are the ground truth: a cluster holding verified segments is a "known
speaker". Propagation and refinement only ever write unverified, non-noise segments,
through EditLog.relabel, so each run is one undoable edit.

"Unknown" policy: an unverified segment that is not close enough to any known speaker
keeps its automatic cluster (an as-yet-unnamed speaker) and gets a low confidence
(below 0.5), so the review queue brings it up. Nothing is forced into a known speaker.
The classifier for new audio (classify/classifier.py) and the simulated reviewer
(evaluate/simulate.py) live beside this module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from speakerid_gui.core.embed.losses import nt_xent_loss
from speakerid_gui.core.learn.calibrate import Reference, llr, nearest_by, prior_odds, probability, segment_llrs
from speakerid_gui.core.progress import Cancelled, Event, run_to_end
from speakerid_gui.core.project.store import NOISE, Project

CHUNK = 8192  # rows per matrix product: memory stays O(chunk x speakers) at any corpus size
MIN_SCORE = 0.02  # suggestions less likely than this to point at a real error are ranked last


# ---- shared helpers --------------------------------------------------------------------------
def prepare(emb: np.ndarray) -> np.ndarray:
    from speakerid_gui.core.cluster.agglomerative import prepare as _prepare

    return _prepare(emb)


ROW_BLOCK = 8192  # segments scored per numpy call in a worker: the window's thread gets the GIL between


def _unit(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-8)


def group_centroids(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, unit centroids) of the rows of X grouped by label (bincount-based, fast at 100k)."""
    from scipy.sparse import csr_matrix

    ids, inv = np.unique(labels, return_inverse=True)
    onehot = csr_matrix((np.ones(len(inv), np.float32), (inv, np.arange(len(inv)))), shape=(len(ids), len(inv)))
    sums = np.asarray(onehot @ np.asarray(X, np.float32))  # sparse one-hot product: O(n d), no n x k matrix
    return ids, _unit(sums).astype(np.float32)


def top2(X: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of X: index of the most similar row of C, its cosine, and the runner-up cosine."""
    n = len(X)
    best = np.zeros(n, np.int64)
    s1 = np.full(n, -1.0, np.float32)
    s2 = np.full(n, -1.0, np.float32)
    if len(C) == 0:
        return best, s1, s2
    for a in range(0, n, CHUNK):
        S = X[a:a + CHUNK] @ C.T
        if S.shape[1] == 1:
            best[a:a + CHUNK], s1[a:a + CHUNK] = 0, S[:, 0]
            continue
        rows = np.arange(len(S))
        b = S.argmax(axis=1)
        best[a:a + CHUNK], s1[a:a + CHUNK] = b, S[rows, b]
        S[rows, b] = -np.inf
        s2[a:a + CHUNK] = S.max(axis=1)
    return best, s1, s2


def known_speakers(project: Project) -> np.ndarray:
    """Cluster ids holding at least one verified segment (sorted)."""
    return np.unique(project.cluster[project.verified & ~project.noise & (project.cluster != NOISE)])


# ---- 1. review suggestions ------------------------------------------------------------------
@dataclass
class Suggestion:
    kind: str                    # "pair" | "mixed" | "segment" | "spread" | "name"
    cluster_ids: list[int]
    segment_positions: list[int]  # what to play, in order (array positions)
    score: float                 # higher = review sooner (0..1, comparable across kinds)
    reason: str                  # why, for a person
    parts: list[int] = field(default_factory=list)  # "mixed": proposed part (0/1) of each member, in member order
    gain: float = 0.0            # expected value of asking: score x sqrt(segments at stake)


def _medoid(X: np.ndarray, members: np.ndarray, prefer: np.ndarray | None = None) -> int:
    """The member closest to the members' centroid (a verified one when `prefer` allows)."""
    c = _unit(X[members].sum(0, keepdims=True))[0]
    sims = X[members] @ c
    if prefer is not None and prefer[members].any():
        sims = sims + 2.0 * prefer[members]  # play what the reviewer already knows as the reference
    return int(members[np.argmax(sims)])


def _segment_suggestions(p, X, ids, C, row_of, members, ok, human, kinds, n) -> list[Suggestion]:
    """"segment": a member more likely in another cluster; "spread": a wide cluster's two farthest
    members. Both scored by calibrate.segment_scores (leave-one-out cosine to its own cluster vs
    cosine to the nearest other, against segments of like duration)."""
    rows = np.flatnonzero(ok & np.isin(p.cluster, [c for c, m in members.items() if len(m) >= 2]))
    if not len(rows):
        return []
    own_i = np.searchsorted(ids, p.cluster[rows])
    sums = np.stack([X[members[int(c)]].sum(0) for c in ids])
    own, other = np.empty(len(rows)), np.empty(len(rows))
    other_i = np.empty(len(rows), np.int64)
    for a in range(0, len(rows), ROW_BLOCK):  # blocks: one 100k-row product held the GIL 87 ms (the window froze)
        Xb, ob = X[rows[a:a + ROW_BLOCK]], own_i[a:a + ROW_BLOCK]
        own[a:a + len(Xb)] = np.einsum("ij,ij->i", Xb, _unit(sums[ob] - Xb))  # leave-one-out
        Sx = Xb @ C.T
        Sx[np.arange(len(Xb)), ob] = -np.inf
        other_i[a:a + len(Xb)] = Sx.argmax(axis=1)
        other[a:a + len(Xb)] = Sx[np.arange(len(Xb)), other_i[a:a + len(Xb)]]
    dur = (p.seg_end - p.seg_start)[rows]
    free = ~p.verified[rows] & ~human[rows]  # a person put it there: never move it back
    pos = {int(i): j for j, i in enumerate(rows)}
    far = {c: [int(i) for i in m[np.argsort(X[m] @ C[row_of[c]])] if not p.verified[i]][:2]
           for c, m in members.items() if len(m) >= 3} if "spread" in kinds else {}
    z = segment_llrs(own, other, dur)
    prob = probability(z, prior_odds(z))  # P(misplaced), the prior from all segments of the project
    out: list[Suggestion] = []
    for c, f in far.items():
        if not f:
            continue
        score = 1.0 - float(np.prod([1.0 - prob[pos[i]] for i in f]))  # at least one of them misplaced
        out.append(Suggestion("spread", [c], f, score,
                              f"{p.cluster_name(c)} is wide: its farthest segments are {score:.0%} likely "
                              "to include someone else", gain=score * np.sqrt(len(f))))
    played = {i for f in far.values() for i in f}
    for j in np.argsort(-prob)[:3 * n] if "segment" in kinds else []:
        i = int(rows[j])
        if i in played or not free[j]:
            continue  # a spread suggestion already plays it
        o, score = int(ids[other_i[j]]), float(prob[j])
        out.append(Suggestion("segment", [int(p.cluster[i]), o], [i], score,
                              f"this segment of {p.cluster_name(p.cluster[i])} is {score:.0%} likely "
                              f"{p.cluster_name(o)}'s (cosine {other[j]:.2f} to it, {own[j]:.2f} to its own)",
                              gain=score))
    return out


def suggestions(project: Project, embeddings: np.ndarray, n: int = 50,
                kinds=("pair", "mixed", "segment", "spread", "name"),
                max_cluster: int = 400) -> list[Suggestion]:
    """A ranked "review next" queue.

    Every score is the chance that the suggestion points at a real error (learn/calibrate.py):
    its cosine against the project's own same- and different-speaker cosines at the same sizes
    (or clip durations), times the prior odds of that kind of error in this project:
    - pair: two clusters as alike as two parts of one speaker of those sizes (one split in two);
    - mixed: a cluster whose two halves (2-way AHC) are as far apart as different speakers'
      parts, beyond what a one-speaker cluster split alike shows (two speakers in one);
    - segment: closer to another cluster than a rightly placed segment of its length is;
    - spread: a cluster's two farthest members, likely that at least one is someone else;
    - name: a cluster nobody has listened to (its most typical segment): one listen names it.
    Ranked by expected gain: score x sqrt(segments at stake).
    """
    from speakerid_gui.core.cluster.agglomerative import cluster as ahc
    from speakerid_gui.core.project.constraints import answers, separated_clusters, skipped, suggestion_key

    X = prepare(embeddings)
    p = project
    apart = separated_clusters(p)  # "different speakers" answers and splits: never proposed again
    same_pairs = [(a, b) for a, b, same, _ in answers(p) if same]
    human = getattr(p, "human", np.zeros(p.n_segments, bool))
    ok = ~p.noise & (p.cluster != NOISE)
    sizes = p.cluster_sizes()
    if not sizes:
        return []
    ids, C = group_centroids(X[ok], p.cluster[ok])
    row_of = {int(c): i for i, c in enumerate(ids)}
    verified = p.verified & ok

    # Halves of every cluster: their similarity is the "same speaker" reference for pairs, and the "mixed" signal.
    halves = {}
    for c in ids.tolist():
        m = np.flatnonzero((p.cluster == c) & ok)
        if len(m) < 2:
            continue
        sub = m if len(m) <= max_cluster else np.random.default_rng(c).choice(m, max_cluster, replace=False)
        lab = ahc(X[sub], 2, "ahc")
        if len(np.unique(lab)) < 2:
            continue
        if len(sub) < len(m):  # larger clusters: assign the rest to the nearer half
            _, hc = group_centroids(X[sub], lab)
            lab = np.argmax(X[m] @ hc.T, axis=1).astype(np.int32)
        _, hc = group_centroids(X[m], lab)
        halves[c] = (m, lab, float(hc[0] @ hc[1]))
    within = np.array([h[2] for h in halves.values()])
    S = C @ C.T
    np.fill_diagonal(S, -np.inf)
    members = {int(c): np.flatnonzero((p.cluster == c) & ok) for c in ids.tolist()}
    neighbour = {int(c): int(ids[np.argmax(S[i])]) for i, c in enumerate(ids.tolist())} if len(ids) > 1 else {}
    ref = Reference(X, members, neighbour)  # same/different-speaker cosines at each pair of sizes

    out: list[Suggestion] = []
    if "pair" in kinds and len(ids) > 1:
        iu = np.triu_indices(len(ids), 1)
        order = np.argsort(-S[iu])[: 3 * n]
        cand = {(int(ids[iu[0][o]]), int(ids[iu[1][o]])) for o in order}
        cand |= {tuple(sorted((c, d))) for c, d in neighbour.items()}  # every cluster's nearest one
        # how common a split speaker is here: from every cluster's nearest pair
        prior = prior_odds([ref.pair_llr(float(S[row_of[c], row_of[d]]), len(members[c]), len(members[d]))
                            for c, d in neighbour.items()])
        for a, b in sorted(cand, key=lambda ab: -S[row_of[ab[0]], row_of[ab[1]]]):  # ties: closest first
            ma, mb = members[a], members[b]
            if verified[ma].any() and verified[mb].any():
                continue  # both already confirmed as speakers: the reviewer has kept them apart
            if (min(a, b), max(a, b)) in apart:
                continue  # the reviewer said (or split them because) they are different speakers
            s = float(S[row_of[a], row_of[b]])
            # Calibrated at these sizes: a tiny cluster's centroid is noisy, so it is a likely fragment
            # only when its cosine is typical of same-speaker parts that small.
            score = float(probability(ref.pair_llr(s, len(ma), len(mb)), prior))
            typical = float(np.median(ref.samples(len(ma), len(mb))[0]))
            why = (f"{'they sound alike' if score >= 0.5 else 'perhaps alike'} (cosine {s:.2f}; one speaker's "
                   f"parts of {len(ma)} and {len(mb)} segments typically {typical:.2f}; "
                   f"{score:.0%} likely one speaker)")
            out.append(Suggestion("pair", [a, b], [_medoid(X, ma, verified), _medoid(X, mb, verified)], score,
                                  f"{p.cluster_name(a)} and {p.cluster_name(b)}: {why}; one speaker split in two?",
                                  gain=score * np.sqrt(min(len(ma), len(mb)))))
    if "mixed" in kinds and len(ids) > 1:  # a lone cluster's centred halves always point apart
        # each split's part sizes (log of the smaller, of the larger): outliers split off alike
        hsize = np.array([sorted(np.log(np.bincount(h[1], minlength=2) + 1.0)) for h in halves.values()])
        hkeys = list(halves)
        z = {}  # log-likelihood ratio two speakers : one, for every cluster's split
        for c, (m, lab, s) in halves.items():
            n0, n1 = np.bincount(lab, minlength=2)
            # one speaker's two-way split in clusters split alike vs different speakers' parts
            like = [k for k in nearest_by(hsize, sorted(np.log([n0 + 1.0, n1 + 1.0])), 31) if hkeys[k] != c]
            z[c] = -float(llr(s, within[like], ref.samples(n0, n1)[1]))
        prior = prior_odds(list(z.values()))
        for c, (m, lab, s) in halves.items():
            if all(verified[m[lab == k]].any() for k in (0, 1)):
                continue  # the reviewer confirmed both halves as this speaker
            half = dict(zip(m.tolist(), lab.tolist()))
            if any(half.get(a, -1) + half.get(b, -1) == 1 for a, b in same_pairs):
                continue  # the reviewer said these halves are one speaker (or merged them): never undo it
            n0, n1 = int((lab == 0).sum()), int((lab == 1).sum())
            score = float(probability(z[c], prior))
            reps = [_medoid(X, m[lab == k], verified) for k in (0, 1)]
            out.append(Suggestion("mixed", [c], reps, score,
                                  f"{p.cluster_name(c)} has two groups ({n0} + {n1} segments, cosine {s:.2f}): "
                                  f"{score:.0%} likely two speakers in one?", parts=lab.tolist(),
                                  gain=score * np.sqrt(min(n0, n1))))
    if ("segment" in kinds or "spread" in kinds) and len(ids) > 1:
        out += _segment_suggestions(p, X, ids, C, row_of, members, ok, human, kinds, n)
    if "name" in kinds:  # whole clusters first: one listen to its most typical segment names a cluster
        for c, i in row_of.items():
            m = np.flatnonzero((p.cluster == c) & ok)
            if len(m) < 2 or verified[m].any() or p.clusters.get(c, {}).get("name"):
                continue
            unsure = float(1.0 - np.clip(p.confidence[m], 0, 1).mean())
            out.append(Suggestion("name", [c], [_medoid(X, m)], 0.5,
                                  f"nobody has listened to {p.cluster_name(c)} yet ({len(m)} segments): "
                                  f"who is it? (its most typical segment)", gain=0.5 * np.sqrt(len(m)) * unsure))
    gone = skipped(p)
    if gone:
        out = [s for s in out if suggestion_key(p, s) not in gone]
    # Expected gain first: score x sqrt(segments at stake). With the plain product, big clusters' loosely calibrated
    # scores came first (tc100-cut 0.994, fsdd 0.946 at 5 % heard); with the score alone, tiny fragments did (tc100-cut
    # fell to 0.78 through a large learnt threshold); the square root did best on all four sets of benchmarks/review.py.
    # Unlikely ones (below MIN_SCORE) last: in a clean project "Same speaker? 0% likely" came before "Who is this?".
    out.sort(key=lambda s: (s.kind != "name" and s.score < MIN_SCORE, -s.gain, -s.score))
    return out[:n]


# ---- 2. label propagation -------------------------------------------------------------------
@dataclass
class Propagation:
    index: np.ndarray       # positions written (unverified, non-noise)
    clusters: np.ndarray    # new cluster per written position
    confidence: np.ndarray  # 0..1; below 0.5 = "unknown" (kept in its automatic cluster)
    unknown: np.ndarray     # bool per written position
    threshold: float        # cosine below which a segment is unknown


def unknown_threshold(X: np.ndarray, labels: np.ndarray, quantile: float = 0.02) -> float:
    """Cosine to one's own speaker centroid that nearly all segments of a speaker reach.

    Calibrated on the project's own clusters (not a constant: corpora differ in spread).
    """
    ok = labels != NOISE
    if ok.sum() < 2:
        return 0.0
    ids, C = group_centroids(X[ok], labels[ok])
    own = np.einsum("ij,ij->i", X[ok], C[np.searchsorted(ids, labels[ok])])
    return float(np.quantile(own, quantile))


def assign(project: Project, X: np.ndarray, threshold: float | None = None) -> Propagation:
    """Nearest-prototype relabelling of unverified segments; X is the (prepared or refined) space.

    Prototypes: the centroid of each known speaker (verified segments weighted up), and the centroid of
    every cluster without verified segments (so unnamed speakers are not absorbed). A segment
    goes to its nearest prototype; it is "unknown" (keeps its cluster, confidence < 0.5) when
    that is not a known speaker close enough, i.e. below the calibrated threshold.
    """
    p = project
    ok = ~p.noise & (p.cluster != NOISE)
    todo = np.flatnonzero(ok & ~p.verified)
    known = known_speakers(p)
    # A known speaker's prototype: its whole cluster, verified members counted 3 times (one or two alone are too noisy).
    kmask = ok & np.isin(p.cluster, known)
    rows = np.concatenate([np.flatnonzero(kmask)] + [np.flatnonzero(p.verified & ok)] * 2)
    kid, kC = group_centroids(X[rows], p.cluster[rows]) if len(rows) else (np.zeros(0, int), X[:0])
    free = ok & ~np.isin(p.cluster, known)
    fid, fC = group_centroids(X[free], p.cluster[free]) if free.any() else (np.zeros(0, int), X[:0])
    proto_ids = np.concatenate([kid, fid]).astype(np.int32)
    P = np.concatenate([kC, fC]).astype(np.float32)
    thr = unknown_threshold(X, p.cluster) if threshold is None else threshold
    best, s1, s2 = top2(X[todo], P)
    new = proto_ids[best] if len(P) else p.cluster[todo]
    conf = np.clip(0.5 + (s1 - s2) / 2, 0, 1).astype(np.float32)
    is_known = best < len(kid)
    unknown = is_known & (s1 < thr)
    new = np.where(unknown, p.cluster[todo], new)  # unknown: stays where clustering put it
    # Between clusters nobody has reviewed, the clustering's decision stands: re-deciding it by
    # nearest centroid after every answer only made labels drift (accuracy fell between answers).
    new = np.where(is_known | np.isin(p.cluster[todo], known), new, p.cluster[todo])
    conf = np.where(unknown, np.minimum(conf, 0.49 * np.clip(s1 / max(thr, 1e-6), 0, 1)), conf)
    new = _obey_cannot_links(p, X, todo, new, conf, proto_ids, P)
    return Propagation(todo, new.astype(np.int32), conf.astype(np.float32), unknown, thr)


def _obey_cannot_links(p, X, todo, new, conf, proto_ids, P) -> np.ndarray:
    """Two segments the reviewer said differ never end in one cluster: the less certain
    unverified one goes to its best other prototype."""
    from speakerid_gui.core.project.constraints import cannot_links

    if not hasattr(p, "get_meta") or not len(P):
        return new
    pairs = cannot_links(p)
    if not len(pairs):
        return new
    labels = p.cluster.copy()
    labels[todo] = new
    slot = np.full(len(labels), -1, np.int64)
    slot[todo] = np.arange(len(todo))
    for i, j in pairs:
        if labels[i] != labels[j] or labels[i] == NOISE:
            continue
        cand = [k for k in (i, j) if slot[k] >= 0]
        if not cand:
            continue  # both verified together: the reviewer's own call
        k = min(cand, key=lambda k: conf[slot[k]])
        sims = P @ X[k]
        sims[proto_ids == labels[i]] = -np.inf
        if np.isfinite(sims.max()):
            labels[k] = proto_ids[int(np.argmax(sims))]
            new[slot[k]] = labels[k]
    return new


def propagate(project: Project, embeddings: np.ndarray, log=None, threshold: float | None = None,
              space: np.ndarray | None = None, kind: str = "propagate") -> Propagation:
    """Relabel every unverified segment from the verified ones; one undoable edit."""
    from speakerid_gui.core.project.edits import EditLog

    X = prepare(embeddings) if space is None else space
    result = assign(project, X, threshold)
    log = log or EditLog(project)
    changed = (result.clusters != project.cluster[result.index]) | \
              (np.abs(result.confidence - project.confidence[result.index]) > 1e-4)
    n_known = len(known_speakers(project))
    log.relabel(kind, f"{kind} from {int(project.verified.sum())} verified segments "
                f"({n_known} speakers; {int(result.unknown.sum())} unknown)",
                result.index[changed], result.clusters[changed], result.confidence[changed])
    return result


# ---- 3. refinement ----------------------------------------------------------------------------
def _triplet_loss(z, y, margin: float = 0.2):
    """Batch-hard triplet loss: hardest positive and hardest negative of each anchor."""
    import torch

    d = 1.0 - z @ z.T
    same = y[:, None] == y[None, :]
    eye = torch.eye(len(y), dtype=torch.bool)
    pos = torch.where(same & ~eye, d, torch.full_like(d, -1.0)).max(1).values
    neg = torch.where(~same, d, torch.full_like(d, 3.0)).min(1).values
    valid = (pos >= 0) & (neg < 3)
    if not valid.any():
        return z.sum() * 0.0
    return torch.relu(pos - neg + margin)[valid].mean()


def prototype_loss(z, y, z_ref, y_ref, tau: float = 0.1):
    """Cross-entropy of each z over the speaker centroids of z_ref (cosine / tau): the held-out
    loss of refinement. Unlike the batch-hard triplet loss, whose hinge is exactly 0 as soon as
    every held-out triplet clears its margin (it read 0.000 from the first epoch on well-separated
    speakers, so early stopping never saw it move), it keeps falling while speakers draw apart."""
    import torch
    import torch.nn.functional as F

    classes = torch.unique(y_ref)
    onehot = (y_ref[:, None] == classes[None, :]).float()
    C = F.normalize(onehot.T @ z_ref, dim=1)
    target = torch.searchsorted(classes, y)
    return F.cross_entropy(z @ C.T / tau, target)


def refine(project: Project, embeddings: np.ndarray, log=None, epochs: int = 200, batch: int = 256,
           patience: int = 15, holdout: float = 0.2, nt_xent: float = 0.5, seed: int = 0,
           cancel: Callable[[], bool] = lambda: False, threads: int | None = None) -> Iterator[Event]:
    """Train a projection head on the verified labels, then reassign unverified segments in its space.

    A generator of progress Events (progress per epoch); raises Cancelled between epochs when
    cancel() is true (nothing is written then). Early stopping on a held-out part of the
    verified labels (prototype_loss against the training speakers' centroids). The final relabel is one undoable edit; the
    result (a Propagation) is the value of the StopIteration, and `refine_run` returns it.
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    X = prepare(embeddings)
    p = project
    vpos = np.flatnonzero(p.verified & ~p.noise & (p.cluster != NOISE))
    y_all = p.cluster[vpos]
    spk, counts = np.unique(y_all, return_counts=True)
    if len(spk) < 2 or counts.max() < 2:
        yield Event("done", 1, 1, "need verified segments of at least two speakers; propagating instead")
        return propagate(p, embeddings, log)
    rng = np.random.default_rng(seed)
    # Hold out part of each speaker's verified segments (speakers with >= 3 keep some for training).
    val = np.zeros(len(vpos), bool)
    for s in spk:
        m = np.flatnonzero(y_all == s)
        if len(m) >= 3:
            val[rng.choice(m, max(1, int(len(m) * holdout)), replace=False)] = True
    Xt = torch.from_numpy(X[vpos[~val]])
    yt = torch.from_numpy(np.searchsorted(spk, y_all[~val]))
    Xv = torch.from_numpy(X[vpos[val]])
    yv = torch.from_numpy(np.searchsorted(spk, y_all[val]))
    dim = X.shape[1]
    head = torch.nn.Sequential(torch.nn.Linear(dim, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64))
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)

    def embed(x):
        return torch.nn.functional.normalize(head(x), dim=1)

    best, best_state, waited = np.inf, None, 0
    for epoch in range(epochs):
        if cancel():
            raise Cancelled()
        head.train()
        order = torch.randperm(len(Xt))
        losses = []
        for a in range(0, len(Xt), batch):
            idx = order[a:a + batch]
            xb, yb = Xt[idx], yt[idx]
            loss = _triplet_loss(embed(xb), yb)
            if nt_xent:  # two augmented views (noise + dropout of the frozen embedding)
                v1 = torch.nn.functional.dropout(xb + 0.05 * torch.randn_like(xb), 0.1)
                v2 = torch.nn.functional.dropout(xb + 0.05 * torch.randn_like(xb), 0.1)
                loss = loss + nt_xent * nt_xent_loss(embed(v1), embed(v2))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        head.eval()
        with torch.no_grad():
            v = float(prototype_loss(embed(Xv), yv, embed(Xt), yt)) if len(Xv) else float(np.mean(losses))
        yield Event("train", epoch + 1, epochs, f"epoch {epoch + 1}", loss=float(np.mean(losses)), val_loss=v)
        if v < best - 1e-4:
            best, waited = v, 0
            best_state = {k: t.clone() for k, t in head.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
    if best_state is not None:
        head.load_state_dict(best_state)
    if cancel():
        raise Cancelled()
    yield Event("project", 0, 1, f"projecting {len(X)} segments")
    with torch.no_grad():
        # The head starts from the prepared space; keep it as a residual anchor so speakers the
        # reviewer has not seen (absent from training) are not collapsed together.
        Z = np.concatenate([X, embed(torch.from_numpy(X)).numpy()], axis=1) / np.sqrt(2.0)
    yield Event("assign", 0, 1, "reassigning unverified segments")
    result = propagate(p, embeddings, log, space=Z.astype(np.float32), kind="refine")
    yield Event("done", 1, 1, f"refined: {int(result.unknown.sum())} unknown of {len(result.index)}")
    return result


def refine_run(project: Project, embeddings: np.ndarray, progress: Callable[[Event], None] | None = None,
               **kwargs) -> Propagation:
    """refine() driven to the end; progress(event) per event."""
    return run_to_end(refine(project, embeddings, **kwargs), progress)
