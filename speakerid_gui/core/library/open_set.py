"""Naming a project's segments from a speaker library, with an open-set decision.

Scores are cosines between centred prints: every segment embedding is centred on the library's
fixed reference mean (CAM++'s common direction, see DESIGN.md) and L2-normalised; a cluster's
print is the normalised mean of its segments, a speaker's the normalised mean of its enrolled
segments. Centring on one fixed vector, not on each project's own mean, keeps scores
comparable across projects, and a project holding a single speaker is not centred onto itself.

The decision is made per segment, from its cluster's score and its own (plan_names):
- a cluster whose best speaker scores at least the library's threshold is that speaker's, but
  only for the segments whose own best enrolled speaker is the same one (a cluster mixing
  speakers does not pass one name to all of them);
- a segment that disagrees with its cluster, or sits in a cluster that matched no one, takes
  the name of its own best speaker when its own score reaches the library's segment threshold
  (higher than the cluster threshold relative to what one segment scores), and is moved to that
  speaker's cluster; otherwise it stays anonymous (a disagreeing segment of a named cluster
  leaves it for an anonymous cluster). A segment whose raw score falls short is still named
  when its score normalised against the library's own impostors reaches the library's segment
  z (cohort.py: CAM++ and, for short clips, GE2E). A stranger must not get an enrolled name.
Verified segments and clusters a reviewer named otherwise are never moved.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from speakerid_gui.core.library.enrolled import DEFAULT_SEGMENT_THRESHOLD, DEFAULT_THRESHOLD, model_reference_mean  # noqa: F401
from speakerid_gui.core.library.enrolled import extra_voices, project_voices


@dataclass
class Match:
    cluster: int
    name: str                # best enrolled speaker (even when not accepted)
    speaker_id: str
    score: float
    second: float            # score of the next-best speaker (-1 when there is none)
    threshold: float
    accepted: bool           # the rule names this cluster (score >= threshold, or segments pulled in)
    segments: int
    status: str = "proposed"  # proposed | named | accepted | rejected
    moved: int = 0           # segments the match moves into this cluster (pulled out of others)

    def as_dict(self) -> dict:
        return asdict(self)


def centre(emb: np.ndarray, mean: np.ndarray) -> np.ndarray:
    X = np.asarray(emb, dtype=np.float32) - mean[None, :]
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-8)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-8)


def voiceprints(library) -> tuple[list, np.ndarray]:
    """(speakers, matrix of unit voiceprints) of a library."""
    mean = library.reference_mean()
    speakers = library.speakers()
    if not speakers:
        return [], np.zeros((0, len(mean)), np.float32)
    V = np.stack([_unit(centre(library.embeddings(s.id), mean).mean(axis=0)) for s in speakers])
    return speakers, V.astype(np.float32)


def cluster_prints(project, emb: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cluster ids, unit cluster prints, segment counts) over non-noise segments."""
    keep = (project.cluster >= 0) & ~project.noise
    ids, inv, counts = np.unique(project.cluster[keep], return_inverse=True, return_counts=True)
    X = centre(emb[keep], mean)
    sums = np.zeros((len(ids), X.shape[1]), np.float64)
    np.add.at(sums, inv.ravel(), X)
    P = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-8)
    return ids, P.astype(np.float32), counts


def plan_names(X: np.ndarray, cluster: np.ndarray, V: np.ndarray, threshold: float, segment_threshold: float,
               fixed: np.ndarray | None = None, rejected: set | frozenset = frozenset(),
               locked: set | frozenset = frozenset(), Z: np.ndarray | None = None,
               z_threshold: float = np.inf) -> dict:
    """The naming rule on arrays. X: centred unit segment embeddings; cluster: their clusters (-1:
    none, never named); V: unit voiceprints. `fixed` segments (verified) keep their cluster and its
    verdict; clusters in `locked` (named by a reviewer) are neither named nor changed; `rejected`
    holds (cluster, speaker index) pairs a reviewer turned down. Z: each segment's normalised
    score against each speaker (cohort.z_scores), which names a segment from z_threshold on
    where its raw score falls short. Returns cluster ids, each
    cluster's best speaker and score, each segment's own best speaker and score, and `speaker`:
    the enrolled index each segment ends up named after (-1: anonymous)."""
    n = len(X)
    fixed = np.zeros(n, bool) if fixed is None else np.asarray(fixed, bool)
    ids = np.unique(cluster[cluster >= 0])
    sums = np.zeros((len(ids), X.shape[1]), np.float64)
    rows = np.searchsorted(ids, cluster)
    has = cluster >= 0
    np.add.at(sums, rows[has], X[has])
    P = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-8)
    Sc = P @ V.T
    c_best, c_score = Sc.argmax(1), Sc.max(1)
    Ss = X @ V.T
    s_best, s_score = Ss.argmax(1), Ss.max(1)
    named = np.array([c_score[r] >= threshold and int(c) not in locked and (int(c), int(c_best[r])) not in rejected
                      for r, c in enumerate(ids)], bool)
    seg_named = np.zeros(n, bool)
    seg_named[has] = named[rows[has]]
    seg_cluster_best = np.full(n, -1)
    seg_cluster_best[has] = c_best[rows[has]]
    in_locked = np.isin(cluster, list(locked)) if locked else np.zeros(n, bool)
    speaker = np.full(n, -1)
    agree = seg_named & (s_best == seg_cluster_best)
    speaker[agree] = s_best[agree]
    # the segment's own score decides where its cluster does not name it with its own best speaker
    pair_rejected = np.array([(int(c), int(b)) in rejected for c, b in zip(cluster, s_best)], bool) if rejected \
        else np.zeros(n, bool)
    alone = ~agree & (s_score >= segment_threshold) & ~pair_rejected & has
    speaker[alone] = s_best[alone]
    if Z is not None:
        z_best, z_score = Z.argmax(1), Z.max(1)
        z_rejected = np.array([(int(c), int(b)) in rejected for c, b in zip(cluster, z_best)], bool) if rejected \
            else np.zeros(n, bool)
        by_z = ~agree & ~alone & (z_score >= z_threshold) & ~z_rejected & has
        speaker[by_z] = z_best[by_z]
    stay = fixed | in_locked | ~has
    speaker[stay] = np.where(seg_named[stay], seg_cluster_best[stay], -1)
    return {"ids": ids, "cluster_best": c_best, "cluster_score": c_score, "named": named,
            "segment_best": s_best, "segment_score": s_score, "speaker": speaker, "stay": stay}


