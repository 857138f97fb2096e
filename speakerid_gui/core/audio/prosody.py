"""Pitch and energy curves for the review panels, and a small per-segment summary vector.

All curves live on one time grid: point k sits at (k + 0.5) * step seconds, the centre of
the k-th step. Pitch comes from Praat's autocorrelation method (via praat-parselmouth);
energy is the RMS of a 25 ms frame centred on each grid point, in dB re full scale.

For a long recording, call `recording_prosody` once and cut each segment out with
`slice_prosody`, so overlapping windows never run Praat twice over the same audio.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE

PITCH_FLOOR = 60.0
PITCH_CEILING = 500.0
ENERGY_WINDOW = 0.025  # s
ENERGY_FLOOR_DB = -100.0  # digital silence reads as this, not -inf
CHUNK_SECONDS = 60.0  # Praat is run on at most this much audio (plus margins) at a time
ENERGY_FRAMES_AT_ONCE = 4096
CHUNK_MARGIN = 1.0  # s of context on each side so chunk edges do not change the pitch track

STAT_NAMES = (
    "pitch_median_hz",
    "pitch_iqr_hz",
    "pitch_p10_hz",
    "pitch_p90_hz",
    "pitch_mean_abs_slope_hz_per_s",  # over consecutive voiced grid points
    "voiced_fraction",
    "energy_mean_db",
    "energy_std_db",
    "energy_range_db",  # 95th minus 5th percentile (max - min would just measure the silences)
)


@dataclass
class Prosody:
    times: np.ndarray  # s, grid point centres
    pitch: np.ndarray  # Hz, NaN where unvoiced
    energy: np.ndarray  # dB re full scale (RMS)


def _grid(n_samples: int, sr: int, step: float) -> np.ndarray:
    n = int(n_samples / sr / step + 1e-9)
    return (np.arange(n) + 0.5) * step


def _pitch_on_grid(wave: np.ndarray, sr: int, step: float, times: np.ndarray, offset: float) -> np.ndarray:
    """Praat pitch of `wave` (which starts at `offset` s), read at `times` (absolute s).

    Each grid point takes the nearest Praat frame's value; NaN if that frame is unvoiced or
    more than half a step away (Praat has no frames in the first/last half analysis window).
    """
    import parselmouth

    out = np.full(len(times), np.nan)
    try:
        pitch = parselmouth.Sound(np.asarray(wave, dtype=np.float64), sampling_frequency=sr).to_pitch_ac(
            time_step=step, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING)
    except parselmouth.PraatError:
        return out  # too short for one analysis window: nothing voiced
    xs = np.asarray(pitch.xs()) + offset
    if len(xs) == 0:
        return out
    f0 = pitch.selected_array["frequency"].astype(np.float64)
    f0[f0 <= 0] = np.nan  # Praat marks unvoiced frames with 0
    nearest = np.clip(np.rint((times - xs[0]) / pitch.dt).astype(int), 0, len(xs) - 1)
    close = np.abs(xs[nearest] - times) <= step / 2 + 1e-9
    out[close] = f0[nearest[close]]
    return out


def _energy_on_grid(wave: np.ndarray, sr: int, times: np.ndarray, offset: float) -> np.ndarray:
    """RMS (dB) of the 25 ms frame centred on each grid point; zeros beyond the wave's ends."""
    half = int(round(ENERGY_WINDOW * sr / 2))
    centres = np.rint((times - offset) * sr).astype(int)  # frame k: wave[centre - half, centre + half)
    rms = np.empty(len(centres))
    # a few thousand frames at a time, each batch from its own zero-padded piece of the wave: all
    # of an hour's frames at once held 2 GB of float64 copies, a padded copy of 3 h another 0.7 GB
    for first in range(0, len(centres), ENERGY_FRAMES_AT_ONCE):
        c = centres[first:first + ENERGY_FRAMES_AT_ONCE]
        lo, hi = int(c.min()) - half, int(c.max()) + half
        piece = np.zeros(hi - lo, np.float64)
        a, b = max(lo, 0), min(hi, len(wave))
        if b > a:
            piece[a - lo:b - lo] = wave[a:b]
        frames = np.lib.stride_tricks.sliding_window_view(piece, 2 * half)[c - (lo + half)]
        rms[first:first + len(c)] = np.sqrt(np.mean(frames * frames, axis=1))
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12)), ENERGY_FLOOR_DB)


