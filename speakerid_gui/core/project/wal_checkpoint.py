"""WAL checkpoints of a project's database on a thread of their own.

Copying the WAL back into the database (with its fsyncs) inside an edit's COMMIT made some
edits wait; the store asks this thread after each transaction instead.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path


class WalCheckpointer:
    """Runs PRAGMA wal_checkpoint(PASSIVE) on its own connection and thread when asked.

    A checkpoint after a 40k-segment edit copies ~700 pages and fsyncs twice (20-30 ms);
    in the COMMIT (SQLite's default, every 1000 pages) it delayed every other edit. Crash
    safety does not depend on it: a committed transaction is in the WAL either way. The
    thread ends after a few idle seconds and starts again on the next request.
    """

    IDLE_SECONDS = 5.0
    # At most one checkpoint per this many seconds: an analysis commits each recording in a
    # transaction of its own, and a checkpoint (with its fsyncs) after each of fsdd-subset's 240
    # cost about 0.2 s of a 4 s run; the requests meanwhile are served by one checkpoint.
    MIN_INTERVAL = 1.0

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending = False
        self._closed = False
        self._thread: threading.Thread | None = None
        # every thread started, until it has closed its connection: one that gave up after its
        # idle time is still closing it, and the project's files are complete only after that
        self._started: list[threading.Thread] = []

    def request(self):
        with self._lock:
            if self._closed:
                return
            self._pending = True
            if self._thread is None:
                self._started = [t for t in self._started if t.is_alive()]
                self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
                self._started.append(self._thread)
                self._thread.start()
            else:
                self._wake.notify()

    def close(self):
        """Stop the thread (a checkpoint under way finishes first) and wait until every thread
        has closed its connection (the last connection to close removes the WAL files: a copy
        of the folder made after this is complete)."""
        with self._lock:
            self._closed = True
            threads = list(self._started)
            self._wake.notify()
        for thread in threads:
            thread.join()

    def _run(self):
        db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        last = float("-inf")  # when the last checkpoint ended
        try:
            while True:
                with self._lock:
                    if not self._pending and not self._closed:
                        self._wake.wait(self.IDLE_SECONDS)
                    while not self._closed and (left := last + self.MIN_INTERVAL - time.monotonic()) > 0:
                        self._wake.wait(left)  # requests meanwhile are served by the one checkpoint
                    if self._closed or not self._pending:
                        self._thread = None
                        return
                    self._pending = False
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # busy or locked: the next request (or SQLite itself) catches up
                    pass
                last = time.monotonic()
        finally:
            db.close()
