"""Every edit, undo and redo returns and announces one Change (core/project/edit_record.py) that says
exactly what it did: positions, old and new clusters, clusters added / removed / renamed /
recoloured, bounds, and the selection to restore. Checked against the project's own arrays
before and after, on the real session project."""
from __future__ import annotations

import numpy as np
import pytest

from speakerid_gui.core.project.edit_record import Change, Selection
from speakerid_gui.core.project.edits import EditLog
from speakerid_gui.core.project.store import NOISE, Project


@pytest.fixture
def opened(project_copy):
    project = Project.open(project_copy)
    log = EditLog(project)
    heard: list[Change] = []
    log.listeners.append(heard.append)
    yield project, log, heard
    project.close()


def by_size(project):
    sizes = sorted(project.cluster_sizes().items(), key=lambda kv: -kv[1])
    assert len(sizes) >= 3 and sizes[0][1] > sizes[-1][1]
    return [c for c, _ in sizes]


def check(change: Change, before: np.ndarray, after: np.ndarray, heard: list, kind: str, action: str = "do"):
    """The Change names exactly the positions whose cluster changed, with their old and new ids."""
    assert isinstance(change, Change) and heard[-1] is change  # returned and announced: one record
    assert change.kind == kind and change.action == action
    differs = np.flatnonzero(before != after)
    np.testing.assert_array_equal(change.moved, differs)
    moved = change.old_cluster != change.new_cluster
    np.testing.assert_array_equal(change.old_cluster[moved], before[differs])
    np.testing.assert_array_equal(change.new_cluster[moved], after[differs])
    assert (np.diff(change.positions) > 0).all()
    with pytest.raises(ValueError):  # frozen: a listener cannot change what the next one hears
        change.old_cluster[:1] = 99


def undo_redo(project, log, heard, before, after, kind):
    undone = log.undo()
    check(undone, after, before, heard, kind, "undo")
    np.testing.assert_array_equal(project.cluster, before)
    redone = log.redo()
    check(redone, before, after, heard, kind, "redo")
    return undone, redone


def test_merge_says_what_went_where(opened):
    project, log, heard = opened
    a, b, c = by_size(project)[:3]
    before = project.cluster.copy()
    change = log.merge([b, a, c])
    check(change, before, project.cluster, heard, "merge")
    assert change.removed == tuple(sorted((b, c))) and change.added == ()
    assert change.destinations() == {b: a, c: a}
    assert sorted(change.groups()) == sorted([(b, a, int((before == b).sum())), (c, a, int((before == c).sum()))])
    assert change.touches(a) and change.touches(b)
    undone, _ = undo_redo(project, log, heard, before, project.cluster.copy(), "merge")
    assert undone.added == tuple(sorted((b, c))) and undone.removed == ()


def test_split_adds_the_new_parts(opened):
    project, log, heard = opened
    a = by_size(project)[0]
    members = log.members(a)
    before = project.cluster.copy()
    change = log.split(a, np.arange(len(members)) % 2)
    check(change, before, project.cluster, heard, "split")
    (new,) = change.added
    assert new not in before and change.removed == ()
    np.testing.assert_array_equal(change.moved, members[1::2])
    assert len(change.positions) == len(members)  # part 0 stays but becomes the reviewer's (human)
    assert set(change.new_cluster.tolist()) == {a, new} and change.destinations() == {a: new}
    undone, _ = undo_redo(project, log, heard, before, project.cluster.copy(), "split")
    assert undone.removed == (new,)


def test_move_to_a_new_cluster_and_to_noise(opened):
    project, log, heard = opened
    a, b = by_size(project)[:2]
    index = log.members(a)[:3]
    before = project.cluster.copy()
    change = log.move(index, None, "Newcomer")
    check(change, before, project.cluster, heard, "move")
    (new,) = change.added
    assert project.cluster_name(new) == "Newcomer" and new in change.rows
    undo_redo(project, log, heard, before, project.cluster.copy(), "move")

    before = project.cluster.copy()
    whole_b = log.members(b)
    change = log.mark_noise(whole_b)
    check(change, before, project.cluster, heard, "noise")
    assert change.removed == (b,) and (change.new_cluster == NOISE).all() and change.new["noise"].all()
    assert change.destinations() == {}  # noise is no cluster the selection could follow


