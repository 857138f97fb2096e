"""The functions background Jobs run for "learning from the reviewer": review suggestions,
label propagation, refinement, the classifiers (core/learn/reviewer.py, core/classify/classifier.py,
core/classify/sequence.py) and the prosody RNN (core/embed/prosody_rnn.py).

Like jobs.py, each opens its own Project (its own SQLite connection) and touches no widget.
Relabelling jobs never write labels themselves: the core functions get a DeferredLog that
records the one relabel they ask for, and the window applies it through its own EditLog, so
the window's arrays, its listeners (redraw) and undo stay in step with the database.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from speakerid_gui.core.progress import Cancelled, Event


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
class TrainingProgress:
    """A training event plus the loss history so far (progress signals are throttled, the curve is
    not): refine's rows are (epoch, train loss, held-out loss), the prosody RNN's (epoch, loss)."""
    stage: str
    done: int
    total: int
    message: str
    history: list


@dataclass
class ProsodyOutcome:
    losses: list[float]         # NT-Xent per epoch
    seconds: float
    n_segments: int
    dim: int


@dataclass
class ClassifierOutcome:
    kind: str                   # logreg | rf | mlp (embedding classifiers), lstm | resnet (sequence)
    source: str
    evaluation: dict | None     # classify.classifier / classify.sequence .evaluate(): top1, top5, n_test, labels, ...
    not_evaluated: str          # why there is no evaluation ("" when there is one)
    n_train: int
    n_speakers: int
    threshold: float | None     # cosine below which "unknown"; None for the closed-set sequence classifiers
    path: str                   # where the classifier was saved
    baseline: dict | None = None  # sequence kinds: logistic regression on embeddings, same held-out segments
    info: dict = field(default_factory=dict)  # sequence kinds: epochs, center_loss, seconds


def _open(folder):
    from speakerid_gui.core.pipeline import embeddings
    from speakerid_gui.core.project.store import Project

    project = Project.open(folder)
    try:
        return project, embeddings(project)
    except Exception:
        project.close()
        raise


def rank_suggestions(project_folder, n: int) -> list:
    """The core's review queue, ranked from the labels in the database now."""
    from speakerid_gui.core.learn.reviewer import suggestions

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
    from speakerid_gui.core.learn.reviewer import propagate

    project, emb = _open(project_folder)
    try:
        job.report(Event("propagate", 0, 1, "relabelling unverified segments"), force=True)
        log = DeferredLog()
        result = propagate(project, emb, log)
        return _relabelling("propagate", result, log, serial)
    finally:
        project.close()


def relearn_job(job, project_folder, serial: int):
    """learn.constrained.relearn (constrained re-clustering + propagation) after an answer or edit."""
    from speakerid_gui.core.learn.constrained import relearn

    project, emb = _open(project_folder)
    try:
        log = DeferredLog()
        r = relearn(project, emb, log)
        call = log.call if log.call is not None and len(log.call[2]) else None
        note = (f"{len(r.merges)} clusters merged below the learnt distance {r.threshold:.2f}, "
                if r.threshold is not None else "") + f"{r.unknown:,} unknown"
        return Relabelling("relearn", call, int(len(r.index)), r.unknown, float(r.threshold or 0.0), serial,
                           note=note)
    finally:
        project.close()


def refine_job(job, project_folder, serial: int, options: dict):
    """core learn.refine driven to its end; per-epoch losses go out with every progress event."""
    from speakerid_gui.core.learn import reviewer as learn

    project, emb = _open(project_folder)
    history: list[tuple[int, float, float]] = []
    note = ""
    try:
        log = DeferredLog()

        def progress(ev):
            nonlocal note
            if ev.stage == "train":
                history.append((ev.done, float(ev.loss), float(ev.val_loss)))
            elif ev.stage == "done" and not history:
                note = ev.message  # too few verified speakers: the core propagated instead
            job.report(TrainingProgress(ev.stage, ev.done, ev.total, ev.message, list(history)),
                       force=ev.stage != "train")

        # a cancel raises core Cancelled between epochs: the Job reports it, nothing was written
        result = learn.refine_run(project, emb, progress, log=log, cancel=job.cancelled, **options)
    finally:
        project.close()
    return _relabelling("refine", result, log, serial, history=history, note=note)


def classifier_job(job, project_folder, kind: str, source: str):
    """Evaluate on held-out verified segments (when there are enough), then train on all and save."""
    from speakerid_gui.core.classify import classifier as lc

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


def sequence_classifier_job(job, project_folder, kind: str, center_loss: float, epochs: int):
    """A GRU-attention or ResNet classifier on verified labels: evaluated on held-out verified
    segments (beside logistic regression on the embeddings, same segments), then trained on
    every verified segment and saved. Progress per epoch; Cancel between batches."""
    from speakerid_gui.core.classify import classifier as lc
    from speakerid_gui.core.classify import sequence as sc
    from speakerid_gui.core.project.store import Project

    project = Project.open(project_folder)
    try:
        options = {"source": "verified", "center_loss": center_loss, "epochs": epochs, "cancel": job.cancelled}

        def progress(phase):
            def show(ev):
                if ev.stage == "train":
                    text = (f"{phase}: epoch {ev.done} of at most {ev.total}, loss {ev.loss:.3f}, "
                            f"held-out {ev.val_loss:.3f}")
                else:
                    text = f"{phase}: {ev.message}"
                job.report(Event("classifier", ev.done, ev.total, text), force=ev.stage != "train")
            return show

        evaluation, baseline, why = None, None, ""
        try:
            evaluation = sc.evaluate(project, kind, progress=progress("evaluating on held-out verified segments"),
                                     **options)
        except ValueError as exc:  # too few verified segments to hold some out, or of one speaker only
            why = str(exc)
        if evaluation is not None:
            try:
                baseline = lc.evaluate(project, _embeddings(project), "logreg")
            except Exception:  # the comparison is a bonus: without embeddings the dialog shows none
                baseline = None
        clf = sc.fit_run(project, progress("training on every verified segment"), kind=kind, **options)
        path = sc.save(project, clf)
    finally:
        project.close()
    return ClassifierOutcome(kind, "verified", evaluation, why, int(clf.info["n_train"] + clf.info["n_val"]),
                             len(clf.names), None, str(path), baseline,
                             {k: clf.info[k] for k in ("epochs", "center_loss", "seconds")})


def _embeddings(project):
    from speakerid_gui.core.pipeline import embeddings

    return embeddings(project)


def prosody_job(job, project_folder, epochs: int):
    """prosody_rnn.train driven to its end: the loss per epoch goes out with every progress event.
    Cancel stops between batches and writes nothing (the previous model, if any, stays)."""
    from speakerid_gui.core.embed import prosody_rnn
    from speakerid_gui.core.project.store import Project

    project = Project.open(project_folder)
    history: list[tuple[int, float]] = []
    try:

        def progress(ev):
            if ev.stage == "train":
                history.append((ev.done, float(ev.loss)))
            job.report(TrainingProgress(ev.stage, ev.done, ev.total, ev.message, list(history)),
                       force=ev.stage != "train")

        result = prosody_rnn.train_run(project, progress, epochs=epochs, cancel=job.cancelled)
    finally:
        project.close()
    return ProsodyOutcome(list(result.losses), float(result.seconds), int(result.embeddings.shape[0]),
                          int(result.embeddings.shape[1]))
