"""The project's analysis caches: per-recording embedding and prosody files, assembled matrices.

Layout inside the project folder (store.Project.cache_dir and save_array):
- cache/emb-BACKEND/RID-SEGKEY[-CLEAN].npy: one recording's embeddings, one row per segment;
- cache/prosody/RID.npz: one recording's pitch and energy curves (PROSODY_STEP grid);
- arrays/embeddings-BACKEND-KEY.npy: the corpus matrix in segment order, assembled from the
  per-recording files and keyed by the segments, so clustering never re-reads them all.

Everything here is below the embedding backends (a backend that trains on the project, such
as the prosody RNN, writes its embeddings where any backend's are read), so nothing here may
import embed, pipeline or anything above them.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from speakerid_gui.core.project.store import Project, settings_hash
from speakerid_gui.core.project.turn_cuts import analysed_positions, fill_pieces, pieces

PROSODY_STEP = 0.02  # 20 ms curves are plenty for the panels, and Praat's cost is per frame


def spec_slug(spec: str) -> str:
    """A file-name-safe name for a backend spec: the spec itself when it is a plain name
    (`campp`), else the backend name and a hash of the spec (`whisper-3f2a9c1d0b`)."""
    if re.fullmatch(r"[A-Za-z0-9_.-]+", spec):
        return spec
    name = spec.strip().partition(":")[0].strip()
    return f"{name}-{hashlib.sha1(spec.encode()).hexdigest()[:10]}"


# ---- embeddings ------------------------------------------------------------------------------
def embedding_file(project: Project, backend: str, seg_key: str, clean: str | None, rid: int) -> Path:
    """A recording's embedding cache. Cleaning is part of its name, not of the segment key, so
    another cleaning re-embeds the same segments. A backend spec with options gets a safe name."""
    suffix = "" if clean in (None, "none") else f"-{clean}"
    return project.cache_dir(f"emb-{spec_slug(backend)}") / f"{rid}-{seg_key}{suffix}.npy"


def array_name(backend: str) -> str:
    """The name of a backend's assembled corpus matrix among the project's arrays."""
    return f"embeddings-{spec_slug(backend)}"


def save_recording_embeddings(project: Project, backend: str, seg_key: str, clean: str | None, rid: int,
                              emb: np.ndarray):
    path = embedding_file(project, backend, seg_key, clean, rid)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, emb)
    os.replace(tmp, path)  # atomic: a kill never leaves half a file


def backend_matrix(project: Project, backend: str, seg_key: str, clean: str | None = None,
                   tag=None) -> np.ndarray:
    """(n_segments, dim) embeddings of one backend in segment order, assembled from the
    per-recording files and cached as an array (a piece of a cut turn without a row of its own
    gets its parent's: turn_cuts.py). tag: anything else the numbers depend on
    (a per-project model's training time), so a retrained model is never shadowed."""
    clean = clean or "none"
    piece_of = pieces(project)
    key = settings_hash(backend, seg_key, project.segment_ids[:1].tolist(), project.segment_ids[-1:].tolist(),
                        project.n_segments, *([clean] if clean != "none" else []),
                        *([tag] if tag is not None else []), *([sorted(piece_of.items())] if piece_of else []))
    edited = load_edited(project, backend, clean)
    if edited is not None:  # the numbers depend on which edited turns still have their embedded span
        key = settings_hash(key, str(edited_file(project, backend, clean).stat().st_mtime_ns),
                            np.nan_to_num(_current_spans(project, edited), nan=-1.0).tolist())
    cached = project.load_array(array_name(backend), key)
    if cached is not None:
        return cached
    matrix, missing = None, {}
    order = np.argsort(project.seg_recording, kind="stable")  # positions by recording, in id order
    rids, first, counts = np.unique(project.seg_recording[order], return_index=True, return_counts=True)
    for rid, f, c in zip(rids, first, counts):
        rows = np.load(embedding_file(project, backend, seg_key, clean, rid))
        pos = order[f:f + c]
        if len(rows) != len(pos):  # the usual case after a cut: the file has no rows for its pieces
            pos = analysed_positions(pos, project, set(piece_of))
            missing.update({p: q for p, q in piece_of.items() if project.seg_recording[project.positions([p])[0]] == rid})
        if len(rows) != len(pos):
            raise RuntimeError("embedding cache out of step with segments: run the pipeline again")
        if matrix is None:
            matrix = np.zeros((project.n_segments, rows.shape[1]), np.float32)
        matrix[pos] = rows
    if matrix is None:
        return np.zeros((0, 1), np.float32)
    fill_pieces(project, matrix, missing)
    if edited is not None:
        at, rows = _matching(project, edited)
        matrix[at] = rows
    project.save_array(array_name(backend), key, matrix)
    return matrix


# ---- turns edited on the timeline (cut, or an edge moved): embedded again for their new span ----
def edited_file(project: Project, backend: str, clean: str | None) -> Path:
    suffix = "" if clean in (None, "none") else f"-{clean}"
    return project.cache_dir(f"emb-{spec_slug(backend)}") / f"edited{suffix}.npz"


def load_edited(project: Project, backend: str, clean: str | None) -> dict | None:
    """{"id", "recording", "start", "end", "rows"} of the turns embedded after an edit (None before
    the first)."""
    path = edited_file(project, backend, clean)
    if not path.exists():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in ("id", "recording", "start", "end", "rows")}


def save_edited(project: Project, backend: str, clean: str | None, positions, rows: np.ndarray):
    """Add embeddings of turns (array positions: their ids and spans now); earlier spans of a
    turn are kept, so undoing and redoing an edit never embeds the same span twice."""
    old = load_edited(project, backend, clean)
    at = np.asarray(positions, np.int64)
    new = {"id": project.segment_ids[at], "recording": project.seg_recording[at], "start": project.seg_start[at],
           "end": project.seg_end[at], "rows": np.asarray(rows, np.float32)}
    if old is not None and len(old["rows"]) and old["rows"].shape[1] == new["rows"].shape[1]:
        new = {k: np.concatenate([old[k], new[k]]) for k in new}
    path = edited_file(project, backend, clean)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **new)
    os.replace(tmp, path)  # atomic: a kill never leaves half a file


