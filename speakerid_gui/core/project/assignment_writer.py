"""The assignments table written behind the reviewer, on a thread of its own.

An edit of 43k lassoed segments updates 43k rows of `assignments`: about 55-80 ms of SQLite
work on these CPUs, which kept a move or its undo above 100 ms while the window waited. Now an
edit commits its durable record at once (the edit row with both diffs, and a row in
`pending_writes` naming the diff still to be copied into `assignments`) and this thread does
the row updates on its own connection, with the GIL released, while the window redraws.

Crash safety: the thread applies pending diffs in order and deletes each pending row in the
same transaction as its updates, so what is left in `pending_writes` after a crash is exactly
the diffs not yet copied. Diffs hold absolute values, so replaying them (Project.reload does,
in order) gives the table memory had. A copy first writes any earlier pending diff of another
connection (a worker, a second window), so the table follows commit order. Everything that reads or writes `assignments` itself
first waits for this thread (Project.wait_for_writes).
"""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager

import numpy as np

SQL_COLUMN = {"cluster": "cluster_id", "confidence": "confidence", "verified": "verified", "noise": "noise",
              "human": "source"}


class WriteFailed(OSError):
    """Copying an edit into the assignments table failed; the edit itself is stored (and is
    replayed when the project is next opened)."""


def sql_list(name: str, values: np.ndarray) -> list:
    """Memory values as SQLite stores them (bools as 0/1, human as source 'human'/'auto')."""
    if name == "human":
        return np.where(values, "human", "auto").tolist()
    if values.dtype == np.bool_:
        return values.astype(np.int64).tolist()
    return values.tolist()  # float32 confidence becomes a Python float (REAL), as before


def value_groups(varying: list[np.ndarray], n: int) -> list[np.ndarray] | None:
    """Positions 0..n-1 grouped by their combination of values in `varying` (arrays of n),
    or None when there are too many groups for one statement per group to pay off."""
    if not varying:
        return [np.arange(n)]
    key = np.zeros(n, np.int64)
    for values in varying:  # one integer key per combination (mixed radix over each column's codes)
        uniq, codes = np.unique(values, return_inverse=True)
        if len(uniq) * 64 > n and len(uniq) > 8:
            return None
        key = key * len(uniq) + codes.ravel()
    _, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse.ravel())
    if len(counts) > 8 and len(counts) * 64 > n:
        return None
    order = np.argsort(inverse.ravel(), kind="stable")
    return np.split(order, np.cumsum(counts)[:-1])


def write_rows(db: sqlite3.Connection, seg_ids: np.ndarray, cols: dict[str, np.ndarray]):
    """UPDATE the assignment rows of `seg_ids` to `cols` (name -> one value per id)."""
    if not len(seg_ids) or not cols:
        return
    names = list(cols)
    sets = ", ".join(f"{SQL_COLUMN[n]}=?" for n in names)
    values = [np.broadcast_to(np.asarray(cols[n]), seg_ids.shape) for n in names]
    groups = value_groups([v for v in values if len(v) > 1 and not (v == v[0]).all()], len(seg_ids))
    if groups is None:  # values vary too much (a relabelling): one statement per row
        rows = zip(*[sql_list(n, v) for n, v in zip(names, values)], np.asarray(seg_ids).tolist())
        db.executemany(f"UPDATE assignments SET {sets} WHERE segment_id=?", rows)
        return
    # few distinct combinations of values (a merge, a move, a verify): one UPDATE each, its
    # ids passed as one JSON list, so SQLite does the per-row work (about 2x executemany)
    for members in groups:
        params = [sql_list(n, v[members[:1]])[0] for n, v in zip(names, values)]
        db.execute(f"UPDATE assignments SET {sets} WHERE segment_id IN (SELECT value FROM json_each(?))",
                   (*params, json.dumps(np.asarray(seg_ids)[members].tolist())))


def pending_rows(db: sqlite3.Connection, below: int | None = None) -> list:
    """(seq, stored diff) of the edits not yet copied into assignments (below seq `below`), in order."""
    return db.execute("""SELECT p.seq, CASE p.diff WHEN 'forward' THEN e.forward ELSE e.inverse END
                         FROM pending_writes p JOIN edits e ON e.id = p.edit_id
                         WHERE p.seq < ? ORDER BY p.seq""", (2 ** 62 if below is None else below,)).fetchall()


