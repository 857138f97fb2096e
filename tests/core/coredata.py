"""Paths and helpers shared by the core tests (imported by conftest.py and the test modules)."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from testdata import DATA, MINI, need  # noqa: F401  (need: importable here)

LIBRI = DATA / "librispeech-test-other"
AMI = DATA / "ami-debug"
FSDD = DATA / "fsdd-subset"

N_SPEAKERS = 4
PER_SPEAKER = 3


def libri_rows(folder: Path = LIBRI) -> list[dict]:
    need(folder / "manifest.csv")
    with open(folder / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def pick_libri(n_speakers: int = N_SPEAKERS, per_speaker: int = PER_SPEAKER,
               min_s: float = 4.0, max_s: float = 11.0, folder: Path = LIBRI) -> list[dict]:
    """A deterministic choice of medium-length utterances: per_speaker each of n_speakers."""
    by_speaker: dict[str, list[dict]] = {}
    for row in libri_rows(folder):
        if min_s <= float(row["duration_s"]) <= max_s:
            by_speaker.setdefault(row["speaker"], []).append(row)
    chosen = []
    for speaker in sorted(by_speaker)[:n_speakers]:
        rows = sorted(by_speaker[speaker], key=lambda r: r["path"])[:per_speaker]
        assert len(rows) == per_speaker
        chosen.extend(rows)
    return chosen


def copy_libri(rows: list[dict], dest: Path, folder: Path = LIBRI) -> dict[str, str]:
    """Copy utterances under dest (speaker/utt.flac); returns relative path -> speaker."""
    truth = {}
    for row in rows:
        target = dest / row["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / row["path"], target)
        truth[row["path"]] = row["speaker"]
    return truth


def speakerid_command() -> list[str]:
    script = Path(sys.executable).parent / "speakerid"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "speakerid_gui.cli"]


def run_cli(*args, timeout: float = 180, check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run([*speakerid_command(), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    if check and proc.returncode != 0:
        raise AssertionError(f"speakerid {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@dataclass
class BuiltProject:
    folder: Path
    audio: Path
    truth: dict            # relative recording path -> speaker
    events: list = field(default_factory=list)
    summary: object = None
    settings: object = None


# ---- comparing project states (edits, undo, restarts) ------------------------------------------
def state(project) -> dict:
    """Everything an edit may change, from memory."""
    import copy

    from speakerid_gui.core.project.store import COLUMNS

    out = {name: getattr(project, name).copy() for name in COLUMNS}
    out["clusters"] = copy.deepcopy(project.clusters)
    return out


def assert_same(a: dict, b: dict):
    import numpy as np

    assert a.keys() == b.keys()
    for key in a:
        if key == "clusters":
            assert a[key] == b[key]
        else:
            assert a[key].dtype == b[key].dtype, key
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def cut_mini_clips(dest: Path, pieces: int = 4) -> dict[str, str]:
    """The shipped utterances (tests/data, 4 readers x 3) each cut into `pieces` equal files
    (1.1-1.7 s at 4), written into dest; file name -> reader."""
    import numpy as np
    import soundfile as sf

    dest.mkdir(parents=True, exist_ok=True)
    truth = {}
    with open(MINI / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            wave, sr = sf.read(MINI / row["path"], dtype="float32")
            for k, piece in enumerate(np.array_split(wave, pieces)):
                name = f"{Path(row['path']).stem}-part{k}.flac"
                sf.write(dest / name, piece, sr)
                truth[name] = row["speaker"]
    return truth
