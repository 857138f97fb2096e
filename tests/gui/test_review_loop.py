"""The reviewer's loop on a real project (3 LibriSpeech speakers, CAM++), driven through
the MainWindow: select, play, merge, split, move, rename, verify, noise, undo/redo,
restart, export, evaluation."""
from __future__ import annotations

import csv
import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from guidata import key
from speakerid_gui.core.cluster import agglomerative as clu
from speakerid_gui.core.audio.decode import read_span
from speakerid_gui.core.palette import color_for
from speakerid_gui.core.pipeline import embeddings
from speakerid_gui.core.project import constraints
from speakerid_gui.core.project.store import NOISE
from speakerid_gui.gui.edit_dialogs import MoveDialog, RenameDialog, SplitDialog
from speakerid_gui.gui.export_dialog import ExportDialog
from speakerid_gui.gui.player import NullPlayer


def sizes(window):
    return window.state.session.project.cluster_sizes()


def click_point(window, index):
    """A real mouse click on segment `index` in the scatter."""
    plot = window.scatter.plot
    x, y = (float(v) for v in window.scatter.xy[index])
    scene = window.scatter.view.mapViewToScene(QPointF(x, y))
    pos = plot.mapFromScene(scene)
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(pos.x(), pos.y()))


def test_open_selects_largest_cluster_and_fills_panels(make_window, project_dir):
    w = make_window(project_dir)
    p = w.state.session.project
    s = sizes(w)
    assert w.state.current_cluster == max(s, key=s.get)
    assert w.clusters.model.rowCount() == 3
    assert len(w.scatter.base.data) == p.n_segments
    assert len(w.scatter.focus_item.data) == s[w.state.current_cluster]  # the highlighted cluster
    assert w.inspector.representatives.count() == min(8, s[w.state.current_cluster])
    assert w.inspector.outliers.count() > 0
    image = w.inspector.spectrogram.image.image
    assert image is not None and image.shape[0] == 80
    assert w.state.current_segment == w.state.queue[0]
    # representatives really are closer to the centre than the outliers
    X = clu.prepare(embeddings(p))
    members = w.state.queue
    c = X[members].mean(0)
    sim = X @ (c / np.linalg.norm(c))
    assert sim[w.state.queue[0]] >= sim[w.state.queue[-1]]
    assert sim[w.state.queue[0]] == pytest.approx(sim[members].max(), abs=1e-6)


def test_a_small_clusters_representatives_and_outliers_never_repeat_a_segment(make_window, project_dir):
    from speakerid_gui.gui.inspector import SEGMENT_ROLE

    w = make_window(project_dir)
    home = w.state.current_cluster
    other = next(c for c in sizes(w) if c != home)
    w.edits.move_segments([int(i) for i in w.state.session.ranked_members(home)[9:]], other)
    w.review.show_cluster(home, keep_segment=False)

    def listed(view):
        return [view.item(r).data(SEGMENT_ROLE) for r in range(view.count())]

    reps, outliers = listed(w.inspector.representatives), listed(w.inspector.outliers)
    assert sizes(w)[home] == 9 and len(outliers) == 4 and len(reps) == 5
    assert not set(reps) & set(outliers)


def test_space_plays_the_current_segment_span(make_window, project_dir, qtbot):
    player = NullPlayer()
    w = make_window(project_dir, player)
    key(w, Qt.Key.Key_Space)
    assert len(player.calls) == 1
    wave, sr, tag = player.calls[0]
    seg = w.state.current_segment
    assert tag == seg and sr == 16000
    path, start, end = w.state.session.segment_span(seg)
    assert len(wave) == pytest.approx((end - start) * 16000, abs=2)
    assert np.array_equal(wave, read_span(path, start, end))
    assert player.is_playing() and w.inspector.play_button.text().startswith("■")
    cursor = w.inspector.spectrogram.cursor
    qtbot.waitUntil(lambda: cursor.isVisible() and cursor.value() > 0.05, timeout=3000)  # the playing position moves
    key(w, Qt.Key.Key_Space)  # Space again stops
    assert not player.is_playing()


