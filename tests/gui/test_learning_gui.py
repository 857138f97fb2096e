"""Learning from the reviewer in the app (issue 4 in the review window): the Review-next
panel and its keys, label propagation, refinement (progress, Cancel, undo) and the
classifier dialog's confusion matrix, on a real project (3 LibriSpeech speakers, CAM++)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from guidata import key, verify_and_name
from speakerid_gui.gui.learning_dialogs import ClassifierDialog, RefineDialog
from speakerid_gui.gui.player import NullPlayer


def ranked(qtbot, w):
    """Wait until the Review-next queue is ranked from the current labels."""
    qtbot.waitUntil(lambda: w.review_queue.suggestions_job is None and not w.review_queue._suggest_timer.isActive()
                    and w.review_queue._suggestions_serial == w.state.label_serial and bool(w.review_next.items), timeout=60_000)
    return w.review_next.items


def labels(w):
    p = w.state.session.project
    return p.cluster.copy(), p.verified.copy(), p.confidence.copy()


def central(w, cid, k):
    """The k members of a cluster closest to its centre (what a reviewer would verify first)."""
    return w.state.session.ranked_members(cid)[:k]


def mislabel(w, k=4):
    """Verify a few central segments of every speaker, then move k unverified segments of the largest
    cluster into another one (a clustering mistake for the learning to undo). Returns (moved, home, other)."""
    p = w.state.session.project
    ids = sorted(p.cluster_sizes(), key=p.cluster_sizes().get, reverse=True)
    for cid in ids:
        w.state.session.log.verify(central(w, cid, 5))
    home, other = ids[0], ids[1]
    moved = [int(i) for i in w.state.session.ranked_members(home)[5:5 + k]]
    assert not p.verified[moved].any()
    w.edits.move_segments(moved, other)
    assert (p.cluster[moved] == other).all()
    return np.array(moved), home, other


def test_next_suggestion_key_selects_plays_and_explains(make_window, project_dir, qtbot):
    player = NullPlayer(speed=20)  # spans finish 20x sooner: the suggestion's second segment follows
    w = make_window(project_dir, player)
    assert w.review_next.isVisible()
    items = ranked(qtbot, w)
    assert {s.kind for s in items} >= {"pair", "mixed"}  # 3 clusters: pairs and halves are always ranked
    assert w.review_next.table.rowCount() == len(items)
    assert all(w.review_next.table.item(r, 4).text() for r in range(len(items)))  # every row says why

    key(w, Qt.Key.Key_G)
    first = items[0]
    seg = int(first.segment_positions[0])
    wave, sr, tag = player.calls[-1]
    assert tag == seg and len(wave) > 0  # it plays the suggested segment
    assert w.state.current_segment == seg and w.scatter.current == seg
    assert w.state.current_cluster == int(w.state.session.project.cluster[seg])
    assert w.clusters.current_id() == w.state.current_cluster
    assert set(w.scatter.selection.tolist()) == {int(i) for i in first.segment_positions}  # ringed in the map
    assert first.reason in w.statusBar().currentMessage()
    assert first.reason in w.review_next.current_text.text()
    assert w.review_next.table.currentRow() == 0
    if len(first.segment_positions) > 1:  # then its second segment, without another key press
        qtbot.waitUntil(lambda: player.calls[-1][2] == int(first.segment_positions[1]), timeout=5000)

    key(w, Qt.Key.Key_G)
    assert player.calls[-1][2] == int(items[1].segment_positions[0])
    assert items[1].reason in w.statusBar().currentMessage()
    assert w.review_next.table.item(0, 0).text() == "✓"  # looked at
    key(w, Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)  # back to the first
    assert items[0].reason in w.statusBar().currentMessage()
    # a double-click on a row goes to it; G still works with the focus in the panel's table
    table = w.review_next.table
    rect = table.visualRect(table.model().index(2, 4))
    for click in (QTest.mouseClick, QTest.mouseDClick):  # a double-click is a click, then a second one
        click(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    assert player.calls[-1][2] == int(items[2].segment_positions[0]) and table.currentRow() == 2
    key(w, Qt.Key.Key_G, widget=table)
    assert player.calls[-1][2] == int(items[3].segment_positions[0])  # the next one not looked at yet

    # the keys are in the shortcut sheet
    w.action("shortcuts").trigger()
    text = w.active_dialog.text.toPlainText()
    for needle in ("Next suggestion", "Accept suggestion", "Propagate labels", "Refine embeddings",
                   "Train / evaluate classifier"):
        assert needle in text
    w.active_dialog.reject()


def test_accepting_a_pair_suggestion_merges_and_undo_restores(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    # this test is about the merge and its undo: the background relearn that follows a "same speaker"
    # answer is an edit of its own (its merges below the learnt threshold are tested elsewhere)
    w.action("auto_relearn").setChecked(False)
    items = ranked(qtbot, w)
    row = next(r for r, s in enumerate(items) if s.kind == "pair")
    pair = [int(c) for c in items[row].cluster_ids]
    before_labels = w.state.session.project.cluster.copy()
    before = len(w.state.session.project.cluster_sizes())
    w.review_queue.go_to_suggestion(row)
    assert sorted(w.clusters.selected_ids()) == sorted(pair)  # both clusters of the pair selected
    key(w, Qt.Key.Key_Y)
    sizes = w.state.session.project.cluster_sizes()
    assert len(sizes) == before - 1
    assert sum(c in sizes for c in pair) == 1  # one of the two absorbed the other
    assert w.clusters.model.rowCount() == before - 1
    # the queue is ranked again from the merged labels: no suggestion names the vanished cluster
    gone = next(c for c in pair if c not in sizes)
    items = ranked(qtbot, w)
    assert all(gone not in s.cluster_ids for s in items)
    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(w.state.session.project.cluster_sizes()) == before
    assert np.array_equal(w.state.session.project.cluster, before_labels)


def test_accepting_a_split_while_its_first_segment_plays_ends_the_suggestions_playlist(make_window, project_dir,
                                                                                        qtbot):
    # G plays one segment of each group; Y during the first must not then play the other group's
    # segment (now in another cluster) under the split cluster's name.
    player = NullPlayer(speed=20)
    w = make_window(project_dir, player)
    w.action("auto_relearn").setChecked(False)
    items = ranked(qtbot, w)
    row = next(r for r, s in enumerate(items) if s.kind == "mixed" and len(s.segment_positions) > 1)
    w.review_queue.go_to_suggestion(row)
    first, second = (int(i) for i in items[row].segment_positions[:2])
    home = w.state.current_cluster
    assert player.calls[-1][2] == first
    key(w, Qt.Key.Key_Y)
    p = w.state.session.project
    assert p.cluster[first] != p.cluster[second]  # split
    part = p.cluster_name(int(p.cluster[second]))  # the status says where the other group went, to name it
    assert f"went to {part} (select it and press N" in w.statusBar().currentMessage()
    qtbot.wait(1500)  # the first segment ends (20x speed) and the playlist gap passes
    assert all(tag != second for _, _, tag in player.calls)
    assert w.state.current_cluster == home and p.cluster[w.state.current_segment] == home
    assert "Your last edit changed" in w.review_next.current_text.text()
    assert not w.review_next.accept_button.isEnabled()


def test_propagate_relabels_unverified_never_verified_and_undo_restores(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    p = w.state.session.project
    moved, home, other = mislabel(w)
    # a verified segment the reviewer put in `other` on purpose: propagation must leave it there
    stubborn = int(central(w, home, 1)[0])
    w.edits.move_segments([stubborn], other)
    assert p.verified[stubborn]
    cluster0, verified0, conf0 = labels(w)
    edits0 = len(w.state.session.log.history())

    key(w, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert w.state.learning_job is not None
    qtbot.waitUntil(lambda: w.state.learning_job is None, timeout=60_000)
    result, report = w.learning.last_relabelling
    assert result.kind == "propagate" and result.call is not None
    assert (p.cluster[moved] == home).all()  # the clustering mistake is undone
    assert int(p.cluster[stubborn]) == other  # a reviewer's verdict is never overruled
    assert np.array_equal(p.cluster[verified0], cluster0[verified0])
    assert np.array_equal(p.verified, verified0)
    assert "unknown" in report and f"{result.unknown:,} unknown" in report
    assert f"{result.considered:,} unverified segments reassigned" in report
    changed = int((p.cluster != cluster0).sum())
    assert changed >= len(moved) and f"{changed:,} changed speaker" in report
    assert report.split(".")[0] in w.statusBar().currentMessage()
    assert w.state.session.log.history()[0].kind == "propagate" and len(w.state.session.log.history()) == edits0 + 1
    # scatter and cluster list follow
    assert np.array_equal(w.scatter.cluster, p.cluster)
    model = w.clusters.model
    sizes = {c: int(row[1].replace(",", "")) for c, row in zip(model.ids, model.display)}
    assert sizes == p.cluster_sizes()

    w.edits.undo()
    assert np.array_equal(p.cluster, cluster0) and np.allclose(p.confidence, conf0)
    assert np.array_equal(w.scatter.cluster, cluster0)


def test_refine_runs_to_completion_with_a_loss_curve_and_undo_restores(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    p = w.state.session.project
    moved, home, other = mislabel(w)
    cluster0, verified0, _ = labels(w)
    dialog = w.learning.ask_refine()
    assert isinstance(dialog, RefineDialog) and w.active_dialog is dialog
    assert not w.action("propagate").isEnabled()  # one learning job at a time
    qtbot.waitUntil(lambda: w.state.learning_job is None, timeout=120_000)
    assert dialog.job.outcome == "ok"
    result, report = w.learning.last_relabelling
    assert result.kind == "refine" and 0 < len(result.history) < 200  # early stopping
    assert len(dialog.train_curve.xData) == len(result.history)  # the loss curve is drawn
    assert np.all(np.isfinite(dialog.val_curve.yData))
    assert dialog.close_button.isEnabled() and not dialog.cancel_button.isEnabled()
    assert report in dialog.message.text()
    assert (p.cluster[moved] == home).all()
    assert np.array_equal(p.cluster[verified0], cluster0[verified0]) and np.array_equal(p.verified, verified0)
    assert w.state.session.log.history()[0].kind == "refine"
    dialog.close_button.click()
    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(p.cluster, cluster0)


def test_refine_cancel_changes_nothing(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    mislabel(w)
    cluster0, _, conf0 = labels(w)
    edits0 = len(w.state.session.log.history())
    dialog = w.learning.ask_refine(epochs=100_000, patience=100_000)  # would train for a long time
    qtbot.waitUntil(lambda: len(dialog.history) >= 2, timeout=60_000)  # training, curve growing
    dialog.cancel_button.click()
    assert not dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: w.state.learning_job is None, timeout=60_000)
    assert dialog.job.outcome == "cancelled"
    assert "Cancelled" in dialog.message.text() and dialog.close_button.isEnabled()
    p = w.state.session.project
    assert np.array_equal(p.cluster, cluster0) and np.array_equal(p.confidence, conf0)
    assert len(w.state.session.log.history()) == edits0
    assert w.action("refine").isEnabled()


def test_classifier_dialog_shows_top_k_and_a_confusion_matrix(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    p = w.state.session.project
    verify_and_name(w)
    key(w, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    dialog = w.active_dialog
    assert isinstance(dialog, ClassifierDialog)
    assert not dialog.isModal()  # a long training never blocks the review window
    assert not dialog.confusion.plot.isVisibleTo(dialog) and dialog.confusion.placeholder.isVisibleTo(dialog)
    dialog.model.setCurrentIndex(dialog.model.findData("rf"))
    dialog.train_button.click()
    qtbot.waitUntil(lambda: w.state.learning_job is None, timeout=120_000)
    outcome = dialog.outcome
    assert outcome is not None and outcome.kind == "rf" and outcome.evaluation is not None
    ev = outcome.evaluation
    assert ev["confusion"].shape == (3, 4)  # 3 speakers, and "unknown"
    shown = dialog.confusion
    assert shown.matrix.shape == (3, 4) and shown.image.image.shape == (3, 4)
    assert shown.plot.isVisibleTo(dialog) and not shown.placeholder.isVisibleTo(dialog)
    assert shown.matrix.sum() == ev["n_test"]  # every held-out segment counted once
    assert ev["top1"] >= 0.8 and np.trace(shown.matrix) <= round(ev["top1"] * ev["n_test"])  # unknowns are off the diagonal
    assert sorted(t.split()[-1] for _, t in shown.left_ticks) == ["Ada", "Barbara", "Grace"]  # names on the axes
    assert [t for _, t in shown.bottom_ticks][-1] in ("unknown", "?")
    assert f"top-1 {ev['top1']:.1%}" in dialog.scores.text()
    assert (project_dir / "models" / "classifier.joblib").exists()
    assert p.get_meta("classifier")["kind"] == "rf"
    dialog.accept()


def test_refine_is_non_modal_and_its_result_respects_edits_made_meanwhile(make_window, project_dir, qtbot,
                                                                          monkeypatch):
    """While Refine trains the reviewer keeps reviewing (keys, edits); the result arrives as one
    undoable edit that leaves every segment the reviewer changed meanwhile as the reviewer set it."""
    import threading

    from PySide6.QtWidgets import QApplication

    from speakerid_gui.core.learn import reviewer as learn

    gate, training = threading.Event(), threading.Event()
    real = learn.refine_run

    def paused(project, emb, progress=None, **kw):  # the real training, held after its first epoch
        def report(ev):
            if progress:
                progress(ev)
            if ev.stage == "train" and not training.is_set():
                training.set()
                gate.wait(120)
        return real(project, emb, report, **kw)

    monkeypatch.setattr(learn, "refine_run", paused)
    w = make_window(project_dir)
    p = w.state.session.project
    moved, home, other = mislabel(w)
    third = next(c for c in p.cluster_sizes() if c not in (home, other))
    dialog = w.learning.ask_refine()
    qtbot.waitUntil(training.is_set, timeout=60_000)
    assert not dialog.isModal() and QApplication.activeModalWidget() is None
    w.activateWindow()
    before = w.state.current_cluster
    key(w, Qt.Key.Key_J)  # the review goes on: keys reach the window
    assert w.state.current_cluster != before
    w.state.session.log.verify(moved[:1])          # the reviewer vouches for one "wrong" label,
    w.edits.move_segments(moved[1:2], third)       # and moves another elsewhere
    gate.set()
    qtbot.waitUntil(lambda: w.state.learning_job is None, timeout=120_000)
    assert dialog.job.outcome == "ok"
    result, report = w.learning.last_relabelling
    assert w.state.session.log.history()[0].kind == "refine"
    assert int(p.cluster[moved[0]]) == other and p.verified[moved[0]]    # the reviewer's, kept
    assert int(p.cluster[moved[1]]) == third                             # the reviewer's, kept
    assert (p.cluster[moved[2:]] == home).all()                          # the rest: the result applied
    assert "kept your labels" in report
    w.edits.undo()  # one edit: undo takes back the refinement only
    assert (p.cluster[moved[2:]] == other).all() and int(p.cluster[moved[1]]) == third
