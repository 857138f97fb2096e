"""CAM++ windows pooled from one pass of the frame network (embed/campp_frames.py), and precision."""
from __future__ import annotations

import numpy as np
import pytest

from coredata import LIBRI, pick_libri
from speakerid_gui.core.audio.decode import SAMPLE_RATE, load_audio
from speakerid_gui.core.embed import campp as campp_module
from speakerid_gui.core.embed import embed_segments
from speakerid_gui.core.embed.campp_frames import chunks, frame_range
from speakerid_gui.core.audio.segment import SegmentSettings, windows


def test_chunks_hold_their_windows_and_respect_the_length():
    spans = windows([(0.0, 20.0), (25.0, 26.2), (30.0, 34.0)], SegmentSettings())
    got = chunks(spans, 8.0)
    seen = sorted(i for _, _, idx in got for i in idx)
    assert seen == list(range(len(spans)))
    for c0, c1, idx in got:
        assert c1 - c0 <= 8.0 + 1e-6
        for i in idx:
            assert c0 <= spans[i][0] and spans[i][1] <= c1
    # separate regions never share a chunk
    assert not any(c0 < 25.0 < c1 or c0 < 30.0 < c1 for c0, c1, _ in got)
    # one chunk per window when sharing is as short as a window
    assert len(chunks(spans, 3.0)) == len(spans)


def test_frame_range_of_a_window_that_is_its_chunk_is_every_frame():
    # 3 s = 298 fbank frames -> 149 frames after the stride-2 layer
    assert frame_range(0.0, 3.0, 0.0, 149) == (0, 149)
    assert frame_range(1.5, 4.5, 0.0, 224) == (75, 224)
    lo, hi = frame_range(10.0, 13.0, 0.0, 300)  # clipped to the chunk
    assert hi == 300 and hi - lo == 149


def test_auto_precision_follows_the_cpu_and_the_environment(monkeypatch):
    monkeypatch.delenv(campp_module.FLOAT32_ENV, raising=False)
    monkeypatch.setattr(campp_module, "_cpu_flags", lambda: "flags : fpu avx2 avx512f avx512_bf16")
    assert campp_module.cpu_has_bf16() and not campp_module.use_bf16("auto")  # AVX-512 bf16 alone: float32
    monkeypatch.setattr(campp_module, "_cpu_flags", lambda: "flags : fpu avx2 avx512_bf16 amx_bf16 amx_tile")
    assert campp_module.use_bf16("auto")
    monkeypatch.setenv(campp_module.FLOAT32_ENV, "1")
    assert not campp_module.use_bf16("auto")
    assert campp_module.use_bf16("bf16")
    assert not campp_module.use_bf16("float32")
    with pytest.raises(ValueError, match="precision"):
        campp_module.use_bf16("fp8")


# ---------------------------------------------------------------- on real speech

@pytest.fixture(scope="module")
def backend():
    from speakerid_gui.core.embed import BackendUnavailable, get_backend

    try:
        return get_backend("campp", precision="float32")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def recordings():
    rows = pick_libri(n_speakers=3, per_speaker=1, min_s=10.0, max_s=20.0)
    waves = [load_audio(LIBRI / row["path"]) for row in rows]
    spans = [windows([(0.2, len(w) / SAMPLE_RATE - 0.2)], SegmentSettings()) for w in waves]
    return waves, spans, [row["speaker"] for row in rows]


@pytest.mark.slow
def test_a_lone_window_is_embedded_exactly_as_before(backend, recordings):
    waves, _, _ = recordings
    short = [waves[0][: int(1.3 * SAMPLE_RATE)], waves[1][:SAMPLE_RATE], waves[2][: SAMPLE_RATE + 90]]
    spans = [[(0.0, len(w) / SAMPLE_RATE)] for w in short]
    assert np.abs(backend.embed_spans(short, spans) - backend.embed(short)).max() < 1e-4
    # samples past the last whole fbank frame are never read: 16000 and 16090 share a batch
    import torch

    from speakerid_gui.core.embed.fbank import fbank

    feats = fbank(short[2])
    with torch.inference_mode():
        direct = backend.model(torch.from_numpy(feats - feats.mean(axis=1, keepdims=True))).numpy()
    assert np.abs(backend.embed(short)[2] - direct[0]).max() < 1e-4


@pytest.mark.slow
def test_shared_frames_stay_close_to_per_window_embeddings(backend, recordings, monkeypatch):
    waves, spans, speakers = recordings
    shared = embed_segments(backend, waves, spans)
    monkeypatch.setattr(backend, "context", 0.0)
    alone = embed_segments(backend, waves, spans)
    cuts = [w[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)] for w, s in zip(waves, spans) for a, b in s]
    assert np.abs(alone - backend.embed(cuts)).max() < 1e-4  # context=0 is the per-window way
    assert shared.shape == alone.shape == (sum(map(len, spans)), 192)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    cos = (unit(shared) * unit(alone)).sum(axis=1)
    assert cos.min() > 0.85 and cos.mean() > 0.95
    # each shared-frame window is nearest to its own speaker's per-window embeddings
    labels = np.repeat(speakers, [len(s) for s in spans])
    nearest = (unit(shared) @ unit(alone).T).argmax(axis=1)
    assert np.all(labels[nearest] == labels)


@pytest.mark.slow
def test_shared_frames_do_not_depend_on_batching_or_other_files(backend, recordings, monkeypatch):
    waves, spans, _ = recordings
    together = embed_segments(backend, waves, spans)
    n0 = len(spans[0])
    alone = embed_segments(backend, waves[:1], spans[:1])
    assert np.abs(together[:n0] - alone).max() < 1e-4
    monkeypatch.setattr(backend, "batch_size", 1)
    assert np.abs(embed_segments(backend, waves, spans) - together).max() < 1e-4


@pytest.mark.slow
def test_cleaned_segments_are_cut_and_embedded_one_by_one(backend, recordings):
    waves, spans, _ = recordings
    got = embed_segments(backend, waves[:1], spans[:1], clean="trim")
    from speakerid_gui.core.audio.clean import segment_waves

    assert np.abs(got - backend.embed(segment_waves(waves[0], spans[0], "trim"))).max() < 1e-4


def test_fbank_is_kaldis_recipe_frame_by_frame(recordings):
    """numpy fbank (float32, batched) against Kaldi's recipe written out per frame in float64:
    DC removed, pre-emphasis 0.97 (first sample against itself), Povey window, 512-point power
    spectrum, mel filters, log. It is computed in float64 too: only the final rounding differs."""
    from speakerid_gui.core.embed import fbank as fb

    wave = recordings[0][0][: 2 * SAMPLE_RATE].astype(np.float64) * 32768
    got = fb.fbank(np.stack([recordings[0][0][: 2 * SAMPLE_RATE]] * 2))
    povey = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399)) ** 0.85
    rows = []
    for start in range(0, len(wave) - 400 + 1, 160):
        frame = wave[start:start + 400] - wave[start:start + 400].mean()
        frame = np.concatenate([[frame[0] * 0.03], frame[1:] - 0.97 * frame[:-1]]) * povey
        power = np.abs(np.fft.rfft(frame, 512)) ** 2
        rows.append(np.log(np.maximum(power @ fb._mel_banks(80).astype(np.float64), np.finfo(np.float32).eps)))
    assert got.shape == (2, len(rows), 80) and np.array_equal(got[0], got[1])
    assert np.abs(got[0] - np.array(rows)).max() < 1e-5