class Matches(list):
    """The matches of a project's clusters, and the segment moves that naming them needs
    (`index`: positions, `target`: their new clusters, `rows`: new clusters' rows)."""
    index: np.ndarray
    target: np.ndarray
    rows: dict


def match_project(project, library, threshold: float | None = None,
                  segment_threshold: float | None = None) -> Matches:
    """The library's names for a project: one match per cluster as it will be after the moves
    (its best enrolled speaker, score and the open-set decision), and the moves themselves."""
    from speakerid_gui.core.palette import color_for

    voices = project_voices(project, library)  # the library's backend, or an error saying why not
    threshold = library.threshold if threshold is None else threshold
    segment_threshold = library.segment_threshold if segment_threshold is None else segment_threshold
    speakers, V = voiceprints(library)
    out = Matches()
    out.index, out.target, out.rows = np.zeros(0, np.int64), np.zeros(0, np.int32), {}
    if not speakers or project.n_segments == 0:
        return out
    X = centre(voices, library.reference_mean())
    cluster = np.where(project.noise, -1, project.cluster)
    sid = {s.id: k for k, s in enumerate(speakers)}
    rejected = {(m["cluster"], sid[m["speaker_id"]]) for m in stored_matches(project)
                if m["status"] == "rejected" and m["speaker_id"] in sid}
    names = {s.name for s in speakers}
    locked = {c for c, info in project.clusters.items()
              if (info.get("name") or "").strip() and info["name"].strip() not in names}
    from speakerid_gui.core.library.cohort import cohort, s_norm, z_scores

    Z = z_scores(cohort(library, speakers), {library.backend: voices, **extra_voices(project, library)})
    S = None if Z is None else s_norm(Z)
    Z, z_threshold = (Z, library.segment_z) if S is None else (S, library.segment_s)
    plan = plan_names(X, cluster, V, threshold, segment_threshold, project.verified, rejected, locked,
                      Z, z_threshold)
    new = cluster.copy()
    speaker = plan["speaker"]
    home = {}  # speaker index -> the cluster its segments go to: the named cluster holding most of them
    for r, c in enumerate(plan["ids"].tolist()):
        if plan["named"][r]:
            j = int(plan["cluster_best"][r])
            mine = int(np.sum((cluster == c) & (speaker == j)))
            if j not in home or mine > home[j][1]:
                home[j] = (c, mine)
    home = {j: c for j, (c, _) in home.items()}
    next_id = max(project.next_cluster_id(), int(project.cluster.max(initial=-1)) + 1)
    movable = ~plan["stay"]
    for j in np.unique(speaker[movable & (speaker >= 0)]).tolist():
        go = movable & (speaker == j)
        named_j = np.isin(cluster, [c for r, c in enumerate(plan["ids"].tolist())
                                    if plan["named"][r] and plan["cluster_best"][r] == j])
        go &= ~named_j  # already in a cluster of this speaker
        if not go.any():
            continue
        if j not in home:
            home[j], next_id = next_id, next_id + 1
            out.rows[home[j]] = {"name": "", "color": color_for(home[j]), "notes": ""}
        new[go] = home[j]
    for r, c in enumerate(plan["ids"].tolist()):  # segments a named cluster does not name: out, anonymous
        leave = movable & (cluster == c) & (speaker < 0) & plan["named"][r]
        if leave.any():
            new[leave], next_id = next_id, next_id + 1
            out.rows[int(new[leave][0])] = {"name": "", "color": color_for(int(new[leave][0])), "notes": ""}
    changed = np.flatnonzero((new != cluster) & (cluster >= 0))
    out.index, out.target = changed.astype(np.int64), new[changed].astype(np.int32)
    named_to = {int(c): int(plan["cluster_best"][r]) for r, c in enumerate(plan["ids"].tolist()) if plan["named"][r]}
    named_to.update({c: j for j, c in home.items()})
    for c in np.unique(new[new >= 0]).tolist():
        members = new == c
        scores = V @ _unit(X[members].sum(axis=0))
        best = named_to.get(c, int(scores.argmax()))
        others = np.delete(scores, best)
        out.append(Match(int(c), speakers[best].name, speakers[best].id, round(float(scores[best]), 4),
                         round(float(others.max()), 4) if len(others) else -1.0, threshold, c in named_to,
                         int(members.sum()), moved=int(np.sum(members & (cluster != c)))))
    return out


