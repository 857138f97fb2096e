"""Background jobs: heavy work runs in a QThread; results, progress and errors come back
as queued signals. Progress is throttled (at most 5 signals a second) because a flood
of cross-thread emits buys nothing and costs the GUI thread time (benchmarks/app_analysis.py
measures the window's thread while a worker analyses).
"""
from __future__ import annotations

import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from PySide6.QtCore import QThread, Signal

from speakerid_gui.core.progress import Cancelled

_THREADS: dict[str, ThreadPoolExecutor] = {}


def plain_thread(name: str) -> ThreadPoolExecutor:
    """One plain Python worker thread per name, made on first use, for jobs that start by
    themselves (re-ranking, relearning) and only read their own Project connection: nothing
    need wait for them, and no QThread can be destroyed under them when a window goes away.
    Results come back as queued signals."""
    if name not in _THREADS:
        _THREADS[name] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    return _THREADS[name]

MIN_INTERVAL = 0.2  # s between two progress signals (a bar needs no more than 5 updates a second)


class Job(QThread):
    """Runs fn(job, *args) once in its own thread.

    fn may call job.report(event) for progress, job.partial(payload) for results that
    exist before the end, and job.cancelled() to stop early (raise core Cancelled).
    """

    progress = Signal(object)
    partial_result = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    was_cancelled = Signal()

    def __init__(self, name: str, fn: Callable, *args, parent=None):
        super().__init__(parent)
        self.name = name
        self.fn = fn
        self.args = args
        self._cancel = False
        self._last_emit = 0.0
        self._pending = None
        self.outcome: str | None = None  # "ok" | "failed" | "cancelled" once finished
        self.error: str | None = None

    def cancel(self):
        self._cancel = True

    def cancelled(self) -> bool:
        return self._cancel

    def report(self, event, force: bool = False):
        """Send progress unless one went out less than MIN_INTERVAL ago (the latest is kept)."""
        now = time.monotonic()
        if force or now - self._last_emit >= MIN_INTERVAL:
            self._last_emit = now
            self._pending = None
            self.progress.emit(event)
        else:
            self._pending = event

    def partial(self, payload):
        self.partial_result.emit(payload)

    def run(self):
        try:
            result = self.fn(self, *self.args)
        except Cancelled:
            self.outcome = "cancelled"
            self.was_cancelled.emit()
            return
        except Exception as exc:
            self.outcome, self.error = "failed", describe(exc)
            traceback.print_exc()
            self.failed.emit(self.error)
            return
        if self._pending is not None:  # the last throttled event, so bars end where the work ended
            self.progress.emit(self._pending)
        self.outcome = "ok"
        self.succeeded.emit(result)


def describe(exc: BaseException) -> str:
    """One line for the user. Core errors already name their file; others get the file
    from the exception (filename) when there is one."""
    text = str(exc).strip() or type(exc).__name__
    filename = getattr(exc, "filename", None)
    if filename and str(filename) not in text:
        text = f"{filename}: {text}"
    return text
