"""Cleaning before embedding: spectral noise reduction on real speech with added noise
(measured SNR), silence trimming, and the pipeline setting (its own embedding caches)."""
from __future__ import annotations

import numpy as np
import pytest

from coredata import LIBRI, pick_libri
from speakerid_gui.core.audio import clean

SR = 16000


@pytest.fixture(scope="module")
def utterances():
    from speakerid_gui.core.audio.decode import load_audio

    return [load_audio(LIBRI / row["path"]) for row in pick_libri(n_speakers=4, per_speaker=1)]


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    reference = reference.astype(np.float64)
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum((estimate - reference) ** 2)))


def coloured_noise(n: int, exponent: float, seed: int) -> np.ndarray:
    """Gaussian noise with power ~ 1/f^exponent (0 white, 1 pink)."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec /= np.maximum(f, 20.0) ** (exponent / 2)  # flat below 20 Hz: no drifting offset
    return np.fft.irfft(spec, n)


@pytest.mark.parametrize("exponent, snr_in, min_gain", [(0.0, 5.0, 4.5), (0.0, 0.0, 4.5), (1.0, 5.0, 2.5)])
def test_denoise_raises_snr(utterances, exponent, snr_in, min_gain):
    gains = []
    for i, speech in enumerate(utterances):
        noise = coloured_noise(len(speech), exponent, seed=i)
        noise *= np.sqrt(np.sum(speech.astype(np.float64) ** 2) / np.sum(noise ** 2) / 10 ** (snr_in / 10))
        noisy = (speech + noise).astype(np.float32)
        assert snr_db(speech, noisy) == pytest.approx(snr_in, abs=0.01)
        # as in the pipeline: the noise profile comes from the whole recording, the mask per segment
        (cleaned,) = clean.segment_waves(noisy, [(0.0, len(noisy) / SR)], "denoise")
        assert cleaned.shape == noisy.shape and cleaned.dtype == np.float32
        gains.append(snr_db(speech, cleaned) - snr_in)
    assert min(gains) > min_gain, gains


def test_denoise_keeps_clean_speech(utterances):
    """Without added noise the mask must not eat the speech (room tone is all it removes)."""
    for speech in utterances:
        assert snr_db(speech, clean.denoise(speech)) > 15.0


def test_noise_spectrum_ignores_digital_silence(utterances):
    speech = utterances[0]
    padded = np.concatenate([np.zeros(3 * SR, np.float32), speech])
    np.testing.assert_allclose(clean.noise_spectrum(padded), clean.noise_spectrum(speech), rtol=0.5)
    assert clean.noise_spectrum(padded).min() > 1e-9


def test_trim_removes_padded_silence(utterances):
    rng = np.random.default_rng(0)
    for speech in utterances:
        quiet = lambda n: (1e-4 * rng.standard_normal(n)).astype(np.float32)  # noqa: E731  (-80 dBFS hiss)
        padded = np.concatenate([quiet(SR), speech, quiet(int(1.5 * SR))])
        trimmed = clean.trim_silence(padded)
        assert len(trimmed) <= len(speech) + 0.3 * SR  # at most 0.3 s of the 2.5 s of padding left
        assert len(trimmed) >= len(clean.trim_silence(speech)) - 0.05 * SR
        assert np.shares_memory(trimmed, padded)  # a slice of the wave, not a new signal
        start = (trimmed.__array_interface__["data"][0] - padded.__array_interface__["data"][0]) // padded.itemsize
        np.testing.assert_array_equal(padded[start:start + len(trimmed)], trimmed)
        loudest = SR + int(np.argmax(np.abs(speech)))
        assert start <= loudest < start + len(trimmed)


def test_trim_leaves_short_or_steady_waves_alone(utterances):
    steady = utterances[0][SR:2 * SR]
    assert len(clean.trim_silence(steady)) >= 0.9 * len(steady)
    blip = np.zeros(SR, np.float32)
    blip[8000:8800] = 0.5  # 50 ms of sound: trimming would leave less than 0.25 s
    np.testing.assert_array_equal(clean.trim_silence(blip), blip)
    silent = np.zeros(SR, np.float32)
    np.testing.assert_array_equal(clean.trim_silence(silent), silent)


def test_modes():
    assert clean.steps("none") == set() and clean.steps(None) == set()
    assert clean.steps("denoise+trim") == {"denoise", "trim"} == clean.steps("trim+denoise")
    with pytest.raises(ValueError, match="unknown cleaning"):
        clean.steps("dereverb")
    wave = np.arange(SR * 2, dtype=np.float32)
    cuts = clean.segment_waves(wave, [(0.0, 0.5), (1.0, 2.0)], "none")
    assert [len(c) for c in cuts] == [8000, 16000] and cuts[1][0] == SR


@pytest.mark.slow
def test_clean_setting_has_its_own_embedding_cache(project_copy):
    """Another cleaning re-embeds the same segments into caches of its own; going back to
    "none" finds the old caches and embeds nothing."""
    from speakerid_gui.core import embed
    from speakerid_gui.core.pipeline import Settings, embeddings, run
    from speakerid_gui.core.project.store import Project

    project = Project.open(project_copy)
    try:
        spans = list(zip(project.seg_recording.tolist(), project.seg_start.tolist(), project.seg_end.tolist()))
        plain = embeddings(project).copy()
        key_plain = project.array_key("embeddings-campp")
        events = list(run(project, Settings(layout="pca", clean="denoise+trim")))
        assert any(e.stage == "analyse" and "to analyse with campp" in e.message for e in events)
        assert list((project_copy / "cache" / "emb-campp").glob("*-denoise+trim.npy"))
        assert project.get_meta("settings")["clean"] == "denoise+trim"
        assert list(zip(project.seg_recording.tolist(), project.seg_start.tolist(),
                        project.seg_end.tolist())) == spans  # the same segments
        cleaned = embeddings(project)
        assert cleaned.shape == plain.shape
        assert project.array_key("embeddings-campp") != key_plain  # so clustering and layout are redone
        cos = np.sum(cleaned * plain, axis=1) / np.linalg.norm(cleaned, axis=1) / np.linalg.norm(plain, axis=1)
        assert cos.min() < 0.999 and np.median(cos) > 0.8  # changed, and still the same voices

        built = []
        original = embed.get_backend
        embed.get_backend = lambda *a, **k: built.append(a) or original(*a, **k)
        try:
            events = list(run(project, Settings(layout="pca", clean="none")))
        finally:
            embed.get_backend = original
        assert ("analyse", "all recordings already analysed") in {(e.stage, e.message) for e in events}
        assert built == []
        np.testing.assert_allclose(embeddings(project), plain, atol=1e-6)
    finally:
        project.close()
