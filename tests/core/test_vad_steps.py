"""Silero's sequence model gives the probabilities of stepping its streaming model 32 ms at a time."""
from __future__ import annotations

import numpy as np
import pytest

from coredata import LIBRI, pick_libri
from speakerid_gui.core import vad
from speakerid_gui.core.audio import SAMPLE_RATE, load_audio


def streamed(wave: np.ndarray) -> np.ndarray:
    """The reference: silero's streaming ONNX model stepped frame by frame from the file's start,
    after the pre-roll of silence."""
    import torch

    model = vad._silero().load_silero_vad(onnx=True)
    n = int(np.ceil(len(wave) / vad.CHUNK))
    padded = np.zeros(n * vad.CHUNK, np.float32)
    padded[: len(wave)] = wave
    model.reset_states()
    padded = np.concatenate([np.zeros(vad.PREROLL_FRAMES * vad.CHUNK, np.float32), padded])
    return np.array([float(model(torch.from_numpy(padded[i * vad.CHUNK:(i + 1) * vad.CHUNK]), SAMPLE_RATE))
                     for i in range(vad.PREROLL_FRAMES + n)], np.float32)[vad.PREROLL_FRAMES:]


@pytest.mark.slow
def test_short_and_long_waves_get_the_probabilities_of_frame_by_frame_streaming():
    row = pick_libri(n_speakers=1, per_speaker=1, min_s=18.0, max_s=30.0)[0]
    long = load_audio(LIBRI / row["path"])  # longer than one 512-frame call (16.4 s)
    waves = [long[:SAMPLE_RATE], long, long[3 * SAMPLE_RATE: 5 * SAMPLE_RATE + 100]]
    got = vad.speech_probabilities(waves)
    for wave, probs in zip(waves, got):
        expected = streamed(wave)
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
