"""Speaker library: open-set naming across projects, and clip export throughput.

For each set: half of its speakers are "known", the other half strangers. A first project is
built from half of each known speaker's files (tc100: from the first pieces of its one
utterance, cut as in accuracy.py); its clusters are named as a reviewer would (each by the
true speaker of most of its segments) and enrolled into a fresh library. A second project
holds the known speakers' other files plus every file of the strangers; it is analysed with
the defaults (count estimated) and named from the library. Printed per set:
  named right = share of known speakers' segments whose cluster got their name (target >= 95 %)
  strangers named = share of strangers' segments whose cluster got any enrolled name (<= 2 %)
Every set is centred on a reference mean computed WITHOUT it (the mean of the other sets'
embeddings), to show the fixed reference transfers to speech it has not seen. Then the
score distributions (same / different speaker, cluster level) and the clip export speed.

    python benchmarks/library.py [--sets test-other,tc100-cut,speech-commands,fsdd] [--work DIR]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import datasets  # noqa: E402

SETS = ["test-other", "tc100-cut", "speech-commands", "fsdd"]


def manifest_of(name: str, work: Path) -> tuple[Path, list[tuple[str, str]]]:
    if name == "speech-commands":
        audio = datasets.DATA / "speech-commands-100"
        man = audio / "manifest.csv"
    else:
        audio, man = datasets.corpus(name, work)
    with open(man, newline="") as f:
        rows = [(r["path"], r["speaker"]) for r in csv.DictReader(f)]
    return audio, rows


def split(rows):
    """(enrol files, query files, known speakers): every second speaker is a stranger."""
    speakers = sorted({s for _, s in rows})
    known = set(speakers[::2])
    enrol, query = [], []
    for spk in speakers:
        files = sorted(p for p, s in rows if s == spk)
        if spk in known:
            k = max(1, len(files) // 2)
            enrol += files[:k]
            query += files[k:]
        else:
            query += files
    return enrol, query, known


def link_folder(audio: Path, files: list[str], out: Path) -> Path:
    for rel in files:
        link = out / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to((audio / rel).resolve())
    return out


def build(folder: Path, audio: Path):
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.store import Project

    project = Project.create(folder, audio)
    for ev in run(project, Settings(layout="pca", prosody=False)):
        if ev.level == "warning":
            print(f"  warning: {ev.message}", file=sys.stderr)
    return project


def truth_of(project, speaker_of: dict[str, str]) -> np.ndarray:
    paths = {r.id: r.path for r in project.recordings()}
    return np.array([speaker_of[paths[int(r)]] for r in project.seg_recording], dtype=object)


def name_as_reviewer(project, truth: np.ndarray):
    from speakerid_gui.core.edits import EditLog

    log = EditLog(project)
    for cid in sorted(project.cluster_sizes()):
        members = project.cluster == cid
        log.rename(cid, Counter(truth[members]).most_common(1)[0][0])


def reference_without(name: str, raw: dict[str, np.ndarray]) -> np.ndarray:
    """Mean of the other sets' embeddings, each set weighing the same."""
    return np.mean([raw[k].mean(axis=0) for k in raw if k != name], axis=0).astype(np.float32)


def open_set(name, work, raw_cache, threshold=None):
    from speakerid_gui.core import open_set as osd
    from speakerid_gui.core.library import Library
    from speakerid_gui.core.pipeline import embeddings

    audio, rows = manifest_of(name, work)
    speaker_of = dict(rows)
    enrol, query, known = split(rows)
    base = work / name
    enrol_p = build(base / "enrol-project", link_folder(audio, enrol, base / "enrol-audio"))
    query_p = build(base / "query-project", link_folder(audio, query, base / "query-audio"))
    raw_cache[name] = np.concatenate([embeddings(enrol_p), embeddings(query_p)])
    return enrol_p, query_p, speaker_of, known


