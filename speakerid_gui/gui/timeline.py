"""A recording as a timeline: its speaker turns as coloured lanes (overlaps visible) under
its waveform, zoomable from the whole recording down to 1 s.

Click to set the cursor and play from there (by keyboard: Shift+Left/Right move it 0.1 s,
Ctrl+Left/Right 1 s, P plays from it); Space plays the selected turn with 1 s of context
on each side; Left/Right (or , .) step through the turns; 1-9 give the selected turn to the
speaker of that lane, 0 to a new speaker; [ and ] move its start / end to the cursor (or drag
its edges); S cuts the turn at the cursor in two. A span: M where it starts and M where it
ends (the cursor follows playback, so this works while listening), or Shift+click from the
cursor; drag its edges; 1-9 / 0 then give the span to a speaker (turns partly inside are cut at
its edges); Esc drops it. Ctrl+Z / Ctrl+Shift+Z undo and redo (the edits are the project's
ordinary undoable commands, core/project/edits.py). The recording list (timeline_tasks.py)
opens it by name; the main window opens it from the current segment.
"""
from __future__ import annotations


import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget)

from speakerid_gui.core.audio.decode import AudioError, probe, read_span
from speakerid_gui.core.conversation.stage import is_conversation
from speakerid_gui.core.palette import cluster_color
from speakerid_gui.core.project.store import NOISE
from speakerid_gui.core.text import plural
from speakerid_gui.gui.timeline_edits import TimelineEdits
from speakerid_gui.gui.waveform import Waveform, read_waveform
from speakerid_gui.gui.workers import plain_thread

CONTEXT = 1.0          # seconds played before and after a turn
MIN_RANGE = 1.0        # the closest zoom, seconds
# (keys, what they do, the window's method, its arguments): the window's actions, and its key sheet (F1)
KEYS = [
    (["Space"], "Play / stop the selected turn, with 1 s before and after", "toggle_play", ()),
    (["Right", "."], "Next turn", "step_turn", (1,)),
    (["Left", ","], "Previous turn", "step_turn", (-1,)),
    (["+", "="], "Zoom in (down to 1 s)", "zoom", (0.5,)),
    (["-"], "Zoom out", "zoom", (2.0,)),
    (["Home", "R"], "Whole recording", "show_all", ()),
    (["Shift+Right"], "Cursor 0.1 s later", "nudge_cursor", (0.1,)),
    (["Shift+Left"], "Cursor 0.1 s earlier", "nudge_cursor", (-0.1,)),
    (["Ctrl+Right"], "Cursor 1 s later", "nudge_cursor", (1.0,)),
    (["Ctrl+Left"], "Cursor 1 s earlier", "nudge_cursor", (-1.0,)),
    (["P", "Return"], "Play from the cursor", "play_from_cursor", ()),
    (["0"], "Give the turn (or the span) to a new speaker", "give_to_new_speaker", ()),
    (["["], "Move the turn's start to the cursor", "start_to_cursor", ()),
    (["]"], "Move the turn's end to the cursor", "end_to_cursor", ()),
    (["S", "/"], "Cut the turn in two at the cursor", "cut_at_cursor", ()),
    (["M"], "Mark a span: once where it starts, once where it ends (also while playing)", "mark", ()),
    (["Esc"], "Drop the span; with none, close the timeline", "escape", ()),
    (["Ctrl+Z"], "Undo", "undo", ()),
    (["Ctrl+Shift+Z", "Ctrl+Y"], "Redo", "redo", ()),
    (["F1", "?"], "These keys", "show_keys", ()),
]
LANE_KEYS = "Give the turn (or the span) to the speaker of lane 1-9"
MOUSE = [
    ("Click", "put the cursor there and play from it; on a turn, select it"),
    ("Shift+click", "select the span from the cursor to there"),
    ("Drag a selected turn's edge", "move that edge"),
    ("Drag the span or its edges", "move or resize the span"),
    ("Wheel / drag", "zoom / scroll in time"),
]


def sheet_actions(parent) -> list[QAction]:
    """The timeline's keys as actions for the shortcut sheet (1-9 as one row)."""
    actions = []
    for keys, text, _, _ in KEYS[:11] + [(list("123456789"), LANE_KEYS, "", ())] + KEYS[11:]:
        action = QAction(text, parent)
        action.setShortcuts([QKeySequence(k) for k in keys])
        actions.append(action)
    return actions


