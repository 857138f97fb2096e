"""A simulated reviewer: plays the person in the loop from reference labels.

It takes the tool's suggestions in order and does what a person would after listening to
the segments a suggestion plays: merge two clusters that are one speaker, split a cluster
that is two, move a segment to the speaker it belongs to, and verify what it heard. Only
the labels of segments it "heard" are used; "reviewed" is the share of segments heard.
After each batch it propagates (and optionally refines) from the verified labels. The same
curve for reviewing random segments is the baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .store import NOISE, Project


@dataclass
class Curve:
    strategy: str
    reviewed: list[float] = field(default_factory=list)   # share of segments heard
    accuracy: list[float] = field(default_factory=list)   # segment accuracy (Hungarian)
    actions: dict = field(default_factory=dict)           # kind of action -> count


def true_labels(project: Project, reference) -> np.ndarray:
    """Reference speaker per segment (None when unknown), from a manifest/RTTM path or a Reference."""
    from .formats import load_reference

    ref = load_reference(reference) if not hasattr(reference, "label_for") else reference
    paths = {r.id: r.path for r in project.recordings()}
    return np.array([ref.label_for(paths[int(r)], float(a), float(b)) for r, a, b in
                     zip(project.seg_recording, project.seg_start, project.seg_end)], dtype=object)


def accuracy(project: Project, true: np.ndarray) -> float:
    from .metrics import hungarian_accuracy

    keep = np.array([t is not None for t in true]) & ~project.noise
    return hungarian_accuracy(true[keep], project.cluster[keep]) if keep.any() else float("nan")


class Reviewer:
    def __init__(self, project: Project, true: np.ndarray, log):
        self.p, self.true, self.log = project, true, log
        self.heard: set[int] = set()
        self.actions: dict[str, int] = {}

    def _count(self, what):
        self.actions[what] = self.actions.get(what, 0) + 1

    def speaker_cluster(self, speaker) -> int | None:
        """The cluster the reviewer has already confirmed for this speaker, if any."""
        v = np.flatnonzero(self.p.verified & (self.true == speaker))
        return int(self.p.cluster[v[0]]) if len(v) else None

    def hear(self, i: int):
        """Listen to segment i and fix its label: move it to its speaker's cluster, then verify."""
        i = int(i)
        self.heard.add(i)
        t = self.true[i]
        if t is None:
            return
        if self.p.verified[i]:
            return
        home = self.speaker_cluster(t)
        c = int(self.p.cluster[i])
        if home is not None and home != c:
            self.log.move([i], home)
            self._count("move")
        elif home is None and c != NOISE:
            others = np.flatnonzero(self.p.verified & (self.p.cluster == c))
            if len(others) and self.true[others[0]] != t:  # its cluster is someone else's: new speaker
                self.log.move([i], None)
                self._count("new speaker")
        self.log.verify([i])

    def act(self, s) -> bool:
        """Carry out one suggestion; False when it went stale (its clusters changed)."""
        p = self.p
        if any(c not in p.cluster_sizes() for c in s.cluster_ids):
            return False
        if s.kind == "pair":
            a, b = s.cluster_ids
            ra, rb = s.segment_positions
            if p.cluster[ra] != a or p.cluster[rb] != b:
                return False
            ta, tb = self.true[ra], self.true[rb]
            if ta is not None and ta == tb:
                self.log.merge([a, b])
                self._count("merge")
        elif s.kind == "mixed":
            (c,) = s.cluster_ids
            members = self.log.members(c)
            if len(members) != len(s.parts):
                return False
            r0, r1 = s.segment_positions
            if self.true[r0] is not None and self.true[r1] is not None and self.true[r0] != self.true[r1]:
                self.log.split(c, np.asarray(s.parts))
                self._count("split")
        for i in s.segment_positions:
            self.hear(i)
        return True


def simulate(project: Project, embeddings: np.ndarray, true: np.ndarray, budget: float = 0.05,
             strategy: str = "suggestions", step: float = 0.005, refine: bool = False, seed: int = 0,
             progress: Callable[[float, float], None] | None = None) -> Curve:
    """Review up to `budget` (share of segments) and record accuracy after every batch of `step`."""
    from .edits import EditLog
    from .learn import propagate, refine_run, suggestions

    log = EditLog(project)
    rev = Reviewer(project, true, log)
    n = project.n_segments
    limit = int(round(budget * n))
    per_batch = max(2, int(round(step * n)))
    curve = Curve(strategy)
    curve.reviewed.append(0.0)
    curve.accuracy.append(accuracy(project, true))
    order = np.random.default_rng(seed).permutation(n)
    cursor = 0
    while len(rev.heard) < limit:
        target = min(limit, len(rev.heard) + per_batch)
        before = len(rev.heard)
        if strategy == "random":
            while len(rev.heard) < target and cursor < n:
                rev.hear(order[cursor])
                cursor += 1
        else:
            queue = suggestions(project, embeddings, n=50)
            for s in queue:
                if len(rev.heard) >= target:
                    break
                if all(i in rev.heard for i in s.segment_positions):
                    continue
                rev.act(s)
            if len(rev.heard) == before:  # nothing left to suggest: fall back to unheard segments
                while len(rev.heard) < target and cursor < n:
                    if order[cursor] not in rev.heard:
                        rev.hear(order[cursor])
                    cursor += 1
        if len(rev.heard) == before:
            break
        if refine:
            refine_run(project, embeddings, log=log)
        else:
            propagate(project, embeddings, log)
        curve.reviewed.append(len(rev.heard) / n)
        curve.accuracy.append(accuracy(project, true))
        if progress:
            progress(curve.reviewed[-1], curve.accuracy[-1])
    curve.actions = dict(rev.actions)
    return curve


def simulate_copy(folder, reference, budget: float = 0.05, strategies=("suggestions", "random"),
                  work=None, **kwargs) -> list[Curve]:
    """Run each strategy on its own copy of the project folder (the original is never touched)."""
    import shutil
    import tempfile
    from pathlib import Path

    from .pipeline import embeddings as load_embeddings

    curves = []
    for strategy in strategies:
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            copy = Path(tmp) / "project"
            shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("*-wal", "*-shm", "prosody"))
            _checkpoint_into(folder, copy)
            p = Project.open(copy)
            try:
                emb = load_embeddings(p)
                true = true_labels(p, reference)
                curves.append(simulate(p, emb, true, budget, strategy, **kwargs))
            finally:
                p.close()
    return curves


def _checkpoint_into(src, dst):
    """Copy the database consistently even while another process has it open (WAL)."""
    import sqlite3
    from pathlib import Path

    s = sqlite3.connect(Path(src) / "project.sqlite")
    d = sqlite3.connect(Path(dst) / "project.sqlite")
    s.backup(d)
    s.close()
    d.close()


def format_curves(curves: list[Curve]) -> str:
    lines = []
    for c in curves:
        pts = "  ".join(f"{r:5.1%}:{a:.4f}" for r, a in zip(c.reviewed, c.accuracy))
        lines.append(f"{c.strategy:12s} {pts}")
        if c.actions:
            lines.append(f"{'':12s} actions: " + ", ".join(f"{k} {v}" for k, v in sorted(c.actions.items())))
    return "\n".join(lines)