def _current_spans(project: Project, edited: dict) -> np.ndarray:
    """(start, end) now of the edited turns that still exist (NaN for the ones that do not)."""
    at = project.positions(edited["id"]) if len(edited["id"]) and project.n_segments else np.zeros(0, np.int64)
    ok = (at >= 0) & (at < project.n_segments)
    ok[ok] = project.segment_ids[at[ok]] == edited["id"][ok]
    ok[ok] = project.seg_recording[at[ok]] == edited["recording"][ok]
    spans = np.full((len(at), 2), np.nan)
    spans[ok] = np.column_stack([project.seg_start[at[ok]], project.seg_end[at[ok]]])
    return spans


def _matching(project: Project, edited: dict) -> tuple[np.ndarray, np.ndarray]:
    """(positions, rows) of the stored embeddings whose turn has that span now (to 1 ms)."""
    spans = _current_spans(project, edited)
    match = (np.abs(spans[:, 0] - edited["start"]) < 1e-3) & (np.abs(spans[:, 1] - edited["end"]) < 1e-3)
    return project.positions(edited["id"][match]), edited["rows"][match]


# ---- prosody ---------------------------------------------------------------------------------
def prosody_file(project: Project, rid: int) -> Path:
    return project.cache_dir("prosody") / f"{rid}.npz"


def save_prosody(project: Project, rid: int, wave: np.ndarray, spans):
    """Compute and store a recording's pitch and energy curves (only inside `spans`)."""
    from speakerid_gui.core.audio.prosody import recording_prosody

    p = recording_prosody(wave, step=PROSODY_STEP, spans=spans)
    tmp = prosody_file(project, rid).with_suffix(".tmp.npz")
    np.savez(tmp, times=p.times, pitch=p.pitch, energy=p.energy)
    os.replace(tmp, prosody_file(project, rid))


def load_prosody(project: Project, recording_id: int):
    """The stored pitch/energy curves of a whole recording (or None)."""
    from speakerid_gui.core.audio.prosody import Prosody

    path = prosody_file(project, recording_id)
    if not path.exists():
        return None
    with np.load(path) as z:
        return Prosody(times=z["times"], pitch=z["pitch"], energy=z["energy"])


def decode_notes(project: Project) -> dict[str, str]:
    """Recordings analysed only in part, by path: what decoding said of each (a cut-short or
    never-closed file; `speakerid info` and the recording list show it)."""
    return project.get_meta("decode_notes", {}) or {}


def remember_decode_notes(project: Project, rel: str, notes: list[str]) -> list[str]:
    """Keep what decoding said of a recording, or forget it once the file decodes whole; notes back."""
    kept, text = decode_notes(project), "; ".join(notes)
    if kept.get(rel, "") != text:
        if text:
            kept[rel] = text
        else:
            kept.pop(rel)
        project.set_meta("decode_notes", kept)
    return notes
