"""Playback controller of the main window: the current segment (spectrogram, prosody curves,
marker), playing it, stepping through the current cluster, auto-advance and the play cursor.

Given: the ReviewState (session, current segment, the cluster's ranked members), the
inspector, the scatter (its current-segment marker), the player, the status bar and the
label that says when there is no audio output."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer

from speakerid_gui.core.audio.decode import AudioError

PROSODY_CURVES = 6  # segments overlaid in the pitch/energy plots


class Playback(QObject):
    def __init__(self, state, inspector, scatter, player, status, audio_status, parent=None):
        super().__init__(parent)
        self.state, self.inspector, self.scatter, self.player = state, inspector, scatter, player
        self.status, self.audio_status = status, audio_status
        inspector.play_requested.connect(lambda i: self.show_segment(i, play=True))
        inspector.segment_chosen.connect(lambda i: self.show_segment(i))
        inspector.step_requested.connect(self.step_segment)
        inspector.play_toggled.connect(self.toggle_play)
        player.started.connect(lambda tag: self._playing_changed(True))
        player.stopped.connect(self._playback_stopped)
        player.failed.connect(self._playback_failed)
        self._position_timer = QTimer(self, interval=30)
        self._position_timer.timeout.connect(self._show_position)

    def show_segment(self, index: int | None, play: bool = False):
        """Make a segment current: spectrogram, prosody overlay, marker; optionally play it."""
        st = self.state
        st.current_segment = None if index is None else int(index)
        self.scatter.set_current(st.current_segment)
        if index is None or st.session is None:
            self.inspector.show_segment(None, "", None, [])
            return
        s = st.session
        try:
            wave = s.read_segment(index)
        except AudioError as exc:  # moved, deleted or replaced audio: the message names the file
            self.status.showMessage(f"Cannot read {exc}", 8000)
            wave = None
        except Exception as exc:  # noqa: BLE001  (any decoder failure: say which file)
            path, start, end = s.segment_span(index)
            self.status.showMessage(f"Cannot read {path}: {exc}", 8000)
            wave = None
        if play and wave is not None:  # sound first: the spectrogram and curves are drawn while it plays
            self.play_wave(wave, index)
        curves = [(self._prosody(index, wave), True)]
        others = [int(i) for i in st.queue[:PROSODY_CURVES] if int(i) != index][:PROSODY_CURVES - 1]
        curves += [(self._prosody(i), False) for i in others]
        self.inspector.show_segment(index, s.segment_label(index), wave, curves)

    def _prosody(self, index: int, wave=None):
        try:
            return self.state.session.segment_prosody(index, wave)
        except Exception:  # curves are a help, not a requirement
            return None

    def play_segment(self, index: int):
        self.show_segment(index, play=True)

    def play_wave(self, wave: np.ndarray, index: int):
        self.player.play(wave, 16000, index)

    def toggle_play(self):
        st = self.state
        if self.player.is_playing():
            self.player.stop()
        elif st.current_segment is not None:
            self.show_segment(st.current_segment, play=True)
        elif len(st.queue):
            self.show_segment(int(st.queue[0]), play=True)

    def step_segment(self, delta: int):
        queue = self.state.queue
        if not len(queue):
            return
        where = np.flatnonzero(queue == self.state.current_segment)
        pos = int(where[0]) + delta if len(where) else 0
        if 0 <= pos < len(queue):
            self.show_segment(int(queue[pos]), play=True)
        else:
            self.status.showMessage("End of the cluster: J/K for the next/previous cluster.", 4000)

    def _playing_changed(self, playing: bool):
        self.inspector.set_playing(playing)
        if playing:
            self._position_timer.start()
        else:
            self._position_timer.stop()

    def _playback_stopped(self, completed: bool):
        self._playing_changed(False)
        if completed and self.inspector.auto_advance.isChecked():
            queue = self.state.queue
            where = np.flatnonzero(queue == self.state.current_segment)
            if len(where) and where[0] + 1 < len(queue):
                QTimer.singleShot(150, self, lambda: self.step_segment(1))  # dropped if the window goes

    def _playback_failed(self, message: str):
        self.audio_status.setText("No audio output")
        self.audio_status.setToolTip(message)
        self.status.showMessage(message, 10000)

    def _show_position(self):
        if self.player.tag == self.state.current_segment:
            self.inspector.spectrogram.set_position(self.player.position())
