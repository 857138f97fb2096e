"""The window consumes each edit's Change (core/project/edit_record.py): undo puts the selection back
where it was when the edit was made, redo where it went after it; the cluster list gets its
rows back; the scatter restyles what the Change says, with the Change's labels, not what it
had drawn."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from guidata import key
from test_incremental_views import assert_matches_full_redraw


def rows(w) -> list:
    """The cluster list as the reviewer sees it: (id, name, size, confidence, verified) in view order."""
    m = w.clusters.model
    shown = {c: d for c, d in zip(m.ids, m.display)}
    return [(c, *shown[c]) for c in w.clusters.visible_ids()]


def test_merge_then_undo_restores_the_selection_and_the_list(make_window, project_dir):
    w = make_window(project_dir)
    p = w.state.session.project
    big, middle, small = (c for c, _ in sorted(p.cluster_sizes().items(), key=lambda kv: -kv[1]))
    listed = rows(w)
    w.clusters.select_ids([big, small], small)  # the smaller one current: it is the one merged away
    assert w.state.current_cluster == small
    segment = int(w.state.queue[1])
    w.playback.show_segment(segment)
    w.scatter.set_selection(w.state.queue[:2], emit=False)
    chosen = w.scatter.selection.copy()

    w.edits.merge_selected()
    assert small not in w.clusters.model.ids and [c for c, *_ in rows(w)] == [big, middle]
    assert w.clusters.selected_ids() == [big] and w.state.current_cluster == big  # followed small into big
    w.clusters.select_cluster(middle)  # the reviewer looks elsewhere before undoing
    assert w.state.current_cluster == middle

    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Z
    assert rows(w) == listed  # every row back, same names, sizes, shares, in the same order
    assert sorted(w.clusters.selected_ids()) == sorted([big, small])
    assert w.state.current_cluster == small and w.clusters.current_id() == small
    assert w.state.current_segment == segment and w.scatter.current == segment
    np.testing.assert_array_equal(w.scatter.selection, chosen)
    assert sorted(w.state.queue.tolist()) == np.flatnonzero(p.cluster == small).tolist()

    w.clusters.select_cluster(middle)
    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)  # redo
    assert w.clusters.selected_ids() == [big] and w.state.current_cluster == big
    assert w.state.current_segment == segment  # the merged segment, now in big
    assert [c for c, *_ in rows(w)] == [big, middle]


def test_scatter_colours_follow_the_change_not_its_drawing(make_window, project_dir):
    w = make_window(project_dir)
    p, log, s = w.state.session.project, w.state.session.log, w.scatter
    assert not hasattr(s, "shown_clusters") and not hasattr(s, "_codes")  # no drawn labels to read back
    heard = []
    log.listeners.insert(0, heard.append)
    restyled = []
    restyle = s.base.restyle
    s.base.restyle = lambda index, codes, lut: (restyled.append((np.array(index), np.array(codes))),
                                                restyle(index, codes, lut))
    big, _, small = (c for c, _ in sorted(p.cluster_sizes().items(), key=lambda kv: -kv[1]))
    members = np.flatnonzero(p.cluster == small)
    for step in (lambda: log.merge([big, small]), log.undo, log.redo, log.undo):
        restyled.clear()
        step()
        change = heard[-1]
        moved = change.old_cluster != change.new_cluster
        (index, codes), = restyled  # one restyle: the Change's moved points, with its new clusters
        np.testing.assert_array_equal(index, members)
        np.testing.assert_array_equal(index, change.positions[moved])
        np.testing.assert_array_equal(codes, change.new_cluster[moved] + 1)
        assert_matches_full_redraw(w)

    change = log.recolour(small, "#ff00ff")  # a colour: every point of the cluster follows
    assert change.recoloured == (small,)
    brushes = s.base.data["brush"][members]
    assert all(b.color() == QColor("#ff00ff") for b in brushes)
    assert_matches_full_redraw(w)
    log.undo()
    assert all(b.color() != QColor("#ff00ff") for b in s.base.data["brush"][members])
    assert_matches_full_redraw(w)


def test_a_move_that_empties_the_cluster_under_review_goes_straight_to_its_target(make_window, project_dir):
    """The list goes from the emptied cluster to the move's target: one inspector redraw, not
    one for the largest cluster and another for the target."""
    w = make_window(project_dir)
    p = w.state.session.project
    small = min(p.cluster_sizes(), key=p.cluster_sizes().get)
    w.clusters.select_cluster(small)
    members = np.flatnonzero(p.cluster == small)
    w.scatter.set_selection(members, emit=False)
    drawn = []
    original = w.review.show_cluster
    w.review.show_cluster = lambda cid, keep_segment: (drawn.append(cid), original(cid, keep_segment))
    w.edits.move_segments(w.scatter.selection, None, "Moved here")
    target = int(p.cluster[members[0]])
    assert small not in p.cluster_sizes() and target != small
    assert w.state.current_cluster == target and w.clusters.selected_ids() == [target]
    assert drawn == [target]


def close_dialogs(w):
    """The reviewer reads the message and presses OK."""
    from PySide6.QtWidgets import QMessageBox

    boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
    assert boxes, "no message was shown"
    for box in boxes:
        box.accept()


def test_a_disk_that_refuses_the_project_is_said_and_nothing_crashes(make_window, project_dir, monkeypatch):
    from speakerid_gui.core.project.assignment_writer import WriteFailed

    w = make_window(project_dir)
    p = w.state.session.project
    before = p.verified.copy()

    def refuse():
        raise WriteFailed(f"{p.db_path}: edits could not be copied into the assignments table (disk I/O error)")

    current = w.state.current_cluster
    monkeypatch.setattr(p, "wait_for_writes", refuse)
    key(w, Qt.Key.Key_V)  # verify the cluster under review: refused, said in a dialog
    assert "This edit was not made" in w.last_error and "disk I/O error" in w.last_error
    np.testing.assert_array_equal(p.verified, before)
    close_dialogs(w)
    monkeypatch.undo()
    key(w, Qt.Key.Key_V)  # the disk is back: the edit goes through
    assert p.verified[p.cluster == current].all()
    w.last_error = ""
    monkeypatch.setattr(p, "wait_for_writes", refuse)
    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo refused the same way
    assert "This edit was not made" in w.last_error and p.verified[p.cluster == current].all()
    close_dialogs(w)
    monkeypatch.undo()
    key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(p.verified, before)
