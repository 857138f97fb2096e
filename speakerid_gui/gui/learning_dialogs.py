"""Dialogs of the Learn menu: refinement and the prosody RNN (progress, loss curves, Cancel) and
the speaker classifier (embedding or sequence classifier, top-1 / top-5 on held-out verified
segments, confusion matrix).
They draw what the window's jobs send them and emit what the user asks for."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

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
        axis.enableAutoSIPrefix(False)  # no "(x0.001)" after the label
    return plot


# ---- training with a loss curve: refinement, prosody RNN ---------------------------------------------
class TrainingDialog(QDialog):
    """Progress of one training in a job: a bar of epochs, loss curves per epoch, Cancel.

    curves: (legend, colour) per loss; `history` holds (epoch, loss, ...) rows in that order.
    Subclasses say what an epoch line and the end read like."""

    cancel_requested = Signal()
    non_modal = True  # the window opens it with show(): the review goes on while it trains

    def __init__(self, title: str, intro: str, epochs: int, curves: list[tuple[str, str]], parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.running = False
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.bar = QProgressBar()
        self.max_epochs = max(1, epochs)
        self.bar.setRange(0, self.max_epochs)
        self.bar.setValue(0)
        self.bar.setFormat("epoch %v of at most %m")
        self.plot = _plot("epoch", "loss")
        self.plot.addLegend(offset=(-10, 10), labelTextColor="#333")
        self.curves = [self.plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5,
                                      symbolBrush=colour, symbolPen=None, name=legend)
                       for legend, colour in curves]
        self.plot.setMinimumHeight(220)
        self.message = QLabel("Starting…")
        self.message.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.accept)
        self.buttons = QHBoxLayout()  # the message on its own row: it is a sentence or two
        self.buttons.addStretch(1)
        self.buttons.addWidget(self.cancel_button)
        self.buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.bar)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.message)
        layout.addLayout(self.buttons)
        self.history: list = []
        self.resize(560, 440)
        self.set_running(True)

    def set_running(self, running: bool):
        self.running = running
        self.cancel_button.setEnabled(running)
        self.cancel_button.setText("Cancel")
        self.close_button.setEnabled(not running)

    def set_history(self, history: list):
        self.history = list(history)
        epochs = [h[0] for h in self.history]
        for k, curve in enumerate(self.curves, 1):
            curve.setData(epochs, [h[k] for h in self.history])

    def epoch_text(self, last) -> str:
        return f"epoch {last[0]}: loss {last[1]:.3f}"

    def update_progress(self, event):
        """An event with stage, done, message and (optionally) the whole history so far."""
        if getattr(event, "history", None):
            self.set_history(event.history)
        if event.stage == "train":
            self.bar.setValue(int(event.done))
            if self.history:
                self.message.setText(self.epoch_text(self.history[-1]))
        elif event.message:
            self.message.setText(event.message)

    def finish(self, text: str):
        self.set_running(False)
        if self.history:
            self.bar.setRange(0, max(self.history[-1][0], 1))
            self.bar.setValue(self.history[-1][0])
            self.bar.setFormat("%v epochs")
        self.message.setText(text)

    def cancel(self):
        if self.running:
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
            self.message.setText("Cancelling…")
            self.cancel_requested.emit()

    def reject(self):
        """Esc or the window's close button: cancel a running training first (nothing is written)."""
        if self.running:
            self.cancel()
            return
        super().reject()


class RefineDialog(TrainingDialog):
    """Refinement: training and held-out loss per epoch; it stops early."""

    def __init__(self, intro: str, epochs: int, parent=None):
        super().__init__("Refine embeddings", intro, epochs, [("training (triplet + NT-Xent)", "#1f77b4"),
                                                             ("held-out verified (prototype cross-entropy)", "#d62728")], parent)
        self.train_curve, self.val_curve = self.curves

    def epoch_text(self, last) -> str:
        return (f"epoch {last[0]}: training loss {last[1]:.3f}, held-out {last[2]:.3g} "
                "(stops when the held-out loss stops falling)")

    def finish(self, text: str):
        super().finish(text)
        if self.history and self.history[-1][0] < self.max_epochs:
            self.bar.setFormat("%v epochs (stopped early: no more gain on held-out segments)")


