"""Background work controller of the main window: the pipeline with its progress panel and
Resume banner, the demo, export, the speaker library and evaluation. Each runs as a Job in its
own thread; results come back as signals.

Given: the ReviewState (session, the running analysis), the window (parent of dialogs), the
progress panel, the Resume banner, the scatter (previews while the analysis runs), the
evaluation panel and its dock, the start page (the demo's button), the status bar,
`open_dialog`, `show_error`, `start_job`, the review-selection controller (colours, redrawing
the project), `update_actions` and `new_project` (the demo opens one). The clustering reaches
the edit listener as a Change.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from speakerid_gui.gui import jobs
from speakerid_gui.core.text import plural
from speakerid_gui.gui.export_dialog import ExportDialog
from speakerid_gui.gui.new_project import data_dir
from speakerid_gui.gui.workers import Job

DEMO_SETTINGS = None  # pipeline settings for the demo (None: the defaults); tests make it fast


class BackgroundTasks(QObject):
    def __init__(self, state, window, progress, resume_banner, scatter, evaluation, evaluation_dock, start_page,
                 status, open_dialog, show_error, start_job, review, update_actions, new_project):
        super().__init__(window)
        self.state, self.window, self.progress, self.resume_banner = state, window, progress, resume_banner
        self.scatter, self.evaluation, self.evaluation_dock, self.start_page = scatter, evaluation, evaluation_dock, start_page
        self.status, self.open_dialog, self.show_error, self.start_job = status, open_dialog, show_error, start_job
        self.review, self.update_actions, self.new_project = review, update_actions, new_project
        self.last_export = None  # the files of the last export
        progress.cancel_requested.connect(self.cancel_pipeline)
        resume_banner.resume_requested.connect(self.resume_pipeline)
        evaluation.evaluate_requested.connect(self.evaluate)
        evaluation.import_requested.connect(self.ask_import_reference)

    # ---- pipeline ----------------------------------------------------------------------------------------
    def start_pipeline(self, settings):
        from dataclasses import asdict

        if self.state.pipeline is not None or self.state.session is None:
            return None
        self.state.session.project.set_meta("gui_pending", asdict(settings))  # lets "Resume analysis" pick it up
        self.progress.reset()
        self.progress.show()
        self.resume_banner.hide()
        job = Job("analysis", jobs.pipeline_job, self.state.session.project.folder, settings, parent=self)
        job.progress.connect(self.progress.update_event)
        job.partial_result.connect(self._pipeline_partial)
        job.succeeded.connect(self._pipeline_done)
        job.failed.connect(lambda msg: self._pipeline_ended(f"Analysis failed: {msg}", error=True))
        job.was_cancelled.connect(lambda: self._pipeline_ended("Analysis cancelled: Resume analysis continues "
                                                               "where it stopped."))
        self.state.pipeline = job
        self.start_job(job)
        self.update_actions()
        return job

    def resume_pipeline(self):
        """Go on with an interrupted analysis: the settings it was started with (the app's, or a
        command-line run's), else the defaults."""
        from dataclasses import fields

        from speakerid_gui.core.pipeline import Settings

        if self.state.session is None:
            return None
        p = self.state.session.project
        saved = p.get_meta("gui_pending") or p.get_meta("settings") or {}
        known = {f.name for f in fields(Settings)}
        return self.start_pipeline(Settings(**{k: v for k, v in saved.items() if k in known}))

    def pending_recordings(self) -> tuple[int, int]:
        """(recordings not analysed yet, all recordings) of the open project."""
        if self.state.session is None:
            return 0, 0
        recs = self.state.session.project.recordings()
        return sum(r.status == "pending" for r in recs), len(recs)

    def show_analysis_state(self):
        """The Resume banner when the open project's analysis is partial (and nothing runs)."""
        if self.state.session is None or self.state.pipeline is not None:
            self.resume_banner.hide()
            return
        pending, total = self.pending_recordings()
        unfinished = self.state.session.project.get_meta("gui_pending") is not None  # stopped before its end
        self.resume_banner.show_partial(pending, total, unfinished)

    def cancel_pipeline(self):
        if self.state.pipeline is not None:
            self.state.pipeline.cancel()

    def _pipeline_partial(self, payload):
        if self.state.session is None:
            return
        kind = payload[0]
        if kind == "preview":  # PCA of the segments embedded so far, while the analysis goes on
            xy, count = payload[1], payload[2]
            self.state.session.reload()  # the segments the points stand for (clicks, hover)
            p = self.state.session.project
            m = min(len(xy), p.n_segments)
            self.scatter.set_data(xy[:m], p.cluster[:m], p.verified[:m], p.noise[:m], self.review.colors(),
                                  f"PCA preview of {count:,} embedded so far")
        elif kind == "layout":  # PCA preview while the real layout is computed
            self.state.session.reload()
            p = self.state.session.project
            self.scatter.set_data(payload[1], p.cluster, p.verified, p.noise, self.review.colors(),
                                  "PCA preview, UMAP layout follows")
        elif kind == "stage_done":
            self.progress.mark_done(payload[1])
            # Segments appear with the PCA preview that follows "analyse"; labels after "cluster".
            # The window never computes embeddings itself while the worker may be writing them.
            # The clustering edit was written on the job's connection: reloading announces it as
            # one Change, and the window's edit listener redraws from it like after any edit.
            if payload[1] == "cluster":
                self.state.session.reload(announce=True)

    def _pipeline_done(self, summary):
        from speakerid_gui.core.audio.copies import describe

        skipped = len(getattr(summary, "skipped", []) or [])
        copies = list(getattr(summary, "copies", []) or [])
        self._pipeline_ended(f"Analysis done: {plural(summary.files_ok, 'file')}, {plural(summary.segments, 'segment')}, "
                             f"{plural(summary.clusters, 'cluster')}" + (f", {plural(skipped, 'file')} skipped" if skipped else "")
                             + (f", {plural(len(copies), 'exact copy', 'exact copies')}" if copies else "")
                             + (f", {named} named from the speaker library (Review ▸ Speaker library)"
                                if (named := getattr(summary, "library_named", 0)) else "") + ".")
        parts, titles = [], []
        if skipped:
            details = "\n".join(f"{path}: {why}" for path, why in summary.skipped[:30])
            parts.append(f"{plural(skipped, 'file')} could not be used:\n{details}")
            titles.append("skipped files")
        if copies:
            parts.append("\n".join(describe(copies)))
            titles.append("exact copies")
        # the rest of what the analysis warned about (skipped files are listed above already)
        skipped_paths = {path for path, _ in getattr(summary, "skipped", []) or []}
        notes = [m for m in getattr(summary, "warnings", []) or [] if m.split(": ", 1)[0] not in skipped_paths]
        if notes:
            parts.append("\n".join(dict.fromkeys(notes[:20])))
            titles.append("warnings")
        if parts:
            self.show_error("\n\n".join(parts), title=" and ".join(titles).capitalize())

    def _pipeline_ended(self, message: str, error: bool = False):
        job, self.state.pipeline = self.state.pipeline, None
        if self.state.session is not None:
            if job is not None and job.outcome == "ok":
                self.state.session.project.set_meta("gui_pending", None)
            self.state.session.reload()
            self.review.load_project_view()
        self.progress.hide()
        self.show_analysis_state()
        self.update_actions()
        if error:
            self.show_error(message)
        else:
            self.status.showMessage(message, 15000)

    # ---- demo ----------------------------------------------------------------------------------------
    def start_demo(self, folder: str | Path | None = None):
        """Synthesise the demo corpus (in a worker), then analyse it as a new project."""
        folder = Path(folder) if folder else data_dir() / "demo" / "speakerid-demo"
        if (folder / "manifest.csv").exists():
            self._demo_ready(folder)
            return None
        self.start_page.demo_status.setText("Synthesising 5 speakers…")
        self.start_page.demo_button.setEnabled(False)
        job = Job("demo", jobs.demo_job, folder, parent=self)
        job.succeeded.connect(lambda corpus: self._demo_ready(corpus.folder))
        job.failed.connect(lambda msg: (self.show_error(f"Demo failed: {msg}"),
                                        self.start_page.demo_button.setEnabled(True)))
        self.start_job(job)
        return job

    def _demo_ready(self, folder: Path):
        from speakerid_gui.core.pipeline import Settings

        self.start_page.demo_status.setText("")
        self.start_page.demo_button.setEnabled(True)
        if self.new_project(folder, DEMO_SETTINGS or Settings()):
            self.state.session.project.set_meta("reference", str(Path(folder) / "reference.rttm"))
            self.evaluation.set_reference(str(Path(folder) / "reference.rttm"))
            self.status.showMessage("Demo: 5 synthetic speakers. Its true labels are loaded as the reference: "
                                         "Evaluate once the analysis is done.", 15000)

    # ---- export, reference, evaluation ---------------------------------------------------------------------
    def ask_export(self):
        project = self.state.session.project
        dialog = ExportDialog(project.folder / "exports", self.window, last=project.get_meta("export_last"))

        def accepted():
            if self.state.session is not None:  # the folder and format come back next time (also after a restart)
                self.state.session.project.set_meta("export_last", dialog.choices())
            self.export(dialog.fmt(), dialog.out_path(), dialog.include_noise.isChecked(),
                        dialog.clip_options() if dialog.fmt() == "clips" else None)

        dialog.accepted.connect(accepted)
        self.open_dialog(dialog)
        return dialog

    def export(self, fmt: str, out: Path, include_noise: bool = False, clip_options=None):
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        job = Job("export", jobs.export_job, self.state.session.project.folder, fmt, out, include_noise, clip_options,
                  parent=self)

        def done(result):
            count, files = result
            self.last_export = files
            what = plural(len(files), "clip") if fmt == "clips" else f"{plural(count, 'segment')} as {fmt}"
            self.status.showMessage(f"Exported {what} to {out}.", 10000)

        job.succeeded.connect(done)
        job.failed.connect(lambda msg: self.show_error(f"Export to {out} failed: {msg}"))
        self.start_job(job)
        return job

    def ask_library(self, folder=None):
        """The speaker library dialog (matches, accept / reject, add named speakers)."""
        from speakerid_gui.gui.library_dialog import LibraryDialog

        dialog = LibraryDialog(self.state.session, folder, self.window)
        self.open_dialog(dialog)
        return dialog

    def ask_import_reference(self):
        path, _ = QFileDialog.getOpenFileName(self.window, "Reference labels", str(self.state.session.project.audio_root),
                                              "Reference labels (*.csv *.rttm);;All files (*)")
        if path:
            self.import_reference(path)

    def import_reference(self, path: str):
        """Evaluate against a manifest/RTTM; remembered in the project once it loads."""
        return self.evaluate(str(path), remember=True)

    def evaluate(self, reference: str | None = None, remember: bool = False):
        if self.state.session is None:
            return None
        reference = reference or self.state.session.project.get_meta("reference")
        if not reference:
            return None
        self.evaluation.set_busy()
        self.evaluation_dock.show()
        job = Job("evaluate", jobs.evaluate_job, self.state.session.project.folder, reference, parent=self)

        def done(result):
            if remember and self.state.session is not None:
                self.state.session.project.set_meta("reference", str(reference))
            self.evaluation.set_reference(str(reference))
            self.evaluation.set_result(result)

        def failed(msg):
            self.evaluation.set_result(self.evaluation.result)
            self.show_error(f"Evaluation failed: {msg}")

        job.succeeded.connect(done)
        job.failed.connect(failed)
        self.start_job(job)
        return job
