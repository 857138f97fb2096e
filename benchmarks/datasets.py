"""The real-speech sets of ../shared/data as benchmark corpora (audio folder + reference).

`librispeech-tc100-dev` is cut into 3-4 files per utterance (many recordings per speaker,
as in the source documents' scenario); the cut files are written once to a work folder.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def available() -> bool:
    return DATA.exists()


def corpus(name: str, work: Path) -> tuple[Path, Path]:
    """(audio folder, reference manifest or RTTM) for a set name."""
    if name == "test-other":
        return DATA / "librispeech-test-other", DATA / "librispeech-test-other" / "manifest.csv"
    if name in ("fsdd", "fsdd-subset"):
        return DATA / "fsdd-subset", DATA / "fsdd-subset" / "manifest.csv"
    if name in ("speech-commands", "speech-commands-100"):
        return DATA / "speech-commands-100", DATA / "speech-commands-100" / "manifest.csv"
    if name in ("ami", "ami-debug"):
        return DATA / "ami-debug", DATA / "ami-debug" / "reference.rttm"
    if name == "tc100-cut":
        return cut_tc100(work / "tc100-cut")
    if name == "mixed":
        return mixed(work)
    if name.endswith(PHONE):  # e.g. "test-other-phone": the set through a telephone line
        return telephone(*corpus(name[: -len(PHONE)], work), work / name)
    if name.endswith(NOISY):  # e.g. "tc100-cut-noisy": the set in background noise
        return noisy(*corpus(name[: -len(NOISY)], work), work / name)
    raise KeyError(name)


PHONE = "-phone"


def telephone(audio: Path, reference: Path, out: Path) -> tuple[Path, Path]:
    """A set as a telephone line carries it: 8 kHz, the 300-3400 Hz band, 8-bit mu-law."""
    import soxr
    from scipy.signal import butter, sosfilt

    sos = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")

    def line(wave, sr):
        return np.clip(sosfilt(sos, soxr.resample(wave, sr, 8000)), -1, 1), 8000, "ULAW"

    return rewritten(audio, reference, out, line)


NOISY = "-noisy"
NOISY_SNR_DB = 10.0


def noisy(audio: Path, reference: Path, out: Path) -> tuple[Path, Path]:
    """A set in steady background noise: pink noise (power falling 3 dB per octave, like a room's
    hum and traffic more than white hiss) at NOISY_SNR_DB below the file's speech, whose power is
    taken over its loudest half of 20 ms frames; the same seed per file, so the copy is fixed."""
    def room(wave, sr):
        frames = wave[: len(wave) // 320 * 320].reshape(-1, 320) if len(wave) >= 320 else wave[None, :]
        power = np.sort((frames ** 2).mean(axis=1))[len(frames) // 2:].mean()
        spectrum = np.fft.rfft(np.random.default_rng(len(wave)).normal(size=len(wave)))
        spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(len(wave), 1 / sr), 20.0))  # 1/f power
        pink = np.fft.irfft(spectrum, len(wave))
        pink *= np.sqrt(power / 10 ** (NOISY_SNR_DB / 10) / max(float((pink ** 2).mean()), 1e-20))
        return np.clip(wave + pink, -1, 1), sr, "PCM_16"

    return rewritten(audio, reference, out, room)


def rewritten(audio: Path, reference: Path, out: Path, convert) -> tuple[Path, Path]:
    """A copy of a set with every file passed through convert(mono wave, rate) -> (wave, rate,
    WAV subtype), as WAV files under the same relative paths (a manifest's paths follow, an RTTM
    names recordings by stem and stays as it is). Made once: an existing copy is reused."""
    ref_out = out / reference.name
    if ref_out.exists():
        return out, ref_out
    files = sorted(p for p in audio.rglob("*") if p.suffix.lower() in (".wav", ".flac"))
    for path in files:
        target = (out / path.relative_to(audio)).with_suffix(".wav")
        target.parent.mkdir(parents=True, exist_ok=True)
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
        wave, sr, subtype = convert(wave.mean(axis=1), sr)
        sf.write(str(target), np.asarray(wave, np.float32), sr, subtype=subtype)
    if reference.suffix == ".csv":
        with open(reference, newline="") as f:
            rows = list(csv.DictReader(f))
        with open(ref_out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows({**r, "path": str(Path(r["path"]).with_suffix(".wav"))} for r in rows)
    else:
        for extra in sorted(reference.parent.glob("reference.*")):  # the RTTM and its UEM
            (out / extra.name).write_bytes(extra.read_bytes())
    return out, ref_out


MIXED = ["test-other", "tc100-cut", "fsdd", "speech-commands"]


def mixed(work: Path) -> tuple[Path, Path]:
    """One folder holding every file of the single-speaker-file sets (symlinks, one sub-folder
    per set), as a pile of recordings of mixed lengths, rates and microphones would be: 10-35 s
    readings, 1-16 s pieces, 8 kHz digits and one-second words; speakers named set:speaker."""
    out = work / "mixed"
    manifest = out / "manifest.csv"
    if manifest.exists():
        return out, manifest
    rows = []
    for name in MIXED:
        audio, reference = corpus(name, work)
        with open(reference, newline="") as f:
            for row in csv.DictReader(f):
                link = out / name / row["path"]
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.exists():
                    link.symlink_to((audio / row["path"]).resolve())
                rows.append((f"{name}/{row['path']}", f"{name}:{row['speaker']}"))
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "speaker"])
        w.writerows(rows)
    return out, manifest


def cut_tc100(out: Path) -> tuple[Path, Path]:
    """Each utterance cut into 3 or 4 equal files (alternating), with a manifest."""
    src = DATA / "librispeech-tc100-dev"
    manifest = out / "manifest.csv"
    if manifest.exists():
        return out, manifest
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with open(src / "manifest.csv", newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            wave, sr = sf.read(src / row["path"], dtype="float32")
            parts = 3 + i % 2
            for k, piece in enumerate(np.array_split(wave, parts)):
                name = f"{Path(row['path']).stem}-part{k}.flac"
                sf.write(out / name, piece, sr)
                rows.append((name, row["speaker"], f"{len(piece) / sr:.3f}"))
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "speaker", "duration_s"])
        w.writerows(rows)
    return out, manifest


def subset(audio: Path, out: Path, every: int) -> Path:
    """A folder of symlinks to every `every`-th audio file of a set (same relative paths, so the
    set's reference still applies): a quick check of a benchmark on a fraction of the data."""
    from speakerid_gui.core.audio.decode import find_audio_files

    if every <= 1:
        return audio
    for path in find_audio_files(audio)[::every]:
        link = out / path.relative_to(audio)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(path.resolve())
    return out


def readers_talk(out: Path, n: int = 10, seconds: float = 60.0, seed: int = 7) -> Path:
    """Conversations made from librispeech-test-other, for diarization beside ami-debug: each of
    `n` recordings holds 2-5 of its 10 readers taking turns of 2-8 s of speech (pieces inside
    silero's speech regions), 0.8 s overlapping to 0.6 s apart, and in 4 turns of 10 a short
    piece (0.4-1.2 s) of another reader over the turn, like a backchannel. Every reader's turns
    come from other recordings of theirs than the turn before. Written once, with reference.rttm
    and reference.uem; returns the folder."""
    if (out / "reference.uem").exists():
        return out
    from speakerid_gui.core.audio.vad import speech_regions

    src = DATA / "librispeech-test-other"
    with open(src / "manifest.csv", newline="") as f:
        files: dict[str, list[Path]] = {}
        for row in csv.DictReader(f):
            files.setdefault(row["speaker"], []).append(src / row["path"])
    rng = np.random.default_rng(seed)
    loaded: dict[Path, tuple] = {}

    def piece(speaker, length):
        path = files[speaker][rng.integers(len(files[speaker]))]
        if path not in loaded:
            wave, _ = sf.read(path, dtype="float32")
            loaded[path] = (wave, speech_regions([wave])[0])
        wave, regions = loaded[path]
        regions = [r for r in regions if r[1] - r[0] >= length] or [max(regions, key=lambda r: r[1] - r[0])]
        a, b = regions[rng.integers(len(regions))]
        start = rng.uniform(a, max(a, b - length))
        return wave[int(start * 16000):int(min(b, start + length) * 16000)]

    out.mkdir(parents=True, exist_ok=True)
    turns, uem = [], []
    for i in range(n):
        name = f"talk{i:02d}"
        people = list(rng.choice(sorted(files), int(rng.integers(2, 6)), replace=False))
        mix = np.zeros(int((seconds + 10) * 16000), np.float32)
        t, last = 0.5, None
        while t < seconds - 3:
            speaker = rng.choice([s for s in people if s != last])
            last = speaker
            turn = piece(speaker, rng.uniform(2.0, 8.0))
            mix[int(t * 16000):int(t * 16000) + len(turn)] += turn
            turns.append((name, t, t + len(turn) / 16000, speaker))
            if rng.random() < 0.4 and len(turn) > 3 * 16000:
                other = rng.choice([s for s in people if s != speaker])
                over = piece(other, rng.uniform(0.4, 1.2))
                at = t + rng.uniform(0.5, len(turn) / 16000 - 1.5)
                mix[int(at * 16000):int(at * 16000) + len(over)] += over
                turns.append((name, at, at + len(over) / 16000, other))
            t += len(turn) / 16000 + rng.uniform(-0.8, 0.6)
        mix = mix[: int(seconds * 16000)]
        sf.write(out / f"{name}.wav", mix / max(1.0, float(np.abs(mix).max())), 16000)
        uem.append(f"{name} 1 0.000 {seconds:.3f}")
    with open(out / "reference.rttm", "w") as f:
        for name, a, b, speaker in turns:
            if a < seconds:
                f.write(f"SPEAKER {name} 1 {a:.3f} {min(b, seconds) - a:.3f} <NA> <NA> {speaker} <NA> <NA>\n")
    (out / "reference.uem").write_text("\n".join(uem) + "\n")
    return out