def test_click_on_point_selects_its_cluster_and_plays_it(make_window, project_dir):
    player = NullPlayer()
    w = make_window(project_dir, player)
    p = w.state.session.project
    other = next(c for c in sizes(w) if c != w.state.current_cluster)
    index = int(np.flatnonzero(p.cluster == other)[0])
    x, y = (float(v) for v in w.scatter.xy[index])
    w.scatter.view.setRange(xRange=(x - 0.05, x + 0.05), yRange=(y - 0.05, y + 0.05), padding=0)
    click_point(w, index)
    assert w.state.current_cluster == other
    assert w.clusters.current_id() == other
    assert player.calls and player.calls[-1][2] == index
    assert w.state.current_segment == index


def test_auto_advance_plays_the_next_segment(make_window, project_dir, qtbot):
    player = NullPlayer(speed=30.0)  # 3 s segments end in 0.1 s
    w = make_window(project_dir, player)
    w.action("auto_advance").trigger()
    assert w.inspector.auto_advance.isChecked()
    key(w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: len(player.calls) >= 3, timeout=5000)
    tags = [c[2] for c in player.calls[:3]]
    assert tags == [int(i) for i in w.state.queue[:3]]


def test_merge_undo_redo_and_most_similar(make_window, project_dir):
    w = make_window(project_dir)
    before = sizes(w)
    a, b = sorted(before)[:2]
    w.clusters.select_ids([a, b], current=a)
    w.action("merge_selected").trigger()
    after = sizes(w)
    assert len(after) == 2 and sum(after.values()) == sum(before.values())
    target = a if before[a] >= before[b] else b
    assert after[target] == before[a] + before[b]
    assert w.clusters.model.rowCount() == 2
    assert w.state.current_cluster == target
    # the scatter recoloured: every point's brush is its cluster's shared brush
    lut = w.scatter._lut()
    assert all(br is lut[c + 1] for br, c in zip(w.scatter.base.data["brush"], w.state.session.project.cluster))
    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert sizes(w) == before and w.clusters.model.rowCount() == 3
    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert sizes(w) == after
    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    # M: merge the current cluster with the one whose centroid is most similar
    p = w.state.session.project
    cur = w.state.current_cluster
    ids, C = clu.centroids(clu.prepare(embeddings(p)), p.cluster)
    sims = C @ C[list(ids).index(cur)]
    sims[list(ids).index(cur)] = -2
    expected_partner = int(ids[np.argmax(sims)])
    key(w, Qt.Key.Key_M)  # first M: the target is shown and played, nothing merges yet
    assert sizes(w) == before
    played = w.player.calls[-1][2]
    assert int(p.cluster[played]) == expected_partner and w.scatter.selection.tolist() == [played]
    assert p.cluster_name(expected_partner) in w.statusBar().currentMessage()
    key(w, Qt.Key.Key_M)  # second M: merged
    merged = sizes(w)
    assert len(merged) == 2
    assert merged[max(cur, expected_partner, key=lambda c: before[c])] == before[cur] + before[expected_partner]


