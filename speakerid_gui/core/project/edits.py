"""Undoable edits on a project's labels.

Every edit is stored as a pair of diffs (forward, inverse): new and old values of the
assignment columns of the segments it changes, and new and old rows of the clusters it
touches (diffs.py: a compact binary form; older projects' JSON diffs still apply).
Applying a diff is one SQLite transaction (the edit row, cluster rows, and a pending_writes
row whose assignment rows the store's writer thread copies after the listeners have redrawn:
assignment_writer.py), so undo/redo is the same operation in both directions, survives
restarts, and the edits table is the audit trail. Each command, undo and redo returns and
announces one `Change` (edit_record.py): what it moved, added, removed, renamed, and where the
reviewer's selection goes.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

import numpy as np

from speakerid_gui.core.project import diffs, turn_cuts
from speakerid_gui.core.project.edit_record import Change, Recorder, Selection, bounds_change
from speakerid_gui.core.palette import color_for
from speakerid_gui.core.project.store import COLUMNS, NOISE, Project, ReadOnlyProject
from speakerid_gui.core.text import plural

BOUNDS = "bounds"  # the edit kind whose diffs are segment times, not assignment columns
CUT = "cut"        # the edit kind whose diffs cut turns in two first (turn_cuts.py)
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
    """The command API: merge, split, move, rename, recolour, verify, noise, relabel; undo and redo.

    Every command, undo and redo returns the `Change` it made (edit_record.py) and hands it to
    each of `listeners`. The selection stored with an edit is the caller's (`selection=`, and
    `after=` for where it goes), else what `selection_source()` says (the window sets it); the
    selection after an edit defaults to the one before, following the clusters it emptied."""

    def __init__(self, project: Project):
        self.p = project
        self.listeners = []  # called with the Change after every change
        self.selection_source = None  # () -> Selection | None: the reviewer's place (set by the window)

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

    def _apply(self, diff: diffs.Diff, kind: str = "", edit_id: int = 0, action: str = "do",
               description: str = "") -> Change:
        index = self.p.positions(diff.ids) if len(diff.ids) else np.zeros(0, dtype=np.int64)
        cols = diff.cols
        known = (index >= 0) & (index < self.p.n_segments)
        known[known] = self.p.segment_ids[index[known]] == diff.ids[known]
        if not known.all():  # segments a later re-analysis replaced: nothing left to change there
            index = index[known]
            cols = {k: (v[known] if np.ndim(v) else v) for k, v in cols.items()}
        record = Recorder(self.p, index, diff.clusters)
        others = {k: getattr(self.p, k)[index].copy() for k in cols if k not in record.before}
        # the table is written by the writer thread after the commit (assignment_writer.py)
        self.p.write_assignments(index, cols, pending=(edit_id, "inverse" if action == "undo" else "forward"))
        for cid, info in diff.clusters.items():
            self.p.write_cluster(int(cid), info)
        return record.change(kind, edit_id, action, description, others)

    def commit(self, kind: str, description: str, index, new: dict, clusters: dict | None = None,
               selection: Selection | None = None, after: Selection | None = None) -> Change:
        """Record and apply one edit; returns its Change. Discards the redo stack."""
        with self.p.writes_held():  # the table copy starts once the listeners have redrawn
            return self._commit(kind, description, index, new, clusters, selection, after)

    def _commit(self, kind, description, index, new, clusters, selection, after) -> Change:
        self._writable()
        before = self._selection(selection)
        fwd, inv = self._diff(index, new, clusters or {})
        with self.p.transaction() as db:
            db.execute("UPDATE edits SET state='discarded' WHERE state='undone'")
            cur = db.execute("INSERT INTO edits(ts, kind, description, forward, inverse) VALUES(?,?,?,?,?)",
                             (time.time(), kind, description, diffs.encode(fwd), diffs.encode(inv)))
            change = self._apply(fwd, kind, cur.lastrowid, "do", description)
            change = self._keep_selection(db, change, before, after)
        return self._notify(change)

    def _selection(self, given: Selection | None) -> Selection | None:
        if given is not None:
            return given
        return self.selection_source() if self.selection_source is not None else None

    def _keep_selection(self, db, change: Change, before: Selection | None, after: Selection | None) -> Change:
        """Store where the selection was and where it goes; the Change carries the latter."""
        if after is None and before is not None:
            after = before.following(change)
        if before is not None or after is not None:
            ids = self.p.segment_ids
            db.execute("INSERT OR REPLACE INTO edit_selections(edit_id, before, after) VALUES(?,?,?)",
                       (change.edit_id, before.encode(ids) if before else None, after.encode(ids) if after else None))
        return replace(change, selection=after)

    def undo(self) -> Change | None:
        """Undo the latest edit; None when there is none after the latest clustering."""
        return self._step("done", "undone", "inverse", "DESC")

    def redo(self) -> Change | None:
        return self._step("undone", "done", "forward", "ASC")

    def _step(self, from_state, to_state, column, order) -> Change | None:
        with self.p.writes_held():
            return self._step_now(from_state, to_state, column, order)

    def _step_now(self, from_state, to_state, column, order) -> Change | None:
        self._writable()
        action = "undo" if to_state == "undone" else "redo"
        with self.p.transaction() as db:
            row = db.execute(f"SELECT id, kind, description, {column} FROM edits WHERE state=? "
                             f"ORDER BY id {order} LIMIT 1", (from_state,)).fetchone()
            if row is None or (to_state == "undone" and row[1] in BASE_KINDS):
                return None
            edit_id, kind, description, stored = row
            if kind == BOUNDS:
                change = bounds_change(edit_id, action, description, self._apply_bounds(stored), None)
            elif kind == CUT:
                change = self._apply_cut(diffs.decode(stored, DTYPES), edit_id, action, description)
            else:
                change = self._apply(diffs.decode(stored, DTYPES), kind, edit_id, action, description)
            db.execute("UPDATE edits SET state=? WHERE id=?", (to_state, edit_id))
            where = db.execute(f"SELECT {'before' if action == 'undo' else 'after'} FROM edit_selections "
                               "WHERE edit_id=?", (edit_id,)).fetchone()
        return self._notify(replace(change, selection=Selection.decode(where and where[0], self.p)))

    # ---- segment boundaries (a turn's start or end moved on the timeline) ---------------------
    def set_bounds(self, index: int, start: float, end: float, selection: Selection | None = None) -> Change:
        """Move one segment's start and end (seconds); undoable like any edit. Its embedding is
        left as it was: a moved boundary changes when a person speaks, not who it is."""
        self._writable()
        i = int(index)
        start, end = round(float(start), 3), round(float(end), 3)
        if not 0.0 <= start < end:
            raise ValueError(f"a turn needs 0 <= start < end (got {start:.3f}-{end:.3f} s)")
        before = self._selection(selection)
        sid = int(self.p.segment_ids[i])
        fwd = json.dumps({"bounds": [[sid, start, end]]})
        inv = json.dumps({"bounds": [[sid, float(self.p.seg_start[i]), float(self.p.seg_end[i])]]})
        description = f"turn {start:.2f}-{end:.2f} s"
        with self.p.transaction() as db:
            db.execute("UPDATE edits SET state='discarded' WHERE state='undone'")
            cur = db.execute("INSERT INTO edits(ts, kind, description, forward, inverse) VALUES(?,?,?,?,?)",
                             (time.time(), BOUNDS, description, fwd, inv))
            change = bounds_change(cur.lastrowid, "do", description, self._apply_bounds(fwd), None)
            change = self._keep_selection(db, change, before, None)
        return self._notify(change)

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

    # ---- cutting turns (the timeline's cut at the cursor, and a span given to a speaker) -------
    def cut_turn(self, index: int, t: float, **where) -> Change:
        """Cut segment `index` in two at time t (seconds); both parts keep its speaker. Undoable."""
        def assign(cuts):
            return self.p.positions([cuts[0][0], cuts[0][1]]), {"human": True}, {}

        return self._cut(f"cut turn at {t:.2f} s", [(int(index), float(t))], assign, **where)

    def give_span(self, index, start: float, end: float, target: int | None, name: str = "", **where) -> Change:
        """Give the part of turns `index` (array positions) inside [start, end] to cluster `target`
        (None: a new cluster): a turn partly inside is cut at the span's edges first, and the
        part inside goes. One undoable edit."""
        p = self.p
        if end - start < turn_cuts.MIN_PIECE:
            raise ValueError(f"a span needs at least {turn_cuts.MIN_PIECE * 1000:.0f} ms (got {start:.2f}-{end:.2f} s)")
        index = [int(i) for i in np.atleast_1d(index) if p.seg_start[i] < end and p.seg_end[i] > start]
        if not index:
            raise ValueError(f"no turn inside {start:.2f}-{end:.2f} s")
        wanted = [(i, t) for i in index for t in (start, end)
                  if p.seg_start[i] + turn_cuts.MIN_PIECE <= t <= p.seg_end[i] - turn_cuts.MIN_PIECE]
        clusters = {}
        if target is None:
            target = self.new_cluster_ids(1)[0]
        if target != NOISE and target not in p.clusters:
            clusters[target] = {"name": name, "color": color_for(target), "notes": ""}

        def assign(cuts):
            inside = [i for i in np.flatnonzero(np.isin(p.segment_ids, [p.segment_ids[i] for i in index] +
                                                        [c[1] for c in cuts]))
                      if p.seg_start[i] >= start - 1e-3 and p.seg_end[i] <= end + 1e-3]
            if not inside:  # the span only grazes turns: nothing to give (the cuts are rolled back)
                raise ValueError(f"less than {turn_cuts.MIN_PIECE * 1000:.0f} ms of a turn inside "
                                 f"{start:.2f}-{end:.2f} s")
            return (np.asarray(inside, np.int64), {"cluster": target, "noise": target == NOISE, "human": True},
                    clusters)

        label = name or p.cluster_name(target)
        return self._cut(f"give {start:.2f}-{end:.2f} s to {label}", wanted, assign, **where)

    def _cut(self, description: str, wanted: list, assign, selection: Selection | None = None,
             after: Selection | None = None) -> Change:
        """One edit: cut the turns (position, time) in `wanted` (a position cut twice is cut at
        its later time first, so its first part keeps its position), then set what
        `assign(cuts)` says: (positions, columns, cluster rows)."""
        with self.p.writes_held():
            self._writable()
            before = self._selection(selection)
            with self.p.transaction() as db:
                db.execute("UPDATE edits SET state='discarded' WHERE state='undone'")
                cuts, next_id = [], int(self.p.segment_ids.max(initial=0)) + 1
                for i, t in sorted(wanted, key=lambda w: (w[0], -w[1])):
                    cut = turn_cuts.plan_cut(self.p, i, t, next_id + len(cuts))
                    turn_cuts.apply_cuts(self.p, [cut])
                    cuts.append(cut)
                index, new, clusters = assign(cuts)
                fwd, inv = self._diff(index, new, clusters)
                fwd.cuts = inv.cuts = cuts
                cur = db.execute("INSERT INTO edits(ts, kind, description, forward, inverse) VALUES(?,?,?,?,?)",
                                 (time.time(), CUT, description, diffs.encode(fwd), diffs.encode(inv)))
                change = self._apply(fwd, CUT, cur.lastrowid, "do", description)
                change = replace(change, bounds=self._cut_bounds(cuts), resized=bool(cuts))
                change = self._keep_selection(db, change, before, after)
            turn_cuts.follow_layout(self.p, cuts)
            return self._notify(change)

    def _apply_cut(self, diff: diffs.Diff, edit_id: int, action: str, description: str) -> Change:
        """Undo: the pieces go first, then the labels (a removed piece has none left to set);
        redo: the cuts first, then the labels."""
        if action == "undo":
            _, removed_at = turn_cuts.undo_cuts(self.p, diff.cuts)
            change = self._apply(diff, CUT, edit_id, action, description)
            turn_cuts.follow_layout(self.p, diff.cuts, removed_at)
        else:
            turn_cuts.apply_cuts(self.p, diff.cuts)
            change = self._apply(diff, CUT, edit_id, action, description)
            turn_cuts.follow_layout(self.p, diff.cuts)
        return replace(change, bounds=self._cut_bounds(diff.cuts), resized=bool(diff.cuts))

    def _cut_bounds(self, cuts) -> np.ndarray:
        """Positions of the cut turns that exist now (parents and pieces): their times changed."""
        ids = np.array([i for cut in cuts for i in cut[:2]], np.int64)
        if not len(ids):
            return np.zeros(0, np.int64)
        at = self.p.positions(ids)
        ok = (at >= 0) & (at < self.p.n_segments)
        ok[ok] = self.p.segment_ids[at[ok]] == ids[ok]
        return np.unique(at[ok])

    # ---- an edit another connection wrote (the pipeline's clustering) --------------------------
    def reloaded(self, reload) -> Change:
        """Run `reload` (which re-reads the project from the database) and announce what it
        changed in the labels as one Change of the latest edit, compared by segment id."""
        p = self.p
        ids, before = p.segment_ids.copy(), {k: getattr(p, k).copy() for k in ("cluster", "verified", "noise")}
        rows = {c: dict(info) for c, info in p.clusters.items()}
        reload()
        where = p.positions(ids) if len(ids) and p.n_segments else np.zeros(0, np.int64)
        kept = (where >= 0) & (where < p.n_segments)
        kept[kept] = p.segment_ids[where[kept]] == ids[kept]
        record = Recorder(p, np.arange(p.n_segments), set(rows) | set(p.clusters))
        record.before = {"cluster": np.full(p.n_segments, NOISE, DTYPES["cluster"]),  # new segments: no label yet
                         "verified": np.zeros(p.n_segments, bool), "noise": np.zeros(p.n_segments, bool)}
        for k, values in before.items():
            record.before[k][where[kept]] = values[kept]
        record.rows = {c: rows.get(c) for c in record.rows}
        row = p.db.execute("SELECT id, kind, description FROM edits WHERE state='done' "
                           "ORDER BY id DESC LIMIT 1").fetchone() or (0, "reload", "reloaded")
        return self._notify(record.change(row[1], row[0], "do", row[2]))

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

    def _notify(self, change: Change) -> Change:
        for listener in list(self.listeners):
            listener(change)
        return change

    # ---- the edits a reviewer makes ------------------------------------------------------------
    # `**where`: selection= (Selection before the edit) and after= (where it goes), see commit().
    def members(self, cluster_id: int) -> np.ndarray:
        return np.flatnonzero(self.p.cluster == cluster_id)

    def new_cluster_ids(self, n: int) -> list[int]:
        first = max(self.p.next_cluster_id(), int(self.p.cluster.max(initial=-1)) + 1)
        return list(range(first, first + n))

    def merge(self, cluster_ids: list[int], into: int | None = None, **where) -> Change:
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
                           {"cluster": target, "human": True}, clusters, **where)

    def split(self, cluster_id: int, labels: np.ndarray, colors: list[str] | None = None, **where) -> Change:
        """Split a cluster by `labels` (one per member, in member order); part 0 keeps the id.
        colors: one per new part (the colours the reviewer saw proposed), else the palette's."""
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
        colors = list(colors or [])[:len(new_ids)]
        colors += [color_for(c) for c in new_ids[len(colors):]]
        clusters = {c: {"name": "", "color": col, "notes": ""} for c, col in zip(new_ids, colors)}
        return self.commit("split", f"split {self.p.cluster_name(cluster_id)} into {len(parts)}", index,
                           {"cluster": target, "human": True}, clusters, **where)

    def move(self, index, target: int | None = None, name: str = "", **where) -> Change:
        """Move segments (array positions) to cluster `target`, or to a new cluster."""
        index = np.asarray(index, dtype=np.int64)
        clusters = {}
        if target is None:
            target = self.new_cluster_ids(1)[0]
            clusters[target] = {"name": name, "color": color_for(target), "notes": ""}
        elif target not in self.p.clusters and target != NOISE:
            clusters[target] = {"name": name, "color": color_for(target), "notes": ""}
        label = name or self.p.cluster_name(target)
        return self.commit("move", f"move {plural(len(index), 'segment')} to {label}", index, {"cluster": target, "noise": target == NOISE, "human": True}, clusters, **where)

    def rename(self, cluster_id: int, name: str, **where) -> Change:
        info = dict(self.p.clusters.get(cluster_id) or {"name": "", "color": color_for(cluster_id), "notes": ""})
        old = self.p.cluster_name(cluster_id)
        info["name"] = name.strip()
        return self.commit("rename", f"rename {old} to {name.strip() or f'S{cluster_id}'}",
                           np.zeros(0, dtype=np.int64), {}, {cluster_id: info}, **where)

    def recolour(self, cluster_id: int, color: str, **where) -> Change:
        info = dict(self.p.clusters.get(cluster_id) or {"name": "", "color": color_for(cluster_id), "notes": ""})
        info["color"] = color
        return self.commit("colour", f"colour {self.p.cluster_name(cluster_id)} {color}",
                           np.zeros(0, dtype=np.int64), {}, {cluster_id: info}, **where)

    def verify(self, index, value: bool = True, **where) -> Change:
        index = np.asarray(index, dtype=np.int64)
        return self.commit("verify", f"{'verify' if value else 'unverify'} {plural(len(index), 'segment')}", index,
                           {"verified": value, "human": True, **({"confidence": 1.0} if value else {})}, **where)

    def verify_cluster(self, cluster_id: int, value: bool = True, **where) -> Change:
        return self.verify(self.members(cluster_id), value, **where)

    def mark_noise(self, index, value: bool = True, **where) -> Change:
        """Noise segments leave their cluster (undo brings them back)."""
        index = np.asarray(index, dtype=np.int64)
        if value:
            return self.commit("noise", f"mark {plural(len(index), 'segment')} as noise", index,
                               {"cluster": NOISE, "noise": True, "human": True}, **where)
        return self.commit("noise", f"unmark {plural(len(index), 'segment')}", index, {"noise": False}, **where)

    def relabel(self, kind: str, description: str, index, clusters: np.ndarray, confidence: np.ndarray,
                cluster_rows: dict[int, dict | None] | None = None, **where) -> Change:
        """Machine relabelling (clustering, propagation) of unverified segments, undoable."""
        index = np.asarray(index, dtype=np.int64)
        keep = ~self.p.verified[index] & ~self.p.noise[index]  # a reviewer's verdicts stay
        return self.commit(kind, description, index[keep],
                           {"cluster": np.asarray(clusters)[keep], "confidence": np.asarray(confidence)[keep],
                            "noise": False, "human": False},
                           cluster_rows, **where)
