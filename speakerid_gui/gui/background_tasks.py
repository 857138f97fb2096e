"""Background work started from the main window (a mixin): the pipeline with its
progress panel, the demo, export and evaluation. Each runs as a Job in its own thread;
results come back as signals.

Uses from the window: session, pipeline, progress, scatter, evaluation, evaluation_dock,
start_page, statusBar(), show_error(), start_job(), _open_dialog(), new_project(),
_load_project_view(), _update_actions(); the clustering reaches _on_edit as a Change.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from speakerid_gui.gui import jobs
from speakerid_gui.core.text import plural
from speakerid_gui.gui.export_dialog import ExportDialog
from speakerid_gui.gui.new_project import data_dir
from speakerid_gui.gui.workers import Job

DEMO_SETTINGS = None  # pipeline settings for the demo (None: the defaults); tests make it fast


class BackgroundTasks:
    # ---- pipeline ----------------------------------------------------------------------------------------
    def start_pipeline(self, settings):
        from dataclasses import asdict

        if self.pipeline is not None or self.session is None:
            return None
        self.session.project.set_meta("gui_pending", asdict(settings))  # lets "Resume analysis" pick it up
        self.progress.reset()
        self.progress.show()
        self.resume_banner.hide()
        job = Job("analysis", jobs.pipeline_job, self.session.project.folder, settings, parent=self)
        job.progress.connect(self.progress.update_event)
        job.partial_result.connect(self._pipeline_partial)
        job.succeeded.connect(self._pipeline_done)
        job.failed.connect(lambda msg: self._pipeline_ended(f"Analysis failed: {msg}", error=True))
        job.was_cancelled.connect(lambda: self._pipeline_ended("Analysis cancelled: Resume analysis continues "
                                                               "where it stopped."))
        self.pipeline = job
        self.start_job(job)
        self._update_actions()
        return job

    def resume_pipeline(self):
        """Go on with an interrupted analysis: the settings it was started with (the app's, or a
        command-line run's), else the defaults."""
        from dataclasses import fields

        from speakerid_gui.core.pipeline import Settings

        if self.session is None:
            return None
        p = self.session.project
        saved = p.get_meta("gui_pending") or p.get_meta("settings") or {}
        known = {f.name for f in fields(Settings)}
        return self.start_pipeline(Settings(**{k: v for k, v in saved.items() if k in known}))

    def pending_recordings(self) -> tuple[int, int]:
        """(recordings not analysed yet, all recordings) of the open project."""
        if self.session is None:
            return 0, 0
        recs = self.session.project.recordings()
        return sum(r.status == "pending" for r in recs), len(recs)

    def show_analysis_state(self):
        """The Resume banner when the open project's analysis is partial (and nothing runs)."""
        if self.session is None or self.pipeline is not None:
            self.resume_banner.hide()
            return
        pending, total = self.pending_recordings()
        unfinished = self.session.project.get_meta("gui_pending") is not None  # stopped before its end
        self.resume_banner.show_partial(pending, total, unfinished)

    def cancel_pipeline(self):
        if self.pipeline is not None:
            self.pipeline.cancel()

    def _pipeline_partial(self, payload):
        if self.session is None:
            return
        kind = payload[0]
        if kind == "preview":  # PCA of the segments embedded so far, while the analysis goes on
            xy, count = payload[1], payload[2]
            self.session.reload()  # the segments the points stand for (clicks, hover)
            p = self.session.project
            m = min(len(xy), p.n_segments)
            self.scatter.set_data(xy[:m], p.cluster[:m], p.verified[:m], p.noise[:m], self._colors(),
                                  f"PCA preview of {count:,} embedded so far")
        elif kind == "layout":  # PCA preview while the real layout is computed
            self.session.reload()
            p = self.session.project
            self.scatter.set_data(payload[1], p.cluster, p.verified, p.noise, self._colors(),
                                  "PCA preview, UMAP layout follows")
        elif kind == "stage_done":
            self.progress.mark_done(payload[1])
            # Segments appear with the PCA preview that follows "analyse"; labels after "cluster".
            # The window never computes embeddings itself while the worker may be writing them.
            # The clustering edit was written on the job's connection: reloading announces it as
            # one Change, and the window's edit listener redraws from it like after any edit.
            if payload[1] == "cluster":
                self.session.reload(announce=True)

    def _pipeline_done(self, summary):
        skipped = len(getattr(summary, "skipped", []) or [])
        self._pipeline_ended(f"Analysis done: {plural(summary.files_ok, 'file')}, {plural(summary.segments, 'segment')}, "
                             f"{plural(summary.clusters, 'cluster')}" + (f", {plural(skipped, 'file')} skipped" if skipped else "")
                             + (f", {named} named from the speaker library (Review ▸ Speaker library)"
                                if (named := getattr(summary, "library_named", 0)) else "") + ".")
        if skipped:
            details = "\n".join(f"{path}: {why}" for path, why in summary.skipped[:30])
            self.show_error(f"{plural(skipped, 'file')} could not be used:\n{details}", title="Skipped files")

    def _pipeline_ended(self, message: str, error: bool = False):
        job, self.pipeline = self.pipeline, None
        if self.session is not None:
            if job is not None and job.outcome == "ok":
                self.session.project.set_meta("gui_pending", None)
            self.session.reload()
            self._load_project_view()
        self.progress.hide()
        self.show_analysis_state()
        self._update_actions()
        if error:
            self.show_error(message)
        else:
            self.statusBar().showMessage(message, 15000)

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
            self.session.project.set_meta("reference", str(Path(folder) / "reference.rttm"))
            self.evaluation.set_reference(str(Path(folder) / "reference.rttm"))
            self.statusBar().showMessage("Demo: 5 synthetic speakers. Its true labels are loaded as the reference: "
                                         "Evaluate once the analysis is done.", 15000)

    # ---- export, reference, evaluation ---------------------------------------------------------------------
    def ask_export(self):
        project = self.session.project
        dialog = ExportDialog(project.folder / "exports", self, last=project.get_meta("export_last"))

        def accepted():
            if self.session is not None:  # the folder and format come back next time (also after a restart)
                self.session.project.set_meta("export_last", dialog.choices())
            self.export(dialog.fmt(), dialog.out_path(), dialog.include_noise.isChecked(),
                        dialog.clip_options() if dialog.fmt() == "clips" else None)

        dialog.accepted.connect(accepted)
        self._open_dialog(dialog)
        return dialog

    def export(self, fmt: str, out: Path, include_noise: bool = False, clip_options=None):
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        job = Job("export", jobs.export_job, self.session.project.folder, fmt, out, include_noise, clip_options,
                  parent=self)

        def done(result):
            count, files = result
            self.last_export = files
            what = plural(len(files), "clip") if fmt == "clips" else f"{plural(count, 'segment')} as {fmt}"
            self.statusBar().showMessage(f"Exported {what} to {out}.", 10000)

        job.succeeded.connect(done)
        job.failed.connect(lambda msg: self.show_error(f"Export to {out} failed: {msg}"))
        self.start_job(job)
        return job

    def ask_library(self, folder=None):
        """The speaker library dialog (matches, accept / reject, add named speakers)."""
        from speakerid_gui.gui.library_dialog import LibraryDialog

        dialog = LibraryDialog(self.session, folder, self)
        self._open_dialog(dialog)
        return dialog

    def ask_import_reference(self):
        path, _ = QFileDialog.getOpenFileName(self, "Reference labels", str(self.session.project.audio_root),
                                              "Reference labels (*.csv *.rttm);;All files (*)")
        if path:
            self.import_reference(path)

    def import_reference(self, path: str):
        """Evaluate against a manifest/RTTM; remembered in the project once it loads."""
        return self.evaluate(str(path), remember=True)

    def evaluate(self, reference: str | None = None, remember: bool = False):
        if self.session is None:
            return None
        reference = reference or self.session.project.get_meta("reference")
        if not reference:
            return None
        self.evaluation.set_busy()
        self.evaluation_dock.show()
        job = Job("evaluate", jobs.evaluate_job, self.session.project.folder, reference, parent=self)

        def done(result):
            if remember and self.session is not None:
                self.session.project.set_meta("reference", str(reference))
            self.evaluation.set_reference(str(reference))
            self.evaluation.set_result(result)

        def failed(msg):
            self.evaluation.set_result(self.evaluation.result)
            self.show_error(f"Evaluation failed: {msg}")

        job.succeeded.connect(done)
        job.failed.connect(failed)
        self.start_job(job)
        return job
