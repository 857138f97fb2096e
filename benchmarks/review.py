"""Learning from the reviewer: simulated review curves and the 100k speed targets.

    python benchmarks/review.py [--sets tc100-cut speech-commands-100 fsdd-subset ami-debug]
                                [--budget 0.05] [--work DIR] [--plot OUT.png]
Per set: segment accuracy versus share of segments heard and versus reviewer minutes (each
action charged the cost stated in evaluate.simulate.COSTS), through the tool's suggestions and
through random segments (each on a copy of the project); the precision of the first 10 and
50 suggestions (share pointing at a real error); a PNG of the curves; then propagation and
refinement times on 100,000 synthetic 192-dim embeddings.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import available, corpus  # noqa: E402


def speed(n=100_000, k=300, n_verified=3000):
    from speakerid_gui.core.learn import reviewer as learn

    class FakeProject:  # only the assignment arrays are read
        pass

    class FakeLog:
        def relabel(self, *a, **k):
            return 0

    rng = np.random.default_rng(0)
    lab = rng.integers(0, k, n)
    emb = (rng.normal(size=(k, 192))[lab] + rng.normal(size=(n, 192)) * 1.5).astype(np.float32)
    p = FakeProject()
    p.cluster, p.noise, p.confidence = lab.astype(np.int32), np.zeros(n, bool), np.zeros(n, np.float32)
    p.verified = np.zeros(n, bool)
    p.verified[rng.choice(n, n_verified, replace=False)] = True
    t0 = time.perf_counter()
    learn.assign(p, learn.prepare(emb))
    t_prop = time.perf_counter() - t0
    t0 = time.perf_counter()
    learn.refine_run(p, emb, log=FakeLog(), threads=2)
    t_ref = time.perf_counter() - t0
    print(f"propagation {n} x 192: {t_prop:.2f}s   refinement ({n_verified} verified): {t_ref:.1f}s")


SETS = ["tc100-cut", "speech-commands-100", "fsdd-subset", "ami-debug"]


def relearn_speed(n: int = 10_000, k: int = 150, repeat: int = 3):
    """What the app does after each answer at n segments: the background relearn job (open the
    project, load the embeddings, learnt-threshold merging + propagation), timed end to end."""
    from gui_scale import build_project

    from speakerid_gui.core.project import constraints
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.project.store import Project
    from speakerid_gui.gui.learning_jobs import relearn_job

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_project(Path(tmp), n, k)
        p = Project.open(folder)
        log = EditLog(p)
        rng = np.random.default_rng(1)
        sizes = p.cluster_sizes()
        for c in sorted(sizes, key=sizes.get)[-20:]:  # 20 speakers named with 5 segments each
            log.verify(rng.choice(np.flatnonzero(p.cluster == c), 5, replace=False))
        a, b = (np.flatnonzero(p.cluster == c)[0] for c in sorted(sizes, key=sizes.get)[:2])
        constraints.answer_pair(p, int(a), int(b), True, 0.5)
        p.close()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = relearn_job(None, folder, 0)
            times.append(time.perf_counter() - t0)
        print(f"relearn after an answer at {n:,} segments / {k} clusters (background job, end to end): "
              f"{min(times):.2f}s best of {repeat} ({r.considered:,} segments relabelled, {r.note})")


def build(name: str, work: Path) -> tuple[Path, Path]:
    """The set's project (CAM++, estimated count), analysed once and cached under `work`."""
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.project.store import Project

    audio, reference = corpus(name, work)
    folder = work / f"proj-{name}"
    if not (folder / "project.sqlite").exists():
        project = Project.create(folder, audio)
        for _ in run(project, Settings(layout="pca", prosody=False)):
            pass
        project.close()
    return folder, reference


def precision(folder: Path, reference: Path) -> tuple[float, float]:
    """Share of the first 10 and 50 suggestions claiming an error that point at a real one, in the
    starting queue ("name" questions claim none and are left out). A suggestion points at a real
    error (evaluate.simulate.points_at_error), by kind:
    - pair: both clusters have the same majority reference speaker (one speaker split in two);
    - mixed: the two proposed parts have different majority speakers (so the cluster holds more than
      one speaker, the second with at least a majority of the smaller part);
    - segment: the segment's reference speaker is not its cluster's majority (its label is wrong);
    - spread: at least one of its (two) farthest segments is not of the cluster's majority speaker,
      i.e. at least half of what it plays is wrongly labelled."""
    from speakerid_gui.core.learn.reviewer import suggestions
    from speakerid_gui.core.evaluate.simulate import points_at_error, true_labels
    from speakerid_gui.core.pipeline import embeddings
    from speakerid_gui.core.project.store import Project

    p = Project.open(folder)
    try:
        true = true_labels(p, reference)
        # "name" questions (who is this cluster?) claim no error; the rest each claim one
        claims = [s for s in suggestions(p, embeddings(p), n=200) if s.kind != "name"][:50]
        hits = [points_at_error(s, p.cluster, true) for s in claims]
    finally:
        p.close()
    return (float(np.mean(hits[:10])) if hits else float("nan"), float(np.mean(hits)) if hits else float("nan"))


