"""The clustering is not an undoable edit: Ctrl+Z stops at it; re-clustering is its own
command (Edit > Re-cluster…) with its own confirmation, and keeps names and verified labels."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from guidata import key
from speakerid_gui.gui.recluster import ReclusterDialog

CTRL = Qt.KeyboardModifier.ControlModifier


def test_ctrl_z_stops_at_the_clustering(make_window, project_dir):
    w = make_window(project_dir)
    p = w.state.session.project
    clustered = p.cluster.copy()
    key(w, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(p.cluster, clustered) and w.clusters.model.rowCount() == 3
    assert "undo stops at the clustering" in w.statusBar().currentMessage()
    cid = w.state.current_cluster
    w.state.session.log.rename(cid, "Ada")
    w.edits.merge_with_most_similar()
    for _ in range(4):  # two edits, then two presses too many
        key(w, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(p.cluster, clustered) and (p.cluster >= 0).all()
    assert "undo stops at the clustering" in w.statusBar().currentMessage()
    assert w.clusters.model.rowCount() == 3 and w.state.current_cluster is not None
    key(w, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)  # redo still works
    assert p.cluster_name(cid) == "Ada"


def test_recluster_asks_first_and_keeps_names_and_verified_labels(make_window, project_dir, wait_jobs):
    w = make_window(project_dir)
    p = w.state.session.project
    cid = w.state.current_cluster
    w.state.session.log.rename(cid, "Ada")
    w.edits.verify_cluster()
    verified = p.verified.copy()
    w.action("recluster").trigger()
    dialog = w.active_dialog
    assert isinstance(dialog, ReclusterDialog)
    assert "not an undoable edit" in dialog.warning.text() and "2 edits" in dialog.warning.text()
    dialog.reject()  # nothing happens without the confirmation
    wait_jobs(w)
    assert len(p.cluster_sizes()) == 3 and w.state.session.log.can_undo()
    w.action("recluster").trigger()
    dialog = w.active_dialog
    dialog.given.setChecked(True)
    dialog.count.setValue(2)
    dialog.accept()
    wait_jobs(w)
    p = w.state.session.project
    assert len(p.cluster_sizes()) == 2 and w.clusters.model.rowCount() == 2
    assert (p.verified == verified).all() and (p.cluster[verified] == cid).all() and p.cluster_name(cid) == "Ada"
    assert not w.state.session.log.can_undo()  # the new clustering is where undo stops
    assert w.state.session.log.history()[0].kind == "cluster"
