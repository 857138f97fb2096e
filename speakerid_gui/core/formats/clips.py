"""Per-speaker audio clips for building data sets: one folder per speaker, one file per merged
turn (or per segment), and metadata.csv (file,speaker,recording,start,end,confidence,verified).

A clip holds exactly the source samples of its span: read at the file's own rate, channels
and sample format (16-bit stays 16-bit), never re-encoded unless asked (16 kHz, mono).
"""
from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable


from speakerid_gui.core.formats.common import LabelRow, _by_recording, _is_noise, _owned_spans

METADATA_HEADER = ["file", "speaker", "recording", "start", "end", "confidence", "verified"]
# source subtypes a WAV can hold sample for sample, and the numpy type that reads them exactly
EXACT = {"PCM_16": "int16", "PCM_24": "int32", "PCM_32": "int32", "FLOAT": "float32", "DOUBLE": "float64"}


@dataclass
class ClipOptions:
    unit: str = "turn"                # turn: same-speaker neighbours merged (as RTTM); segment: each window
    sample_rate: int | None = None    # None: the source's rate; else resampled (e.g. 16000)
    mono: bool = False                # mix channels down
    min_length: float = 0.0           # seconds; shorter clips are left out
    max_length: float | None = None   # seconds; longer turns are cut into equal pieces
    padding: float = 0.0              # seconds of context added each side (within the file)
    verified_only: bool = False
    min_confidence: float = 0.0
    overlapping: bool = False         # the rows are speaker turns that may overlap (conversation mode)


@dataclass
class Clip:
    recording: str
    start: float
    end: float
    speaker: str
    confidence: float
    verified: bool
    file: str = ""


@dataclass
class ClipReport:
    clips: list[Clip] = field(default_factory=list)
    seconds: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (recording, reason)
    removed: int = 0  # clips of the export before into this folder that this one no longer holds


def plan_clips(rows: Iterable[LabelRow], options: ClipOptions) -> list[Clip]:
    """The spans to cut (before padding), after the verified / confidence filters."""
    rows = list(rows)
    if options.unit not in ("turn", "segment"):
        raise ValueError(f"unknown clip unit {options.unit!r} (turn or segment)")
    keep = [not _is_noise(r) and (r.verified or not options.verified_only) and r.confidence >= options.min_confidence
            for r in rows]
    if options.unit == "segment":
        clips = [Clip(r.recording, r.start, r.end, r.speaker, r.confidence, r.verified)
                 for r, k in zip(rows, keep) if k]
    else:
        # windows left out still own their time (as noise), so it is not handed to a neighbour
        marked = [r if k else replace(r, noise=True) for r, k in zip(rows, keep)]
        clips = []
        for group in _by_recording(marked).values():
            clips += _speaker_turns(group) if options.overlapping else _turns(group)
    out = []
    for c in sorted(clips, key=lambda c: (c.recording, c.start, c.end, c.speaker)):
        out += _cut(c, options.max_length)
    return [c for c in out if c.end - c.start >= options.min_length - 1e-9]


def _turns(group: list[LabelRow]) -> list[Clip]:
    turns: list[Clip] = []
    for start, end, row in _owned_spans(group):
        if _is_noise(row):
            turns.append(None)  # a gap: the next span of the same speaker starts a new turn
            continue
        last = turns[-1] if turns else None
        if last is not None and last.speaker == row.speaker and start - last.end <= 1e-9:
            last.end = end
            last.confidence = min(last.confidence, row.confidence)
            last.verified = last.verified and row.verified
        else:
            turns.append(Clip(row.recording, start, end, row.speaker, row.confidence, row.verified))
    return [t for t in turns if t is not None]


def _speaker_turns(group: list[LabelRow]) -> list[Clip]:
    """Conversation mode: each speaker's turns, touching or overlapping ones of one speaker
    merged, and overlaps with other speakers kept (the RTTM export's turns)."""
    turns: list[Clip] = []
    by_speaker: dict[str, list[LabelRow]] = {}
    for row in group:
        if not _is_noise(row):
            by_speaker.setdefault(row.speaker, []).append(row)
    for rows in by_speaker.values():
        last = None
        for row in sorted(rows, key=lambda r: (r.start, r.end)):
            if last is not None and row.start - last.end <= 1e-9:
                last.end = max(last.end, row.end)
                last.confidence = min(last.confidence, row.confidence)
                last.verified = last.verified and row.verified
            else:
                last = Clip(row.recording, row.start, row.end, row.speaker, row.confidence, row.verified)
                turns.append(last)
    return turns


def _cut(clip: Clip, max_length: float | None) -> list[Clip]:
    length = clip.end - clip.start
    if not max_length or length <= max_length:
        return [clip]
    pieces = math.ceil(length / max_length - 1e-9)
    edges = [clip.start + k * length / pieces for k in range(pieces)] + [clip.end]
    return [replace(clip, start=a, end=b) for a, b in zip(edges[:-1], edges[1:])]


