"""What one edit changed, as every consumer of edits receives it (issue 11, point 3).

EditLog returns a `Change` from every command, undo and redo, and hands the same record to its
listeners: which segments (array positions) changed, their cluster (and verified / noise flags)
before and after, which clusters appeared, vanished, were renamed or recoloured, which turns'
bounds moved, and where the reviewer's selection goes (`Selection`). A consumer redraws from
the record alone: nothing reads the old labels back from what it drew.

Selections are stored with their edit (table edit_selections), by segment id, so that undo puts
the selection back where it was when the edit was made and redo where it was after it, also
after a restart.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace

import numpy as np

from speakerid_gui.core.palette import cluster_color
from speakerid_gui.core.project.store import NOISE

FLAGS = ("cluster", "verified", "noise")  # the columns a Change carries before and after, per position


@dataclass(frozen=True)
class Selection:
    """The reviewer's place: selected clusters, the current one, selected segments (scatter
    selection, array positions) and the current segment."""
    clusters: tuple[int, ...] = ()
    current: int | None = None
    segments: tuple[int, ...] = ()
    segment: int | None = None

    def following(self, change: "Change") -> "Selection":
        """This selection after `change`: a selected cluster the change emptied is replaced by the
        cluster its segments went to (when they all went to one), or dropped."""
        went = change.destinations()

        def follow(c):
            return went.get(c, c) if c in change.removed else c

        clusters = tuple(dict.fromkeys(c for c in map(follow, self.clusters) if c is not None))
        return replace(self, clusters=clusters, current=None if self.current is None else follow(self.current))

    def encode(self, segment_ids: np.ndarray) -> str:
        """JSON with segment ids, not positions (a re-analysis may renumber positions)."""
        def ids(positions):
            return segment_ids[_valid(positions, len(segment_ids))].tolist()

        return json.dumps({"clusters": list(self.clusters), "current": self.current,
                           "segments": _pack(segment_ids[_valid(self.segments, len(segment_ids))]),
                           "segment": (ids([self.segment]) or [None])[0] if self.segment is not None else None})

    @classmethod
    def decode(cls, stored: str | None, project) -> "Selection | None":
        """Back to positions in `project`; segments it no longer has are left out."""
        if not stored:
            return None
        data = json.loads(stored)

        def positions(ids):
            ids = np.asarray(ids, dtype=np.int64)
            if not len(ids) or not project.n_segments:
                return np.zeros(0, np.int64)
            pos = project.positions(ids)
            ok = (pos >= 0) & (pos < project.n_segments)
            ok[ok] = project.segment_ids[pos[ok]] == ids[ok]
            return pos[ok]

        segment = positions([data["segment"]] if data.get("segment") is not None else [])
        data["segments"] = _unpack(data.get("segments", []))
        return cls(tuple(int(c) for c in data.get("clusters", [])),
                   None if data.get("current") is None else int(data["current"]),
                   tuple(positions(data.get("segments", [])).tolist()),
                   int(segment[0]) if len(segment) else None)


def _valid(positions, n: int) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.int64)
    return positions[(positions >= 0) & (positions < n)]


def _pack(ids: np.ndarray):
    """Many ids (a 43k-segment lasso) as base64 of ascending uint32 gaps: its JSON list took
    ~10 ms to write at every edit; a few ids stay a readable list."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():  # a lasso's are ascending already (unique: 5 ms)
        ids = np.unique(ids)
    gaps = np.diff(ids, prepend=0)
    if len(ids) < 64 or (len(ids) and (ids[0] < 0 or gaps.max() >= 2 ** 32)):
        return ids.tolist()
    return "u32:" + base64.b64encode(gaps.astype("<u4").tobytes()).decode("ascii")


def _unpack(stored) -> np.ndarray:
    if isinstance(stored, str) and stored.startswith("u32:"):
        return np.cumsum(np.frombuffer(base64.b64decode(stored[4:]), dtype="<u4").astype(np.int64))
    return np.asarray(stored, dtype=np.int64)


