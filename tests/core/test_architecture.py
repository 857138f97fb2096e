"""The core's structure (issue 11): import contracts, and backends that declare what they need."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    # the same check `make lint` runs; here so a plain pytest run enforces it too
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter not installed (pip install -e '.[dev]')")
    proc = subprocess.run([exe, "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "The core has no import cycle KEPT" in proc.stdout


def test_backends_declare_what_they_need():
    from speakerid_gui.core import embed

    assert embed.needs("prosody_rnn").project and not embed.needs("campp").project
    assert embed.parts("joint:campp=1,mfcc=0.3") == ["campp", "mfcc"]
    assert embed.parts("campp") == [] and embed.parts("whisper:model=/m") == []
    # a project reaches only the backends that asked for it
    mfcc = embed.get_backend("mfcc", project=object())
    assert mfcc.embed([np.zeros(16000, np.float32)]).shape == (1, mfcc.dim)


def test_store_methods_that_replaced_raw_sql(tmp_path):
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.project.store import Project

    p = Project.create(tmp_path / "p", tmp_path)
    rid, changed = p.upsert_recording("a.wav", 10, 1.0)
    assert changed and p.segment_key() is None
    p.add_segments(rid, [(0.0, 3.0), (1.5, 4.5)], "w3-key")
    p.reload()
    assert p.segment_key() == "w3-key" and p.recordings()[0].seg_key == "w3-key"
    p.mark_recording_changed(rid, 11, 2.0)
    assert p.recordings()[0].status == "pending" and p.segment_key() is None
    log = EditLog(p)
    edit = log.rename(0, "Ann")
    assert p.edit_state(edit.edit_id) == "done"
    log.undo()
    assert p.edit_state(edit.edit_id) == "undone"
    assert p.edit_state(None) is None and p.edit_state(10_000) is None
    p.save_array("x", "k", np.ones(3))
    p.drop_array("x")
    assert p.load_array("x") is None and not list((p.folder / "arrays").glob("x-*"))
    p.close()