def prosody_curves(wave: np.ndarray, sr: int = SAMPLE_RATE, step: float = 0.01) -> Prosody:
    """Pitch and energy of a wave on the grid (k + 0.5) * step, k < duration / step."""
    times = _grid(len(wave), sr, step)
    pitch = np.full(len(times), np.nan)
    energy = np.full(len(times), ENERGY_FLOOR_DB)
    per_chunk = max(1, int(round(CHUNK_SECONDS / step)))
    margin = int(CHUNK_MARGIN * sr)
    for first in range(0, len(times), per_chunk):
        sel = slice(first, min(first + per_chunk, len(times)))
        t = times[sel]
        # The chunk's audio: its grid span plus context, clipped to the wave.
        lo = max(0, int((t[0] - step / 2) * sr) - margin)
        hi = min(len(wave), int(np.ceil((t[-1] + step / 2) * sr)) + margin)
        part = wave[lo:hi]
        pitch[sel] = _pitch_on_grid(part, sr, step, t, lo / sr)
        energy[sel] = _energy_on_grid(part, sr, t, lo / sr)
    return Prosody(times, pitch, energy)


def recording_prosody(wave: np.ndarray, sr: int = SAMPLE_RATE, step: float = 0.01,
                      spans: list[tuple[float, float]] | None = None) -> Prosody:
    """Curves for a whole recording, computed once (Praat runs on ~60 s chunks to bound
    memory); cut segments out with slice_prosody.

    With `spans` (the segments), pitch is only tracked inside them: Praat is the slow
    part, and the review panels only show segments. Elsewhere pitch is NaN.
    """
    if spans is None:
        return prosody_curves(wave, sr, step)
    times = _grid(len(wave), sr, step)
    energy = _energy_on_grid(wave, sr, times, 0.0)
    pitch = np.full(len(times), np.nan)
    margin = int(CHUNK_MARGIN * sr)
    for start, end in _merge(spans):
        sel = np.flatnonzero((times >= start) & (times < end))
        for first in range(0, len(sel), max(1, int(round(CHUNK_SECONDS / step)))):
            idx = sel[first:first + int(round(CHUNK_SECONDS / step))]
            t = times[idx]
            lo = max(0, int((t[0] - step / 2) * sr) - margin)
            hi = min(len(wave), int(np.ceil((t[-1] + step / 2) * sr)) + margin)
            pitch[idx] = _pitch_on_grid(wave[lo:hi], sr, step, t, lo / sr)
    return Prosody(times, pitch, energy)


def _merge(spans):
    merged = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


def slice_prosody(p: Prosody, start: float, end: float) -> Prosody:
    """The part of recording curves with start <= t < end, times relative to start."""
    keep = (p.times >= start) & (p.times < end)
    return Prosody(p.times[keep] - start, p.pitch[keep], p.energy[keep])


def prosody_stats(p: Prosody) -> np.ndarray:
    """float32 vector in STAT_NAMES order; zeros for the pitch stats when nothing is voiced."""
    out = np.zeros(len(STAT_NAMES), dtype=np.float32)
    if len(p.times) == 0:
        return out
    voiced = np.isfinite(p.pitch)
    if voiced.any():
        f0 = p.pitch[voiced]
        p10, q25, median, q75, p90 = np.percentile(f0, [10, 25, 50, 75, 90])
        both = voiced[1:] & voiced[:-1]  # slopes only between neighbouring voiced points
        slopes = np.abs(np.diff(p.pitch))[both] / np.diff(p.times)[both]
        out[:5] = [median, q75 - q25, p10, p90, slopes.mean() if len(slopes) else 0.0]
        out[5] = voiced.mean()
    e = p.energy
    p5, p95 = np.percentile(e, [5, 95])
    out[6:] = [e.mean(), e.std(), p95 - p5]
    return out
