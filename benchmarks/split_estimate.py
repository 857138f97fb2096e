"""How Split estimates the number of parts, on every real set: a pure cluster (one true speaker's
segments) should stay whole ("looks like one speaker"), and two speakers merged into one cluster
should come apart in two.

The context is the reference labelling (every other speaker as its own cluster), so the figures
judge the split estimate itself, not the clustering. Printed per set: pure clusters left whole,
merged pairs split in 2+ parts, merged pairs split in exactly 2 with ARI >= 0.9 against the truth,
and the same for the previous estimate (cluster.split_labels: centred on the cluster, never 1 part).

    python benchmarks/split_estimate.py [--sets test-other tc100-cut fsdd ami] [--work DIR] [--pairs 40]
Projects are analysed once into DIR (defaults, PCA layout) and reused.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import available, corpus  # noqa: E402

SETS = ("test-other", "tc100-cut", "fsdd", "ami")


def project_for(name: str, work: Path):
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.project.store import Project

    audio, ref = corpus(name, work)
    folder = work / f"project-{name}"
    if not (folder / "project.sqlite").exists() or Project.open(folder).n_segments == 0:
        project = Project.create(folder, audio)
        for _ in run(project, Settings(layout="pca")):
            pass
        project.close()
    return Project.open(folder), ref


def truth(project, ref_path) -> np.ndarray:
    from speakerid_gui.core.formats.common import load_reference

    ref = load_reference(ref_path)
    paths = {r.id: r.path for r in project.recordings()}
    names = [ref.label_for(paths[int(r)], float(a), float(b)) for r, a, b in
             zip(project.seg_recording, project.seg_start, project.seg_end)]
    known = sorted({n for n in names if n is not None})
    code = {n: i for i, n in enumerate(known)}
    return np.array([code[n] if n is not None else -1 for n in names])


def evaluate(name: str, work: Path, pairs: int) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from speakerid_gui.core.cluster import agglomerative as clu
    from speakerid_gui.core.cluster.split import split_estimate, split_labels
    from speakerid_gui.core.pipeline import embeddings

    project, ref = project_for(name, work)
    try:
        X = clu.prepare(embeddings(project))
        labels = truth(project, ref)
        durations = project.seg_end - project.seg_start
    finally:
        project.close()
    speakers = [s for s in np.unique(labels[labels >= 0]) if (labels == s).sum() >= 2]
    whole = whole_old = 0
    for s in speakers:
        members = np.flatnonzero(labels == s)
        whole += len(np.unique(split_estimate(X, labels, members, durations))) == 1
        whole_old += len(np.unique(split_labels(X[members]))) == 1
    rng = np.random.default_rng(0)
    split = exact = split_old = exact_old = 0
    chosen = [tuple(rng.choice(speakers, 2, replace=False)) for _ in range(pairs)] if len(speakers) >= 2 else []
    for a, b in chosen:
        merged = labels.copy()
        merged[merged == b] = a
        members = np.flatnonzero(merged == a)
        true = (labels[members] == b).astype(int)
        for parts, counters in ((split_estimate(X, merged, members, durations), "new"),
                                (split_labels(X[members]), "old")):
            k = len(np.unique(parts))
            good = k == 2 and adjusted_rand_score(true, parts) >= 0.9
            if counters == "new":
                split, exact = split + (k >= 2), exact + good
            else:
                split_old, exact_old = split_old + (k >= 2), exact_old + good
    n = max(len(chosen), 1)
    return {"set": name, "segments": len(labels), "speakers": len(speakers),
            "pure_whole": whole / max(len(speakers), 1), "pure_whole_old": whole_old / max(len(speakers), 1),
            "pairs": len(chosen), "pair_split": split / n, "pair_exact": exact / n,
            "pair_split_old": split_old / n, "pair_exact_old": exact_old / n}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "speakerid-split-bench")
    parser.add_argument("--pairs", type=int, default=40)
    args = parser.parse_args()
    if not available():
        print("no data in ../shared/data: nothing to measure")
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    print("| set | segments | speakers | pure kept whole | merged pair split | split exactly (ARI>=0.9) "
          "| old: pure kept whole | old: pair split exactly |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.sets:
        r = evaluate(name, args.work, args.pairs)
        print(f"| {r['set']} | {r['segments']} | {r['speakers']} | {r['pure_whole']:.2f} | {r['pair_split']:.2f} | "
              f"{r['pair_exact']:.2f} | {r['pure_whole_old']:.2f} | {r['pair_exact_old']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
