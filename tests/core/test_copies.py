"""Exact copies among the recordings (the same audio under two names, or in two formats) are
named in the run's summary, the CLI's last lines and `speakerid info`; a resumed run knows them."""
from __future__ import annotations

import shutil

import numpy as np
import soundfile as sf

from coredata import MINI, run_cli
from speakerid_gui.core.audio.copies import audio_digest, describe, exact_copies
from speakerid_gui.core.pipeline import Settings, Summary, run
from speakerid_gui.core.project.store import Project


def _folder(tmp_path):
    """Two real utterances; one also copied into a sub-folder as WAV (a conversion)."""
    files = sorted(MINI.rglob("*.flac"))[:2]
    audio = tmp_path / "audio"
    (audio / "copies").mkdir(parents=True)
    for f in files:
        shutil.copy2(f, audio / f.name)
    wave, sr = sf.read(files[0])
    sf.write(audio / "copies" / (files[0].stem + ".wav"), wave, sr, subtype="PCM_16")
    return audio, files


def test_a_wav_conversion_of_a_flac_is_an_exact_copy_and_other_audio_is_not(tmp_path):
    audio, files = _folder(tmp_path)
    project = Project.create(tmp_path / "p", audio)
    summary = Summary()
    for _ in run(project, Settings(layout="pca", prosody=False), summary=summary):
        pass
    assert summary.copies == [(f"copies/{files[0].stem}.wav", files[0].name)]
    assert exact_copies(project) == summary.copies
    assert summary.files_ok == 3 and summary.files_skipped == 0  # a copy is analysed, not skipped
    lines = describe(summary.copies)
    assert lines[0].startswith("1 file is an exact copy") and files[0].name in lines[1]
    project.close()


def test_a_resumed_run_finds_a_copy_of_a_file_analysed_before(tmp_path):
    audio, files = _folder(tmp_path)
    later = audio / "copies" / (files[0].stem + ".wav")
    held = tmp_path / "held.wav"
    shutil.move(later, held)  # the copy arrives after the first run
    project = Project.create(tmp_path / "p", audio)
    for _ in run(project, Settings(layout="pca", prosody=False)):
        pass
    assert exact_copies(project) == []
    shutil.move(held, later)
    summary = Summary()
    for _ in run(project, Settings(layout="pca", prosody=False), summary=summary):
        pass
    assert summary.copies == [(f"copies/{files[0].stem}.wav", files[0].name)]
    project.close()
    out = run_cli("info", tmp_path / "p", check=True).stdout
    assert f"copies/{files[0].stem}.wav = {files[0].name}" in out


def test_digest_is_of_the_samples():
    a = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)
    assert audio_digest(a) == audio_digest(a.copy()) != audio_digest(a[::-1].copy())
    assert describe([]) == []
    many = describe([(f"c{i}.wav", f"o{i}.wav") for i in range(12)], limit=10)
    assert len(many) == 12 and many[-1].startswith("  ... and 2 more")
