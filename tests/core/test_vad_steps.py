"""Silero's sequence model per stream gives the probabilities of stepping its streaming model 32 ms
at a time over the same streams (10 s each, after 0.5 s of pre-roll)."""
from __future__ import annotations

import numpy as np
import pytest

from coredata import LIBRI, pick_libri
from speakerid_gui.core.audio import vad
from speakerid_gui.core.audio.decode import SAMPLE_RATE, load_audio


def stepped(wave: np.ndarray) -> np.ndarray:
    """The reference: silero's streaming ONNX model stepped frame by frame over each stream."""
    import torch

    model = vad._silero().load_silero_vad(onnx=True)
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
