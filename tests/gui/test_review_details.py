"""Issue 10, point 10: natural name order kept across restarts, a renamed cluster in view, the
export dialog's memory, singular counts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from speakerid_gui.gui.cluster_list import ClusterPanel


def _names_in_view_order(w):
    return [w.state.session.project.cluster_name(c) for c in w.clusters.visible_ids()]


def test_names_sort_naturally_and_the_sort_survives_a_restart(make_window, project_dir, qtbot, settings):
    w = make_window(project_dir)
    log = w.state.session.log
    ids = sorted(w.state.session.project.cluster_sizes())
    for cid, name in zip(ids, ("S100", "S2", "S10")):
        log.rename(cid, name)
    w.clusters.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert _names_in_view_order(w) == ["S2", "S10", "S100"]
    w.clusters.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert _names_in_view_order(w) == ["S100", "S10", "S2"]
    w.close()
    # a new window with the same settings (a restart) sorts by name, descending
    again = make_window(project_dir)
    assert again.clusters.table.horizontalHeader().sortIndicatorSection() == 0
    assert again.clusters.table.horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert _names_in_view_order(again) == ["S100", "S10", "S2"]


def test_natural_order_with_many_clusters_and_a_renamed_cluster_stays_in_view(qtbot):
    from types import SimpleNamespace

    panel = ClusterPanel()
    qtbot.addWidget(panel)
    panel.resize(300, 200)  # a few rows visible
    panel.show()
    n = 120
    names = {c: "" for c in range(n)}
    stats = SimpleNamespace(ids=np.arange(n), size=np.full(n, 5), confidence=np.full(n, 0.8),
                            verified=np.zeros(n))
    name_of = lambda c: names[c] or f"S{c}"  # noqa: E731
    panel.refresh(stats, name_of, lambda c: "#888888")
    panel.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    order = [name_of(c) for c in panel.visible_ids()]
    assert order[:12] == [f"S{i}" for i in range(12)] and order[-1] == "S119"
    panel.select_cluster(3)
    names[3] = "zz last"  # renamed: it sorts to the end, and the list follows it there
    panel.refresh(stats, name_of, lambda c: "#888888")
    assert panel.visible_ids()[-1] == 3 and panel.current_id() == 3
    index = panel._proxy_index(3)
    rect = panel.table.visualRect(index)
    assert panel.table.viewport().rect().intersects(rect), "the renamed cluster scrolled out of view"


def test_export_dialog_remembers_folder_and_format(make_window, project_dir, tmp_path, qtbot, wait_jobs):
    w = make_window(project_dir)
    dialog = w.background.ask_export()
    for fmt in ("clips", "csv"):  # the clips box comes and goes; the path field stays readable
        dialog.set_format(fmt)
        assert dialog.width() >= 560
    out = tmp_path / "elsewhere" / "labels.rttm"
    dialog.set_format("rttm")
    dialog.path.setText(str(out))
    dialog.accept()
    wait_jobs(w)
    assert out.exists()
    again = w.background.ask_export()
    assert again.fmt() == "rttm" and Path(again.out_path()) == out
    again.reject()
    w.pages.close_project()
    assert w.pages.open_project(project_dir)  # remembered in the project, so also after a restart
    third = w.background.ask_export()
    assert third.fmt() == "rttm" and third.out_path().parent == out.parent
    third.reject()


def test_counts_of_one_are_singular(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    p = w.state.session.project
    cid = w.state.current_cluster
    one = np.flatnonzero(p.cluster == cid)[:1]
    w.edits.move_segments(one, None, "solo")  # a cluster of one segment, now current
    assert "1 segment ·" in w.inspector.subtitle.text() and "1 segments" not in w.inspector.subtitle.text()
    assert "Moved 1 segment to solo" in w.statusBar().currentMessage()
    w.state.session.log.verify(one)
    assert w.state.session.log.history(1)[0].description == "verify 1 segment"
