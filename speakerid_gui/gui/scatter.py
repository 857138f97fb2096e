"""The 2-D scatter of all segments, coloured by cluster.

Measured rules (DESIGN.md): pxMode=True, one shared QBrush per cluster, never SpotItems
(no points()/sigClicked/hover on the big item), hit-testing in numpy (hittest.py), the
selection and other small sets drawn on their own items.

Points are restyled by integer codes (scatter_items.ClusterScatter: a recolour costs a few
milliseconds); after an edit only the points its Change moved are restyled (apply_change),
from the Change's old and new labels: nothing is read back from what is drawn.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QButtonGroup, QHBoxLayout, QLabel, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

from speakerid_gui.core.text import plural
from speakerid_gui.gui.hittest import PointIndex, simplify_path
from speakerid_gui.gui.scatter_items import BrushTable, ClusterScatter, QuietScatter, SelectViewBox
from speakerid_gui.gui.scatter_items import cosmetic_pen as _pen

BACKGROUND = "#1b1d22"
PICK_RADIUS_PX = 8
HOVER_DELAY_MS = 40


class ScatterPanel(QWidget):
    """The plot, its mode buttons and the overlays; talks to the window through signals."""

    point_clicked = Signal(int)                 # segment position
    selection_changed = Signal(object)          # np.ndarray of segment positions

    def __init__(self, parent=None):
        super().__init__(parent)
        self.describe = lambda index: str(index)  # hover text for a segment (set by the window)
        self.brushes = BrushTable()
        self.xy = np.zeros((0, 2), np.float32)
        self.index = PointIndex(self.xy)
        self.cluster = np.zeros(0, np.int32)
        self.verified = np.zeros(0, bool)
        self.noise = np.zeros(0, bool)
        self.colors: dict[int, str] = {}
        self.focus: int | None = None
        self.dim_others = False
        self.selection = np.zeros(0, np.int64)
        self.current: int | None = None
        self._preview = None
        self._preview_colors: dict = {}
        self._build()

    # ---- construction ---------------------------------------------------------------------------
    def _build(self):
        self.view = SelectViewBox()
        self.plot = pg.PlotWidget(viewBox=self.view, background=BACKGROUND)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.view.setAspectLocked(False)
        self.base = ClusterScatter(size=5)
        self.verified_item = ClusterScatter(size=9, pen=_pen("#ffffff", 1.4))
        self.noise_item = ClusterScatter(symbol="x", size=7)
        self.focus_item = ClusterScatter(size=7)
        self.selection_item = ClusterScatter(size=12, pen=_pen("#ffd24d", 1.5))
        self.current_item = QuietScatter(pxMode=True, size=18, pen=_pen("#ffffff", 2.0),
                                         brush=QBrush(Qt.BrushStyle.NoBrush))
        for z, item in enumerate([self.base, self.verified_item, self.noise_item, self.focus_item,
                                  self.selection_item, self.current_item]):
            item.setZValue(z)
            self.plot.addItem(item)
        self.hover_text = pg.TextItem("", color="#f0f0f0", fill=pg.mkBrush(20, 20, 24, 220), anchor=(0, 1))
        self.hover_text.setZValue(100)
        self.hover_text.hide()
        self.plot.addItem(self.hover_text, ignoreBounds=True)
        self.placeholder = pg.TextItem("No segments yet: they appear here as soon as the analysis has embedded them.",
                                       color="#8a8f98", anchor=(0.5, 0.5))
        self.plot.addItem(self.placeholder, ignoreBounds=True)
        self.placeholder.setPos(0.5, 0.5)
        self.noise_brush = np.array([QBrush(QColor("#9a9a9a"))], dtype=object)
        self.ring_brush = np.array([QBrush(Qt.BrushStyle.NoBrush)], dtype=object)

        self.view.clicked.connect(self._on_click)
        self.view.region_selected.connect(self._on_region)
        self._hover_pos = None
        self._hover_timer = QTimer(self, singleShot=True, interval=HOVER_DELAY_MS)
        self._hover_timer.timeout.connect(self._update_hover)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons = {}
        for mode, text, tip in [("pan", "Pan", "Drag to pan, wheel to zoom"),
                                ("rect", "Rectangle", "Drag a rectangle to select segments (or Shift+drag)"),
                                ("lasso", "Lasso", "Draw around segments to select them (or Ctrl+drag)")]:
            b = QToolButton(text=text, checkable=True, toolTip=tip)
            b.clicked.connect(lambda _=False, m=mode: self.set_mode(m))
            self.mode_group.addButton(b)
            self.mode_buttons[mode] = b
            bar.addWidget(b)
        self.mode_buttons["pan"].setChecked(True)
        bar.addSpacing(12)
        self.reset_button = QToolButton(text="Reset view", toolTip="Show all segments (R)")
        self.reset_button.clicked.connect(self.reset_view)
        bar.addWidget(self.reset_button)
        self.dim_button = QToolButton(text="Dim others", checkable=True,
                                      toolTip="Dim every cluster but the selected one (D)")
        self.dim_button.toggled.connect(self.set_dim_others)
        bar.addWidget(self.dim_button)
        bar.addStretch(1)
        self.info = QLabel("")
        self.info.setStyleSheet("color: #666;")
        # the count and layout note may be clipped, but never make the panel wider (1024x700)
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.info.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar.addWidget(self.info)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.plot, 1)

    # ---- data -----------------------------------------------------------------------------------
    def set_layout(self, xy: np.ndarray, source: str = "", keep_view: bool = False):
        """New coordinates (the same segments, or a new project): rebuild every item. keep_view:
        the same map with a point more or less (a turn cut): the reviewer's zoom stays."""
        self.xy = np.asarray(xy, dtype=np.float32).reshape(-1, 2)
        self.index = PointIndex(self.xy)
        small = len(self.xy) < 5000  # few points: bigger dots; many: small ones, or it is one blob
        self.base.opts["size"], self.focus_item.opts["size"] = (7, 9) if small else (5, 7)
        self.selection = self.selection[self.selection < len(self.xy)]
        self.info.setText(plural(len(self.xy), "segment") + (f" · {source}" if source else ""))
        self.placeholder.setVisible(len(self.xy) == 0)
        self._redraw_all()
        if not keep_view:
            self.reset_view()

    def set_data(self, xy: np.ndarray, cluster, verified, noise, colors: dict[int, str], source: str = "",
                 keep_view: bool = False):
        """Coordinates and labels together (opening a project): one rebuild, not two."""
        self.cluster = np.asarray(cluster)
        self.verified = np.asarray(verified, dtype=bool)
        self.noise = np.asarray(noise, dtype=bool)
        self.colors = dict(colors)
        self.set_layout(xy, source, keep_view)

    def set_labels(self, cluster: np.ndarray, verified: np.ndarray, noise: np.ndarray, colors: dict[int, str]):
        """New assignment columns (after a reload); positions stay."""
        self._take_labels(cluster, verified, noise, colors)
        if len(self.cluster) != len(self.xy):
            return  # labels for segments whose layout is not there yet
        self._redraw_all(rebuild_base=len(self.base.data) != len(self.xy))

    def apply_change(self, change, cluster: np.ndarray, verified: np.ndarray, noise: np.ndarray,
                     colors: dict[int, str]):
        """After an edit: restyle only the points whose cluster the Change moved, from the
        Change's own old and new labels, and redraw an overlay (verified, noise, focus) only if
        one of the changed points is or was on it. A cluster with points that changed colour
        (or points not drawn yet) redraws everything."""
        self._take_labels(cluster, verified, noise, colors)
        n = len(self.xy)
        if len(self.cluster) != n:
            return  # labels for segments whose layout is not there yet
        lut = self._lut()
        recoloured = np.asarray(change.recoloured, dtype=np.int64)
        if len(self.base.data) != n or (len(recoloured) and np.isin(recoloured, self.cluster).any()):
            self._redraw_all(rebuild_base=len(self.base.data) != n)
            return
        positions, old, new = change.positions, change.old, change.new
        if len(positions) and positions[-1] >= n:  # a change of segments this layout does not have
            self._redraw_all(rebuild_base=False)
            return
        moved = old["cluster"] != new["cluster"]
        if moved.any():
            self.base.restyle(positions[moved], np.maximum(new["cluster"][moved].astype(np.int64) + 1, 0), lut)
        x, y = self.xy[:, 0], self.xy[:, 1]
        if ((old["verified"] & ~old["noise"]) | (new["verified"] & ~new["noise"])).any():
            self._draw_verified(x, y, lut)
        if (old["noise"] | new["noise"] | (old["cluster"] < 0) | (new["cluster"] < 0)).any():
            self._draw_noise(x, y)
        if self._preview is not None or (self.focus is not None and
                                         ((old["cluster"] == self.focus) | (new["cluster"] == self.focus)).any()):
            self._draw_focus(lut)

    def _take_labels(self, cluster, verified, noise, colors):
        self.cluster = np.asarray(cluster)
        self.verified = np.asarray(verified, dtype=bool)
        self.noise = np.asarray(noise, dtype=bool)
        self.colors = dict(colors)

    def _lut(self):
        max_id = int(self.cluster.max(initial=-1))
        if self._preview is not None:
            max_id = max(max_id, int(self._preview[1].max(initial=-1)))
        colors = {**self._preview_colors, **self.colors} if self._preview is not None else self.colors
        return self.brushes.lut(colors, max(max_id, 0), self.focus, self.dim_others)

    def _redraw_all(self, rebuild_base: bool = True):
        n = len(self.xy)
        if len(self.cluster) != n:
            self.cluster = np.full(n, -1, np.int32)
            self.verified = np.zeros(n, bool)
            self.noise = np.zeros(n, bool)
        lut = self._lut()
        codes = self.cluster.astype(np.int64) + 1
        codes[codes < 0] = 0
        x, y = self.xy[:, 0], self.xy[:, 1]
        if rebuild_base:
            self.base.set_points(x, y, codes, lut)
        else:
            self.base.set_codes(codes, lut)
        self._draw_verified(x, y, lut)
        self._draw_noise(x, y)
        self._draw_focus(lut)
        self._draw_selection()
        self._draw_current()

    def _draw_verified(self, x, y, lut):
        ver = np.flatnonzero(self.verified & ~self.noise)
        codes = self.cluster[ver].astype(np.int64) + 1
        codes[codes < 0] = 0
        self.verified_item.set_points(x[ver], y[ver], codes, lut)

    def _draw_noise(self, x, y):
        noi = np.flatnonzero(self.noise | (self.cluster < 0))
        self.noise_item.set_points(x[noi], y[noi], np.zeros(len(noi), np.int64), self.noise_brush)

    def _draw_focus(self, lut=None):
        lut = self._lut() if lut is None else lut
        if self._preview is not None:  # split preview: the cluster's members in their proposed parts' colours
            members, labels = self._preview
            self.focus_item.set_points(self.xy[members, 0], self.xy[members, 1], labels + 1, lut)
            return
        if self.focus is None or len(self.xy) == 0:
            self.focus_item.set_points(np.zeros(0), np.zeros(0), np.zeros(0, np.int64), lut)
            return
        idx = np.flatnonzero((self.cluster == self.focus) & ~self.noise)
        self.focus_item.set_points(self.xy[idx, 0], self.xy[idx, 1], np.full(len(idx), self.focus + 1), lut)

    def _draw_selection(self):
        sel = self.selection
        self.selection_item.set_points(self.xy[sel, 0], self.xy[sel, 1], np.zeros(len(sel), np.int64),
                                       self.ring_brush)

    def _draw_current(self):
        if self.current is None or self.current >= len(self.xy):
            self.current_item.setData(x=[], y=[])
        else:
            self.current_item.setData(x=[self.xy[self.current, 0]], y=[self.xy[self.current, 1]])

    # ---- state the window sets ---------------------------------------------------------------
    def set_focus(self, cluster_id: int | None):
        if cluster_id == self.focus:
            return
        self.focus = cluster_id
        if self.dim_others:
            self._redraw_all(rebuild_base=False)
        else:
            self._draw_focus()

    def set_dim_others(self, on: bool):
        self.dim_others = bool(on)
        if self.dim_button.isChecked() != self.dim_others:
            self.dim_button.setChecked(self.dim_others)
        self._redraw_all(rebuild_base=False)

    def set_current(self, index: int | None):
        self.current = index
        self._draw_current()

    def set_selection(self, indices, emit: bool = True):
        self.selection = np.unique(np.asarray(indices, dtype=np.int64))
        self._draw_selection()
        if emit:
            self.selection_changed.emit(self.selection)

    def clear_selection(self):
        if len(self.selection):
            self.set_selection(np.zeros(0, np.int64))

    def show_preview(self, members: np.ndarray, cluster_ids: np.ndarray, colors: dict | None = None):
        """Colour a cluster's members by the cluster ids a proposed split would give them
        (colors: id -> colour for ids that have no colour yet)."""
        self._preview = (np.asarray(members, dtype=np.int64), np.asarray(cluster_ids, dtype=np.int64))
        self._preview_colors = dict(colors or {})
        self._draw_focus()

    def clear_preview(self):
        if self._preview is not None:
            self._preview = None
            self._draw_focus()

    def set_mode(self, mode: str):
        self.view.mode = mode
        self.mode_buttons[mode].setChecked(True)

    def reset_view(self):
        if not len(self.xy):
            self.view.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        else:
            lo, hi = self.xy.min(axis=0).astype(float), self.xy.max(axis=0).astype(float)
            pad = np.maximum((hi - lo) * 0.05, 1e-3)
            self.view.setRange(xRange=(float(lo[0] - pad[0]), float(hi[0] + pad[0])),
                               yRange=(float(lo[1] - pad[1]), float(hi[1] + pad[1])), padding=0)

    # ---- mouse ------------------------------------------------------------------------------------
    def pick(self, x: float, y: float, radius_px: float = PICK_RADIUS_PX) -> int | None:
        """The segment under view position (x, y), within radius_px screen pixels."""
        if len(self.xy) == 0:
            return None
        sx, sy = self.view.viewPixelSize()
        index, dist = self.index.nearest(x, y, max(sx, 1e-12), max(sy, 1e-12))
        return index if dist <= radius_px else None

    def _on_click(self, pos: QPointF, modifiers):
        index = self.pick(pos.x(), pos.y())
        if index is None:
            self.clear_selection()
            return
        if modifiers & Qt.KeyboardModifier.ShiftModifier:  # Shift+click adds to / removes from the selection
            sel = self.selection
            self.set_selection(sel[sel != index] if index in sel else np.append(sel, index))
            return
        self.point_clicked.emit(index)

    def _on_region(self, kind: str, points: np.ndarray, modifiers):
        if kind == "rect":
            (x0, y0), (x1, y1) = points
            hit = self.index.in_rect(x0, y0, x1, y1)
        else:
            sx, sy = self.view.viewPixelSize()
            pts = simplify_path(points / [sx, sy], 3.0) * [sx, sy]  # a vertex every ~3 px is plenty
            hit = self.index.in_polygon(pts)
        if modifiers & Qt.KeyboardModifier.AltModifier:
            hit = np.union1d(self.selection, hit)
        self.set_selection(hit)

    def _on_mouse_moved(self, scene_pos):
        self._hover_pos = scene_pos
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def _update_hover(self):
        if self._hover_pos is None or not self.view.sceneBoundingRect().contains(self._hover_pos):
            self.hover_text.hide()
            return
        pos = self.view.mapSceneToView(self._hover_pos)
        index = self.pick(pos.x(), pos.y(), 6)
        if index is None:
            self.hover_text.hide()
            return
        self.hover_text.setText(self.describe(index))
        self.hover_text.setPos(float(self.xy[index, 0]), float(self.xy[index, 1]))
        self.hover_text.show()
