"""The reviewer's answers to suggestions, a controller of the main window beside the review queue:
"different speakers" (Shift+Y), skips that stay skipped, and relearning in the background
after every answer or correction.

What is said is kept by the core (core/project/constraints.py) in the project, so it survives a
restart and every learner respects it. After each human edit or answer the unverified rest
is relabelled by learn.constrained.relearn in a worker thread on its own connection (under a
second at 10k segments; benchmarks/review.py prints it); the result
comes back as one EditLog.relabel through the window's log (one undoable edit) and the queue
re-ranks after it, as after any edit.

Given: the ReviewState (session, label version, the running analysis and learning job), the
status bar, `edit` (the edit controller's guarded EditLog call) and `closing` (True once the
window waits for its jobs to close). The suggestion answered is passed to each method by the
review queue, which owns the suggestions.
"""
from __future__ import annotations

from concurrent.futures import Future

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from speakerid_gui.core.project import constraints
from speakerid_gui.gui import learning_jobs
from speakerid_gui.gui.workers import describe, plain_thread

RELEARN_AFTER_MS = 300                      # after the last of a burst of edits
HUMAN_EDITS = {"merge", "split", "move", "verify", "noise", "rename", "answer"}


class _Delivery(QObject):
    done = Signal(object)  # (session, Relabelling or None, error text)


def _relearn(delivery: _Delivery, folder, session, serial: int):
    try:
        payload = (session, learning_jobs.relearn_job(None, folder, serial), "")
    except Exception as exc:  # noqa: BLE001  (e.g. no embeddings yet: said in the status bar)
        payload = (session, None, describe(exc))
    delivery.done.emit(payload)


class ReviewAnswers(QObject):
    def __init__(self, state, status, edit, closing, parent=None):
        super().__init__(parent)
        self.state, self.status, self.edit, self.closing = state, status, edit, closing
        self.auto_relearn = True                 # Learn ▸ Relearn after each answer or correction
        self.relearn_job: Future | None = None   # the running relearning (a plain worker thread)
        self.relearn_runs = 0                    # relearnings delivered (each at most one edit)
        self._answered: set[tuple] = set()       # suggestions acted on or answered this session
        self._relearn_pending = False
        self._relearn_delivery = None
        self._relearn_timer = QTimer(self)
        self._relearn_timer.setSingleShot(True)
        self._relearn_timer.setInterval(RELEARN_AFTER_MS)
        self._relearn_timer.timeout.connect(self._start_relearn)

    def set_auto_relearn(self, on: bool):
        self.auto_relearn = bool(on)

    def project_opened(self):
        self._answered.clear()
        self._relearn_timer.stop()
        self._relearn_pending = False

    def learning_idle(self):
        """A learning job ended: an answer that came while it ran relearns now."""
        if self._relearn_pending:
            self._relearn_timer.start()

    # ---- answers -----------------------------------------------------------------------------------
    @staticmethod
    def key(s) -> tuple:
        return s.kind, tuple(int(c) for c in s.cluster_ids), tuple(int(i) for i in s.segment_positions)

    def mark_answered(self, s):
        self._answered.add(self.key(s))

    def answer_different(self, s) -> bool:
        """The two segments of the pair `s` (the current suggestion) are different speakers:
        remembered in the project; the pair is never proposed again. True if noted."""
        if s is None or s.kind not in ("pair", "mixed") or len(s.segment_positions) < 2:
            self.status.showMessage("Shift+Y answers a \"same speaker?\" or \"two speakers?\" suggestion: "
                                         "press G to go to one first.", 6000)
            return False
        p = self.state.session.project
        if p.read_only:
            self.status.showMessage("This project is open read-only: answers are not kept.", 6000)
            return False
        i, j = (int(x) for x in s.segment_positions[:2])
        if s.kind == "mixed":  # "two speakers in one?" answered no is "same speaker"; yes is Y (split)
            self.status.showMessage("For a mixed cluster, Y splits it (different speakers); G skips.", 6000)
            return False
        constraints.add_cannot_link(p, i, j, _distance(self.state.session, s))
        self._answered.add(self.key(s))
        self.status.showMessage(f"Noted: {p.cluster_name(s.cluster_ids[0])} and {p.cluster_name(s.cluster_ids[1])} "
                                     "are different speakers (kept in the project; never proposed again).", 8000)
        self.on_edit("answer")
        return True

    def record_accept(self, s):
        """Y on a suggestion is an answer too: a merge says "same speaker", a split "different"."""
        p = self.state.session.project
        self._answered.add(self.key(s))
        if s.kind in ("pair", "mixed") and len(s.segment_positions) >= 2:
            i, j = (int(x) for x in s.segment_positions[:2])
            constraints.answer_pair(p, i, j, s.kind == "pair", _distance(self.state.session, s))

    def skip(self, s):
        """Leaving the suggestion `s` without answering it (G): it stays skipped, across restarts too."""
        if (s is not None and self.key(s) not in self._answered and self.state.session is not None
                and not self.state.session.project.read_only):
            constraints.skip(self.state.session.project, s)

    # ---- relearning in the background ------------------------------------------------------------------
    def on_edit(self, kind: str):
        if kind in HUMAN_EDITS and self.auto_relearn:
            self._relearn_timer.start()

    def _start_relearn(self):
        if self.state.session is None or self.closing():
            return
        if self.relearn_job is not None or self.state.pipeline is not None or self.state.learning_job is not None:
            self._relearn_pending = True  # once the running one (or the analysis, or a learning job) is done
            return
        self._relearn_pending = False
        # A plain thread, not a Job (as the queue ranking): it starts by itself, so nothing need wait for it
        # and no QThread is destroyed under it when the window goes; a late result is emitted into nothing.
        delivery = _Delivery()
        delivery.done.connect(self._relearn_delivered)
        self._relearn_delivery = delivery
        self.relearn_job = plain_thread("relearn").submit(_relearn, delivery, self.state.session.project.folder, self.state.session,
                                               self.state.label_serial)

    def _relearn_delivered(self, payload):
        session, r, error = payload
        self.relearn_job = None
        if session is not self.state.session:
            return  # the project was closed (or another opened) meanwhile
        if error:
            self.status.showMessage(f"Relearning failed: {error}", 8000)
        else:
            self._relearn_done(r)
        if self._relearn_pending:
            self._relearn_timer.start()

    def _relearn_done(self, r):
        if self.state.session is None:
            return
        self.relearn_runs += 1
        if r.serial != self.state.label_serial:  # labels changed while it ran: run again on the new ones
            self._relearn_pending = True
            return
        if r.call is None:
            return
        change = self.edit(self.state.session.log.relabel, *r.call)
        if change is not None:
            self.status.showMessage(f"Relearnt from your answers: {len(change.moved):,} unverified segments changed "
                                         f"speaker ({r.note}). Ctrl+Z undoes it.", 8000)


def _distance(session, s) -> float | None:
    """Average-linkage distance of the suggestion's two clusters (or groups), for the learnt threshold."""
    from speakerid_gui.core.cluster.constrained import group_distance

    X = session.X
    if X is None:
        return None
    p = session.project
    if s.kind == "pair":
        a, b = (int(c) for c in s.cluster_ids)
        return group_distance(X, np.flatnonzero(p.cluster == a), np.flatnonzero(p.cluster == b))
    members = np.flatnonzero(p.cluster == int(s.cluster_ids[0]))
    parts = np.asarray(s.parts)
    if len(parts) != len(members):
        return None
    return group_distance(X, members[parts == 0], members[parts == 1])
