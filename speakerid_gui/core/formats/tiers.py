"""Per-recording annotation files other tools read: Praat TextGrid, ELAN EAF, WebVTT.

Each format is written and read by the field's maintained library (praatio, pympi-ling,
webvtt-py), never by hand. All of them carry exactly the turns of the RTTM export
(formats.rows_to_turns): one file per recording, named after it, mirroring the input folders.
TextGrid and EAF get one tier per speaker; WebVTT gets one cue per turn with a `<v Speaker>`
voice tag. Cues and tiers may overlap in time, so overlapping speech survives the round trip.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from speakerid_gui.core.formats.common import LabelRow, Turn, _safe_relative, rows_to_turns

SUFFIXES = {"textgrid": ".TextGrid", "eaf": ".eaf", "vtt": ".vtt"}


def _target(out_dir, recording: str, fmt: str) -> Path:
    rel = _safe_relative(recording)
    path = Path(out_dir) / rel.parent / (rel.stem + SUFFIXES[fmt])
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _by_speaker(turns: list[Turn]) -> dict[str, list[tuple[float, float]]]:
    tiers: dict[str, list[tuple[float, float]]] = {}
    for start, end, speaker in turns:
        tiers.setdefault(speaker, []).append((start, end))
    return dict(sorted(tiers.items()))


# ---------------------------------------------------------------- writers

def write_textgrid(turns_by_rec: dict[str, list[Turn]], out_dir, durations: dict[str, float] | None = None) -> list[Path]:
    from praatio import textgrid
    from praatio.utilities.constants import Interval

    written = []
    for recording, turns in turns_by_rec.items():
        end = max([e for _, e, _ in turns] + [(durations or {}).get(recording) or 0.0, 1e-3])
        tg = textgrid.Textgrid(0.0, end)
        for speaker, spans in _by_speaker(turns).items():
            entries = [Interval(round(s, 6), round(e, 6), speaker) for s, e in spans]
            tg.addTier(textgrid.IntervalTier(speaker, entries, 0.0, end))
        path = _target(out_dir, recording, "textgrid")
        # blank intervals fill the gaps, as Praat itself writes interval tiers
        tg.save(str(path), format="long_textgrid", includeBlankSpaces=True, reportingMode="error")
        written.append(path)
    return written


def write_eaf(turns_by_rec: dict[str, list[Turn]], out_dir, media_root: str | os.PathLike | None = None) -> list[Path]:
    import pympi

    written = []
    for recording, turns in turns_by_rec.items():
        eaf = pympi.Elan.Eaf(author="speakerid-gui")
        eaf.remove_tier("default")
        media = Path(media_root) / recording if media_root else Path(recording)
        eaf.add_linked_file(media.as_uri() if media.is_absolute() else str(media), relpath=recording,
                            mimetype=_mime(recording))
        for speaker, spans in _by_speaker(turns).items():
            eaf.add_tier(speaker, part=speaker)
            for s, e in spans:
                eaf.add_annotation(speaker, _ms(s), _ms(e), speaker)
        path = _target(out_dir, recording, "eaf")
        eaf.to_file(str(path))
        written.append(path)
    return written


def write_vtt(turns_by_rec: dict[str, list[Turn]], out_dir) -> list[Path]:
    import webvtt

    written = []
    for recording, turns in turns_by_rec.items():
        vtt = webvtt.WebVTT()
        for start, end, speaker in sorted(turns):
            voice = _vtt_voice(speaker)
            vtt.captions.append(webvtt.Caption(_vtt_time(start), _vtt_time(end), f"<v {voice}>{voice}</v>"))
        path = _target(out_dir, recording, "vtt")
        vtt.save(str(path))
        written.append(path)
    return written


def export_tiers(rows: Iterable[LabelRow], fmt: str, out_dir, durations: dict[str, float] | None = None,
                 media_root=None, overlapping: bool = False) -> list[Path]:
    turns = rows_to_turns(rows, overlapping=overlapping)  # the same turns as the RTTM export
    if fmt == "textgrid":
        return write_textgrid(turns, out_dir, durations)
    if fmt == "eaf":
        return write_eaf(turns, out_dir, media_root)
    if fmt == "vtt":
        return write_vtt(turns, out_dir)
    raise ValueError(f"not a tier format: {fmt!r}")


def _mime(recording: str) -> str:
    import mimetypes

    guessed = mimetypes.guess_type(recording)[0]  # pympi only knows wav/mpg/xml by itself
    return guessed if guessed and guessed.startswith("audio/") else "audio/x-wav"


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _vtt_time(seconds: float) -> str:
    ms = _ms(seconds)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _vtt_voice(speaker: str) -> str:
    # a voice annotation ends at '>' and cannot hold a line break
    return " ".join(speaker.replace(">", ")").replace("<", "(").split()) or "unknown"


# ---------------------------------------------------------------- readers

def read_textgrid(path) -> list[Turn]:
    """Turns of one TextGrid: every labelled interval of an interval tier, speaker = tier name
    (a tier named like 'speaker' or 'words' with labels in it: the label is the speaker)."""
    from praatio import textgrid

    try:
        tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=False, duplicateNamesMode="rename")
    except Exception as exc:
        raise ValueError(f"{path}: not a readable TextGrid ({exc})") from None
    turns = []
    for name in tg.tierNames:
        tier = tg.getTier(name)
        if getattr(tier, "tierType", "") != "IntervalTier":
            continue
        labels = {e.label.strip() for e in tier.entries if e.label.strip()}
        for entry in tier.entries:
            label = entry.label.strip()
            if not label:
                continue
            # one label across the tier (ours: the speaker's name) -> the tier names the speaker;
            # a tier of varied labels (one 'speakers' tier) -> each label names one
            speaker = name if len(labels) == 1 else label
            turns.append((float(entry.start), float(entry.end), speaker))
    return sorted(turns)


def read_eaf(path) -> list[Turn]:
    import pympi

    try:
        eaf = pympi.Elan.Eaf(str(path))
    except Exception as exc:
        raise ValueError(f"{path}: not a readable ELAN file ({exc})") from None
    turns = []
    for tier in eaf.get_tier_names():
        speaker = eaf.tiers[tier][2].get("PARTICIPANT") or tier
        for start, end, *_ in eaf.get_annotation_data_for_tier(tier):
            turns.append((start / 1000.0, end / 1000.0, speaker))
    return sorted(turns)


def read_vtt(path) -> list[Turn]:
    import webvtt

    try:
        captions = webvtt.read(str(path))
    except Exception as exc:
        raise ValueError(f"{path}: not a readable WebVTT file ({exc})") from None
    turns = []
    for cap in captions:
        speaker = cap.voice or cap.text.strip()
        if speaker:
            turns.append((cap.start_time.in_milliseconds() / 1000.0, _cue_end(cap), speaker.strip()))
    return sorted(turns)


def _cue_end(cap) -> float:
    return cap.end_time.in_milliseconds() / 1000.0


READERS = {".textgrid": read_textgrid, ".eaf": read_eaf, ".vtt": read_vtt}


def read_tier_files(path) -> dict[str, list[Turn]]:
    """Turns per recording key from one file or a folder of them (key: the path relative to the
    folder without its extension, or the file's stem)."""
    path = Path(path)
    if path.is_file():
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            raise ValueError(f"{path}: not a TextGrid, EAF or WebVTT file")
        return {path.stem: reader(path)}
    found = {}
    for file in sorted(path.rglob("*")):
        reader = READERS.get(file.suffix.lower())
        if reader is not None and file.is_file():
            found[file.relative_to(path).with_suffix("").as_posix()] = reader(file)
    if not found:
        raise ValueError(f"{path}: no TextGrid, EAF or WebVTT files in this folder")
    return found
