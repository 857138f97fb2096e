"""Point hit-testing for the scatter in plain numpy (no Qt, no SpotItems).

At 100k points pyqtgraph's own picking builds a Python object per point; here a click,
a hover, a rectangle or a lasso is a few vectorised passes over the coordinate arrays.
"""
from __future__ import annotations

import numpy as np


class PointIndex:
    """2-D points with a y-sorted order kept once, for fast polygon tests.

    Ray casting visits, for each polygon edge, only the points whose y lies within the
    edge's y-span: a contiguous run in y-sorted order found by binary search. The work is
    about (points in the polygon's y-band) x (edges crossing a given y), not points x edges.
    """

    def __init__(self, xy: np.ndarray):
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        self.x = xy[:, 0]
        self.y = xy[:, 1]
        self.order = np.argsort(self.y, kind="stable")
        self.ys = self.y[self.order]
        self.xs = self.x[self.order]

    def __len__(self):
        return len(self.x)

    def in_rect(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Indices of points inside the axis-aligned rectangle (corners in any order)."""
        (x0, x1), (y0, y1) = sorted((x0, x1)), sorted((y0, y1))
        lo = np.searchsorted(self.ys, y0, side="left")
        hi = np.searchsorted(self.ys, y1, side="right")
        xs = self.xs[lo:hi]
        hit = (xs >= x0) & (xs <= x1)
        return np.sort(self.order[lo:hi][hit])

    def in_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Indices of points inside a closed polygon ((m, 2) vertices; even-odd rule)."""
        poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        if len(poly) < 3 or len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        inside = np.zeros(len(self), dtype=bool)  # in y-sorted order
        ax, ay = poly[:, 0], poly[:, 1]
        bx, by = np.roll(ax, -1), np.roll(ay, -1)
        ylo, yhi = np.minimum(ay, by), np.maximum(ay, by)
        # Half-open spans [ylo, yhi): a vertex shared by two edges is counted once.
        starts = np.searchsorted(self.ys, ylo, side="left")
        stops = np.searchsorted(self.ys, yhi, side="left")
        for k in np.flatnonzero(stops > starts):
            s, e = starts[k], stops[k]
            slope = (bx[k] - ax[k]) / (by[k] - ay[k])
            x_cross = ax[k] + (self.ys[s:e] - ay[k]) * slope
            inside[s:e] ^= self.xs[s:e] < x_cross
        return np.sort(self.order[inside])

    def nearest(self, x: float, y: float, sx: float = 1.0, sy: float = 1.0,
                candidates: np.ndarray | None = None) -> tuple[int, float]:
        """(index, distance) of the point nearest (x, y), distances scaled by 1/sx, 1/sy.

        With sx, sy = data units per screen pixel the distance is in pixels, which is what
        "under the mouse" means when the axes have different scales. (-1, inf) if none.
        """
        idx = np.arange(len(self)) if candidates is None else np.asarray(candidates)
        if len(idx) == 0:
            return -1, float("inf")
        d2 = ((self.x[idx] - x) / sx) ** 2 + ((self.y[idx] - y) / sy) ** 2
        k = int(np.argmin(d2))
        return int(idx[k]), float(np.sqrt(d2[k]))


def simplify_path(points: np.ndarray, min_step: float) -> np.ndarray:
    """Drop lasso vertices closer than min_step to the previous kept one (fewer edges)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return pts
    kept = [pts[0]]
    for p in pts[1:]:
        if abs(p[0] - kept[-1][0]) + abs(p[1] - kept[-1][1]) >= min_step:
            kept.append(p)
    return np.array(kept)
