"""How edits are stored: compact binary diffs (diffs.py), older projects' JSON diffs, the
grouped and per-row SQL writes, only changed rows recorded, and a kill -9 after an edit."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from coredata import assert_same, state
from speakerid_gui.core.project import diffs
from speakerid_gui.core.project.edits import DTYPES, EditLog
from speakerid_gui.core.project.assignment_writer import value_groups as _value_groups
from speakerid_gui.core.project.store import Project


def reopened_state(folder) -> dict:
    fresh = Project.open(folder)
    try:
        return state(fresh)
    finally:
        fresh.close()


# ---- the diff format itself (no project needed) -----------------------------------------------------
def test_diff_round_trip_keeps_values_and_types():
    rng = np.random.default_rng(0)
    ids = np.unique(rng.integers(1, 2_000_000, 5000))
    n = len(ids)
    cols = {"cluster": rng.integers(-1, 400, n).astype(np.int32),
            "confidence": rng.random(n).astype(np.float32),
            "verified": rng.random(n) < 0.3,
            "noise": np.zeros(n, bool),          # the same for all: stored as one value
            "human": np.ones(n, bool)}
    clusters = {3: {"name": "Ann", "color": "#123456", "notes": ""}, 7: None}
    blob = diffs.encode(diffs.Diff(ids, cols, clusters))
    assert isinstance(blob, bytes) and blob.startswith(diffs.MAGIC)
    back = diffs.decode(blob, DTYPES)
    np.testing.assert_array_equal(back.ids, ids)
    assert back.ids.dtype == np.int64
    for name, values in cols.items():
        got = np.broadcast_to(back.cols[name], (n,))
        assert got.dtype == DTYPES[name], name
        np.testing.assert_array_equal(got, values, err_msg=name)
    assert np.ndim(back.cols["noise"]) == 0 and np.ndim(back.cols["cluster"]) == 1
    assert back.clusters == clusters
    # far smaller than the JSON lists of the previous format
    old = json.dumps({"ids": ids.tolist(), "cols": {k: v.tolist() for k, v in cols.items()}, "clusters": {}})
    assert len(blob) < len(old) / 3


def test_merge_like_diff_is_ids_plus_one_value():
    ids = np.arange(10, 40_010, 2, dtype=np.int64)
    blob = diffs.encode(diffs.Diff(ids, {"cluster": np.int32(5), "human": np.full(len(ids), True)}, {9: None}))
    assert len(blob) < len(ids) + 400  # one byte per id (deltas of 2), the columns as single values
    back = diffs.decode(blob, DTYPES)
    np.testing.assert_array_equal(back.ids, ids)
    assert back.cols["cluster"] == 5 and back.cols["human"] == True  # noqa: E712
    assert back.clusters == {9: None}


def test_empty_and_single_id_diffs():
    for ids in (np.zeros(0, np.int64), np.array([42], np.int64)):
        blob = diffs.encode(diffs.Diff(ids, {}, {1: {"name": "x", "color": "", "notes": ""}}))
        back = diffs.decode(blob, DTYPES)
        np.testing.assert_array_equal(back.ids, ids)
        assert back.cols == {} and back.clusters == {1: {"name": "x", "color": "", "notes": ""}}


def test_old_json_diffs_decode_sorted_with_the_last_value_of_a_repeated_id():
    text = json.dumps({"ids": [5, 2, 5], "cols": {"cluster": [1, 2, 3], "verified": [True, False, False]},
                       "clusters": {"4": None}})
    for stored in (text, text.encode()):
        d = diffs.decode(stored, DTYPES)
        assert d.ids.tolist() == [2, 5]
        assert d.cols["cluster"].tolist() == [2, 3] and d.cols["cluster"].dtype == np.int32
        assert d.cols["verified"].tolist() == [False, False]
        assert d.clusters == {4: None}


def test_value_groups_gather_equal_combinations():
    a = np.array([1, 2, 1, 2, 3, 1])
    b = np.array([0, 0, 0, 1, 0, 0])
    groups = _value_groups([a, b], 6)
    assert sorted(np.concatenate(groups).tolist()) == list(range(6))
    combos = [{(int(a[i]), int(b[i])) for i in g} for g in groups]
    assert all(len(c) == 1 for c in combos) and len({next(iter(c)) for c in combos}) == len(groups) == 4
    assert [len(g) for g in _value_groups([], 5)] == [5]
    assert _value_groups([np.arange(1000) * 0.5], 1000) is None  # a value per row: per-row statements


# ---- on a real project ------------------------------------------------------------------------------------
slow = pytest.mark.slow


def two_clusters(project):
    sizes = sorted(project.cluster_sizes().items(), key=lambda kv: -kv[1])
    return sizes[0][0], sizes[-1][0]


@slow
def test_new_edits_are_stored_as_compact_blobs_and_undo_after_a_restart(project_copy):
    project = Project.open(project_copy)
    log = EditLog(project)
    a, b = two_clusters(project)
    moved = int((project.cluster == b).sum())
    s0 = state(project)
    edit = log.merge([a, b])
    s1 = state(project)
    kind, fwd, inv = project.db.execute("SELECT typeof(forward), forward, inverse FROM edits WHERE id=?",
                                        (edit.edit_id,)).fetchone()
    assert kind == "blob" and fwd.startswith(diffs.MAGIC) and inv.startswith(diffs.MAGIC)
    assert len(fwd) < 8 * moved + 400
    project.close()

    project = Project.open(project_copy)  # restart
    log = EditLog(project)
    assert_same(state(project), s1)
    assert log.undo().kind == "merge"
    assert_same(state(project), s0)
    project.close()
    assert_same(reopened_state(project_copy), s0)

    project = Project.open(project_copy)
    assert EditLog(project).redo().kind == "merge"
    assert_same(state(project), s1)
    project.close()
    assert_same(reopened_state(project_copy), s1)


@slow
def test_edits_written_by_the_previous_json_format_still_undo_and_redo(project_copy):
    """An edit row as the previous version wrote it (JSON lists, unsorted ids, every touched
    row even if unchanged) undoes and redoes after a restart."""
    project = Project.open(project_copy)
    a, b = two_clusters(project)
    index = np.concatenate([np.flatnonzero(project.cluster == b)[::-1], np.flatnonzero(project.cluster == a)[:2]])
    new = {"cluster": np.full(len(index), a, np.int32), "human": np.ones(len(index), bool)}
    ids = project.segment_ids[index].tolist()
    fwd = {"ids": ids, "cols": {k: v.tolist() for k, v in new.items()}, "clusters": {str(b): None}}
    inv = {"ids": ids, "cols": {k: getattr(project, k)[index].tolist() for k in new},
           "clusters": {str(b): dict(project.clusters[b])}}
    before = state(project)
    with project.transaction() as db:  # what the previous EditLog.commit did
        db.execute("INSERT INTO edits(ts, kind, description, forward, inverse) VALUES(?,?,?,?,?)",
                   (time.time(), "merge", "old-format merge", json.dumps(fwd), json.dumps(inv)))
        project.write_assignments(index, new)
        project.write_cluster(b, None)
    after = state(project)
    assert (project.cluster[index] == a).all() and b not in project.clusters
    project.close()

    project = Project.open(project_copy)
    log = EditLog(project)
    assert project.db.execute("SELECT typeof(forward) FROM edits ORDER BY id DESC LIMIT 1").fetchone()[0] == "text"
    assert log.undo().description == "old-format merge"
    assert_same(state(project), before)
    project.close()
    assert_same(reopened_state(project_copy), before)
    project = Project.open(project_copy)
    EditLog(project).redo()
    assert_same(state(project), after)
    project.close()
    assert_same(reopened_state(project_copy), after)


@slow
def test_only_changed_rows_are_recorded_and_notified(project_copy):
    project = Project.open(project_copy)
    log = EditLog(project)
    heard = []
    log.listeners.append(lambda change: heard.append(np.asarray(change.positions).copy()))
    a, b = two_clusters(project)
    in_a, in_b = np.flatnonzero(project.cluster == a), np.flatnonzero(project.cluster == b)
    log.move(in_b, a)  # b's segments become human-labelled members of a
    heard.clear()
    before = state(project)
    index = np.concatenate([in_b, in_a[:3]])  # b's are already in a (and human): only a's 3 change
    log.move(index, a)
    assert sorted(heard[-1].tolist()) == sorted(in_a[:3].tolist())
    row = project.db.execute("SELECT forward, inverse FROM edits ORDER BY id DESC LIMIT 1").fetchone()
    fwd, inv = (diffs.decode(blob, DTYPES) for blob in row)
    np.testing.assert_array_equal(fwd.ids, np.sort(project.segment_ids[in_a[:3]]))
    assert set(fwd.cols) == {"human"} and set(inv.cols) == {"human"}  # the cluster did not change
    log.undo()
    assert_same(state(project), before)
    project.close()
    assert_same(reopened_state(project_copy), before)


@slow
def test_grouped_and_per_row_writes_both_reach_the_database(project_copy):
    """A move over many clusters with mixed flags (one UPDATE per combination of values) and a
    relabelling with a distinct confidence per segment (one UPDATE per row)."""
    project = Project.open(project_copy)
    log = EditLog(project)
    n = project.n_segments
    rng = np.random.default_rng(3)
    log.verify(rng.choice(n, n // 3, replace=False))
    log.move(rng.choice(n, n // 2, replace=False), None, name="mixed")
    assert_same(reopened_state(project_copy), state(project))
    labels = rng.integers(0, 3, n).astype(np.int32)
    confidence = rng.random(n).astype(np.float32)
    log.relabel("propagate", "relabel everything", np.arange(n), labels, confidence)  # undoable (a clustering is not)
    kept = ~project.verified & ~project.noise
    np.testing.assert_array_equal(project.confidence[kept], confidence[kept])
    assert_same(reopened_state(project_copy), state(project))
    for _ in range(3):  # undo writes old values: several clusters and flags, a confidence per segment
        log.undo()
        assert_same(reopened_state(project_copy), state(project))
    assert not project.verified.any()
    project.close()


@slow
def test_kill_after_edits_loses_nothing(project_copy):
    """kill -9 right after two edits committed (the checkpoint thread may be mid-checkpoint):
    both are there after reopening, and both undo."""
    before = reopened_state(project_copy)
    code = (
        "import sys, numpy as np\n"
        "from speakerid_gui.core.project.store import Project\n"
        "from speakerid_gui.core.project.edits import EditLog\n"
        "p = Project.open(sys.argv[1]); log = EditLog(p)\n"
        "sizes = sorted(p.cluster_sizes().items(), key=lambda kv: -kv[1])\n"
        "log.merge([sizes[0][0], sizes[-1][0]])\n"
        "log.verify(np.flatnonzero(p.cluster == sizes[0][0])[:2])\n"
        "print(sizes[0][0], sizes[-1][0], flush=True)\n"
        "import time; time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(project_copy)], stdout=subprocess.PIPE, text=True)
    try:
        a, b = (int(v) for v in proc.stdout.readline().split())
    finally:
        proc.kill()
        proc.wait()
    project = Project.open(project_copy)
    log = EditLog(project)
    assert [e.kind for e in log.history()[:2]] == ["verify", "merge"]
    assert b not in project.cluster_sizes() and project.verified.sum() == 2
    assert (project.cluster[before["cluster"] == b] == a).all()
    log.undo()
    log.undo()
    assert_same(state(project), before)
    project.close()


@slow
def test_checkpoint_thread_stops_with_the_project(project_copy):
    project = Project.open(project_copy)
    log = EditLog(project)
    s0 = state(project)
    a, b = two_clusters(project)
    log.merge([a, b])
    log.undo()
    threads = list(project._checkpointer._started)  # this project's (others may still be idling)
    assert threads and all(t.name == "wal-checkpoint" for t in threads)
    project.close()
    assert not any(t.is_alive() for t in threads)
    assert not (project_copy / "project.sqlite-wal").exists()  # the last connection checkpointed it
    assert_same(reopened_state(project_copy), s0)