def at(curve, share: float) -> float:
    """Accuracy once `share` of the segments had been heard (the last point at or before it)."""
    k = np.searchsorted(np.asarray(curve.reviewed), share + 1e-9, side="right") - 1
    return curve.accuracy[max(int(k), 0)]


def plot(results: dict, out: Path):
    """Accuracy against share reviewed and against reviewer minutes, one line per set and strategy."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install matplotlib)")
        return
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, curves) in enumerate(results.items()):
        for c in curves:
            style = dict(color=colours[k % len(colours)], ls="-" if c.strategy == "suggestions" else ":",
                         marker="o" if c.strategy == "suggestions" else None, ms=3,
                         label=f"{name} ({c.strategy})")
            a1.plot(np.asarray(c.reviewed) * 100, c.accuracy, **style)
            a2.plot(c.minutes, c.accuracy, **style)
    a1.set_xlabel("segments heard (%)")
    a2.set_xlabel("reviewer minutes (stated cost per action)")
    a1.set_ylabel("segment accuracy")
    a1.axhline(0.95, color="#999", lw=0.8)
    a2.axhline(0.95, color="#999", lw=0.8)
    a2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # beside the curves, never over one
    fig.suptitle("Simulated review: suggestions (solid) vs random segments (dotted)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=SETS)
    ap.add_argument("--budget", type=float, default=0.05)
    ap.add_argument("--step", type=float, default=0.005)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench")
    ap.add_argument("--plot", type=Path, help="where the PNG goes (default: the README's plot, "
                    "resources/screenshots/review_curve.png, when every set is run; else none)")
    ap.add_argument("--no-speed", action="store_true", help="skip the 100k propagation/refinement timings")
    args = ap.parse_args()
    if args.plot is None and args.sets == SETS:  # a run of some sets only must not replace the README's plot
        args.plot = Path(__file__).resolve().parents[1] / "resources" / "screenshots" / "review_curve.png"
    from speakerid_gui.core.evaluate.simulate import COSTS, format_curves, simulate_copy

    if available():
        print("reviewer costs (s): " + ", ".join(f"{k} {v:g}" for k, v in COSTS.items()) +
              " (a listen also costs the segment's duration)")
        results, summary = {}, []
        for name in args.sets:
            folder, reference = build(name, args.work)
            p10, p50 = precision(folder, reference)
            t0 = time.perf_counter()
            curves = simulate_copy(folder, reference, args.budget, step=args.step, work=args.work)
            results[name] = curves
            print(f"== {name} ({time.perf_counter() - t0:.0f}s)  share heard/reviewer minutes:accuracy")
            print(format_curves(curves))
            s, r = curves
            beats = all(a >= at(r, x) for x, a in zip(s.reviewed[1:], s.accuracy[1:]))
            rising = all(b >= a for a, b in zip(s.accuracy, s.accuracy[1:]))
            print(f"   start {s.accuracy[0]:.4f}; at {args.budget:.0%} heard {at(s, args.budget):.4f} "
                  f"({s.minutes[-1]:.1f} min) vs random {at(r, args.budget):.4f} ({r.minutes[-1]:.1f} min); "
                  f"never below random: {beats}; never falls: {rising}; "
                  f"suggestion precision first 10 {p10:.2f}, first 50 {p50:.2f}")
            summary.append((name, s.accuracy[0], at(s, args.budget), at(r, args.budget), s.minutes[-1], p10, p50,
                            beats, rising))
        print("\n| set | start | suggestions at 5 % | random at 5 % | minutes | precision@10 | precision@50 "
              "| >= random | never falls |\n|---|---|---|---|---|---|---|---|---|")
        for row in summary:
            print("| {} | {:.3f} | {:.3f} | {:.3f} | {:.1f} | {:.2f} | {:.2f} | {} | {} |".format(*row))
        if args.plot is not None:
            plot(results, args.plot)
    else:
        print("../shared/data not found: review curves skipped")
    if not args.no_speed:
        relearn_speed()
        speed()


if __name__ == "__main__":
    main()