class TimelineWindow(TimelineEdits, QWidget):
    """One recording's turns; edits go through the session's EditLog."""

    closed = Signal()

    def __init__(self, session, recording_id: int, player, undo=None, redo=None, parent=None):
        super().__init__(parent, Qt.WindowType.Window)
        self.session, self.recording_id, self.player = session, int(recording_id), player
        self._undo, self._redo = undo or session.log.undo, redo or session.log.redo
        p = session.project
        self.path = p.audio_root / session.recording_rel(self.recording_id)
        self.setWindowTitle(f"Timeline — {session.recording_rel(self.recording_id)}")
        self.conversation = is_conversation(p)  # turns may overlap; else windows that always do
        self.selected: int | None = None   # array position of the selected turn
        self.cursor_time = 0.0
        self._play_offset = 0.0
        self.span: tuple[float, float] | None = None  # a selected time span (M ... M, Shift+click)
        self._mark: float | None = None               # where the span being marked starts
        self.info = QLabel()
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.wave_plot = pg.PlotWidget()
        self.lanes_plot = pg.PlotWidget()
        for plot in (self.wave_plot, self.lanes_plot):
            plot.setBackground("w")
            plot.setMouseEnabled(x=True, y=False)
            plot.getPlotItem().hideButtons()
        self.wave_plot.setMaximumHeight(140)
        self.wave_plot.getAxis("left").setWidth(90)
        self.lanes_plot.getAxis("left").setWidth(90)
        self.lanes_plot.setXLink(self.wave_plot)
        self.lanes_plot.setLabel("bottom", "time (s)")
        self.cursor_line = pg.InfiniteLine(0.0, pen=pg.mkPen("#d62728", width=2))
        self.wave_cursor = pg.InfiniteLine(0.0, pen=pg.mkPen("#d62728", width=2))
        self.lanes_plot.addItem(self.cursor_line)
        # the span: over the lanes (its edges drag; a click inside still picks a turn) and the waveform
        self.span_item = pg.LinearRegionItem((0.0, 1.0), brush=pg.mkBrush(31, 119, 180, 60),
                                             pen=pg.mkPen("#1f77b4", width=2))
        self.span_item.setZValue(10)
        self.span_item.sigRegionChangeFinished.connect(lambda item: self.set_span(item.getRegion()))
        self.wave_span = pg.LinearRegionItem((0.0, 1.0), movable=False, brush=pg.mkBrush(31, 119, 180, 60),
                                             pen=pg.mkPen("#1f77b4", width=2))
        for plot, item in ((self.lanes_plot, self.span_item), (self.wave_plot, self.wave_span)):
            item.hide()
            plot.addItem(item)
        self.wave_plot.addItem(self.wave_cursor)
        self.lanes_plot.scene().sigMouseClicked.connect(self._clicked)
        self.wave_plot.scene().sigMouseClicked.connect(self._clicked_wave)
        self.peak, self.envelope = 1.0, (np.zeros(0), np.zeros(0))  # until _load_audio reads the file
        self.wave_plot.sigXRangeChanged.connect(self._fit_wave_to_view)
        whole = QPushButton("Whole recording")
        whole.clicked.connect(self.show_all)
        play = QPushButton("Play turn (Space)")
        play.clicked.connect(self.play_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.info, 1)
        buttons.addWidget(play)
        buttons.addWidget(whole)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.wave_plot)
        layout.addWidget(self.lanes_plot, 1)
        self._make_actions()
        self._timer = QTimer(self, interval=30)
        self._timer.timeout.connect(self._follow_playback)
        self._load_audio()
        self.redraw()
        self.show_all()
        self._listener = lambda change: self.redraw()
        session.log.listeners.append(self._listener)
        self.resize(1200, 420)

    # ---- data ---------------------------------------------------------------------------------
    def _load_audio(self):
        """The turns at once, the waveform when a worker has decoded it: a recording of a few hours
        takes seconds to decode, which froze the window as it opened. Until then the header's
        duration sets the range."""
        self.peak = 1.0
        self.envelope = (np.zeros(0), np.zeros(0))
        self.audio_error, self.audio_ready = None, False
        try:
            self._set_duration(probe(self.path).duration)
        except AudioError as exc:
            self._no_audio(exc)
            return
        self._waveform = Waveform()  # not a child of the window: a late result goes nowhere
        self._waveform.done.connect(self._waveform_read)
        plain_thread("waveform").submit(read_waveform, self.path, self._waveform)

    def _waveform_read(self, result):
        if isinstance(result, Exception):
            self._no_audio(result)
            return
        duration, (times, values) = result
        self.envelope = (times, values)
        self.wave_plot.plot(times, values, pen=pg.mkPen("#555"))
        # scaled to the recording's own peak: a far-field meeting at -30 dB was a flat line at +-1
        self.peak = float(np.abs(values).max(initial=0.0)) or 1.0
        self._set_duration(duration)
        self.audio_ready = True
        self._fit_wave_to_view()

    def _no_audio(self, exc: Exception):
        self.audio_error = f"Cannot read {self.path}: {exc}"
        ends = self.turn_positions()
        self._set_duration(float(self.session.project.seg_end[ends].max()) if len(ends) else 1.0)
        self.audio_ready = True
        self.redraw()

    def _set_duration(self, duration: float):
        self.duration = duration
        self.wave_plot.setYRange(-self.peak, self.peak)
        for plot in (self.wave_plot, self.lanes_plot):
            plot.setLimits(xMin=0.0, xMax=max(self.duration, MIN_RANGE), minXRange=MIN_RANGE,
                           maxXRange=max(self.duration, MIN_RANGE))

    def turn_positions(self) -> np.ndarray:
        """Array positions of this recording's turns, in time order (noise included)."""
        p = self.session.project
        idx = np.flatnonzero(p.seg_recording == self.recording_id)
        return idx[np.lexsort((p.seg_end[idx], p.seg_start[idx]))]

    def lanes(self) -> list[int]:
        """Speakers of this recording, the most talkative on top (the lane order for 1-9)."""
        p = self.session.project
        idx = self.turn_positions()
        totals: dict[int, float] = {}
        for i in idx:
            c = int(p.cluster[i])
            totals[c] = totals.get(c, 0.0) + float(p.seg_end[i] - p.seg_start[i])
        return sorted(totals, key=lambda c: (c == NOISE, -totals[c]))

    # ---- drawing ------------------------------------------------------------------------------
    def redraw(self):
        p = self.session.project
        for item in getattr(self, "_items", []):
            self.lanes_plot.removeItem(item)
        self._items = []
        idx = self.turn_positions()
        if self.selected is not None and self.selected not in set(idx.tolist()):
            self.selected = None  # an undone cut took its piece away
        lanes = self.lanes()
        self._lane_of = {c: k for k, c in enumerate(lanes)}
        n = max(len(lanes), 1)
        for k, c in enumerate(lanes):
            members = idx[p.cluster[idx] == c]
            color = "#999999" if c == NOISE else cluster_color(c, p.clusters)
            bars = pg.BarGraphItem(x0=p.seg_start[members], x1=p.seg_end[members], y0=n - 1 - k + 0.1,
                                   height=0.8, brush=pg.mkBrush(color), pen=pg.mkPen("#333", width=0.5))
            self.lanes_plot.addItem(bars)
            self._items.append(bars)
        self._overlap_regions(idx)
        if self.selected is not None and self.selected in set(idx.tolist()):
            i = self.selected
            k = self._lane_of[int(p.cluster[i])]
            box = pg.BarGraphItem(x0=[p.seg_start[i]], x1=[p.seg_end[i]], y0=[n - 1 - k + 0.05], height=0.9,
                                  brush=pg.mkBrush(0, 0, 0, 0), pen=pg.mkPen("#000", width=3))
            self.lanes_plot.addItem(box)
            self._items.append(box)
            # its two boundaries can be dragged; a drop is one undoable edit
            for side, t in (("start", p.seg_start[i]), ("end", p.seg_end[i])):
                edge = pg.InfiniteLine(float(t), movable=True, pen=pg.mkPen("#000", width=2),
                                       hoverPen=pg.mkPen("#1f77b4", width=4))
                edge.sigPositionChangeFinished.connect(lambda line, side=side: self.move_boundary(side, line.value()))
                self.lanes_plot.addItem(edge)
                self._items.append(edge)
        ticks = [(n - 1 - k + 0.5, f"{k + 1}: {self.session.project.cluster_name(c)}") for k, c in enumerate(lanes)]
        self.lanes_plot.getAxis("left").setTicks([ticks])
        self.lanes_plot.setYRange(0, n, padding=0.02)
        self._update_info()

    def _overlap_regions(self, idx):
        """Shade where two or more speakers talk at once (the waveform plot's background). Only
        turns of conversation mode overlap for that reason: the 3 s windows of the default mode
        overlap their neighbours by design, whoever speaks."""
        p = self.session.project
        for item in getattr(self, "_shades", []):
            self.wave_plot.removeItem(item)
        self._shades = []
        if not self.conversation:
            self.overlap_count = 0
            return
        speech = idx[p.cluster[idx] != NOISE]
        edges = sorted([(float(p.seg_start[i]), 1) for i in speech] + [(float(p.seg_end[i]), -1) for i in speech])
        depth, start = 0, None
        for t, step in edges:
            depth += step
            if depth >= 2 and start is None:
                start = t
            elif depth < 2 and start is not None:
                if t - start > 1e-3:
                    shade = pg.LinearRegionItem((start, t), movable=False, brush=pg.mkBrush(255, 160, 0, 70),
                                                pen=pg.mkPen(None))
                    self.wave_plot.addItem(shade)
                    self._shades.append(shade)
                start = None
        self.overlap_count = len(self._shades)

    def _update_info(self):
        p = self.session.project
        n = len(self.turn_positions())
        text = (f"{plural(n, 'turn')}, {plural(len(self.lanes()), 'speaker')}, {plural(self.overlap_count, 'overlap')}"
                if self.conversation else f"{plural(n, 'window')} (they overlap by design), "
                                          f"{plural(len(self.lanes()), 'speaker')}")
        if self.selected is not None:
            i = self.selected
            text += (f"  |  selected: {p.cluster_name(int(p.cluster[i]))} {p.seg_start[i]:.2f}–{p.seg_end[i]:.2f} s"
                     f"{' (verified)' if p.verified[i] else ''}")
        if self.span is not None:
            text += f"  |  span {self.span[0]:.2f}–{self.span[1]:.2f} s: 1-9 / 0 give it, Esc drops it"
        elif self._mark is not None:
            text += f"  |  span from {self._mark:.2f} s: M again where it ends"
        if self.audio_error:
            text += f"  |  {self.audio_error}"
        self.info.setText(text)

    # ---- view ---------------------------------------------------------------------------------
    def show_all(self):
        self.wave_plot.setXRange(0, max(self.duration, MIN_RANGE), padding=0)

    def zoom(self, factor: float):
        (x0, x1), _ = self.wave_plot.viewRange()
        centre = self.cursor_time if x0 <= self.cursor_time <= x1 else (x0 + x1) / 2
        half = max(MIN_RANGE / 2, (x1 - x0) * factor / 2)
        self.wave_plot.setXRange(centre - half, centre + half, padding=0)

    def view_range(self) -> tuple[float, float]:
        return tuple(self.wave_plot.viewRange()[0])

    def _fit_wave_to_view(self, *_):
        """The waveform's height follows the peak of what is in view (Praat's "by window"): zoomed
        into quiet speech before a loud laugh, the words are drawn large enough to place a boundary."""
        times, values = self.envelope
        x0, x1 = self.view_range()
        inside = values[(times >= x0) & (times <= x1)]
        peak = float(np.abs(inside).max(initial=0.0)) or self.peak
        self.wave_plot.setYRange(-peak, peak, padding=0.05)

    def select_turn(self, index: int | None, centre: bool = True):
        self.selected = None if index is None else int(index)
        if index is not None:
            p = self.session.project
            self.set_cursor(float(p.seg_start[index]))
            if centre:
                (x0, x1) = self.view_range()
                a, b = float(p.seg_start[index]), float(p.seg_end[index])
                if a < x0 or b > x1:
                    half = (x1 - x0) / 2
                    self.wave_plot.setXRange((a + b) / 2 - half, (a + b) / 2 + half, padding=0)
        self.redraw()

    def step_turn(self, delta: int):
        idx = self.turn_positions()
        if not len(idx):
            return
        if self.selected is None or self.selected not in set(idx.tolist()):
            self.select_turn(int(idx[0] if delta > 0 else idx[-1]))
            return
        k = int(np.flatnonzero(idx == self.selected)[0]) + delta
        self.select_turn(int(idx[max(0, min(len(idx) - 1, k))]))

    def set_cursor(self, t: float):
        self.cursor_time = float(min(max(t, 0.0), self.duration))
        self.cursor_line.setValue(self.cursor_time)
        self.wave_cursor.setValue(self.cursor_time)

    def nudge_cursor(self, seconds: float):
        """Move the cursor by keyboard (playback stops: it would carry the cursor on), and keep
        it in view."""
        if self.player.is_playing():
            self.player.stop()
        self.set_cursor(self.cursor_time + seconds)
        x0, x1 = self.view_range()
        if not x0 <= self.cursor_time <= x1:
            half = (x1 - x0) / 2
            self.wave_plot.setXRange(self.cursor_time - half, self.cursor_time + half, padding=0)

    def play_from_cursor(self) -> bool:
        return self.play_from(self.cursor_time)

    def turn_at(self, t: float, lane: int | None = None) -> int | None:
        p = self.session.project
        idx = self.turn_positions()
        hit = idx[(p.seg_start[idx] <= t) & (p.seg_end[idx] >= t)]
        if lane is not None:
            lanes = self.lanes()
            hit = [i for i in hit if 0 <= lane < len(lanes) and int(p.cluster[i]) == lanes[lane]]
        return int(hit[0]) if len(hit) else None

    def _clicked(self, event):
        pos = self.lanes_plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        n = max(len(self.lanes()), 1)
        lane = n - 1 - int(np.floor(pos.y()))
        t = float(pos.x())
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:  # a span from the cursor to here
            self.set_span(tuple(sorted((self.cursor_time, t))))
            return
        turn = self.turn_at(t, lane)
        if turn is not None:
            self.selected = turn
            self.redraw()
        self.set_cursor(t)
        self.play_from(self.cursor_time)

    def _clicked_wave(self, event):
        pos = self.wave_plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.set_span(tuple(sorted((self.cursor_time, float(pos.x())))))
            return
        self.set_cursor(float(pos.x()))
        self.play_from(self.cursor_time)

    # ---- playback -----------------------------------------------------------------------------
    def play_span(self, start: float, end: float) -> bool:
        start, end = max(0.0, start), min(self.duration, end)
        if end <= start:
            return False
        try:
            wave = read_span(self.path, start, end)
        except Exception as exc:  # noqa: BLE001  the message names the file
            self.info.setText(f"Cannot read {self.path}: {exc}")
            return False
        self._play_offset = start
        self.last_played = (start, end)
        ok = self.player.play(wave, 16000, ("timeline", self.recording_id))
        if ok:
            self._timer.start()
        return ok

    def play_from(self, t: float, seconds: float = 30.0) -> bool:
        return self.play_span(t, t + seconds)

    def play_selected(self) -> bool:
        """The selected turn with CONTEXT seconds before and after."""
        if self.selected is None:
            self.step_turn(1)
        if self.selected is None:
            return False
        p = self.session.project
        return self.play_span(float(p.seg_start[self.selected]) - CONTEXT, float(p.seg_end[self.selected]) + CONTEXT)

    def toggle_play(self):
        if self.player.is_playing():
            self.player.stop()
        else:
            self.play_selected()

    def _follow_playback(self):
        pos = self.player.position()
        if pos is None:
            self._timer.stop()
            return
        self.set_cursor(self._play_offset + pos)

    def _make_actions(self):
        for keys, text, method, args in KEYS:
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(lambda _=False, m=method, a=args: getattr(self, m)(*a))
            self.addAction(action)
        for k in range(1, 10):  # one action per key: each needs its lane
            action = QAction(self)
            action.setShortcut(QKeySequence(str(k)))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(lambda _=False, k=k: self.give_to_lane(k - 1))
            self.addAction(action)

    def show_keys(self):
        from speakerid_gui.gui.shortcuts import ShortcutSheet

        sheet = ShortcutSheet([("Timeline", sheet_actions(self))], self, mouse=MOUSE)
        sheet.setWindowTitle("Timeline: keys and mouse")
        sheet.show()
        return sheet

    def undo(self):
        self._undo()

    def redo(self):
        self._redo()

    def start_to_cursor(self):
        return self.move_boundary("start", self.cursor_time)

    def end_to_cursor(self):
        return self.move_boundary("end", self.cursor_time)

    def closeEvent(self, event):
        if self._listener in self.session.log.listeners:
            self.session.log.listeners.remove(self._listener)
        if self.player.tag == ("timeline", self.recording_id):
            self.player.stop()
        self.closed.emit()
        super().closeEvent(event)
