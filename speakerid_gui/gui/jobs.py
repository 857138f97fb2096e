"""The functions background Jobs run. Each opens its own Project (its own SQLite
connection) rather than sharing the window's, and touches no widget.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.pipeline import Event


def pipeline_job(job, project_folder, settings):
    """Run the core pipeline; announce each finished stage, and a PCA layout as soon as
    embeddings exist (UMAP comes later), so the window shows results early."""
    from ..core.pipeline import Summary, embeddings, run
    from ..core.store import Project

    project = Project.open(project_folder)
    summary = Summary()
    warnings = []
    stage = None
    try:
        for event in run(project, settings, cancel=job.cancelled, summary=summary):
            if event.level == "warning":
                warnings.append(event.message)
            if event.stage != stage:
                if stage is not None:
                    job.partial(("stage_done", stage))
                if event.stage == "cluster" and project.n_segments and not _has_layout(project):
                    job.partial(("layout", _pca_layout(embeddings(project, settings.backend, settings.segments.key(),
                                                                        settings.clean))))
                stage = event.stage
                job.report(event, force=True)
            else:
                job.report(event)
        if stage is not None:
            job.partial(("stage_done", stage))
    finally:
        project.close()
    summary.warnings = warnings
    return summary


def _has_layout(project) -> bool:
    layout = project.load_array("layout", mmap=True)
    return layout is not None and len(layout) == project.n_segments


def _pca_layout(emb: np.ndarray) -> np.ndarray:
    from ..core.cluster import prepare
    from ..core.layout import pca2

    return pca2(prepare(emb))


def split_job(job, X: np.ndarray, labels: np.ndarray, members: np.ndarray, durations: np.ndarray, k: int | None):
    """Parts of a cluster: k given, or estimated as the corpus's speakers are (1 part: one speaker)."""
    from ..core.cluster import split_estimate, split_labels

    job.report(Event("split", 0, 1, f"splitting {len(members)} segments"), force=True)
    if k:
        return split_labels(X[members], k)
    return split_estimate(X, labels, members, durations)


def evaluate_job(job, project_folder, reference):
    from ..cli import evaluate_project
    from ..core.formats import load_reference
    from ..core.store import Project

    load_reference(reference)  # a bad file fails here, with its name, before any work
    project = Project.open(project_folder)
    try:
        job.report(Event("evaluate", 0, 1, f"evaluating against {Path(reference).name}"), force=True)
        result = evaluate_project(project, reference)
    finally:
        project.close()
    if not result.get("n_scored"):
        raise ValueError(f"{reference}: no segment of this project matches a recording in the reference")
    return result


def export_job(job, project_folder, fmt: str, out, include_noise: bool):
    from ..cli import label_rows
    from ..core.formats import export
    from ..core.store import Project

    project = Project.open(project_folder)
    try:
        rows = label_rows(project, include_noise)
    finally:
        project.close()
    files = export(rows, fmt, out)
    return len(rows), files


def demo_job(job, folder):
    from ..core.demo import make_demo_corpus

    job.report(Event("demo", 0, 1, "synthesising the demo recordings"), force=True)
    return make_demo_corpus(folder)