class ProsodyDialog(TrainingDialog):
    """The prosody RNN: epochs to train, Train, the NT-Xent loss per epoch (live, or of the last
    training when opened later), Cancel."""

    train_requested = Signal(int)  # epochs

    def __init__(self, intro: str, epochs: int = 30, last: list[float] | None = None, last_text: str = "",
                 parent=None):
        super().__init__("Train prosody RNN", intro, epochs, [("NT-Xent between augmented views", "#1f77b4")],
                         parent)
        self.loss_curve = self.curves[0]
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setValue(epochs)
        self.epochs.setSuffix(" epochs")
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(lambda: self.train_requested.emit(self.epochs.value()))
        self.buttons.insertWidget(0, QLabel("Train for"))
        self.buttons.insertWidget(1, self.epochs)
        self.buttons.insertWidget(2, self.train_button)
        self.set_running(False)
        if last:
            self.set_history([(k, loss) for k, loss in enumerate(last, 1)])
            self.finish(last_text or f"Last training: {len(last)} epochs, final loss {last[-1]:.3f}.")
            self.bar.setFormat("last training: %v epochs")
        else:
            self.bar.setFormat("not trained yet")
            self.message.setText(last_text or "Not trained yet: choose the epochs and press Train.")
        self.resize(600, 480)

    def set_running(self, running: bool):
        super().set_running(running)
        if hasattr(self, "train_button"):
            self.train_button.setEnabled(not running)
            self.epochs.setEnabled(not running)

    def start(self, epochs: int):
        """A training job started: a fresh curve and bar."""
        self.set_running(True)
        self.max_epochs = epochs
        self.set_history([])
        self.bar.setRange(0, epochs)
        self.bar.setValue(0)
        self.bar.setFormat("epoch %v of %m")
        self.message.setText("Reading pitch and energy curves…")

    def epoch_text(self, last) -> str:
        return f"epoch {last[0]} of {self.max_epochs}: NT-Xent loss {last[1]:.3f}"


# ---- classifier ------------------------------------------------------------------------------------
KINDS = [("Embedding classifier (on the segment embeddings)", "embedding"),
         ("GRU with attention (log-mel frames)", "lstm"),
         ("ResNet (narrow ResNet-18 on log-mel)", "resnet")]
MODELS = [("Logistic regression", "logreg"), ("Random forest", "rf"), ("MLP (one hidden layer)", "mlp")]
SOURCES = [("All cluster labels (pseudo-labels)", "clusters"), ("Verified segments only", "verified")]
CENTER_LOSS = 0.1  # weight of the contrastive-center loss when ticked (as benchmarks/seed_models.py)
SEQ_EPOCHS = 30