def export_clips(rows: Iterable[LabelRow], audio_root, out_dir, options: ClipOptions | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] = lambda: False) -> ClipReport:
    """Write the clips and DIR/metadata.csv; a recording that cannot be read is reported and
    skipped, the rest is written."""
    import soundfile as sf

    options = options or ClipOptions()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    before = _listed_files(out_dir / "metadata.csv")  # raises for a metadata.csv that is not ours
    plan = plan_clips(rows, options)
    folders = _speaker_folders(c.speaker for c in plan)
    report = ClipReport()
    by_rec: dict[str, list[Clip]] = {}
    for c in plan:
        by_rec.setdefault(c.recording, []).append(c)
    done = 0
    for recording, clips in by_rec.items():
        if cancel():
            break
        path = Path(audio_root) / recording
        try:
            f = sf.SoundFile(str(path))
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:  # gone or not audio: the rest goes on
            reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            report.skipped.append((recording, reason))
        else:
            with f:  # a failing write (disk full, no permission) stops the export: it is no file's fault
                for clip in clips:
                    _write_clip(f, clip, out_dir, folders[clip.speaker], options)
                    report.clips.append(clip)
                    report.seconds += clip.end - clip.start
        done += len(clips)
        if progress:
            progress(done, len(plan))
    _write_metadata(out_dir / "metadata.csv", report.clips)
    if not cancel():
        report.removed = _remove_stale(out_dir, before - {c.file for c in report.clips})
    return report


def _listed_files(metadata: Path) -> set[str]:
    """The clips an earlier export into this folder wrote (its metadata.csv's `file` column).
    A metadata.csv with other columns is someone else's (a data set's own): it is neither
    overwritten nor read as a list of files to remove; the export refuses that folder."""
    if not metadata.exists():
        return set()
    try:
        with open(metadata, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header != METADATA_HEADER:
                raise ValueError(f"{metadata} was not written by a clip export (its columns are not "
                                 f"{','.join(METADATA_HEADER)}): export into another folder")
            return {row[0] for row in reader if row and row[0]}
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{metadata}: cannot read it ({exc}); export into another folder") from None


def _remove_stale(out_dir: Path, files: set[str]) -> int:
    """Delete clips of an earlier export that this one did not write (a renamed speaker's old
    folder would otherwise stay beside the new one, the same voice twice in the data set), and
    the speaker folders they leave empty. Only files that export listed, only inside out_dir."""
    root = out_dir.resolve()
    removed = 0
    for rel in sorted(files):
        path = (out_dir / rel).resolve()
        if root not in path.parents or not path.is_file():
            continue
        path.unlink()
        removed += 1
        parent = path.parent
        while parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return removed


def _write_clip(f, clip: Clip, out_dir: Path, folder: str, options: ClipOptions):
    import soundfile as sf

    sr = f.samplerate
    start = max(0.0, clip.start - options.padding)
    end = min(f.frames / sr, clip.end + options.padding)
    first, last = int(round(start * sr)), int(round(end * sr))
    mix = options.mono and f.channels > 1
    resample = bool(options.sample_rate) and options.sample_rate != sr
    f.seek(min(first, f.frames))
    if not (mix or resample):  # the source samples as they are
        data = f.read(max(0, last - first), dtype=EXACT.get(f.subtype, "float32"), always_2d=True)
        subtype, rate = (f.subtype if f.subtype in EXACT else "FLOAT"), sr  # mp3/ogg: kept as decoded
    else:
        data = f.read(max(0, last - first), dtype="float32", always_2d=True)
        if mix:
            data = data.mean(axis=1, keepdims=True)
        if resample:
            import soxr

            data = soxr.resample(data, sr, options.sample_rate, quality="HQ")
        subtype, rate = "FLOAT", options.sample_rate if resample else sr
    clip.start, clip.end = first / sr, last / sr  # the exact span written, padding included
    name = f"{_stem(clip.recording)}_{int(round(clip.start * 1000)):08d}-{int(round(clip.end * 1000)):08d}.wav"
    rel = Path(folder) / name
    (out_dir / folder).mkdir(exist_ok=True)
    sf.write(str(out_dir / rel), data, rate, subtype=subtype)
    clip.file = rel.as_posix()


def _stem(recording: str) -> str:
    no_ext = re.sub(r"\.[^./\\]+$", "", recording.replace("\\", "/"))
    return re.sub(r"[^\w.-]+", "_", no_ext.replace("/", "__")).strip("._") or "recording"


def _speaker_folders(speakers: Iterable[str]) -> dict[str, str]:
    """A safe, distinct folder name per speaker name."""
    folders: dict[str, str] = {}
    used: set[str] = set()
    for speaker in sorted(set(speakers)):
        base = re.sub(r"[^\w .-]+", "_", speaker).strip(" .") or "unknown"
        name, k = base, 2
        while name.lower() in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name.lower())
        folders[speaker] = name
    return folders


def _write_metadata(path: Path, clips: list[Clip]):
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(METADATA_HEADER)
        for c in clips:
            w.writerow([c.file, c.speaker, c.recording, f"{c.start:.6f}", f"{c.end:.6f}", f"{c.confidence:.4f}",
                        1 if c.verified else 0])
    os.replace(tmp, path)
