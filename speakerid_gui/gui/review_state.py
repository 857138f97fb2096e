"""What the review is on, in one place: the open ReviewSession, the current cluster (its one
owner), the current segment and the cluster's ranked members, the label version, and the jobs
that relabel (the analysis, a learning job).

Every controller of the main window is given this object; the cluster list, the scatter and
the inspector only show the current cluster. They ask for a change (`set_cluster`) and redraw
on `cluster_changed`.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal


class ReviewState(QObject):
    cluster_changed = Signal(object)   # the new current cluster id, or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.session = None                      # ReviewSession of the open project, or None
        self._cluster: int | None = None
        self.current_segment: int | None = None
        self.queue = np.zeros(0, np.int64)       # the current cluster's members, closest to its centre first
        self.label_serial = 0                    # bumped by every edit and every project opened
        self.pipeline = None                     # the running analysis Job
        self.learning_job = None                 # the running propagate / refine / classifier / prosody Job

    @property
    def current_cluster(self) -> int | None:
        return self._cluster

    def set_cluster(self, cluster_id: int | None):
        """Make `cluster_id` current and tell every view (emitted even when it is already current:
        the list's selection of it is a request to show it)."""
        self._cluster = None if cluster_id is None else int(cluster_id)
        self.cluster_changed.emit(self._cluster)

    def busy(self) -> bool:
        """The analysis runs or the project is read-only: no edit either way."""
        return self.pipeline is not None or (self.session is not None and self.session.project.read_only)

    def reset(self):
        """The project closed."""
        self.session = None
        self._cluster = self.current_segment = None
        self.queue = np.zeros(0, np.int64)
