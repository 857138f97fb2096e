"""After each edit the window updates incrementally (scatter: only the changed points'
brushes; ReviewSession: per-cluster sums moved by the changed rows). Each incremental
result must equal what a full rebuild from the project gives."""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.project.store import Project
from speakerid_gui.gui.review import ReviewSession


def drawn(scatter) -> dict:
    """What each scatter item draws: positions and atlas rectangles (the brush lookups)."""
    out = {}
    for name in ("base", "verified_item", "noise_item", "focus_item"):
        data = getattr(scatter, name).data
        out[name] = (np.array(data["x"]), np.array(data["y"]), np.array(data["sourceRect"]).tolist(),
                     [id(b) for b in data["brush"]])
    return out


def assert_matches_full_redraw(w):
    incremental = drawn(w.scatter)
    p = w.state.session.project
    w.scatter.set_labels(p.cluster, p.verified, p.noise, w.review.colors())  # the full rebuild
    full = drawn(w.scatter)
    for name in full:
        for a, b in zip(incremental[name], full[name]):
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b, err_msg=name)
            else:
                assert a == b, name


def test_scatter_restyles_only_changed_points_and_matches_a_full_redraw(make_window, project_dir):
    w = make_window(project_dir)
    p, log = w.state.session.project, w.state.session.log
    restyled = []
    base_restyle = w.scatter.base.restyle
    w.scatter.base.restyle = lambda index, codes, lut: (restyled.append(len(index)), base_restyle(index, codes, lut))
    sizes = sorted(p.cluster_sizes().items(), key=lambda kv: -kv[1])
    (a, _), (b, nb) = sizes[0], sizes[-1]
    assert w.state.current_cluster == a  # the largest is selected on opening; it is the focus overlay

    log.merge([a, b])
    assert restyled == [nb]  # only b's points changed colour
    assert_matches_full_redraw(w)
    log.undo()
    assert_matches_full_redraw(w)

    members = np.flatnonzero(p.cluster == a)
    w.edits.move_segments(members[:4], None, "new one")  # a new cluster: a colour not drawn before
    assert_matches_full_redraw(w)
    restyled.clear()
    log.verify(np.flatnonzero(p.cluster == b)[:3])  # the verified overlay only
    assert restyled == []
    assert_matches_full_redraw(w)
    log.mark_noise(members[4:6])
    assert_matches_full_redraw(w)
    for _ in range(3):
        log.undo()
        assert_matches_full_redraw(w)
    log.redo()
    assert_matches_full_redraw(w)
    w.scatter.set_dim_others(True)  # another brush table: every point restyled, still equal
    log.merge([a, b])
    assert_matches_full_redraw(w)


def test_inspector_follows_edits_of_its_cluster_only(make_window, project_dir):
    w = make_window(project_dir)
    p, log = w.state.session.project, w.state.session.log
    sizes = sorted(p.cluster_sizes().items(), key=lambda kv: -kv[1])
    current, other, third = sizes[0][0], sizes[-1][0], sizes[1][0]
    assert w.state.current_cluster == current
    shown = []
    show = w.review.show_cluster
    w.review.show_cluster = lambda cid, keep_segment: (shown.append(cid), show(cid, keep_segment))
    log.verify(np.flatnonzero(p.cluster == other)[:2])  # not the inspected cluster
    assert shown == []
    log.move(np.flatnonzero(p.cluster == third)[:1], other)
    assert shown == []
    log.merge([current, other])  # the inspected cluster grows: its queue is ranked again
    assert shown == [current]
    assert sorted(w.state.queue.tolist()) == np.flatnonzero(p.cluster == current).tolist()
    log.rename(third, "Zed")  # a cluster row: the inspector is refreshed (cheap, and names may show)
    assert shown == [current, current]


def test_incremental_cluster_sums_rank_like_a_fresh_session(project_dir):
    project = Project.open(project_dir)
    session = ReviewSession(project)
    try:
        p, log = project, session.log
        rng = np.random.default_rng(7)
        ids = sorted(p.cluster_sizes())
        session.ranked_members(ids[0])  # sums exist from here on and follow the edits
        log.merge(ids[:2])
        log.move(rng.choice(p.n_segments, p.n_segments // 3, replace=False), None)
        log.mark_noise(rng.choice(p.n_segments, 5, replace=False))
        log.undo()
        fresh = ReviewSession(Project.open(project_dir))
        try:
            for cid in p.cluster_sizes():
                assert session.ranked_members(cid).tolist() == fresh.ranked_members(cid).tolist()
            mine, theirs = session.centroids(), fresh.centroids()
            assert np.array_equal(mine[0], theirs[0]) and np.allclose(mine[1], theirs[1], atol=1e-5)
        finally:
            fresh.project.close()
    finally:
        project.close()
