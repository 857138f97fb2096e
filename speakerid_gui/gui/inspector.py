"""The inspector: a cluster's representative and outlier segments, the current segment's
log-mel spectrogram (with the playing position) and pitch/energy curves of several of
the cluster's segments. It only draws; the window decides what to show and play."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QCheckBox, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from speakerid_gui.gui import melspec

PLOT_BG = "#1b1d22"
AXIS_PEN = "#9aa0a6"
SEGMENT_ROLE = Qt.ItemDataRole.UserRole
# Minimum heights (px) chosen so the whole review page fits a 1024x700 window with the
# Review-next panel open (tests/gui/test_small_window.py checks it).
LIST_MIN_HEIGHT = 56
SPECTROGRAM_MIN_HEIGHT = 110
PITCH_MIN_HEIGHT = 60
TIME_AXIS_HEIGHT = 35
SHORT_PLOT = 85          # px: below this, the pitch/energy axes say only "Hz" and "dB"


class SegmentList(QListWidget):
    """Segments of the cluster; double-click or Enter plays one."""

    play_requested = Signal(int)
    chosen = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.itemActivated.connect(lambda item: self.play_requested.emit(item.data(SEGMENT_ROLE)))
        self.currentItemChanged.connect(lambda item, _: item is not None and self.chosen.emit(item.data(SEGMENT_ROLE)))
        self.setUniformItemSizes(True)

    def set_segments(self, entries: list[tuple[int, str]]):
        self.blockSignals(True)
        self.clear()
        for index, text in entries:
            item = QListWidgetItem(text)
            item.setData(SEGMENT_ROLE, int(index))
            self.addItem(item)
        self.blockSignals(False)

    def mark(self, index: int | None):
        """Highlight the row of the current segment (if listed) without emitting."""
        self.blockSignals(True)
        self.setCurrentRow(-1)
        for row in range(self.count()):
            if self.item(row).data(SEGMENT_ROLE) == index:
                self.setCurrentRow(row)
                break
        self.blockSignals(False)


class SpectrogramView(pg.PlotWidget):
    """Log-mel image: time in s along x, a Hz/kHz axis on mel-spaced rows, fixed levels."""

    def __init__(self, parent=None):
        super().__init__(parent, background=PLOT_BG)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("inferno"))
        self.addItem(self.image)
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#7cf0ff", width=2))
        self.cursor.setZValue(10)
        self.cursor.hide()
        self.addItem(self.cursor, ignoreBounds=True)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        _style_axes(self, "Time (s)", "Frequency")
        self._ticks = melspec.frequency_ticks()
        self.getAxis("left").setTicks(self._ticks)
        self.duration = 0.0

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if event is not None and hasattr(self, "_ticks"):  # pyqtgraph calls this during construction
            # short plot: only the main frequency labels, or they print over each other
            self.getAxis("left").setTicks(self._ticks if event.size().height() >= 200 else self._ticks[:1])

    def show_wave(self, wave: np.ndarray | None, sr: int = 16000):
        if wave is None or len(wave) == 0:
            self.image.clear()
            self.duration = 0.0
            return
        spec = melspec.log_mel(wave, sr)  # (frames, mels)
        self.duration = len(wave) / sr
        # row-major: rows = mel bands (y), columns = frames (x); levels fixed so loudness compares
        self.image.setImage(spec.T, levels=(melspec.FLOOR_DB, 0.0), autoLevels=False)
        x0, width = melspec.time_extent(len(spec), sr)
        self.image.setRect(x0, 0.0, width, float(melspec.N_MELS))
        self.setXRange(0.0, self.duration, padding=0)
        self.setYRange(0.0, float(melspec.N_MELS), padding=0)

    def set_position(self, seconds: float | None):
        if seconds is None:
            self.cursor.hide()
        else:
            self.cursor.setPos(seconds)
            self.cursor.show()


class ProsodyView(QWidget):
    """Pitch and energy of several segments overlaid; the current one drawn on top in white."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pitch = pg.PlotWidget(background=PLOT_BG)
        self.energy = pg.PlotWidget(background=PLOT_BG)
        _style_axes(self.pitch, None, "Pitch (Hz)")
        _style_axes(self.energy, "Time (s)", "Energy (dB)")
        self.energy.setXLink(self.pitch)
        for p in (self.pitch, self.energy):
            p.setMenuEnabled(False)
            p.hideButtons()
            p.setMouseEnabled(False, False)
        self.pitch.getAxis("bottom").setStyle(showValues=False)
        # The energy plot also holds the time axis (about 35 px): it gets that much more height,
        # so its curves are not squeezed (or cut) when the window is small.
        self.pitch.setMinimumHeight(PITCH_MIN_HEIGHT)
        self.energy.setMinimumHeight(PITCH_MIN_HEIGHT + TIME_AXIS_HEIGHT)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.pitch, 10)
        layout.addWidget(self.energy, 13)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        # a rotated "Energy (dB)" is taller than a short plot: it would print over "Pitch (Hz)"
        short = self.pitch.height() < SHORT_PLOT
        self.pitch.setLabel("left", "Hz" if short else "Pitch (Hz)", color=AXIS_PEN)
        self.energy.setLabel("left", "dB" if short else "Energy (dB)", color=AXIS_PEN)

    def show_curves(self, curves: list, color: str):
        """curves: (prosody, is_current) pairs; prosody times start at 0."""
        self.pitch.clear()
        self.energy.clear()
        base = QColor(color)
        base.setAlpha(150)
        t_max, f_lo, f_hi = 0.0, np.inf, -np.inf
        for prosody, is_current in sorted(curves, key=lambda c: c[1]):  # current last, on top
            if prosody is None or len(prosody.times) == 0:
                continue
            pen = pg.mkPen("#ffffff", width=2.2) if is_current else pg.mkPen(base, width=1.2)
            self.pitch.plot(prosody.times, prosody.pitch, pen=pen, connect="finite")
            self.energy.plot(prosody.times, prosody.energy, pen=pen)
            t_max = max(t_max, float(prosody.times[-1]))
            voiced = prosody.pitch[np.isfinite(prosody.pitch)]
            if len(voiced):
                f_lo, f_hi = min(f_lo, float(voiced.min())), max(f_hi, float(voiced.max()))
        if t_max > 0:
            self.pitch.setXRange(0, t_max, padding=0.01)
        if np.isfinite(f_lo):
            self.pitch.setYRange(max(0.0, f_lo * 0.85), f_hi * 1.1, padding=0)
        self.energy.enableAutoRange(axis="y")


