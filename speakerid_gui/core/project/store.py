"""The project on disk: project.sqlite (WAL) plus .npy arrays beside it.

Tables: recordings, segments, clusters, assignments (one row per segment), edits (the
undo log) with edit_selections (where the reviewer's selection was), arrays (stage caches
keyed by a hash of inputs and settings), meta, and pending_writes (edits committed but not yet
copied into assignments by the writer thread: assignment_writer.py).
The Project object keeps the per-segment assignment columns as numpy arrays in memory,
in segment-id order, and every write goes to both, so readers (GUI, CLI) never query
per segment.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speakerid_gui.core.audio.decode import source_folder
from speakerid_gui.core.project.assignment_writer import (AssignmentWriter, WriteFailed, copy_pending, pending_rows,
                                                          write_rows)
from speakerid_gui.core.project.wal_checkpoint import WalCheckpointer

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS recordings(
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, size INTEGER, mtime REAL,
    duration REAL, speech REAL, status TEXT NOT NULL DEFAULT 'pending', error TEXT,
    seg_key TEXT);
CREATE TABLE IF NOT EXISTS segments(
    id INTEGER PRIMARY KEY, recording_id INTEGER NOT NULL REFERENCES recordings(id),
    start REAL NOT NULL, end REAL NOT NULL);
CREATE INDEX IF NOT EXISTS segments_by_recording ON segments(recording_id, start);
CREATE TABLE IF NOT EXISTS clusters(
    id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', color TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS assignments(
    segment_id INTEGER PRIMARY KEY REFERENCES segments(id), cluster_id INTEGER NOT NULL DEFAULT -1,
    confidence REAL NOT NULL DEFAULT 0, verified INTEGER NOT NULL DEFAULT 0,
    noise INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL DEFAULT 'auto');
CREATE TABLE IF NOT EXISTS edits(
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, description TEXT NOT NULL,
    forward TEXT NOT NULL, inverse TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'done');
-- undo/redo look edits up by state: without this index each lookup walks every stored diff
CREATE INDEX IF NOT EXISTS edits_by_state ON edits(state, id);
-- where the reviewer's selection was before an edit and after it (edit_record.Selection, JSON)
CREATE TABLE IF NOT EXISTS edit_selections(edit_id INTEGER PRIMARY KEY, before TEXT, after TEXT);
CREATE TABLE IF NOT EXISTS arrays(name TEXT PRIMARY KEY, key TEXT NOT NULL, file TEXT NOT NULL,
    created REAL NOT NULL);
-- an edit's diff (its forward or inverse column) committed but not yet copied into assignments
-- by the writer thread (assignment_writer.py); replayed in order when the project is opened
-- a turn cut in two: its second part's parent (turn_cuts.py; it has no row in the analysis caches)
CREATE TABLE IF NOT EXISTS pieces(segment_id INTEGER PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE,
    parent_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pending_writes(seq INTEGER PRIMARY KEY, edit_id INTEGER NOT NULL,
    diff TEXT NOT NULL CHECK (diff IN ('forward', 'inverse')));
"""

# Per-segment assignment columns held in memory (name -> numpy dtype).
COLUMNS = {"cluster": np.int32, "confidence": np.float32, "verified": np.bool_, "noise": np.bool_,
           "human": np.bool_}
NOISE = -1  # cluster id of segments that belong to no cluster
WAL_PAGES_BEFORE_SELF_CHECKPOINT = 20000  # 80 MB: only if the checkpoint thread cannot keep up


@dataclass
class Recording:
    id: int
    path: str
    duration: float | None
    speech: float | None
    status: str
    error: str | None
    seg_key: str | None = None  # the segment settings its segments (or its skip) were made with


