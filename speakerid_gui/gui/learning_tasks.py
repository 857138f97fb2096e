"""Learning jobs controller of the main window: the Learn menu's label propagation,
refinement, the speaker classifiers (embedding or sequence) and the prosody RNN; the
"Review next" queue is review_queue.py.

Heavy work runs off the GUI thread on its own Project connection (learning_jobs.py): the
user's propagate / refine / classifier / prosody training as Jobs. A relabelling comes back as
one EditLog.relabel call and is applied here through the window's own log (`edit`), so undo,
the redraw listener and the window's arrays stay in step. Every edit bumps the label version
(ReviewState.label_serial); a result computed from an older version is rebased or not applied.

Given: the ReviewState (session, label version, the running analysis and learning job), the
window (parent of dialogs), the status bar, `open_dialog`, `show_error`, `start_job`, `edit`
(the edit controller's guarded EditLog call), `update_actions` and `on_idle` (called when a
learning job ends: the answers' relearning waits for it).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt

from speakerid_gui.core.project.store import NOISE
from speakerid_gui.core.text import plural
from speakerid_gui.gui import learning_jobs
from speakerid_gui.gui.learning_dialogs import ClassifierDialog, ProsodyDialog, RefineDialog
from speakerid_gui.gui.workers import Job

SEQ_KINDS = ("lstm", "resnet")  # sequence classifiers (core classify.sequence), trained on verified labels
SEQ_MIN_VERIFIED = 3  # verified segments a speaker needs to count for a sequence classifier
PROSODY_EPOCHS = 30
PROSODY_USE = ("Once trained, the embeddings are stored like any backend's: analyse with the backend "
               "<b>prosody_rnn</b>, or combine it with the speaker model, e.g. <b>joint:campp=1,prosody_rnn=0.5</b> "
               "(<tt>speakerid run AUDIO --project PROJECT --backend joint:campp=1,prosody_rnn=0.5</tt>).")


class LearningTasks(QObject):
    def __init__(self, state, window, status, open_dialog, show_error, start_job, edit, update_actions, on_idle):
        super().__init__(window)
        self.state, self.window, self.status = state, window, status
        self.open_dialog, self.show_error, self.start_job, self.edit = open_dialog, show_error, start_job, edit
        self.update_actions, self.on_idle = update_actions, on_idle
        self.last_relabelling: tuple | None = None  # (Relabelling, report) of the last propagate/refine
        self._learning_snapshot = (None, None)      # (label version, Snapshot) the running job started from

    # ---- propagation and refinement -------------------------------------------------------------------
    def _learning_ready(self) -> bool:
        if self.state.session is None:
            return False
        if self.state.pipeline is not None or self.state.learning_job is not None:
            self.status.showMessage("Wait for the running analysis or learning job to finish.", 5000)
            return False
        return True

    def _verified_speakers(self) -> tuple[int, int, int]:
        """(verified segments, speakers among them, largest speaker's verified count)."""
        p = self.state.session.project
        ok = p.verified & ~p.noise & (p.cluster != NOISE)
        _, counts = np.unique(p.cluster[ok], return_counts=True)
        return int(ok.sum()), len(counts), int(counts.max(initial=0))

    def _start_learning_job(self, job: Job):
        from speakerid_gui.core.project.rebase import Snapshot

        self.state.learning_job = job
        # the labels the job starts from: its result is rebased on them if the reviewer edits meanwhile
        self._learning_snapshot = (self.state.label_serial, Snapshot.of(self.state.session.project))
        job.finished.connect(lambda: self._learning_job_done(job))
        self.start_job(job)
        self.update_actions()

    def _learning_job_done(self, job):
        if self.state.learning_job is job:
            self.state.learning_job = None
            self.on_idle()  # an answer that came while it ran relearns now
        if self.state.session is not None:
            self.update_actions()

    def propagate_labels(self):
        """Relabel every unverified segment from the verified ones (a worker; one undoable edit)."""
        if not self._learning_ready():
            return None
        n_ver, n_spk, _ = self._verified_speakers()
        if n_ver == 0:
            self.status.showMessage("Nothing verified yet: verify segments or clusters first (V, Shift+V), "
                                         "then propagate.", 8000)
            return None
        job = Job("propagate", learning_jobs.propagate_job, self.state.session.project.folder, self.state.label_serial,
                  parent=self)
        job.succeeded.connect(self._apply_relabelling)
        job.failed.connect(lambda msg: self.show_error(f"Propagation failed: {msg}"))
        self.status.showMessage(f"Propagating labels from {n_ver:,} verified segments of {n_spk} speakers…")
        self._start_learning_job(job)
        return job

    def _apply_relabelling(self, r) -> str:
        """Apply a job's relabel through the window's EditLog and say what changed."""
        if self.state.session is None:
            return ""
        what = {"propagate": "Propagation", "refine": "Refinement"}.get(r.kind, r.kind)
        p = self.state.session.project
        call, kept = r.call, ""
        if r.serial != self.state.label_serial and call is not None:  # the reviewer edited while it ran
            from speakerid_gui.core.project.rebase import Snapshot, rebase

            serial, before = self._learning_snapshot
            if serial != r.serial:
                report = f"{what}: the labels changed while it ran, so nothing was applied. Run it again."
                self.status.showMessage(report, 10000)
                self.last_relabelling = (r, report)
                return report
            kind, description, index, clusters, confidence, rows = call
            rb = rebase(index, clusters, confidence, before, Snapshot.of(p))
            call = (kind, description, rb.index, rb.clusters, rb.confidence, rows)
            if rb.kept_by_reviewer:
                kept = (f" {rb.kept_by_reviewer:,} segments you changed while it ran kept your labels"
                        + (f"; {rb.redirected:,} followed a merge you made" if rb.redirected else "") + ".")
        n_ver = int((p.verified & ~p.noise).sum())
        moved = 0
        if call is not None and len(call[2]):
            change = self.edit(self.state.session.log.relabel, *call)
            if change is None:
                return ""
            moved = len(change.moved)
        report = (f"{what}: {r.considered:,} unverified segments reassigned from {n_ver:,} verified ones; "
                  f"{moved:,} changed speaker, {r.unknown:,} unknown (far from every verified speaker: kept in "
                  f"their own cluster with low confidence). Verified labels unchanged.{kept} Ctrl+Z undoes.")
        if r.note:
            report = f"{r.note}. {report}"
        self.status.showMessage(report, 15000)
        self.last_relabelling = (r, report)
        return report

    def ask_refine(self, **options):
        """Open the refinement dialog and start training at once (options go to core learn.refine)."""
        if not self._learning_ready():
            return None
        n_ver, n_spk, most = self._verified_speakers()
        if n_spk < 2 or most < 2:
            self.status.showMessage("Refinement learns from verified segments of at least two speakers: "
                                         "verify some first (V, Shift+V).", 8000)
            return None
        options = {"epochs": 200, **options}
        p = self.state.session.project
        n_todo = int((~p.verified & ~p.noise & (p.cluster != NOISE)).sum())
        intro = (f"Training a small projection head on {n_ver:,} verified segments of {n_spk} speakers (batch-hard "
                 f"triplet loss, NT-Xent on augmented views), then reassigning the {n_todo:,} unverified segments "
                 "in the refined space. It stops when the loss on held-out verified segments stops falling. "
                 "Verified labels never change; Ctrl+Z undoes the result.")
        dialog = RefineDialog(intro, options["epochs"], self.window)
        job = Job("refine", learning_jobs.refine_job, p.folder, self.state.label_serial, options, parent=self)
        dialog.job = job
        dialog.cancel_requested.connect(job.cancel)
        job.progress.connect(dialog.update_progress)
        job.succeeded.connect(lambda r: dialog.finish(self._apply_relabelling(r)))
        job.was_cancelled.connect(lambda: (dialog.finish("Cancelled: nothing was changed."),
                                           self.status.showMessage("Refinement cancelled: nothing changed.",
                                                                        8000)))
        job.failed.connect(lambda msg: (dialog.finish(f"Refinement failed: {msg}"),
                                        self.show_error(f"Refinement failed: {msg}")))
        self.open_dialog(dialog)
        self._start_learning_job(job)
        return dialog

    # ---- the classifiers for new audio --------------------------------------------------------------------
    def ask_classifier(self):
        if self.state.session is None:
            return None
        n_ver, n_spk, _ = self._verified_speakers()
        summary = ("A speaker classifier trained on this project's labels and saved in it. The embedding classifier "
                   "labels new recordings (speakerid classify); the sequence classifiers (GRU with attention, "
                   "ResNet) read the log-mel frames themselves and learn from verified segments only. Part of the "
                   f"verified segments ({plural(n_ver, 'segment')} of {plural(n_spk, 'speaker')}) is held out to measure them: "
                   "top-1 / top-5 accuracy and the confusion matrix below.")
        p = self.state.session.project
        notes = []
        saved = p.get_meta("classifier")
        if saved:
            notes.append(f"Saved embedding classifier: {saved.get('kind')} on {saved.get('n_train', 0):,} segments "
                         f"of {len(saved.get('speakers', []))} speakers.")
        for kind in SEQ_KINDS:
            seq = p.get_meta(f"seq_classifier_{kind}")
            if seq:
                notes.append(f"Saved {kind} classifier: {seq.get('n_train', 0) + seq.get('n_val', 0):,} verified "
                             f"segments of {len(seq.get('speakers', []))} speakers, {seq.get('epochs', '?')} epochs.")
        dialog = ClassifierDialog(summary, " ".join(notes), self.window)
        dialog.job = None
        dialog.train_requested.connect(lambda o: self.train_classifier(
            o["model"] if o["kind"] == "embedding" else o["kind"], o["source"], dialog,
            center_loss=o["center_loss"], epochs=o["epochs"]))
        dialog.cancel_requested.connect(lambda: dialog.job is not None and dialog.job.cancel())
        self.open_dialog(dialog)
        return dialog

    def _too_few_verified(self) -> str:
        """Why a sequence classifier cannot be trained yet ("" when it can)."""
        p = self.state.session.project
        ok = p.verified & ~p.noise & (p.cluster != NOISE)
        _, counts = np.unique(p.cluster[ok], return_counts=True)
        enough = int((counts >= SEQ_MIN_VERIFIED).sum())
        if enough >= 2:
            return ""
        return (f"Too few verified segments for a sequence classifier: it learns from verified labels only and "
                f"needs at least {SEQ_MIN_VERIFIED} verified segments of each of two speakers or more. So far: "
                f"{int(ok.sum()):,} verified segments of {len(counts)} speakers ({enough} with {SEQ_MIN_VERIFIED} "
                "or more). Verify clusters (V) or selected segments (Shift+V), then train again.")

    def train_classifier(self, kind: str = "logreg", source: str = "clusters", dialog: ClassifierDialog | None = None,
                         center_loss: float = 0.0, epochs: int = 30):
        """kind: logreg | rf | mlp (on the embeddings, from `source` labels) or lstm | resnet (sequence
        classifiers on log-mel frames, verified labels only; center_loss and epochs are theirs)."""
        if not self._learning_ready():
            return None
        folder = self.state.session.project.folder
        if kind in SEQ_KINDS:
            why = self._too_few_verified()
            if why:
                self.status.showMessage(why, 15000)
                if dialog is not None:
                    dialog.set_failed(why)
                else:
                    self.show_error(why)
                return None
            job = Job("classifier", learning_jobs.sequence_classifier_job, folder, kind, float(center_loss),
                      int(epochs), parent=self)
        else:
            job = Job("classifier", learning_jobs.classifier_job, folder, kind, source, parent=self)
        if dialog is not None:
            dialog.job = job
            dialog.set_busy(f"Training ({kind})…")
            job.progress.connect(lambda ev: dialog.set_busy(f"{ev.message}…"))
            job.succeeded.connect(dialog.set_outcome)
            job.failed.connect(lambda msg: dialog.set_failed(f"Training failed: {msg}"))
            job.was_cancelled.connect(lambda: dialog.set_failed("Cancelled: nothing was saved."))

        def done(outcome):
            ev = outcome.evaluation
            score = (f"top-1 {ev['top1']:.1%}, top-5 {ev['top5']:.1%} on {ev['n_test']} held-out verified segments"
                     if ev else f"not evaluated ({outcome.not_evaluated})")
            self.status.showMessage(f"Classifier ({kind}) trained and saved: {score}.", 15000)

        job.succeeded.connect(done)
        job.was_cancelled.connect(lambda: self.status.showMessage(
            f"Classifier ({kind}) training cancelled: nothing saved.", 8000))
        if dialog is None:
            job.failed.connect(lambda msg: self.show_error(f"Training the classifier failed: {msg}"))
        self._start_learning_job(job)
        return job

    # ---- the prosody RNN (an embedding backend trained on this project) ------------------------------------
    def ask_prosody(self):
        """The prosody RNN dialog: the last training's loss curve if there is one; Train starts a job."""
        if self.state.session is None:
            return None
        from speakerid_gui.core.embed import prosody_rnn

        p = self.state.session.project
        intro = ("A small GRU over each segment's pitch and energy curves, trained on this project's own "
                 f"{p.n_segments:,} segments without labels: two randomly altered copies of a segment (noise, "
                 "masking, time warping, pitch shift) must come out close, other segments far (NT-Xent loss, "
                 "plotted per epoch).<p>" + PROSODY_USE)
        meta = p.get_meta(prosody_rnn.META_KEY) or {}
        losses = prosody_rnn.loss_curve(p)
        last = (f"Last training: {len(losses)} epochs on {meta.get('n_segments', 0):,} segments in "
                f"{meta.get('seconds', 0):.0f} s, final loss {losses[-1]:.3f}. Train again to replace it."
                if losses else "")
        dialog = ProsodyDialog(intro, PROSODY_EPOCHS, losses, last, self.window)
        dialog.intro.setTextFormat(Qt.TextFormat.RichText)
        dialog.job = None
        dialog.train_requested.connect(lambda epochs: self.train_prosody(epochs, dialog))
        dialog.cancel_requested.connect(lambda: dialog.job is not None and dialog.job.cancel())
        self.open_dialog(dialog)
        return dialog

    def train_prosody(self, epochs: int = PROSODY_EPOCHS, dialog: ProsodyDialog | None = None):
        """Train the prosody RNN in a job (Cancel between batches writes nothing)."""
        if not self._learning_ready():
            if dialog is not None and self.state.session is not None:
                dialog.message.setText("Wait for the running analysis or learning job to finish.")
            return None
        p = self.state.session.project
        if p.n_segments < 4:
            why = "The prosody RNN needs an analysed project (at least 4 segments)."
            self.status.showMessage(why, 8000)
            if dialog is not None:
                dialog.message.setText(why)
            return None
        job = Job("prosody", learning_jobs.prosody_job, p.folder, int(epochs), parent=self)

        def done(r):
            text = (f"Trained in {r.seconds:.0f} s: {r.dim}-dim prosody embeddings of {r.n_segments:,} segments "
                    f"stored (backend prosody_rnn); final loss {r.losses[-1]:.3f}.")
            self.status.showMessage(f"Prosody RNN: {text}", 15000)
            if dialog is not None:
                dialog.finish(text)

        def cancelled():
            self.status.showMessage("Prosody RNN training cancelled: nothing was written.", 8000)
            if dialog is not None:
                dialog.finish("Cancelled: nothing was written (a previous model, if any, is kept).")

        def failed(msg):
            if dialog is not None:
                dialog.finish(f"Training failed: {msg}")
            self.show_error(f"Training the prosody RNN failed: {msg}")

        if dialog is not None:
            dialog.job = job
            dialog.start(int(epochs))
            job.progress.connect(dialog.update_progress)
        job.succeeded.connect(done)
        job.was_cancelled.connect(cancelled)
        job.failed.connect(failed)
        self._start_learning_job(job)
        return job
