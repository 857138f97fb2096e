"""Speaker-count estimators compared on stored CAM++ embeddings (no re-embedding: seconds per run).

    python benchmarks/accuracy.py --backend campp && python benchmarks/count_estimation.py [--work DIR] [--large PROJECT]
For each set (the analysed CAM++ projects `benchmarks/accuracy.py --backend campp` leaves in its --work folder;
references from benchmarks/datasets.py there) and each candidate: clusters/true speakers,
Hungarian segment accuracy, NMI.
--large PROJECT also times each candidate on that project's embeddings (e.g. 17k segments).
Open copies of the projects if in doubt: opening may cache arrays inside them.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import corpus  # noqa: E402

from speakerid_gui.core.cluster import agglomerative as clu  # noqa: E402

SETS = ["test-other", "tc100-cut", "fsdd", "ami"]


# ---- data -----------------------------------------------------------------------------------
def load(folder: Path, reference: Path | None):
    """(prepared embeddings, durations, true label per segment or None)."""
    from speakerid_gui.core.formats.common import load_reference
    from speakerid_gui.core.pipeline import embeddings
    from speakerid_gui.core.project.store import Project

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
    """cluster.py as it is: the silhouette-best cut with clusters of too little speech scoring 0,
    then lone short segments join their nearest cluster (this was "credited-sil-lone")."""
    return clu.cluster(X, None, "ahc", None, durations)


def plain_silhouette(X, durations):
    """The previous default: every cluster scores in the silhouette (durations only used after
    the cut, for the lone short segments)."""
    labels = clu._cluster(X, None, "ahc", None, None)
    return clu.attach_short_singletons(X, labels, durations < clu.RELIABLE_SECONDS)


def nme_sc_capped(X, durations):
    """NME-SC with the count searched among at most 20 speakers (NeMo searches 8 by default)."""
    return nme_sc(X, durations, max_speakers=20)


def nme_sc(X, durations, p_steps=30, max_speakers=None):
    """NME-SC (Park et al. 2019, IEEE SPL): binarised p-nearest-neighbour cosine affinity,
    unnormalised Laplacian; p minimises p / (max eigengap / largest eigenvalue), the count is
    where that eigengap is, then k-means on the k smallest eigenvectors."""
    from scipy.linalg import eigh
    from sklearn.cluster import KMeans

    n = len(X)
    order = np.argsort(-(X @ X.T), axis=1)
    max_k = max(2, n // 2) if max_speakers is None else min(max_speakers, n - 1)
    best = None
    for p in np.unique(np.geomspace(2, max(3, n // 4), p_steps).astype(int)):
        L = _laplacian(order, p)
        lam = eigh(L, eigvals_only=True)
        gaps = np.diff(lam[:max_k + 1])
        ratio = p / (gaps.max() / (lam[-1] + 1e-10))
        if best is None or ratio < best[0]:
            best = (ratio, p, int(np.argmax(gaps)) + 1)
    _, p, k = best
    _, vec = eigh(_laplacian(order, p), subset_by_index=[0, k - 1])
    return KMeans(n_clusters=k, n_init=4, random_state=0).fit_predict(vec)


def _laplacian(order, p):
    n = len(order)
    B = np.zeros((n, n))
    B[np.repeat(np.arange(n), p), order[:, :p].ravel()] = 1.0
    A = (B + B.T) / 2
    return np.diag(A.sum(axis=1)) - A


# -- dendrogram cuts with durations: a cluster needs MIN_VOICE seconds of speech to stand ----
MIN_VOICE = clu.RELIABLE_SECONDS  # the rule cluster.py applies to lone segments, not re-tuned


def _cuts(X):
    """(linkage, sample distance matrix, sample index) as cluster.best_cut uses them."""
    from scipy.cluster.hierarchy import linkage

    Z = linkage(X, method="average", metric="cosine")
    rng = np.random.default_rng(0)
    sample = (rng.choice(len(X), clu.SILHOUETTE_SAMPLE, replace=False) if len(X) > clu.SILHOUETTE_SAMPLE
              else np.arange(len(X)))
    return Z, np.clip(1.0 - X[sample] @ X[sample].T, 0.0, 2.0), sample


def _best_cut(X, score):
    """The cut of CUT_GRID maximising score(labels, D, sample); labels after the cut."""
    from scipy.cluster.hierarchy import fcluster

    Z, D, sample = _cuts(X)
    best, best_score, seen = None, -np.inf, set()
    for t in clu.CUT_GRID:
        labels = fcluster(Z, t=t, criterion="distance")
        if labels.max() in seen:
            continue
        seen.add(labels.max())
        value = score(labels, D, sample)
        if value > best_score:
            best, best_score = labels, value
    return best


def dissolve_low_voice(X, labels, durations, min_voice=MIN_VOICE):
    """Every cluster with less than min_voice seconds of speech joins, whole, the cluster with
    enough voice whose centroid is nearest its own (the lone-segment rule for any cluster size)."""
    ids, inv = np.unique(labels, return_inverse=True)
    voice = np.bincount(inv, weights=durations)
    weak = voice < min_voice
    if not weak.any() or weak.all():
        return clu._compact(labels)
    _, C = clu.centroids(X, inv)
    target = np.flatnonzero(~weak)[np.argmax(C[weak] @ C[~weak].T, axis=1)]
    mapped = np.arange(len(ids))
    mapped[weak] = target
    return clu._compact(mapped[inv])


def low_voice_after(X, durations):
    """Silhouette-best cut, then every cluster under MIN_VOICE seconds joins its nearest."""
    return dissolve_low_voice(X, _best_cut(X, lambda l, D, s: clu.silhouette(D, l[s])), durations)


def low_voice_inside(X, durations):
    """The cut whose labels AFTER dissolving low-voice clusters have the best silhouette."""
    def score(labels, D, sample):
        return clu.silhouette(D, dissolve_low_voice(X, labels, durations)[sample])
    return dissolve_low_voice(X, _best_cut(X, score), durations)


def credited_silhouette(X, durations):
    """Silhouette where points of clusters under MIN_VOICE seconds score 0 (as sklearn scores
    singletons: a cluster without enough voice is no evidence of a speaker), then dissolve them."""
    def score(labels, D, sample):
        ids, inv = np.unique(labels, return_inverse=True)
        credited = (np.bincount(inv, weights=durations) >= MIN_VOICE)[inv]
        return clu.silhouette_values(D, labels[sample], credited[sample]).mean()
    return dissolve_low_voice(X, _best_cut(X, score), durations)


def weighted_silhouette(X, durations):
    """Silhouette averaged with segment durations as weights (a 3 s segment's embedding is more
    trustworthy than a 0.4 s one), then the current lone-short-segment rule."""
    def score(labels, D, sample):
        w = durations[sample]
        values = clu.silhouette_values(D, labels[sample], np.ones(len(sample), bool))
        return float((values * w).sum() / w.sum()) if len(np.unique(labels[sample])) > 1 else -1.0
    labels = _best_cut(X, score)
    return clu.attach_short_singletons(X, clu._compact(labels), durations < clu.RELIABLE_SECONDS)


def reliable_first(X, durations):
    """Count and clusters from the segments >= RELIABLE_SECONDS only (short embeddings are noisy),
    short ones then join the nearest centroid; the current method when fewer than 2 are reliable."""
    reliable = durations >= clu.RELIABLE_SECONDS
    if reliable.sum() < 2:
        return current(X, durations)
    labels = np.full(len(X), -1)
    labels[reliable] = clu.cluster(X[reliable], None, "ahc")
    ids, C = clu.centroids(X[reliable], labels[reliable])
    labels[~reliable] = ids[np.argmax(X[~reliable] @ C.T, axis=1)]
    return clu._compact(labels)


CANDIDATES = {
    "current": current,
    "plain-silhouette": plain_silhouette,
    "nme-sc": nme_sc,
    "nme-sc-max20": nme_sc_capped,
    "low-voice-after": low_voice_after,
    "low-voice-inside": low_voice_inside,
    "credited-sil": credited_silhouette,
    "weighted-sil": weighted_silhouette,
    "reliable-first": reliable_first,
}


def micro(method, X, durations):
    """Above cluster.MAX_DIRECT points, a candidate runs on k-means micro-cluster centres (as
    cluster._ahc_large does), each centre carrying its members' total duration."""
    if len(X) <= clu.MAX_DIRECT:
        return method(X, durations)
    from sklearn.cluster import MiniBatchKMeans

    k = min(clu.MAX_DIRECT // 2, len(X) // 4)
    km = MiniBatchKMeans(n_clusters=k, init="random", random_state=0, batch_size=4096, n_init=1,
                         max_iter=50).fit(X)
    keep = np.flatnonzero(np.bincount(km.labels_, minlength=k) > 0)
    C = km.cluster_centers_[keep]
    C = (C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-8)).astype(np.float32)
    voice = np.bincount(km.labels_, weights=durations, minlength=k)[keep]
    lookup = np.full(k, -1)
    lookup[keep] = method(C, voice)
    return clu._compact(lookup[km.labels_])


