"""What the review window asks of a project, in plain Python (no Qt): cluster statistics,
representative and outlier segments, the most similar cluster, split proposals, audio
and prosody of a segment. The widgets only draw what this returns.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speakerid_gui.core.cluster import agglomerative as clu
from speakerid_gui.core.cluster import split
from speakerid_gui.core.audio.decode import read_span
from speakerid_gui.core.project.edits import EditLog
from speakerid_gui.core.project.store import NOISE, Project


@dataclass
class ClusterStats:
    ids: np.ndarray          # cluster ids with at least one segment, ascending
    size: np.ndarray
    confidence: np.ndarray   # mean confidence of the members
    verified: np.ndarray     # share of members verified (0..1)


class ReviewSession:
    """A project opened for review, with caches that edits invalidate."""

    def __init__(self, project: Project):
        self.project = project
        self.log = EditLog(project)
        self._X: np.ndarray | None = None
        self._X_failed = False
        self._centroids: tuple[np.ndarray, np.ndarray] | None = None
        self._sums = ClusterSums()
        self._paths: dict[int, str] | None = None
        self._root: Path | None = None
        self._prosody: OrderedDict[int, object] = OrderedDict()
        self._computed: OrderedDict[tuple, object] = OrderedDict()  # curves of projects that stored none
        self.log.listeners.append(self._on_edit)

    def _on_edit(self, change):
        if change.resized:  # a turn cut or a cut undone: the embedding matrix has a row more or less
            self.embeddings_changed()
        elif len(change.moved):
            self.invalidate()

    def embeddings_changed(self):
        """The embeddings are other numbers now (a cut, edited turns embedded again): read them again."""
        self._X, self._X_failed, self._sums = None, False, ClusterSums()
        self.invalidate()

    # ---- caches ---------------------------------------------------------------------------
    def invalidate(self):
        """Labels changed: centroids must be recomputed."""
        self._centroids = None

    def reload(self, announce: bool = False):
        """The project changed under us (pipeline stages): re-read everything. announce: the
        labels another connection wrote (the pipeline's clustering) reach the log's listeners as
        one Change, as if this window had made the edit (EditLog.reloaded); returns it."""
        def read():
            self.project.reload()
            self._X, self._X_failed, self._centroids, self._paths, self._root = None, False, None, None, None
            self._sums = ClusterSums()
            self._prosody.clear()

        if announce:
            return self.log.reloaded(read)
        read()
        return None

    @property
    def X(self) -> np.ndarray | None:
        """Prepared (centred, unit-norm) embeddings in segment order, or None if not computed yet."""
        if self._X is None and not self._X_failed:
            from speakerid_gui.core.pipeline import embeddings

            if self.project.n_segments == 0:
                return None  # nothing analysed yet (and nothing worth caching)

            try:
                emb = embeddings(self.project)
            except Exception:  # no embeddings yet (pipeline not run) or caches out of step
                self._X_failed = True
                return None
            if len(emb) != self.project.n_segments or len(emb) == 0:
                self._X_failed = True
                return None
            self._X = clu.prepare(emb)
        return self._X

    # ---- clusters ---------------------------------------------------------------------------
    def cluster_stats(self) -> ClusterStats:
        p = self.project
        keep = p.cluster >= 0  # not noise
        labels = p.cluster[keep]
        counts = np.bincount(labels)  # cluster ids are small integers: bincount beats unique's sort
        ids = np.flatnonzero(counts)
        size = counts[ids]
        conf = np.bincount(labels, weights=p.confidence[keep], minlength=len(counts))[ids] / size
        ver = np.bincount(labels, weights=p.verified[keep], minlength=len(counts))[ids] / size
        return ClusterStats(ids.astype(np.int64), size, conf, ver)

    def cluster_names(self) -> list[str]:
        """Names reviewers gave (for completion), sorted."""
        return sorted({info["name"] for info in self.project.clusters.values() if info.get("name")})

    def members(self, cluster_id: int) -> np.ndarray:
        return np.flatnonzero(self.project.cluster == cluster_id)

    def ranked_members(self, cluster_id: int) -> np.ndarray:
        """Members from closest to the cluster centre to farthest (by confidence without embeddings)."""
        idx = self.members(cluster_id)
        if len(idx) == 0:
            return idx
        X = self.X
        if X is None:
            score = self.project.confidence[idx]
        else:
            c = self._sums.of(X, self.project.cluster, cluster_id)
            c = (c / max(float(np.linalg.norm(c)), 1e-12)).astype(np.float32)
            # a big cluster: one pass over all rows beats copying its members' rows out first
            score = (X @ c)[idx] if 4 * len(idx) > len(X) else X[idx] @ c
        # equal scores, longest first: a conversation's turns of one local speaker share its
        # embedding, and the first of them was often a quarter-second sliver to listen to
        length = self.project.seg_end[idx] - self.project.seg_start[idx]
        return idx[np.lexsort((-length, -score))]

    def representatives(self, cluster_id: int, k: int = 8) -> np.ndarray:
        return self.ranked_members(cluster_id)[:k]

    def outliers(self, cluster_id: int, k: int = 8) -> np.ndarray:
        """The farthest members, farthest first (at most half the cluster, so tiny clusters
        do not list every member twice)."""
        ranked = self.ranked_members(cluster_id)
        return ranked[::-1][:min(k, len(ranked) // 2)]

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        """(cluster ids, unit centroids) of all clusters but noise; cached until the next edit."""
        if self._centroids is None:
            X = self.X
            if X is None:
                return np.zeros(0, np.int64), np.zeros((0, 1), np.float32)
            ids, sums = self._sums.all(X, self.project.cluster)
            C = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-8)
            self._centroids = ids, C.astype(np.float32)
        return self._centroids

    def most_similar(self, cluster_id: int) -> tuple[int, float] | None:
        """The cluster whose centroid is closest (cosine) to this one's, or None."""
        ids, C = self.centroids()
        where = np.flatnonzero(ids == cluster_id)
        if len(ids) < 2 or not len(where):
            return None
        sims = C @ C[where[0]]
        sims[where[0]] = -np.inf
        best = int(np.argmax(sims))
        return int(ids[best]), float(sims[best])

    def similar_pairs(self, top: int = 20) -> list[tuple[int, int, float]]:
        X = self.X
        if X is None:
            return []
        keep = self.project.cluster != NOISE
        return clu.similar_pairs(X[keep], self.project.cluster[keep], top)

    def split_proposal(self, cluster_id: int, k: int | None) -> np.ndarray:
        """Part labels (one per member, member order) for splitting a cluster; may be slow."""
        idx = self.members(cluster_id)
        X = self.X
        if X is None:
            raise RuntimeError("no embeddings in this project yet: run the analysis first")
        if len(idx) < 2:
            raise ValueError(f"{self.project.cluster_name(cluster_id)} has fewer than two segments")
        return split.split_labels(X[idx], k)

    # ---- segments ------------------------------------------------------------------------------
    def recording_rel(self, recording_id: int) -> str:
        if self._paths is None:
            self._paths = {r.id: r.path for r in self.project.recordings()}
        return self._paths.get(int(recording_id), f"recording {recording_id}")

    def segment_span(self, index: int) -> tuple[Path, float, float]:
        p = self.project
        rid = int(p.seg_recording[index])
        self.recording_rel(rid)  # fills the path cache: no SQL per segment shown
        if self._root is None:
            self._root = p.audio_root
        path = self._root / self._paths[rid] if rid in self._paths else p.recording_path(rid)
        return path, float(p.seg_start[index]), float(p.seg_end[index])

    def segment_label(self, index: int, short: bool = False) -> str:
        """"path/file.flac  2.0–5.0 s"; short: the file's stem only (narrow lists)."""
        p = self.project
        rel = self.recording_rel(int(p.seg_recording[index]))
        name = Path(rel).stem if short else rel
        return f"{name}  {p.seg_start[index]:.1f}–{p.seg_end[index]:.1f} s"

    def read_segment(self, index: int) -> np.ndarray:
        """The segment's audio at 16 kHz (only that span is read)."""
        path, start, end = self.segment_span(index)
        return read_span(path, start, end)

    def segment_prosody(self, index: int, wave: np.ndarray | None = None):
        """Pitch/energy of a segment, times from 0: sliced from the stored recording curves,
        or computed from the audio when the pipeline stored none."""
        from speakerid_gui.core.project.cache import load_prosody
        from speakerid_gui.core.audio.prosody import prosody_curves, slice_prosody

        p = self.project
        rid = int(p.seg_recording[index])
        if rid not in self._prosody:
            self._prosody[rid] = load_prosody(p, rid)
            while len(self._prosody) > 64:
                self._prosody.popitem(last=False)
        whole = self._prosody[rid]
        if whole is not None:
            return slice_prosody(whole, float(p.seg_start[index]), float(p.seg_end[index]))
        # Praat on the spot (9 ms a segment; J shows six): kept by span, so coming back is instant
        span = (rid, float(p.seg_start[index]), float(p.seg_end[index]))
        if span not in self._computed:
            self._computed[span] = prosody_curves(self.read_segment(index) if wave is None else wave)
            while len(self._computed) > 512:
                self._computed.popitem(last=False)
        self._computed.move_to_end(span)
        return self._computed[span]

    def layout(self) -> tuple[np.ndarray, str]:
        """(n, 2) coordinates and where they came from: the stored layout, else PCA of the embeddings."""
        n = self.project.n_segments
        stored = self.project.load_array("layout")
        if stored is not None and len(stored) == n:
            return np.asarray(stored, dtype=np.float32), "layout"
        X = self.X
        if X is not None:
            from speakerid_gui.core.layout import pca2

            return pca2(X), "pca"
        return np.zeros((n, 2), np.float32), "none"


class ClusterSums:
    """Per-cluster sums of the embedding rows, kept in step with the labels incrementally:
    an edit costs a pass over the rows it moved, not over all rows, and the centroid of any
    cluster is then a lookup (ranking a 50k-member cluster after a merge, most_similar)."""

    def __init__(self):
        self.labels: np.ndarray | None = None   # the labels the sums are for
        self.sums = np.zeros((0, 0))             # row cluster id + 1 (0: noise), float64

    def of(self, X: np.ndarray, labels: np.ndarray, cluster_id: int) -> np.ndarray:
        self._follow(X, labels)
        row = int(cluster_id) + 1
        return self.sums[row] if 0 <= row < len(self.sums) else np.zeros(X.shape[1])

    def all(self, X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cluster ids with members, their sums), noise excluded."""
        self._follow(X, labels)
        counts = np.bincount(labels[labels != NOISE] + 1, minlength=len(self.sums))
        rows = np.flatnonzero(counts[1:]) + 1
        return (rows - 1).astype(np.int64), self.sums[rows]

    def _follow(self, X, labels):
        if self.labels is None or len(self.labels) != len(labels) or len(labels) != len(X):
            self.sums = np.zeros((0, X.shape[1]))
            self.labels = np.full(len(labels), -2, np.int64)  # nothing counted yet
            changed = np.arange(len(labels))
        else:
            changed = np.flatnonzero(self.labels != labels)
        if not len(changed):
            return
        old, new = self.labels[changed], labels[changed].astype(np.int64)
        size = max(len(self.sums), int(new.max()) + 2)
        if size > len(self.sums):
            grown = np.zeros((size, X.shape[1]))
            grown[:len(self.sums)] = self.sums
            self.sums = grown
        # one sum per (old, new) pair of the moved rows: each row is read once
        pairs, which = np.unique((old + 2) * size + (new + 1), return_inverse=True)
        moved = _row_sums(X, changed, which.ravel(), len(pairs))
        came_from, went_to = pairs // size - 1, pairs % size  # rows of self.sums (old may be -1: none)
        np.add.at(self.sums, went_to, moved)
        counted = came_from >= 0
        np.subtract.at(self.sums, came_from[counted], moved[counted])
        self.labels[changed] = new


def _row_sums(X: np.ndarray, rows: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum of X[rows] per group (a sparse one-hot product: reads only those rows; np.add.at is
    slow at 100k rows)."""
    from scipy.sparse import csr_matrix

    onehot = csr_matrix((np.ones(len(rows), np.float32), (groups, rows)), shape=(n_groups, len(X)))
    return np.asarray(onehot @ X, dtype=np.float64)
