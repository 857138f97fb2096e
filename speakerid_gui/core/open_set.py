"""Naming a project's clusters from a speaker library, with an open-set decision.

Scores are cosines between centred means: every segment embedding is centred on the library's
fixed reference mean (CAM++'s common direction, see DESIGN.md) and L2-normalised; a cluster's
print is the normalised mean of its segments, a speaker's the normalised mean of its enrolled
segments. Centring on one fixed vector, not on each project's own mean, keeps scores
comparable across projects, and a project holding a single speaker is not centred onto itself.
A cluster takes the name of its best-scoring speaker only when the score clears the library's
threshold; otherwise it stays anonymous (a stranger must not get an enrolled name).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .library import DEFAULT_THRESHOLD, model_reference_mean  # noqa: F401  (the library's defaults)


@dataclass
class Match:
    cluster: int
    name: str                # best enrolled speaker (even when not accepted)
    speaker_id: str
    score: float
    second: float            # score of the next-best speaker (-1 when there is none)
    threshold: float
    accepted: bool           # score >= threshold
    segments: int
    status: str = "proposed"  # proposed | named | accepted | rejected

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


def match_project(project, library, threshold: float | None = None) -> list[Match]:
    """The best enrolled speaker of every cluster, with its score and the open-set decision."""
    from .pipeline import Settings, embeddings

    backend = Settings(**project.get_meta("settings", {})).backend
    if backend != library.backend:
        raise ValueError(f"{project.folder} was embedded with {backend}; the library {library.folder} "
                         f"holds {library.backend} voiceprints")
    threshold = library.threshold if threshold is None else threshold
    speakers, V = voiceprints(library)
    if not speakers or project.n_segments == 0:
        return []
    ids, P, counts = cluster_prints(project, embeddings(project), library.reference_mean())
    S = P @ V.T
    order = np.argsort(-S, axis=1)
    out = []
    for row, cid in enumerate(ids.tolist()):
        best = order[row, 0]
        second = float(S[row, order[row, 1]]) if len(speakers) > 1 else -1.0
        score = float(S[row, best])
        out.append(Match(int(cid), speakers[best].name, speakers[best].id, round(score, 4), round(second, 4),
                         threshold, score >= threshold, int(counts[row])))
    return out


def cluster_score_pairs(project, library, truth: np.ndarray) -> tuple[list, list]:
    """Same- and different-speaker scores of the clusters against the enrolled speakers, with the
    true speaker of a cluster taken as that of most of its segments (for calibration reports)."""
    from collections import Counter

    from .pipeline import embeddings

    speakers, V = voiceprints(library)
    ids, P, _ = cluster_prints(project, embeddings(project), library.reference_mean())
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
    """Name the clusters whose match is accepted (one undoable edit, through `log` if given: the
    app's own EditLog tells its views). A cluster a reviewer named, or whose match with this
    speaker was rejected before, keeps its name."""
    from .edits import EditLog

    rejected = {(m["cluster"], m["speaker_id"]) for m in stored_matches(project) if m["status"] == "rejected"}
    rows = {}
    for m in matches:
        if (m.cluster, m.speaker_id) in rejected:
            m.status = "rejected"
            continue
        info = project.clusters.get(m.cluster) or {}
        current = (info.get("name") or "").strip()
        if m.accepted and (overwrite or not current or current == m.name):
            m.status = "named"
            if current != m.name:
                rows[m.cluster] = {**info, "name": m.name}
    if rows:
        (log or EditLog(project)).commit("rename", f"name {len(rows)} clusters from the speaker library",
                                np.zeros(0, dtype=np.int64), {}, rows)
    save_matches(project, matches)
    return matches


def set_status(project, cluster: int, status: str, log=None) -> dict:
    """The reviewer's verdict on a cluster's match: "accepted" keeps (or gives) the name,
    "rejected" makes the cluster anonymous again and keeps it so on later runs."""
    from .edits import EditLog

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
    from .library import Library

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