# ---- run ------------------------------------------------------------------------------------
def score(true, labels):
    from speakerid_gui.core.evaluate import metrics

    keep = np.array([t is not None for t in true])
    t, p = true[keep], labels[keep]
    return len(np.unique(p)), len(set(t.tolist())), metrics.hungarian_accuracy(t, p), metrics.nmi(t, p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "speakerid-bench",
                    help="`benchmarks/accuracy.py --backend campp`'s --work (its analysed projects and references)")
    ap.add_argument("--projects", help="project folder pattern, {} = set (default: WORK/proj-{}-campp)")
    ap.add_argument("--sets", nargs="+", default=SETS)
    ap.add_argument("--methods", nargs="+", default=list(CANDIDATES))
    ap.add_argument("--large", type=Path, help="a big analysed project to time the candidates on")
    ap.add_argument("--time-eigh", action="store_true", help="time one 3000x3000 eigendecomposition")
    args = ap.parse_args()
    args.projects = args.projects or str(args.work / "proj-{}-campp")
    missing = [s for s in args.sets if not (Path(args.projects.format(s)) / "project.sqlite").exists()]
    if missing:
        print(f"no analysed project for {', '.join(missing)} ({args.projects}): run "
              f"`python benchmarks/accuracy.py --backend campp --work {args.work}` first")
        return 1
    if args.time_eigh:  # NME-SC needs one per p value on the micro-cluster centres
        from scipy.linalg import eigh
        A = np.random.default_rng(0).random((3000, 3000))
        t0 = time.perf_counter()
        eigh(A + A.T, eigvals_only=True)
        print(f"one 3000x3000 eigh: {time.perf_counter() - t0:.1f} s")

    print(f"{'set':11s} {'method':17s} {'k/true':>9s} {'acc':>6s} {'nmi':>6s} {'sec':>6s}")
    for name in args.sets:
        _, reference = corpus(name, args.work)
        X, durations, true = load(Path(args.projects.format(name)), reference)
        for method in args.methods:
            t0 = time.perf_counter()
            labels = CANDIDATES[method](X, durations)
            sec = time.perf_counter() - t0
            k, n, acc, nmi = score(true, labels)
            print(f"{name:11s} {method:17s} {k:4d}/{n:<4d} {acc:6.3f} {nmi:6.3f} {sec:6.2f}", flush=True)
    if args.large:
        X, durations, _ = load(args.large, None)
        for method in args.methods:
            t0 = time.perf_counter()
            if method == "current":  # cluster.py itself, with its own large-n path
                t0 = time.perf_counter()
                labels = current(X, durations)
                print(f"{'large':11s} {method:17s} {len(np.unique(labels)):4d} clusters of {len(X)} segments "
                      f"{time.perf_counter() - t0:6.2f} s", flush=True)
                continue
            if method.startswith("nme-sc"):  # dense eigendecompositions of 3000 centres
                print(f"{'large':11s} {method:17s} skipped (see --time-eigh)")
                continue
            labels = micro(CANDIDATES[method], X, durations)
            print(f"{'large':11s} {method:17s} {len(np.unique(labels)):4d} clusters of {len(X)} segments "
                  f"{time.perf_counter() - t0:6.2f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
