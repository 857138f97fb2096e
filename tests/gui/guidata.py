"""Helpers shared by the GUI tests (plain functions; fixtures live in conftest.py)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def key(window, k, modifier=Qt.KeyboardModifier.NoModifier, widget=None):
    """A key press as the reviewer makes it: into the (active) window, focus in the cluster list."""
    for _ in range(100):  # after a dialog closes the window takes activation back (asynchronously)
        if QApplication.activeWindow() is window:
            break
        QTest.qWait(20)
    assert QApplication.activeWindow() is window, "the review window is not active: shortcuts would not fire"
    QTest.keyClick(widget or window.clusters.table, k, modifier)


def verify_and_name(w):
    """Every cluster verified, the first three named: labels a reviewer has vouched for."""
    p = w.state.session.project
    ids = sorted(p.cluster_sizes())
    for cid in ids:
        w.state.session.log.verify_cluster(cid)
    for cid, name in zip(ids, ("Ada", "Grace", "Barbara")):
        w.state.session.log.rename(cid, name)
    return ids
