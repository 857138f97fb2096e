"""Cutting a turn in two: the part after the cut becomes a segment of its own (a "piece").

A cut at time t of a segment [start, end) shortens it to [start, t) and adds the piece [t, end)
with the next free segment id, the same recording and the same labels. Its parent is kept in
the `pieces` table, because the analysis caches hold one embedding row per analysed segment:
a piece has no row of its own there and is given its parent's (cache.backend_matrix) until
core/edited_turns.py has embedded it for its own audio. The cut belongs to an undoable edit
(EditLog.cut_turn, EditLog.give_span); undoing it removes the piece and gives the parent its
end back. Pieces get the highest ids, so the array positions of every other segment stay.
"""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.project.assignment_writer import sql_list
from speakerid_gui.core.project.store import COLUMNS, Project

MIN_PIECE = 0.05  # seconds: a cut this close to a turn's edge leaves nothing to hear


def pieces(project: Project) -> dict[int, int]:
    """Segment id -> its parent's id, for every piece (none before the first cut)."""
    return dict(project.db.execute("SELECT segment_id, parent_id FROM pieces"))


def plan_cut(project: Project, index: int, t: float, new_id: int) -> list:
    """[parent id, piece id, cut time, parent's end] of cutting segment `index` at t.
    ValueError when t is not inside it by MIN_PIECE on both sides."""
    start, end = float(project.seg_start[index]), float(project.seg_end[index])
    t = round(float(t), 3)
    if not start + MIN_PIECE <= t <= end - MIN_PIECE:
        raise ValueError(f"a cut must leave {MIN_PIECE * 1000:.0f} ms on both sides of it "
                         f"(turn {start:.2f}-{end:.2f} s, cut at {t:.2f} s)")
    return [int(project.segment_ids[index]), int(new_id), t, end]


def apply_cuts(project: Project, cuts: list) -> np.ndarray:
    """Make the cuts (in order; inside the caller's transaction), in the database and in memory.
    Returns the parents' array positions."""
    db = project.db
    parents = []
    for parent, piece, t, end in cuts:
        if db.execute("SELECT 1 FROM segments WHERE id=?", (piece,)).fetchone():  # a redo after new segments
            raise ValueError("segments were added since this cut was undone: it cannot be redone")
        i = int(project.positions([parent])[0])
        db.execute("UPDATE segments SET end=? WHERE id=?", (t, parent))
        db.execute("INSERT INTO segments(id, recording_id, start, end) VALUES(?,?,?,?)",
                   (piece, int(project.seg_recording[i]), t, end))
        values = {k: getattr(project, k)[i].item() for k in COLUMNS}
        db.execute("INSERT INTO assignments(segment_id, cluster_id, confidence, verified, noise, source) "
                   "VALUES(?,?,?,?,?,?)", (piece, *(sql_list(k, np.asarray([values[k]]))[0] for k in COLUMNS)))
        db.execute("INSERT INTO pieces(segment_id, parent_id) VALUES(?,?)", (piece, parent))
        project.seg_end[i] = t
        at = int(np.searchsorted(project.segment_ids, piece))
        _insert(project, at, {"segment_ids": piece, "seg_recording": project.seg_recording[i], "seg_start": t,
                              "seg_end": end, **values})
        parents.append(parent)
    return project.positions(parents)


def undo_cuts(project: Project, cuts: list) -> tuple[np.ndarray, np.ndarray]:
    """Remove the cuts' pieces (last cut first) and give their parents their ends back.
    Returns the parents' array positions after, and the pieces' before."""
    db = project.db
    ids = np.array([piece for _, piece, _, _ in cuts], np.int64)
    at = project.positions(ids) if len(ids) else np.zeros(0, np.int64)
    here = (at >= 0) & (at < project.n_segments)
    here[here] = project.segment_ids[at[here]] == ids[here]  # a re-analysis may have replaced them
    parents = []
    for (parent, piece, _t, end), ok in zip(reversed(cuts), here[::-1]):
        if not ok:
            continue
        db.execute("DELETE FROM pieces WHERE segment_id=?", (piece,))
        db.execute("DELETE FROM assignments WHERE segment_id=?", (piece,))
        db.execute("DELETE FROM segments WHERE id=?", (piece,))
        db.execute("UPDATE segments SET end=? WHERE id=?", (end, parent))
        _delete(project, int(project.positions([piece])[0]))
        project.seg_end[int(project.positions([parent])[0])] = end
        parents.append(parent)
    return (project.positions(parents) if parents else np.zeros(0, np.int64)), at[here]


def _arrays(project: Project) -> list[str]:
    return ["segment_ids", "seg_recording", "seg_start", "seg_end", *COLUMNS]


def _insert(project: Project, at: int, values: dict):
    for name in _arrays(project):
        old = getattr(project, name)
        setattr(project, name, np.insert(old, at, np.asarray(values[name], dtype=old.dtype)))


def _delete(project: Project, at: int):
    for name in _arrays(project):
        setattr(project, name, np.delete(getattr(project, name), at))


def analysed_positions(pos: np.ndarray, project: Project, piece_ids: set[int]) -> np.ndarray:
    """Of a recording's segment positions `pos` (id order), those with a row in its analysis
    caches: all but its pieces."""
    if piece_ids:
        pos = pos[~np.isin(project.segment_ids[pos], list(piece_ids))]
    return pos


def fill_pieces(project: Project, matrix: np.ndarray, piece_of: dict[int, int]) -> np.ndarray:
    """Rows of pieces from their parents' (parents first: a parent may be a piece itself)."""
    for piece in sorted(piece_of):
        a, b = project.positions([piece, piece_of[piece]])
        matrix[a] = matrix[b]
    return matrix


def follow_layout(project: Project, cuts: list, removed_at: np.ndarray | None = None):
    """Keep the stored 2-D layout one row per segment: a piece is drawn where its parent is;
    an undone cut's row goes (removed_at: the pieces' positions before they were removed).
    A layout already out of step with the segments is left alone (the app then shows PCA)."""
    layout = project.load_array("layout")
    if layout is None or not cuts:
        return
    key = project.array_key("layout")
    if removed_at is not None:
        if len(layout) == project.n_segments + len(removed_at):
            project.save_array("layout", key, np.delete(layout, removed_at, axis=0))
        return
    at = project.positions([piece for _, piece, _, _ in cuts])
    if len(layout) != project.n_segments - len(at):
        return
    keep = np.ones(project.n_segments, bool)
    keep[at] = False
    grown = np.zeros((project.n_segments, layout.shape[1]), layout.dtype)
    grown[keep] = layout
    for (parent, _, _, _), i in zip(cuts, at):
        grown[i] = grown[project.positions([parent])[0]]
    project.save_array("layout", key, grown)
