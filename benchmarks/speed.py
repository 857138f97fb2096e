"""End-to-end speed of `speakerid run` with defaults, per stage, and peak memory.

Builds a corpus of about --minutes of real speech by cycling through the files of
../shared/data (symlinks), then runs the pipeline in-process on a fresh project.
Also times a re-cluster with another speaker count (no re-embedding) and `classify` of new
audio with a classifier trained on the clusters (issue 4: >= 40x real time).
    python benchmarks/speed.py --minutes 60
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import DATA, available  # noqa: E402


def build_corpus(folder: Path, minutes: float) -> float:
    sources = sorted(p for p in DATA.rglob("*") if p.suffix in (".flac", ".wav") and "fsdd" not in str(p))
    total, i = 0.0, 0
    folder.mkdir(parents=True, exist_ok=True)
    while total < minutes * 60:
        src = sources[i % len(sources)]
        (folder / f"{i:05d}-{src.name}").symlink_to(src)
        total += sf.info(str(src)).duration
        i += 1
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--backend", default="campp")
    args = ap.parse_args()
    if not available():
        print("../shared/data not found: skipped")
        return
    from speakerid_gui.core.pipeline import Settings, Summary, run
    from speakerid_gui.core.store import Project

    work = Path(tempfile.mkdtemp(prefix="speakerid-speed-"))
    seconds = build_corpus(work / "audio", args.minutes)
    project = Project.create(work / "project", work / "audio")
    summary = Summary()
    t0 = time.perf_counter()
    for _ in run(project, Settings(backend=args.backend), summary=summary):
        pass
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"audio: {seconds / 60:.1f} min in {summary.files_ok} files, {summary.segments} segments, "
          f"{summary.clusters} clusters")
    print(f"end to end: {total:.1f} s = {seconds / total:.1f}x real time; peak RSS {peak:.0f} MB")
    for stage, s in summary.stage_seconds.items():
        print(f"  {stage:8s} {s:7.1f} s  ({seconds / max(s, 1e-9):7.1f}x real time)")
    t0 = time.perf_counter()
    for _ in run(project, Settings(backend=args.backend, speakers=max(2, summary.clusters // 2))):
        pass
    print(f"re-cluster with another --speakers: {time.perf_counter() - t0:.1f} s")
    classify_speed(project, work, minutes=min(args.minutes, 20))


def classify_speed(project, work: Path, minutes: float):
    """`speakerid classify` throughput: a classifier trained on the clusters labels new audio."""
    from speakerid_gui.core import learn_classifier as lc
    from speakerid_gui.core.pipeline import embeddings

    clf = lc.train(project, embeddings(project), "logreg")
    seconds = build_corpus(work / "new-audio", minutes)
    files = sorted((work / "new-audio").iterdir())
    t0 = time.perf_counter()
    rows, _, skipped = lc.classify_files(clf, files, work / "new-audio")
    took = time.perf_counter() - t0
    print(f"classify {seconds / 60:.1f} min of new audio ({len(files)} files, {len(rows)} segments): "
          f"{took:.1f} s = {seconds / took:.1f}x real time")


if __name__ == "__main__":
    main()
