"""Cluster ids that survive a re-clustering: a reviewer's names and colours stay on the
speakers they were given to (shared by the windowed and the conversation pipelines)."""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.project.store import Project


def stable_ids(project: Project, labels: np.ndarray) -> tuple[np.ndarray, dict]:
    """Give new clusters the ids (names, colours) of the old clusters they overlap most.

    Clusters holding verified segments keep their id; a new cluster that mostly covers one
    takes it over, so a reviewer's names survive a re-cluster.
    """
    from scipy.optimize import linear_sum_assignment

    old = project.cluster.copy()
    new_ids = np.unique(labels)
    old_ids = np.unique(old[old >= 0])
    mapping = {}
    if len(old_ids):
        table = np.zeros((len(new_ids), len(old_ids)))
        np.add.at(table, (np.searchsorted(new_ids, labels[old >= 0]), np.searchsorted(old_ids, old[old >= 0])), 1)
        rows, cols = linear_sum_assignment(-table)
        mapping = {int(new_ids[r]): int(old_ids[c]) for r, c in zip(rows, cols) if table[r, c] > 0}
    used = set(mapping.values()) | set(project.clusters) | set(old_ids.tolist())
    next_id = max(max(used, default=-1) + 1, project.next_cluster_id())  # never an id used before
    for n in new_ids.tolist():
        if n not in mapping:
            mapping[n] = next_id
            next_id += 1
    out = np.array([mapping[int(l)] for l in labels], dtype=np.int32)
    # Old auto clusters that got no members and hold no verified segment disappear.
    alive = set(out.tolist()) | set(project.cluster[project.verified].tolist())
    rows = {c: None for c in project.clusters if c not in alive}
    return out, rows
