"""Kaldi-compatible log-mel filterbank in numpy (25 ms frames, 10 ms shift, Povey window).

numpy, not torch: CAM++ in ONNX Runtime (the default) then runs without importing torch,
whose import alone took 0.85 s of a 3.7 s run over 240 short clips (benchmarks/speed.py).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE

SR = SAMPLE_RATE
FRAME = 400
SHIFT = 160
NFFT = 512


@functools.lru_cache(maxsize=8)
def _mel_banks(n_mels: int, low: float = 20.0, high: float = SR / 2) -> np.ndarray:
    """(NFFT/2 + 1, n_mels) triangular filters on Kaldi's mel scale (the Nyquist bin unused)."""
    def mel(f):
        return 1127.0 * math.log(1.0 + f / 700.0)

    mel_low, mel_high = mel(low), mel(high)
    delta = (mel_high - mel_low) / (n_mels + 1)
    fft_mels = 1127.0 * np.log1p(np.arange(NFFT // 2) * (SR / NFFT) / 700.0)
    left = mel_low + np.arange(n_mels)[:, None] * delta
    up = (fft_mels - left) / delta
    down = (left + 2 * delta - fft_mels) / delta
    banks = np.zeros((n_mels, NFFT // 2 + 1))
    banks[:, : NFFT // 2] = np.clip(np.minimum(up, down), 0.0, None)
    return np.ascontiguousarray(banks.T)


@functools.lru_cache(maxsize=1)
def _povey() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / (FRAME - 1))) ** 0.85


def fbank(waves: np.ndarray, n_mels: int = 80, scale: float = 32768.0) -> np.ndarray:
    """(B, samples) float -> (B, frames, n_mels) float32 log-mel energies, as kaldi.fbank with
    dither 0. Kaldi features are computed on int16-scaled samples; `scale` reproduces that.

    Computed in float64, rounded once at the end: speech that never filled the upper bands (8 kHz
    and telephone sources) leaves bins of near-zero power, whose logarithm in float32 arithmetic
    is rounding noise that differs between FFT implementations (0.016 apart between torch's and
    numpy's); in float64 they agree with any exact computation within float32's own rounding."""
    waves = np.asarray(waves, dtype=np.float32)
    if waves.ndim == 1:
        waves = waves[None]
    n_frames = 1 + (waves.shape[1] - FRAME) // SHIFT
    if n_frames < 1:
        raise ValueError("wave shorter than one 25 ms frame")
    frames = np.lib.stride_tricks.sliding_window_view(waves, FRAME, axis=1)[:, ::SHIFT][:, :n_frames]
    frames = frames * np.float64(scale)
    frames -= frames.mean(axis=2, keepdims=True)  # remove DC
    frames[:, :, 1:] -= 0.97 * frames[:, :, :-1]  # pre-emphasis (the right side is a copy)
    frames[:, :, 0] *= 1 - 0.97
    frames *= _povey()
    spec = np.fft.rfft(frames, n=NFFT, axis=2)
    mel = (spec.real ** 2 + spec.imag ** 2) @ _mel_banks(n_mels)
    return np.log(np.maximum(mel, np.finfo(np.float32).eps)).astype(np.float32)
