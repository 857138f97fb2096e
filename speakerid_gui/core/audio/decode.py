"""Decode any supported file to 16 kHz mono float32, with one clear reason per failure."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speakerid_gui.core.audio.unclosed_wav import UnclosedWav, unclosed_wav

SAMPLE_RATE = 16000
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au"}
MAX_SECONDS = 4 * 3600.0  # longer files are skipped: split them first (4 h of 16 kHz float32 = 920 MB)
BLOCK_SECONDS = 10  # decoded and resampled at a time
MIN_SECONDS = 0.2  # shorter than this holds too few frames for any speaker model
# a file decoding to less than this share of its header's length is said to be cut short (VBR
# MP3 headers without a frame count give an estimate, hence not 1.0)
TRUNCATED_SHARE = 0.95


class AudioError(Exception):
    """A file that cannot be used; str() is a one-line message naming the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass
class AudioInfo:
    duration: float
    samplerate: int
    channels: int
    unclosed: UnclosedWav | None = None  # a WAV its recorder never closed: where its samples are


def find_audio_files(root: str | os.PathLike) -> list[Path]:
    """All audio files below root (or root itself), sorted, hidden folders skipped."""
    root = Path(root)
    if root.is_file():
        return [root]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if Path(name).suffix.lower() in AUDIO_EXTENSIONS and not name.startswith("."):
                found.append(Path(dirpath) / name)
    return sorted(found)


def source_folder(source: Path) -> Path:
    """The folder that find_audio_files(source)'s paths are taken relative to: source itself, or
    a single file's own folder (also once that file is gone: told by its audio extension)."""
    one_file = source.is_file() or (not source.exists() and source.suffix.lower() in AUDIO_EXTENSIONS)
    return source.parent if one_file else source


