"""A classifier for new audio, trained on a project's labels, with an open-set "unknown".

Features are the project's embeddings in its prepared space (training mean removed, L2
norm). Open set: a segment is "unknown" when its cosine to the nearest speaker centroid
is below a threshold calibrated on the training segments themselves (a low quantile of
their cosine to their own speaker), or the classifier's top probability is low.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speakerid_gui.core.project.store import NOISE, Project

MODEL_FILE = "models/classifier.joblib"
UNKNOWN = "unknown"


@dataclass
class SpeakerClassifier:
    kind: str
    names: list[str]           # speaker name per class
    cluster_ids: list[int]
    mean: np.ndarray           # training mean (prepared space)
    centroids: np.ndarray      # unit centroid per class
    threshold: float           # cosine below which a segment is unknown
    min_prob: float            # top probability below which a segment is unknown
    model: object
    backend: str
    info: dict = field(default_factory=dict)

    def features(self, emb: np.ndarray) -> np.ndarray:
        X = np.asarray(emb, np.float32) - self.mean
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-8)

    def predict(self, emb: np.ndarray, k: int = 5) -> dict:
        """top-k class indices and probabilities, max centroid cosine, and the unknown flag."""
        X = self.features(emb)
        prob = self.model.predict_proba(X)
        k = min(k, prob.shape[1])
        top = np.argsort(-prob, axis=1)[:, :k]
        cos = (X @ self.centroids.T).max(axis=1) if len(X) else np.zeros(0)
        unknown = (cos < self.threshold) | (prob.max(axis=1) < self.min_prob)
        return {"top": top, "prob": np.take_along_axis(prob, top, axis=1), "cosine": cos, "unknown": unknown}


def _make_model(kind: str, seed: int = 0):
    if kind == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=300, n_jobs=2, random_state=seed, class_weight="balanced")
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=10.0, max_iter=2000)
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(hidden_layer_sizes=(256,), max_iter=500, early_stopping=False, random_state=seed)
    raise ValueError(f"unknown classifier {kind!r} (rf, logreg, mlp)")


def training_set(project: Project, source: str = "clusters") -> np.ndarray:
    """Positions to train on: all clustered segments (pseudo-labels) or verified ones only."""
    ok = ~project.noise & (project.cluster != NOISE)
    if source == "verified":
        ok &= project.verified
    elif source != "clusters":
        raise ValueError(f"unknown training source {source!r} (clusters, verified)")
    return np.flatnonzero(ok)


def train(project: Project, embeddings: np.ndarray, kind: str = "logreg", source: str = "clusters",
          positions: np.ndarray | None = None, quantile: float = 0.02, seed: int = 0) -> SpeakerClassifier:
    from speakerid_gui.core.learn.reviewer import group_centroids

    pos = training_set(project, source) if positions is None else np.asarray(positions)
    # The reviewer's labels weigh more than the machine's: verified segments count three times.
    pos = np.concatenate([pos] + [pos[project.verified[pos]]] * 2)
    y_ids = project.cluster[pos]
    classes, counts = np.unique(y_ids, return_counts=True)
    if len(classes) < 2:
        raise ValueError("need labelled segments of at least two speakers to train a classifier")
    emb = np.asarray(embeddings, np.float32)
    mean = emb.mean(axis=0)  # the corpus mean (as cluster.prepare), not the training subset's
    X = emb[pos] - mean
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-8)
    y = np.searchsorted(classes, y_ids)
    model = _make_model(kind, seed).fit(X, y)
    _, C = group_centroids(X, y)
    own = np.einsum("ij,ij->i", X, C[y])
    threshold = float(np.quantile(own, quantile))  # nearly every training segment fits its speaker
    settings = project.get_meta("settings") or {}
    backend = settings.get("backend", "campp")
    return SpeakerClassifier(kind, [project.cluster_name(c) for c in classes], classes.tolist(), mean, C,
                             threshold, min_prob=0.0, model=model, backend=backend,
                             info={"trained": time.time(), "source": source, "n_train": int(len(np.unique(pos))),
                                   "n_speakers": int(len(classes)), "segment_settings": settings,
                                   "block_centres": _block_centres(project, backend)})


def _block_centres(project: Project, backend: str) -> list | None:
    """A joint backend's per-block corpus means, so new audio is centred as the training corpus was
    (joint.py); None for any other backend."""
    from speakerid_gui.core.embed import joint
    from speakerid_gui.core.pipeline import Settings

    if not joint.is_joint(backend):
        return None
    settings = Settings(**(project.get_meta("settings") or {}))
    return joint.block_centres(joint.part_matrices(project, backend, settings.segments.key(), settings.clean))


def save(project: Project, clf: SpeakerClassifier) -> Path:
    import joblib

    path = project.folder / MODEL_FILE
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(clf, tmp)
    tmp.replace(path)
    project.set_meta("classifier", {"file": MODEL_FILE, "kind": clf.kind, "threshold": clf.threshold,
                                    "speakers": clf.names, **{k: v for k, v in clf.info.items()
                                                              if k != "segment_settings"}})
    return path


def load(project: Project) -> SpeakerClassifier:
    import joblib

    path = project.folder / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"{project.folder}: no classifier yet (run `speakerid train-classifier`)")
    # Classifiers saved before the core became sub-packages name this module by its old path.
    sys.modules.setdefault("speakerid_gui.core.learn_classifier", sys.modules[__name__])
    return joblib.load(path)


def evaluate(project: Project, embeddings: np.ndarray, kind: str = "logreg", test_fraction: float = 0.3,
             seed: int = 0) -> dict:
    """Top-1 / top-5 accuracy and a confusion matrix on held-out verified segments.

    Trained on every clustered segment except the held-out ones (pseudo-labels plus the rest
    of the verified). Returns {"top1", "top5", "n_test", "labels", "confusion"
    (rows true, columns predicted, last column "unknown"), "unknown_rate"}.
    """
    rng = np.random.default_rng(seed)
    ver = np.flatnonzero(project.verified & ~project.noise & (project.cluster != NOISE))
    if len(ver) < 4:
        raise ValueError("need verified segments to evaluate on")
    test = rng.choice(ver, max(2, int(len(ver) * test_fraction)), replace=False)
    train_pos = np.setdiff1d(training_set(project, "clusters"), test)
    clf = train(project, embeddings, kind, positions=train_pos)
    pred = clf.predict(embeddings[test])
    truth = np.searchsorted(clf.cluster_ids, project.cluster[test])
    known = np.isin(project.cluster[test], clf.cluster_ids)
    top = pred["top"]
    top1 = float(np.mean(known & (top[:, 0] == truth)))
    top5 = float(np.mean(known & (top == truth[:, None]).any(axis=1)))
    n = len(clf.names)
    conf = np.zeros((n, n + 1), dtype=np.int64)
    col = np.where(pred["unknown"], n, top[:, 0])
    for t, c, k in zip(truth, col, known):
        if k:
            conf[t, c] += 1
    return {"top1": top1, "top5": top5, "n_test": int(len(test)), "labels": clf.names + [UNKNOWN],
            "confusion": conf, "unknown_rate": float(pred["unknown"].mean()), "kind": kind}


# ---- new audio -----------------------------------------------------------------------------------
@dataclass
class Row:
    path: str
    start: float
    end: float
    speaker: str
    confidence: float
    top: list[tuple[str, float]]


def classify_files(clf: SpeakerClassifier, files: list[Path], root: Path | None = None, k: int = 5,
                   progress=None, batch_seconds: float = 300.0, settings=None, project=None
                   ) -> tuple[list[Row], list[Row], list[tuple[str, str]]]:
    """(segment rows, per-file majority rows, skipped files with reasons).

    New audio goes through the pipeline's own analysis (analysis.decode, segment_and_embed) with
    the settings the classifier was trained under (window, hop, cleaning, speaker turns, backend),
    so it sees segments cut as its training segments were. settings: a pipeline.Settings to use
    instead; project: for a backend trained per project (prosody RNN). Files are decoded into
    batches of about batch_seconds of audio, so speech detection and the model see many at once.
    """
    from speakerid_gui.core.audio.decode import SAMPLE_RATE, AudioError
    from speakerid_gui.core.embed import get_backend
    from speakerid_gui.core.analysis import decode

    settings = settings or classifier_settings(clf)
    centres = clf.info.get("block_centres") if settings.backend == clf.backend else None
    backend = get_backend(settings.backend, project=project, **({"centres": centres} if centres else {}))
    rows, per_file, skipped = [], [], []
    batch: list[tuple[str, np.ndarray]] = []
    seconds = 0.0
    for i, path in enumerate(files):
        rel = path.relative_to(root).as_posix() if root else str(path)
        try:
            wave = decode(path)
            batch.append((rel, wave))
            seconds += len(wave) / SAMPLE_RATE
        except AudioError as exc:
            skipped.append((rel, exc.reason))
        if batch and (seconds >= batch_seconds or i == len(files) - 1):
            _classify_batch(clf, backend, settings, batch, k, rows, per_file, skipped)
            batch, seconds = [], 0.0
        if progress:
            progress(i + 1, len(files))
    return rows, per_file, skipped


def classifier_settings(clf: SpeakerClassifier):
    """The pipeline settings of the project the classifier was trained on (defaults for an old
    classifier that did not record them), with the classifier's own backend."""
    from dataclasses import fields, replace

    from speakerid_gui.core.pipeline import Settings

    stored = clf.info.get("segment_settings") or {}
    known = {f.name for f in fields(Settings)}
    return replace(Settings(**{k: v for k, v in stored.items() if k in known}), backend=clf.backend)


