"""Label formats: write results (CSV, JSON, RTTM, Audacity; TextGrid, EAF, WebVTT in formats.tiers)
and read references (manifest, RTTM, UEM)."""
from __future__ import annotations

import csv
import json
import os
import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, TextIO

CSV_HEADER = ["recording", "start", "end", "cluster", "speaker", "confidence", "verified"]
FORMATS = ("csv", "json", "rttm", "audacity", "textgrid", "eaf", "vtt")
FOLDER_FORMATS = ("audacity", "textgrid", "eaf", "vtt")  # one file per recording, in a folder
_EPS = 1e-9  # float slack when comparing times


@dataclass
class LabelRow:
    recording: str      # path relative to the input folder, e.g. "1688/1688-142285-0000.flac"
    start: float        # seconds
    end: float
    cluster: int        # cluster id (-1 = noise / none)
    speaker: str        # cluster name, or str(cluster id) if unnamed; "noise" for noise
    confidence: float
    verified: bool
    noise: bool = False


Turn = tuple[float, float, str]


# ---------------------------------------------------------------- turns

def _is_noise(row: LabelRow) -> bool:
    # cluster -1 has no speaker to report even when the noise flag was not set
    return row.noise or row.cluster == -1


def _owned_spans(rows: list[LabelRow]) -> list[tuple[float, float, LabelRow]]:
    """Cut overlapping windows of one recording into non-overlapping spans.

    Each window owns the time from the middle of its overlap with the previous
    window to the middle of its overlap with the next one. Noise windows take
    part too, so the time they cover is not handed to a neighbouring speaker.
    """
    rows = sorted(rows, key=lambda r: (r.start, r.end))
    spans = []
    prev_right = float("-inf")
    for i, row in enumerate(rows):
        left, right = row.start, row.end
        if i > 0 and rows[i - 1].end > row.start:
            left = (row.start + min(rows[i - 1].end, row.end)) / 2
        if i + 1 < len(rows) and rows[i + 1].start < row.end:
            right = (rows[i + 1].start + min(row.end, rows[i + 1].end)) / 2
        left = max(left, prev_right)  # irregular windows (one inside another) must not overlap either
        if right - left > _EPS:
            spans.append((left, right, row))
            prev_right = right
    return spans


def _by_recording(rows: Iterable[LabelRow]) -> dict[str, list[LabelRow]]:
    groups: dict[str, list[LabelRow]] = defaultdict(list)
    for row in rows:
        groups[row.recording].append(row)
    return dict(sorted(groups.items()))


def rows_to_turns(rows: Iterable[LabelRow], min_gap: float = 0.0, overlapping: bool = False) -> dict[str, list[Turn]]:
    """Speaker turns per recording (noise dropped, same-speaker neighbours merged).

    Windows (the default) overlap only because of their hop, so they are cut into
    non-overlapping spans; rows that are speaker turns (`overlapping`, conversation mode) keep
    their times, and turns of different speakers may overlap."""
    if overlapping:
        return _speaker_unions(rows, min_gap)
    turns: dict[str, list[Turn]] = {}
    for recording, group in _by_recording(rows).items():
        merged: list[list] = []
        for start, end, row in _owned_spans(group):
            if _is_noise(row):
                continue
            if merged and merged[-1][2] == row.speaker and start - merged[-1][1] <= min_gap + _EPS:
                merged[-1][1] = end
            else:
                merged.append([start, end, row.speaker])
        turns[recording] = [(s, e, spk) for s, e, spk in merged]
    return turns


def _speaker_unions(rows: Iterable[LabelRow], min_gap: float) -> dict[str, list[Turn]]:
    turns: dict[str, list[Turn]] = {}
    for recording, group in _by_recording(rows).items():
        by_speaker: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for row in group:
            if not _is_noise(row):
                by_speaker[row.speaker].append((row.start, row.end))
        out = []
        for speaker, spans in by_speaker.items():
            merged: list[list[float]] = []
            for start, end in sorted(spans):
                if merged and start - merged[-1][1] <= min_gap + _EPS:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            out += [(a, b, speaker) for a, b in merged]
        turns[recording] = sorted(out)
    return turns


# ---------------------------------------------------------------- writers

def _open_for_writing(path: str | os.PathLike) -> TextIO:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf-8", newline="")


def write_csv(rows: Iterable[LabelRow], path: str | os.PathLike) -> None:
    rows = sorted(rows, key=lambda r: (r.recording, r.start, r.end))
    with _open_for_writing(path) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for r in rows:
            writer.writerow([r.recording, f"{r.start:.3f}", f"{r.end:.3f}", int(r.cluster), r.speaker,
                             f"{r.confidence:.4f}", 1 if r.verified else 0])


