"""Relearning from everything the reviewer said: one constrained re-clustering + propagation.

After each answer or correction the unverified rest is relabelled in one undoable edit:
1. Merge threshold learnt from the answers. Every "same speaker" / "different speakers"
   answer was given about two clusters at a known average-linkage distance; the threshold
   that agrees with most answers (ties: the lower, i.e. the more cautious) is how far apart
   two clusters of one speaker can be *in this corpus*. Pairs of clusters that both hold
   verified segments count as "different" answers (the reviewer kept them apart). No
   answer of "same": no threshold, nothing merges (the automatic cut stands).
2. Constrained merging of the clusters below that threshold (cluster.constrained): verified
   members stay together (must-link), cannot-links and two named speakers never merge.
3. Nearest-prototype propagation (learn.assign) on the merged clusters: it may say
   "unknown", it respects cannot-links, and it never writes a verified segment nor one a
   person placed (moved, merged, split): a reviewer's label is never changed by the machine.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from speakerid_gui.core.project.store import NOISE, Project


@dataclass
class Relearned:
    threshold: float | None           # learnt merge threshold (None: no "same" answer yet)
    merges: list                      # (kept id, absorbed id, distance)
    index: np.ndarray                 # positions written
    unknown: int                      # segments propagation left as unknown
    edit_id: int | None


def anchors(project, touched: bool = True) -> set[int]:
    """Clusters the reviewer has vouched for: holding verified segments or named, and (touched)
    those a person made or filled (merged, split, moved into)."""
    from speakerid_gui.core.learn.reviewer import known_speakers

    named = {int(c) for c, info in project.clusters.items() if info.get("name")} if hasattr(project, "clusters") else set()
    human = getattr(project, "human", None) if touched else None
    placed = set() if human is None else {int(c) for c in np.unique(project.cluster[human]) if c != NOISE}
    return {int(c) for c in known_speakers(project)} | named | placed


def evidence(project: Project, X: np.ndarray) -> list[tuple[float, bool]]:
    """(average-linkage distance, same speaker?) from the answers and from pairs of known speakers."""
    from speakerid_gui.core.cluster.constrained import cluster_sums, linkage_distance
    from speakerid_gui.core.project.constraints import answers

    out = []
    for a, b, same, d in answers(project):
        ca, cb = int(project.cluster[a]), int(project.cluster[b])
        if d is None and ca != cb and NOISE not in (ca, cb):
            from speakerid_gui.core.cluster.constrained import pair_distance

            d = pair_distance(X, project.cluster, ca, cb)
        if d is not None:
            out.append((float(d), bool(same)))
    alive = {int(c) for c in np.unique(project.cluster[project.cluster != NOISE])}
    known = sorted(anchors(project, touched=False) & alive)
    if len(known) > 1:  # each known speaker and its nearest other known speaker: the informative "different"
        _, counts, sums = cluster_sums(X, np.where(np.isin(project.cluster, known), project.cluster, NOISE))
        D = linkage_distance(sums, counts)
        np.fill_diagonal(D, np.inf)
        out.extend((float(d), False) for d in D.min(axis=1))
    return out


def calibrated_threshold(ev: list[tuple[float, bool]]) -> float | None:
    """The merge threshold agreeing with most (distance, same) answers; None (merge nothing) without a
    "same" answer or when merging nothing agrees with as many."""
    same = np.array(sorted(d for d, s in ev if s))
    diff = np.array(sorted(d for d, s in ev if not s))
    if not len(same):
        return None
    # "merge nothing" is a candidate too: one "same" answer about a noisy fragment far away must not
    # outvote the known speakers kept apart below it (it merged tc100-cut down to 0.78 accuracy).
    best, best_score = None, len(diff)
    for t in same:  # merging up to t: right about the same-answers below, the different-answers above
        score = np.sum(same <= t) + np.sum(diff > t)
        if score > best_score:
            best, best_score = float(t), score
    return None if best is None else best + 1e-6


def relearn(project: Project, embeddings: np.ndarray, log=None, space: np.ndarray | None = None,
            kind: str = "relearn") -> Relearned:
    """Constrained re-clustering of the unverified rest, then propagation: one undoable edit."""
    from speakerid_gui.core.cluster.constrained import constrained_merge
    from speakerid_gui.core.project.constraints import separated_clusters
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.learn.reviewer import assign, prepare

    p = project
    X = prepare(embeddings) if space is None else space
    t = calibrated_threshold(evidence(p, X))
    labels, merges = p.cluster.copy(), []
    if t is not None:
        labels, merges = constrained_merge(X, p.cluster, t, separated_clusters(p), anchors(p))
    view = SimpleNamespace(cluster=labels, verified=p.verified, noise=p.noise, confidence=p.confidence,
                           get_meta=p.get_meta, segment_ids=p.segment_ids, positions=p.positions,
                           n_segments=p.n_segments)
    result = assign(view, X)
    gone = {j for _, j, _ in merges}
    rows = {c: None for c in gone if c in p.clusters and not (p.verified & (p.cluster == c)).any()}
    # What a person put somewhere (moved, merged, split) stays there, verified or not.
    mine = ~p.human[result.index]
    result.index, result.clusters, result.confidence = result.index[mine], result.clusters[mine], result.confidence[mine]
    log = log or EditLog(p)
    moved = result.clusters != p.cluster[result.index]
    if not moved.any():  # nothing changes speaker: no edit (confidence alone is not worth an undo step)
        return Relearned(t, merges, result.index[:0], int(result.unknown.sum()), None)
    changed = moved | (np.abs(result.confidence - p.confidence[result.index]) > 1e-4)
    what = f"{len(merges)} merges below {t:.3f}, " if t is not None else ""
    edit = log.relabel(kind, f"{kind} from {int(p.verified.sum())} verified segments and the answers "
                       f"({what}{int(result.unknown.sum())} unknown)",
                       result.index[changed], result.clusters[changed], result.confidence[changed], rows)
    return Relearned(t, merges, result.index[changed], int(result.unknown.sum()),
                     None if edit is None else edit.edit_id)  # a DeferredLog (GUI worker) returns None


def answer_named_same(project: Project, X: np.ndarray | None, a: int, b: int, heard: int | None = None) -> None:
    """Cluster a was given the name of cluster b's speaker, and the rename merges them: the same
    "same speaker" answer as accepting the pair, between the segment heard in a (else a's first)
    and one of b (verified if any), at the clusters' distance. Recorded before the merge, so the
    queue never proposes to split off again what the reviewer put there, and the learnt merge
    threshold counts it."""
    from speakerid_gui.core.cluster.constrained import pair_distance
    from speakerid_gui.core.project.constraints import answer_pair

    mine = np.flatnonzero(project.cluster == a)
    theirs = np.flatnonzero(project.cluster == b)
    if not len(mine) or not len(theirs):
        return
    i = int(heard) if heard is not None and project.cluster[int(heard)] == a else int(mine[0])
    sure = theirs[project.verified[theirs]]
    j = int(sure[0] if len(sure) else theirs[0])
    answer_pair(project, i, j, True, None if X is None else pair_distance(X, project.cluster, a, b))


def respect(project: Project, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A new clustering made to obey the reviewer: verified segments keep their clusters (the
    relabel never writes them), and an unverified segment sharing a cluster with a segment it
    was said to differ from moves to its nearest other cluster."""
    from speakerid_gui.core.project.constraints import violations
    from speakerid_gui.core.learn.reviewer import group_centroids

    labels = labels.copy()
    labels[project.verified] = project.cluster[project.verified]
    bad = violations(project, labels)
    if not len(bad):
        return labels
    ok = labels != NOISE
    ids, C = group_centroids(X[ok], labels[ok])
    for i, j in bad:
        if labels[i] != labels[j]:
            continue  # an earlier fix already separated them
        move = j if not project.verified[j] else i
        if project.verified[move]:
            continue  # both verified into one cluster: the reviewer's own call
        sims = C @ X[move]
        sims[ids == labels[move]] = -np.inf
        if np.isfinite(sims.max()):
            labels[move] = ids[int(np.argmax(sims))]
    return labels
