"""The assignments table written behind the edits (assignment_writer.py): it ends equal to
memory, a crash before the copy loses nothing (the next open replays the pending diffs in
order), a failed copy is retried and then reported, and a read-only window sees another
window's pending edits without writing them."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from coredata import assert_same, state
from speakerid_gui.core.project import assignment_writer
from speakerid_gui.core.project.assignment_writer import AssignmentWriter, WriteFailed
from speakerid_gui.core.project.edits import EditLog
from speakerid_gui.core.project.store import COLUMNS, Project


def table(folder) -> dict:
    """The assignments table as a plain connection reads it (no replay), in memory's dtypes."""
    db = sqlite3.connect(folder / "project.sqlite")
    try:
        rows = db.execute("SELECT cluster_id, confidence, verified, noise, source='human' "
                          "FROM assignments ORDER BY segment_id").fetchall()
        pending = db.execute("SELECT COUNT(*) FROM pending_writes").fetchone()[0]
    finally:
        db.close()
    cols = list(zip(*rows))
    return {name: np.array(v, dtype=d) for (name, d), v in zip(COLUMNS.items(), cols)}, pending


def assert_table_is_memory(folder, project):
    got, pending = table(folder)
    assert pending == 0
    for name in COLUMNS:
        np.testing.assert_array_equal(got[name], getattr(project, name), err_msg=name)


