"""End-to-end speed of `speakerid run` with defaults: x real time, per step, peak RSS.

Every run is the real command in a fresh process (process start, imports and model load
included) on a fresh project, with default settings, so the figure is what a user sees.
Corpora are built in a temporary folder from ../shared/data (symlinks, or resampled copies):
  long    LibriSpeech utterances of 10-35 s and AMI meeting clips, plus one long file of
          --long-minutes made by joining utterances (the 10 s to one hour case)
  short   speech-commands-100 (1 s, 16 kHz), fsdd-subset (0.2-1.3 s, 8 kHz), and 2 s pieces
          of LibriSpeech written at 22.05 kHz and at 44.1 kHz
Targets (issue 16, 2 cores, float32, quiet machine): long >= 40x, short >= 30x each, with one
core busy >= 45 % of the quiet throughput; with bf16 not slower than before.

Modes (time on a quiet 2-core machine; everything is printed, nothing is asserted):
  python benchmarks/speed.py --quick     every target once, about 5-6 min:
        float32 long (10 min of files + a 10 min file), float32 short (4 corpora),
        float32 short with one core busy, bf16 long (if the CPU has bf16)
  python benchmarks/speed.py             the full set, about 15 min: as --quick with a
        60 min file, busy-core runs of both corpora, a re-cluster and `classify`
  python benchmarks/speed.py --only long|short|busy|bf16|classify   one part
The runs use SPEAKERID_FLOAT32=1 (how a CPU without bf16 runs) unless --precision auto.
Check `uptime` before and after: a busy machine makes every figure meaningless.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import DATA, available  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# ---- machine -------------------------------------------------------------------------------------
def machine_report() -> str:
    flags, model = set(), "?"
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.*)", text).group(1)
        flags = set(re.search(r"flags\s*:\s*(.*)", text).group(1).split())
    except (OSError, AttributeError):
        pass
    wanted = ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"]
    have = " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in wanted)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"cpu: {model}; {cores} cores usable; {have}\n"
            f"python {platform.python_version()}, load average {os.getloadavg()[0]:.2f} "
            f"(should be near 0), OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset: PASSIVE)')}")


# ---- corpora -------------------------------------------------------------------------------------
def _rows(folder: str, min_s: float = 0.0, max_s: float = 1e9) -> list[Path]:
    import csv

    with open(DATA / folder / "manifest.csv", newline="") as f:
        return [DATA / folder / r["path"] for r in csv.DictReader(f) if min_s <= float(r["duration_s"]) <= max_s]


def _link_all(paths: list[Path], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for i, src in enumerate(paths):
        (out / f"{i:05d}-{src.name}").symlink_to(src)
    return out


def long_files(work: Path, minutes: float, quick: bool) -> Path:
    """LibriSpeech utterances >= 10 s and AMI clips (a quarter of them for --quick), plus one
    file of `minutes` joined from utterances of many speakers."""
    utterances = _rows("librispeech-test-other", 10) + _rows("librispeech-tc100-dev", 10) + _rows("ami-debug")
    out = _link_all(utterances[::4] if quick else utterances, work / "long")
    pieces, total, i = [], 0.0, 0
    while total < minutes * 60:
        wave, sr = sf.read(utterances[i % len(utterances)], dtype="float32", always_2d=True)
        pieces.append(wave.mean(axis=1) if sr == 16000 else _resample(wave.mean(axis=1), sr, 16000))
        total += len(pieces[-1]) / 16000
        i += 1
    sf.write(out / f"joined-{minutes:g}min.flac", np.concatenate(pieces), 16000)
    return out


def _resample(wave, sr, target):
    import soxr

    return soxr.resample(wave, sr, target, quality="HQ").astype(np.float32)


def short_corpora(work: Path, quick: bool) -> dict[str, Path]:
    """The short-clip corpora: two as they are, two resampled copies of 2 s LibriSpeech pieces."""
    out = {"speech-commands-100 (1 s, 16 kHz)": DATA / "speech-commands-100",
           "fsdd-subset (0.2-1.3 s, 8 kHz)": DATA / "fsdd-subset"}
    sources = _rows("librispeech-test-other") + _rows("librispeech-tc100-dev")
    n = 150 if quick else 400
    for sr, name in ((22050, "2 s clips at 22.05 kHz"), (44100, "2 s clips at 44.1 kHz")):
        folder = work / f"clips-{sr}"
        folder.mkdir(parents=True, exist_ok=True)
        made, k, before_pass = 0, 0, -1
        while made < n:
            if k % len(sources) == 0:  # a new pass over the sources: stop when the last one made none
                if made == before_pass:
                    break
                before_pass = made
            wave, src_sr = sf.read(sources[k % len(sources)], dtype="float32")
            start = (k // len(sources) * 7 + 1) * src_sr  # another 2 s on each pass
            if len(wave) >= start + 2 * src_sr:
                sf.write(folder / f"{made:05d}.wav", _resample(wave[start:start + 2 * src_sr], src_sr, sr), sr)
                made += 1
            k += 1
        out[name] = folder
    return out


def audio_seconds(folder: Path) -> float:
    from speakerid_gui.core.audio.decode import find_audio_files

    return sum(sf.info(str(p)).duration for p in find_audio_files(folder))


# ---- one run -------------------------------------------------------------------------------------
def run_cli(audio: Path, project: Path, precision: str, extra=()) -> dict:
    """`speakerid run AUDIO --project P` in a new process: wall seconds, peak RSS, step seconds."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("OMP_NUM_THREADS", None)  # the defaults, as a user runs it
    if precision == "float32":
        env["SPEAKERID_FLOAT32"] = "1"
    else:
        env.pop("SPEAKERID_FLOAT32", None)
    if precision == "bf16":  # asked for: "auto" is float32 unless the CPU has AMX
        extra = ("--precision", "bf16", *extra)
    cmd = [sys.executable, "-m", "speakerid_gui.cli", "run", str(audio), "--project", str(project), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    steps = {}
    m = re.search(r"time: [\d.]+s \((.*)\)", out)
    if m:
        steps.update({k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)s", m.group(1))})
    m = re.search(r"seconds: (.*)", err)
    if m:
        steps.update({f"analyse.{k}": float(v) for k, v in re.findall(r"(\w+) ([\d.]+)", m.group(1))})
    segments = re.search(r"in (\d+) segments", out)
    return {"wall": wall, "rss_mb": usage.ru_maxrss / 1024, "steps": steps,
            "segments": int(segments.group(1)) if segments else 0, "cpu": usage.ru_utime + usage.ru_stime}


def report(name: str, seconds: float, r: dict, target: float | None = None) -> str:
    x = seconds / r["wall"]
    verdict = "" if target is None else f"  target >= {target:g}x: {'MET' if x >= target else 'NOT MET'}"
    steps = ", ".join(f"{k} {v:.1f}" for k, v in r["steps"].items())
    return (f"{name:38s} {seconds / 60:6.1f} min audio, {r['segments']:5d} segments: {r['wall']:6.1f} s wall "
            f"= {x:6.1f}x real time, cpu {r['cpu']:6.1f} s, peak RSS {r['rss_mb']:5.0f} MB{verdict}\n"
            f"{'':38s} steps (s): {steps}")


# ---- a busy core ---------------------------------------------------------------------------------
def _spin(core: int):
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    while True:
        pass


class BusyCore:
    """Another program holding one core at 100 % (pinned to the last usable core)."""

    def __enter__(self):
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
        self.proc = mp.get_context("spawn").Process(target=_spin, args=(cores[-1],), daemon=True)
        self.proc.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.join()


# ---- parts ---------------------------------------------------------------------------------------
def part_long(work, args, precision="float32", label="float32") -> dict:
    audio = long_files(work / f"long-{label}", args.long_minutes, args.quick)
    seconds = audio_seconds(audio)
    r = run_cli(audio, work / f"proj-long-{label}", precision)
    print(report(f"long files, {label}", seconds, r, 40 if label == "float32" else None), flush=True)
    return {"audio": audio, "seconds": seconds, "result": r}


def part_short(work, args, busy=False, corpora=None) -> dict:
    corpora = corpora or short_corpora(work / "short", args.quick)
    results = {}
    for name, audio in corpora.items():
        seconds = audio_seconds(audio)
        tag = re.sub(r"\W+", "-", name) + ("-busy" if busy else "")
        if busy:
            with BusyCore():
                r = run_cli(audio, work / f"proj-{tag}", "float32")
        else:
            r = run_cli(audio, work / f"proj-{tag}", "float32")
        print(report(("busy core: " if busy else "") + name, seconds, r, None if busy else 30), flush=True)
        results[name] = (seconds, r)
    return {"corpora": corpora, "results": results}


def compare_busy(quiet: dict, busy: dict):
    for name, (seconds, r_busy) in busy["results"].items():
        r_quiet = quiet["results"][name][1]
        share = r_quiet["wall"] / r_busy["wall"]
        print(f"busy core, {name}: {share:.0%} of the quiet throughput "
              f"(target >= 45 %: {'MET' if share >= 0.45 else 'NOT MET'})", flush=True)


def part_classify(work, long: dict, minutes: float):
    """`speakerid classify` of new audio with a classifier trained on the long run's clusters."""
    from speakerid_gui.core.classify import classifier as lc
    from speakerid_gui.core.pipeline import embeddings
    from speakerid_gui.core.project.store import Project

    project = Project.open(work / "proj-long-float32")
    clf = lc.train(project, embeddings(project), "logreg")
    files = sorted(p for p in long["audio"].iterdir() if not p.name.startswith("joined"))
    files = files[: max(1, int(len(files) * min(1.0, minutes * 60 / long["seconds"])))]
    seconds = sum(sf.info(str(p)).duration for p in files)
    os.environ["SPEAKERID_FLOAT32"] = "1"
    t0 = time.perf_counter()
    rows, _, _ = lc.classify_files(clf, files, long["audio"])
    took = time.perf_counter() - t0
    print(f"classify (in process, model loaded) {seconds / 60:.1f} min of audio, {len(rows)} segments: "
          f"{took:.1f} s = {seconds / took:.1f}x real time", flush=True)


def part_recluster(work, long: dict):
    t0 = time.perf_counter()
    r = run_cli(long["audio"], work / "proj-long-float32", "float32", ["--speakers", "20"])
    print(f"re-cluster of the long run with --speakers 20 (no re-embedding): {r['wall']:.1f} s wall "
          f"incl. process start ({time.perf_counter() - t0:.1f} s)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every target once, about 5-6 min on a quiet machine")
    ap.add_argument("--only", choices=["long", "short", "busy", "bf16", "classify"], help="one part only")
    ap.add_argument("--long-minutes", type=float, help="length of the joined long file (default 10 quick, 60 full)")
    ap.add_argument("--work", type=Path, help="work folder (default: a new temporary folder)")
    args = ap.parse_args()
    if args.long_minutes is None:
        args.long_minutes = 10.0 if args.quick else 60.0
    if not available():
        print("../shared/data not found: skipped")
        return
    from speakerid_gui.core.embed.campp import cpu_has_bf16

    work = args.work or Path(tempfile.mkdtemp(prefix="speakerid-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    print(machine_report(), flush=True)
    print(f"work folder {work}; every run: `speakerid run` in a new process, defaults, "
          f"SPEAKERID_FLOAT32=1 unless marked bf16", flush=True)
    t_start = time.perf_counter()

    def want(part):
        return args.only in (None, part)

    long = part_long(work, args) if want("long") or args.only == "classify" else None
    quiet = part_short(work, args) if want("short") or args.only == "busy" else None
    if want("busy"):
        if args.quick:  # the hardest case only: the short clips
            name = next(iter(quiet["corpora"]))
            busy = part_short(work, args, busy=True, corpora={name: quiet["corpora"][name]})
        else:
            busy = part_short(work, args, busy=True, corpora=quiet["corpora"])
        compare_busy(quiet, busy)
        if not args.quick and long:
            with BusyCore():
                r = run_cli(long["audio"], work / "proj-long-busy", "float32")
            print(report("busy core: long files", long["seconds"], r), flush=True)
            share = long["result"]["wall"] / r["wall"]
            print(f"busy core, long files: {share:.0%} of the quiet throughput "
                  f"(target >= 45 %: {'MET' if share >= 0.45 else 'NOT MET'})", flush=True)
    if want("bf16"):
        if cpu_has_bf16():
            part_long(work, args, precision="bf16", label="bf16")
        else:
            print("bf16: this CPU has no native bfloat16 (auto = float32); nothing more to measure")
    if not args.quick and (args.only in (None, "classify")) and long:
        part_classify(work, long, minutes=10)
        if args.only is None:
            part_recluster(work, long)
    print(f"benchmark took {(time.perf_counter() - t_start) / 60:.1f} min; "
          f"load average now {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
