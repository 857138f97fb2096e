"""Silero's sequence model per stream gives the probabilities of stepping its streaming model 32 ms
at a time over the same streams (10 s each, after 0.5 s of pre-roll), and speech regions come from
silero's own post-processing, without importing torch."""
from __future__ import annotations

import numpy as np
import pytest

from coredata import LIBRI, pick_libri
from speakerid_gui.core.audio import vad
from speakerid_gui.core.audio.decode import SAMPLE_RATE, load_audio


def stepped(wave: np.ndarray) -> np.ndarray:
    """The reference: silero's streaming ONNX model stepped frame by frame over each stream."""
    import silero_vad
    import torch

    model = silero_vad.load_silero_vad(onnx=True)
    pre = int(vad.PREROLL * SAMPLE_RATE) // vad.CHUNK
    out = []
    for first, _, count in vad.streams(len(wave)):
        piece = np.zeros((pre + count) * vad.CHUNK, np.float32)
        lo, hi = max(first, 0), min(len(wave), first + len(piece))
        piece[lo - first: hi - first] = wave[lo:hi]
        model.reset_states()
        probs = [float(model(torch.from_numpy(piece[k * vad.CHUNK:(k + 1) * vad.CHUNK]), SAMPLE_RATE))
                 for k in range(pre + count)]
        out += probs[pre:]
    return np.array(out, np.float32)[: int(np.ceil(len(wave) / vad.CHUNK))]


def test_streams_tile_the_file():
    n = int(25.3 * SAMPLE_RATE)
    got = vad.streams(n)
    assert [f for _, f, _ in got] == [0, 312, 624]
    assert sum(c for _, _, c in got) == int(np.ceil(n / vad.CHUNK))
    assert got[0][0] < 0 and got[1][0] == (312 - 15) * vad.CHUNK  # pre-roll: silence, then real audio


@pytest.mark.slow
def test_short_and_long_waves_get_the_probabilities_of_frame_by_frame_streaming():
    row = pick_libri(n_speakers=1, per_speaker=1, min_s=12.0, max_s=30.0)[0]
    long = load_audio(LIBRI / row["path"])  # more than one stream
    waves = [long[:SAMPLE_RATE], long, long[3 * SAMPLE_RATE: 5 * SAMPLE_RATE + 100]]
    got = vad.speech_probabilities(waves)
    for wave, probs in zip(waves, got):
        expected = stepped(wave)
        assert len(probs) == len(expected) == int(np.ceil(len(wave) / vad.CHUNK))
        assert np.abs(probs - expected).max() < 1e-4
    assert got[1].max() > 0.9 and np.median(got[1]) > 0.5  # real speech is found
    # one thread or several: the same numbers, in the callers' order
    single = vad.speech_probabilities(waves, workers=1)
    assert all(np.array_equal(a, b) for a, b in zip(got, single))


def test_silence_and_no_waves():
    quiet = vad.speech_probabilities([np.zeros(SAMPLE_RATE, np.float32)])
    assert len(quiet[0]) == SAMPLE_RATE // vad.CHUNK + 1 and quiet[0].max() < 0.2
    assert vad.speech_probabilities([]) == []


@pytest.mark.slow
def test_speech_regions_are_silero_own_post_processing():
    import silero_vad

    rows = pick_libri(n_speakers=2, per_speaker=2, min_s=4.0, max_s=30.0)
    waves = [load_audio(LIBRI / r["path"]) for r in rows]
    ours = vad._timestamps()
    assert ours is not silero_vad.get_speech_timestamps_from_probs  # compiled from the file itself
    for wave, probs in zip(waves, vad.speech_probabilities(waves)):
        for options in ({}, dict(threshold=0.6, min_silence_duration_ms=300, speech_pad_ms=50),
                        dict(max_speech_duration_s=2.0, min_speech_duration_ms=100)):
            expected = silero_vad.get_speech_timestamps_from_probs(
                probs.tolist(), audio_length_samples=len(wave), sampling_rate=SAMPLE_RATE, **options)
            assert ours(probs.tolist(), audio_length_samples=len(wave), sampling_rate=SAMPLE_RATE,
                        **options) == expected
            assert expected  # real speech: regions to compare


def test_sequence_forward_is_silero_own():
    import silero_vad

    wave = np.random.default_rng(0).standard_normal(40 * vad.CHUNK).astype(np.float32) * 0.1
    wave[5 * vad.CHUNK: 30 * vad.CHUNK] = load_audio(LIBRI / pick_libri(1, 1, 4.0, 30.0)[0]["path"])[: 25 * vad.CHUNK]
    theirs = silero_vad.load_silero_vad(sequence=True).audio_forward(wave)
    assert np.array_equal(vad._forward(wave), np.asarray(theirs, np.float32))


@pytest.mark.slow
def test_an_analysis_never_imports_torch(tmp_path):
    """`speakerid run` on short clips (CAM++ and GE2E) and on longer files (CAM++), twice: the
    second run, with the kept graphs of the first, must not import torch (python -X importtime)."""
    import shutil
    import subprocess
    import sys

    rows = pick_libri(n_speakers=2, per_speaker=2, min_s=4.0, max_s=30.0)
    for folder, seconds in (("long", None), ("short", 1.2)):
        (tmp_path / folder).mkdir()
        for k, row in enumerate(rows):
            if seconds is None:
                shutil.copy(LIBRI / row["path"], tmp_path / folder / f"{k}.flac")
            else:
                import soundfile as sf

                sf.write(tmp_path / folder / f"{k}.wav", load_audio(LIBRI / row["path"])[: int(seconds * SAMPLE_RATE)],
                         SAMPLE_RATE)
        for run in range(2):
            done = subprocess.run([sys.executable, "-X", "importtime", "-m", "speakerid_gui.cli", "run",
                                   str(tmp_path / folder), "--project", str(tmp_path / f"{folder}-{run}")],
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr[-2000:]
            assert "clusters:" in done.stdout
        imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
        assert "onnxruntime" in imported and "torch" not in imported, folder
        # the short clips' default joins GE2E to CAM++: its graph ran too
        assert ("speakerid_gui.core.embed.ge2e_onnx" in imported) == (folder == "short")
