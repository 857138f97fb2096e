"""Edits on a real project: memory and database together, undo/redo (also after a restart),
and reviewed labels surviving a re-cluster."""
from __future__ import annotations

import numpy as np
import pytest

from coredata import assert_same, state
from speakerid_gui.core.project.edits import EditLog
from speakerid_gui.core.pipeline import Settings, run
from speakerid_gui.core.project.store import COLUMNS, NOISE, Project

def db_state(project: Project) -> dict:
    """The same, read back from the database by a fresh connection (a restart)."""
    fresh = Project.open(project.folder)
    try:
        return state(fresh)
    finally:
        fresh.close()


def assert_persisted(project: Project):
    assert_same(state(project), db_state(project))


@pytest.fixture
def opened(project_copy):
    project = Project.open(project_copy)
    yield project, EditLog(project)
    project.close()


def two_clusters(project):
    """The largest and the smallest cluster (of different sizes)."""
    sizes = sorted(project.cluster_sizes().items(), key=lambda kv: -kv[1])
    assert len(sizes) >= 2 and sizes[0][1] > sizes[-1][1]
    return sizes[0][0], sizes[-1][0]


def check_undo_redo(project, log, before, after):
    assert_same(state(project), after)
    assert_persisted(project)
    edit = log.undo()
    assert edit is not None and edit.action == "undo" and project.edit_state(edit.edit_id) == "undone"
    assert_same(state(project), before)
    assert_persisted(project)
    edit = log.redo()
    assert edit is not None and edit.action == "redo" and project.edit_state(edit.edit_id) == "done"
    assert_same(state(project), after)
    assert_persisted(project)


def test_session_project_starts_clean(opened):
    project, log = opened
    assert project.n_segments > 0
    assert not project.verified.any() and not project.noise.any() and not project.human.any()
    assert (project.cluster >= 0).all()
    assert set(project.cluster_sizes()) == set(project.clusters)
    kinds = [e.kind for e in log.history()]
    assert kinds == ["cluster"]  # the clustering itself is the first (undoable) edit


def test_merge(opened):
    project, log = opened
    a, b = two_clusters(project)
    members = np.flatnonzero(np.isin(project.cluster, [a, b]))
    before = state(project)
    log.merge([b, a])
    after = state(project)
    assert (project.cluster[members] == a).all()  # the largest cluster keeps its id
    assert b not in project.clusters and a in project.clusters
    assert project.human[members[before["cluster"][members] == b]].all()
    assert len(project.cluster_sizes()) == len(before["clusters"]) - 1
    check_undo_redo(project, log, before, after)
    with pytest.raises(ValueError):
        log.merge([a])


def test_merge_keeps_a_given_name(opened):
    project, log = opened
    a, b = two_clusters(project)
    log.rename(b, "Carol")
    log.merge([a, b])
    assert project.cluster_name(a) == "Carol"
    assert db_state(project)["clusters"][a]["name"] == "Carol"


def test_split(opened):
    project, log = opened
    a, _ = two_clusters(project)
    members = log.members(a)
    labels = np.arange(len(members)) % 2
    before = state(project)
    log.split(a, labels)
    after = state(project)
    new = sorted(set(after["clusters"]) - set(before["clusters"]))
    assert len(new) == 1 and new[0] not in before["clusters"]
    assert (project.cluster[members[labels == 0]] == a).all()
    assert (project.cluster[members[labels == 1]] == new[0]).all()
    assert project.clusters[new[0]]["color"]
    check_undo_redo(project, log, before, after)
    with pytest.raises(ValueError):
        log.split(a, np.zeros(len(log.members(a))))
    with pytest.raises(ValueError):
        log.split(a, [0, 1])


def test_move_to_existing_cluster(opened):
    project, log = opened
    a, b = two_clusters(project)
    index = log.members(a)[:3]
    before = state(project)
    log.move(index, b)
    after = state(project)
    assert (project.cluster[index] == b).all() and project.human[index].all()
    assert set(after["clusters"]) == set(before["clusters"])
    untouched = np.setdiff1d(np.arange(project.n_segments), index)
    np.testing.assert_array_equal(project.cluster[untouched], before["cluster"][untouched])
    check_undo_redo(project, log, before, after)


def test_move_to_a_new_cluster_with_a_name(opened):
    project, log = opened
    a, b = two_clusters(project)
    index = np.concatenate([log.members(a)[:2], log.members(b)[:2]])
    before = state(project)
    log.move(index, None, name="Dave")
    after = state(project)
    new = set(after["clusters"]) - set(before["clusters"])
    assert len(new) == 1
    (cid,) = new
    assert (project.cluster[index] == cid).all()
    assert project.cluster_name(cid) == "Dave"
    check_undo_redo(project, log, before, after)


