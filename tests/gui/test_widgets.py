"""Widgets on synthetic data: the fast scatter styling, the spectrogram maths, the cluster list."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from speakerid_gui.gui import melspec
from speakerid_gui.gui.cluster_list import ClusterPanel
from speakerid_gui.gui.review import ClusterStats
from speakerid_gui.gui.scatter import BrushTable, ClusterScatter, ScatterPanel


def test_fast_styling_equals_pyqtgraphs_own(qtbot):
    rng = np.random.default_rng(0)
    n, k = 5000, 40
    xy = rng.normal(size=(n, 2))
    labels = rng.integers(-1, k, n)
    table = BrushTable()
    lut = table.lut({3: "#ff0000"}, k - 1, focus=2, dim_others=True)
    fast = ClusterScatter(size=5)
    assert fast._fast
    fast.set_points(xy[:, 0], xy[:, 1], labels + 1, lut)
    slow = pg.ScatterPlotItem(pxMode=True, size=5, pen=fast.opts["pen"])
    slow.fragmentAtlas = fast.fragmentAtlas  # same atlas, so the same rectangles mean the same symbols
    slow.setData(x=xy[:, 0], y=xy[:, 1], brush=lut[labels + 1])
    assert np.array_equal(fast.data["sourceRect"], slow.data["sourceRect"])
    assert all(a is b for a, b in zip(fast.data["brush"], slow.data["brush"]))
    # Recolouring (a merge) restyles only through the codes.
    labels[labels == 5] = 7
    fast.set_codes(labels + 1, lut)
    slow.setBrush(lut[labels + 1])
    assert np.array_equal(fast.data["sourceRect"], slow.data["sourceRect"])


def test_brushes_are_shared_per_cluster():
    table = BrushTable()
    a = table.lut({}, 10)
    b = table.lut({}, 12)
    assert a[5] is b[5]  # the same QBrush object: one atlas entry per cluster, ever
    dim = table.lut({}, 10, focus=3, dim_others=True)
    assert dim[4] is a[4] and dim[5] is not a[5] and dim[5].color().alpha() < 255


def test_scatter_panel_selection_and_pick(qtbot):
    panel = ScatterPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 500)
    panel.show()
    xy = np.array([[0, 0], [1, 1], [2, 2], [3, 3]], np.float32)
    panel.set_data(xy, np.array([0, 0, 1, 1]), np.zeros(4, bool), np.array([False, False, False, True]), {})
    assert len(panel.noise_item.data) == 1 and len(panel.base.data) == 4
    with qtbot.waitSignal(panel.selection_changed) as sig:
        panel._on_region("rect", np.array([[-0.5, -0.5], [1.5, 1.5]]), Qt.KeyboardModifier.NoModifier)
    assert list(sig.args[0]) == [0, 1]
    with qtbot.waitSignal(panel.selection_changed) as sig:
        panel._on_region("lasso", np.array([[1.5, 1.0], [3.5, 1.0], [3.5, 4.0], [1.5, 4.0]]),
                         Qt.KeyboardModifier.NoModifier)
    assert list(sig.args[0]) == [2, 3]
    assert panel.pick(1.0, 1.0) == 1
    sx, _ = panel.view.viewPixelSize()
    assert panel.pick(1.0 + 100 * sx, 1.0) is None  # 100 px away: nothing under the mouse


def test_log_mel_tone_lands_on_its_frequency_row():
    sr = 16000
    t = np.arange(sr) / sr
    spec = melspec.log_mel(np.sin(2 * np.pi * 1000 * t).astype(np.float32), sr)
    assert spec.shape[1] == melspec.N_MELS and abs(spec.shape[0] - 100) <= 2
    peak_row = int(np.argmax(spec.mean(axis=0)))
    tick_row = dict((label, row) for level in melspec.frequency_ticks() for row, label in level)["1 kHz"]
    assert abs(peak_row + 0.5 - tick_row) <= 1.5  # image row r spans [r, r + 1)
    assert spec.max() == 0 and spec.min() >= melspec.FLOOR_DB


def test_cluster_list_sorts_filters_and_keeps_selection(qtbot):
    panel = ClusterPanel()
    qtbot.addWidget(panel)
    names = {0: "Alice", 1: "S1", 2: "Bob", 3: "alina"}
    stats = ClusterStats(np.array([0, 1, 2, 3]), np.array([5, 50, 20, 1]), np.array([.9, .5, .7, .8]),
                         np.array([0, .5, 1, 0]))
    panel.refresh(stats, names.get, lambda c: "#123456")
    assert panel.visible_ids() == [1, 2, 0, 3]  # by size, largest first
    panel.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)  # confidence
    assert panel.visible_ids() == [1, 2, 3, 0]
    with qtbot.waitSignal(panel.current_changed) as sig:
        panel.select_cluster(2)
    assert sig.args == [2]
    assert panel.step(1) == 3 and panel.current_id() == 3
    panel.filter.setText("ali")
    assert sorted(panel.visible_ids()) == [0, 3]
    assert panel.current_id() == 3                     # "alina" passes the filter and stays current
    panel.filter.setText("bob")
    assert panel.visible_ids() == [2]
    panel.filter.setText("")                           # cleared: the cluster under review is back
    assert panel.current_id() == 3 and panel.selected_ids() == [3]
    panel.table.selectRow(0)
    panel.select_ids([0, 2], current=0)
    # a rebuild (after an edit) keeps the selection by id even when rows move
    stats2 = ClusterStats(np.array([0, 2, 3]), np.array([5, 20, 1]), np.array([.95, .1, .8]), np.array([0, 0, 0]))
    panel.refresh(stats2, names.get, lambda c: "#123456")
    assert panel.selected_ids() and set(panel.selected_ids()) == {0, 2}
    assert panel.current_id() == 0
    stats3 = ClusterStats(np.array([0, 2, 3]), np.array([5, 20, 1]), np.array([.95, .1, .05]), np.array([0, 0, 0]))
    panel.refresh(stats3, names.get, lambda c: "#123456")
    assert panel.visible_ids() == [3, 2, 0]  # a row whose value changed is sorted again (confidence, ascending)


def test_progress_panel_bars():
    from speakerid_gui.core.pipeline import Event
    from speakerid_gui.gui.progress_panel import ProgressPanel

    panel = ProgressPanel()
    panel.reset()
    panel.update_event(Event("analyse", 0, 17, "17 recordings to analyse", seconds=0.0, seconds_total=120.0))
    assert panel.bars["scan"].value() == panel.bars["scan"].maximum()  # earlier stages are done
    bar = panel.bars["analyse"]
    assert bar.maximum() > 1 and bar.value() == 0  # determinate from the first event
    assert "0 of 17 files" in bar.format() and "2.0 min" in bar.format()
    panel.update_event(Event("analyse", 5, 17, seconds=30.0, seconds_total=120.0))
    assert bar.value() / bar.maximum() == 0.25 and "5 of 17 files" in bar.format()
    panel.update_event(Event("layout", 0, 1, "umap layout of 100 segments"))
    assert panel.bars["cluster"].value() == panel.bars["cluster"].maximum()
    assert panel.bars["layout"].maximum() == 1 and "running" in panel.bars["layout"].format()  # no busy animation
    assert "umap" in panel.message.text()
