"""One entry point for every label export format: the plain ones of formats.py and the tier
formats of formats/tiers.py (kept apart so formats.tiers can build on formats without a cycle)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from speakerid_gui.core.formats.common import FORMATS, LabelRow, write_audacity, write_csv, write_json, write_rttm


def export(rows: Iterable[LabelRow], fmt: str, out: str | os.PathLike, overlapping: bool = False,
           durations: dict[str, float] | None = None, media_root: str | os.PathLike | None = None) -> list[Path]:
    """Write rows in one format; for the FOLDER_FORMATS `out` is a folder. Returns the files written.
    `overlapping`: the rows are speaker turns that may overlap (conversation mode). durations
    (recording -> seconds) sets a TextGrid's end; media_root links EAF files to the audio."""
    rows = list(rows)
    if fmt == "audacity":
        return write_audacity(rows, out, overlapping)
    if fmt in ("textgrid", "eaf", "vtt"):
        from speakerid_gui.core.formats.tiers import export_tiers

        return export_tiers(rows, fmt, out, durations, media_root, overlapping=overlapping)
    writers = {"csv": write_csv, "json": write_json, "rttm": write_rttm}
    if fmt not in writers:
        raise ValueError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt in ("rttm", "json"):
        writers[fmt](rows, out, overlapping)
    else:
        writers[fmt](rows, out)
    return [Path(out)]
