"""CAM++'s frame network through ONNX Runtime (embed/campp_onnx.py) against torch, on real speech."""
from __future__ import annotations

import numpy as np
import pytest

from coredata import LIBRI, pick_libri
from speakerid_gui.core.audio.decode import SAMPLE_RATE, load_audio
from speakerid_gui.core.embed import campp_onnx, embed_segments
from speakerid_gui.core.embed.campp import CamppBackend
from speakerid_gui.core.audio.segment import SegmentSettings, windows

pytestmark = pytest.mark.skipif(not campp_onnx.available(), reason="onnxruntime is not installed")


def test_runtime_choice(monkeypatch):
    monkeypatch.delenv(campp_onnx.RUNTIME_ENV, raising=False)
    assert campp_onnx.wanted("auto", bf16=False)
    assert not campp_onnx.wanted("auto", bf16=True)  # torch's bf16 autocast is the fast path there
    assert not campp_onnx.wanted("torch", bf16=False)
    monkeypatch.setenv(campp_onnx.RUNTIME_ENV, "torch")
    assert not campp_onnx.wanted("onnx", bf16=False)
    monkeypatch.setenv(campp_onnx.RUNTIME_ENV, "cuda")
    with pytest.raises(ValueError, match="runtime"):
        campp_onnx.wanted("auto", bf16=False)


@pytest.fixture(scope="module")
def backends():
    return (CamppBackend(precision="float32", runtime="torch"),
            CamppBackend(precision="float32", runtime="onnx"))


@pytest.fixture(scope="module")
def waves():
    rows = pick_libri(n_speakers=3, per_speaker=1, min_s=8.0, max_s=20.0)
    return [load_audio(LIBRI / row["path"]) for row in rows]


def cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.slow
def test_onnx_gives_the_torch_embeddings(backends, waves):
    torch_b, onnx_b = backends
    assert torch_b.frames_onnx is None and onnx_b.frames_onnx is not None
    assert onnx_b.frames_onnx.path.exists()
    # whole clips of several lengths (the short-clip path, incl. one under a window)
    clips = [waves[0][: int(1.1 * SAMPLE_RATE)], waves[1][: 3 * SAMPLE_RATE], waves[2]]
    a, b = torch_b.embed(clips), onnx_b.embed(clips)
    assert cosines(a, b).min() > 0.99999
    # overlapping windows sharing the frame network (the long-file path)
    spans = [windows([(0.0, len(w) / SAMPLE_RATE)], SegmentSettings()) for w in waves]
    a = embed_segments(torch_b, waves, spans, "")
    b = embed_segments(onnx_b, waves, spans, "")
    assert a.shape == b.shape == (sum(map(len, spans)), 192)
    assert cosines(a, b).min() > 0.99999
    # and a different speaker is not: the comparison can fail
    assert cosines(a[:1], b[-1:]).max() < 0.9


@pytest.mark.slow
def test_a_second_backend_reuses_the_exported_graph(backends):
    _, onnx_b = backends
    stamp = onnx_b.frames_onnx.path.stat().st_mtime_ns
    again = CamppBackend(precision="float32", runtime="onnx")
    assert again.frames_onnx.path == onnx_b.frames_onnx.path
    assert again.frames_onnx.path.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_no_cache_folder_to_export_into_falls_back_to_torch(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SPEAKERID_GUI_CACHE", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="CAM\\+\\+ runs in torch"):
        backend = CamppBackend(precision="float32", runtime="onnx")
    assert backend.frames_onnx is None
    assert backend.embed([np.zeros(SAMPLE_RATE, np.float32) + 0.01]).shape == (1, 192)


def test_an_onnx_run_needs_no_torch_module_and_its_dense_layer_is_the_modules(backends, waves, tmp_path, monkeypatch):
    """With the graph and the dense layer's weights in the cache, an ONNX Runtime backend never
    builds the torch module (0.3 s of each run's start); its dense layer from the kept weights
    gives what the module's gives. A cache holding only the graph (an older one) gets the
    weights written once."""
    import torch

    from speakerid_gui.core.embed.campp_frames import pool_and_project

    torch_b, onnx_b = backends
    fresh = CamppBackend(precision="float32", runtime="onnx")
    assert fresh.frames_onnx is not None and fresh._model is None
    fresh.embed([waves[0][: 3 * SAMPLE_RATE]])
    assert fresh._model is None  # embedding did not build it either
    stats = torch.randn(5, 1024, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        want = torch_b.model.xvector.dense(stats).numpy()
    # float32 sums of 1024 products in another order: outputs up to ~5 differ by up to 2e-5
    np.testing.assert_allclose(fresh.frames_onnx.dense(stats.numpy()), want, rtol=1e-5, atol=1e-5)
    # pooling: mean and unbiased std over a window's frames, as CAM++'s StatsPool
    frames = np.random.default_rng(1).standard_normal((3, 512, 7)).astype(np.float32)
    with torch.inference_mode():
        pooled = torch_b.model.xvector.stats(torch.from_numpy(frames))
        want = torch_b.model.xvector.dense(pooled).numpy()
    got = pool_and_project(fresh.frames_onnx.dense, list(frames))
    assert got.shape == (3, 192) and np.abs(got - want).max() < 1e-4
    monkeypatch.setenv("SPEAKERID_GUI_CACHE", str(tmp_path))  # a cache with the graph only
    graph = campp_onnx.graph_file(fresh.weights)
    graph.write_bytes(onnx_b.frames_onnx.path.read_bytes())
    again = CamppBackend(precision="float32", runtime="onnx")
    assert campp_onnx.dense_file(fresh.weights).exists() and again._model is not None  # built once to write it


@pytest.mark.slow
def test_a_damaged_kept_graph_is_exported_again(tmp_path, monkeypatch, backends, waves):
    _, onnx_b = backends
    monkeypatch.setenv("SPEAKERID_GUI_CACHE", str(tmp_path))
    graph = campp_onnx.graph_file(onnx_b.weights)
    graph.write_bytes(b"half a graph")  # as a crash or another tool could leave it
    again = CamppBackend(precision="float32", runtime="onnx")
    assert again.frames_onnx is not None and graph.stat().st_size > 1_000_000
    one = [waves[0][: 3 * SAMPLE_RATE]]
    assert np.abs(again.embed(one) - onnx_b.embed(one)).max() < 1e-4