def _classify_batch(clf, backend, settings, batch, k, rows, per_file, skipped):
    from speakerid_gui.core.audio.decode import SAMPLE_RATE
    from speakerid_gui.core.analysis import segment_and_embed

    _, spans_of, emb, owners = segment_and_embed([w for _, w in batch], settings, backend)
    if not len(owners):
        skipped.extend((rel, "no speech found") for rel, _ in batch)
        return
    pred = clf.predict(emb, k)
    for j, ((rel, wave), spans) in enumerate(zip(batch, spans_of)):
        if not spans:
            skipped.append((rel, "no speech found"))
            continue
        file_rows = []
        for n, (a, b) in zip(np.flatnonzero(owners == j), spans):
            top = [(clf.names[c], float(pr)) for c, pr in zip(pred["top"][n], pred["prob"][n])]
            name = UNKNOWN if pred["unknown"][n] else top[0][0]
            conf = float(pred["cosine"][n]) if name == UNKNOWN else top[0][1]
            file_rows.append(Row(rel, a, b, name, conf, top))
        rows += file_rows
        names, counts = np.unique([r.speaker for r in file_rows], return_counts=True)
        per_file.append(Row(rel, 0.0, round(len(wave) / SAMPLE_RATE, 3), str(names[np.argmax(counts)]),
                            float(counts.max() / counts.sum()), []))


def write_rows(rows: list[Row], per_file: list[Row], out: Path, k: int = 5):
    """CSV: one row per segment, then one "file" row per recording (its majority speaker)."""
    import csv

    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        head = ["path", "start", "end", "speaker", "confidence", "level"]
        for i in range(1, k + 1):
            head += [f"top{i}", f"p{i}"]
        w.writerow(head)
        for r in rows:
            extra = [x for name, pr in r.top for x in (name, f"{pr:.4f}")]
            w.writerow([r.path, f"{r.start:.3f}", f"{r.end:.3f}", r.speaker, f"{r.confidence:.4f}", "segment", *extra])
        for r in per_file:
            w.writerow([r.path, f"{r.start:.3f}", f"{r.end:.3f}", r.speaker, f"{r.confidence:.4f}", "file"])


def describe(result: dict) -> str:
    return json.dumps({k: v for k, v in result.items() if k != "confusion"})
