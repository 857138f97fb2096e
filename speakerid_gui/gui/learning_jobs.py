"""The functions background Jobs run for "learning from the reviewer": review suggestions,
label propagation, refinement and the classifier (core/learn.py, core/learn_classifier.py).

Like jobs.py, each opens its own Project (its own SQLite connection) and touches no widget.
Relabelling jobs never write labels themselves: the core functions get a DeferredLog that
records the one relabel they ask for, and the window applies it through its own EditLog, so
the window's arrays, its listeners (redraw) and undo stay in step with the database.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.pipeline import Cancelled, Event


class DeferredLog:
    """Stands in for core EditLog in a worker: keeps the arguments of the relabel it is asked for."""

    def __init__(self):
        self.call: tuple | None = None

    def relabel(self, kind, description, index, clusters, confidence, cluster_rows=None):
        self.call = (kind, description, np.asarray(index, np.int64), np.asarray(clusters), np.asarray(confidence),
                     cluster_rows)
        return None


@dataclass
class Relabelling:
    """What a propagate/refine job proposes: one EditLog.relabel call, and figures for the report."""
    kind: str
    call: tuple | None          # EditLog.relabel(*call), None when nothing changes
    considered: int             # unverified segments the job assigned
    unknown: int                # of those, left "unknown" (far from every verified speaker)
    threshold: float
    serial: int                 # the window's label version the job started from
    history: list = field(default_factory=list)  # refine: (epoch, train loss, held-out loss)
    note: str = ""


@dataclass
class RefineProgress:
    """A refine event plus the loss history so far (progress signals are throttled, the curve is not)."""
    stage: str
    done: int
    total: int
    message: str
    history: list


@dataclass
class ClassifierOutcome:
    kind: str
    source: str
    evaluation: dict | None     # learn_classifier.evaluate(): top1, top5, n_test, labels, confusion, ...
    not_evaluated: str          # why there is no evaluation ("" when there is one)
    n_train: int
    n_speakers: int
    threshold: float
    path: str                   # where the classifier was saved


def _open(folder):
    from ..core.pipeline import embeddings
    from ..core.store import Project

    project = Project.open(folder)
    try:
        return project, embeddings(project)
    except Exception:
        project.close()
        raise


def rank_suggestions(project_folder, n: int) -> list:
    """The core's review queue, ranked from the labels in the database now."""
    from ..core.learn import suggestions

    project, emb = _open(project_folder)
    try:
        return suggestions(project, emb, n=n)
    finally:
        project.close()


def _relabelling(kind: str, result, log: DeferredLog, serial: int, **extra) -> Relabelling:
    call = log.call if log.call is not None and len(log.call[2]) else None
    return Relabelling(kind, call, int(len(result.index)), int(result.unknown.sum()), float(result.threshold),
                       serial, **extra)


def propagate_job(job, project_folder, serial: int):
    from ..core.learn import propagate

    project, emb = _open(project_folder)
    try:
        job.report(Event("propagate", 0, 1, "relabelling unverified segments"), force=True)
        log = DeferredLog()
        result = propagate(project, emb, log)
        return _relabelling("propagate", result, log, serial)
    finally:
        project.close()


def refine_job(job, project_folder, serial: int, options: dict):
    """core learn.refine driven to its end; per-epoch losses go out with every progress event."""
    from ..core import learn

    project, emb = _open(project_folder)
    history: list[tuple[int, float, float]] = []
    note = ""
    try:
        log = DeferredLog()
        gen = learn.refine(project, emb, log=log, cancel=job.cancelled, **options)
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            except learn.Cancelled:
                raise Cancelled() from None  # the Job reports "cancelled"; nothing was written
            if ev.stage == "train":
                history.append((ev.done, float(ev.loss), float(ev.val_loss)))
            elif ev.stage == "done" and not history:
                note = ev.message  # too few verified speakers: the core propagated instead
            job.report(RefineProgress(ev.stage, ev.done, ev.total, ev.message, list(history)),
                       force=ev.stage != "train")
    finally:
        project.close()
    return _relabelling("refine", result, log, serial, history=history, note=note)


def classifier_job(job, project_folder, kind: str, source: str):
    """Evaluate on held-out verified segments (when there are enough), then train on all and save."""
    from ..core import learn_classifier as lc

    project, emb = _open(project_folder)
    try:
        evaluation, why = None, ""
        job.report(Event("classifier", 0, 2, f"evaluating {kind} on held-out verified segments"), force=True)
        try:
            evaluation = lc.evaluate(project, emb, kind)
        except ValueError as exc:  # too few verified segments, or of one speaker only
            why = str(exc)
        if job.cancelled():
            raise Cancelled()
        job.report(Event("classifier", 1, 2, f"training {kind} on {source}"), force=True)
        clf = lc.train(project, emb, kind, source)
        path = lc.save(project, clf)
    finally:
        project.close()
    return ClassifierOutcome(kind, source, evaluation, why, int(clf.info["n_train"]), len(clf.names),
                             float(clf.threshold), str(path))
