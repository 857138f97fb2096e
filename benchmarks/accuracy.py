"""Accuracy on the four real-speech sets, speaker count estimated and given.

    python benchmarks/accuracy.py [--backend campp] [--work DIR]
Prints one row per set: segment accuracy (Hungarian), clusters vs speakers, NMI, purity,
coverage, EER, and the same accuracy with the true count given.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import available, corpus  # noqa: E402

SETS = ["test-other", "tc100-cut", "fsdd", "ami"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="campp")
    ap.add_argument("--method", default="ahc")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "speakerid-bench")
    ap.add_argument("--sets", nargs="+", default=SETS)
    args = ap.parse_args()
    if not available():
        print("../shared/data not found: skipped")
        return
    from speakerid_gui.cli import evaluate_project
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.store import Project

    args.work.mkdir(parents=True, exist_ok=True)
    print(f"{'set':12s} {'acc(est)':>8s} {'k/true':>9s} {'nmi':>6s} {'purity':>6s} {'cover':>6s} "
          f"{'eer':>6s} {'acc(given)':>10s}")
    for name in args.sets:
        audio, reference = corpus(name, args.work)
        project = Project.create(args.work / f"proj-{name}-{args.backend}", audio)
        settings = Settings(backend=args.backend, method=args.method, layout="pca", prosody=False)
        for _ in run(project, settings):
            pass
        est = evaluate_project(project, reference)
        for _ in run(project, Settings(**{**settings.__dict__, "speakers": est["n_speakers"]})):
            pass
        given = evaluate_project(project, reference)
        print(f"{name:12s} {est['accuracy']:8.3f} {est['n_clusters']:4d}/{est['n_speakers']:<4d} "
              f"{est['nmi']:6.3f} {est['purity']:6.3f} {est['coverage']:6.3f} {est.get('eer', np.nan):6.3f} "
              f"{given['accuracy']:10.3f}")


if __name__ == "__main__":
    main()
