"""Dialogs of the Learn menu: refinement (progress, loss curves, Cancel) and the speaker
classifier (model choice, top-1 / top-5 on held-out verified segments, confusion matrix).
They draw what the window's jobs send them and emit what the user asks for."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (QComboBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

CELL_TEXT_MAX = 400   # counts are written in the cells up to this many cells
TICKS_MAX = 60        # beyond this many speakers the axes name every k-th one


def _plot(bottom: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setMenuEnabled(False)
    for name, text in (("bottom", bottom), ("left", left)):
        axis = plot.getAxis(name)
        axis.setLabel(text, color="#333")
        axis.setPen("#666")
        axis.setTextPen("#333")
    return plot


# ---- refinement ------------------------------------------------------------------------------------
class RefineDialog(QDialog):
    """Progress of one refinement: epochs done, train and held-out loss per epoch, Cancel."""

    cancel_requested = Signal()

    def __init__(self, intro: str, epochs: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Refine embeddings")
        self.running = False
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, max(1, epochs))
        self.bar.setValue(0)
        self.bar.setFormat("epoch %v of at most %m")
        self.max_epochs = max(1, epochs)
        self.plot = _plot("epoch", "loss")
        self.plot.addLegend(offset=(-10, 10))
        self.train_curve = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2), name="training (triplet + NT-Xent)")
        self.val_curve = self.plot.plot([], [], pen=pg.mkPen("#d62728", width=2), name="held-out verified (triplet)")
        self.plot.setMinimumHeight(220)
        self.message = QLabel("Starting…")
        self.message.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.bar)
        layout.addWidget(self.plot, 1)
        layout.addLayout(buttons)
        self.history: list = []
        self.resize(560, 440)
        self.set_running(True)

    def set_running(self, running: bool):
        self.running = running
        self.cancel_button.setEnabled(running)
        self.close_button.setEnabled(not running)

    def update_progress(self, event):
        """A RefineProgress (learning_jobs) or a plain pipeline Event."""
        if getattr(event, "history", None):
            self.history = event.history
            epochs = [h[0] for h in self.history]
            self.train_curve.setData(epochs, [h[1] for h in self.history])
            self.val_curve.setData(epochs, [h[2] for h in self.history])
        if event.stage == "train":
            self.bar.setValue(int(event.done))
            last = self.history[-1] if self.history else None
            if last:
                self.message.setText(f"epoch {last[0]}: training loss {last[1]:.3f}, held-out {last[2]:.3f} "
                                     "(stops when the held-out loss stops falling)")
        elif event.message:
            self.message.setText(event.message)

    def finish(self, text: str):
        self.set_running(False)
        if self.history:
            self.bar.setRange(0, self.history[-1][0])
            self.bar.setValue(self.history[-1][0])
            early = self.history[-1][0] < self.max_epochs
            self.bar.setFormat("%v epochs" + (" (stopped early: no more gain on held-out segments)" if early else ""))
        self.message.setText(text)

    def cancel(self):
        if self.running:
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
            self.message.setText("Cancelling after the current epoch…")
            self.cancel_requested.emit()

    def reject(self):
        """Esc or the window's close button: cancel a running refinement first (nothing is written)."""
        if self.running:
            self.cancel()
            return
        super().reject()


# ---- classifier ------------------------------------------------------------------------------------
MODELS = [("Logistic regression", "logreg"), ("Random forest", "rf"), ("MLP (one hidden layer)", "mlp")]
SOURCES = [("All cluster labels (pseudo-labels)", "clusters"), ("Verified segments only", "verified")]


