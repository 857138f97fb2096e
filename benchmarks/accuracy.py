"""Accuracy on every real-speech set, the speaker count estimated and given, one configuration.

    python benchmarks/accuracy.py [--backend auto] [--precision auto|bf16|float32] [--work DIR]
                                  [--sets ...] [--calibration] [--timing [N]]
Each set is analysed once into WORK/proj-SET-BACKEND (resumable; later runs only re-cluster);
with --precision bf16 or float32, into WORK/proj-SET-BACKEND-PRECISION (bf16 runs, slowly, on a
CPU without it too: a count decision must not flip between the two).
Prints:
1. per set, estimated and given count: Hungarian segment accuracy, clusters/speakers, NMI;
   purity, coverage and EER of the estimate;
   "mixed" holds the four single-speaker-file sets in one folder, and its line is followed
   by each part's accuracy (clusters its segments fall in / its speakers) inside the pile;
2. the 1/2/3/5-speaker folders: up to 12 folders of that many speakers drawn from each set
   (each speaker alone, pairs, ...), clustered as the pipeline clusters a folder holding only
   their files (its own corpus mean); share giving exactly that count, and the range;
3. the confidence check: segment error rate, the error rate among the 5 % least confident
   segments, and the share of all errors they hold;
4. --calibration: the raw cosine between different speakers (median, the model's impostor
   level) and the one-speaker score z of true speakers' halves vs. of different speakers;
5. --timing N: re-clustering N synthetic 192-dim segments (default 17000, about a 10-hour
   project), estimated and given count (time it on a quiet machine).
"""
from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import available, corpus  # noqa: E402

# "mixed": every file of the first four in one folder (datasets.mixed), the case of a pile of
# recordings of mixed lengths and microphones; its rows are also split by the set each file came from
# "-phone": the set through a telephone line (datasets.telephone: 8 kHz, 300-3400 Hz, mu-law);
# "-noisy": the set in pink background noise 10 dB below its speech (datasets.noisy)
SETS = ["test-other", "tc100-cut", "fsdd", "speech-commands", "ami", "mixed",
        "test-other-phone", "tc100-cut-phone", "fsdd-phone", "speech-commands-phone", "ami-phone",
        "test-other-noisy", "tc100-cut-noisy", "fsdd-noisy", "speech-commands-noisy", "ami-noisy"]
FOLDER_SIZES = (1, 2, 3, 5)
FOLDERS_PER_SIZE = 12


def analysed(name, backend, work, precision="auto"):
    """(project, reference path) of a set, analysed with the default settings."""
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.project.store import Project

    audio, reference = corpus(name, work)
    folder = work / (f"proj-{name}-{backend}" + ("" if precision == "auto" else f"-{precision}"))
    project = Project.open(folder) if (folder / "project.sqlite").exists() else Project.create(folder, audio)
    for _ in run(project, Settings(backend=backend, layout="pca", prosody=False, precision=precision)):
        pass
    return project, reference


def truth(project, reference) -> np.ndarray:
    """True speaker per segment (None: unscored), exactly as cli.evaluate_project builds it."""
    from speakerid_gui.core.formats.common import load_reference

    ref = load_reference(reference)
    paths = {r.id: r.path for r in project.recordings()}
    true = np.array([ref.label_for(paths[int(r)], float(a), float(b)) for r, a, b in
                     zip(project.seg_recording, project.seg_start, project.seg_end)], dtype=object)
    true[project.noise] = None
    return true


def clustered(emb, durations, raw, impostor, k=None):
    """Labels and confidences as the pipeline's cluster stage computes them (raw, impostor: the
    one-speaker test's, pipeline.one_speaker_basis)."""
    from speakerid_gui.core.cluster import agglomerative as clu

    X = clu.prepare(emb)
    labels = clu.cluster(X, k, "ahc", None, durations=durations, raw=raw, impostor=impostor)
    return labels, clu.confidence(clu.cluster_space(X, labels), labels)


def folder_blocks(project, settings, keep):
    """A joint backend's parts (their matrices and weights), so a folder of some speakers is
    combined as the pipeline combines a project of only their files (each block centred on the
    folder); None for a plain backend."""
    from speakerid_gui.core.embed import joint

    if not joint.is_joint(settings.backend):
        return None
    blocks = joint.part_matrices(project, settings.backend, settings.segments.key(), settings.clean)
    return [np.asarray(b)[keep] for b in blocks], [w for _, w in joint.parts_of(settings.backend)]