def test_rename(opened):
    project, log = opened
    a, _ = two_clusters(project)
    before = state(project)
    log.rename(a, "  Alice  ")
    after = state(project)
    assert project.cluster_name(a) == "Alice"
    for key in COLUMNS:
        np.testing.assert_array_equal(after[key], before[key])
    check_undo_redo(project, log, before, after)
    assert project.cluster_name(NOISE) == "noise"


def test_verify(opened):
    project, log = opened
    a, _ = two_clusters(project)
    index = log.members(a)
    before = state(project)
    log.verify_cluster(a)
    after = state(project)
    assert project.verified[index].all() and (project.confidence[index] == 1.0).all()
    assert project.verified.sum() == len(index)
    check_undo_redo(project, log, before, after)
    log.verify(index[:1], False)
    assert not project.verified[index[0]] and project.verified[index[1:]].all()
    assert_persisted(project)


def test_mark_noise(opened):
    project, log = opened
    a, _ = two_clusters(project)
    index = log.members(a)[:4]
    before = state(project)
    log.mark_noise(index)
    after = state(project)
    assert project.noise[index].all() and (project.cluster[index] == NOISE).all()
    assert project.cluster_sizes()[a] == before["cluster"].tolist().count(a) - 4
    check_undo_redo(project, log, before, after)


def test_undo_redo_survive_a_restart(project_copy):
    project = Project.open(project_copy)
    log = EditLog(project)
    a, b = two_clusters(project)
    s0 = state(project)
    log.merge([a, b])
    s1 = state(project)
    log.rename(a, "Eve")
    s2 = state(project)
    project.close()

    project = Project.open(project_copy)  # restart
    log = EditLog(project)
    assert_same(state(project), s2)
    assert log.can_undo() and not log.can_redo()
    assert log.undo().kind == "rename"
    assert_same(state(project), s1)
    project.close()

    project = Project.open(project_copy)  # restart between undos
    log = EditLog(project)
    assert_same(state(project), s1)
    assert log.undo().kind == "merge"
    assert_same(state(project), s0)
    assert log.can_redo()
    project.close()

    project = Project.open(project_copy)
    log = EditLog(project)
    assert log.redo().kind == "merge"
    assert log.redo().kind == "rename"
    assert_same(state(project), s2)
    assert log.redo() is None
    project.close()


def test_new_edit_after_undo_discards_redo_stack_and_history_lists_edits(opened):
    project, log = opened
    a, b = two_clusters(project)
    first = log.rename(a, "Ann").edit_id
    second = log.rename(b, "Bob").edit_id
    assert [e.id for e in log.history()[:2]] == [second, first]
    log.undo()
    assert log.can_redo()
    third = log.verify(log.members(a)[:2]).edit_id
    assert not log.can_redo() and log.redo() is None
    history = log.history()
    ids = [e.id for e in history]
    assert second not in ids
    assert ids[:2] == [third, first]
    assert [e.kind for e in history[:2]] == ["verify", "rename"]
    assert all(e.state == "done" for e in history)
    assert "Ann" in history[1].description
    assert project.cluster_name(b) != "Bob"
    # discarded edits stay in the database as an audit trail
    states = dict(project.db.execute("SELECT id, state FROM edits").fetchall())
    assert states[second] == "discarded"


def test_listeners_hear_every_change(opened):
    project, log = opened
    heard = []
    log.listeners.append(lambda change: heard.append((change.tag, len(change.positions))))
    a, _ = two_clusters(project)
    log.verify(log.members(a)[:3])
    log.undo()
    log.redo()
    assert heard == [("verify", 3), ("undo:verify", 3), ("redo:verify", 3)]


def test_failed_transaction_leaves_memory_equal_to_database(opened):
    project, log = opened
    before = state(project)
    with pytest.raises(RuntimeError):
        with project.transaction():
            project.write_assignments(np.arange(3), {"cluster": np.full(3, 77, np.int32)})
            raise RuntimeError("boom")
    assert_same(state(project), before)
    assert_persisted(project)


@pytest.mark.parametrize("speakers", [2, 6])
def test_verified_labels_and_names_survive_a_recluster(project_copy, speakers):
    project = Project.open(project_copy)
    log = EditLog(project)
    a, _ = two_clusters(project)
    log.rename(a, "Alice")
    log.verify_cluster(a)
    verified = np.flatnonzero(project.verified)
    assert len(verified) > 0
    events = list(run(project, Settings(layout="pca", speakers=speakers)))
    messages = [e.message for e in events]
    assert "all recordings already analysed" in messages
    assert any(f"{speakers} clusters" == m for m in messages), messages
    for p in (project, Project.open(project_copy)):
        assert (p.cluster[verified] == a).all()
        assert p.verified[verified].all()
        assert p.clusters[a]["name"] == "Alice"
        assert p.cluster_name(a) == "Alice"
        # everything else was relabelled into `speakers` clusters (plus the verified one)
        assert len(p.cluster_sizes()) <= speakers + 1
        assert (p.cluster >= 0).all()
    project.close()


