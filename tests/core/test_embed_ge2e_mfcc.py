"""GE2E and MFCC backends on real speech: shapes, determinism, speaker separation, short clips."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from speakerid_gui.core.audio.decode import SAMPLE_RATE, load_audio, resample
from speakerid_gui.core.embed import BackendUnavailable, backend_names, get_backend
from speakerid_gui.core.embed import ge2e, mfcc
from testdata import need

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
LIBRI = DATA / "librispeech-test-other"
FSDD = DATA / "fsdd-subset"
WINDOW = 3 * SAMPLE_RATE


def _manifest(folder: Path) -> list[dict]:
    with open(need(folder / "manifest.csv"), newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def windows():
    """3 s windows from 2 utterances each of 4 speakers -> (waves, speaker labels)."""
    by_speaker: dict[str, list[str]] = {}
    for row in _manifest(LIBRI):
        if float(row["duration_s"]) >= 4.0:
            by_speaker.setdefault(row["speaker"], []).append(row["path"])
    waves, labels = [], []
    for speaker in sorted(by_speaker)[:4]:
        for path in sorted(by_speaker[speaker])[:2]:
            wave = load_audio(LIBRI / path)
            waves.append(wave[SAMPLE_RATE // 2:SAMPLE_RATE // 2 + WINDOW])  # skip the leading pause
            labels.append(speaker)
    assert len(set(labels)) == 4 and len(waves) == 8
    return waves, np.array(labels)


@pytest.fixture(scope="module")
def ge2e_backend():
    try:
        return get_backend("ge2e")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def mfcc_backend():
    return get_backend("mfcc")


def _same_minus_different(emb: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sims = unit @ unit.T
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    return sims[same & off_diagonal].mean(), sims[~same].mean()


# --- feature pieces -------------------------------------------------------------------------

def test_registered():
    assert {"ge2e", "mfcc"} <= set(backend_names())


def test_slaney_mel_scale_formula():
    # Linear 200/3 Hz per mel up to 1 kHz (= mel 15), then 27 mels per factor 6.4.
    assert mfcc.hz_to_mel(1000.0) == pytest.approx(15.0)
    assert mfcc.hz_to_mel(500.0) == pytest.approx(7.5)
    assert mfcc.hz_to_mel(6400.0) == pytest.approx(15.0 + 27.0)
    freqs = np.array([0.0, 60.0, 999.0, 1000.0, 3210.0, 8000.0])
    assert np.allclose(mfcc.mel_to_hz(mfcc.hz_to_mel(freqs)), freqs)


def test_mel_filterbank_matches_formula():
    fb = mfcc.mel_filterbank(16000, 400, 40)
    assert fb.shape == (40, 201)
    # Band edges evenly spaced in Slaney mels from 0 to 8 kHz; triangles scaled by 2/width.
    max_mel = 15.0 + np.log(8.0) / (np.log(6.4) / 27.0)
    edges = [float(mfcc.mel_to_hz(m)) for m in np.linspace(0.0, max_mel, 42)]
    bins = np.arange(201) * 40.0
    for band in (0, 7, 20, 39):
        left, centre, right = edges[band:band + 3]
        tri = np.clip(np.minimum((bins - left) / (centre - left), (right - bins) / (right - centre)), 0, None)
        assert np.allclose(fb[band], tri * 2.0 / (right - left), atol=1e-12)
    # First band by hand: edges 0, 73.57, 147.14 Hz; at 40 Hz the weight is 40/73.57 * 2/147.14.
    assert fb[0, 1] == pytest.approx((40 / 73.5706) * 2 / 147.1412, rel=1e-4)
    # Every band is non-empty and the centres rise.
    assert (fb.max(axis=1) > 0).all()
    assert (np.diff(fb.argmax(axis=1)) >= 0).all()


def test_mel_filterbank_matches_transformers_slaney():
    audio_utils = pytest.importorskip("transformers.audio_utils")
    ref = audio_utils.mel_filter_bank(num_frequency_bins=201, num_mel_filters=40, min_frequency=0.0,
                                      max_frequency=8000.0, sampling_rate=16000, norm="slaney",
                                      mel_scale="slaney")
    assert np.allclose(mfcc.mel_filterbank(16000, 400, 40), ref.T, atol=1e-12)


def test_ge2e_mel_spectrogram_frames_and_peak():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    mel = ge2e.mel_spectrogram(tone)
    assert mel.shape == (1 + SAMPLE_RATE // 160, 40) and mel.dtype == np.float32
    centres = mfcc.mel_to_hz(np.linspace(0, mfcc.hz_to_mel(8000.0), 42))[1:-1]
    assert mel[50].argmax() == np.abs(centres - 1000.0).argmin()  # power lands in the 1 kHz band
    # Power (not log) spectrum: twice the amplitude is four times the value.
    assert np.allclose(ge2e.mel_spectrogram(2 * tone), 4 * mel, rtol=1e-4)


def test_partial_windows_cover_the_segment():
    assert ge2e.partial_starts(90) == [0]
    assert ge2e.partial_starts(160) == [0]
    assert ge2e.partial_starts(301) == [0, 80, 141]
    assert ge2e.partial_starts(320) == [0, 80, 160]


def test_volume_normalisation_only_boosts():
    rng = np.random.default_rng(1)
    quiet = (0.001 * rng.standard_normal(16000)).astype(np.float32)
    boosted = ge2e.normalize_volume(quiet)
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(boosted.astype(np.float64) ** 2)))
    assert rms_dbfs == pytest.approx(-30.0, abs=0.01)
    loud = 0.5 * quiet / np.abs(quiet).max()
    assert ge2e.normalize_volume(loud) is loud
    silent = np.zeros(100, np.float32)
    assert not ge2e.normalize_volume(silent).any()


def test_mfcc_short_and_silent_inputs_are_finite(mfcc_backend):
    rng = np.random.default_rng(2)
    waves = [np.zeros(8000, np.float32), (0.1 * rng.standard_normal(200)).astype(np.float32)]
    emb = mfcc_backend.embed(waves)
    assert emb.shape == (2, 88) == (2, len(mfcc.FEATURE_NAMES))
    assert np.isfinite(emb).all()


# --- backends on real speech ----------------------------------------------------------------

@pytest.mark.parametrize("name, dim", [("ge2e", 256), ("mfcc", 88)])
def test_shapes(name, dim, windows, request):
    backend = request.getfixturevalue(f"{name}_backend")
    assert backend.name == name and backend.dim == dim
    emb = backend.embed(windows[0])
    assert emb.shape == (8, dim) and emb.dtype == np.float32
    assert np.isfinite(emb).all()
    assert backend.embed([]).shape == (0, dim)


def test_ge2e_unit_norm(ge2e_backend, windows):
    emb = ge2e_backend.embed(windows[0])
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert (emb >= 0).all()  # ReLU before the norm


@pytest.mark.parametrize("name", ["ge2e", "mfcc"])
def test_deterministic_and_batch_independent(name, windows, request):
    backend = request.getfixturevalue(f"{name}_backend")
    waves = list(windows[0])
    # Mixed lengths: shorter than one partial, between one and two, and the 3 s windows.
    waves += [waves[0][:SAMPLE_RATE], waves[3][:int(2.3 * SAMPLE_RATE)], waves[5][:5000]]
    first = backend.embed(waves)
    assert np.array_equal(first, backend.embed(waves))

    order = np.random.default_rng(3).permutation(len(waves))
    shuffled = backend.embed([waves[i] for i in order])
    assert np.allclose(shuffled, first[order], atol=1e-5)

    if name == "ge2e":
        small = ge2e.Ge2eBackend.__new__(ge2e.Ge2eBackend)
        small.network, small.batch_size, small.workers = backend.network, 2, 2  # same weights, tiny batches
        assert np.allclose(small.embed(waves), first, atol=1e-5)
    one_by_one = np.concatenate([backend.embed([w]) for w in waves])
    assert np.allclose(one_by_one, first, atol=1e-5)


def test_ge2e_clips_of_many_lengths_batched_as_each_alone(ge2e_backend, windows):
    # Short clips all differ in length: they share packed LSTM batches, which must give what
    # each clip gives alone.
    waves = [w[:int(SAMPLE_RATE * (0.3 + 0.1 * k))] for k, w in enumerate(list(windows[0]) * 2)][:12]
    together = ge2e_backend.embed(waves)
    alone = np.concatenate([ge2e_backend.embed([w]) for w in waves])
    assert np.allclose(together, alone, atol=1e-5)
    assert len({len(w) for w in waves}) == 12


def test_ge2e_same_speaker_closer(ge2e_backend, windows):
    waves, labels = windows
    same, different = _same_minus_different(ge2e_backend.embed(waves), labels)
    assert same > different


def test_mfcc_same_speaker_closer_after_standardising(mfcc_backend, windows):
    waves, labels = windows
    emb = mfcc_backend.embed(waves).astype(np.float64)
    emb = (emb - emb.mean(axis=0)) / (emb.std(axis=0) + 1e-9)
    same, different = _same_minus_different(emb, labels)
    assert same > different


@pytest.mark.parametrize("name", ["ge2e", "mfcc"])
def test_short_8khz_clips(name, request):
    import soundfile as sf

    backend = request.getfixturevalue(f"{name}_backend")
    rows = _manifest(FSDD)
    long_enough = [r for r in rows if float(r["duration_s"]) >= 0.5][:4]
    shortest = sorted(rows, key=lambda r: float(r["duration_s"]))[:2]
    waves = [load_audio(FSDD / r["path"]) for r in long_enough]
    for r in shortest:  # below load_audio's 0.5 s minimum: decode and resample directly
        data, sr = sf.read(str(FSDD / r["path"]), dtype="float32")
        assert sr == 8000
        waves.append(resample(data, sr))
    assert min(len(w) for w in waves) < 0.5 * SAMPLE_RATE
    emb = backend.embed(waves)
    assert emb.shape == (len(waves), backend.dim)
    assert np.isfinite(emb).all()
    if name == "ge2e":
        assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def _torch_encoder():
    """The reference: resemblyzer's VoiceEncoder network in torch (its own attribute names, so the
    checkpoint loads strictly), run on packed sequences as the backend did before ONNX Runtime."""
    import torch
    from torch import nn

    from speakerid_gui.core.embed import ge2e_onnx
    from speakerid_gui.core.wheel_files import shipped_file

    class VoiceEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)
            self.relu = nn.ReLU()

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            raw = self.relu(self.linear(hidden[-1]))
            return raw / raw.norm(dim=1, keepdim=True)

    model = VoiceEncoder()
    state = ge2e_onnx.state_dict(shipped_file("resemblyzer", "pretrained.pt"))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return model.eval()


def test_ge2e_graph_is_the_checkpoint_network(ge2e_backend, windows):
    import torch
    from torch.nn.utils.rnn import pack_sequence

    waves = [w[: int(SAMPLE_RATE * (0.4 + 0.2 * k))] for k, w in enumerate(windows[0])] + list(windows[0][:2])
    mels = sorted((ge2e.mel_spectrogram(ge2e.normalize_volume(w))[: ge2e.PARTIAL] for w in waves), key=len, reverse=True)
    assert len({len(m) for m in mels}) >= 7  # partials of many lengths share one padded batch
    with torch.inference_mode():
        expected = _torch_encoder()(pack_sequence([torch.from_numpy(m) for m in mels])).numpy()
    got = ge2e_backend.network(mels)
    assert got.shape == (len(mels), 256)
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(ge2e_backend.network(mels[-1:]) - expected[-1:]).max() < 1e-5  # alone: the same


def test_ge2e_graph_built_in_memory_without_a_cache(monkeypatch, tmp_path, windows):
    from speakerid_gui.core.embed import ge2e_onnx
    from speakerid_gui.core.wheel_files import shipped_file

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("SPEAKERID_GUI_CACHE", str(blocked / "cache"))  # cannot be created
    assert isinstance(ge2e_onnx.graph(shipped_file("resemblyzer", "pretrained.pt")), bytes)
    backend = ge2e.Ge2eBackend()
    assert np.allclose(backend.embed(windows[0][:2]), get_backend("ge2e").embed(windows[0][:2]), atol=1e-6)


def test_ge2e_graph_kept_damaged_is_written_again(monkeypatch, tmp_path, windows):
    from speakerid_gui.core.embed import ge2e_onnx
    from speakerid_gui.core.wheel_files import shipped_file

    monkeypatch.setenv("SPEAKERID_GUI_CACHE", str(tmp_path))
    kept = ge2e_onnx.graph_file(shipped_file("resemblyzer", "pretrained.pt"))
    kept.write_bytes(b"half a graph")  # as a crash or another tool could leave it
    backend = ge2e.Ge2eBackend()
    assert kept.stat().st_size > 1_000_000  # written again, whole
    assert np.allclose(backend.embed(windows[0][:2]), get_backend("ge2e").embed(windows[0][:2]), atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]  # no temporary file left
