"""The scatter's drawing pieces: a point item restyled by integer codes, the brush table,
and a view box that turns drags into box / lasso selections (ScatterPanel composes them).

pyqtgraph's setBrush(array) looks up its symbol atlas once per point in Python (~0.3 s
at 100k points). ClusterScatter gives each point a small integer code instead, renders
one atlas entry per code and assigns the atlas rectangles with one numpy take, so a
recolour costs a few milliseconds.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from speakerid_gui.core.palette import color_for


class QuietScatter(pg.ScatterPlotItem):
    """Ignores clicks: ScatterPlotItem's own click handling builds a SpotItem per point
    (seconds at 100k) and would swallow the click the ViewBox hit-tests in numpy."""

    def mouseClickEvent(self, ev):
        ev.ignore()


class ClusterScatter(QuietScatter):
    """A ScatterPlotItem styled by per-point codes into a small table of shared brushes."""

    def __init__(self, symbol="o", size=5, pen=None, **kwargs):
        super().__init__(pxMode=True, symbol=symbol, size=size, pen=pen, hoverable=False, **kwargs)
        names = set(self.data.dtype.names or ())
        self._fast = {"x", "y", "size", "visible", "brush", "sourceRect"} <= names and self.opts["useCache"]

    def set_points(self, x: np.ndarray, y: np.ndarray, codes: np.ndarray, brushes: np.ndarray):
        """Replace all points; brushes[codes[i]] fills point i (brushes: object array of QBrush)."""
        codes = np.asarray(codes, dtype=np.int64)
        if not self._fast:  # a pyqtgraph whose internals differ: correct, only slower
            self.setData(x=x, y=y, brush=brushes[codes])
            return
        data = _empty_points(len(codes), self.data.dtype)
        data["x"], data["y"] = x, y
        data["size"] = -1  # "use the item's size"
        data["visible"] = True
        self.data = data
        self._apply(codes, brushes)
        self.prepareGeometryChange()
        self.informViewBoundsChanged()
        self.bounds = [None, None]
        self.invalidate()

    def set_codes(self, codes: np.ndarray, brushes: np.ndarray):
        """Restyle the existing points (same count) without touching their positions."""
        codes = np.asarray(codes, dtype=np.int64)
        if not self._fast:
            self.setBrush(brushes[codes])
            return
        self._apply(codes, brushes)
        self.invalidate()

    def restyle(self, index: np.ndarray, codes: np.ndarray, brushes: np.ndarray):
        """Restyle the points at `index` only (codes: one per index)."""
        index = np.asarray(index, dtype=np.int64)
        codes = np.asarray(codes, dtype=np.int64)
        if not self._fast:
            brush = np.array(self.data["brush"], dtype=object)
            brush[index] = brushes[codes]
            self.setBrush(brush)
            return
        self._apply(codes, brushes, index)
        self.invalidate()

    def _apply(self, codes, brushes, index=None):
        """Atlas rectangles and brushes for all points (index None) or the points at index."""
        if len(codes) == 0:
            return
        used = np.flatnonzero(np.bincount(codes, minlength=len(brushes)))
        symbol, size, pen = self.opts["symbol"], self.opts["size"], self.opts["pen"]
        rects = self.fragmentAtlas[[(symbol, size, pen, brushes[c]) for c in used]]
        table = np.zeros(len(brushes), dtype=self.data.dtype["sourceRect"])
        table[used] = np.array([tuple(r) for r in rects], dtype=table.dtype)
        target = self.data["sourceRect"]
        where = slice(None) if index is None else index
        for part in table.dtype.names:  # plain int64 columns: 5x faster than copying the nested records
            target[part][where] = table[part][codes]
        self.data["brush"][where] = brushes[codes]
        self._updateMaxSpotSizes()


def _empty_points(n: int, dtype: np.dtype) -> np.ndarray:
    """np.empty(n, dtype) with the object fields None, as pyqtgraph expects, but fast: empty()
    fills object fields element by element (45 ms at 100k points); zeros + a None fill: 4 ms."""
    data = np.zeros(n, dtype=dtype)
    for name in dtype.names:
        if dtype[name].hasobject:
            data[name] = None
    return data


class BrushTable:
    """Shared brushes per cluster (full and dimmed), created once and reused, so the
    symbol atlas never grows with recolours."""

    def __init__(self):
        self._full: dict[str, QBrush] = {}
        self._dim: dict[str, QBrush] = {}
        self.clear_brush = QBrush(Qt.BrushStyle.NoBrush)

    def brush(self, color: str, dim: bool = False) -> QBrush:
        cache = self._dim if dim else self._full
        if color not in cache:
            c = QColor(color)
            if dim:
                c.setAlpha(40)
            cache[color] = QBrush(c)
        return cache[color]

    def lut(self, colors: dict[int, str], max_id: int, focus: int | None = None, dim_others=False) -> np.ndarray:
        """Object array indexed by cluster id + 1 (0: noise, drawn by its own item)."""
        out = np.empty(max_id + 2, dtype=object)
        out[0] = self.clear_brush
        for cid in range(max_id + 1):
            color = colors.get(cid) or color_for(cid)
            out[cid + 1] = self.brush(color, dim_others and focus is not None and cid != focus)
        return out


class SelectViewBox(pg.ViewBox):
    """A ViewBox that reports clicks and, in rectangle/lasso mode (or with Shift / Ctrl
    held), draws a selection outline instead of panning."""

    clicked = Signal(QPointF, object)        # view position, keyboard modifiers
    region_selected = Signal(str, object, object)  # "rect"|"lasso", (m, 2) view points, modifiers

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mode = "pan"
        self._kind: str | None = None  # the running drag: None (pan), "rect" or "lasso"
        self._path: list[QPointF] = []
        self._outline = QGraphicsPathItem()
        pen = QPen(QColor("#ffd24d"))
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        pen.setStyle(Qt.PenStyle.DashLine)
        self._outline.setPen(pen)
        self._outline.setBrush(QBrush(QColor(255, 210, 77, 30)))
        self._outline.setZValue(1e6)
        self.addItem(self._outline, ignoreBounds=True)

    def _drag_kind(self, modifiers) -> str | None:
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            return "rect"
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            return "lasso"
        return None if self.mode == "pan" else self.mode

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(self.mapSceneToView(ev.scenePos()), ev.modifiers())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):
        if ev.isStart():  # what a drag does is decided when it starts
            self._kind = self._drag_kind(ev.modifiers()) if ev.button() == Qt.MouseButton.LeftButton else None
        if self._kind is None:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        pos = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            self._path = [self.mapSceneToView(ev.buttonDownScenePos()), pos]
        else:
            self._path.append(pos)
        self._draw()
        if ev.isFinish():
            points = np.array([(p.x(), p.y()) for p in self._path])
            if self._kind == "rect":
                points = np.array([points[0], points[-1]])
            kind, self._kind, self._path = self._kind, None, []
            self._outline.setPath(QPainterPath())
            self.region_selected.emit(kind, points, ev.modifiers())

    def _draw(self):
        path = QPainterPath()
        if self._kind == "rect":
            path.addRect(QRectF(self._path[0], self._path[-1]).normalized())
        else:
            path.moveTo(self._path[0])
            for p in self._path[1:]:
                path.lineTo(p)
            path.closeSubpath()
        self._outline.setPath(path)


def cosmetic_pen(color: str, width: float) -> QPen:
    pen = QPen(QColor(color))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    return pen