def folder_matrix(emb, parts, inside):
    from speakerid_gui.core.embed import joint

    if parts is None:
        return emb[inside]
    blocks = [b[inside] for b in parts[0]]
    return joint.combine(blocks, parts[1], joint.block_centres(blocks))


def wrong(true, labels) -> np.ndarray:
    from speakerid_gui.core.evaluate import metrics

    mapping = metrics.hungarian_mapping(true, labels)
    return np.array([mapping.get(p) != t for t, p in zip(true, labels)])


def folders(true, rng):
    """Speaker subsets of 1, 2, 3 and 5 speakers (all of them when few, else random draws)."""
    speakers = sorted(set(true.tolist()))
    for n in FOLDER_SIZES:
        if n > len(speakers):
            continue
        if n <= 2 or len(speakers) < 12:
            combos = [list(c) for c in itertools.combinations(speakers, n)]
            rng.shuffle(combos)
        else:
            combos = [list(rng.choice(speakers, n, replace=False)) for _ in range(FOLDERS_PER_SIZE)]
        yield n, combos[:FOLDERS_PER_SIZE]


def calibration(name, emb, true):
    from speakerid_gui.core.cluster.same_speaker import IMPOSTOR_COSINE, pair_scores, unit

    R = unit(emb)
    impostor = IMPOSTOR_COSINE.get("campp")
    different = np.not_equal.outer(true, true)
    sims = R @ R.T
    rng = np.random.default_rng(0)
    speakers = sorted(set(true.tolist()))
    sums = np.stack([R[true == s].sum(axis=0) for s in speakers])
    sizes = np.array([(true == s).sum() for s in speakers], dtype=np.float64)
    z_diff = pair_scores(sums @ sums.T, sizes, impostor)[np.triu_indices(len(speakers), 1)]
    z_same = []
    for s in speakers:
        idx = rng.permutation(np.flatnonzero(true == s))
        if len(idx) >= 4:
            halves = np.stack([R[idx[: len(idx) // 2]].sum(axis=0), R[idx[len(idx) // 2:]].sum(axis=0)])
            n = np.array([len(idx) // 2, len(idx) - len(idx) // 2], dtype=np.float64)
            z_same.append(pair_scores(halves @ halves.T, n, impostor)[0, 1])
    print(f"{name:16s} impostor cosine (median) {np.median(sims[different]):.3f}   "
          f"z different speakers q50/q99/max {np.round(np.quantile(z_diff, [.5, .99, 1]), 2)}   "
          f"z halves of one speaker min/q05/q50 {np.round(np.quantile(z_same, [0, .05, .5]), 2)}")


def timing(n):
    from speakerid_gui.core.cluster import agglomerative as clu
    from speakerid_gui.core.cluster.same_speaker import IMPOSTOR_COSINE

    rng = np.random.default_rng(0)
    speakers = rng.normal(size=(300, 192))
    who = rng.integers(0, 300, n)
    emb = (1.2 * rng.normal(size=192) + speakers[who] + 0.8 * rng.normal(size=(n, 192))).astype(np.float32)
    durations = np.full(n, 3.0)
    for k in (None, 300):
        t0 = time.perf_counter()
        X = clu.prepare(emb)
        labels = clu.cluster(X, k, "ahc", None, durations=durations, raw=emb, impostor=IMPOSTOR_COSINE["campp"])
        clu.confidence(clu.cluster_space(X, labels), labels)
        print(f"re-cluster {n} x 192 ({'given 300' if k else 'estimated'}): {len(np.unique(labels))} clusters "
              f"of 300, {time.perf_counter() - t0:.1f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--precision", default="auto", choices=["auto", "bf16", "float32"])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "speakerid-bench")
    ap.add_argument("--sets", nargs="+", default=SETS)
    ap.add_argument("--calibration", action="store_true")
    ap.add_argument("--timing", type=int, nargs="?", const=17000)
    args = ap.parse_args()
    if args.timing:
        timing(args.timing)
        return
    if not available():
        print("../shared/data not found: skipped")
        return
    from speakerid_gui.core.evaluate import metrics
    from speakerid_gui.core.audio.channel import telephone_band
    from speakerid_gui.core.cluster.same_speaker import backend_impostor, calibrated_part, corpus_impostor
    from speakerid_gui.core.pipeline import Settings, embeddings, one_speaker_basis

    args.work.mkdir(parents=True, exist_ok=True)
    data, basis, parts, wideband_level = {}, {}, {}, {}
    for name in args.sets:
        project, reference = analysed(name, args.backend, args.work, args.precision)
        true = truth(project, reference)
        keep = np.array([t is not None for t in true])
        emb = np.asarray(embeddings(project))
        settings = Settings(**project.get_meta("settings"))
        raw, impostor = one_speaker_basis(project, settings, emb)
        part = calibrated_part(settings.backend)
        # telephone speech only: the wideband level a folder measures its own from (corpus_impostor)
        wideband_level[name] = backend_impostor(part) if raw is not None and telephone_band(project) else None
        print(f"{name}: {settings.backend}" + (f", telephone speech: impostor {impostor:.3f}" if wideband_level[name] else ""),
              file=sys.stderr)
        data[name] = (emb[keep], (project.seg_end - project.seg_start)[keep], true[keep])
        basis[name] = (None if raw is None else np.asarray(raw)[keep], impostor)
        parts[name] = folder_blocks(project, settings, keep)

    print(f"{'set':16s} {'segs':>5s} | {'acc est':>7s} {'k/true':>9s} {'nmi':>6s} {'purity':>6s} {'cover':>6s} "
          f"{'eer':>6s} | {'acc given':>9s} {'k/true':>9s} {'nmi':>6s}")
    for name, (emb, durations, true) in data.items():
        n_true = len(set(true.tolist()))
        est, _ = clustered(emb, durations, *basis[name])
        given, _ = clustered(emb, durations, *basis[name], n_true)
        print(f"{name:16s} {len(true):5d} | {metrics.hungarian_accuracy(true, est):7.3f} "
              f"{len(np.unique(est)):4d}/{n_true:<4d} {metrics.nmi(true, est):6.3f} "
              f"{metrics.purity(true, est):6.3f} {metrics.coverage(true, est):6.3f} {metrics.eer(emb, true):6.3f} | "
              f"{metrics.hungarian_accuracy(true, given):9.3f} {len(np.unique(given)):4d}/{n_true:<4d} "
              f"{metrics.nmi(true, given):6.3f}", flush=True)
        if name == "mixed":  # how each part fares inside the pile (clusters it touches, its accuracy)
            part = np.array([t.split(":")[0] for t in true])
            print("  " + "   ".join(f"{s}: {metrics.hungarian_accuracy(true[part == s], est[part == s]):.3f} "
                                    f"({len(np.unique(est[part == s]))}/{len(set(true[part == s].tolist()))})"
                                    for s in dict.fromkeys(part.tolist())), flush=True)

    print("\nfolders of 1/2/3/5 speakers (count estimated): share with exactly that count (min-max clusters)")
    for name, (emb, durations, true) in data.items():
        cells = []
        for n, combos in folders(true, np.random.default_rng(0)):
            counts = []
            for combo in combos:
                inside = np.isin(true, combo)
                raw, impostor = basis[name]
                if wideband_level[name] is not None:  # telephone speech: a folder measures its own level
                    impostor = corpus_impostor(raw[inside], wideband_level[name])
                counts.append(len(np.unique(clustered(folder_matrix(emb, parts[name], inside), durations[inside],
                                                      None if raw is None else raw[inside], impostor)[0])))
            counts = np.array(counts)
            cells.append(f"{n}: {np.mean(counts == n):4.2f} ({counts.min()}-{counts.max()}, {len(counts)} folders)")
        print(f"{name:16s} " + "   ".join(cells), flush=True)

    print("\nconfidence (count estimated): errors overall, among the 5 % least confident, share of errors there")
    for name, (emb, durations, true) in data.items():
        labels, conf = clustered(emb, durations, *basis[name])
        bad = wrong(true, labels)
        low = np.argsort(conf, kind="stable")[: max(1, int(round(0.05 * len(conf))))]
        print(f"{name:16s} error rate {bad.mean():.3f}   in the least confident 5 %: {bad[low].mean():.3f}   "
              f"errors held there: {bad[low].sum()}/{bad.sum()}", flush=True)

    if args.calibration:
        print("\ncalibration of the one-speaker test (true speakers)")
        for name, (emb, _, true) in data.items():
            calibration(name, emb if basis[name][0] is None else basis[name][0], true)


if __name__ == "__main__":
    main()