def test_the_clustering_is_not_undoable_but_every_edit_after_it_is(project_copy):
    """Undo stops at the clustering (one Ctrl+Z too many must not unlabel every segment),
    also after a restart; the reviewer's edits undo and redo as before."""
    project = Project.open(project_copy)
    log = EditLog(project)
    assert log.history()[0].kind == "cluster" and log.base().kind == "cluster"
    clustered = state(project)
    assert not log.can_undo() and log.undo() is None
    assert_same(state(project), clustered)
    a, b = two_clusters(project)
    log.rename(a, "Ada")
    log.merge([a, b])
    project.close()
    project = Project.open(project_copy)  # a restart
    log = EditLog(project)
    assert log.undo().kind == "merge" and log.undo().kind == "rename"
    assert_same(state(project), clustered)
    assert not log.can_undo() and log.undo() is None  # the clustering stays
    assert_same(state(project), clustered)
    assert log.redo().kind == "rename" and log.redo().kind == "merge"
    assert project.cluster_name(a) == "Ada" and b not in project.cluster_sizes()
    assert_persisted(project)
    project.close()


def test_recluster_is_its_own_command_and_keeps_reviewed_labels(project_copy):
    project = Project.open(project_copy)
    log = EditLog(project)
    a, _ = two_clusters(project)
    log.rename(a, "Ada")
    log.verify_cluster(a)
    verified = project.verified.copy()
    list(run(project, Settings(layout="pca", speakers=2)))  # `speakerid run` again, another count
    assert len(project.cluster_sizes()) == 2
    history = log.history()
    assert history[0].kind == "cluster" and "2 speakers" in history[0].description
    assert not log.can_undo() and log.undo() is None  # the new clustering is the base now
    assert (project.verified == verified).all() and (project.cluster[verified] == a).all()
    assert project.cluster_name(a) == "Ada"
    assert_persisted(project)
    project.close()


def test_an_old_project_whose_clustering_was_undone_clusters_again(project_copy):
    """Projects from before the clustering stopped being undoable may hold an undone
    clustering (every segment unlabelled): running the pipeline again labels them."""
    from speakerid_gui.core.project import diffs
    from speakerid_gui.core.project.edits import DTYPES

    project = Project.open(project_copy)
    log = EditLog(project)
    n_clusters = len(project.cluster_sizes())
    with project.transaction() as db:  # what undo did then
        edit_id, inverse = db.execute("SELECT id, inverse FROM edits WHERE kind='cluster'").fetchone()
        log._apply(diffs.decode(inverse, DTYPES))
        db.execute("UPDATE edits SET state='undone' WHERE id=?", (edit_id,))
    assert len(project.cluster_sizes()) == 0
    list(run(project, Settings(layout="pca")))
    assert len(project.cluster_sizes()) == n_clusters and (project.cluster >= 0).all()
    project.close()


def test_cluster_ids_are_never_reused(project_copy):
    """An id freed by a merge (the highest one) is not handed to the next new cluster, not after a
    restart either, and not by the split that follows an undo: one "S<id>" per history."""
    project = Project.open(project_copy)
    log = EditLog(project)
    highest = max(project.cluster_sizes())
    other = min(project.cluster_sizes())
    log.merge([highest, other], into=other)
    assert highest not in project.cluster_sizes()
    members = log.members(other)
    log.move(members[:1])  # a new cluster
    first_new = int(project.cluster[members[0]])
    assert first_new > highest
    project.close()

    project = Project.open(project_copy)  # after a restart
    log = EditLog(project)
    log.undo()  # the move: its cluster id is free again, and still never reused
    log.undo()  # the merge
    labels = np.arange(len(log.members(highest))) % 2
    log.split(highest, labels)
    new = set(project.cluster_sizes()) - {highest, other} - set(range(highest))
    assert new and min(new) > first_new, new
    project.close()


def test_projects_without_the_mark_find_the_highest_id_in_their_log(project_copy):
    project = Project.open(project_copy)
    log = EditLog(project)
    highest = max(project.cluster_sizes())
    log.merge([highest, min(project.cluster_sizes())], into=min(project.cluster_sizes()))
    project.db.execute("DELETE FROM meta WHERE key='cluster_id_high'")  # as an older build left it
    project.db.commit()
    assert project.next_cluster_id() == highest + 1
    project.close()
