"""Telephone speech is recognised from its spectrum, and its impostor level is measured on the
corpus (a shared telephone line lifts CAM++'s cosine between different speakers)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, sosfilt, stft

from coredata import MINI
from speakerid_gui.core.audio.channel import (TELEPHONE_COUNT_NOTE, band_ratios, is_telephone, power_spectrogram,
                                              telephone_band)
from speakerid_gui.core.cluster import agglomerative as clu
from speakerid_gui.core.cluster.same_speaker import IMPOSTOR_COSINE, TELEPHONE_LIFT, corpus_impostor
from speakerid_gui.core.pipeline import Settings, embeddings, one_speaker_basis, run
from speakerid_gui.core.project.store import Project

SOS = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")


def _phone(wave, sr):
    """As a telephone line carries it: 8 kHz, 300-3400 Hz (benchmarks/datasets.telephone; written as
    8-bit mu-law WAV for a project, so the project test has its quantisation noise too)."""
    return np.clip(sosfilt(SOS, soxr.resample(wave, sr, 8000)), -1, 1).astype(np.float32)


def test_the_power_spectrogram_is_scipys_stft_squared():
    """channel.power_spectrogram replaces scipy.signal.stft (whose import costs 0.5 s): the same
    frames, frequencies and powers (scipy scales by the window's sum), speech and odd lengths."""
    wave, _ = sf.read(sorted(MINI.rglob("*.flac"))[0], dtype="float32")
    window_sum = np.hanning(513)[:-1].sum()
    for x in (wave, wave[:512], wave[:513], wave[:16001], np.random.default_rng(0).normal(size=777).astype(np.float32)):
        f, _, S = stft(x, 16000, nperseg=512)
        f_ours, P = power_spectrogram(x, 16000)
        assert P.shape == S.shape and np.allclose(f_ours, f)
        assert np.allclose(P, np.abs(S) ** 2 * window_sum ** 2, rtol=1e-4, atol=1e-6 * P.max())


def _project(tmp_path, name, phone):
    audio = tmp_path / name
    for path in sorted(MINI.rglob("*.flac")):
        wave, sr = sf.read(path, dtype="float32")
        target = audio / path.relative_to(MINI).with_suffix(".wav")
        target.parent.mkdir(parents=True, exist_ok=True)
        if phone:
            sf.write(target, _phone(wave, sr), 8000, subtype="ULAW")
        else:
            sf.write(target, wave, sr)
    project = Project.create(tmp_path / f"p-{name}", audio)
    settings = Settings(backend="campp", layout="pca", prosody=False)
    project.warnings = _warnings(run(project, settings))
    return project, settings


def _warnings(events) -> list[str]:
    return [e.message for e in events if e.level == "warning"]


def test_real_speech_is_wideband_and_its_telephone_copy_is_not():
    narrow = []
    for path in sorted(MINI.rglob("*.flac")):
        wave, sr = sf.read(path, dtype="float32")
        assert not is_telephone([band_ratios(soxr.resample(wave, sr, 16000))]), path.name
        assert is_telephone([band_ratios(soxr.resample(_phone(wave, sr), 8000, 16000))]), path.name
        narrow.append(band_ratios(soxr.resample(soxr.resample(wave, sr, 8000), 8000, 16000)))
    # 8 kHz audio that keeps its low band (as fsdd's recordings) is not telephone speech; decided
    # on the corpus, since one quiet-voiced file alone can lack bass (2414-128291-0001: -15 dB)
    assert not is_telephone(narrow)


def test_corpus_impostor_stays_between_the_wideband_level_and_the_telephone_lift():
    rng = np.random.default_rng(0)
    speakers = rng.normal(size=(30, 64))
    one = speakers[0] + 0.3 * rng.normal(size=(40, 64))  # one voice: its median is its within level
    assert corpus_impostor(one, 0.37) == 0.37 + TELEPHONE_LIFT
    shared = rng.normal(size=64) * 0.6  # a channel shared by 30 speakers lifts every cosine
    many = np.repeat(speakers, 5, axis=0) + shared + 0.3 * rng.normal(size=(150, 64))
    level = corpus_impostor(many, 0.2)  # its true level (0.27) lies inside [0.2, 0.3]
    R = many / np.linalg.norm(many, axis=1, keepdims=True)
    different = np.repeat(np.arange(30), 5)[:, None] != np.repeat(np.arange(30), 5)[None, :]
    assert abs(level - (R @ R.T)[different].mean()) < 0.03
    assert corpus_impostor(-many, 0.37) == 0.37  # never below the wideband level


def test_a_telephone_project_measures_its_impostor_level_and_keeps_its_speakers(tmp_path):
    wide, settings = _project(tmp_path, "wide", phone=False)
    phone, _ = _project(tmp_path, "phone", phone=True)
    assert not telephone_band(wide) and telephone_band(phone)
    assert phone.get_meta("channel")["telephone"] is True  # kept: a re-cluster decodes nothing
    _, level_wide = one_speaker_basis(wide, settings, embeddings(wide))
    raw, level_phone = one_speaker_basis(phone, settings, embeddings(phone))
    assert level_wide == IMPOSTOR_COSINE["campp"]
    assert level_phone > IMPOSTOR_COSINE["campp"] + 0.03
    labels = clu.cluster(clu.prepare(embeddings(phone)), None, durations=phone.seg_end - phone.seg_start,
                         raw=raw, impostor=level_phone)
    speakers = np.array([p.split("/")[0] for p in (r.path for r in phone.recordings())])
    per_segment = speakers[np.searchsorted([r.id for r in phone.recordings()], phone.seg_recording)]
    assert len(np.unique(labels)) == len(set(per_segment.tolist())) == 4
    # the run tells the user that a count they know is worth giving here, and only here
    assert TELEPHONE_COUNT_NOTE in phone.warnings and TELEPHONE_COUNT_NOTE not in wide.warnings
    given = _warnings(run(phone, replace(settings, speakers=4)))
    assert phone.get_meta("cluster_key") and TELEPHONE_COUNT_NOTE not in given
    assert len(set(phone.cluster.tolist())) == 4
    calls = Project.create(tmp_path / "p-calls", tmp_path / "phone")  # conversation mode says it too
    assert TELEPHONE_COUNT_NOTE in _warnings(run(calls, replace(settings, conversation=True)))
    assert calls.get_meta("mode") == "conversation" and calls.n_segments


def _voices_in_groups(seed: int, groups=8, per_group=5, segments=6, dim=256):
    """Unit vectors as CAM++ gives them on one telephone line (cosine 0.47 between any two voices)
    with alike voices in groups (0.55 inside a group) and 0.65 within one voice: the case where
    a cluster that took in a second voice drew the rest of its group in."""
    rng = np.random.default_rng(seed)

    def units(n):
        v = rng.normal(size=(n, dim))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    line, group, voice, noise = units(1)[0], units(groups), units(groups * per_group), units(groups * per_group * segments)
    true = np.repeat(np.arange(groups * per_group), segments)
    X = np.sqrt(0.47) * line + np.sqrt(0.08) * group[true // per_group] + np.sqrt(0.10) * voice[true] + np.sqrt(0.35) * noise
    return X / np.linalg.norm(X, axis=1, keepdims=True), true


def test_a_measured_level_keeps_long_segments_from_cascading_into_one_cluster():
    """With the level measured on telephone speech (MeasuredImpostor) a cluster of long segments
    keeps its within similarity at least at its prior, so the merge does not cascade through a
    group of alike voices; the same level as a plain number (the wideband path) does cascade.
    One-second clips are merged as before (their within similarity does vary)."""
    from speakerid_gui.core.cluster.same_speaker import MeasuredImpostor, merge_same_speaker
    from speakerid_gui.core.evaluate.metrics import hungarian_accuracy

    plain, measured = [], []
    for seed in (0, 2, 3):
        X, true = _voices_in_groups(seed)
        level = corpus_impostor(X, IMPOSTOR_COSINE["campp"])
        assert isinstance(level, MeasuredImpostor) and 0.46 <= level <= 0.48
        pairs = np.arange(len(X)) // 2  # a first cut: pairs of one voice's segments
        long_ = np.full(len(X), 3.0)
        plain.append(hungarian_accuracy(true, merge_same_speaker(X, pairs, float(level), durations=long_)))
        measured.append(hungarian_accuracy(true, merge_same_speaker(X, pairs, level, durations=long_)))
        short = np.full(len(X), 0.6)
        assert np.array_equal(merge_same_speaker(X, pairs, level, durations=short),
                              merge_same_speaker(X, pairs, float(level), durations=short))
    assert np.mean(measured) >= 0.85 and all(m >= p for m, p in zip(measured, plain)), (plain, measured)
    assert np.mean(plain) <= 0.7, plain  # the cascade this guards against
