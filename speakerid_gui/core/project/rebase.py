"""Applying a relabelling computed from older labels (a learning job that ran while the reviewer
went on editing): what the reviewer changed meanwhile wins, the rest of the result still applies.

A job proposes new clusters for some segments from a snapshot of the labels taken when it started.
By the time it ends, the reviewer may have moved, verified or marked some of those segments, and
merged or split clusters. `rebase` keeps a proposed change only for segments whose labels are
exactly as in the snapshot, and sends a proposal aimed at a cluster that has since gone (merged
away) to where most of that cluster's segments went.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Snapshot:
    cluster: np.ndarray
    verified: np.ndarray
    noise: np.ndarray

    @classmethod
    def of(cls, project) -> "Snapshot":
        return cls(project.cluster.copy(), project.verified.copy(), project.noise.copy())


@dataclass
class Rebased:
    index: np.ndarray
    clusters: np.ndarray
    confidence: np.ndarray
    kept_by_reviewer: int   # proposals dropped because the reviewer changed those segments
    redirected: int         # proposals sent on to the cluster their target was merged into


def rebase(index, clusters, confidence, before: Snapshot, now: Snapshot) -> Rebased:
    index = np.asarray(index, dtype=np.int64)
    clusters = np.asarray(clusters).copy()
    confidence = np.asarray(confidence)
    n = min(len(before.cluster), len(now.cluster))
    inside = index < n  # a re-analysis would have changed the segment table: out of range is dropped
    untouched = np.zeros(len(index), bool)
    i = index[inside]
    untouched[inside] = ((before.cluster[i] == now.cluster[i]) & (before.verified[i] == now.verified[i])
                         & (before.noise[i] == now.noise[i]))
    alive = set(np.unique(now.cluster[:n]).tolist())
    redirected = 0
    for target in set(np.unique(clusters).tolist()) - alive:
        members = np.flatnonzero(before.cluster[:n] == target)
        went = now.cluster[members]
        went = went[went >= 0]
        hit = clusters == target
        if len(went):  # merged away: follow the majority of its segments
            values, counts = np.unique(went, return_counts=True)
            clusters[hit] = values[np.argmax(counts)]
            redirected += int((hit & untouched).sum())
        else:  # gone entirely (all noise, say): nothing sensible to send them to
            untouched &= ~hit
    keep = untouched
    return Rebased(index[keep], clusters[keep], confidence[keep], int((~keep).sum()), redirected)
