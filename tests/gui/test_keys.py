"""Every documented shortcut works whatever has focus, from the first key after opening a
project; typing in the filter box is the only exception, and Escape leaves it. Real key
events (QTest) into the widget that has focus, as a reviewer's keyboard would send them."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from speakerid_gui.gui.keys import is_text_box
from speakerid_gui.gui.player import NullPlayer

K = Qt.Key
CTRL = Qt.KeyboardModifier.ControlModifier


def press(k, modifier=Qt.KeyboardModifier.NoModifier):
    """A key press into whatever widget has focus now (where the keyboard sends it)."""
    target = QApplication.focusWidget()
    assert target is not None, "no widget has focus"
    QTest.keyClick(target, k, modifier)
    return target


def counter(action):
    hits = []
    action.triggered.connect(lambda *_: hits.append(1))
    return hits


def test_the_first_keys_after_opening_are_shortcuts(make_window, project_dir):
    player = NullPlayer()
    w = make_window(project_dir, player)
    assert QApplication.focusWidget() is not w.clusters.filter
    first = w.state.current_cluster
    press(K.Key_Space)  # plays, does not type into the filter box
    assert len(player.calls) == 1 and player.calls[0][2] == w.state.current_segment
    assert w.clusters.filter.text() == "" and w.clusters.model.rowCount() == 3
    press(K.Key_J)
    assert w.state.current_cluster not in (None, first)
    before = len(w.state.session.project.cluster_sizes())
    press(K.Key_M)  # shows and plays the most similar cluster...
    assert len(w.state.session.project.cluster_sizes()) == before
    press(K.Key_M)  # ...and merges with it
    assert len(w.state.session.project.cluster_sizes()) == before - 1
    press(K.Key_Z, CTRL)  # undoes the merge
    assert len(w.state.session.project.cluster_sizes()) == before


def focusable(w):
    """Every widget of the review page a click or Tab can give focus to."""
    from PySide6.QtWidgets import QWidget

    out = []
    for widget in w.findChildren(QWidget):
        if widget.window() is w and widget.isVisible() and widget.isEnabled() and \
                widget.focusPolicy() != Qt.FocusPolicy.NoFocus and widget.focusProxy() is None:
            out.append(widget)
    return out


def test_shortcuts_fire_from_every_focusable_widget(make_window, project_dir):
    w = make_window(project_dir)
    widgets = focusable(w)
    assert len(widgets) >= 4  # the filter box, the cluster table, the scatter, the segment lists...
    dim, undo, play = counter(w.action("dim")), counter(w.action("undo")), counter(w.action("play"))
    cid = w.state.current_cluster
    for widget in widgets:
        widget.setFocus(Qt.FocusReason.MouseFocusReason)
        assert QApplication.focusWidget() is widget, widget
        w.state.session.log.rename(cid, f"name {len(undo)}")  # something to undo
        press(K.Key_Z, CTRL)
        assert len(undo) and w.state.session.project.cluster_name(cid) != f"name {len(undo) - 1}", \
            f"Ctrl+Z in {type(widget).__name__} did not undo the last edit"
        if is_text_box(widget):
            continue  # typing: checked below
        n_dim, n_play = len(dim), len(play)
        press(K.Key_D)
        press(K.Key_Space)
        assert len(dim) == n_dim + 1 and len(play) == n_play + 1, f"D/Space swallowed by {type(widget).__name__}"
        w.player.stop()
    assert len(undo) == len(widgets)


def test_the_filter_box_types_and_escape_leaves_it(make_window, project_dir):
    w = make_window(project_dir)
    dim = counter(w.action("dim"))
    w.action("find_cluster").trigger()  # Ctrl+F
    assert QApplication.focusWidget() is w.clusters.filter
    for k in (K.Key_S, K.Key_Space, K.Key_D, K.Key_1):
        press(k)
    assert w.clusters.filter.text() == "s d1" and not dim  # typed, no shortcut fired
    press(K.Key_Backspace)
    assert w.clusters.filter.text() == "s d"
    w.clusters.filter.clear()
    press(K.Key_Escape)
    assert QApplication.focusWidget() is w.clusters.table
    press(K.Key_D)
    assert len(dim) == 1


def test_the_filter_text_resets_per_project(make_window, project_dir, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(project_dir, other)
    w = make_window(project_dir)
    QTest.keyClicks(w.clusters.filter, "nobody")
    assert w.clusters.proxy.rowCount() == 0
    assert w.pages.open_project(other)
    assert w.clusters.filter.text() == "" and w.clusters.proxy.rowCount() == 3
