"""Log-mel spectrogram of a short span, for display (numpy only, no Qt)."""
from __future__ import annotations

import functools

import numpy as np

N_FFT = 512
HOP = 160          # 10 ms at 16 kHz
N_MELS = 80
F_MAX = 8000.0
FLOOR_DB = -80.0   # display range below the span's peak


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=4)
def mel_filters(sr: int = 16000, n_fft: int = N_FFT, n_mels: int = N_MELS, f_max: float = F_MAX) -> np.ndarray:
    """(n_mels, n_fft//2+1) triangular filters on the mel scale."""
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(min(f_max, sr / 2)), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (bins[None, :] - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - bins[None, :]) / np.maximum(hi - mid, 1e-9)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def log_mel(wave: np.ndarray, sr: int = 16000) -> np.ndarray:
    """(frames, n_mels) power in dB relative to the span's peak: 0 at the top, FLOOR_DB at the bottom."""
    wave = np.asarray(wave, dtype=np.float32)
    # Centred frames: frame k is centred at k * HOP samples, so column k sits at k * 10 ms.
    wave = np.pad(wave, (N_FFT // 2, N_FFT // 2))
    frames = np.lib.stride_tricks.sliding_window_view(wave, N_FFT)[::HOP]
    spec = np.abs(np.fft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1)) ** 2
    mel = spec @ mel_filters(sr).T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db - db.max(), FLOOR_DB).astype(np.float32)


def time_extent(n_frames: int, sr: int = 16000) -> tuple[float, float]:
    """(x of the first column's left edge, total width) in seconds for an image of n_frames."""
    return -HOP / 2 / sr, n_frames * HOP / sr


def frequency_ticks(n_mels: int = N_MELS, sr: int = 16000, levels: tuple = ((250, 1000, 4000),
                    (100, 500, 2000, 8000))) -> list[list[tuple[float, str]]]:
    """Tick levels [(row position, label), ...] for a Hz/kHz axis on a mel-spaced image.

    Two levels, so pyqtgraph drops the second's labels first when the plot is short.
    """
    top = hz_to_mel(min(F_MAX, sr / 2))
    out = []
    for level in levels:
        ticks = []
        for hz in level:
            if hz <= min(F_MAX, sr / 2):
                # filter i is centred at mel (i + 1) * top / (n_mels + 1) and drawn over rows [i, i + 1)
                row = float(hz_to_mel(hz) * (n_mels + 1) / top - 0.5)
                ticks.append((row, f"{hz // 1000} kHz" if hz >= 1000 else f"{hz} Hz"))
        out.append(ticks)
    return out
