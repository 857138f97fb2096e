"""Undoable edits on a project's labels.

Every edit is stored as a pair of diffs (forward, inverse): new and old values of the
assignment columns of the segments it changes, and new and old rows of the clusters it
touches (diffs.py: a compact binary form; older projects' JSON diffs still apply).
Applying a diff is one SQLite transaction, so undo/redo is the same operation in both
directions, survives restarts, and the edits table is the audit trail.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from . import diffs
from .palette import color_for
from .store import COLUMNS, NOISE, Project, ReadOnlyProject
from .text import plural

BOUNDS = "bounds"  # the edit kind whose diffs are segment times, not assignment columns
# Machine clusterings are what a reviewer's edits start from, not edits: undo stops at the
# latest one (one Ctrl+Z too many must not grey every point). Re-clustering is its own command.
BASE_KINDS = ("cluster",)
DTYPES = {name: np.dtype(dtype) for name, dtype in COLUMNS.items()}


@dataclass
class Edit:
    id: int
    kind: str
    description: str
    state: str
    ts: float


class EditLog:
    """The command API: merge, split, move, rename, verify, noise, relabel; undo and redo."""

    def __init__(self, project: Project):
        self.p = project
        self.listeners = []  # called with (kind, positions whose labels changed) after every change

    def _writable(self):  # before the diff is computed; the store's transaction refuses too
        if self.p.read_only:
            raise ReadOnlyProject(f"{self.p.folder.name} is open read-only (another window changes it): "
                                  "nothing was changed")

    # ---- the generic machinery -----------------------------------------------------------
    def _diff(self, index: np.ndarray, new: dict[str, np.ndarray], clusters: dict[int, dict | None]):
        """(forward, inverse) for setting `new` at `index`, reduced to what really changes:
        sorted unique positions, rows whose values differ, columns that differ somewhere."""
        index = np.asarray(index, dtype=np.int64)
        new = {k: np.broadcast_to(np.asarray(v).astype(DTYPES[k], copy=False), index.shape) for k, v in new.items()}
        if len(index) > 1 and not (np.diff(index) > 0).all():  # sort; a repeated position: its last value
            _, last = np.unique(index[::-1], return_index=True)
            keep = len(index) - 1 - last
            index, new = index[keep], {k: v[keep] for k, v in new.items()}
        old = {k: getattr(self.p, k)[index] for k in new}
        differs = {k: new[k] != old[k] for k in new}
        rows = np.zeros(len(index), bool)
        for d in differs.values():
            rows |= d
        cols = [k for k in new if differs[k][rows].any()]
        index = index[rows]
        ids = self.p.segment_ids[index]
        fwd = diffs.Diff(ids, {k: new[k][rows] for k in cols}, dict(clusters))
        inv = diffs.Diff(ids, {k: old[k][rows] for k in cols},
                         {c: (dict(self.p.clusters[c]) if c in self.p.clusters else None) for c in clusters})
        return fwd, inv

    def _apply(self, diff: diffs.Diff) -> np.ndarray:
        index = self.p.positions(diff.ids) if len(diff.ids) else np.zeros(0, dtype=np.int64)
        cols = diff.cols
        known = (index >= 0) & (index < self.p.n_segments)
        known[known] = self.p.segment_ids[index[known]] == diff.ids[known]
        if not known.all():  # segments a later re-analysis replaced: nothing left to change there
            index = index[known]
            cols = {k: (v[known] if np.ndim(v) else v) for k, v in cols.items()}
        self.p.write_assignments(index, cols)
        for cid, info in diff.clusters.items():
            self.p.write_cluster(int(cid), info)
        return index

    def commit(self, kind: str, description: str, index, new: dict, clusters: dict | None = None) -> int:
        """Record and apply one edit; returns its id. Discards the redo stack."""
        self._writable()
        fwd, inv = self._diff(index, new, clusters or {})
        with self.p.transaction() as db:
            db.execute("UPDATE edits SET state='discarded' WHERE state='undone'")
            cur = db.execute("INSERT INTO edits(ts, kind, description, forward, inverse) VALUES(?,?,?,?,?)",
                             (time.time(), kind, description, diffs.encode(fwd), diffs.encode(inv)))
            touched = self._apply(fwd)
        self._notify(kind, touched)
        return cur.lastrowid

    def undo(self) -> Edit | None:
        """Undo the latest edit; None when there is none after the latest clustering."""
        return self._step("done", "undone", "inverse", "DESC")

    def redo(self) -> Edit | None:
        return self._step("undone", "done", "forward", "ASC")

    def _step(self, from_state, to_state, column, order) -> Edit | None:
        self._writable()
        with self.p.transaction() as db:
            row = db.execute(f"SELECT id, kind, description, {column}, ts FROM edits WHERE state=? "
                             f"ORDER BY id {order} LIMIT 1", (from_state,)).fetchone()
            if row is None or (to_state == "undone" and row[1] in BASE_KINDS):
                return None
            if row[1] == BOUNDS:
                touched = self._apply_bounds(row[3])
            else:
                touched = self._apply(diffs.decode(row[3], DTYPES))
            db.execute("UPDATE edits SET state=? WHERE id=?", (to_state, row[0]))
        self._notify(f"{'undo' if to_state == 'undone' else 'redo'}:{row[1]}", touched)
        return Edit(row[0], row[1], row[2], to_state, row[4])

    # ---- segment boundaries (a turn's start or end moved on the timeline) ---------------------
    def set_bounds(self, index: int, start: float, end: float) -> int:
        """Move one segment's start and end (seconds); undoable like any edit. Its embedding is
        left as it was: a moved boundary changes when a person speaks, not who it is."""
        self._writable()
        i = int(index)
        start, end = round(float(start), 3), round(float(end), 3)
        if not 0.0 <= start < end:
            raise ValueError(f"a turn needs 0 <= start < end (got {start:.3f}-{end:.3f} s)")
        sid = int(self.p.segment_ids[i])
        fwd = json.dumps({"bounds": [[sid, start, end]]})
        inv = json.dumps({"bounds": [[sid, float(self.p.seg_start[i]), float(self.p.seg_end[i])]]})
        with self.p.transaction() as db:
            db.execute("UPDATE edits SET state='discarded' WHERE state='undone'")
            cur = db.execute("INSERT INTO edits(ts, kind, description, forward, inverse) VALUES(?,?,?,?,?)",
                             (time.time(), BOUNDS, f"turn {start:.2f}-{end:.2f} s", fwd, inv))
            touched = self._apply_bounds(fwd)
        self._notify(BOUNDS, touched)
        return cur.lastrowid

    def _apply_bounds(self, stored) -> np.ndarray:
        rows = json.loads(stored)["bounds"]
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        index = self.p.positions(ids)
        keep = (index >= 0) & (index < self.p.n_segments)
        keep[keep] = self.p.segment_ids[index[keep]] == ids[keep]  # a re-analysis may have replaced it
        for (sid, a, b), i, ok in zip(rows, index, keep):
            if ok:
                self.p.db.execute("UPDATE segments SET start=?, end=? WHERE id=?", (a, b, sid))
                self.p.seg_start[i], self.p.seg_end[i] = a, b
        return index[keep]

    def history(self, limit: int = 200) -> list[Edit]:
        rows = self.p.db.execute("SELECT id, kind, description, state, ts FROM edits "
                                 "WHERE state!='discarded' ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Edit(*r) for r in rows]

    def can_undo(self) -> bool:
        row = self.p.db.execute("SELECT kind FROM edits WHERE state='done' ORDER BY id DESC LIMIT 1").fetchone()
        return row is not None and row[0] not in BASE_KINDS

    def base(self) -> Edit | None:
        """The clustering the undoable edits start from (None before the first one)."""
        marks = ",".join("?" * len(BASE_KINDS))
        row = self.p.db.execute(f"SELECT id, kind, description, state, ts FROM edits WHERE state='done' "
                                f"AND kind IN ({marks}) ORDER BY id DESC LIMIT 1", BASE_KINDS).fetchone()
        return Edit(*row) if row else None

    def can_redo(self) -> bool:
        return self.p.db.execute("SELECT 1 FROM edits WHERE state='undone' LIMIT 1").fetchone() is not None

    def _notify(self, kind, touched):
        for listener in list(self.listeners):
            listener(kind, touched)

    # ---- the edits a reviewer makes ------------------------------------------------------------
    def members(self, cluster_id: int) -> np.ndarray:
        return np.flatnonzero(self.p.cluster == cluster_id)

    def new_cluster_ids(self, n: int) -> list[int]:
        first = max(self.p.next_cluster_id(), int(self.p.cluster.max(initial=-1)) + 1)
        return list(range(first, first + n))

    def merge(self, cluster_ids: list[int], into: int | None = None) -> int:
        """All segments of cluster_ids go into `into` (default: the largest); the rest vanish."""
        cluster_ids = [int(c) for c in dict.fromkeys(cluster_ids) if c != NOISE]
        if len(cluster_ids) < 2 and into is None:
            raise ValueError("merge needs at least two clusters")
        sizes = self.p.cluster_sizes()
        target = int(into) if into is not None else max(cluster_ids, key=lambda c: sizes.get(c, 0))
        others = [c for c in cluster_ids if c != target]
        index = np.flatnonzero(np.isin(self.p.cluster, others))
        clusters = {c: None for c in others}
        target_info = dict(self.p.clusters.get(target, {"name": "", "color": color_for(target)}))
        if not target_info.get("name"):  # keep a name a reviewer already gave
            named = [self.p.clusters[c]["name"] for c in others if self.p.clusters.get(c, {}).get("name")]
            if named:
                target_info["name"] = named[0]
                clusters[target] = target_info
        if target not in self.p.clusters:
            clusters[target] = target_info
        names = ", ".join(self.p.cluster_name(c) for c in others)
        return self.commit("merge", f"merge {names} into {self.p.cluster_name(target)}", index,
                           {"cluster": target, "human": True}, clusters)

    def split(self, cluster_id: int, labels: np.ndarray) -> int:
        """Split a cluster by `labels` (one per member, in member order); part 0 keeps the id."""
        index = self.members(cluster_id)
        labels = np.asarray(labels)
        if len(labels) != len(index):
            raise ValueError(f"split needs {len(index)} labels, got {len(labels)}")
        parts = [p for p in np.unique(labels)]
        if len(parts) < 2:
            raise ValueError("split needs at least two parts")
        new_ids = self.new_cluster_ids(len(parts) - 1)
        mapping = {parts[0]: cluster_id, **{p: c for p, c in zip(parts[1:], new_ids)}}
        target = np.array([mapping[l] for l in labels], dtype=np.int32)
        clusters = {c: {"name": "", "color": color_for(c), "notes": ""} for c in new_ids}
        return self.commit("split", f"split {self.p.cluster_name(cluster_id)} into {len(parts)}", index,
                           {"cluster": target, "human": True}, clusters)

    def move(self, index, target: int | None = None, name: str = "") -> int:
        """Move segments (array positions) to cluster `target`, or to a new cluster."""
        index = np.asarray(index, dtype=np.int64)
        clusters = {}
        if target is None:
            target = self.new_cluster_ids(1)[0]
            clusters[target] = {"name": name, "color": color_for(target), "notes": ""}
        elif target not in self.p.clusters and target != NOISE:
            clusters[target] = {"name": name, "color": color_for(target), "notes": ""}
        label = name or self.p.cluster_name(target)
        return self.commit("move", f"move {plural(len(index), 'segment')} to {label}", index, {"cluster": target, "noise": target == NOISE, "human": True}, clusters)

    def rename(self, cluster_id: int, name: str) -> int:
        info = dict(self.p.clusters.get(cluster_id) or {"name": "", "color": color_for(cluster_id), "notes": ""})
        old = self.p.cluster_name(cluster_id)
        info["name"] = name.strip()
        return self.commit("rename", f"rename {old} to {name.strip() or f'S{cluster_id}'}",
                           np.zeros(0, dtype=np.int64), {}, {cluster_id: info})

    def verify(self, index, value: bool = True) -> int:
        index = np.asarray(index, dtype=np.int64)
        return self.commit("verify", f"{'verify' if value else 'unverify'} {plural(len(index), 'segment')}", index,
                           {"verified": value, "human": True, **({"confidence": 1.0} if value else {})})

    def verify_cluster(self, cluster_id: int, value: bool = True) -> int:
        return self.verify(self.members(cluster_id), value)

    def mark_noise(self, index, value: bool = True) -> int:
        """Noise segments leave their cluster (undo brings them back)."""
        index = np.asarray(index, dtype=np.int64)
        if value:
            return self.commit("noise", f"mark {plural(len(index), 'segment')} as noise", index,
                               {"cluster": NOISE, "noise": True, "human": True})
        return self.commit("noise", f"unmark {plural(len(index), 'segment')}", index, {"noise": False})

    def relabel(self, kind: str, description: str, index, clusters: np.ndarray, confidence: np.ndarray,
                cluster_rows: dict[int, dict | None] | None = None) -> int:
        """Machine relabelling (clustering, propagation) of unverified segments, undoable."""
        index = np.asarray(index, dtype=np.int64)
        keep = ~self.p.verified[index] & ~self.p.noise[index]  # a reviewer's verdicts stay
        return self.commit(kind, description, index[keep],
                           {"cluster": np.asarray(clusters)[keep], "confidence": np.asarray(confidence)[keep],
                            "noise": False, "human": False},
                           cluster_rows)