def probe(path: str | os.PathLike) -> AudioInfo:
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found (deleted or moved?)")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile's messages are long; keep the gist
        raise AudioError(path, f"not readable as audio ({_short(exc, path)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        unclosed = unclosed_wav(path)
        if unclosed is None:
            raise AudioError(path, "no audio frames")
        return AudioInfo(unclosed.duration, unclosed.rate, unclosed.channels, unclosed)
    return AudioInfo(info.frames / info.samplerate, info.samplerate, info.channels)


def load_audio(path: str | os.PathLike, max_seconds: float | None = None, notes: list | None = None) -> np.ndarray:
    """Decode, mix to mono and resample to 16 kHz. Raises AudioError with a reason.

    A file that stops decoding part-way (a truncated or damaged FLAC: libsndfile fails the whole
    read) gives what decoded before the damage, as does one that ends before its header says
    (MP3, Ogg); every caller gets the same samples, and `notes`, when given, receives a sentence
    saying how much of the file that is. Decoded a block at a time (_decode): the samples are
    those of one whole-file read (an MP3 within 4e-5 of it, where its blocks meet)."""
    max_seconds = MAX_SECONDS if max_seconds is None else max_seconds  # read at call time
    info = probe(path)
    if info.duration > max_seconds:
        raise AudioError(path, f"too long ({_clock(info.duration)} > {_clock(max_seconds)}): split it first")
    if info.duration < MIN_SECONDS:
        raise AudioError(path, f"too short ({info.duration:.2f} s < {MIN_SECONDS} s)")
    unclosed = info.unclosed
    wave, error = _decode(path, info.samplerate, int(round(info.duration * info.samplerate)), unclosed)
    decoded = len(wave) / SAMPLE_RATE
    if error is not None and decoded < MIN_SECONDS:
        raise AudioError(path, f"decoding failed ({_short(error, path)})") from None
    if not len(wave):
        raise AudioError(path, "no audio frames")
    if notes is not None and (error is not None or decoded < TRUNCATED_SHARE * info.duration):
        why = f" ({_short(error, path)})" if error is not None else ""
        notes.append(f"only the first {decoded:.1f} s of its {info.duration:.1f} s could be decoded{why}; "
                     "the rest is left out")
    if notes is not None and unclosed is not None:
        notes.append(f"its header says it holds no audio (a recording never closed?): the {decoded:.1f} s "
                     "after the header were read as its samples")
    return wave


def _decode(path, rate: int, frames: int, unclosed: UnclosedWav | None = None) -> tuple[np.ndarray, Exception | None]:
    """The file as 16 kHz mono float32, decoded, mixed and resampled a block at a time (soxr's
    stream gives the same samples as one call on the whole file), so a long recording at 48 kHz
    stereo never sits in memory at its own rate (3 h of it: 4 GB); and the error that stopped
    decoding early, if one did, after what decoded before it (the failing block again, a second
    at a time: libsndfile fails a whole read of a damaged FLAC)."""
    import soundfile as sf
    import soxr

    stream = None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32",
                                                                   quality="HQ")
    # filled in place (a list joined at the end would hold the recording twice)
    out = np.empty(int(np.ceil(frames * SAMPLE_RATE / rate)) + SAMPLE_RATE, np.float32)
    size = 0

    def push(block: np.ndarray, last: bool = False):
        nonlocal out, size
        mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
        if not np.all(np.isfinite(mono)):
            mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
        mono = mono if stream is None else stream.resample_chunk(mono, last=last)
        if size + len(mono) > len(out):  # longer than its header said
            out = np.concatenate([out[:size], np.empty(max(len(mono), len(out) // 2), np.float32)])
        out[size:size + len(mono)] = mono
        size += len(mono)

    error = None
    if unclosed is not None:  # libsndfile reads no frames of it
        for start in range(0, unclosed.frames, BLOCK_SECONDS * rate):
            push(unclosed.read(path, start, BLOCK_SECONDS * rate))
    else:
        try:
            with sf.SoundFile(str(path)) as f:
                while True:
                    at = f.tell()
                    try:
                        block = f.read(BLOCK_SECONDS * rate, dtype="float32", always_2d=True)
                    except Exception as exc:
                        error = exc
                        f.seek(at)
                        while len(block := f.read(rate, dtype="float32", always_2d=True)):
                            push(block)
                        break
                    if not len(block):
                        break
                    push(block)
        except Exception as exc:  # (also the salvage's own read failing, at the damage)
            error = error or exc
    if stream is not None:
        push(np.zeros((0, 1), np.float32), last=True)
    # a view keeps the whole buffer alive: copy out what a header that promised far more left
    return (out[:size] if size > 0.9 * len(out) else out[:size].copy()), error


def resample(wave: np.ndarray, sr: int, target: int = SAMPLE_RATE) -> np.ndarray:
    if sr == target:
        return np.ascontiguousarray(wave, dtype=np.float32)
    import soxr

    return soxr.resample(wave.astype(np.float32), sr, target, quality="HQ").astype(np.float32)


def read_span(path: str | os.PathLike, start: float, end: float) -> np.ndarray:
    """Just [start, end) seconds of a file at 16 kHz mono (for playback and inspection)."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            f.seek(min(max(0, int(start * sr)), f.frames))  # a span past the end reads nothing
            data = f.read(max(0, int((end - start) * sr)), dtype="float32", always_2d=True)
            unclosed = unclosed_wav(path) if f.frames == 0 else None
    except (OSError, RuntimeError) as exc:  # missing, unreadable or replaced since analysis
        raise AudioError(path, _short(exc, path)) from None
    if unclosed is not None:
        sr = unclosed.rate
        data = unclosed.read(path, int(start * sr), max(0, int((end - start) * sr)))
    return resample(data.mean(axis=1), sr)


def _clock(seconds: float) -> str:
    """1:02:03 (h:mm:ss): minutes alone rounded a file of 3 h 0 min 13 s to "180 min > 180 min"."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _short(exc: Exception, path: str | os.PathLike | None = None) -> str:
    """libsndfile's message without the path (AudioError names the file already), and without
    its "does not exist ... (possibly a pipe?)", which it says of a file it has just opened
    but found no audio stream in (a text file named .mp3, a truncated MPEG file)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if path is not None:
        text = text.replace(f"Error opening {str(path)!r}: ", "")
        if "does not exist or is not a regular file" in text and Path(path).is_file():
            text = f"no {Path(path).suffix.lstrip('.').upper() or 'audio'} stream found in it"
    return text[:160]