class Inspector(QWidget):
    play_requested = Signal(int)     # play this segment
    segment_chosen = Signal(int)     # show this segment (no sound)
    step_requested = Signal(int)     # +1 next / -1 previous segment of the cluster
    play_toggled = Signal()
    auto_advance_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel("No cluster selected")
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.subtitle = QLabel("")
        self.subtitle.setStyleSheet("color: #555;")
        self.subtitle.setWordWrap(True)  # a narrow inspector wraps it rather than widening the window
        self.representatives = SegmentList()
        self.outliers = SegmentList()
        for lst in (self.representatives, self.outliers):
            lst.play_requested.connect(self.play_requested)
            lst.chosen.connect(self.segment_chosen)
            lst.setMinimumHeight(LIST_MIN_HEIGHT)
            lst.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        lists = QGridLayout()
        lists.addWidget(_caption("Representative (closest to the centre)"), 0, 0)
        lists.addWidget(_caption("Outliers (farthest)"), 0, 1)
        lists.addWidget(self.representatives, 1, 0)
        lists.addWidget(self.outliers, 1, 1)

        self.segment_label = QLabel("")
        self.segment_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.segment_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # clipped, not widening
        self.spectrogram = SpectrogramView()
        self.spectrogram.setMinimumHeight(SPECTROGRAM_MIN_HEIGHT)
        self.prosody = ProsodyView()

        self.prev_button = QPushButton("◀ Previous", toolTip="Previous segment of the cluster (Left)")
        self.play_button = QPushButton("▶ Play", toolTip="Play / stop the current segment (Space)")
        self.next_button = QPushButton("Next ▶", toolTip="Next segment of the cluster (Right)")
        self.auto_advance = QCheckBox("Auto-advance", toolTip="Play the next segment when one ends")
        for b in (self.prev_button, self.play_button, self.next_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space stays the window's play key
        self.prev_button.clicked.connect(lambda: self.step_requested.emit(-1))
        self.next_button.clicked.connect(lambda: self.step_requested.emit(1))
        self.play_button.clicked.connect(self.play_toggled)
        self.auto_advance.toggled.connect(self.auto_advance_changed)
        nav = QHBoxLayout()
        nav.addWidget(self.prev_button)
        nav.addWidget(self.play_button)
        nav.addWidget(self.next_button)
        nav.addStretch(1)
        nav.addWidget(self.auto_advance)

        # Everything about a cluster sits in one widget, hidden (with a hint shown) until one is selected.
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addLayout(lists, 2)
        current = QHBoxLayout()  # caption and segment on one row: at 1024x700 every row counts
        current.addWidget(_caption("Current segment:"))
        current.addWidget(self.segment_label, 1)
        body.addLayout(current)
        body.addWidget(self.spectrogram, 3)
        body.addLayout(nav)
        prosody_caption = _caption("Pitch and energy of the cluster's representative segments (current in white)")
        prosody_caption.setWordWrap(True)  # two lines in a narrow inspector rather than a wider window
        body.addWidget(prosody_caption)
        body.addWidget(self.prosody, 4)
        self.hint = QLabel("Select a cluster in the list (J / K) or click a point in the scatter to inspect it: "
                           "its representative and outlier segments, spectrogram, pitch and energy.")
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.hint.setStyleSheet("color: #777; padding-top: 12px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.hint, 1)
        self.body.hide()
        self.color = "#888888"

    def set_cluster(self, title: str, subtitle: str, color: str, reps: list, outliers: list):
        self.title.setText(title)
        self.subtitle.setText(subtitle)
        self.body.setVisible(bool(reps))
        self.hint.setVisible(not reps)
        self.color = color
        self.title.setStyleSheet(f"color: {color};" if color else "")
        self.representatives.set_segments(reps)
        self.outliers.set_segments(outliers)

    def clear(self):
        self.set_cluster("No cluster selected", "", "", [], [])
        self.show_segment(None, "", None, [])

    def show_segment(self, index: int | None, label: str, wave, curves: list):
        self.segment_label.setText(label)
        self.spectrogram.show_wave(wave)
        self.spectrogram.set_position(None)
        self.prosody.show_curves(curves, self.color or "#888888")
        self.representatives.mark(index)
        self.outliers.mark(index)

    def set_playing(self, playing: bool):
        self.play_button.setText("■ Stop" if playing else "▶ Play")
        if not playing:
            self.spectrogram.set_position(None)


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("color: #666; font-size: 11px;")
    return label


def _style_axes(plot: pg.PlotWidget, bottom: str | None, left: str | None):
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(AXIS_PEN))
        axis.setTextPen(pg.mkPen(AXIS_PEN))
        axis.enableAutoSIPrefix(False)  # "Time (s)", never "Time (s) (x0.001)"
    if bottom:
        plot.setLabel("bottom", bottom, color=AXIS_PEN)
    if left:
        plot.setLabel("left", left, color=AXIS_PEN)
    plot.getAxis("left").setWidth(62)  # the same width everywhere, so the time axes line up
