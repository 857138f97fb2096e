"""Kaldi-compatible log-mel filterbank in torch (25 ms frames, 10 ms shift, Povey window)."""
from __future__ import annotations

import functools
import math

import torch

from speakerid_gui.core.audio.decode import SAMPLE_RATE

SR = SAMPLE_RATE
FRAME = 400
SHIFT = 160
NFFT = 512


@functools.lru_cache(maxsize=8)
def _mel_banks(n_mels: int, low: float = 20.0, high: float = SR / 2) -> torch.Tensor:
    def mel(f):
        return 1127.0 * math.log(1.0 + f / 700.0)

    mel_low, mel_high = mel(low), mel(high)
    delta = (mel_high - mel_low) / (n_mels + 1)
    fft_mels = 1127.0 * torch.log1p(torch.arange(NFFT // 2, dtype=torch.float64) * (SR / NFFT) / 700.0)
    banks = torch.zeros(n_mels, NFFT // 2 + 1, dtype=torch.float64)
    for m in range(n_mels):
        left, centre, right = mel_low + m * delta, mel_low + (m + 1) * delta, mel_low + (m + 2) * delta
        up = (fft_mels - left) / (centre - left)
        down = (right - fft_mels) / (right - centre)
        banks[m, : NFFT // 2] = torch.clamp(torch.minimum(up, down), min=0.0)
    return banks.float()


@functools.lru_cache(maxsize=1)
def _povey() -> torch.Tensor:
    return torch.hann_window(FRAME, periodic=False, dtype=torch.float64).pow(0.85).float()


def fbank(waves: torch.Tensor, n_mels: int = 80, scale: float = 32768.0) -> torch.Tensor:
    """(B, samples) float -> (B, frames, n_mels) log-mel energies, as kaldi.fbank with dither 0.

    Kaldi features are computed on int16-scaled samples; `scale` reproduces that.
    """
    if waves.dim() == 1:
        waves = waves[None]
    x = waves * scale
    n_frames = 1 + (x.shape[1] - FRAME) // SHIFT
    if n_frames < 1:
        raise ValueError("wave shorter than one 25 ms frame")
    frames = x.unfold(1, FRAME, SHIFT)[:, :n_frames]  # (B, T, 400)
    frames = frames - frames.mean(dim=2, keepdim=True)  # remove DC
    prev = torch.cat([frames[:, :, :1], frames[:, :, :-1]], dim=2)
    frames = (frames - 0.97 * prev) * _povey()  # pre-emphasis, window
    spec = torch.fft.rfft(frames, n=NFFT).abs().pow(2)
    mel = spec @ _mel_banks(n_mels).T
    return torch.log(torch.clamp(mel, min=torch.finfo(torch.float32).eps))
