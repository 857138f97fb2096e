"""Is a project's audio telephone speech? Told from the spectrum of its loudest frames.

A telephone line passes about 300-3400 Hz, and every voice on one line shares that filter: CAM++
then scores two different speakers higher (mean raw cosine 0.37 on wideband speech, 0.44-0.47 on
telephone copies of every set in ../shared/data: benchmarks/accuracy.py --calibration), so the
one-speaker test, calibrated on wideband speech, joined speakers until one cluster was left
(tc100-cut-phone: 120 speakers, 1 cluster). cluster.same_speaker.corpus_impostor measures the
level on the corpus itself when this says "telephone".

Telephone band: in the loudest 30 % of frames, the energy at 80-250 Hz is at least 12 dB and the
energy at 4.2-7 kHz at least 40 dB below the 300-3400 Hz band's (medians over the recordings).
Measured (low/mid, high/mid): wideband sets 0.06-2.1 and 0.001-0.018; fsdd, recorded at 8 kHz,
0.088 and 0 (not telephone: nothing above 4 kHz, but its low band is there; its speakers, each on
their own microphone, keep the wideband impostor level 0.386); the telephone copies 0.002-0.042
and 0. The low band's margin is small (fsdd 0.088 against the 0.063 limit): 8 kHz audio with
little bass is taken for telephone speech, and then only folders of one or two speakers of very
short clips suffer (their level is bounded by TELEPHONE_LIFT, not measured).
"""
from __future__ import annotations

import numpy as np

META_KEY = "channel"
SAMPLE_FILES = 16  # recordings decoded to decide (evenly spread over the project)
LOW_MAX = 10 ** (-12 / 10)
HIGH_MAX = 10 ** (-40 / 10)


def band_ratios(wave: np.ndarray, sr: int = 16000) -> tuple[float, float]:
    """(energy 80-250 Hz, energy 4.2-7 kHz), each over the 300-3400 Hz band's, in the loudest
    30 % of frames (speech rather than pauses, whose noise floor is flat)."""
    f, P = power_spectrogram(np.asarray(wave, dtype=np.float32), sr)
    energy = P.sum(axis=0)
    spectrum = P[:, energy >= np.quantile(energy, 0.7)].sum(axis=1)
    mid = max(float(spectrum[(f >= 300) & (f <= 3400)].sum()), 1e-20)
    return (float(spectrum[(f >= 80) & (f < 250)].sum()) / mid,
            float(spectrum[(f > 4200) & (f < 7000)].sum()) / mid)


def power_spectrogram(x: np.ndarray, sr: int, n: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, |STFT|^2 of shape (frequencies, frames)): a periodic Hann window of n, hop
    n/2, n/2 zeros at both ends and zeros to a whole last frame, as scipy.signal.stft's
    defaults (its scaling aside). Written with numpy: importing scipy.signal takes 0.5 s."""
    hop = n // 2
    x = np.concatenate([np.zeros(hop, np.float32), x, np.zeros(hop, np.float32)])
    x = np.concatenate([x, np.zeros((-(len(x) - n)) % hop if len(x) >= n else n - len(x), np.float32)])
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    spectrum = np.fft.rfft(frames * np.hanning(n + 1)[:-1].astype(np.float32), axis=1)
    return np.fft.rfftfreq(n, 1 / sr), (np.abs(spectrum) ** 2).T


def is_telephone(ratios: list[tuple[float, float]]) -> bool:
    if not ratios:
        return False
    low, high = np.median(np.asarray(ratios), axis=0)
    return bool(low < LOW_MAX and high < HIGH_MAX)


def telephone_band(project) -> bool:
    """Whether the project's audio is telephone speech, decided on up to SAMPLE_FILES analysed
    recordings and kept in the project's meta (recomputed when the analysed recordings change).
    Unreadable files are passed over; none readable: False (the wideband calibration)."""
    from speakerid_gui.core.audio.decode import AudioError, load_audio

    done = project.recordings("ok")
    key = f"{len(done)}:{done[0].path if done else ''}:{done[-1].path if done else ''}"
    kept = project.get_meta(META_KEY)
    if isinstance(kept, dict) and kept.get("key") == key:
        return bool(kept["telephone"])
    picks = [done[i] for i in np.unique(np.linspace(0, len(done) - 1, SAMPLE_FILES).astype(int))] if done else []
    ratios = []
    for rec in picks:
        try:
            # the analysis's own length limit: a file it took passes it (no unbounded decode here)
            ratios.append(band_ratios(load_audio(project.audio_root / rec.path)[:16000 * 120]))
        except (AudioError, OSError):
            continue
    telephone = is_telephone(ratios)
    project.set_meta(META_KEY, {"key": key, "telephone": telephone, "files": len(ratios)})
    return telephone


# On the telephone copies of ../shared/data (benchmarks/accuracy.py) the true count given did
# better than the estimate on three sets of five and never worse: speech-commands-100 0.440
# against 0.176, tc100-cut 0.899 against 0.780, fsdd-subset 0.950 against 0.879.
TELEPHONE_COUNT_NOTE = ("telephone-band speech (8 kHz): the number of speakers is harder to estimate on it; "
                        "if you know it, give it (speakerid run --speakers N, or Edit > Re-cluster... in the app)")


def count_notes(project, speakers: int | None):
    """What the user should know about an estimated speaker count (windows and conversation mode)."""
    from speakerid_gui.core.progress import Event

    if speakers is None and telephone_band(project):
        yield Event("cluster", message=TELEPHONE_COUNT_NOTE, level="warning")
