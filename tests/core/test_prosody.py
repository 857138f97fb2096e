"""Pitch/energy curves: synthetic tones, silence, loudness, and slicing recording curves."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from speakerid_gui.core.audio import prosody
from speakerid_gui.core.audio.decode import SAMPLE_RATE, load_audio
from speakerid_gui.core.audio.prosody import (STAT_NAMES, Prosody, prosody_curves, prosody_stats,
                                        recording_prosody, slice_prosody)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
LIBRI = DATA / "librispeech-test-other"
SR = SAMPLE_RATE


def _tone(freq: float, seconds: float = 2.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _stat(vec: np.ndarray, name: str) -> float:
    return float(vec[STAT_NAMES.index(name)])


@pytest.fixture(scope="module")
def speech():
    """~75 s of one speaker's utterances back to back (long enough to cross a 60 s chunk)."""
    from testdata import need

    with open(need(LIBRI / "manifest.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["speaker"] == "1688"]
    waves, total = [], 0.0
    for row in rows:
        waves.append(load_audio(LIBRI / row["path"]))
        total += len(waves[-1]) / SR
        if total > 75:
            break
    if total < 65:
        pytest.skip("not enough speech for a chunk-crossing test")
    return np.concatenate(waves)


@pytest.mark.parametrize("freq", [150.0, 220.0])
def test_sine_pitch(freq):
    p = prosody_curves(_tone(freq))
    stats = prosody_stats(p)
    assert abs(_stat(stats, "pitch_median_hz") - freq) < 3.0
    assert _stat(stats, "voiced_fraction") > 0.9
    assert _stat(stats, "pitch_iqr_hz") < 3.0


def test_grid_and_types():
    p = prosody_curves(_tone(150.0, seconds=1.234), step=0.01)
    assert isinstance(p, Prosody)
    assert len(p.times) == len(p.pitch) == len(p.energy) == 123
    assert np.allclose(np.diff(p.times), 0.01)
    assert p.times[0] == pytest.approx(0.005)
    voiced = p.pitch[np.isfinite(p.pitch)]
    assert ((voiced >= prosody.PITCH_FLOOR) & (voiced <= prosody.PITCH_CEILING)).all()
    stats = prosody_stats(p)
    assert stats.dtype == np.float32 and stats.shape == (len(STAT_NAMES),)
    assert np.isfinite(stats).all()


def test_sine_energy_level():
    p = prosody_curves(_tone(220.0, amplitude=0.5))
    inner = p.energy[5:-5]  # away from the zero-padded ends
    assert np.allclose(inner, 20 * np.log10(0.5 / np.sqrt(2)), atol=0.1)


@pytest.mark.parametrize("n", [0, 100, 800, 2 * SR])
def test_silence(n):
    p = prosody_curves(np.zeros(n, np.float32))
    stats = prosody_stats(p)
    assert np.all(np.isnan(p.pitch))
    assert _stat(stats, "voiced_fraction") == 0.0
    assert not stats[:6].any()  # pitch stats are zeros, not NaN
    assert np.isfinite(stats).all()


def test_louder_copy_is_6db_up(speech):
    clip = speech[:5 * SR]
    quiet, loud = prosody_curves(clip), prosody_curves(2 * clip)
    audible = quiet.energy > prosody.ENERGY_FLOOR_DB + 10
    assert audible.mean() > 0.5
    assert np.allclose(loud.energy[audible] - quiet.energy[audible], 20 * np.log10(2), atol=0.01)
    # Pitch ignores loudness.
    assert _stat(prosody_stats(loud), "pitch_median_hz") == pytest.approx(
        _stat(prosody_stats(quiet), "pitch_median_hz"), rel=0.01)


def test_real_speech_is_plausible(speech):
    stats = prosody_stats(prosody_curves(speech[:10 * SR]))
    assert 60 < _stat(stats, "pitch_median_hz") < 400
    assert 0.2 < _stat(stats, "voiced_fraction") < 0.95
    assert _stat(stats, "pitch_p10_hz") <= _stat(stats, "pitch_median_hz") <= _stat(stats, "pitch_p90_hz")
    assert _stat(stats, "energy_range_db") > 10


@pytest.mark.parametrize("start, end", [(3.0, 6.0), (58.5, 62.5), (12.345, 15.1)])
def test_slice_matches_direct(speech, start, end):
    whole = recording_prosody(speech)
    assert len(whole.times) == int(len(speech) / SR / 0.01)
    part = slice_prosody(whole, start, end)
    assert part.times[0] >= 0 and part.times[-1] < end - start
    direct = prosody_curves(speech[int(start * SR):int(end * SR)])
    assert abs(len(part.times) - len(direct.times)) <= 1
    a, b = prosody_stats(part), prosody_stats(direct)
    assert _stat(a, "pitch_median_hz") == pytest.approx(_stat(b, "pitch_median_hz"), rel=0.05)
    assert abs(_stat(a, "voiced_fraction") - _stat(b, "voiced_fraction")) < 0.1
    assert abs(_stat(a, "energy_mean_db") - _stat(b, "energy_mean_db")) < 1.0


def test_chunking_barely_changes_the_curves(speech, monkeypatch):
    clip = speech[:30 * SR]
    single = prosody_curves(clip)
    monkeypatch.setattr(prosody, "CHUNK_SECONDS", 7.0)
    chunked = prosody_curves(clip)
    assert np.array_equal(single.times, chunked.times)
    assert np.allclose(single.energy, chunked.energy, atol=1e-6)  # energy is purely local
    both = np.isfinite(single.pitch) & np.isfinite(chunked.pitch)
    agree = np.isfinite(single.pitch) == np.isfinite(chunked.pitch)
    assert agree.mean() > 0.9
    assert np.median(np.abs(single.pitch[both] - chunked.pitch[both])) < 1.0


def test_energy_of_a_recording_is_each_frames_rms_across_the_batches_of_frames(speech):
    # the frames are taken a few thousand at a time (an hour's at once held 2 GB); at the
    # batches' edges too each value is its own 25 ms frame's RMS
    clip = speech[: 2 * prosody.ENERGY_FRAMES_AT_ONCE * 160 + 12_345]
    times = (np.arange(len(clip) // 160) + 0.5) * 0.01
    assert len(times) > prosody.ENERGY_FRAMES_AT_ONCE + 1
    got = prosody._energy_on_grid(clip, SR, times, 0.0)
    half = int(round(prosody.ENERGY_WINDOW * SR / 2))
    padded = np.pad(clip.astype(np.float64), half)
    for k in [0, 1, prosody.ENERGY_FRAMES_AT_ONCE - 1, prosody.ENERGY_FRAMES_AT_ONCE, len(times) - 1]:
        c = int(np.rint(times[k] * SR))
        rms = np.sqrt(np.mean(padded[c:c + 2 * half] ** 2))
        assert got[k] == pytest.approx(max(20 * np.log10(max(rms, 1e-12)), prosody.ENERGY_FLOOR_DB), abs=1e-9)


def test_slice_outside_is_empty():
    p = prosody_curves(_tone(150.0, seconds=1.0))
    empty = slice_prosody(p, 5.0, 6.0)
    assert len(empty.times) == 0
    assert not prosody_stats(empty).any()