def _frozen(array) -> np.ndarray:
    array = np.array(array)  # a copy: the record never aliases the project's arrays
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Change:
    """One edit, undo or redo, as applied."""
    kind: str                       # the edit's kind: merge, split, move, rename, verify, noise, bounds,
                                    # cluster, propagate, refine, relearn, ...
    edit_id: int
    action: str                     # "do", "undo" or "redo"
    description: str
    positions: np.ndarray           # ascending array positions whose assignment columns changed
    old: dict[str, np.ndarray]      # FLAGS -> value per position, before
    new: dict[str, np.ndarray]      # FLAGS -> value per position, after
    added: tuple[int, ...] = ()     # clusters with members now that had none before
    removed: tuple[int, ...] = ()   # clusters that had members and have none now
    renamed: tuple[int, ...] = ()
    recoloured: tuple[int, ...] = ()
    rows: tuple[int, ...] = ()      # every cluster whose stored row was written (created, changed, deleted)
    bounds: np.ndarray = field(default_factory=lambda: _frozen(np.zeros(0, np.int64)))  # turns whose times moved
    selection: Selection | None = None  # where the selection goes (None: the caller gave none)
    resized: bool = False           # segments were added or removed (a turn cut, or a cut undone):
                                    # per-segment arrays (embeddings, layout, drawn points) are re-read

    @property
    def tag(self) -> str:
        """"merge", "undo:merge", "redo:merge"."""
        return self.kind if self.action == "do" else f"{self.action}:{self.kind}"

    @property
    def old_cluster(self) -> np.ndarray:
        return self.old["cluster"]

    @property
    def new_cluster(self) -> np.ndarray:
        return self.new["cluster"]

    @property
    def moved(self) -> np.ndarray:
        """Positions whose cluster changed."""
        return self.positions[self.old_cluster != self.new_cluster]

    def groups(self) -> list[tuple[int, int, int]]:
        """(old cluster, new cluster, segments) for every pair of clusters segments moved between."""
        moved = self.old_cluster != self.new_cluster
        if not moved.any():
            return []
        pairs, counts = np.unique(np.stack([self.old_cluster[moved], self.new_cluster[moved]]), axis=1,
                                  return_counts=True)
        return [(int(a), int(b), int(n)) for (a, b), n in zip(pairs.T, counts)]

    def destinations(self) -> dict[int, int]:
        """Cluster -> the one cluster its moved segments all went to (clusters whose segments
        went to several, or to noise, are not in it)."""
        went: dict[int, set] = {}
        for a, b, _ in self.groups():
            went.setdefault(a, set()).add(b)
        return {a: next(iter(b)) for a, b in went.items() if len(b) == 1 and next(iter(b)) != NOISE}

    def clusters(self) -> set[int]:
        """Every cluster the change concerns: segments left or joined it, its row changed."""
        found = set(np.unique(np.concatenate([self.old_cluster, self.new_cluster])).tolist())
        return (found | set(self.rows) | set(self.added) | set(self.removed)) - {NOISE}

    def touches(self, cluster_id: int) -> bool:
        return int(cluster_id) in self.clusters()


class Recorder:
    """Captures a project's labels at some positions before an edit writes them, then builds the
    Change from what the edit really wrote."""

    def __init__(self, project, index: np.ndarray, cluster_ids):
        self.p = project
        self.index = np.asarray(index, dtype=np.int64)
        self.before = {k: getattr(project, k)[self.index].copy() for k in FLAGS}
        self.rows = {int(c): dict(project.clusters[c]) if c in project.clusters else None for c in cluster_ids}

    def change(self, kind: str, edit_id: int, action: str, description: str,
               others: dict[str, np.ndarray] | None = None) -> Change:
        """`others`: the other columns the edit wrote (confidence, human), before -> positions
        where only they changed count as changed too."""
        p, index = self.p, self.index
        after = {k: getattr(p, k)[index] for k in FLAGS}
        differs = np.zeros(len(index), bool)
        for k in FLAGS:
            differs |= after[k] != self.before[k]
        for k, old in (others or {}).items():
            differs |= getattr(p, k)[index] != old
        positions = index[differs]
        if len(positions) > 1 and not (np.diff(positions) > 0).all():
            order = np.argsort(positions, kind="stable")
        else:
            order = slice(None)
        old = {k: _frozen(self.before[k][differs][order]) for k in FLAGS}
        new = {k: _frozen(after[k][differs][order]) for k in FLAGS}
        added, removed = _membership(p.cluster, old["cluster"], new["cluster"])
        renamed, recoloured = [], []
        for c, was in self.rows.items():
            now = p.clusters.get(c)
            if (was or {}).get("name", "") != (now or {}).get("name", ""):
                renamed.append(c)
            if cluster_color(c, {c: was}) != cluster_color(c, {c: now}):
                recoloured.append(c)
        return Change(kind, int(edit_id), action, description, _frozen(positions[order]), old, new,
                      added, removed, tuple(renamed), tuple(recoloured), tuple(sorted(self.rows)))


def _membership(cluster: np.ndarray, old: np.ndarray, new: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(clusters that gained their first segments, clusters that lost their last ones)."""
    candidates = np.unique(np.concatenate([old, new]))
    candidates = candidates[candidates != NOISE]
    if not len(candidates):
        return (), ()
    size = int(max(candidates.max(), cluster.max(initial=0))) + 1

    def count(labels):
        return np.bincount(labels[labels >= 0], minlength=size)[candidates]

    members = count(cluster)
    now = members > 0
    had = (members - count(new) + count(old)) > 0  # members before: now, less who came, plus who left
    return (tuple(int(c) for c in candidates[now & ~had]), tuple(int(c) for c in candidates[had & ~now]))


def bounds_change(edit_id: int, action: str, description: str, positions: np.ndarray,
                  selection: Selection | None) -> Change:
    """A turn's start / end moved: no label changed."""
    none = np.zeros(0, np.int64)
    empty = {k: _frozen(none.astype(np.int32 if k == "cluster" else bool)) for k in FLAGS}
    return Change("bounds", int(edit_id), action, description, _frozen(none), empty, dict(empty),
                  bounds=_frozen(np.sort(np.asarray(positions, dtype=np.int64))), selection=selection)
