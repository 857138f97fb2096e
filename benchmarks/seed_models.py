"""The source documents' own models on librispeech-test-other (10 speakers), measured honestly.

    python benchmarks/seed_models.py [--work DIR] [--epochs 30] [--seeds 0 1 2]

1. Embeddings, speaker count given (Hungarian segment accuracy with AHC and KMeans, EER):
   prosody RNN (trained here, per seed) against MFCC statistics (as stored, and z-scored
   per column), the hand-made prosody statistics and CAM++ (the default).
2. Classifiers on verified labels (every segment verified with its true speaker; 30 % held
   out, the same draw for all): GRU + attention and the small ResNet-18 on log-mel, against
   logistic regression on CAM++ and on MFCC statistics. Top-1, top-5, training seconds.
Runs in about 4-5 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import available, corpus  # noqa: E402


def segment_waves(project):
    from speakerid_gui.core.audio.decode import load_audio

    waves = [None] * project.n_segments
    for rid in np.unique(project.seg_recording):
        wave = load_audio(project.recording_path(int(rid)))
        for i in np.flatnonzero(project.seg_recording == rid):
            waves[i] = wave[int(project.seg_start[i] * 16000):int(project.seg_end[i] * 16000)]
    return waves


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "speakerid-bench")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    if not available():
        print("../shared/data not found: skipped")
        return
    import torch

    from speakerid_gui.core.cluster import agglomerative as clu
    from speakerid_gui.core.classify import classifier as lc
    from speakerid_gui.core.evaluate import metrics
    from speakerid_gui.core.classify import sequence as sc
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.embed import get_backend
    from speakerid_gui.core.embed import prosody_rnn as pr
    from speakerid_gui.core.evaluate.simulate import true_labels
    from speakerid_gui.core.pipeline import Settings, embeddings, run
    from speakerid_gui.core.audio.prosody import Prosody, prosody_stats
    from speakerid_gui.core.project.store import Project

    torch.set_num_threads(1)
    audio, reference = corpus("test-other", args.work)
    folder = args.work / "seed-models-test-other"
    shutil.rmtree(folder, ignore_errors=True)
    project = Project.create(folder, audio)
    t0 = time.perf_counter()
    for _ in run(project, Settings(speakers=10, layout="pca")):
        pass
    true = true_labels(project, reference).astype(str)
    print(f"test-other: {project.n_segments} segments, 10 speakers (analysed in {time.perf_counter() - t0:.0f}s)")

    waves = segment_waves(project)
    t0 = time.perf_counter()
    mfcc = get_backend("mfcc").embed(waves)
    mfcc_s = time.perf_counter() - t0
    zscore = lambda E: (E - E.mean(0)) / (E.std(0) + 1e-8)  # noqa: E731
    stats = np.array([prosody_stats(Prosody(np.arange(len(p)) * pr.STEP, p, e)) for p, e in pr.segment_curves(project)])

    print("\n1. embeddings, count given    dim  acc(ahc) acc(kmeans)  nmi(km)   eer   train s")

    def row(name, E, seconds=float("nan")):
        X = clu.prepare(E)
        ahc = metrics.hungarian_accuracy(true, clu.cluster(X, 10, "ahc"))
        km_labels = clu.cluster(X, 10, "kmeans")
        km = metrics.hungarian_accuracy(true, km_labels)
        print(f"   {name:26s} {E.shape[1]:4d}  {ahc:8.3f} {km:10.3f}  {metrics.nmi(true, km_labels):7.3f} "
              f"{metrics.eer(E, true):6.3f} {seconds:8.1f}")

    row("CAM++ (default)", embeddings(project, "campp"))
    row("MFCC statistics (stored)", mfcc, mfcc_s)
    row("MFCC statistics z-scored", zscore(mfcc), mfcc_s)
    row("prosody statistics z-scored", zscore(stats))
    for seed in args.seeds:
        r = pr.train_run(project, epochs=args.epochs, seed=seed)
        row(f"prosody RNN (seed {seed})", r.embeddings, r.seconds)
        print(f"      loss per epoch: {' '.join(f'{x:.2f}' for x in r.losses)}")

    # 2. every segment verified with its true speaker (what a finished review gives)
    log = EditLog(project)
    for speaker in np.unique(true):
        log.move(np.flatnonzero(true == speaker), None, name=speaker)
    log.verify(np.arange(project.n_segments))
    print("\n2. classifiers, held-out verified      top-1  top-5  n_test  train s  epochs")
    for name, E in [("CAM++", embeddings(project, "campp")), ("MFCC statistics", mfcc)]:
        t0 = time.perf_counter()
        res = lc.evaluate(project, E, "logreg")
        print(f"   logreg on {name:25s} {res['top1']:6.3f} {res['top5']:6.3f} {res['n_test']:7d} "
              f"{time.perf_counter() - t0:8.1f}")
    for kind, options in [("lstm", {}), ("resnet", {}), ("resnet", {"center_loss": 0.1})]:
        res = sc.evaluate(project, kind, **options)
        label = kind + (" + contrastive-center" if options else "")
        print(f"   {label:35s} {res['top1']:6.3f} {res['top5']:6.3f} {res['n_test']:7d} {res['seconds']:8.1f} "
              f"{res['epochs']:7d}")
    project.close()


if __name__ == "__main__":
    main()
