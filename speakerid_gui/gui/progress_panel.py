"""A bar per pipeline stage, the latest message and Cancel; and the banner of a partial analysis
with its Resume button.

Bars are determinate from the first event: the analysis counts files and minutes of audio (their
totals come from the file headers). One-step stages (clustering, 2-D layout) show the seconds
they have run instead of Qt's busy animation, which repaints the bar continuously and kept the
window's thread busy during long analyses.
"""
from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from speakerid_gui.core.text import plural

STAGES = ("scan", "analyse", "cluster", "layout")
TITLES = {"scan": "Find files", "analyse": "Speech, segments, embeddings", "cluster": "Cluster",
          "layout": "2-D layout"}
SCALE = 10  # analyse bar units per second of audio (a 0.1 s resolution in an int range)


class ProgressPanel(QFrame):
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.bars: dict[str, QProgressBar] = {}
        grid = QGridLayout()
        for col, stage in enumerate(STAGES):
            grid.addWidget(QLabel(TITLES[stage]), 0, col)
            bar = QProgressBar()
            bar.setTextVisible(True)
            self.bars[stage] = bar
            grid.addWidget(bar, 1, col)
        grid.setColumnStretch(1, 2)  # the analysis bar carries files and minutes
        self.message = QLabel("")
        self.message.setStyleSheet("color: #555;")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(grid)
        layout.addLayout(bottom)
        self.running: str | None = None  # a one-step stage in progress (its bar shows seconds)
        self._started = 0.0
        self._clock = QTimer(self, interval=1000)
        self._clock.timeout.connect(self._tick)
        self.reset()

    def reset(self):
        for bar in self.bars.values():
            bar.setRange(0, 1)
            bar.setValue(0)
            bar.setFormat("")
        self.message.setText("Starting…")
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.running = None
        self._clock.stop()

    def update_event(self, event):
        bar = self.bars.get(event.stage)
        if bar is not None:
            stages = list(STAGES)
            for earlier in stages[:stages.index(event.stage)]:  # a stage begins only after the ones before it
                self.mark_done(earlier)
            seconds_total = float(getattr(event, "seconds_total", 0.0) or 0.0)
            if event.stage == "analyse" and event.total and (seconds_total > 0 or event.done < event.total):
                self._show_analysis(bar, event, seconds_total)
            elif event.total and event.done >= event.total:
                self.mark_done(event.stage)
            elif event.total > 1:
                bar.setRange(0, int(event.total))
                bar.setValue(int(event.done))
                bar.setFormat("%v / %m")
            elif event.total:  # a one-step stage has begun: count its seconds
                self._start_clock(event.stage)
        if event.message:
            self.message.setText(f"{event.stage}: {event.message}")

    def _show_analysis(self, bar: QProgressBar, event, seconds_total: float):
        files = f"{event.done:,} of {plural(event.total, 'file')}"
        if seconds_total > 0:  # minutes of audio: finer than files, and what the time depends on
            bar.setRange(0, max(1, int(seconds_total * SCALE)))
            bar.setValue(int(min(event.seconds, seconds_total) * SCALE))
            bar.setFormat(f"{files} · {event.seconds / 60:.1f} of {seconds_total / 60:.1f} min")
        else:
            bar.setRange(0, int(event.total))
            bar.setValue(int(min(event.done, event.total)))
            bar.setFormat(files)

    def _start_clock(self, stage: str):
        if self.running != stage:
            self.running, self._started = stage, time.monotonic()
            self.bars[stage].setRange(0, 1)
            self.bars[stage].setValue(0)
            self._clock.start()
            self._tick()

    def _stop_clock(self, stage: str):
        if self.running == stage:
            self.running = None
            self._clock.stop()

    def _tick(self):
        if self.running is not None:
            self.bars[self.running].setFormat(f"running… {time.monotonic() - self._started:.0f} s")

    def mark_done(self, stage: str):
        bar = self.bars.get(stage)
        if bar is not None:
            self._stop_clock(stage)
            bar.setRange(0, max(bar.maximum(), 1))
            bar.setValue(bar.maximum())
            if stage != "analyse" or not bar.format():
                bar.setFormat("done")

    def _cancel(self):
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.message.setText("Cancelling…")
        self.cancel_requested.emit()


class ResumeBanner(QFrame):
    """Says that the analysis of the open project is partial, and resumes it."""

    resume_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("ResumeBanner { background: #fff4d6; }")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.resume_button = QPushButton("Resume analysis")
        self.resume_button.clicked.connect(self.resume_requested)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.text, 1)
        row.addWidget(self.resume_button)
        self.hide()

    def show_partial(self, pending: int, total: int, unfinished: bool = False):
        """pending of total recordings are not analysed yet; unfinished: an analysis stopped before
        its end (clustering or layout may be missing). Hidden when neither."""
        if pending > 0:
            self.text.setText(f"Partial analysis: {total - pending:,} of {plural(total, 'recording')} analysed, "
                              f"{pending:,} pending. What is shown covers the analysed part only.")
        elif unfinished:
            self.text.setText("The analysis stopped before its end (clusters or the 2-D layout may be "
                              "missing or out of date).")
        else:
            self.hide()
            return
        self.show()
