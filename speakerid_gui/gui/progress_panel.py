"""A bar per pipeline stage, the latest message and Cancel."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

STAGES = ("scan", "analyse", "cluster", "layout")
TITLES = {"scan": "Find files", "analyse": "Speech, segments, embeddings", "cluster": "Cluster",
          "layout": "2-D layout"}


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
            bar.setRange(0, 1)
            bar.setValue(0)
            bar.setTextVisible(True)
            self.bars[stage] = bar
            grid.addWidget(bar, 1, col)
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

    def reset(self):
        for bar in self.bars.values():
            bar.setRange(0, 1)
            bar.setValue(0)
        self.message.setText("Starting…")
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")

    def update_event(self, event):
        bar = self.bars.get(event.stage)
        if bar is not None:
            stages = list(STAGES)
            for earlier in stages[:stages.index(event.stage)]:  # a stage begins only after the ones before it
                self.mark_done(earlier)
            if event.done > 0 and event.total:
                bar.setRange(0, int(event.total))
                bar.setValue(int(min(event.done, event.total)))
            elif bar.maximum() <= 1 and bar.value() <= 0:
                # busy: nothing counted yet (the first batch of recordings is still being
                # analysed) or a one-step stage (clustering, UMAP) with no finer progress
                bar.setRange(0, 0)
        if event.message:
            self.message.setText(f"{event.stage}: {event.message}")

    def mark_done(self, stage: str):
        bar = self.bars.get(stage)
        if bar is not None:
            bar.setRange(0, max(bar.maximum(), 1))
            bar.setValue(bar.maximum())

    def _cancel(self):
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.message.setText("Cancelling after the current batch…")
        self.cancel_requested.emit()