def confusion_view(conf: np.ndarray, labels: list[str],
                   unknown: bool = True) -> tuple[np.ndarray, list[str], list[str]]:
    """The part of a confusion matrix worth drawing: true speakers with held-out segments as rows;
    the same speakers first as columns (the diagonal stays the diagonal), then any other
    predicted speaker, then "unknown" (the core's last column; left out with unknown=False,
    for the closed-set sequence classifiers that never say it)."""
    conf = np.asarray(conf)
    n = conf.shape[0]
    rows = [i for i in range(n) if conf[i].sum() > 0]
    extra = [j for j in range(n) if j not in rows and conf[:, j].sum() > 0]
    cols = rows + extra + ([n] if unknown else [])
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
        # until there is a matrix, a sentence instead of empty axes running from -0.5 to 0.5
        self.placeholder = QLabel("The confusion matrix of the held-out segments appears here after training.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #777;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        layout.addWidget(self.placeholder)
        self.plot.hide()

    def set_matrix(self, matrix: np.ndarray, row_labels: list[str], col_labels: list[str]):
        self.matrix = np.asarray(matrix)
        self.row_labels, self.col_labels = list(row_labels), list(col_labels)
        for t in self.texts:
            self.plot.removeItem(t)
        self.texts = []
        nr, nc = self.matrix.shape
        self.plot.setVisible(nr > 0)
        self.placeholder.setVisible(nr == 0)
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
    """Train a speaker classifier (on embeddings, or a sequence classifier on log-mel frames) and see
    how it does on held-out verified segments."""

    train_requested = Signal(dict)   # {"kind", "model", "source", "center_loss", "epochs"}
    cancel_requested = Signal()
    non_modal = True  # training can take minutes: the review goes on meanwhile

    def __init__(self, summary: str, saved: str = "", parent=None):
        super().__init__(parent)
        self.setWindowTitle("Speaker classifier")
        self.kind = QComboBox()
        for text, kind in KINDS:
            self.kind.addItem(text, kind)
        self.model = QComboBox()
        for text, kind in MODELS:
            self.model.addItem(text, kind)
        self.source = QComboBox()
        for text, source in SOURCES:
            self.source.addItem(text, source)
        self.center_loss = QCheckBox("contrastive-center loss (pulls each speaker's segments together)")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setValue(SEQ_EPOCHS)
        self.epochs.setSuffix(" at most (stops early)")
        self.train_button = QPushButton("Train and evaluate")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(lambda: self.train_requested.emit(self.options()))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.form = QFormLayout()
        self.form.addRow("Classifier", self.kind)
        self.form.addRow("Model", self.model)
        self.form.addRow("Train on", self.source)
        self.form.addRow("Loss", self.center_loss)
        self.form.addRow("Epochs", self.epochs)
        self.intro = QLabel(summary)
        self.intro.setWordWrap(True)
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
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(self.form)
        layout.addWidget(self.scores)
        layout.addWidget(self.confusion, 1)
        layout.addLayout(buttons)
        self.outcome = None
        self.busy = False
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()
        self.resize(660, 700)

    def _kind_changed(self, _=None):
        """Embedding: a model and a label source. Sequence kinds: verified labels, center loss, epochs."""
        sequence = self.kind.currentData() != "embedding"
        self.model.setEnabled(not sequence)
        self.source.setEnabled(not sequence)
        if sequence:
            self.source.setCurrentIndex(self.source.findData("verified"))
        self.center_loss.setEnabled(sequence)
        self.epochs.setEnabled(sequence)

    def options(self) -> dict:
        sequence = self.kind.currentData() != "embedding"
        return {"kind": self.kind.currentData(), "model": self.model.currentData(),
                "source": "verified" if sequence else self.source.currentData(),
                "center_loss": CENTER_LOSS if sequence and self.center_loss.isChecked() else 0.0,
                "epochs": self.epochs.value()}

    def _set_busy(self, busy: bool):
        self.busy = busy
        self.train_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.cancel_button.setText("Cancel")

    def set_busy(self, text: str):
        self._set_busy(True)
        self.scores.setText(text)

    def set_failed(self, text: str):
        self._set_busy(False)
        self.scores.setText(text)

    def cancel(self):
        if self.busy:
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
            self.cancel_requested.emit()

    def reject(self):
        """Esc or the close button while training: cancel first."""
        if self.busy:
            self.cancel()
            return
        super().reject()

    def set_outcome(self, outcome):
        """A learning_jobs.ClassifierOutcome."""
        self.outcome = outcome
        self._set_busy(False)
        names = dict((k, t) for t, k in MODELS + KINDS)
        model = names.get(outcome.kind, outcome.kind)
        sequence = outcome.threshold is None
        if sequence:
            info = outcome.info
            saved = (f"Saved in the project ({outcome.path}): {model}, {outcome.n_train:,} verified segments of "
                     f"{outcome.n_speakers} speakers, {info.get('epochs', '?')} epochs"
                     f"{', contrastive-center loss' if info.get('center_loss') else ''}. It names one of these "
                     "speakers for every segment (no \"unknown\"); speakerid classify uses the embedding classifier.")
        else:
            saved = (f"Saved in the project ({outcome.path}): {model}, {outcome.n_train:,} segments of "
                     f"{outcome.n_speakers} speakers; a segment below cosine {outcome.threshold:.2f} to every "
                     "speaker is \"unknown\". Label new audio with: speakerid classify PROJECT AUDIO_DIR --out labels.csv")
        ev = outcome.evaluation
        if ev is None:
            self.scores.setText(f"Not evaluated: {outcome.not_evaluated}. Verify segments of several speakers (V) "
                                f"to measure it.\n{saved}")
            self.confusion.set_matrix(np.zeros((0, 0)), [], [])
            return
        unknown = "" if sequence else f"; {ev['unknown_rate']:.0%} called unknown"
        baseline = ""
        if outcome.baseline is not None:
            b = outcome.baseline
            baseline = (f" (logistic regression on the embeddings, same segments: top-1 {b['top1']:.1%}, "
                        f"top-5 {b['top5']:.1%})")
        self.scores.setText(f"Held-out verified segments: top-1 {ev['top1']:.1%}, top-5 {ev['top5']:.1%} on "
                            f"{ev['n_test']} segments{unknown}{baseline}.\n{saved}")
        self.confusion.set_matrix(*confusion_view(ev["confusion"], ev["labels"], unknown=not sequence))
