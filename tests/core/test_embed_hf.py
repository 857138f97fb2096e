"""Transformers backends (AST, Whisper encoder, WavLM x-vector) on tiny models built from configs
(random weights, fixed seed, saved to a temporary folder: nothing is downloaded), and the
fallback to the default backend when a model is not available locally."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: the backends never ask the hub anyway
transformers = pytest.importorskip("transformers")

from coredata import run_cli  # noqa: E402
from speakerid_gui.core.embed import BackendUnavailable, backend_names, get_backend  # noqa: E402

SR = 16000
KINDS = ["ast", "ast-mean", "whisper", "wavlm-layer", "wavlm-group"]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """name -> backend spec of a tiny random model saved with save_pretrained."""
    import torch
    from transformers import (ASTConfig, ASTFeatureExtractor, ASTModel, Wav2Vec2FeatureExtractor, WavLMConfig,
                              WavLMForXVector, WhisperConfig, WhisperFeatureExtractor, WhisperModel)

    root = tmp_path_factory.mktemp("tiny_hf")
    torch.manual_seed(0)
    # AST: 300 fbank frames (3 s) instead of 1024 keeps it small; the extractor must agree.
    ast = root / "ast"
    ASTModel(ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       max_length=300)).save_pretrained(ast)
    ASTFeatureExtractor(max_length=300).save_pretrained(ast)
    # Whisper: real 30 s / 80-mel front end, a 2-layer 32-wide encoder.
    whisper = root / "whisper"
    WhisperModel(WhisperConfig(d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                               decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=100,
                               pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
                               max_target_positions=32)).save_pretrained(whisper)
    WhisperFeatureExtractor().save_pretrained(whisper)
    specs = {"ast": f"ast:model={ast}", "ast-mean": f"ast:model={ast},pool=mean", "whisper": f"whisper:model={whisper}"}
    # WavLM x-vector, with layer-normalised convolutions (padded batches) and with group norm
    # (wavlm-base-plus-sv's choice: equal-length batches only). initializer_range 0.3 keeps the
    # random network's outputs well away from zero, so relative tolerances mean something.
    for norm in ("layer", "group"):
        folder = root / f"wavlm-{norm}"
        WavLMForXVector(WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                                    tdnn_dim=(32, 32, 32, 32, 64), xvector_output_dim=24, feat_extract_norm=norm,
                                    do_stable_layer_norm=norm == "layer", use_weighted_layer_sum=True,
                                    initializer_range=0.3)).save_pretrained(folder)
        Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True).save_pretrained(folder)
        specs[f"wavlm-{norm}"] = f"wavlm:model={folder}"
    return specs


@pytest.fixture(scope="module")
def backends(tiny_models):
    return {kind: get_backend(spec, threads=1) for kind, spec in tiny_models.items()}


def voice(seconds: float, f0: float, seed: int) -> np.ndarray:
    """A harmonic tone with noise: distinct, deterministic test waves."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8)) * 0.1
    return (wave + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


WAVES = [voice(s, f0, i) for i, (s, f0) in enumerate([(1.0, 110), (3.0, 140), (3.0, 190), (1.7, 230), (0.6, 170),
                                                      (2.4, 125)])]


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b).max(axis=1) / np.abs(b).max(axis=1)).max())


def test_registered():
    assert {"ast", "whisper", "wavlm"} <= set(backend_names())


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_dims_and_distinct_rows(backends, kind):
    b = backends[kind]
    assert b.dim == (24 if kind.startswith("wavlm") else 32)
    emb = b.embed(WAVES)
    assert emb.shape == (len(WAVES), b.dim) and emb.dtype == np.float32
    assert np.all(np.isfinite(emb))
    assert np.linalg.norm(emb, axis=1).min() > 1e-3
    # different inputs give different rows (nothing collapsed or shared across the batch)
    assert min(np.abs(emb[i] - emb[j]).max() for i in range(len(emb)) for j in range(i)) > 1e-4
    assert b.embed([]).shape == (0, b.dim)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_equals_one_at_a_time(backends, kind):
    """Mixed lengths in one call: padding (or grouping) must not leak into any row."""
    b = backends[kind]
    batched = b.embed(WAVES)
    alone = np.vstack([b.embed([w]) for w in WAVES])
    assert _rel_diff(batched, alone) < 1e-4
    reordered = b.embed(WAVES[::-1])[::-1]
    assert _rel_diff(reordered, alone) < 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_across_calls_and_loads(tiny_models, backends, kind):
    first = backends[kind].embed(WAVES[:3])
    np.testing.assert_array_equal(backends[kind].embed(WAVES[:3]), first)
    reloaded = get_backend(tiny_models[kind], threads=1)
    np.testing.assert_allclose(reloaded.embed(WAVES[:3]), first, rtol=1e-5, atol=1e-6)


