"""Silero stepped only as far as each stream holds audio gives the probabilities of full stepping."""
from __future__ import annotations

import numpy as np
import pytest

from coredata import LIBRI, pick_libri
from speakerid_gui.core import vad
from speakerid_gui.core.audio import SAMPLE_RATE, load_audio


def test_step_groups_cover_every_stream_once_and_split_only_when_it_pays():
    needed = np.array([48] * 300 + [344] * 3)
    groups = vad._step_groups(needed)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(needed)))
    assert len(groups) == 2 and needed[groups[0]].max() == 48  # 300 short clips are not stepped 344 times
    few = np.array([344, 344, 200, 50, 344])  # a few streams of long files: one group, 344 calls
    assert len(vad._step_groups(few)) == 1


@pytest.mark.slow
def test_short_and_long_waves_get_the_probabilities_of_full_length_stepping():
    row = pick_libri(n_speakers=1, per_speaker=1, min_s=12.0, max_s=20.0)[0]
    long = load_audio(LIBRI / row["path"])
    waves = [long[:SAMPLE_RATE], long, long[3 * SAMPLE_RATE: 5 * SAMPLE_RATE]]
    got = vad.speech_probabilities(waves)
    pre = int(vad.PREROLL * SAMPLE_RATE) // vad.CHUNK
    per_stream = int(vad.STREAM * SAMPLE_RATE) // vad.CHUNK
    import torch

    for wave, probs in zip(waves, got):  # the old way: every stream stepped its full 10.5 s
        n = int(np.ceil(len(wave) / vad.CHUNK))
        assert len(probs) == n
        padded = np.zeros((n + pre + per_stream) * vad.CHUNK, np.float32)
        padded[pre * vad.CHUNK: pre * vad.CHUNK + len(wave)] = wave
        starts = range(0, n, per_stream)
        batch = np.stack([padded[s * vad.CHUNK: (s + pre + per_stream) * vad.CHUNK] for s in starts])
        full = vad._step(torch.from_numpy(batch).view(len(batch), pre + per_stream, vad.CHUNK))
        expected = full[:, pre:].reshape(-1)[:n]
        assert np.abs(probs - expected).max() < 1e-4
    assert got[1].max() > 0.9  # real speech is found