def some_edits(project, log):
    sizes = sorted(project.cluster_sizes().items(), key=lambda kv: -kv[1])
    (a, _), (b, _) = sizes[0], sizes[1]
    rng = np.random.default_rng(0)
    log.merge([a, b])
    log.move(rng.choice(project.n_segments, project.n_segments // 3, replace=False), None, name="lasso")
    log.verify(np.flatnonzero(project.cluster == a)[:3])
    log.undo()
    log.redo()
    log.mark_noise(np.arange(2))


def test_the_table_ends_equal_to_memory(project_copy):
    project = Project.open(project_copy)
    log = EditLog(project)
    some_edits(project, log)
    project.wait_for_writes()
    assert_table_is_memory(project_copy, project)
    project.close()


def test_edits_whose_copy_never_ran_are_replayed_in_order_on_open(project_copy, monkeypatch):
    """As if the process died after each edit's commit, before the writer thread copied it."""
    monkeypatch.setattr(AssignmentWriter, "submit", lambda self, *job: None)
    project = Project.open(project_copy)
    before, _ = table(project_copy)
    log = EditLog(project)
    some_edits(project, log)
    after = state(project)
    stale, pending = table(project_copy)
    assert pending == 6  # merge, move, verify, undo, redo, noise: none copied
    np.testing.assert_array_equal(stale["cluster"], before["cluster"])  # the table really lagged
    assert not np.array_equal(after["cluster"], before["cluster"])
    project.close()
    monkeypatch.undo()
    fresh = Project.open(project_copy)
    assert_same(state(fresh), after)
    assert_table_is_memory(project_copy, fresh)
    log = EditLog(fresh)  # and the history still undoes, down to the state before the edits
    while log.undo() is not None:
        pass
    np.testing.assert_array_equal(fresh.cluster, before["cluster"])
    fresh.close()


def test_a_failed_copy_is_retried_then_reported_and_kept(project_copy, monkeypatch):
    def disk_error(*_):
        raise sqlite3.OperationalError("disk I/O error")

    project = Project.open(project_copy)
    log = EditLog(project)
    a, b = sorted(project.cluster_sizes(), key=project.cluster_sizes().get)[-2:]
    # the writer thread fails once; the retry in wait_for_writes (the store's own copy) works
    monkeypatch.setattr(AssignmentWriter, "_copy", disk_error)
    log.merge([a, b])
    with pytest.raises(WriteFailed):
        project._writer.wait()  # the thread's own attempt failed
    monkeypatch.undo()
    project.wait_for_writes()
    assert_table_is_memory(project_copy, project)
    # both fail: the next edit is refused with the file and the reason; the merge stays stored
    monkeypatch.setattr(assignment_writer, "write_rows", disk_error)
    log.undo()
    undone = state(project)
    with pytest.raises(WriteFailed, match=r"project\.sqlite.*disk I/O error"):
        log.verify([0])
    assert table(project_copy)[1] == 1
    monkeypatch.undo()
    project.close()
    fresh = Project.open(project_copy)
    assert_same(state(fresh), undone)
    assert_table_is_memory(project_copy, fresh)
    fresh.close()


def test_a_read_only_window_sees_pending_edits_and_leaves_them_to_their_writer(project_copy, monkeypatch):
    writer = Project.open(project_copy)
    log = EditLog(writer)
    viewer = Project.open(project_copy)
    viewer.read_only = True
    monkeypatch.setattr(AssignmentWriter, "submit", lambda self, *job: None)
    a, b = sorted(writer.cluster_sizes(), key=writer.cluster_sizes().get)[-2:]
    log.merge([a, b])
    viewer.reload()
    assert_same(state(viewer), state(writer))
    assert table(project_copy)[1] == 1  # not written by the viewer
    monkeypatch.undo()
    writer.wait_for_writes()  # nothing was queued: the row waits for a replay by a writable open
    writer.reload()
    assert_table_is_memory(project_copy, writer)
    viewer.close()
    writer.close()


def test_the_table_follows_commit_order_across_connections(project_copy, monkeypatch):
    """A worker's edit committed after a window's edit whose copy has not run yet: the worker's
    copy writes the window's first, so the later edit wins where both changed a segment."""
    window = Project.open(project_copy)
    worker = Project.open(project_copy)
    everything = np.arange(window.n_segments)
    with monkeypatch.context() as m:
        m.setattr(AssignmentWriter, "submit", lambda self, *job: None)  # the window's copy is late
        EditLog(window).move(everything, None, name="first")
    assert table(project_copy)[1] == 1
    change = EditLog(worker).move(everything[::2], None, name="second")
    worker.wait_for_writes()
    got, pending = table(project_copy)
    assert pending == 0
    second = worker.cluster[0]
    assert change.edit_id and (got["cluster"][::2] == second).all()
    assert (got["cluster"][1::2] == window.cluster[1]).all() and window.cluster[1] != second
    worker.close()
    window.close()


class _SlowClose:
    """A connection whose close takes a while (as a checkpointing close can), to catch the
    moment a worker thread has ended its work but not yet closed its connection."""

    def __init__(self, db):
        self._db = db

    def __getattr__(self, name):
        return getattr(self._db, name)

    def close(self):
        import time

        time.sleep(0.3)
        self._db.close()


def test_closing_waits_for_worker_threads_still_closing_their_connection(project_copy, monkeypatch):
    """The project's folder is complete only once every connection is closed (the last one
    removes the WAL files): a copy made right after Project.close raced a thread that had just
    finished its work and was closing its own (a test copying the folder lost project.sqlite-shm)."""
    import threading
    import time

    from speakerid_gui.core.project import wal_checkpoint
    from speakerid_gui.core.project.wal_checkpoint import WalCheckpointer

    real = sqlite3.connect
    for module in (assignment_writer, wal_checkpoint):
        monkeypatch.setattr(module.sqlite3, "connect", lambda *a, **k: _SlowClose(real(*a, **k)))
    checkpointer = WalCheckpointer(project_copy / "project.sqlite")
    checkpointer.IDLE_SECONDS = 0.01
    checkpointer.request()
    deadline = time.time() + 5
    while checkpointer._thread is not None and time.time() < deadline:  # done, idle, now closing
        time.sleep(0.005)
    checkpointer.close()
    assert not [t for t in threading.enumerate() if t.name == "wal-checkpoint"]

    writer = AssignmentWriter(project_copy / "project.sqlite", {k: np.dtype(v) for k, v in COLUMNS.items()})
    writer.submit(0, np.zeros(0, np.int64), {})  # nothing pending under seq 0: copies nothing, then ends
    writer.wait()
    while writer._thread is not None and time.time() < deadline:
        time.sleep(0.005)
    writer.close()
    assert not [t for t in threading.enumerate() if t.name == "assignment-writer"]