def test_whisper_pools_only_the_frames_covering_the_audio(backends):
    """Whisper pads every input to 30 s. The pooled vector is the mean of the encoder frames
    that cover the wave (ceil(samples / 320)) and not of the 1500 frames of the padded input."""
    w = backends["whisper"]
    assert [w.valid_frames(n) for n in (1, 320, 321, SR, 3 * SR, 30 * SR, 40 * SR)] == [1, 1, 2, 50, 150, 1500, 1500]
    wave = WAVES[1]  # 3 s -> 150 of 1500 frames
    hidden = w.encode([wave])[0].numpy()
    emb = w.embed([wave])[0]
    np.testing.assert_allclose(emb, hidden[:150].mean(axis=0), rtol=1e-5, atol=1e-6)
    # the padded frames are not silence to the encoder: pooling them would change the vector a lot
    all_frames = hidden.mean(axis=0)
    assert np.linalg.norm(emb - all_frames) > 0.2 * np.linalg.norm(emb)
    # The zeros Whisper pads with are the same zeros one could append by hand: the encoder sees
    # an identical input, and only the count of frames that hold audio differs.
    padded_by_hand = np.concatenate([wave, np.zeros(2 * SR, np.float32)])
    np.testing.assert_allclose(w.encode([padded_by_hand])[0].numpy(), hidden, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w.embed([padded_by_hand])[0], hidden[:250].mean(axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["whisper", "ast"])
def test_long_waves_are_cut_and_averaged(backends, kind):
    """A wave longer than the model's input is embedded in pieces, averaged by length."""
    b = backends[kind]
    n = b.max_samples
    long = np.concatenate([WAVES[1], WAVES[2]] * (1 + n // (len(WAVES[1]) * 2)))[:n + n // 3]
    first, rest = long[:n], long[n:]
    expected = (b.embed([first])[0] * len(first) + b.embed([rest])[0] * len(rest)) / len(long)
    np.testing.assert_allclose(b.embed([long])[0], expected, rtol=1e-4, atol=1e-5)


def test_wavlm_matches_transformers_on_a_single_wave(tiny_models, backends):
    """Our pooling (true frame counts) equals WavLMForXVector's own forward when nothing is padded."""
    import torch
    from transformers import WavLMForXVector

    for kind in ("wavlm-layer", "wavlm-group"):
        b = backends[kind]
        model = WavLMForXVector.from_pretrained(tiny_models[kind].split("model=", 1)[1]).eval()
        wave = WAVES[3]
        with torch.inference_mode():
            inputs = b.extractor([wave], sampling_rate=SR, return_tensors="pt")["input_values"]
            theirs = model(inputs).embeddings.numpy()
        assert _rel_diff(b.embed([wave]), theirs) < 1e-4


@pytest.mark.parametrize("kind", ["ast", "whisper", "wavlm"])
def test_unavailable_model_says_how_to_get_it(kind, tmp_path):
    with pytest.raises(BackendUnavailable) as info:
        get_backend(f"{kind}:model=speakerid-tests/no-such-model")
    message = str(info.value)
    assert "huggingface-cli download speakerid-tests/no-such-model" in message
    assert f"--backend {kind}:model=/path/to/folder" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BackendUnavailable, match="no local copy"):
        get_backend(kind, model=str(empty))
    with pytest.raises(BackendUnavailable, match="model folder .* not found"):
        get_backend(f"{kind}:model={tmp_path / 'missing'}")


@pytest.mark.slow
def test_pipeline_falls_back_to_campp_with_a_warning(project_copy, session_project, tmp_path):
    from speakerid_gui.core.pipeline import Settings, embeddings, run
    from speakerid_gui.core.project.store import Project

    (tmp_path / "no-model").mkdir()
    settings = Settings(backend=f"whisper:model={tmp_path / 'no-model'}", layout="pca")
    project = Project.open(project_copy)
    try:
        events = list(run(project, settings))
        warnings = [e for e in events if e.level == "warning"]
        assert len(warnings) == 1 and warnings[0].stage == "analyse"
        assert "whisper" in warnings[0].message and "Using campp instead" in warnings[0].message
        assert "huggingface-cli download" in warnings[0].message
        assert settings.backend == "campp"
        assert project.get_meta("settings")["backend"] == "campp"
        # the session project was analysed with CAM++: its caches serve, nothing is re-embedded
        assert ("analyse", "all recordings already analysed") in {(e.stage, e.message) for e in events}
        emb = embeddings(project)
    finally:
        project.close()
    original = Project.open(session_project.folder)
    try:
        np.testing.assert_array_equal(emb, embeddings(original))
    finally:
        original.close()


@pytest.mark.slow
def test_cli_reports_the_fallback_as_a_warning(project_copy, session_project):
    proc = run_cli("run", session_project.audio, "--project", project_copy, "--backend",
                   "wavlm:model=speakerid-tests/no-such-model", "--layout", "pca", "--quiet", check=True)
    assert "warning: backend wavlm:model=speakerid-tests/no-such-model unavailable" in proc.stderr
    assert "skipped backend" not in proc.stderr
    assert "files: 12 ok" in proc.stdout
