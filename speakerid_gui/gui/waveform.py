"""A recording's waveform for the timeline: decoded in a worker thread (hours of audio take
seconds), shown as min/max pairs at ENVELOPE_RATE per second."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from speakerid_gui.core.audio.decode import load_audio

ENVELOPE_RATE = 200    # waveform min/max pairs per second


def envelope(wave: np.ndarray, sr: int = 16000, rate: int = ENVELOPE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(times, min/max interleaved) of the waveform at `rate` blocks per second (a long recording
    would be millions of points; this is what a screen can show)."""
    block = max(1, sr // rate)
    n = len(wave) // block
    if n == 0:
        return np.zeros(0), np.zeros(0)
    blocks = wave[:n * block].reshape(n, block)
    times = np.repeat(np.arange(n) * block / sr, 2)
    values = np.column_stack([blocks.min(axis=1), blocks.max(axis=1)]).ravel()
    return times, values


class Waveform(QObject):
    done = Signal(object)  # (duration s, envelope) or the exception that stopped the decoding


def read_waveform(path, delivery: Waveform):
    """In a worker: decode, reduce to the envelope, deliver (queued to the window's thread)."""
    try:
        wave = load_audio(path)
        result = (len(wave) / 16000, envelope(wave))
    except Exception as exc:  # noqa: BLE001  said in the window; the turns are still worth seeing
        result = exc
    try:
        delivery.done.emit(result)
    except RuntimeError:  # the window closed meanwhile
        pass