def test_split_previews_then_applies(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    before = sizes(w)
    cid = w.state.current_cluster
    key(w, Qt.Key.Key_S)
    dialog = w.active_dialog
    assert isinstance(dialog, SplitDialog)
    qtbot.waitUntil(lambda: dialog.labels is not None, timeout=30000)
    # a pure cluster (one reader): the estimate, which counts speakers as the clustering does, says so
    assert len(np.unique(dialog.labels)) == 1 and not dialog.apply_button.isEnabled()
    assert "one speaker" in dialog.status.text()
    assert w.scatter._preview is not None  # the scatter shows the proposal
    assert dialog.parts.count() == len(np.unique(dialog.labels))
    # ask for 3 parts explicitly, then apply
    dialog.k.setValue(3)
    dialog.propose_button.click()
    qtbot.waitUntil(lambda: dialog.labels is not None, timeout=30000)
    assert len(np.unique(dialog.labels)) == 3
    dialog.accept()
    assert w.scatter._preview is None
    after = sizes(w)
    assert len(after) == len(before) + 2 and sum(after.values()) == sum(before.values())
    assert after[cid] == int(np.sum(dialog.labels == np.unique(dialog.labels)[0]))
    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert sizes(w) == before


def test_split_estimate_separates_two_merged_speakers_and_plays_each_part(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    p = w.state.session.project
    a, b = sorted(sizes(w))[:2]
    n_clusters = len(sizes(w))
    truth = {int(i): c for c in (a, b) for i in np.flatnonzero(p.cluster == c)}
    w.state.session.log.merge([a, b], into=a)
    w.clusters.select_cluster(a)
    dialog = w.edits.ask_split()
    qtbot.waitUntil(lambda: dialog.labels is not None, timeout=30000)
    members = np.flatnonzero(p.cluster == a)
    parts = np.unique(dialog.labels)
    assert len(parts) == 2 and dialog.apply_button.isEnabled()
    for part in parts:  # each part is one of the two speakers that were merged
        assert len({truth[int(i)] for i in members[dialog.labels == part]}) == 1
    # listen to each part: the player gets a segment of that part, then its next one
    played = []
    for row in (0, 1, 1):
        dialog.parts.setCurrentRow(row)
        dialog.play_button.click()
        played.append(int(w.player.calls[-1][2]))
    assert [int(dialog.labels[np.flatnonzero(members == i)[0]]) for i in played] == [parts[0], parts[1], parts[1]]
    assert played[1] != played[2] and "Playing part 2" in dialog.status.text()
    dialog.accept()
    assert len(sizes(w)) == n_clusters  # the two speakers are apart again (b under a new id)
    groups = {frozenset(np.flatnonzero(p.cluster == c).tolist()) for c in sizes(w)}
    for speaker in (a, b):
        assert frozenset(i for i, c in truth.items() if c == speaker) in groups


def test_split_cancel_changes_nothing(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    before = sizes(w)
    dialog = w.edits.ask_split()
    qtbot.waitUntil(lambda: dialog.labels is not None, timeout=30000)
    dialog.reject()
    assert sizes(w) == before and w.scatter._preview is None


def test_move_lasso_selection_to_new_and_existing_cluster(make_window, project_dir):
    w = make_window(project_dir)
    p = w.state.session.project
    cid = w.state.current_cluster
    members = np.flatnonzero(p.cluster == cid)
    xy = w.scatter.xy[members]
    # a lasso around the cluster's left half (in data coordinates)
    mid = float(np.median(xy[:, 0]))
    lo, hi = xy.min(0) - 1e-3, xy.max(0) + 1e-3
    lasso = np.array([[lo[0], lo[1]], [mid, lo[1]], [mid, hi[1]], [lo[0], hi[1]]])
    w.scatter._on_region("lasso", lasso, Qt.KeyboardModifier.NoModifier)
    chosen = w.scatter.selection
    assert 0 < len(chosen) and set(members[xy[:, 0] < mid]) <= set(chosen.tolist())
    dialog = w.edits.ask_move()
    assert isinstance(dialog, MoveDialog) and dialog.target_id() is None  # default: a new cluster
    dialog.new_name.setText("left half")
    dialog.accept()
    new_id = int(p.cluster[chosen[0]])
    assert new_id not in (cid, NOISE) and np.all(p.cluster[chosen] == new_id)
    assert p.cluster_name(new_id) == "left half" and w.state.current_cluster == new_id
    # move them on to an existing cluster through the dialog's combo box
    other = next(c for c in sizes(w) if c not in (cid, new_id))
    w.scatter.set_selection(chosen)
    dialog = w.edits.ask_move()
    dialog.select_target(other)
    dialog.accept()
    assert np.all(p.cluster[chosen] == other)


def test_rename_verify_noise_restart_and_undo(make_window, project_dir):
    w = make_window(project_dir)
    p = w.state.session.project
    cid = w.state.current_cluster
    n = sizes(w)[cid]
    key(w, Qt.Key.Key_N)
    dialog = w.active_dialog
    assert isinstance(dialog, RenameDialog)
    dialog.edit.setText("Ada Lovelace")
    dialog.accept()
    assert p.cluster_name(cid) == "Ada Lovelace"
    assert w.clusters.model.names[w.clusters.model.row_of(cid)] == "Ada Lovelace"
    assert w.statusBar().currentMessage() == f"S{cid} is now Ada Lovelace. Ctrl+Z undoes."
    # the completer offers existing names in the next rename
    key(w, Qt.Key.Key_F2)
    assert "Ada Lovelace" in w.active_dialog.edit.completer().model().stringList()
    w.active_dialog.reject()
    key(w, Qt.Key.Key_V)
    assert p.verified[p.cluster == cid].all()
    assert len(w.scatter.verified_item.data) == n
    seg = w.state.current_segment
    key(w, Qt.Key.Key_X)
    assert p.noise[seg] and p.cluster[seg] == NOISE
    assert len(w.scatter.noise_item.data) == 1
    assert w.state.current_segment != seg  # the review moved on
    w.close()
    assert not w.isVisible()

    w2 = make_window(project_dir)  # a restart: state and undo history come from disk
    p2 = w2.state.session.project
    assert p2.cluster_name(cid) == "Ada Lovelace"
    assert p2.noise[seg] and p2.verified[p2.cluster == cid].all()
    assert w2.action("undo").isEnabled()
    key(w2, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the noise mark
    assert not p2.noise[seg] and p2.cluster[seg] == cid
    key(w2, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo verify
    assert not p2.verified[p2.cluster == cid].any()
    key(w2, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # redo verify
    assert p2.verified[p2.cluster == cid].all()


def test_naming_a_cluster_with_another_clusters_name_offers_to_merge_them(make_window, project_dir):
    w = make_window(project_dir)
    p = w.state.session.project
    first = w.state.current_cluster
    key(w, Qt.Key.Key_N)
    w.active_dialog.edit.setText("Ada")
    assert not w.active_dialog.merge.isVisibleTo(w.active_dialog)  # no other Ada yet
    w.active_dialog.accept()
    key(w, Qt.Key.Key_J)
    second = w.state.current_cluster
    assert second != first
    both = sizes(w)[first] + sizes(w)[second]
    key(w, Qt.Key.Key_N)
    dialog = w.active_dialog
    dialog.edit.setText("ada ")  # the same name, typed loosely
    assert dialog.merge.isVisibleTo(dialog) and dialog.merge.isChecked() and "Ada" in dialog.merge.text()
    heard = w.state.current_segment
    assert p.cluster[heard] == second
    dialog.accept()
    assert second not in sizes(w) and sizes(w)[first] == both  # one speaker, one cluster
    # the name was a "same speaker" answer, as accepting the pair is: about the segment heard
    (i, j, same, distance), = [a for a in constraints.answers(p) if heard in a[:2]]
    assert same and distance is not None and p.cluster[i] == p.cluster[j] == first
    assert w.state.current_cluster == first and p.cluster_name(first) == "Ada"
    assert "Merged" in w.statusBar().currentMessage()
    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert second in sizes(w) and p.cluster_name(second) != "Ada"
    # unticked: only the name, both clusters stay
    w.clusters.select_cluster(second)
    key(w, Qt.Key.Key_N)
    w.active_dialog.edit.setText("Ada")
    w.active_dialog.merge.setChecked(False)
    w.active_dialog.accept()
    assert p.cluster_name(second) == "Ada" and p.cluster_name(first) == "Ada" and second in sizes(w)


def test_keyboard_navigation(make_window, project_dir):
    w = make_window(project_dir)
    order = w.clusters.visible_ids()
    assert w.state.current_cluster == order[0]
    key(w, Qt.Key.Key_J)
    assert w.state.current_cluster == order[1]
    key(w, Qt.Key.Key_Down)
    assert w.state.current_cluster == order[2]
    key(w, Qt.Key.Key_K)
    assert w.state.current_cluster == order[1]
    first = w.state.current_segment
    key(w, Qt.Key.Key_Right)
    assert w.state.current_segment == w.state.queue[1] and first == w.state.queue[0]
    key(w, Qt.Key.Key_Left)
    assert w.state.current_segment == first
    # typing in the filter box types; it does not trigger single-letter shortcuts
    w.clusters.filter.setFocus()
    QTest.keyClicks(w.clusters.filter, "mjk")
    assert w.clusters.filter.text() == "mjk" and len(sizes(w)) == 3


def test_export_csv_through_the_dialog(make_window, project_dir, tmp_path, wait_jobs):
    w = make_window(project_dir)
    p = w.state.session.project
    cid = w.state.current_cluster
    w.state.session.log.rename(cid, "Grace")
    w.state.session.log.mark_noise([int(np.flatnonzero(p.cluster == cid)[0])])
    dialog = w.background.ask_export()
    assert isinstance(dialog, ExportDialog)
    dialog.set_format("csv")
    out = tmp_path / "out" / "labels.csv"
    dialog.path.setText(str(out))
    dialog.accept()
    wait_jobs(w)
    assert w.background.last_export == [out]
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == p.n_segments - 1  # noise left out
    grace = [r for r in rows if r["speaker"] == "Grace"]
    assert len(grace) == sizes(w)[cid]
    paths = {r.id: r.path for r in p.recordings()}
    first = int(np.flatnonzero(p.cluster == cid)[0])
    assert any(r["recording"] == paths[int(p.seg_recording[first])] and
               float(r["start"]) == pytest.approx(p.seg_start[first]) for r in grace)


def test_evaluation_from_reference(make_window, project_dir, built_project, wait_jobs):
    _, audio = built_project
    w = make_window(project_dir)
    w.background.import_reference(str(audio / "manifest.csv"))
    wait_jobs(w)
    result = w.evaluation.result
    assert result is not None and result["n_speakers"] == 3 and result["accuracy"] > 0.9
    assert w.state.session.project.get_meta("reference") == str(audio / "manifest.csv")
    assert w.evaluation.model.rowCount() >= 5 and w.evaluation_dock.isVisible()
    # reopening the project evaluates against the remembered reference by itself
    w.close()
    w2 = make_window(project_dir)
    assert w2.evaluation_dock.isVisible()
    wait_jobs(w2)
    assert w2.evaluation.result["accuracy"] == pytest.approx(result["accuracy"])
    w = w2
    # a bad reference is reported with its file name and not remembered
    bad = audio / "not-a-reference.txt"
    bad.write_text("hello")
    w.background.import_reference(str(bad))
    wait_jobs(w)
    assert w.last_error and "not-a-reference.txt" in w.last_error
    assert w.state.session.project.get_meta("reference") == str(audio / "manifest.csv")


def test_hover_names_recording_and_time(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    index = int(w.state.queue[0])
    plot = w.scatter.plot
    x, y = (float(v) for v in w.scatter.xy[index])
    w.scatter.view.setRange(xRange=(x - 0.05, x + 0.05), yRange=(y - 0.05, y + 0.05), padding=0)
    pos = plot.mapFromScene(w.scatter.view.mapViewToScene(QPointF(x, y)))
    QTest.mouseMove(plot.viewport(), QPoint(pos.x() + 2, pos.y() + 1))
    qtbot.waitUntil(lambda: w.scatter.hover_text.isVisible(), timeout=3000)
    text = w.scatter.hover_text.toPlainText()
    rec = w.state.session.recording_rel(int(w.state.session.project.seg_recording[index]))
    assert rec in text and f"{w.state.session.project.seg_start[index]:.1f}" in text
    assert w.state.session.project.cluster_name(int(w.state.session.project.cluster[index])) in text


@pytest.mark.parametrize("mode", ["rect", "lasso"])
def test_dragging_in_selection_mode_selects(make_window, project_dir, mode):
    w = make_window(project_dir)
    w.scatter.mode_buttons[mode].click()
    assert w.scatter.view.mode == mode
    plot, view = w.scatter.plot, w.scatter.view
    members = w.state.queue
    lo, hi = w.scatter.xy[members].min(0), w.scatter.xy[members].max(0)
    a = plot.mapFromScene(view.mapViewToScene(QPointF(float(lo[0]) - 0.01, float(lo[1]) - 0.01)))
    b = plot.mapFromScene(view.mapViewToScene(QPointF(float(hi[0]) + 0.01, float(hi[1]) + 0.01)))
    vp = plot.viewport()
    if mode == "rect":  # corner to corner
        path = [QPoint(int(a.x() + t * (b.x() - a.x())), int(a.y() + t * (b.y() - a.y()))) for t in np.linspace(0, 1, 8)]
    else:  # around the box: down, right, up, back left
        corners = [a, QPoint(a.x(), b.y()), b, QPoint(b.x(), a.y()), a]
        path = [QPoint(int(p.x() + t * (q.x() - p.x())), int(p.y() + t * (q.y() - p.y())))
                for p, q in zip(corners, corners[1:]) for t in np.linspace(0, 1, 5)]
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, path[0])
    for point in path[1:]:
        time.sleep(0.015)  # pyqtgraph drops moves faster than 100/s; a hand is slower than QTest
        QTest.mouseMove(vp, point)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, path[-1])
    chosen = set(w.scatter.selection.tolist())
    assert set(members.tolist()) <= chosen  # the whole cluster's bounding box was dragged around
    assert len(chosen) < w.state.session.project.n_segments
    assert len(w.scatter.selection_item.data) == len(chosen)


def test_other_export_formats(make_window, project_dir, tmp_path, wait_jobs):
    w = make_window(project_dir)
    for fmt, name in (("json", "labels.json"), ("rttm", "labels.rttm"), ("audacity", "audacity")):
        dialog = w.background.ask_export()
        dialog.set_format(fmt)
        dialog.path.setText(str(tmp_path / name))
        dialog.accept()
        wait_jobs(w)
        assert w.background.last_export and all(f.exists() and f.stat().st_size > 0 for f in w.background.last_export)
    rttm = (tmp_path / "labels.rttm").read_text().splitlines()
    assert rttm and all(line.startswith("SPEAKER ") for line in rttm)
    assert len(list((tmp_path / "audacity").rglob("*.txt"))) == len(w.state.session.project.recordings())


def test_a_vanished_audio_file_is_named_and_the_review_goes_on(make_window, project_dir, tmp_path, monkeypatch):
    """Audio moved or deleted after analysis: selecting its segment names the file in the status
    bar, nothing plays, and the next segment (whose file is there) still works."""
    player = NullPlayer()
    w = make_window(project_dir, player)
    s = w.state.session
    gone = tmp_path / "moved away.flac"
    real_span = s.segment_span
    first = w.state.queue[0]
    monkeypatch.setattr(s, "segment_span", lambda i: (gone, 0.0, 1.0) if i == first else real_span(i))
    w.playback.show_segment(first, play=True)
    assert str(gone) in w.statusBar().currentMessage()
    assert player.calls == []
    key(w, Qt.Key.Key_Right)  # next segment
    assert w.state.current_segment != first and w.inspector.spectrogram.image.image is not None


def test_split_proposal_stays_in_view_with_parts_told_apart(make_window, project_dir, qtbot):
    """The proposal is coloured in the scatter: the dialog must not cover it, and the parts'
    colours must differ clearly (two new ids' palette colours could be near twins)."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QColor

    w = make_window(project_dir)
    w.resize(1024, 700)
    p = w.state.session.project
    a, b = sorted(sizes(w))[:2]
    w.state.session.log.merge([a, b], into=a)
    w.clusters.select_cluster(a)
    dialog = w.edits.ask_split()
    qtbot.waitUntil(lambda: dialog.labels is not None, timeout=30000)
    scatter = QRect(w.scatter.mapToGlobal(QPoint(0, 0)), w.scatter.size())
    assert dialog.frameGeometry().intersected(scatter).width() < 0.2 * scatter.width()
    colors = [QColor(c) for c in [w.review.colors().get(a) or color_for(a)] + dialog.part_colors]
    assert len(colors) == 2
    hue_gap = abs(colors[0].hslHueF() - colors[1].hslHueF())
    assert min(hue_gap, 1 - hue_gap) > 0.3
    dialog.accept()
    new = [c for c in sizes(w) if c != a and np.any(p.cluster == c)]
    assert w.review.colors().get(max(new)) == dialog.part_colors[0]  # the colour seen is the colour kept
