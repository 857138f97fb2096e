"""The functions background Jobs run. Each opens its own Project (its own SQLite
connection) rather than sharing the window's, and touches no widget.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from speakerid_gui.core.progress import Event


def pipeline_job(job, project_folder, settings):
    """Run the core pipeline; announce each finished stage, a PCA preview of the segments embedded
    so far every few seconds while it analyses, and a PCA layout of all of them once embedding is
    done (UMAP comes later), so the window shows results early."""
    from speakerid_gui.core.pipeline import Summary, embeddings, run
    from speakerid_gui.core.project.store import Project

    project = Project.open(project_folder)
    summary = Summary()
    warnings = []
    stage = None
    preview = Preview(project, settings)
    try:
        for event in run(project, settings, cancel=job.cancelled, summary=summary):
            if event.level == "warning":
                warnings.append(event.message)
            if event.stage == "analyse" and preview.due():
                payload = preview.compute()
                if payload is not None:
                    job.partial(("preview", *payload))
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
    from speakerid_gui.core.library.open_set import name_from_default_library

    try:
        matches = name_from_default_library(project)
    except (OSError, ValueError) as exc:  # a damaged library must not fail the analysis
        warnings.append(f"speaker library: {exc}")
        return 0
    return sum(m.status == "named" for m in matches or [])


PREVIEW_SECONDS = 4.0      # at most one preview this often...
PREVIEW_PER_SEGMENT = 1e-4  # ...and 1 s more per 10k segments: redrawing 100k points costs the window


class Preview:
    """PCA coordinates of the segments embedded so far, read from the per-recording caches the
    analysis writes (each file loaded once). Runs in the worker; the window only draws."""

    def __init__(self, project, settings):
        self.project, self.settings = project, settings
        self.parts: dict[int, np.ndarray] = {}
        self.last = time.monotonic()
        self.shown = -1

    def due(self) -> bool:
        wait = PREVIEW_SECONDS + PREVIEW_PER_SEGMENT * max(self.shown, 0)
        return time.monotonic() - self.last >= wait

    def compute(self):
        """(coordinates, segment count) or None when nothing new is embedded (or it cannot be read)."""
        from speakerid_gui.core.embed import parts as parts_of
        from speakerid_gui.core.pipeline import embedding_file

        self.last = time.monotonic()
        # a combination is analysed part by part, its first part for every file first: shown meanwhile
        spec = (parts_of(self.settings.backend) or [self.settings.backend])[0]
        p = self.project
        p.reload()
        rec_ids, starts = np.unique(p.seg_recording, return_index=True)
        if len(p.seg_recording) == self.shown or len(p.seg_recording) < 3:
            return None
        rows = []
        seg_key = self.settings.segments.key()
        for rid in rec_ids[np.argsort(starts)].tolist():
            if rid not in self.parts:
                try:
                    self.parts[rid] = np.load(embedding_file(p, spec, seg_key, self.settings.clean, rid))
                except (OSError, ValueError):
                    return None  # a file written by another backend or settings: no preview then
            rows.append(self.parts[rid])
        matrix = np.concatenate(rows)
        if len(matrix) != p.n_segments:
            return None
        self.shown = len(matrix)
        return _pca_layout(matrix), len(matrix)


def _has_layout(project) -> bool:
    layout = project.load_array("layout", mmap=True)
    return layout is not None and len(layout) == project.n_segments


def _pca_layout(emb: np.ndarray) -> np.ndarray:
    from speakerid_gui.core.cluster.agglomerative import prepare
    from speakerid_gui.core.layout import pca2

    return pca2(prepare(emb))


def split_job(job, X: np.ndarray, labels: np.ndarray, members: np.ndarray, durations: np.ndarray, k: int | None):
    """Parts of a cluster: k given, or estimated as the corpus's speakers are (1 part: one speaker)."""
    from speakerid_gui.core.cluster.split import split_estimate, split_labels

    job.report(Event("split", 0, 1, f"splitting {len(members)} segments"), force=True)
    if k:
        return split_labels(X[members], k)
    return split_estimate(X, labels, members, durations)


def evaluate_job(job, project_folder, reference):
    from speakerid_gui.core.evaluate.reference import evaluate_project
    from speakerid_gui.core.formats.common import load_reference
    from speakerid_gui.core.project.store import Project

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
    from speakerid_gui.core.evaluate.reference import label_rows
    from speakerid_gui.core.formats.export import export
    from speakerid_gui.core.project.store import Project

    from speakerid_gui.core.conversation.stage import is_conversation

    project = Project.open(project_folder)
    try:
        rows = label_rows(project, include_noise)
        overlapping = is_conversation(project)  # turns that may overlap, written as they are
        root = project.audio_root
        durations = {r.path: r.duration for r in project.recordings() if r.duration}
    finally:
        project.close()
    if fmt == "clips":
        from dataclasses import replace

        from speakerid_gui.core.formats.clips import ClipOptions, export_clips

        clip_options = replace(clip_options or ClipOptions(), overlapping=overlapping)
        report = export_clips(rows, root, out, clip_options,
                              progress=lambda done, total: job.report(Event("export", done, total, "clips")),
                              cancel=job.cancelled)
        if report.skipped and not report.clips:
            raise ValueError("; ".join(f"{rec}: {why}" for rec, why in report.skipped[:3]))
        return len(rows), [Path(out) / c.file for c in report.clips]
    files = export(rows, fmt, out, overlapping=overlapping, durations=durations, media_root=root)
    return len(rows), files


def demo_job(job, folder):
    from speakerid_gui.core.demo import make_demo_corpus

    job.report(Event("demo", 0, 1, "synthesising the demo recordings"), force=True)
    return make_demo_corpus(folder)