@contextmanager
def immediate(db: sqlite3.Connection):
    """One write transaction on `db` (autocommit connections), rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def copy_pending(db: sqlite3.Connection, writes):
    """Copy decoded pending diffs (seq, segment ids, columns) into the table and clear them, in
    one transaction on `db` (Project.reload's replay, and the retry after a failed copy)."""
    with immediate(db):
        for seq, ids, cols in writes:
            write_rows(db, ids, cols)
            db.execute("DELETE FROM pending_writes WHERE seq=?", (seq,))


class AssignmentWriter:
    """One thread, one connection: applies (pending row, segment ids, columns) in order."""

    def __init__(self, db_path, dtypes: dict, on_commit=None):
        self.db_path = db_path
        self.dtypes = dtypes  # column -> numpy dtype, to decode another connection's pending diffs
        self.on_commit = on_commit  # e.g. ask for a WAL checkpoint
        self._queue: list[tuple[int, np.ndarray, dict]] = []
        self._cond = threading.Condition()
        self._busy = False
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None
        self._started: list[threading.Thread] = []  # until each has closed its connection (close())
        self._closed = False

    def submit(self, seq: int, seg_ids: np.ndarray, cols: dict[str, np.ndarray]):
        """Copy one committed pending diff into the table (after the edit's COMMIT)."""
        with self._cond:
            if self._closed:
                raise WriteFailed(f"{self.db_path}: the project is closed")
            if self._error is not None:  # stopped: the pending row waits for a replay
                return
            self._queue.append((seq, seg_ids, cols))
            if self._thread is None:
                self._started = [t for t in self._started if t.is_alive()]
                self._thread = threading.Thread(target=self._run, name="assignment-writer")
                self._started.append(self._thread)
                self._thread.start()
            self._cond.notify_all()

    def pending(self) -> bool:
        with self._cond:
            return bool(self._queue) or self._busy

    def wait(self):
        """Until every submitted diff is in the table. After a failure nothing more is applied
        (applying later diffs before the failed one would reorder them) and this raises."""
        with self._cond:
            while (self._queue or self._busy) and self._error is None:
                self._cond.wait()
            error = self._error
        if error is not None:
            raise WriteFailed(f"{self.db_path}: edits were not copied into the assignments table "
                              f"({error}); they are kept and replayed when the project is opened again") from error

    def forget(self):
        """After a replay from pending_writes (Project.reload): start afresh."""
        with self._cond:
            self._queue.clear()
            self._error = None
            self._cond.notify_all()

    def close(self):
        """After the queued edits are in the table (or the writer stopped on an error) and every
        writer thread has closed its connection: a thread that found the queue empty is still
        closing it, and a copy of the folder taken before that could lose the WAL files."""
        with self._cond:
            self._closed = True
            threads = list(self._started)
        for thread in threads:
            thread.join()

    def _copy(self, db, seq: int, seg_ids, cols):
        from speakerid_gui.core.project import diffs

        with immediate(db):
            # edits another connection (a worker, another window) committed before this one and
            # has not copied yet go first, so the table follows commit order
            for earlier, stored in pending_rows(db, below=seq):
                diff = diffs.decode(stored, self.dtypes)
                write_rows(db, diff.ids, {k: v for k, v in diff.cols.items() if k in SQL_COLUMN})
                db.execute("DELETE FROM pending_writes WHERE seq=?", (earlier,))
            # gone: another connection's reload replayed it (and maybe later ones)
            if db.execute("SELECT 1 FROM pending_writes WHERE seq=?", (seq,)).fetchone():
                write_rows(db, seg_ids, cols)
                db.execute("DELETE FROM pending_writes WHERE seq=?", (seq,))

    def _run(self):
        """Apply the queue, then end (a new submit starts a new thread). Not a daemon: at exit
        Python waits for the edits still queued to reach the table."""
        db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            while True:
                with self._cond:
                    if not self._queue:
                        self._thread = None
                        self._cond.notify_all()
                        return
                    seq, seg_ids, cols = self._queue[0]
                    self._busy = True
                try:
                    self._copy(db, seq, seg_ids, cols)
                except Exception as exc:  # disk full, I/O error: stop; the pending rows stay for a replay
                    with self._cond:
                        self._error, self._busy = exc, False
                        self._queue.clear()
                    continue
                if self.on_commit is not None:
                    self.on_commit()
                with self._cond:
                    self._queue.pop(0)
                    self._busy = False
                    self._cond.notify_all()
        finally:
            db.close()
