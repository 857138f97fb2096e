"""A small synthetic multi-speaker corpus, made here, for the demo and for tests.

Source-filter synthesis: a glottal pulse train (per-speaker f0, pitch contours, jitter,
shimmer, spectral tilt, breathiness) through a cascade of formant resonators (vowels
scaled by a per-speaker vocal-tract length), with fricative noise bursts, syllables,
words and pauses. Each file holds one speaker, except a few "conversation" files where
two speakers take turns. The truth is written as manifest.csv (path,speaker,duration_s;
"A;B" for two speakers) and reference.rttm (timed turns), the formats the evaluation reads.
No downloads, deterministic for a given seed.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE

SR = SAMPLE_RATE
BLOCK = 80  # samples per filter-coefficient update (5 ms): formants glide smoothly

# Formants (F1..F4, Hz) of an adult male vocal tract; other speakers scale them.
VOWELS = {
    "a": (730, 1090, 2440, 3400), "i": (270, 2290, 3010, 3600), "u": (300, 870, 2240, 3300),
    "e": (530, 1840, 2480, 3500), "o": (570, 840, 2410, 3400), "ae": (660, 1720, 2410, 3500),
    "er": (490, 1350, 1690, 3300), "uh": (520, 1190, 2390, 3400),
}
BANDWIDTHS = (80.0, 100.0, 140.0, 200.0)
NAMES = ["alice", "bruno", "chen", "dana", "emeka", "freya", "goran", "hana", "ivo", "julia"]


@dataclass(frozen=True)
class Voice:
    name: str
    f0: float            # median pitch, Hz
    f0_range: float      # semitones of pitch movement in a phrase
    tract: float         # formant scale (shorter tract -> higher formants)
    timbre: tuple        # per-formant offsets on top of the tract scale (individual resonances)
    tilt: float          # glottal low-pass pole (higher: darker, steeper tilt)
    breath: float        # aspiration noise relative to the pulses
    rate: float          # syllables per second
    jitter: float        # relative period jitter
    vowels: tuple        # the speaker's favourite vowels (a crude accent)


@dataclass
class DemoCorpus:
    folder: Path
    files: list[str]              # paths relative to folder
    speakers: list[str]
    manifest: Path
    rttm: Path


def voices(n: int, seed: int = 0) -> list[Voice]:
    """n clearly different voices: pitch, tract length and timbre spread over their ranges."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        female = i % 2 == 0
        f0 = (190 if female else 100) * 2 ** ((i // 2) * 0.3 - 0.3 + rng.uniform(-0.05, 0.05))
        tract = (1.15 if female else 0.97) * (1 + 0.12 * ((i * 3) % 5 - 2) / 2)
        vowel_names = list(VOWELS)
        pick = rng.choice(len(vowel_names), size=5, replace=False)
        out.append(Voice(
            name=NAMES[i] if i < len(NAMES) else f"speaker{i}", f0=float(f0),
            f0_range=float(rng.uniform(2.0, 6.0)), tract=float(tract),
            timbre=tuple(float(x) for x in 1 + rng.uniform(-0.12, 0.12, 4)),
            tilt=float(0.55 + 0.4 * ((i * 7) % 5) / 4), breath=float(0.02 + 0.18 * ((i * 2) % 5) / 4),
            rate=float(rng.uniform(3.2, 5.5)), jitter=float(rng.uniform(0.003, 0.015)),
            vowels=tuple(vowel_names[j] for j in pick)))
    return out


def _resonators(wave: np.ndarray, freqs: np.ndarray, bws: tuple) -> np.ndarray:
    """Cascade of 2-pole resonators whose centre frequencies change every BLOCK samples.

    freqs: (n_blocks, n_formants). Filter state carries across blocks, so the output is
    continuous while the formants move.
    """
    from scipy.signal import lfilter

    out = wave.astype(np.float64)
    n_blocks = freqs.shape[0]
    for k in range(freqs.shape[1]):
        r = np.exp(-np.pi * bws[k] / SR)
        zi = np.zeros(2)
        y = np.empty_like(out)
        for b in range(n_blocks):
            seg = slice(b * BLOCK, min((b + 1) * BLOCK, len(out)))
            if seg.start >= len(out):
                break
            theta = 2 * np.pi * min(freqs[b, k], SR / 2 - 200) / SR
            a = [1.0, -2 * r * np.cos(theta), r * r]
            gain = 1 - 2 * r * np.cos(theta) + r * r  # unit gain at DC, so levels stay sane
            y[seg], zi = lfilter([gain], a, out[seg], zi=zi)
        out = y
    return out


def _phrase(voice: Voice, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One breath group: syllables (consonant + vowel) with a falling, accented pitch contour."""
    n = int(seconds * SR)
    n_blocks = int(np.ceil(n / BLOCK))
    t_block = (np.arange(n_blocks) + 0.5) * BLOCK / SR
    # Syllable timeline: vowel targets and loudness per block.
    formants = np.zeros((n_blocks, 4))
    loud = np.zeros(n_blocks)
    fric = np.zeros(n_blocks)
    t = 0.0
    prev = np.array(VOWELS[voice.vowels[0]], float)
    while t < seconds - 0.12:
        dur = rng.uniform(0.6, 1.4) / voice.rate
        vowel = np.array(VOWELS[voice.vowels[rng.integers(len(voice.vowels))]], float)
        if rng.random() < 0.35:
            vowel = np.array(VOWELS[list(VOWELS)[rng.integers(len(VOWELS))]], float)
        cons = rng.uniform(0.03, 0.08) if rng.random() < 0.6 else 0.0
        in_syl = (t_block >= t) & (t_block < t + dur)
        frac = np.clip((t_block[in_syl] - t) / dur, 0, 1)
        glide = np.clip(frac / 0.3, 0, 1)[:, None]
        formants[in_syl] = prev + (vowel - prev) * glide
        env = np.sin(np.pi * np.clip((t_block[in_syl] - t - cons) / max(dur - cons, 1e-3), 0, 1)) ** 0.6
        loud[in_syl] = env * rng.uniform(0.7, 1.0)
        fric[in_syl & (t_block < t + cons)] = rng.uniform(0.3, 0.8)
        prev = vowel
        t += dur
    formants[loud == 0] = prev
    formants *= voice.tract * np.array(voice.timbre)
    # Pitch: declination plus one or two accents, in semitones around the median.
    semis = np.linspace(voice.f0_range * 0.4, -voice.f0_range * 0.4, n_blocks)
    for _ in range(rng.integers(1, 3)):
        centre, width = rng.uniform(0.1, 0.9) * seconds, rng.uniform(0.15, 0.4)
        semis += voice.f0_range * 0.6 * np.exp(-0.5 * ((t_block - centre) / width) ** 2)
    f0 = voice.f0 * 2 ** (semis / 12)
    f0_samples = np.repeat(f0, BLOCK)[:n] * (1 + voice.jitter * rng.standard_normal(n).cumsum() / np.sqrt(np.arange(1, n + 1)))
    # Glottal source: one pulse per period (phase wraps), low-passed into a sloped spectrum.
    phase = np.cumsum(f0_samples / SR)
    pulses = np.diff(np.floor(phase), prepend=0.0) * (1 + 0.08 * rng.standard_normal(n))  # shimmer
    from scipy.signal import lfilter

    source = lfilter([1.0], [1.0, -2 * voice.tilt, voice.tilt ** 2], pulses)
    source = np.diff(source, prepend=0.0)  # radiation at the lips
    source /= np.abs(source).max() + 1e-9
    noise = rng.standard_normal(n)
    voiced_gain = np.repeat(loud, BLOCK)[:n]
    source = voiced_gain * (source + voice.breath * noise * (0.5 + 0.5 * np.cos(2 * np.pi * phase)))
    voiced = _resonators(source, formants, tuple(b * voice.tract for b in BANDWIDTHS))
    hiss = lfilter([1, -1], [1, 0.2], noise) * np.repeat(fric, BLOCK)[:n]  # fricative: high-passed noise
    out = voiced / (np.abs(voiced).max() + 1e-9) + 0.25 * hiss
    return out


def speak(voice: Voice, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """About `seconds` of one voice: phrases of 1-3 s separated by short pauses."""
    parts, total = [], 0.0
    while total < seconds:
        length = min(rng.uniform(1.2, 3.0), max(seconds - total, 0.6))
        parts.append(_phrase(voice, length, rng))
        pause = rng.uniform(0.15, 0.5)
        parts.append(np.zeros(int(pause * SR)))
        total += length + pause
    wave = np.concatenate(parts)
    return (0.3 * wave / (np.abs(wave).max() + 1e-9)).astype(np.float32)


def make_demo_corpus(folder, n_speakers: int = 5, files_per_speaker: int = 3, conversations: int = 2,
                     seconds: float = 12.0, seed: int = 0) -> DemoCorpus:
    """Write the corpus into `folder` (created); returns what was written.

    Single-speaker files are named after their speaker (alice_1.wav ...); conversations
    (conversation_1.wav ...) alternate two speakers in turns of 2-4 s.
    """
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cast = voices(n_speakers, seed)
    room = 10 ** (-55 / 20)  # a quiet noise floor, as in real recordings
    rows, turns = [], []
    for v in cast:
        for j in range(files_per_speaker):
            wave = speak(v, seconds * rng.uniform(0.8, 1.2), rng)
            wave = wave + room * rng.standard_normal(len(wave)).astype(np.float32)
            name = f"{v.name}_{j + 1}.wav"
            sf.write(folder / name, wave, SR, subtype="PCM_16")
            rows.append((name, v.name, len(wave) / SR))
            turns.append((name, 0.0, len(wave) / SR, v.name))
    for c in range(conversations if n_speakers >= 2 else 0):
        a, b = rng.choice(len(cast), size=2, replace=False)
        parts, t, speaker = [], 0.0, a
        while t < seconds:
            wave = speak(cast[speaker], rng.uniform(2.0, 4.0), rng)
            parts.append(wave)
            turns.append((f"conversation_{c + 1}.wav", t, t + len(wave) / SR, cast[speaker].name))
            t += len(wave) / SR
            speaker = b if speaker == a else a
        wave = np.concatenate(parts)
        wave = wave + room * rng.standard_normal(len(wave)).astype(np.float32)
        name = f"conversation_{c + 1}.wav"
        sf.write(folder / name, wave, SR, subtype="PCM_16")
        rows.append((name, f"{cast[a].name};{cast[b].name}", len(wave) / SR))
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "speaker", "duration_s"])
        w.writerows((p, s, f"{d:.3f}") for p, s, d in rows)
    rttm = folder / "reference.rttm"
    with open(rttm, "w", encoding="utf-8") as f:
        for name, start, end, spk in turns:
            f.write(f"SPEAKER {Path(name).stem} 1 {start:.3f} {end - start:.3f} <NA> <NA> {spk} <NA> <NA>\n")
    return DemoCorpus(folder, [r[0] for r in rows], [v.name for v in cast], manifest, rttm)
