"""Classic hand-made features (the source documents' baseline): numpy/scipy only, no weights.

Per 25 ms frame (10 ms hop): 20 MFCCs from a 40-band log-mel, their deltas, zero-crossing
rate, RMS energy (dB), spectral roll-off (85 %) and spectral centroid (both in kHz so no
column dwarfs the others). A segment's vector is the mean and then the std over frames of
each of those 44 values: dim 88, order given by FEATURE_NAMES.

The raw columns have very different scales; standardise them over a collection (z-score per
column) before comparing with cosine similarity.
"""
from __future__ import annotations

import functools

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE
from speakerid_gui.core.embed import register

SR = SAMPLE_RATE
FRAME = 400  # 25 ms
HOP = 160  # 10 ms
NFFT = 512
N_MELS = 40
N_MFCC = 20
ROLLOFF = 0.85
_EPS = 1e-10

FRAME_FEATURES = (
    [f"mfcc{i}" for i in range(N_MFCC)]
    + [f"delta_mfcc{i}" for i in range(N_MFCC)]
    + ["zcr", "rms_db", "rolloff_khz", "centroid_khz"]
)
FEATURE_NAMES = [f"mean_{n}" for n in FRAME_FEATURES] + [f"std_{n}" for n in FRAME_FEATURES]


# --- Slaney mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # = 15
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    log_part = hz >= _MIN_LOG_HZ
    return np.where(log_part, _MIN_LOG_MEL + np.log(np.maximum(hz, _EPS) / _MIN_LOG_HZ) / _LOGSTEP, mel)


def mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel)


@functools.lru_cache(maxsize=8)
def mel_filterbank(sr: int = SR, n_fft: int = NFFT, n_mels: int = N_MELS,
                   fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft//2 + 1) triangular filters, Slaney-normalised (equal area), as
    librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels) builds them by default."""
    fmax = sr / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    # Slaney norm: divide each triangle by its width so every band has the same area.
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    weights.setflags(write=False)  # cached: callers must not change it
    return weights


def frames_of(wave: np.ndarray, frame: int = FRAME, hop: int = HOP) -> np.ndarray:
    """(T, frame) strided view of the wave; a wave shorter than one frame is zero-padded."""
    if len(wave) < frame:
        wave = np.pad(wave, (0, frame - len(wave)))
    return np.lib.stride_tricks.sliding_window_view(wave, frame)[::hop]


def deltas(x: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas over time (axis 0), edges repeated: the usual HTK/Kaldi formula."""
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    n = len(x)
    out = np.zeros_like(x)
    for k in range(1, width + 1):
        out += k * (padded[width + k:width + k + n] - padded[width - k:width - k + n])
    return out / (2 * sum(k * k for k in range(1, width + 1)))


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    from scipy.signal import get_window

    return get_window("hamming", FRAME, fftbins=True)


def frame_features(wave: np.ndarray) -> np.ndarray:
    """(T, 44) per-frame features of a 16 kHz wave, columns as FRAME_FEATURES."""
    from scipy.fft import dct, rfft

    frames = frames_of(np.asarray(wave, dtype=np.float64))
    mag = np.abs(rfft(frames * _window(), n=NFFT, axis=1))  # (T, 257)
    power = mag * mag
    log_mel = np.log(power @ mel_filterbank().T + _EPS)
    mfcc = dct(log_mel, type=2, norm="ortho", axis=1)[:, :N_MFCC]

    # Zero crossings counted on the raw frame (not windowed), as a rate per sample.
    zcr = np.count_nonzero(np.diff(np.signbit(frames), axis=1), axis=1) / (FRAME - 1)
    rms_db = 10.0 * np.log10(np.mean(frames * frames, axis=1) + _EPS)

    freqs_khz = np.linspace(0.0, SR / 2000, NFFT // 2 + 1)
    total = mag.sum(axis=1)
    silent = total <= _EPS
    cum = np.cumsum(mag, axis=1)
    rolloff = freqs_khz[np.argmax(cum >= ROLLOFF * total[:, None], axis=1)]
    centroid = (mag @ freqs_khz) / np.where(silent, 1.0, total)
    rolloff[silent] = 0.0
    centroid[silent] = 0.0

    return np.column_stack([mfcc, deltas(mfcc), zcr, rms_db, rolloff, centroid])


def segment_vector(wave: np.ndarray) -> np.ndarray:
    feats = frame_features(wave)
    return np.concatenate([feats.mean(axis=0), feats.std(axis=0)]).astype(np.float32)


class MfccBackend:
    name = "mfcc"
    dim = 2 * len(FRAME_FEATURES)  # 88

    def __init__(self, **_options):
        pass  # nothing to load; accepts (and ignores) batch_size/threads like the other backends

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(waves), self.dim), dtype=np.float32)
        for i, wave in enumerate(waves):  # each segment is vectorised over its frames
            out[i] = segment_vector(wave)
        return out


@register("mfcc")
def _factory(**options):
    return MfccBackend(**options)
