"""The functions background Jobs run. Each opens its own Project (its own SQLite
connection) rather than sharing the window's, and touches no widget.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.progress import Event


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
        summary.library_named = _name_from_library(project, warnings)
    finally:
        project.close()
    summary.warnings = warnings
    return summary


def _name_from_library(project, warnings: list) -> int:
    """Clusters named from the user's speaker library, when there is one (0 otherwise)."""
    from ..core.open_set import name_from_default_library

    try:
        matches = name_from_default_library(project)
    except (OSError, ValueError) as exc:  # a damaged library must not fail the analysis
        warnings.append(f"speaker library: {exc}")
        return 0
    return sum(m.status == "named" for m in matches or [])


def _has_layout(project) -> bool:
    layout = project.load_array("layout", mmap=True)
    return layout is not None and len(layout) == project.n_segments


def _pca_layout(emb: np.ndarray) -> np.ndarray:
    from ..core.cluster import prepare
    from ..core.layout import pca2

    return pca2(prepare(emb))


def split_job(job, X_members: np.ndarray, k: int | None):
    from ..core.cluster import split_labels

    job.report(Event("split", 0, 1, f"splitting {len(X_members)} segments"), force=True)
    return split_labels(X_members, k)


def evaluate_job(job, project_folder, reference):
    from ..core.evaluate import evaluate_project
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


def export_job(job, project_folder, fmt: str, out, include_noise: bool, clip_options=None):
    from ..core.evaluate import label_rows
    from ..core.export import export
    from ..core.store import Project

    from ..core.conversation_stage import is_conversation

    project = Project.open(project_folder)
    try:
        rows = label_rows(project, include_noise)
        overlapping = is_conversation(project)  # turns that may overlap, written as they are
        root = project.audio_root
        durations = {r.path: r.duration for r in project.recordings() if r.duration}
    finally:
        project.close()
    if fmt == "clips":
        from ..core.clips import export_clips

        report = export_clips(rows, root, out, clip_options,
                              progress=lambda done, total: job.report(Event("export", done, total, "clips")),
                              cancel=job.cancelled)
        if report.skipped and not report.clips:
            raise ValueError("; ".join(f"{rec}: {why}" for rec, why in report.skipped[:3]))
        return len(rows), [Path(out) / c.file for c in report.clips]
    files = export(rows, fmt, out, overlapping=overlapping, durations=durations, media_root=root)
    return len(rows), files


def demo_job(job, folder):
    from ..core.demo import make_demo_corpus

    job.report(Event("demo", 0, 1, "synthesising the demo recordings"), force=True)
    return make_demo_corpus(folder)
