"""The synthetic demo corpus: files, truth files, determinism, distinct voices."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from speakerid_gui.core.demo import make_demo_corpus, voices
from speakerid_gui.core.formats.common import load_reference
from speakerid_gui.core.audio.prosody import STAT_NAMES, prosody_curves, prosody_stats


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_demo_corpus(tmp_path_factory.mktemp("demo"), n_speakers=4, files_per_speaker=2,
                            conversations=1, seconds=6.0, seed=3)


def test_files_and_truth_agree(corpus):
    assert len(corpus.files) == 4 * 2 + 1 and len(corpus.speakers) == 4
    with open(corpus.manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == corpus.files
    for r in rows:
        info = sf.info(str(corpus.folder / r["path"]))
        assert info.samplerate == 16000 and info.channels == 1
        assert float(r["duration_s"]) == pytest.approx(info.duration, abs=1e-3)
        assert 4.0 < info.duration < 9.0
    conv = [r for r in rows if r["path"].startswith("conversation")]
    assert len(conv) == 1 and len(conv[0]["speaker"].split(";")) == 2
    ref = load_reference(corpus.rttm)
    assert ref.speakers_of("conversation_1.wav") == set(conv[0]["speaker"].split(";"))
    single = next(r for r in rows if not r["path"].startswith("conversation"))
    assert ref.label_for(single["path"], 1.0, 3.0) == single["speaker"]


def test_audio_is_speech_like_not_clipped(corpus):
    wave, sr = sf.read(str(corpus.folder / corpus.files[0]), dtype="float32")
    assert 0.1 < np.abs(wave).max() < 0.99
    # pauses between phrases: a good share of 50 ms frames is near-silent, most are not
    frames = wave[: len(wave) // 800 * 800].reshape(-1, 800)
    rms = np.sqrt((frames ** 2).mean(1))
    quiet = (rms < 0.03 * rms.max()).mean()  # 30 dB below the loudest frame
    assert 0.05 < quiet < 0.6


def test_same_seed_same_corpus(tmp_path, corpus):
    again = make_demo_corpus(tmp_path, n_speakers=4, files_per_speaker=2, conversations=1, seconds=6.0, seed=3)
    a, _ = sf.read(str(corpus.folder / corpus.files[3]))
    b, _ = sf.read(str(again.folder / again.files[3]))
    assert np.array_equal(a, b)


def test_voices_differ_in_pitch(corpus):
    medians = {}
    for v in voices(4, seed=3):
        wave, sr = sf.read(str(corpus.folder / f"{v.name}_1.wav"), dtype="float32")
        stats = prosody_stats(prosody_curves(wave, sr))
        medians[v.name] = stats[STAT_NAMES.index("pitch_median_hz")]
        assert medians[v.name] == pytest.approx(v.f0, rel=0.25)  # the pitch we asked for is the pitch we hear
    values = sorted(medians.values())
    assert min(b / a for a, b in zip(values, values[1:])) > 1.08  # no two voices share a pitch