def cluster_score_pairs(project, library, truth: np.ndarray) -> tuple[list, list]:
    """Same- and different-speaker scores of the clusters against the enrolled speakers, with the
    true speaker of a cluster taken as that of most of its segments (for calibration reports)."""
    from collections import Counter

    speakers, V = voiceprints(library)
    ids, P, _ = cluster_prints(project, project_voices(project, library), library.reference_mean())
    S = P @ V.T
    same, diff = [], []
    for row, cid in enumerate(ids.tolist()):
        members = (project.cluster == cid) & ~project.noise
        owner = Counter(truth[members]).most_common(1)[0][0]
        for col, s in enumerate(speakers):
            (same if s.name == owner else diff).append(float(S[row, col]))
    return same, diff


# ---- applying matches to a project ----------------------------------------------------------
def apply_matches(project, matches: list[Match], overwrite: bool = False, log=None) -> list[Match]:
    """Name the clusters whose match is accepted, moving the segments the rule pulls out of other
    clusters (one undoable edit, through `log` if given: the app's own EditLog tells its views). A
    cluster a reviewer named, or whose match with this speaker was rejected before, keeps its name."""
    from speakerid_gui.core.project.edits import EditLog

    rejected = {(m["cluster"], m["speaker_id"]) for m in stored_matches(project) if m["status"] == "rejected"}
    rows = dict(getattr(matches, "rows", {}) or {})
    for m in matches:
        if (m.cluster, m.speaker_id) in rejected:
            m.status = "rejected"
            continue
        info = rows.get(m.cluster) or project.clusters.get(m.cluster) or {}
        current = (info.get("name") or "").strip()
        if m.accepted and (overwrite or not current or current == m.name):
            m.status = "named"
            if current != m.name:
                rows[m.cluster] = {**info, "name": m.name}
    index = getattr(matches, "index", np.zeros(0, np.int64))
    if rows or len(index):
        moving = f", {len(index)} segments moved" if len(index) else ""
        named = sum(m.status == "named" for m in matches)
        (log or EditLog(project)).commit("library", f"name {named} clusters from the speaker library{moving}",
                                         index, {"cluster": getattr(matches, "target", np.zeros(0, np.int32)),
                                                 "human": False}, rows)
    save_matches(project, matches)
    return matches


def set_status(project, cluster: int, status: str, log=None) -> dict:
    """The reviewer's verdict on a cluster's match: "accepted" keeps (or gives) the name,
    "rejected" makes the cluster anonymous again and keeps it so on later runs."""
    from speakerid_gui.core.project.edits import EditLog

    matches = stored_matches(project)
    found = [m for m in matches if m["cluster"] == cluster]
    if not found:
        raise KeyError(f"cluster {cluster} has no library match")
    m = found[0]
    log = log or EditLog(project)
    info = dict(project.clusters.get(cluster) or {})
    current = (info.get("name") or "").strip()
    if status == "accepted" and current != m["name"]:
        log.rename(cluster, m["name"])
    elif status == "rejected" and current == m["name"]:
        log.rename(cluster, "")
    m["status"] = status
    with project.transaction():
        project.set_meta("library_matches", matches)
    return m


def stored_matches(project) -> list[dict]:
    return list(project.get_meta("library_matches", []) or [])


def save_matches(project, matches: list[Match]):
    with project.transaction():
        project.set_meta("library_matches", [m.as_dict() for m in matches])


def name_from_default_library(project, folder=None, log=None) -> list[Match] | None:
    """What the app does after an analysis: when a library exists (the default one unless
    `folder`), name the matching clusters, once per clustering (a later run of the same
    clustering leaves the reviewer's verdicts alone). None when there is nothing to do."""
    from speakerid_gui.core.library.enrolled import Library

    if not Library.exists(folder) or project.n_segments == 0:
        return None
    library = Library.open(folder)
    key = [project.get_meta("cluster_key"), str(library.folder)]
    if not library.speakers() or project.get_meta("library_applied") == key:
        return None
    try:
        matches = match_project(project, library)
    except ValueError:  # another backend than the library's: nothing to compare
        return None
    matches = apply_matches(project, matches, log=log)
    with project.transaction():
        project.set_meta("library_applied", key)
    return matches