def settings_hash(*parts) -> str:
    """Stable short hash of JSON-able parts (stage inputs and settings)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _fetch(cursor, columns: int, chunk: int = 4096) -> np.ndarray:
    """All rows of numbers as float64 (n, columns), a chunk per call: fetching 100k rows and
    making them an array in one call each held the GIL for ~50 ms apiece, so a worker opening
    the project froze the window that long."""
    parts = [np.zeros((0, columns))]
    while part := cursor.fetchmany(chunk):
        parts.append(np.array(part, dtype=np.float64).reshape(-1, columns))
    return np.concatenate(parts)


class ReadOnlyProject(ValueError):
    """A change to a project opened read-only (another window holds it: core/project/lock.py)."""


class Project:
    """A project folder. Open with Project.create(...) or Project.open(...)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.db_path = self.folder / "project.sqlite"
        self.read_only = False  # set by a window that opened it while another one holds the writer lock
        self.db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        # SQLite's default page cache (2 MB) is smaller than the assignments table of a 100k-segment
        # project, so a big edit re-read and spilled pages; 64 MB is an upper bound, used as needed.
        self.db.execute("PRAGMA cache_size=-65536")
        # Checkpoints (copying the WAL back into the database, with fsyncs) run on a thread of
        # their own after each transaction, not inside an edit's COMMIT; this connection only
        # checkpoints itself if that thread falls far behind.
        self.db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES_BEFORE_SELF_CHECKPOINT}")
        self.db.executescript(SCHEMA)
        self._checkpointer = WalCheckpointer(self.db_path)
        self._writer = AssignmentWriter(self.db_path, {k: np.dtype(v) for k, v in COLUMNS.items()},
                                        on_commit=self._checkpointer.request)
        self._in_tx = False
        self._after_commit = []  # writer jobs of the open transaction: only once committed
        self._held, self._holding = [], 0  # committed jobs waiting for the end of writes_held()
        self.reload()

    # ---- creation -------------------------------------------------------------------
    @classmethod
    def create(cls, folder: str | os.PathLike, audio_root: str | os.PathLike) -> "Project":
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        project = cls(folder)
        existing = project.get_meta("audio_root")
        root = str(Path(audio_root).resolve())
        if existing and existing != root:
            raise ValueError(f"{folder} is a project of {existing}, not of {root}")
        project.set_meta("audio_root", root)
        return project

    @classmethod
    def open(cls, folder: str | os.PathLike) -> "Project":
        if not (Path(folder) / "project.sqlite").exists():
            raise FileNotFoundError(f"{folder}: no project here (project.sqlite missing)")
        return cls(folder)

    def close(self):
        self._release_writes()
        self._writer.close()  # what the reviewer did last is in the table before the file closes
        self._checkpointer.close()
        self.db.close()  # the last connection to close checkpoints and removes the WAL

    # ---- transactions ---------------------------------------------------------------
    def _refuse_if_read_only(self):
        if self.read_only:
            raise ReadOnlyProject(f"{self.folder.name} is open read-only (another window changes it): "
                                  "nothing was changed")

    @contextmanager
    def transaction(self):
        """One SQLite transaction; nested uses join the outer one. None in a read-only project.
        It starts once the writer thread has copied every earlier edit into assignments: nothing
        here overtakes them, and SQLite's busy wait (which sleeps in steps) is never hit."""
        self._refuse_if_read_only()
        if self._in_tx:
            yield self.db
            return
        self.wait_for_writes()
        self._in_tx = True
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
            self._checkpointer.request()
        except BaseException:
            self._after_commit.clear()
            self.db.execute("ROLLBACK")
            self._in_tx = False
            self.reload()  # memory must match what the database kept
            raise
        finally:
            self._in_tx = False
        self._held += self._after_commit
        self._after_commit = []
        if not self._holding:
            self._release_writes()

    @contextmanager
    def writes_held(self):
        """The table copies of edits committed inside start at the end: EditLog holds them while
        its listeners redraw, so the copy does not take a core from the redraw (on two cores
        that cost the redraw as much as the copy saved)."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            if not self._holding:
                self._release_writes()

    def _release_writes(self):
        jobs, self._held = self._held, []
        for job in jobs:
            self._writer.submit(*job)

    def wait_for_writes(self):
        """Until the writer thread has copied every committed edit into assignments. If it
        failed, the copy is tried once more here; WriteFailed if that fails too (the edits stay
        pending: the next open replays them)."""
        self._release_writes()
        if self._in_tx and self._writer.pending():
            raise RuntimeError("waiting for the assignment writer inside a transaction would deadlock")
        try:
            self._writer.wait()
        except WriteFailed:
            if self._in_tx or self.read_only:
                raise
            try:
                self._replay(pending_rows(self.db), memory=False)  # memory holds them already
            except sqlite3.Error as exc:
                raise WriteFailed(f"{self.db_path}: edits could not be copied into the assignments table "
                                  f"({exc}); they are kept and replayed when the project is opened again") from exc

    # ---- meta -----------------------------------------------------------------------
    def get_meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value):
        self._refuse_if_read_only()
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, json.dumps(value)))

    @property
    def audio_root(self) -> Path:  # recordings' paths are relative to it (a one-file project: its folder)
        return source_folder(Path(self.get_meta("audio_root", ".")))

    # ---- recordings and segments ------------------------------------------------------
    def recordings(self, status: str | None = None) -> list[Recording]:
        sql = "SELECT id, path, duration, speech, status, error, seg_key FROM recordings"
        rows = self.db.execute(sql + (" WHERE status=?" if status else "") + " ORDER BY id",
                               (status,) if status else ()).fetchall()
        return [Recording(*r) for r in rows]

    def recording_path(self, recording_id: int) -> Path:
        (rel,) = self.db.execute("SELECT path FROM recordings WHERE id=?", (recording_id,)).fetchone()
        return self.audio_root / rel

    def upsert_recording(self, rel_path: str, size: int, mtime: float) -> tuple[int, bool]:
        """(id, changed): changed when the file is new or differs from what was processed."""
        row = self.db.execute("SELECT id, size, mtime FROM recordings WHERE path=?", (rel_path,)).fetchone()
        if row is None:
            cur = self.db.execute("INSERT INTO recordings(path, size, mtime) VALUES(?, ?, ?)",
                                  (rel_path, size, mtime))
            return cur.lastrowid, True
        changed = row[1] != size or abs((row[2] or 0) - mtime) > 1e-3
        return row[0], changed

    def mark_recording_changed(self, recording_id: int, size: int, mtime: float):
        """The file differs from what was analysed: remember its new size and time, analyse again."""
        self.db.execute("UPDATE recordings SET size=?, mtime=?, status='pending' WHERE id=?",
                        (size, mtime, recording_id))

    def segment_key(self) -> str | None:
        """The segment settings key most analysed recordings were cut with (None before analysis)."""
        row = self.db.execute("SELECT seg_key FROM recordings WHERE status='ok' AND seg_key IS NOT NULL "
                              "GROUP BY seg_key ORDER BY COUNT(*) DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def set_recording_status(self, recording_id: int, status: str, error: str | None = None, **fields):
        cols = ", ".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE recordings SET status=?, error=?{', ' + cols if cols else ''} WHERE id=?",
                        (status, error, *fields.values(), recording_id))

    def add_segments(self, recording_id: int, spans: list[tuple[float, float]], seg_key: str,
                     **recording_fields):
        """Replace a recording's segments (only while none of them carries human work).

        Memory is not refreshed here (that would be quadratic over a corpus): call
        reload() once the batch of recordings is done.
        """
        with self.transaction() as db:
            old = [r[0] for r in db.execute("SELECT id FROM segments WHERE recording_id=?", (recording_id,))]
            if old:
                if self._human_count(old):
                    raise ValueError("segments carry reviewed labels; not re-segmenting")
                db.executemany("DELETE FROM assignments WHERE segment_id=?", [(i,) for i in old])
                db.execute("DELETE FROM segments WHERE recording_id=?", (recording_id,))
            db.executemany("INSERT INTO segments(recording_id, start, end) VALUES(?, ?, ?)",
                           [(recording_id, a, b) for a, b in spans])
            db.execute("""INSERT INTO assignments(segment_id)
                          SELECT id FROM segments WHERE recording_id=?""", (recording_id,))
            self.set_recording_status(recording_id, "ok", None, seg_key=seg_key, **recording_fields)

    def _human_count(self, ids) -> int:
        self.wait_for_writes()
        marks = ",".join("?" * len(ids))
        return self.db.execute(
            f"SELECT COUNT(*) FROM assignments WHERE segment_id IN ({marks}) AND (verified=1 OR source='human')",
            list(ids)).fetchone()[0]

    def segment_table(self) -> dict[str, np.ndarray]:
        """ids, recording ids, starts, ends of all segments, in id order."""
        arr = _fetch(self.db.execute("SELECT id, recording_id, start, end FROM segments ORDER BY id"), 4)
        return {"id": arr[:, 0].astype(np.int64), "recording": arr[:, 1].astype(np.int64),
                "start": arr[:, 2], "end": arr[:, 3]}

    # ---- in-memory assignment columns ---------------------------------------------------
    def reload(self):
        """Re-read segments, assignments and clusters into memory, with the edits still pending
        for the table (a crash, a failed write, another window's writer) applied on top; a
        writable project then also copies them into the table."""
        try:
            self._release_writes()
            self._writer.wait()
        except WriteFailed:
            pass  # the pending rows below say what is missing
        own_tx = not self._in_tx
        if own_tx:  # one snapshot: a pending row and the table as it was without it
            self.db.execute("BEGIN")
        try:
            seg = self.segment_table()
            rows = _fetch(self.db.execute("""SELECT cluster_id, confidence, verified, noise, source='human'
                                            FROM assignments ORDER BY segment_id"""), len(COLUMNS))
            pending = pending_rows(self.db)
            clusters = self.db.execute("SELECT id, name, color, notes FROM clusters ORDER BY id").fetchall()
        finally:
            if own_tx:
                self.db.execute("COMMIT")
        self.segment_ids = seg["id"]
        self.seg_recording = seg["recording"]
        self.seg_start = seg["start"]
        self.seg_end = seg["end"]
        for k, (name, dtype) in enumerate(COLUMNS.items()):
            setattr(self, name, rows[:, k].astype(dtype))
        self.clusters = {r[0]: {"name": r[1], "color": r[2], "notes": r[3]} for r in clusters}
        if pending:
            self._replay(pending)

    def _replay(self, pending, memory: bool = True):
        """Apply pending diffs (seq, stored diff) to memory (unless it holds them), in order; copy
        them into the table and clear them, unless read-only (the writer that owns them does)."""
        from speakerid_gui.core.project import diffs

        dtypes = {name: np.dtype(dtype) for name, dtype in COLUMNS.items()}
        writes = []
        for seq, stored in pending:
            diff = diffs.decode(stored, dtypes)
            index = self.positions(diff.ids) if len(diff.ids) else np.zeros(0, np.int64)
            known = (index >= 0) & (index < self.n_segments)
            known[known] = self.segment_ids[index[known]] == diff.ids[known]
            cols = {k: (np.asarray(v)[known] if np.ndim(v) else v) for k, v in diff.cols.items() if k in COLUMNS}
            for name, values in cols.items() if memory else ():
                getattr(self, name)[index[known]] = values
            writes.append((seq, diff.ids[known], cols))
        if not (self.read_only or self._in_tx):
            self._writer.forget()
            copy_pending(self.db, writes)

    def positions(self, segment_ids) -> np.ndarray:
        """Array positions of segment ids (ids are sorted, so a binary search; when they have no
        gaps, as in most projects, a subtraction)."""
        ids = np.asarray(segment_ids, dtype=np.int64)
        seg = self.segment_ids
        if len(seg) and seg[-1] - seg[0] == len(seg) - 1:
            return ids - seg[0]
        return np.searchsorted(seg, ids)

    @property
    def n_segments(self) -> int:
        return len(self.segment_ids)

    def cluster_name(self, cluster_id: int) -> str:
        if cluster_id == NOISE:
            return "noise"
        info = self.clusters.get(int(cluster_id))
        return (info["name"] if info and info["name"] else f"S{int(cluster_id)}")

    def cluster_sizes(self) -> dict[int, int]:
        ids, counts = np.unique(self.cluster[self.cluster != NOISE], return_counts=True)
        return {int(i): int(c) for i, c in zip(ids, counts)}

    def edit_state(self, edit_id: int | None) -> str | None:
        """done | undone | discarded for an edit of the log (None if there is no such edit)."""
        if edit_id is None:
            return None
        row = self.db.execute("SELECT state FROM edits WHERE id=?", (edit_id,)).fetchone()
        return row[0] if row else None

    def next_cluster_id(self) -> int:
        """An id above every cluster id this project ever used (kept in meta "cluster_id_high"), so
        an id freed by a merge is never given to another cluster: one "S118" per history."""
        row = self.db.execute("SELECT MAX(id) FROM clusters").fetchone()
        return max(row[0] if row[0] is not None else -1, self._cluster_id_high()) + 1

    def _cluster_id_high(self) -> int:
        high = self.get_meta("cluster_id_high")
        if high is None:  # a project from before the mark: every id its edit log ever wrote
            high = self._highest_id_in_log()
            self.set_meta("cluster_id_high", high)
        return int(high)

    def _highest_id_in_log(self) -> int:
        from speakerid_gui.core.project import diffs

        dtypes = {name: np.dtype(dtype) for name, dtype in COLUMNS.items()}
        high = int(self.cluster.max(initial=-1)) if hasattr(self, "cluster") else -1
        for fwd, inv in self.db.execute("SELECT forward, inverse FROM edits"):
            for stored in (fwd, inv):
                diff = diffs.decode(stored, dtypes)
                high = max([high, *(int(c) for c in diff.clusters)])
                cluster = diff.cols.get("cluster")
                if cluster is not None:
                    high = max(high, int(np.max(cluster)))
        return high

    # ---- low-level writes used by edits (memory and database together) -------------------
    def write_assignments(self, index: np.ndarray, values: dict[str, object], pending=None):
        """Set assignment columns for segments at `index` (array positions); each value is one
        per segment or one for all. Only the given columns are written. `pending`: (edit id,
        'forward' | 'inverse'), the stored diff these values come from: memory now, the table
        by the writer thread once the caller's transaction commits."""
        index = np.asarray(index, dtype=np.int64)
        if len(index) == 0 or not values:
            return
        for name, vals in values.items():
            getattr(self, name)[index] = vals
        seg_ids = self.segment_ids[index]
        cols = {n: getattr(self, n)[index] for n in values}  # copies of what memory now holds
        if pending is not None:
            if not self._in_tx:
                raise RuntimeError("a pending write belongs to a transaction")
            seq = self.db.execute("INSERT INTO pending_writes(edit_id, diff) VALUES(?, ?)", pending).lastrowid
            self._after_commit.append((seq, seg_ids, cols))
            return
        self.wait_for_writes()
        write_rows(self.db, seg_ids, cols)

    def write_cluster(self, cluster_id: int, info: dict | None):
        """Create/replace a cluster row, or delete it when info is None."""
        if info is None:
            self.db.execute("DELETE FROM clusters WHERE id=?", (cluster_id,))
            self.clusters.pop(cluster_id, None)
        else:
            info = {"name": "", "color": "", "notes": "", **info}
            self.db.execute("INSERT OR REPLACE INTO clusters(id, name, color, notes) VALUES(?, ?, ?, ?)",
                            (cluster_id, info["name"], info["color"], info["notes"]))
            if cluster_id > self._cluster_id_high():
                self.set_meta("cluster_id_high", int(cluster_id))
            self.clusters[cluster_id] = {k: info[k] for k in ("name", "color", "notes")}

    # ---- arrays (stage caches) -----------------------------------------------------------
    def save_array(self, name: str, key: str, array: np.ndarray):
        """Store an array under `name`, tagged with the hash `key` of what produced it."""
        folder = self.folder / "arrays"
        folder.mkdir(exist_ok=True)
        file = f"{name}-{key}.npy"
        tmp = folder / (file + ".tmp.npy")
        np.save(tmp, array)
        os.replace(tmp, folder / file)  # atomic: a kill never leaves half an array
        old = self.db.execute("SELECT file FROM arrays WHERE name=?", (name,)).fetchone()
        self.db.execute("INSERT OR REPLACE INTO arrays(name, key, file, created) VALUES(?, ?, ?, ?)",
                        (name, key, file, time.time()))
        if old and old[0] != file:
            (folder / old[0]).unlink(missing_ok=True)

    def load_array(self, name: str, key: str | None = None, mmap: bool = False) -> np.ndarray | None:
        """The stored array, or None if missing or produced with another key."""
        row = self.db.execute("SELECT key, file FROM arrays WHERE name=?", (name,)).fetchone()
        if row is None or (key is not None and row[0] != key):
            return None
        path = self.folder / "arrays" / row[1]
        if not path.exists():
            return None
        return np.load(path, mmap_mode="r" if mmap else None)

    def delete_recording_segments(self, recording_id: int):
        """Forget a recording's segments and their labels (its turns are being redone)."""
        self.wait_for_writes()
        self.db.execute("DELETE FROM assignments WHERE segment_id IN "
                        "(SELECT id FROM segments WHERE recording_id=?)", (recording_id,))
        self.db.execute("DELETE FROM segments WHERE recording_id=?", (recording_id,))

    def drop_array(self, name: str):
        """Forget a stored array and delete its file (its producer will rebuild it)."""
        row = self.db.execute("SELECT file FROM arrays WHERE name=?", (name,)).fetchone()
        if row:
            self.db.execute("DELETE FROM arrays WHERE name=?", (name,))
            (self.folder / "arrays" / row[0]).unlink(missing_ok=True)

    def array_key(self, name: str) -> str | None:
        row = self.db.execute("SELECT key FROM arrays WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def cache_dir(self, name: str) -> Path:
        path = self.folder / "cache" / name
        path.mkdir(parents=True, exist_ok=True)
        return path