def confusion_view(conf: np.ndarray, labels: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """The part of a confusion matrix worth drawing: true speakers with held-out segments as rows;
    the same speakers first as columns (the diagonal stays the diagonal), then any other
    predicted speaker, then "unknown" (the core's last column)."""
    conf = np.asarray(conf)
    n = conf.shape[0]
    rows = [i for i in range(n) if conf[i].sum() > 0]
    extra = [j for j in range(n) if j not in rows and conf[:, j].sum() > 0]
    cols = rows + extra + [n]
    return conf[np.ix_(rows, cols)], [labels[i] for i in rows], [labels[j] for j in cols]


class ConfusionPlot(QWidget):
    """Rows: true speaker; columns: predicted. Colour: share of the row; text: counts."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = _plot("predicted speaker", "true speaker")
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.invertY(True)  # row 0 at the top, as a matrix is read
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("CET-L12"))  # light to dark blue: counts stay readable
        self.plot.addItem(self.image)
        self.texts: list[pg.TextItem] = []
        self.matrix = np.zeros((0, 0), np.int64)
        self.row_labels: list[str] = []
        self.col_labels: list[str] = []
        self.bottom_ticks: list = []
        self.left_ticks: list = []
        self.numbered = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def set_matrix(self, matrix: np.ndarray, row_labels: list[str], col_labels: list[str]):
        self.matrix = np.asarray(matrix)
        self.row_labels, self.col_labels = list(row_labels), list(col_labels)
        for t in self.texts:
            self.plot.removeItem(t)
        self.texts = []
        nr, nc = self.matrix.shape
        if nr == 0:
            self.image.clear()
            return
        share = self.matrix / np.maximum(self.matrix.sum(axis=1, keepdims=True), 1)
        self.image.setImage(share.astype(np.float32), levels=(0.0, 1.0))
        self.image.setRect(0, 0, nc, nr)
        if nr * nc <= CELL_TEXT_MAX:
            for i in range(nr):
                for j in range(nc):
                    if self.matrix[i, j] == 0:
                        continue
                    color = "w" if share[i, j] > 0.55 else "#222"
                    t = pg.TextItem(str(int(self.matrix[i, j])), color=color, anchor=(0.5, 0.5))
                    t.setPos(j + 0.5, i + 0.5)
                    self.plot.addItem(t)
                    self.texts.append(t)
        self.plot.setRange(xRange=(0, nc), yRange=(0, nr), padding=0.02)
        self._apply_ticks()

    def _apply_ticks(self):
        """Speaker names on both axes; numbers on the bottom (keyed on the left) when names would collide."""
        nr, nc = self.matrix.shape if self.matrix.size else (0, 0)
        if nr == 0:
            return
        step_r, step_c = max(1, nr // TICKS_MAX + (nr % TICKS_MAX > 0)), max(1, nc // TICKS_MAX + (nc % TICKS_MAX > 0))
        metrics = QFontMetrics(QFont())
        cell = max(1.0, self.plot.getViewBox().width() / max(nc, 1)) if self.plot.getViewBox().width() > 0 else 60.0
        widest = max(metrics.horizontalAdvance(s) for s in self.col_labels[::step_c])
        numbered = widest + 8 > cell * step_c
        bottom = [(j + 0.5, str(j + 1) if numbered and j < nc - 1 else ("?" if numbered else self.col_labels[j]))
                  for j in range(0, nc, step_c)]
        left = [(i + 0.5, f"{i + 1} {self.row_labels[i]}" if numbered else self.row_labels[i])
                for i in range(0, nr, step_r)]
        self.plot.getAxis("bottom").setTicks([bottom])
        self.plot.getAxis("left").setTicks([left])
        self.bottom_ticks, self.left_ticks = bottom, left
        self.plot.getAxis("bottom").setLabel("predicted speaker" + (" (numbers as on the left; ? unknown)"
                                                                    if numbered else ""), color="#333")
        self.numbered = numbered

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._apply_ticks()


class ClassifierDialog(QDialog):
    """Train the speaker classifier for new audio, see how it does on held-out verified segments."""

    train_requested = Signal(str, str)   # model kind, training source

    def __init__(self, summary: str, saved: str = "", parent=None):
        super().__init__(parent)
        self.setWindowTitle("Speaker classifier")
        self.model = QComboBox()
        for text, kind in MODELS:
            self.model.addItem(text, kind)
        self.source = QComboBox()
        for text, source in SOURCES:
            self.source.addItem(text, source)
        self.train_button = QPushButton("Train and evaluate")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(lambda: self.train_requested.emit(self.model.currentData(),
                                                                            self.source.currentData()))
        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("Train on", self.source)
        intro = QLabel(summary)
        intro.setWordWrap(True)
        self.scores = QLabel(saved or "Not trained yet.")
        self.scores.setWordWrap(True)
        self.scores.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.confusion = ConfusionPlot()
        self.confusion.setMinimumHeight(320)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.scores)
        layout.addWidget(self.confusion, 1)
        layout.addLayout(buttons)
        self.outcome = None
        self.resize(640, 640)

    def set_busy(self, text: str):
        self.train_button.setEnabled(False)
        self.scores.setText(text)

    def set_failed(self, text: str):
        self.train_button.setEnabled(True)
        self.scores.setText(text)

    def set_outcome(self, outcome):
        """A learning_jobs.ClassifierOutcome."""
        self.outcome = outcome
        self.train_button.setEnabled(True)
        model = dict((k, t) for t, k in MODELS).get(outcome.kind, outcome.kind)
        saved = (f"Saved in the project ({outcome.path}): {model}, {outcome.n_train:,} segments of "
                 f"{outcome.n_speakers} speakers; a segment below cosine {outcome.threshold:.2f} to every "
                 "speaker is \"unknown\". Label new audio with: speakerid classify PROJECT AUDIO_DIR --out labels.csv")
        ev = outcome.evaluation
        if ev is None:
            self.scores.setText(f"Not evaluated: {outcome.not_evaluated}. Verify segments of several speakers (V) "
                                f"to measure it.\n{saved}")
            self.confusion.set_matrix(np.zeros((0, 0)), [], [])
            return
        self.scores.setText(f"Held-out verified segments: top-1 {ev['top1']:.1%}, top-5 {ev['top5']:.1%} on "
                            f"{ev['n_test']} segments; {ev['unknown_rate']:.0%} called unknown.\n{saved}")
        self.confusion.set_matrix(*confusion_view(ev["confusion"], ev["labels"]))
