"""Prosody RNN on real speech: a copy of the session project (4 LibriSpeech speakers), trained once."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from coredata import run_cli

EPOCHS = 12
pytestmark = pytest.mark.slow  # trains networks


@pytest.fixture(scope="module")
def trained(session_project, tmp_path_factory):
    """(project, TrainResult, events) after training on a private copy of the session project."""
    from speakerid_gui.core.embed import prosody_rnn
    from speakerid_gui.core.project.store import Project

    folder = tmp_path_factory.mktemp("prosody") / "project"
    shutil.copytree(session_project.folder, folder)
    project = Project.open(folder)
    events = []
    result = prosody_rnn.train_run(project, events.append, epochs=EPOCHS, seed=0)
    yield project, result, events
    project.close()


def _true(project, built):
    paths = {r.id: r.path for r in project.recordings()}
    return np.array([built.truth[paths[int(r)]] for r in project.seg_recording])


def test_nt_xent_loss_decreases_and_curve_is_recorded(trained):
    from speakerid_gui.core.embed.prosody_rnn import WEIGHTS_FILE, loss_curve

    project, result, events = trained
    losses = result.losses
    assert len(losses) == EPOCHS and np.all(np.isfinite(losses))
    # two views of n segments: chance level of NT-Xent is log(2n - 1); training must get well below it
    n = project.n_segments
    assert losses[0] > 0.8 * np.log(2 * n - 1)
    assert np.mean(losses[-3:]) < 0.85 * np.mean(losses[:3])
    assert loss_curve(project) == pytest.approx(losses)
    assert (project.folder / WEIGHTS_FILE).exists()
    train_events = [e for e in events if e.stage == "train"]
    assert [e.done for e in train_events] == list(range(1, EPOCHS + 1))
    assert [e.loss for e in train_events] == pytest.approx(losses)
    assert events[-1].stage == "done"


def test_embeddings_stored_like_any_backend(trained):
    from speakerid_gui.core.pipeline import embeddings

    project, result, _ = trained
    stored = embeddings(project, "prosody_rnn")
    assert stored.shape == (project.n_segments, 32)
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(stored, result.embeddings)
    assert len(np.unique(stored.round(4), axis=0)) == project.n_segments  # not collapsed


def test_embeddings_deterministic_and_batch_independent(trained):
    from speakerid_gui.core.embed import prosody_rnn as pr

    project, result, _ = trained
    model = pr.load_model(project.folder / pr.WEIGHTS_FILE)
    feats = [pr.curve_features(p, e) for p, e in pr.segment_curves(project)]
    again = pr.embed_features(model, feats)
    assert np.allclose(again, result.embeddings, atol=1e-6)
    some = [0, 3, len(feats) - 1]
    assert np.allclose(pr.embed_features(model, [feats[i] for i in some], batch=1), again[some], atol=1e-5)


def test_backend_embeds_new_audio_close_to_the_stored_vectors(trained):
    from speakerid_gui.core.audio.decode import load_audio
    from speakerid_gui.core.embed import BackendUnavailable, backend_names, get_backend

    project, result, _ = trained
    assert "prosody_rnn" in backend_names()
    with pytest.raises(BackendUnavailable, match="train-prosody"):
        get_backend("prosody_rnn")
    backend = get_backend("prosody_rnn", project=project.folder)
    idx = [0, project.n_segments // 2, project.n_segments - 1]
    waves = [load_audio(project.recording_path(int(project.seg_recording[i])))
             [int(project.seg_start[i] * 16000):int(project.seg_end[i] * 16000)] for i in idx]
    z = backend.embed(waves)
    assert z.shape == (3, backend.dim)
    # Praat sees no context beyond the segment here, so the edges differ a little
    assert np.all(np.einsum("ij,ij->i", z, result.embeddings[idx]) > 0.8)


def test_prosody_carries_some_speaker_information(trained, session_project):
    """Weak, as expected from pitch and energy alone, but far from chance."""
    from speakerid_gui.core.evaluate.metrics import eer

    project, result, _ = trained
    assert eer(result.embeddings, _true(project, session_project)) < 0.35


def test_cancel_stops_training_and_writes_nothing(project_copy):
    from speakerid_gui.core.embed import prosody_rnn as pr
    from speakerid_gui.core.pipeline import Cancelled
    from speakerid_gui.core.project.store import Project

    project = Project.open(project_copy)
    seen = []
    gen = pr.train(project, epochs=50, cancel=lambda: len(seen) >= 2)
    with pytest.raises(Cancelled):
        for ev in gen:
            if ev.stage == "train":
                seen.append(ev)
    assert len(seen) == 2
    assert pr.loss_curve(project) == []
    assert not (project_copy / pr.WEIGHTS_FILE).exists()
    assert project.load_array("embeddings-prosody_rnn") is None
    project.close()


def test_cli_train_prosody_prints_loss_per_epoch(project_copy):
    proc = run_cli("train-prosody", project_copy, "--epochs", "3", check=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("epoch")]
    assert [l.split()[1] for l in lines] == ["1/3", "2/3", "3/3"]
    assert all(float(l.split()[-1]) > 0 for l in lines)
    assert "--backend prosody_rnn" in proc.stdout


def test_retraining_replaces_the_stored_embeddings(project_copy):
    from speakerid_gui.core.embed import prosody_rnn as pr
    from speakerid_gui.core.pipeline import embeddings
    from speakerid_gui.core.project.store import Project

    project = Project.open(project_copy)
    first = pr.train_run(project, epochs=2, seed=0)
    assert np.array_equal(embeddings(project, "prosody_rnn"), first.embeddings)
    second = pr.train_run(project, epochs=3, seed=1)
    assert not np.allclose(first.embeddings, second.embeddings)
    assert np.array_equal(embeddings(project, "prosody_rnn"), second.embeddings)
    assert len(pr.loss_curve(project)) == 3
    # and a joint embedding picks the trained block up from the same cache
    joint = embeddings(project, "joint:campp=1,prosody_rnn=0.5")
    assert joint.shape == (project.n_segments, 192 + 32)
    project.close()
