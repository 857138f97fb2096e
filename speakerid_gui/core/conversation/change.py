"""Speaker-change detection: peaks in the distance between adjacent short windows.

Inside each speech region, short windows (1.5 s every 0.25 s) are embedded with a
speaker-embedding backend (CAM++ by default). At each candidate time t the window ending at t is compared with
the window starting at t (cosine distance after centring on the mean of all windows,
as cluster.prepare() does: raw CAM++ vectors share a large common direction). The
curve is smoothed and its peaks above a threshold are speaker turns. The threshold is
relative to the distribution of the distances over the batch of recordings analysed
together: most candidate points lie inside a speaker's turn, so the median and the
spread of the lower half describe "same speaker", and a turn is a point that stands
out from it (median + k * sigma). Each peak is then confirmed by the same test on up
to 3 s of audio on each side, which rejects most peaks caused by the noise of short
windows inside one speaker's speech.

Chosen on synthetic LibriSpeech conversations (librispeech-tc100-dev), not on AMI:
benchmarks/diarization.py reports DER on ami-debug and the sensitivity to k.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE

SR = SAMPLE_RATE


@dataclass(frozen=True)
class ChangeSettings:
    window: float = 1.5      # seconds on each side of a candidate point
    hop: float = 0.25        # seconds between candidate points
    smooth: float = 0.75     # moving-average width of the distance curve, seconds
    min_gap: float = 1.0     # seconds between two turns
    k: float = 2.0           # threshold: median + k * sigma of the batch's distances
    context: float = 3.0     # confirm each peak with up to this much audio on each side (0: no)
    backend: str = "campp"   # embeddings for the distances (a speaker-trained model)

    def key(self) -> str:
        return (f"cd-{self.backend}-{self.window:g}-{self.hop:g}-{self.smooth:g}-{self.min_gap:g}-{self.k:g}"
                f"-{self.context:g}")


@dataclass
class Curve:
    """The smoothed distance curve of one recording (all its regions, in time order)."""
    times: np.ndarray     # candidate turn times (s)
    distance: np.ndarray  # smoothed cosine distance at each time
    region: np.ndarray    # index of the speech region of each time
    threshold: float = float("nan")
    mean: np.ndarray | None = None  # the centring mean (of the batch's windows)


def window_starts(r0: float, r1: float, cs: ChangeSettings) -> np.ndarray:
    """Starts of the short windows inside one region (none when it cannot hold two)."""
    if r1 - r0 < 2 * cs.window:
        return np.zeros(0)
    return r0 + cs.hop * np.arange(int(np.floor((r1 - r0 - cs.window) / cs.hop + 1e-9)) + 1)


def _lag(cs: ChangeSettings) -> int:
    return max(1, int(round(cs.window / cs.hop)))


def _smooth(d: np.ndarray, cs: ChangeSettings) -> np.ndarray:
    n = max(1, int(round(cs.smooth / cs.hop)))
    if n == 1 or len(d) < 2:
        return d
    kernel = np.ones(n) / n
    # edge values repeated so the ends are not pulled towards zero
    padded = np.pad(d, (n // 2, n - 1 - n // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _prepare(E: np.ndarray, mean: np.ndarray) -> np.ndarray:
    X = E - mean
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-8)


def region_curve(X: np.ndarray, starts: np.ndarray, cs: ChangeSettings) -> tuple[np.ndarray, np.ndarray]:
    """(times, smoothed distances) for one region from its prepared window embeddings."""
    m = _lag(cs)
    if len(X) <= m:
        return np.zeros(0), np.zeros(0)
    d = 1.0 - np.einsum("ij,ij->i", X[:-m], X[m:])
    times = (starts[:-m] + cs.window + starts[m:]) / 2  # equal when window is a multiple of hop
    return times, _smooth(d, cs)


def threshold(distance: np.ndarray, cs: ChangeSettings) -> float:
    """median + k * sigma of the distances, sigma from the lower half (median - 25th percentile).

    Most candidate points lie inside one speaker's turn, so the median and the lower half
    describe "same speaker" even when turns are frequent (the upper tail would widen a
    plain standard deviation or MAD).
    """
    if not len(distance):
        return float("inf")
    q25, med = np.quantile(distance, [0.25, 0.5])
    return float(med + cs.k * (med - q25) / 0.6745)


def pick_turns(curve: Curve, cs: ChangeSettings, thr: float | None = None) -> list[float]:
    """Peaks of the curve above the threshold, at least min_gap apart, within each region."""
    from scipy.signal import find_peaks

    thr = curve.threshold if thr is None else thr
    turns = []
    for r in np.unique(curve.region):
        idx = np.flatnonzero(curve.region == r)
        d = curve.distance[idx]
        # pad with -inf so a maximum at a region edge is still a peak
        peaks, _ = find_peaks(np.r_[-np.inf, d, -np.inf], height=thr,
                              distance=max(1, int(round(cs.min_gap / cs.hop))))
        turns.extend(curve.times[idx[peaks - 1]].tolist())
    return sorted(round(t, 3) for t in turns)


def curves(waves: list[np.ndarray], regions: list[list[tuple[float, float]]], backend,
           cs: ChangeSettings = ChangeSettings(), mean: np.ndarray | None = None) -> list[Curve]:
    """Distance curves of several recordings; one embedding call for all their windows.

    regions: the speech regions of each wave, already merged as segmentation merges
    them. The centring mean is the mean of all windows given (the pipeline's batch of
    recordings), unless one is passed.
    """
    n = int(round(cs.window * SR))
    chunks, owners = [], []  # owners: (recording, region, starts)
    for w_idx, (wave, regs) in enumerate(zip(waves, regions)):
        for r_idx, (r0, r1) in enumerate(regs):
            starts = window_starts(r0, min(r1, len(wave) / SR), cs)
            for s in starts:
                a = int(round(s * SR))
                chunks.append(wave[a:a + n])
            owners.append((w_idx, r_idx, starts))
    out = [Curve(np.zeros(0), np.zeros(0), np.zeros(0, int)) for _ in waves]
    if not chunks:
        return out
    E = np.asarray(backend.embed(chunks), dtype=np.float32)
    X = _prepare(E, E.mean(axis=0) if mean is None else mean)
    parts: list[list] = [[] for _ in waves]  # (times, distances, region) per recording
    pos = 0
    for w_idx, r_idx, starts in owners:
        t, d = region_curve(X[pos:pos + len(starts)], starts, cs)
        pos += len(starts)
        parts[w_idx].append((t, d, np.full(len(t), r_idx)))
    for w_idx, p in enumerate(parts):
        if p:
            t, d, r = (np.concatenate(x) for x in zip(*p))
            out[w_idx] = Curve(t, d, r.astype(int))
    # One threshold for the batch: a single recording's own spread says little when it
    # holds one speaker (its tail is noise) or many short turns (its median is a turn).
    thr = threshold(np.concatenate([c.distance for c in out]), cs)
    for c in out:
        c.threshold, c.mean = thr, E.mean(axis=0) if mean is None else mean
    return out


def confirm(waves: list[np.ndarray], regions: list[list[tuple[float, float]]], candidates: list[list[float]],
            backend, mean: np.ndarray, thr: float, cs: ChangeSettings = ChangeSettings()) -> list[list[float]]:
    """Keep the candidate turns that pass the same test with more audio on each side.

    Each side runs up to cs.context seconds, stopping at the region's edge or the next
    candidate. Longer audio gives steadier embeddings: two sides of one speaker come out
    closer than two 1.5 s windows do, two speakers stay as far apart, so the threshold of
    the short windows is a stricter test here, for no new parameter.
    """
    chunks, owners = [], []
    for w_idx, (wave, regs, cands) in enumerate(zip(waves, regions, candidates)):
        for j, t in enumerate(cands):
            r0, r1 = next((a, b) for a, b in regs if a <= t <= b)
            left = max(r0, t - cs.context, cands[j - 1] if j else r0)
            right = min(r1, t + cs.context, cands[j + 1] if j + 1 < len(cands) else r1)
            chunks += [wave[int(left * SR):int(t * SR)], wave[int(t * SR):int(right * SR)]]
            owners.append((w_idx, t))
    out: list[list[float]] = [[] for _ in waves]
    if not chunks:
        return out
    X = _prepare(np.asarray(backend.embed(chunks), dtype=np.float32), mean)
    distance = 1.0 - np.einsum("ij,ij->i", X[0::2], X[1::2])
    for (w_idx, t), d in zip(owners, distance):
        if d > thr:
            out[w_idx].append(t)
    return out


def detect_turns(waves: list[np.ndarray], regions: list[list[tuple[float, float]]], backend,
                 cs: ChangeSettings = ChangeSettings(), merge_gap: float = 0.5,
                 mean: np.ndarray | None = None) -> list[list[float]]:
    """Speaker-turn times (s) of each wave, given its speech regions (as VAD gives them)."""
    from speakerid_gui.core.audio.segment import merge_regions

    merged = [merge_regions(r, merge_gap) for r in regions]
    found = curves(waves, merged, backend, cs, mean)
    candidates = [pick_turns(c, cs) for c in found]
    if not cs.context or not any(candidates):
        return candidates
    return confirm(waves, merged, candidates, backend, found[0].mean, found[0].threshold, cs)


@functools.lru_cache(maxsize=2)
def _backend(name: str):
    from speakerid_gui.core.embed import get_backend

    return get_backend(name)


def batch_turns(waves: list[np.ndarray], regions: list[list[tuple[float, float]]], backend=None,
                backend_name: str | None = None, merge_gap: float = 0.5,
                cs: ChangeSettings = ChangeSettings()) -> list[list[float]]:
    """The pipeline's entry: turns of a batch of recordings. The pipeline's own backend is
    reused when it is the one change detection asks for; otherwise that one is loaded once."""
    if backend is None or backend_name != cs.backend:
        backend = _backend(cs.backend)
    return detect_turns(waves, regions, backend, cs, merge_gap)
