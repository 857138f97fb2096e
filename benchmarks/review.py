"""Learning from the reviewer: simulated review curves and the 100k speed targets.

    python benchmarks/review.py [--sets tc100-cut test-other] [--budget 0.05] [--work DIR]
Per set: segment accuracy versus share of segments reviewed, through the tool's suggestions
and through random segments (each on a copy of the project); then propagation and
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
    from speakerid_gui.core import learn

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=["tc100-cut", "test-other"])
    ap.add_argument("--budget", type=float, default=0.05)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench")
    args = ap.parse_args()
    from speakerid_gui.core.learn_simulate import format_curves, simulate_copy
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.store import Project

    if available():
        for name in args.sets:
            audio, reference = corpus(name, args.work)
            folder = args.work / f"proj-{name}"
            if not (folder / "project.sqlite").exists():
                project = Project.create(folder, audio)
                for _ in run(project, Settings(layout="pca", prosody=False)):
                    pass
                project.close()
            t0 = time.perf_counter()
            curves = simulate_copy(folder, reference, args.budget)
            print(f"== {name} ({time.perf_counter() - t0:.0f}s)  share reviewed:accuracy")
            print(format_curves(curves))
            s, r = curves[0], curves[1]
            beats = all(a >= b for a, b in zip(s.accuracy[1:], r.accuracy[1:]))
            print(f"   final {s.accuracy[-1]:.4f} vs random {r.accuracy[-1]:.4f}; "
                  f"suggestions >= random at every budget: {beats}")
    else:
        print("../shared/data not found: review curves skipped")
    speed()


if __name__ == "__main__":
    main()
