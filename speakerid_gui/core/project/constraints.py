"""What the reviewer said that is not a label: "different speakers" answers and skipped suggestions.

A "different speakers" answer is a cannot-link between the two segments the reviewer heard
(stored by segment id, so it outlives re-clustering and restarts). It separates whatever
clusters those two segments are in: the pair is never proposed again, propagation and
refinement never put the two into one cluster, and re-clustering keeps them apart. A split
by the reviewer is the same answer about the two parts (so the parts are never proposed
back as a merge). Must-links need no store of their own: verified segments in one cluster
are the reviewer's "same speaker".

Skipped suggestions are kept by a key that names what was asked (kind, clusters, segments),
so they stay skipped after a restart until their clusters change.
"""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.project.store import NOISE, Project

ANSWERS = "pair_answers"                # meta key: [[segment id, segment id, same 0/1, distance], ...]
SKIPPED = "skipped_suggestions"         # meta key: [suggestion key, ...]


def _live_positions(project: Project, ids: np.ndarray) -> np.ndarray:
    """Positions of segment ids, -1 where the segment no longer exists (re-analysed away)."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if not len(ids) or not project.n_segments:
        return np.full(len(ids), -1, np.int64)
    pos = np.asarray(project.positions(ids), dtype=np.int64)
    ok = (pos >= 0) & (pos < project.n_segments)
    ok[ok] = project.segment_ids[pos[ok]] == ids[ok]
    return np.where(ok, pos, -1)


def answer_pair(project: Project, i: int, j: int, same: bool, distance: float | None = None) -> None:
    """Record the reviewer's answer about segments i and j (array positions): same speaker or not.

    distance: the average-linkage distance of their clusters when asked (it calibrates the
    merge threshold of re-clustering, learn.constrained.calibrated_threshold). A new answer
    about the same two segments replaces the old one.
    """
    a, b = sorted((int(project.segment_ids[int(i)]), int(project.segment_ids[int(j)])))
    if a == b:
        raise ValueError("a segment is always the same speaker as itself")
    rows = [r for r in project.get_meta(ANSWERS, []) if r[:2] != [a, b]]
    rows.append([a, b, int(bool(same)), None if distance is None else round(float(distance), 5)])
    project.set_meta(ANSWERS, rows)


def add_cannot_link(project: Project, i: int, j: int, distance: float | None = None) -> None:
    """Segments i and j are different speakers."""
    answer_pair(project, i, j, False, distance)


def remove_answer(project: Project, i: int, j: int) -> None:
    a, b = sorted((int(project.segment_ids[int(i)]), int(project.segment_ids[int(j)])))
    project.set_meta(ANSWERS, [r for r in project.get_meta(ANSWERS, []) if r[:2] != [a, b]])


def answers(project: Project) -> list[tuple[int, int, bool, float | None]]:
    """(position, position, same, distance) of every answer whose segments still exist."""
    rows = project.get_meta(ANSWERS, [])
    if not rows:
        return []
    pos = _live_positions(project, np.array([r[:2] for r in rows]).ravel()).reshape(-1, 2)
    return [(int(a), int(b), bool(r[2]), r[3]) for (a, b), r in zip(pos, rows) if a >= 0 and b >= 0]


def cannot_links(project: Project) -> np.ndarray:
    """(m, 2) array positions of the "different speakers" pairs whose segments still exist."""
    pairs = [(a, b) for a, b, same, _ in answers(project) if not same]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def separated_clusters(project: Project, labels: np.ndarray | None = None) -> set[tuple[int, int]]:
    """Cluster pairs (a < b) the reviewer said are different speakers, under `labels`."""
    labels = project.cluster if labels is None else labels
    out = set()
    for i, j in cannot_links(project):
        a, b = int(labels[i]), int(labels[j])
        if a != b and NOISE not in (a, b):
            out.add((min(a, b), max(a, b)))
    return out


def violations(project: Project, labels: np.ndarray | None = None) -> np.ndarray:
    """Rows of cannot_links() whose two segments share a cluster under `labels`."""
    labels = project.cluster if labels is None else labels
    pairs = cannot_links(project)
    if not len(pairs):
        return pairs
    same = (labels[pairs[:, 0]] == labels[pairs[:, 1]]) & (labels[pairs[:, 0]] != NOISE)
    return pairs[same]


# ---- skipped suggestions ------------------------------------------------------------------------
def suggestion_key(project: Project, s) -> str:
    """A stable name for what a suggestion asks: kind, clusters and played segments (by id)."""
    segs = "-".join(str(int(project.segment_ids[int(i)])) for i in s.segment_positions)
    return f"{s.kind}:{'-'.join(str(int(c)) for c in s.cluster_ids)}:{segs}"


def skip(project: Project, s) -> None:
    keys = project.get_meta(SKIPPED, [])
    key = suggestion_key(project, s)
    if key not in keys:
        keys.append(key)
        project.set_meta(SKIPPED, keys)


def skipped(project: Project) -> set[str]:
    return set(project.get_meta(SKIPPED, []))