def write_json(rows: Iterable[LabelRow], path: str | os.PathLike, overlapping: bool = False) -> None:
    """Segments plus a per-speaker summary; seconds come from the non-overlapping spans,
    since summing overlapping windows would count most audio twice (conversation turns,
    `overlapping`: from each speaker's own turns, which may overlap another speaker's)."""
    rows = sorted(rows, key=lambda r: (r.recording, r.start, r.end))
    speakers: dict[str, dict] = {}
    for r in rows:
        speakers.setdefault(r.speaker, {"segments": 0, "seconds": 0.0})["segments"] += 1
    if overlapping:
        spans = [(a, b, spk) for turns in _speaker_unions(rows, 0.0).values() for a, b, spk in turns]
    else:
        spans = [(a, b, row.speaker) for group in _by_recording(rows).values() for a, b, row in _owned_spans(group)]
    for start, end, speaker in spans:
        speakers[speaker]["seconds"] += end - start
    for info in speakers.values():
        info["seconds"] = round(info["seconds"], 3)
    segments = [_row_dict(r) for r in rows]
    with _open_for_writing(path) as f:
        json.dump({"segments": segments, "speakers": dict(sorted(speakers.items()))}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")


def _row_dict(r: LabelRow) -> dict:
    d = asdict(r)
    d.update(start=round(float(r.start), 3), end=round(float(r.end), 3), cluster=int(r.cluster),
             confidence=round(float(r.confidence), 4), verified=bool(r.verified), noise=bool(r.noise))
    return d


def _posix(recording: str) -> PurePosixPath:
    return PurePosixPath(recording.replace("\\", "/"))


def _no_ext(recording: str) -> str:
    p = _posix(recording)
    return str(p.with_suffix("")) if p.suffix else str(p)


def _token(text: str) -> str:
    # RTTM fields are whitespace-separated
    return re.sub(r"\s+", "_", text.strip()) or "unknown"


def rttm_file_ids(recordings: Iterable[str]) -> dict[str, str]:
    """recording -> RTTM file-id: the stem when stems are unique, else the path with "/" -> "__"."""
    recordings = sorted(set(recordings))
    stems = [_posix(r).stem for r in recordings]
    if len(set(stems)) == len(stems):
        return {r: _token(s) for r, s in zip(recordings, stems)}
    return {r: _token(_no_ext(r).replace("/", "__")) for r in recordings}


def write_rttm(rows: Iterable[LabelRow], path_or_textio: str | os.PathLike | TextIO, overlapping: bool = False) -> None:
    rows = list(rows)
    ids = rttm_file_ids(r.recording for r in rows)
    lines = []
    for recording, turns in rows_to_turns(rows, overlapping=overlapping).items():
        for start, end, speaker in turns:
            lines.append(f"SPEAKER {ids[recording]} 1 {start:.3f} {end - start:.3f} <NA> <NA> "
                         f"{_token(speaker)} <NA> <NA>\n")
    if hasattr(path_or_textio, "write"):
        path_or_textio.writelines(lines)
    else:
        with _open_for_writing(path_or_textio) as f:
            f.writelines(lines)


def _safe_relative(recording: str) -> PurePosixPath:
    # keep label files inside out_dir even for odd paths ("/abs", "../x", "C:\\x")
    parts = [p for p in _posix(recording).parts if p not in ("", "/", ".", "..") and not p.endswith(":")]
    return PurePosixPath(*parts) if parts else PurePosixPath("recording")


def write_audacity(rows: Iterable[LabelRow], out_dir: str | os.PathLike, overlapping: bool = False) -> list[Path]:
    """One label file per recording (empty when it holds only noise), mirroring the input folders."""
    written = []
    for recording, turns in rows_to_turns(rows, overlapping=overlapping).items():
        rel = _safe_relative(recording)
        path = Path(out_dir) / rel.parent / (rel.stem + ".txt")
        with _open_for_writing(path) as f:
            for start, end, speaker in turns:
                f.write(f"{start:.6f}\t{end:.6f}\t{speaker}\n")
        written.append(path)
    return written


# ---------------------------------------------------------------- readers

def read_manifest(path: str | os.PathLike) -> dict[str, str]:
    """CSV with at least `path,speaker`; "A;B" (several speakers in one file) is kept as is."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        fields = [h.strip() for h in (reader.fieldnames or [])]
        if "path" not in fields or "speaker" not in fields:
            raise ValueError(f"{path}: not a manifest (needs a header with 'path' and 'speaker' columns, "
                             f"found {fields or 'none'})")
        reader.fieldnames = fields
        manifest = {}
        for row in reader:
            rec, spk = (row.get("path") or "").strip(), (row.get("speaker") or "").strip()
            if rec and spk:
                manifest[rec.replace("\\", "/")] = spk
    return manifest


def _data_lines(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if line and not line.startswith(("#", ";;")):
                yield number, line.split()


def read_rttm(path: str | os.PathLike) -> dict[str, list[Turn]]:
    turns: dict[str, list[Turn]] = defaultdict(list)
    for number, fields in _data_lines(path):
        if fields[0] != "SPEAKER":
            continue  # other RTTM record types carry no speaker turns
        try:
            start, dur, speaker = float(fields[3]), float(fields[4]), fields[7]
        except (IndexError, ValueError):
            raise ValueError(f"{path}:{number}: not an RTTM SPEAKER line") from None
        turns[fields[1]].append((start, start + dur, speaker))
    return {k: sorted(v) for k, v in sorted(turns.items())}


def read_uem(path: str | os.PathLike) -> dict[str, list[tuple[float, float]]]:
    regions: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for number, fields in _data_lines(path):
        try:
            regions[fields[0]].append((float(fields[2]), float(fields[3])))
        except (IndexError, ValueError):
            raise ValueError(f"{path}:{number}: not a UEM line (file-id channel start end)") from None
    return {k: sorted(v) for k, v in sorted(regions.items())}


# ---------------------------------------------------------------- reference

# Ways to name a recording, tried in order when matching it to reference keys.
_KEY_FORMS = (
    lambda r: r.replace("\\", "/"),
    _no_ext,
    lambda r: _posix(r).stem,
    lambda r: _token(_no_ext(r).replace("/", "__")),
)


class Reference:
    """True speakers per recording, from a manifest (whole files) or an RTTM (timed turns)."""

    def __init__(self, manifest: dict[str, str] | None = None, turns: dict[str, list[Turn]] | None = None,
                 source: str = ""):
        if (manifest is None) == (turns is None):
            raise ValueError("give exactly one of manifest or turns")
        self.kind = "manifest" if manifest is not None else "rttm"
        self.source = source
        self.manifest = manifest
        self.turns = turns
        self._data = manifest if manifest is not None else turns
        self._index = self._build_index()
        self._resolved: dict[str, str | None] = {}
        self._arrays: dict[str, tuple] = {}

    def _build_index(self) -> list[dict[str, set[str]]]:
        # each key is reachable both as itself and as its own form at every level
        index = []
        for form in _KEY_FORMS:
            level: dict[str, set[str]] = defaultdict(set)
            for key in self._data:
                level[key].add(key)
                level[form(key)].add(key)
            index.append(level)
        return index

    def recording_keys(self) -> list[str]:
        return sorted(self._data)

    def key_for(self, recording: str) -> str | None:
        """The reference key naming this recording, or None (no match or ambiguous)."""
        if recording not in self._resolved:
            self._resolved[recording] = self._match(recording)
        return self._resolved[recording]

    def _match(self, recording: str) -> str | None:
        for form, level in zip(_KEY_FORMS, self._index):
            name = form(recording)
            if name in self._data:
                return name
            found = level.get(name, set())
            if len(found) == 1:
                return next(iter(found))
        return None

    def speakers_of(self, recording: str) -> set[str]:
        key = self.key_for(recording)
        if key is None:
            return set()
        if self.kind == "manifest":
            return {s.strip() for s in self.manifest[key].split(";") if s.strip()}
        return {spk for _, _, spk in self.turns[key]}

    def label_for(self, recording: str, start: float, end: float) -> str | None:
        """The true speaker of a segment, or None when unknown, overlapped or mostly silence."""
        key = self.key_for(recording)
        if key is None:
            return None
        if self.kind == "manifest":
            value = self.manifest[key]
            return None if ";" in value else value
        return self._dominant_speaker(key, start, end)

    def _dominant_speaker(self, key: str, start: float, end: float) -> str | None:
        import numpy as np

        if end - start <= 0:
            return None
        if key not in self._arrays:
            self._arrays[key] = _turn_arrays(self.turns[key])
        starts, ends, codes, names = self._arrays[key]
        if not len(names):
            return None
        overlap = np.clip(np.minimum(ends, end) - np.maximum(starts, start), 0.0, None)
        per_speaker = np.bincount(codes, weights=overlap, minlength=len(names))
        best = int(np.argmax(per_speaker))
        return names[best] if per_speaker[best] >= 0.5 * (end - start) - _EPS else None


def _turn_arrays(turns: list[Turn]):
    """Per-speaker merged turns as arrays, so a speaker's overlapping RTTM lines count once."""
    import numpy as np

    names = sorted({spk for _, _, spk in turns})
    starts, ends, codes = [], [], []
    for code, name in enumerate(names):
        for s, e in _merge_intervals([(s, e) for s, e, spk in turns if spk == name]):
            starts.append(s)
            ends.append(e)
            codes.append(code)
    return np.array(starts, float), np.array(ends, float), np.array(codes, int), names


def _merge_intervals(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def load_reference(path: str | os.PathLike) -> Reference:
    """A manifest (.csv) or an RTTM (.rttm) as a Reference; ValueError naming the file otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ValueError(f"{path}: reference file not found")
    if suffix not in (".rttm", ".csv"):
        raise ValueError(f"{path}: unknown reference format {suffix or '(no extension)'!r} "
                         "(expected a .csv manifest or an .rttm file)")
    try:
        data = read_rttm(path) if suffix == ".rttm" else read_manifest(path)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (expected UTF-8)") from None
    if not data:
        raise ValueError(f"{path}: no reference rows found")
    if suffix == ".rttm":
        return Reference(turns=data, source=str(path))
    return Reference(manifest=data, source=str(path))


__all__ = [
    "LabelRow", "FORMATS", "rows_to_turns", "rttm_file_ids", "write_csv", "write_json", "write_rttm",
    "write_audacity", "read_manifest", "read_rttm", "read_uem", "Reference", "load_reference",
]
