"""Speaker-count estimators compared on stored CAM++ embeddings (no re-embedding: seconds per run).

    python benchmarks/count_estimation.py [--projects '/tmp/count-{}'] [--large PROJECT]
For each set (analysed CAM++ projects, by default as benchmarks/accuracy.py leaves them in
/tmp/accbench; references from benchmarks/datasets.py under --work) and each candidate: clusters/true speakers, Hungarian segment accuracy, NMI.
--large PROJECT also times each candidate on that project's embeddings (e.g. 17k segments).
Open copies of the projects if in doubt: opening may cache arrays inside them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import corpus  # noqa: E402

from speakerid_gui.core import cluster as clu  # noqa: E402

SETS = ["test-other", "tc100-cut", "fsdd", "ami"]


# ---- data -----------------------------------------------------------------------------------
def load(folder: Path, reference: Path | None):
    """(prepared embeddings, durations, true label per segment or None)."""
    from speakerid_gui.core.formats import load_reference
    from speakerid_gui.core.pipeline import embeddings
    from speakerid_gui.core.store import Project

    project = Project.open(folder)
    X = clu.prepare(embeddings(project))
    durations = project.seg_end - project.seg_start
    true = None
    if reference is not None:  # exactly as cli.evaluate_project builds it
        ref = load_reference(reference)
        paths = {r.id: r.path for r in project.recordings()}
        true = np.array([ref.label_for(paths[int(r)], float(a), float(b)) for r, a, b in
                         zip(project.seg_recording, project.seg_start, project.seg_end)], dtype=object)
        true[project.noise] = None
    return X, durations, true


# ---- candidates: (prepared X, durations) -> labels -----------------------------------------
def current(X, durations):
    """Silhouette-best dendrogram cut, lone short segments join their nearest cluster (cluster.py)."""
    return clu.cluster(X, None, "ahc", None, durations)


CANDIDATES = {
    "current": current,
}


# ---- run ------------------------------------------------------------------------------------
def score(true, labels):
    from speakerid_gui.core import metrics

    keep = np.array([t is not None for t in true])
    t, p = true[keep], labels[keep]
    return len(np.unique(p)), len(set(t.tolist())), metrics.hungarian_accuracy(t, p), metrics.nmi(t, p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/accbench"))
    ap.add_argument("--projects", default="/tmp/accbench/proj-{}-campp", help="project folder pattern ({} = set)")
    ap.add_argument("--sets", nargs="+", default=SETS)
    ap.add_argument("--methods", nargs="+", default=list(CANDIDATES))
    ap.add_argument("--large", type=Path, help="a big analysed project to time the candidates on")
    args = ap.parse_args()

    print(f"{'set':11s} {'method':16s} {'k/true':>9s} {'acc':>6s} {'nmi':>6s} {'sec':>6s}")
    for name in args.sets:
        _, reference = corpus(name, args.work)
        X, durations, true = load(Path(args.projects.format(name)), reference)
        for method in args.methods:
            t0 = time.perf_counter()
            labels = CANDIDATES[method](X, durations)
            sec = time.perf_counter() - t0
            k, n, acc, nmi = score(true, labels)
            print(f"{name:11s} {method:16s} {k:4d}/{n:<4d} {acc:6.3f} {nmi:6.3f} {sec:6.2f}", flush=True)
    if args.large:
        X, durations, _ = load(args.large, None)
        for method in args.methods:
            t0 = time.perf_counter()
            labels = CANDIDATES[method](X, durations)
            print(f"{'large':11s} {method:16s} {len(np.unique(labels)):4d} clusters of {len(X)} segments "
                  f"{time.perf_counter() - t0:6.2f} s", flush=True)


if __name__ == "__main__":
    main()
