"""Numpy hit-testing against brute force, and its speed at 100k points."""
from __future__ import annotations


import numpy as np

from speakerid_gui.gui.hittest import PointIndex, simplify_path


def brute_in_polygon(xy, poly):
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), bool)
    for i in range(len(poly)):
        (ax, ay), (bx, by) = poly[i], poly[(i + 1) % len(poly)]
        crosses = (ay > y) != (by > y)
        with np.errstate(all="ignore"):
            xc = ax + (y - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (x < xc)
    return np.flatnonzero(inside)


def star(n=300, r0=1.5):
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = r0 + 0.6 * np.sin(5 * th)
    return np.c_[r * np.cos(th), r * np.sin(th)]


def test_polygon_matches_brute_force():
    rng = np.random.default_rng(1)
    xy = rng.normal(size=(20000, 2))
    idx = PointIndex(xy)
    for poly in (star(), star(7, 1.0), np.array([[0, 0], [2, 0], [2, 2], [1, 0.5], [0, 2]])):
        got = idx.in_polygon(poly)
        assert np.array_equal(got, brute_in_polygon(xy, poly))
    assert len(idx.in_polygon(star())) > 1000


def test_degenerate_polygons_select_nothing():
    idx = PointIndex(np.random.default_rng(0).normal(size=(100, 2)))
    assert len(idx.in_polygon(np.array([[0, 0], [1, 1]]))) == 0
    assert len(PointIndex(np.zeros((0, 2))).in_polygon(star())) == 0


def test_rect_and_nearest():
    rng = np.random.default_rng(2)
    xy = rng.uniform(-1, 1, size=(5000, 2))
    idx = PointIndex(xy)
    got = idx.in_rect(0.5, -0.2, -0.3, 0.4)  # corners in any order
    want = np.flatnonzero((xy[:, 0] >= -0.3) & (xy[:, 0] <= 0.5) & (xy[:, 1] >= -0.2) & (xy[:, 1] <= 0.4))
    assert np.array_equal(got, want)
    i, d = idx.nearest(0.1, 0.1)
    assert i == int(np.argmin(((xy - [0.1, 0.1]) ** 2).sum(1)))
    # distances in pixels: with 10x more data units per pixel along y, y differences count less
    two = PointIndex(np.array([[0.0, 0.0], [1.0, 5.0]]))
    assert two.nearest(0.9, 0.0)[0] == 0
    assert two.nearest(0.9, 0.0, sx=1.0, sy=10.0)[0] == 1


def test_lasso_at_100k_points_matches_brute_force():
    # Its speed is measured by benchmarks/gui_scale.py; here: the grid index stays exact at scale.
    xy = np.random.default_rng(3).normal(size=(100_000, 2))
    idx = PointIndex(xy)
    poly = simplify_path(star(2000), 0.01)
    assert np.array_equal(idx.in_polygon(poly), brute_in_polygon(xy, poly))


def test_simplify_path_drops_close_vertices():
    pts = np.array([[0, 0], [0.1, 0], [0.2, 0], [5, 0], [5, 5]])
    assert len(simplify_path(pts, 1.0)) == 3