def test_rename_and_recolour_change_rows_not_labels(opened):
    project, log, heard = opened
    a, b = by_size(project)[:2]
    before = project.cluster.copy()
    change = log.rename(a, "Ann")
    check(change, before, project.cluster, heard, "rename")
    assert change.renamed == (a,) and change.recoloured == () and change.rows == (a,)
    assert not len(change.positions) and change.touches(a) and not change.touches(b)
    change = log.recolour(b, "#123456")
    check(change, before, project.cluster, heard, "colour")
    assert change.recoloured == (b,) and change.renamed == () and project.clusters[b]["color"] == "#123456"
    assert log.undo().recoloured == (b,) and project.clusters[b]["color"] != "#123456"


def test_verify_changes_flags_not_clusters(opened):
    project, log, heard = opened
    a = by_size(project)[0]
    index = log.members(a)[:4]
    project_was = project.verified.copy()
    before = project.cluster.copy()
    change = log.verify(index)
    check(change, before, project.cluster, heard, "verify")
    np.testing.assert_array_equal(change.positions, np.sort(index[~project_was[index]]))
    assert (~change.old["verified"]).all() and change.new["verified"].all() and not len(change.moved)
    assert change.touches(a)  # its verified share changed: the list row must be redrawn
    assert log.undo().old["verified"].all()


def test_bounds_change_times_only(opened):
    project, log, heard = opened
    i = int(log.members(by_size(project)[0])[0])
    start, end = float(project.seg_start[i]), float(project.seg_end[i])
    change = log.set_bounds(i, start + 0.05, end)
    assert change.kind == "bounds" and heard[-1] is change
    np.testing.assert_array_equal(change.bounds, [i])
    assert not len(change.positions) and not len(change.moved)
    undone = log.undo()
    assert undone.action == "undo" and undone.bounds.tolist() == [i] and project.seg_start[i] == pytest.approx(start)


def test_relabel_from_propagation(opened):
    from speakerid_gui.core.learn.reviewer import propagate
    from speakerid_gui.core.pipeline import embeddings

    project, log, heard = opened
    a, b = by_size(project)[:2]
    for c in (a, b):
        log.verify(log.members(c)[:3])
    strays = np.flatnonzero((project.cluster == a) & ~project.verified)[:2]
    assert len(strays) == 2
    log.move(strays, b)  # wrong, and unverified: propagation should send them home
    before = project.cluster.copy()
    r = propagate(project, embeddings(project), log)
    change = heard[-1]
    check(change, before, project.cluster, heard, "propagate")
    assert set(strays.tolist()) <= set(change.moved.tolist())
    assert (change.new_cluster[np.isin(change.positions, strays)] == a).all()
    assert not project.verified[change.moved].any() and len(change.moved) <= len(r.index)
    undo_redo(project, log, heard, before, project.cluster.copy(), "propagate")


def test_the_selection_comes_back_with_undo_and_redo_also_after_a_restart(opened):
    project, log, heard = opened
    a, b, c = by_size(project)[:3]
    there = Selection((b, c), b, tuple(log.members(b)[:2].tolist()), int(log.members(b)[0]))
    log.selection_source = lambda: there
    change = log.merge([a, b, c])
    assert change.selection == Selection((a,), a, there.segments, there.segment)  # followed b and c into a
    asked = Selection((a,), a, (), None)
    moved = log.move(log.members(a)[:1], b, selection=asked, after=Selection((b,), b))  # the caller's say wins
    assert moved.selection == Selection((b,), b)
    assert log.undo().selection == asked
    assert log.undo().selection == there
    project.close()

    project = Project.open(project.folder)  # restart: the selections were stored with the edits
    log = EditLog(project)
    assert log.redo().selection == change.selection
    assert log.redo().selection == Selection((b,), b)
    assert log.rename(a, "Ann").selection is None  # no source, none given: nothing stored, nothing restored
    assert log.undo().selection is None


def test_an_edit_of_another_connection_is_announced_when_reloaded(opened):
    project, log, heard = opened
    a, b = by_size(project)[:2]
    other = Project.open(project.folder)
    try:
        EditLog(other).merge([a, b])
        expected = other.cluster.copy()
    finally:
        other.close()
    before = project.cluster.copy()
    change = log.reloaded(project.reload)
    check(change, before, project.cluster, heard, "merge")
    np.testing.assert_array_equal(project.cluster, expected)
    assert change.removed == (b,)


def test_large_selections_are_stored_compactly_and_come_back_whole():
    from speakerid_gui.core.project.edit_record import _pack, _unpack

    ids = np.random.default_rng(0).choice(200_000, 43_000, replace=False)
    packed = _pack(ids)
    assert isinstance(packed, str) and len(packed) < 43_000 * 6  # a JSON list took ~7 bytes an id
    assert np.array_equal(_unpack(packed), np.sort(ids))
    assert _pack([5, 3]) == [3, 5] and np.array_equal(_unpack([3, 5]), [3, 5])  # few: readable
