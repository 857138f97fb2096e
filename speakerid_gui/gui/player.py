"""Audio playback: a small player the window owns and tests replace.

The position is a clock started when the output starts (sounddevice plays in the
background; asking the stream for its time would tie us to a live device). Without
PortAudio or an output device the player reports why once and stays silent; the rest
of the app does not care.
"""
from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal


class Player(QObject):
    """Plays one span at a time. Subclasses implement _output/_halt."""

    started = Signal(object)   # the `tag` given to play()
    stopped = Signal(bool)     # True when the span played to its end
    failed = Signal(str)       # why nothing can be heard

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tag = None
        self.duration = 0.0
        self._t0: float | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._tick)

    def play(self, wave: np.ndarray, sr: int, tag=None) -> bool:
        """Start playing (non-blocking); False if the output failed (failed() says why)."""
        self.stop()
        self.tag, self.duration = tag, len(wave) / sr
        try:
            self._output(np.ascontiguousarray(wave, dtype=np.float32), sr)
        except Exception as exc:  # PortAudioError, OSError: report, never crash the window
            self.tag = None
            self.failed.emit(self.describe_error(exc))
            return False
        self._t0 = time.monotonic()
        self._timer.start()
        self.started.emit(tag)
        return True

    def stop(self):
        if self._t0 is None:
            return
        self._halt()
        self._finish(False)

    def is_playing(self) -> bool:
        return self._t0 is not None

    def position(self) -> float | None:
        """Seconds since the start of the playing span, or None."""
        if self._t0 is None:
            return None
        return min(time.monotonic() - self._t0, self.duration)

    def _tick(self):
        if self._t0 is not None and time.monotonic() - self._t0 >= self.duration:
            self._finish(True)

    def _finish(self, completed: bool):
        self._timer.stop()
        self._t0 = None
        self.stopped.emit(completed)

    @staticmethod
    def describe_error(exc: Exception) -> str:
        return f"Playback unavailable: {exc}"

    # to implement
    def _output(self, wave: np.ndarray, sr: int):
        raise NotImplementedError

    def _halt(self):
        pass


class SoundDevicePlayer(Player):
    """The real output through sounddevice (PortAudio), imported on first use."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._sd = None
        self.unavailable: str | None = None

    def _module(self):
        if self._sd is None and self.unavailable is None:
            try:
                import sounddevice
            except OSError as exc:  # no PortAudio library on this machine
                self.unavailable = f"no PortAudio library ({exc}); install libportaudio2 to hear segments"
            else:
                self._sd = sounddevice
        if self._sd is None:
            raise RuntimeError(self.unavailable)
        return self._sd

    def _output(self, wave, sr):
        self._module().play(wave, sr, blocking=False)

    def _halt(self):
        if self._sd is not None:
            try:
                self._sd.stop()
            except Exception:
                pass

    @staticmethod
    def describe_error(exc: Exception) -> str:
        text = str(exc).strip() or type(exc).__name__
        if "PortAudio" in type(exc).__name__ or "device" in text.lower():
            return f"No audio output device: playback disabled ({text}). Everything else works."
        return f"Playback unavailable: {text}"


class NullPlayer(Player):
    """Plays nothing but keeps time and remembers what it was asked to play (tests, --no-audio)."""

    def __init__(self, parent=None, speed: float = 1.0):
        super().__init__(parent)
        self.calls: list[tuple[np.ndarray, int, object]] = []
        self.speed = speed  # >1 finishes spans sooner (auto-advance tests)

    def _output(self, wave, sr):
        self.calls.append((wave, sr, None))

    def play(self, wave, sr, tag=None) -> bool:
        ok = super().play(wave, sr, tag)
        if ok:
            self.calls[-1] = (self.calls[-1][0], sr, tag)
            self.duration /= self.speed
        return ok
