"""Embeddings for the turns edited on the timeline: both parts of a cut turn, a turn whose
edges moved.

The analysis embedded each segment once, for the span it had then. After a cut the piece has
its parent's row (project/turn_cuts.py) and a moved edge keeps the old row, so the words a
reviewer cut off and gave to someone else still "sound like" the turn they came from (the
review queue then proposed merging them back, at cosine 0.99), and the learning loop would
learn them as their old speaker. `embed_edited` embeds the current span of every turn that a
done edit cut or resized, with the project's backend, and stores the rows beside the analysis
caches (cache.save_edited). The assembled matrix uses a stored row only while its turn still
has that span, so undo and redo need nothing here. `place_pieces` then puts the pieces'
points on the map near the segments they now sound like.
"""
from __future__ import annotations

import json
from typing import Callable

import numpy as np

from speakerid_gui.core.project import diffs
from speakerid_gui.core.project.cache import load_edited, save_edited
from speakerid_gui.core.project.turn_cuts import pieces
from speakerid_gui.core.project.store import COLUMNS, Project

DTYPES = {name: np.dtype(dtype) for name, dtype in COLUMNS.items()}


def edited_positions(project: Project) -> np.ndarray:
    """Array positions of the turns that done cut or bounds edits changed (ascending)."""
    ids: set[int] = set()
    for kind, forward in project.db.execute("SELECT kind, forward FROM edits WHERE state='done' "
                                            "AND kind IN ('cut', 'bounds')"):
        if kind == "bounds":
            ids |= {int(row[0]) for row in json.loads(forward)["bounds"]}
        else:
            ids |= {int(i) for cut in diffs.decode(forward, DTYPES).cuts for i in cut[:2]}
    if not ids or not project.n_segments:
        return np.zeros(0, np.int64)
    wanted = np.array(sorted(ids), np.int64)
    at = project.positions(wanted)
    ok = (at >= 0) & (at < project.n_segments)
    ok[ok] = project.segment_ids[at[ok]] == wanted[ok]
    return at[ok]


def stale_positions(project: Project, spec: str, clean: str | None) -> np.ndarray:
    """The edited turns with no stored embedding for the span they have now."""
    at = edited_positions(project)
    stored = load_edited(project, spec, clean)
    if stored is None or not len(at):
        return at
    have = {(int(i), round(float(a), 3), round(float(b), 3)) for i, a, b in zip(stored["id"], stored["start"], stored["end"])}
    return np.array([i for i in at if (int(project.segment_ids[i]), round(float(project.seg_start[i]), 3),
                                       round(float(project.seg_end[i]), 3)) not in have], np.int64)


def embed_edited(project: Project, spec: str, clean: str | None, options: Callable[[str], dict],
                 cancel: Callable[[], bool] = lambda: False) -> int:
    """Embed every stale edited turn with backend `spec` (each part of a combined one; a
    backend trained per project is left to its own training). options(spec): the backend's
    options. Returns the number of turns embedded; a file that cannot be read is said in the
    RuntimeError, after the turns of the other files are stored."""
    from speakerid_gui.core.audio.decode import read_span
    from speakerid_gui.core.embed import embed_segments, get_backend, needs, parts

    done, failed = 0, []
    for part in parts(spec) or [spec]:
        if needs(part).project:
            continue
        todo = stale_positions(project, part, clean)
        if not len(todo) or cancel():
            continue
        backend = get_backend(part, **options(part))
        rows, kept = [], []
        for i in todo:
            path = project.recording_path(int(project.seg_recording[i]))
            try:
                wave = read_span(path, float(project.seg_start[i]), float(project.seg_end[i]))
            except Exception as exc:  # noqa: BLE001  the turn keeps the row it had
                failed.append(f"{path}: {exc}")
                continue
            rows.append(embed_segments(backend, [wave], [[(0.0, len(wave) / 16000)]], clean)[0])
            kept.append(int(i))
        if kept:
            save_edited(project, part, clean, kept, np.vstack(rows))
            done += len(kept)
    if failed:
        raise RuntimeError("edited turns not embedded again: " + "; ".join(sorted(set(failed))))
    return done


def place_pieces(project: Project, X: np.ndarray) -> int:
    """Move the stored layout's points of the pieces (they start where their parent is) to
    where their embeddings put them among the other segments (layout.place); the analysed
    segments' points stay, so an undone cut leaves the map as it was. Returns how many moved."""
    from speakerid_gui.core.layout import place

    layout = project.load_array("layout")
    ids = np.array(sorted(pieces(project)), np.int64)
    if layout is None or len(layout) != project.n_segments or len(X) != project.n_segments or not len(ids):
        return 0
    at = project.positions(ids)
    ok = (at >= 0) & (at < project.n_segments)
    ok[ok] = project.segment_ids[at[ok]] == ids[ok]
    at = at[ok]
    moved = np.array(layout, copy=True)
    moved[at] = place(X, layout, at)
    project.save_array("layout", project.array_key("layout"), moved)
    return len(at)
