"""Joint embeddings: the spec syntax, the backend on real speech, and joint:campp+mfcc in the
pipeline on the session project (assembled from each part's own cache, per-block centring)."""
from __future__ import annotations

import numpy as np
import pytest

from coredata import LIBRI, pick_libri, run_cli
from speakerid_gui.core.embed import get_backend, parse_spec, spec_slug
from speakerid_gui.core.embed.joint import block_centres, combine, is_joint, parts_of

SR = 16000


def test_spec_syntax():
    assert parse_spec("campp") == ("campp", {})
    assert parse_spec("whisper:model=/m/w,batch_size=4") == ("whisper", {"model": "/m/w", "batch_size": 4})
    assert is_joint("joint:campp=1,mfcc=0.3") and not is_joint("campp")
    assert parts_of("joint:campp=1,mfcc=0.3") == [("campp", 1.0), ("mfcc", 0.3)]
    assert parts_of("joint:campp=1,whisper=0.5,whisper.model=/m/w") == [("campp", 1.0), ("whisper:model=/m/w", 0.5)]
    for bad, why in [("joint:", "needs parts"), ("joint:campp=-1", ">= 0"), ("joint:campp=x", "a number"),
                     ("joint:campp=1,whisper.model=/m", "not a part"), ("joint:joint=1", "cannot contain"),
                     ("joint:campp", "KEY=VALUE")]:
        with pytest.raises(ValueError, match=why):
            parts_of(bad)
    # names that go into cache folders and array files stay plain or become safe
    assert spec_slug("campp") == "campp"
    slug = spec_slug("whisper:model=/models/whisper-base")
    assert slug.startswith("whisper-") and "/" not in slug and ":" not in slug
    assert spec_slug("joint:campp=1,mfcc=0.3") != spec_slug("joint:campp=1,mfcc=0.5")


def test_combine_blocks():
    rng = np.random.default_rng(0)
    a, b = rng.normal(3.0, 1.0, (50, 4)), rng.normal(-2.0, 1.0, (50, 3))
    out = combine([a, b], [1.0, 0.5], block_centres([a, b]))
    assert out.shape == (50, 7)
    np.testing.assert_allclose(np.linalg.norm(out[:, :4], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out[:, 4:], axis=1), 0.5, rtol=1e-5)
    # centred: the shared offset of each block is gone
    assert np.linalg.norm(out[:, :4].mean(axis=0)) < 0.3
    assert np.linalg.norm(combine([a], [1.0])[:, :4].mean(axis=0)) > 0.9
    assert not combine([a, b], [1.0, 0.0])[:, 4:].any()


@pytest.fixture(scope="module")
def speech_windows():
    from speakerid_gui.core.audio.decode import load_audio

    waves = []
    for row in pick_libri(n_speakers=3, per_speaker=2):
        wave = load_audio(LIBRI / row["path"])
        waves.append(wave[SR // 2:SR // 2 + 3 * SR])
    return waves


def test_joint_backend_on_real_speech(speech_windows, campp):
    joint = get_backend("joint:campp=1,mfcc=0.3")
    assert joint.dim == 192 + 88
    emb = joint.embed(speech_windows)
    assert emb.shape == (len(speech_windows), 280)
    np.testing.assert_allclose(np.linalg.norm(emb[:, :192], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb[:, 192:], axis=1), 0.3, rtol=1e-5)
    alone = campp.embed(speech_windows)
    np.testing.assert_allclose(emb[:, :192], alone / np.linalg.norm(alone, axis=1, keepdims=True), atol=2e-3)
    zero = get_backend("joint", campp=1, mfcc=0).embed(speech_windows[:2])
    assert not zero[:, 192:].any() and zero.shape == (2, 280)


def _cos(X: np.ndarray) -> np.ndarray:
    from speakerid_gui.core.cluster.agglomerative import prepare

    P = prepare(X)
    return P @ P.T


@pytest.mark.slow
def test_joint_in_the_pipeline(project_copy):
    from speakerid_gui.core.pipeline import Settings, embeddings, run
    from speakerid_gui.core.project.store import Project

    campp_cache = sorted((project_copy / "cache" / "emb-campp").glob("*.npy"))
    before = {f: f.stat().st_mtime_ns for f in campp_cache}
    spec = "joint:campp=1,mfcc=0.3"
    project = Project.open(project_copy)
    try:
        events = list(run(project, Settings(backend=spec, layout="pca")))
        assert not [e for e in events if e.level == "warning"]
        messages = [e.message for e in events if e.stage == "analyse"]
        assert any("with mfcc" in m for m in messages) and not any("with campp" in m for m in messages)
        assert {f: f.stat().st_mtime_ns for f in campp_cache} == before  # CAM++ was not recomputed
        assert project.get_meta("settings")["backend"] == spec
        assert project.array_key(f"embeddings-{spec_slug(spec)}") is not None  # cached like any backend
        assert len(project.cluster_sizes()) >= 2

        emb = embeddings(project)
        n = project.n_segments
        assert emb.shape == (n, 192 + 88)
        np.testing.assert_allclose(np.linalg.norm(emb[:, :192], axis=1), 1.0, rtol=1e-4)
        np.testing.assert_allclose(np.linalg.norm(emb[:, 192:], axis=1), 0.3, rtol=1e-4)
        # the cosine of two segments is the w^2-weighted mean of the blocks' cosines
        c1 = emb[:, :192] @ emb[:, :192].T
        c2 = emb[:, 192:] @ emb[:, 192:].T / 0.09
        whole = emb @ emb.T / np.linalg.norm(emb, axis=1)[:, None] / np.linalg.norm(emb, axis=1)[None, :]
        np.testing.assert_allclose(whole, (c1 + 0.09 * c2) / 1.09, atol=1e-4)

        # weight 0: the MFCC block has no influence at all; at 0.3 it has some
        alone = embeddings(project, "joint:campp=1")
        zero = embeddings(project, "joint:campp=1,mfcc=0")
        assert zero.shape == (n, 280) and not zero[:, 192:].any()
        np.testing.assert_allclose(_cos(zero), _cos(alone), atol=1e-5)
        assert np.abs(_cos(emb) - _cos(alone)).max() > 0.02

        # a part whose numbers change under the same key (a retrained prosody RNN does that)
        # gives a new joint matrix, not the cached one
        mfcc = embeddings(project, "mfcc")
        project.save_array("embeddings-mfcc", project.array_key("embeddings-mfcc"), mfcc[::-1].copy())
        changed = embeddings(project, spec)
        assert np.abs(changed[:, 192:] - emb[:, 192:]).max() > 0.01
        np.testing.assert_allclose(changed[:, :192], emb[:, :192], atol=1e-6)
    finally:
        project.close()


@pytest.mark.slow
def test_cli_joint_and_clean(project_copy, session_project):
    from speakerid_gui.core.project.store import Project

    proc = run_cli("run", session_project.audio, "--project", project_copy, "--backend", "joint:campp=1,mfcc=0.5",
                   "--clean", "trim", "--layout", "pca", "--quiet", check=True)
    assert "files: 12 ok" in proc.stdout and "warning" not in proc.stderr
    project = Project.open(project_copy)
    try:
        stored = project.get_meta("settings")
        assert (stored["backend"], stored["clean"]) == ("joint:campp=1,mfcc=0.5", "trim")
        assert list((project_copy / "cache" / "emb-mfcc").glob("*-trim.npy"))
        assert list((project_copy / "cache" / "emb-campp").glob("*-trim.npy"))
    finally:
        project.close()