def score_set(name, projects, ref_mean, threshold):
    from speakerid_gui.core import open_set as osd
    from speakerid_gui.core.library import Library
    import shutil

    enrol_p, query_p, speaker_of, known = projects
    t_enrol = truth_of(enrol_p, speaker_of)
    name_as_reviewer(enrol_p, t_enrol)
    lib_dir = enrol_p.folder.parent / "library"
    shutil.rmtree(lib_dir, ignore_errors=True)
    lib = Library.open(lib_dir, create=True)
    np.save(lib_dir / "reference_mean.npy", ref_mean)  # leave-one-set-out reference
    if threshold is not None:
        lib.data["threshold"] = threshold
        lib.save()
    lib.add_project(enrol_p)
    matches = osd.match_project(query_p, lib)
    named = {m.cluster: m.name for m in matches if m.accepted}
    truth = truth_of(query_p, speaker_of)
    given = np.array([named.get(int(c)) for c in query_p.cluster], dtype=object)
    is_known = np.array([t in known for t in truth])
    right = float(np.mean(given[is_known] == truth[is_known])) if is_known.any() else float("nan")
    strangers = float(np.mean([g is not None for g in given[~is_known]])) if (~is_known).any() else float("nan")
    same, diff = osd.cluster_score_pairs(query_p, lib, truth)
    return dict(set=name, enrolled=len(lib.speakers()), known_segments=int(is_known.sum()),
                stranger_segments=int((~is_known).sum()), clusters=len(query_p.cluster_sizes()),
                right=right, strangers=strangers, same=same, diff=diff)


def clip_speed(work: Path, minutes: float = 10.0):
    from speakerid_gui.cli import label_rows
    from speakerid_gui.core.clips import ClipOptions, export_clips
    from speakerid_gui.core.store import Project

    folder = work / "test-other" / "query-project"
    project = Project.open(folder)
    rows = label_rows(project)
    out = work / "clips-speed"
    import shutil

    results = []
    for label, opts in [("source rate", ClipOptions()), ("16 kHz mono", ClipOptions(sample_rate=16000, mono=True))]:
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        rep = export_clips(rows, project.audio_root, out, opts)
        took = time.perf_counter() - t0
        results.append((label, len(rep.clips), rep.seconds, took))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "speakerid-library-bench")
    ap.add_argument("--threshold", type=float, help="override the library's acceptance threshold")
    args = ap.parse_args()
    if not datasets.available():
        print(f"{datasets.DATA} not found: nothing to measure")
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    raw, projects = {}, {}
    for name in names:
        print(f"building {name} ...", file=sys.stderr)
        projects[name] = open_set(name, args.work, raw)
    from speakerid_gui.core.open_set import DEFAULT_THRESHOLD

    threshold = args.threshold if args.threshold is not None else DEFAULT_THRESHOLD
    print(f"\nthreshold {threshold:.3f} (cosine of centred cluster and speaker means)\n")
    print("| set | enrolled speakers | query clusters | known segs | stranger segs | named right | strangers named | "
          "same-speaker score (min / 5 % / median) | different-speaker score (median / 99 % / max) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for name in names:
        ref = reference_without(name, raw) if len(raw) > 1 else raw[name].mean(axis=0)
        r = score_set(name, projects[name], ref, threshold)
        same, diff = np.array(r["same"]), np.array(r["diff"])
        sq = f"{same.min():.3f} / {np.quantile(same, 0.05):.3f} / {np.median(same):.3f}" if len(same) else "-"
        dq = f"{np.median(diff):.3f} / {np.quantile(diff, 0.99):.3f} / {diff.max():.3f}" if len(diff) else "-"
        print(f"| {name} | {r['enrolled']} | {r['clusters']} | {r['known_segments']} | {r['stranger_segments']} | "
              f"{r['right']:.1%} | {r['strangers']:.1%} | {sq} | {dq} |", flush=True)
    if "test-other" in names:
        print("\nclip export (test-other query project, merged turns):")
        for label, n, seconds, took in clip_speed(args.work):
            print(f"  {label}: {n} clips, {seconds / 60:.1f} min of audio in {took:.2f} s = "
                  f"{seconds / 60 / took:.1f} min of audio per second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
