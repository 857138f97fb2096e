"""Audio playback: a small player the window owns and tests replace.

Player keeps the clock of the playing span (position, end) and the signals; subclasses put
the samples out. Without PortAudio or an output device the player reports why once and
stays silent; the rest of the app does not care.
"""
from __future__ import annotations

import threading
import time

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal


class Player(QObject):
    """Plays one span at a time. Subclasses implement _output/_halt (and may keep a truer clock)."""

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

    def warm_up(self, sr: int = 16000) -> bool:
        """Get the output ready so the first play starts at once (a project was opened)."""
        return True

    def position(self) -> float | None:
        """Seconds of the playing span heard so far, or None."""
        if self._t0 is None:
            return None
        return min(max(self._elapsed(), 0.0), self.duration)

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0

    def _done(self) -> bool:
        return self._elapsed() >= self.duration

    def _tick(self):
        if self._t0 is not None and self._done():
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
    """The real output: one PortAudio stream (sounddevice, imported on first use) kept open.

    A stream per play (sounddevice.play) lost the first 14-66 ms of every span and had
    dropouts: a new stream's first buffers go while the device and the sound server start it.
    Here the stream runs on, its callback copies the current span and silence around it, and a
    play only swaps the span: every sample arrives, and sound starts one buffer after the key.
    The stream closes after IDLE_CLOSE seconds without playing (no device held for nothing).
    """

    IDLE_CLOSE = 120.0
    SETTLE = 0.3       # a stream's first buffers may be lost while the device and the server start it:
                       # a span played sooner after opening waits behind silence until then
    LATENCY = "high"   # PortAudio's safe buffer (about 35 ms on ALSA): "low" (11 ms) underran on a busy machine

    def __init__(self, parent=None, device=None, latency=None):
        super().__init__(parent)
        self._sd = None
        self.unavailable: str | None = None
        self.device = device
        self.latency = latency if latency is not None else _latency_setting(self.LATENCY)
        self._stream = None
        self._asked = self._rate = 0  # the rate spans come at, the stream's rate
        self._opened_at = 0.0
        self._channels = 1
        self._lock = threading.Lock()   # the callback (PortAudio's thread) and play/stop share these:
        self._wave: np.ndarray | None = None  # what is left to write, from _pos
        self._pos = 0
        self._span_at = 0                # where the span starts in _wave (after a lead-in)
        self.heard_at: float | None = None    # monotonic time the span's first sample reaches the DAC
        self._drained_at: float | None = None  # ... and its last one
        self.underruns = 0
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.timeout.connect(self.close_stream)
        self.stopped.connect(lambda _: self._idle.start(int(self.IDLE_CLOSE * 1000)))

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

    # ---- the stream ------------------------------------------------------------------------
    def warm_up(self, sr: int = 16000) -> bool:
        """Open the stream ahead of the first play (a project opened); False if there is no output."""
        try:
            self._open(sr)
        except Exception:  # said when something is played
            return False
        self._idle.start(int(self.IDLE_CLOSE * 1000))
        return True

    def _open(self, sr: int) -> bool:
        """The running stream (True when it was just opened), reopened if the device stopped it."""
        if self._stream is not None and self._stream.active and sr in (self._asked, self._rate):
            return False
        self.close_stream()
        sd = self._module()
        native = int(sd.query_devices(self.device, "output")["default_samplerate"])
        last = None
        # a hardware device may take neither 16 kHz nor mono: then its own rate (resampled) or stereo
        for rate, channels in dict.fromkeys([(sr, 1), (sr, 2), (native, 1), (native, 2)]):
            try:
                stream = sd.OutputStream(samplerate=rate, channels=channels, dtype="float32", device=self.device,
                                         latency=self.latency, callback=self._callback)
                stream.start()
            except Exception as exc:  # noqa: BLE001 (PortAudioError: try the next layout)
                last = exc
                continue
            self._stream, self._asked, self._rate, self._channels = stream, sr, rate, channels
            self._opened_at = time.monotonic()
            return True
        raise last

    def close_stream(self):
        stream, self._stream = self._stream, None
        with self._lock:
            self._wave = None
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 (a device that vanished)
                pass

    def _callback(self, outdata, frames, time_info, status):
        if status.output_underflow:
            self.underruns += 1
        with self._lock:
            wave, pos = self._wave, self._pos
            if wave is None:
                outdata.fill(0)
                return
            n = min(frames, len(wave) - pos)
            outdata[:n] = wave[pos:pos + n, None]
            outdata[n:] = 0
            delay = max(time_info.outputBufferDacTime - time_info.currentTime, 0.0)
            now = time.monotonic()
            if self.heard_at is None and pos <= self._span_at < pos + frames:
                self.heard_at = now + delay + (self._span_at - pos) / self._rate
            self._pos = pos + n
            if self._pos >= len(wave):
                self._wave = None
                self._drained_at = now + delay + n / self._rate

    # ---- Player ----------------------------------------------------------------------------
    def _output(self, wave, sr):
        self._open(sr)
        if self._rate != sr:
            import soxr

            wave = soxr.resample(wave, sr, self._rate).astype(np.float32)
        wait = max(0.0, self._opened_at + self.SETTLE - time.monotonic())
        lead = np.zeros(int(wait * self._rate), np.float32)
        self._idle.stop()
        with self._lock:
            self._wave = np.concatenate([lead, wave])
            self._pos, self._span_at = 0, len(lead)
            self.heard_at = self._drained_at = None

    def _halt(self):
        with self._lock:
            self._wave = None

    def _elapsed(self) -> float:
        heard = self.heard_at
        return time.monotonic() - heard if heard is not None else 0.0

    def _done(self) -> bool:
        drained = self._drained_at
        if drained is not None:
            return time.monotonic() >= drained
        # a stream that stopped calling back (device gone) must not leave the span playing forever
        return time.monotonic() - self._t0 > self.duration + self.SETTLE + 2.0

    @staticmethod
    def describe_error(exc: Exception) -> str:
        text = str(exc).strip() or type(exc).__name__
        if "PortAudio" in type(exc).__name__ or "device" in text.lower():
            return f"No audio output device: playback disabled ({text}). Everything else works."
        return f"Playback unavailable: {text}"


def _latency_setting(default):
    """SPEAKERID_AUDIO_LATENCY: seconds of output buffer (or PortAudio's "low" / "high")."""
    import os

    value = os.environ.get("SPEAKERID_AUDIO_LATENCY", "").strip()
    if value in ("low", "high"):
        return value
    try:
        return float(value) if value else default
    except ValueError:
        return default


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

