"""The seed designs' trained models in the app (issue 5, points 2 and 4): the prosody RNN
(Learn > Train prosody RNN: live loss curve, Cancel, the last curve when opened again) and the
sequence classifiers in the classifier dialog (GRU with attention / ResNet on verified labels,
top-1 / top-5, confusion matrix), on a real project (3 LibriSpeech speakers, CAM++)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from guidata import key, verify_and_name
from speakerid_gui.core.embed import prosody_rnn
from speakerid_gui.core.pipeline import embeddings
from speakerid_gui.gui.learning_dialogs import ClassifierDialog, ProsodyDialog


@pytest.fixture(autouse=True)
def _one_thread():
    """Two cores shared with other work: one torch thread (the core's default for these models too)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def learn_action(w, text):
    learn = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Learn")
    return next(a for a in learn.actions() if a.text() == text)


def test_prosody_rnn_trains_from_the_learn_menu_with_a_live_loss_curve(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    p = w.state.session.project
    learn_action(w, "Train prosody RNN…").trigger()
    dialog = w.active_dialog
    assert isinstance(dialog, ProsodyDialog)
    assert "prosody_rnn" in dialog.intro.text() and "joint:campp=1,prosody_rnn=0.5" in dialog.intro.text()
    assert "Not trained yet" in dialog.message.text() and len(dialog.loss_curve.xData or []) == 0
    dialog.epochs.setValue(3)
    dialog.train_button.click()
    assert w.state.learning_job is not None and not dialog.train_button.isEnabled()
    assert not w.action("train_classifier").isEnabled()  # one learning job at a time
    qtbot.waitUntil(lambda: w.state.learning_job is None, timeout=60_000)
    assert dialog.job.outcome == "ok", dialog.job.error
    # one point per epoch, drawn from the job's progress, the same as the core recorded
    assert list(dialog.loss_curve.xData) == [1, 2, 3]
    losses = prosody_rnn.loss_curve(p)
    assert len(losses) == 3 and np.allclose(dialog.loss_curve.yData, losses) and np.all(np.isfinite(losses))
    assert "Trained" in dialog.message.text() and dialog.close_button.isEnabled()
    assert not dialog.cancel_button.isEnabled() and dialog.train_button.isEnabled()
    # usable as a backend at once: one embedding per segment
    emb = embeddings(p, prosody_rnn.NAME)
    assert emb.shape[0] == p.n_segments and np.all(np.isfinite(emb))
    dialog.close_button.click()

    again = w.learning.ask_prosody()  # opened later: the last training's curve
    assert list(again.loss_curve.xData) == [1, 2, 3] and np.allclose(again.loss_curve.yData, losses)
    assert "Last training: 3 epochs" in again.message.text()
    again.close_button.click()


def test_cancelling_prosody_training_stops_it_and_the_app_stays_usable(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    p = w.state.session.project
    dialog = w.learning.ask_prosody()
    dialog.epochs.setValue(500)  # would run for minutes
    dialog.train_button.click()
    qtbot.waitUntil(lambda: len(dialog.history) >= 2, timeout=60_000)  # training, the curve growing
    dialog.reject()  # Esc while training cancels (the dialog stays open to say so)
    assert dialog.isVisible() and not dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: w.state.learning_job is None, timeout=30_000)
    assert dialog.job.outcome == "cancelled"
    assert "Cancelled" in dialog.message.text() and dialog.close_button.isEnabled()
    assert len(dialog.history) < 500
    assert prosody_rnn.loss_curve(p) == [] and not (project_dir / prosody_rnn.WEIGHTS_FILE).exists()  # nothing written
    assert w.action("train_prosody").isEnabled() and w.action("refine").isEnabled()
    dialog.close_button.click()
    before = w.state.current_cluster
    key(w, Qt.Key.Key_J)  # the review goes on
    assert w.state.current_cluster != before

    # closing the window cancels a running training and closes once it has stopped
    dialog = w.learning.ask_prosody()
    dialog.epochs.setValue(500)
    dialog.train_button.click()
    job = dialog.job
    qtbot.waitUntil(lambda: len(dialog.history) >= 1, timeout=60_000)
    w.close()
    qtbot.waitUntil(lambda: not w.jobs and not w.isVisible(), timeout=30_000)
    assert job.outcome == "cancelled"


def test_sequence_classifier_needs_verified_labels_and_says_so(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    key(w, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    dialog = w.active_dialog
    assert isinstance(dialog, ClassifierDialog)
    assert dialog.model.isEnabled() and not dialog.center_loss.isEnabled()  # embedding classifier, as before
    dialog.kind.setCurrentIndex(dialog.kind.findData("resnet"))
    assert not dialog.model.isEnabled() and not dialog.source.isEnabled() and dialog.source.currentData() == "verified"
    assert dialog.center_loss.isEnabled() and dialog.epochs.isEnabled()
    dialog.train_button.click()  # nothing verified in this project yet
    assert w.state.learning_job is None and dialog.train_button.isEnabled()
    assert "Too few verified segments" in dialog.scores.text() and "0 verified" in dialog.scores.text()
    dialog.accept()


def test_sequence_classifier_from_the_dialog_shows_top_k_and_a_confusion_matrix(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    ids = verify_and_name(w)
    key(w, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    dialog = w.active_dialog
    dialog.kind.setCurrentIndex(dialog.kind.findData("lstm"))
    dialog.center_loss.setChecked(True)
    dialog.epochs.setValue(2)
    dialog.train_button.click()
    assert w.state.learning_job is not None and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: w.state.learning_job is None, timeout=120_000)
    assert dialog.job.outcome == "ok", dialog.job.error
    outcome = dialog.outcome
    assert outcome.kind == "lstm" and outcome.evaluation is not None and outcome.threshold is None
    assert outcome.info["center_loss"] > 0 and 1 <= outcome.info["epochs"] <= 2
    ev = outcome.evaluation
    assert ev["confusion"].shape == (3, 4)  # the core's format: speakers and "unknown"
    shown = dialog.confusion
    assert shown.matrix.shape == (3, 3) and shown.image.image.shape == (3, 3)  # closed set: no "unknown" column
    assert shown.matrix.sum() == ev["n_test"]
    assert np.trace(shown.matrix) == round(ev["top1"] * ev["n_test"])
    assert sorted(t.split()[-1] for _, t in shown.left_ticks) == ["Ada", "Barbara", "Grace"]
    text = dialog.scores.text()
    assert f"top-1 {ev['top1']:.1%}" in text and f"top-5 {ev['top5']:.1%}" in text
    assert outcome.baseline is not None and "logistic regression on the embeddings" in text
    assert (project_dir / "models" / "seq-lstm.pt").exists()
    assert w.state.session.project.get_meta("seq_classifier_lstm")["n_speakers"] == len(ids)
    assert dialog.train_button.isEnabled() and not dialog.cancel_button.isEnabled()
    dialog.accept()
