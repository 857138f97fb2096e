"""GE2E speaker encoder (Resemblyzer, 256-dim), weights from the installed `resemblyzer` wheel.

resemblyzer itself is never imported: its audio module pulls in webrtcvad -> pkg_resources
and librosa. The network is small enough to rebuild (3-layer LSTM 40->256, Linear
256->256, ReLU, L2 norm; run by ONNX Runtime, ge2e_onnx.py) and its features are re-implemented
in numpy:

- wav_to_mel_spectrogram: librosa.feature.melspectrogram defaults with n_fft=400 (25 ms),
  hop 160 (10 ms), 40 Slaney mel bands, periodic Hann window, centred frames with zero
  padding (librosa >= 0.10), power spectrum, and *no* log: the model was trained on it.
- preprocess_wav's volume normalisation (boost quiet audio to -30 dBFS, never attenuate),
  done per segment. Its webrtcvad silence trimming is left out: segments come from our VAD.
- embed_utterance: 1.6 s (160-frame) partial windows; their L2-normalised mean is the
  segment's embedding. We step by 80 frames (50 % overlap) and add one window aligned to the
  end, so the whole segment is covered without zero padding. Shorter segments: one partial
  over the whole segment.
"""
from __future__ import annotations

import functools

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE
from speakerid_gui.core.cpu import default_workers, parallel_map
from speakerid_gui.core.embed import register

SR = SAMPLE_RATE
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL = 160  # frames per partial window (1.6 s)
PARTIAL_STEP = 80  # 50 % overlap
TARGET_DBFS = -30.0
MIN_EQUAL_BATCH = 4  # partials of one length batched as they are; rarer lengths are padded
INT16_MAX = 2 ** 15 - 1


@functools.lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    # librosa's get_window("hann", n_fft, fftbins=True): the periodic Hann window.
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)


def normalize_volume(wave: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """resemblyzer's normalize_volume(..., increase_only=True): quiet waves are boosted."""
    rms = np.sqrt(np.mean(np.square(wave * INT16_MAX, dtype=np.float64))) if len(wave) else 0.0
    if rms <= 0.0:
        return wave  # digital silence: nothing to scale
    change_db = target_dbfs - 20.0 * np.log10(rms / INT16_MAX)
    if change_db < 0:
        return wave
    return wave * np.float32(10.0 ** (change_db / 20.0))


def mel_spectrogram(wave: np.ndarray) -> np.ndarray:
    """(frames, 40) float32 power mel spectrogram, frames = 1 + len(wave) // 160."""
    from speakerid_gui.core.embed.mfcc import mel_filterbank

    padded = np.pad(np.asarray(wave, dtype=np.float64), N_FFT // 2)  # center=True, constant pad
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    spec = np.fft.rfft(frames * _hann(), axis=1)
    power = spec.real ** 2 + spec.imag ** 2
    return (power @ mel_filterbank(SR, N_FFT, N_MELS).T).astype(np.float32)


def partial_starts(n_frames: int) -> list[int]:
    """First frame of each 160-frame partial; one partial (start 0) if the segment is shorter."""
    if n_frames <= PARTIAL:
        return [0]
    starts = list(range(0, n_frames - PARTIAL + 1, PARTIAL_STEP))
    if starts[-1] != n_frames - PARTIAL:
        starts.append(n_frames - PARTIAL)  # last window ends at the segment's end
    return starts


class Ge2eBackend:
    name = "ge2e"
    dim = 256

    def __init__(self, batch_size: int = 64, threads: int | None = None):
        from speakerid_gui.core.embed.ge2e_onnx import Ge2eSession
        from speakerid_gui.core.wheel_files import shipped_file

        self.workers = int(threads or default_workers())  # batches at once, one thread each
        self.network = Ge2eSession(shipped_file("resemblyzer", "pretrained.pt"))
        self.batch_size = batch_size  # partial windows per forward pass

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        if not waves:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Every partial window of every segment, as (segment index, mel frames).
        owners, partials = [], []
        for i, wave in enumerate(waves):
            mel = mel_spectrogram(normalize_volume(np.asarray(wave, dtype=np.float32)))
            for start in partial_starts(len(mel)):
                owners.append(i)
                partials.append(mel[start:start + PARTIAL])
        owners = np.array(owners)

        # Partials of a common length (a segment's 1.6 s partials) are batched as they are; the
        # rest, where short clips all differ in length, go longest first into padded batches
        # whose padding the network never reads (ge2e_onnx.py), so neighbours have like lengths.
        partial_embeds = np.zeros((len(partials), self.dim), dtype=np.float32)
        lengths = np.array([len(p) for p in partials])
        values, counts = np.unique(lengths, return_counts=True)
        common = set(values[counts >= MIN_EQUAL_BATCH].tolist())
        batches = []
        for length in sorted(common):
            idx = np.flatnonzero(lengths == length).tolist()
            batches += [idx[s:s + self.batch_size] for s in range(0, len(idx), self.batch_size)]
        rest = sorted((j for j in range(len(partials)) if lengths[j] not in common), key=lambda j: -lengths[j])
        batches += [rest[s:s + self.batch_size] for s in range(0, len(rest), self.batch_size)]
        while len(batches) < self.workers and max(len(b) for b in batches) > 1:  # every core a batch
            part = batches.pop(max(range(len(batches)), key=lambda i: len(batches[i])))
            batches += [part[: len(part) // 2], part[len(part) // 2:]]

        def run(part):
            return self.network([partials[j] for j in part])

        for part, vectors in zip(batches, parallel_map(run, batches, self.workers)):
            partial_embeds[part] = vectors

        out = np.zeros((len(waves), self.dim), dtype=np.float32)
        np.add.at(out, owners, partial_embeds)  # sum of partials per segment
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def warm_up():
    """Write the ONNX graph now (make setup), so no analysis imports torch to read the checkpoint."""
    from speakerid_gui.core.embed.ge2e_onnx import graph
    from speakerid_gui.core.wheel_files import shipped_file

    return graph(shipped_file("resemblyzer", "pretrained.pt"))


@register("ge2e")
def _factory(**options):
    return Ge2eBackend(**options)
