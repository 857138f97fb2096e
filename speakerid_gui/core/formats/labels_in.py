"""Start a project from someone else's labels (RTTM, CSV in the export's columns, TextGrid /
EAF / WebVTT files) instead of from speech detection and clustering.

Each labelled turn becomes segments that tile it exactly (pieces of at most one window), and
each speaker a named cluster, so the reviewer corrects the labels in the app and the RTTM
export right after the import gives back the same turns. The turns are kept in the project
(meta "labels"), so a re-run or a re-opened project never needs the labels file again.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from speakerid_gui.core.formats.common import CSV_HEADER, LabelRow, Reference, Turn, read_rttm, rows_to_turns

TIER_SUFFIXES = (".textgrid", ".eaf", ".vtt")
MIN_PIECE = 0.03  # seconds: shorter turns (or what of a turn lies inside the file) hold too little to embed


def read_labels(path) -> dict[str, list[Turn]]:
    """Turns per recording key from an RTTM, a CSV (the export's columns), or a TextGrid / EAF /
    WebVTT file or folder of them. ValueError naming the file when it is none of these."""
    from speakerid_gui.core.formats.tiers import read_tier_files

    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: labels file not found")
    suffix = path.suffix.lower()
    try:
        if path.is_dir() or suffix in TIER_SUFFIXES:
            turns = read_tier_files(path)
        elif suffix == ".rttm":
            turns = read_rttm(path)
        elif suffix == ".csv":
            turns = read_label_csv(path)
        else:
            raise ValueError(f"{path}: unknown labels format {suffix or '(no extension)'!r} "
                             "(expected .rttm, .csv, .TextGrid, .eaf, .vtt or a folder of them)")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (expected UTF-8)") from None
    turns = {k: v for k, v in turns.items() if v}
    if not turns:
        raise ValueError(f"{path}: no speaker turns found")
    return turns


def read_label_csv(path) -> dict[str, list[Turn]]:
    """Rows as the CSV export writes them (recording, start, end, speaker at least), made into
    turns the way every export makes them (overlapping windows cut at their midpoints)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        fields = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in ("recording", "start", "end", "speaker") if c not in fields]
        if missing:
            raise ValueError(f"{path}: not a labels CSV (missing column(s) {', '.join(missing)}; "
                             f"expected {','.join(CSV_HEADER)})")
        reader.fieldnames = fields
        rows = []
        for number, r in enumerate(reader, 2):
            try:
                start, end = float(r["start"]), float(r["end"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{number}: start/end are not numbers") from None
            speaker = (r["speaker"] or "").strip()
            noise = speaker == "noise" or (r.get("cluster") or "").strip() == "-1"
            rows.append(LabelRow(r["recording"].strip(), start, end, -1 if noise else 0, speaker, 1.0, False, noise))
    return rows_to_turns(rows)


def store_labels(project, path) -> str:
    """Read a labels file into the project; returns its key (a hash of the turns)."""
    turns = read_labels(path)
    data = {k: [[float(s), float(e), str(spk)] for s, e, spk in v] for k, v in sorted(turns.items())}
    key = hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
    with project.transaction():
        project.set_meta("labels", {"source": str(path), "key": key, "turns": data})
    return key


class ImportedLabels:
    """The labels stored in a project, matched to its recordings by name (as references are)."""

    def __init__(self, project, window: float):
        meta = project.get_meta("labels")
        if not meta:
            raise ValueError(f"{project.folder}: no imported labels in this project")
        self.source = meta["source"]
        self.window = window
        self.reference = Reference(turns={k: [tuple(t) for t in v] for k, v in meta["turns"].items()},
                                   source=self.source)

    def spans_for(self, recording: str, duration: float | None = None) -> list[Turn]:
        """Segments tiling each labelled turn of a recording (equal pieces of at most one window);
        with the recording's duration, what lies past its end is left out (labels of a longer file)."""
        key = self.reference.key_for(recording)
        if key is None:
            return []
        spans = tile_turns(self.reference.turns[key], self.window)
        if duration is not None:
            spans = [(s, min(e, duration), spk) for s, e, spk in spans if min(e, duration) - s >= MIN_PIECE]
        return spans

    def segment_speakers(self, project) -> np.ndarray:
        """The imported speaker of every segment of the project (segment order)."""
        recs = {r.id: r for r in project.recordings()}
        names = np.empty(project.n_segments, dtype=object)
        for rid in np.unique(project.seg_recording):
            where = np.flatnonzero(project.seg_recording == rid)
            rec = recs[int(rid)]
            spans = self.spans_for(rec.path, rec.duration)
            if len(spans) != len(where):
                raise RuntimeError(f"{rec.path}: segments out of step with the imported labels; "
                                   "run the same command again")
            names[where] = [spk for _, _, spk in spans]
        return names


def tile_turns(turns: list[Turn], window: float) -> list[Turn]:
    out = []
    for start, end, speaker in sorted(turns):
        if end - start < MIN_PIECE:
            continue
        pieces = max(1, math.ceil((end - start) / window - 1e-9))
        step = (end - start) / pieces
        edges = [start + k * step for k in range(pieces)] + [end]
        out.extend((a, b, speaker) for a, b in zip(edges[:-1], edges[1:]))
    return out
