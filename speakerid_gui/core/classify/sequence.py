"""Sequence classifiers on the reviewer's labels (seed designs), beside the embedding classifiers.

Two networks read a segment's 40-band log-mel frames (25 ms / 10 ms) after per-frequency
normalisation (each band to zero mean, unit variance; by default with the training set's
statistics, norm="segment" uses each segment's own, as VGGVox does):
- "lstm": a bidirectional GRU (64 per direction, two frames per step) with attention
  pooling (weighted mean and std) over frames;
- "resnet": a ResNet-18 layout (BasicBlocks 2-2-2-2) at small width (8-16-32-64 channels,
  stride-2 stem) so it trains on a CPU, global average pooling;
each followed by a 64-dim embedding and a softmax over the speakers. Optionally a
contrastive-center loss (Qi & Su, 2017) on the embedding pulls a segment to its speaker's
centre and away from the others' (center_loss > 0 sets its weight).

Why corpus statistics by default: per-segment normalisation removes the voice's long-term
spectrum along with the channel; on test-other it cost the GRU 0.98 -> 0.80 top-1
(benchmarks/seed_models.py measures the defaults).

Training uses random 2 s crops (shorter segments are tiled) with SpecAugment-style masks,
AdamW, and early stopping on a held-out tenth of the training segments. Labels: the
verified segments (default) or every clustered segment (source="clusters", the
pseudo-labels). `evaluate` holds out the same verified segments as classify.classifier.evaluate
and returns results in the same format, so the two kinds can be shown side by side.
"""
from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE
from speakerid_gui.core.progress import Cancelled, Event, run_to_end
from speakerid_gui.core.project.store import NOISE, Project

KINDS = ("lstm", "resnet")
SR = SAMPLE_RATE
FRAME, HOP, NFFT, N_MELS = 400, 160, 512, 40
CROP = 200  # training crop, frames (2 s)
MIN_EPOCH_CROPS = 256
EMB_DIM = 64
STACK = 2  # the GRU reads 2 frames (20 ms) per step
MODEL_FILE = "models/seq-{kind}.pt"
UNKNOWN = "unknown"


# ---- features ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _hamming() -> np.ndarray:
    from scipy.signal import get_window

    return get_window("hamming", FRAME, fftbins=True).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _mel_t() -> np.ndarray:
    from speakerid_gui.core.embed.mfcc import mel_filterbank

    return mel_filterbank(SR, NFFT, N_MELS).T.astype(np.float32)


def log_mel(wave: np.ndarray) -> np.ndarray:
    """(T, 40) log-mel frames of a 16 kHz wave (float32); the networks normalise them."""
    from scipy.fft import rfft

    from speakerid_gui.core.embed.mfcc import frames_of

    frames = frames_of(np.asarray(wave, np.float32), FRAME, HOP) * _hamming()
    spec = rfft(frames, n=NFFT, axis=1)
    power = spec.real ** 2 + spec.imag ** 2
    return np.log(power @ _mel_t() + 1e-6).astype(np.float32)


def segment_features(project: Project, positions: np.ndarray | None = None) -> list[np.ndarray]:
    """log_mel of the segments at `positions` (all by default); each recording is decoded once."""
    from speakerid_gui.core.audio.decode import load_audio

    pos = np.arange(project.n_segments) if positions is None else np.asarray(positions)
    out: list = [None] * len(pos)
    rec = project.seg_recording[pos]
    for rid in np.unique(rec):
        wave = load_audio(project.recording_path(int(rid)))
        for j in np.flatnonzero(rec == rid):
            i = pos[j]
            out[j] = log_mel(wave[int(project.seg_start[i] * SR):int(project.seg_end[i] * SR)])
    return out


def _crop(feat: np.ndarray, rng: np.random.Generator, length: int = CROP) -> np.ndarray:
    if len(feat) < length:
        feat = np.tile(feat, (int(np.ceil(length / len(feat))), 1))
    a = rng.integers(0, len(feat) - length + 1)
    return feat[a:a + length]


def _mask(x: np.ndarray, rng: np.random.Generator, bands: int = 6, frames: int = 20):
    """SpecAugment-lite, in place: per crop, one span of up to `bands` bands and one of up to
    `frames` frames set to the crop's mean (small data overfits without it)."""
    for crop in x:
        fill = crop.mean()
        f = rng.integers(0, bands + 1)
        a = rng.integers(0, N_MELS - f + 1)
        crop[:, a:a + f] = fill
        t = rng.integers(0, frames + 1)
        a = rng.integers(0, len(crop) - t + 1)
        crop[a:a + t] = fill


# ---- networks ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _nets():
    import torch
    from torch import nn

    class FreqNorm(nn.Module):
        """Per-frequency normalisation: each band to zero mean, unit variance, either over the
        segment itself ("segment", as VGGVox; drops the long-term spectrum, so also the channel)
        or with the training corpus' statistics ("corpus"; keeps the voice's average spectrum)."""

        def __init__(self, mode: str):
            super().__init__()
            if mode not in ("segment", "corpus"):
                raise ValueError(f"unknown normalisation {mode!r} (segment, corpus)")
            self.mode = mode
            self.register_buffer("mean", torch.zeros(N_MELS))
            self.register_buffer("std", torch.ones(N_MELS))

        def forward(self, x):  # (B, T, 40)
            if self.mode == "segment":
                return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-5)
            return (x - self.mean) / self.std

    class AttentiveGRU(nn.Module):
        """BiGRU over frames; attention weights pick the frames that say most about the speaker."""

        def __init__(self, n_classes: int, norm: str = "corpus", hidden: int = 64):
            super().__init__()
            self.norm = FreqNorm(norm)
            self.gru = nn.GRU(STACK * N_MELS, hidden, batch_first=True, bidirectional=True)
            self.att = nn.Sequential(nn.Linear(2 * hidden, 64), nn.Tanh(), nn.Linear(64, 1))
            self.emb = nn.Linear(4 * hidden, EMB_DIM)
            self.out = nn.Linear(EMB_DIM, n_classes)

        def embed(self, x):  # x: (B, T, 40), all of one length
            x = self.norm(x)
            b, t, _ = x.shape
            if t >= STACK:  # STACK frames per GRU step: half the steps, same information
                x = x[:, :t // STACK * STACK].reshape(b, t // STACK, STACK * N_MELS)
            else:
                x = x.repeat(1, 1, STACK)
            h, _ = self.gru(x)
            w = torch.softmax(self.att(h), dim=1)
            mean = (w * h).sum(1)
            std = ((w * (h - mean[:, None]) ** 2).sum(1) + 1e-5).sqrt()
            return torch.relu(self.emb(torch.cat([mean, std], 1)))

        def forward(self, x):
            e = self.embed(x)
            return self.out(e), e

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            return torch.relu(self.b2(self.c2(y)) + self.skip(x))

    class SmallResNet18(nn.Module):
        """ResNet-18 layout (2-2-2-2 BasicBlocks) over (1, 40 bands, T frames), narrow for CPUs."""

        def __init__(self, n_classes: int, norm: str = "corpus", width: int = 8):
            super().__init__()
            self.norm = FreqNorm(norm)
            w = [width, 2 * width, 4 * width, 8 * width]
            self.stem = nn.Sequential(nn.Conv2d(1, w[0], 3, 2, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU())
            layers, cin = [], w[0]
            for i, c in enumerate(w):
                layers += [Block(cin, c, 1 if i == 0 else 2), Block(c, c, 1)]
                cin = c
            self.layers = nn.Sequential(*layers)
            self.emb = nn.Linear(w[-1], EMB_DIM)
            self.out = nn.Linear(EMB_DIM, n_classes)

        def embed(self, x):  # (B, T, 40) -> (B, 1, 40, T)
            h = self.layers(self.stem(self.norm(x).transpose(1, 2).unsqueeze(1)))
            return torch.relu(self.emb(h.mean(dim=(2, 3))))

        def forward(self, x):
            e = self.embed(x)
            return self.out(e), e

    return {"lstm": AttentiveGRU, "resnet": SmallResNet18}


def _make(kind: str, n_classes: int, norm: str = "corpus"):
    if kind not in KINDS:
        raise ValueError(f"unknown sequence classifier {kind!r} ({', '.join(KINDS)})")
    return _nets()[kind](n_classes, norm)


def contrastive_center_loss(e, y, centers, delta: float = 1.0):
    """0.5 * |e - c_y|^2 / (sum_{j != y} |e - c_j|^2 + delta), averaged over the batch."""
    import torch

    d = torch.cdist(e, centers) ** 2  # (B, C)
    own = d.gather(1, y[:, None]).squeeze(1)
    return (0.5 * own / (d.sum(1) - own + delta)).mean()


# ---- training ------------------------------------------------------------------------------------
@dataclass
class SeqClassifier:
    kind: str
    names: list[str]
    cluster_ids: list[int]
    model: object
    info: dict = field(default_factory=dict)

    def predict_features(self, feats: list[np.ndarray], k: int = 5) -> dict:
        """{"top": (N, k) class indices, "prob": their probabilities} (whole segments, no crop)."""
        prob = _probabilities(self.model, feats, len(self.names))
        k = min(k, prob.shape[1])
        top = np.argsort(-prob, axis=1)[:, :k]
        return {"top": top, "prob": np.take_along_axis(prob, top, axis=1)}

    def predict(self, waves: list[np.ndarray], k: int = 5) -> dict:
        return self.predict_features([log_mel(w) for w in waves], k)


def _probabilities(model, feats: list[np.ndarray], n_classes: int, batch: int = 64) -> np.ndarray:
    """Softmax per segment; segments of equal length go through together, so there is no padding."""
    import torch

    out = np.zeros((len(feats), n_classes), np.float32)
    lengths = np.array([len(f) for f in feats])
    model.eval()
    with torch.no_grad():
        for length in np.unique(lengths):
            idx = np.flatnonzero(lengths == length)
            for a in range(0, len(idx), batch):
                part = idx[a:a + batch]
                logits, _ = model(torch.from_numpy(np.stack([feats[i] for i in part])))
                out[part] = torch.softmax(logits, 1).numpy()
    return out


def training_positions(project: Project, source: str = "verified") -> np.ndarray:
    """As for the embedding classifiers, but verified segments only by default."""
    from speakerid_gui.core.classify.classifier import training_set

    return training_set(project, source)


def fit(project: Project, kind: str = "lstm", source: str = "verified", positions: np.ndarray | None = None,
        epochs: int = 30, patience: int = 5, batch: int = 32, lr: float = 2e-3, center_loss: float = 0.0,
        norm: str = "corpus", masks: bool = True, seed: int = 0, threads: int | None = 1,
        features: list[np.ndarray] | None = None,
        cancel: Callable[[], bool] = lambda: False) -> Iterator[Event]:
    """Train a sequence classifier; yields progress Events per epoch; raises progress.Cancelled between
    batches when cancel() is true. The SeqClassifier is the StopIteration value (`fit_run`).

    positions: segments to train on (default: training_positions(project, source));
    features: their log-mel frames if already computed (same order as positions).
    norm: per-frequency normalisation, "corpus" (training statistics) or "segment" (per segment).
    masks: SpecAugment-style training masks (one band span, one time span per crop).
    threads: torch threads while training, restored after (one: two spin on a busy machine).
    """
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return (yield from _fit(project, kind, source, positions, epochs, patience, batch, lr, center_loss,
                                norm, masks, seed, features, cancel))
    finally:
        torch.set_num_threads(before)


def _fit(project, kind, source, positions, epochs, patience, batch, lr, center_weight, norm, masks, seed, feats,
         cancel):
    import torch
    import torch.nn.functional as F

    t0 = time.perf_counter()
    pos = training_positions(project, source) if positions is None else np.asarray(positions)
    classes = np.unique(project.cluster[pos])
    if len(classes) < 2:
        raise ValueError("need labelled segments of at least two speakers to train a classifier")
    if feats is None:
        yield Event("features", 0, 1, f"log-mel of {len(pos)} segments")
        feats = segment_features(project, pos)
    y = np.searchsorted(classes, project.cluster[pos])
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    # early-stopping set: a tenth of each speaker's segments (speakers with >= 3 segments)
    val = np.zeros(len(pos), bool)
    for c in range(len(classes)):
        m = np.flatnonzero(y == c)
        if len(m) >= 3:
            val[rng.choice(m, max(1, len(m) // 10), replace=False)] = True
    tr, va = np.flatnonzero(~val), np.flatnonzero(val)
    model = _make(kind, len(classes), norm)
    frames = np.concatenate([feats[i] for i in tr])
    model.norm.mean.copy_(torch.from_numpy(frames.mean(0)))
    model.norm.std.copy_(torch.from_numpy(frames.std(0) + 1e-5))
    centers = torch.nn.Parameter(torch.randn(len(classes), EMB_DIM) * 0.1)
    params = list(model.parameters()) + ([centers] if center_weight else [])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    yv = torch.from_numpy(y[va])
    best, best_state, waited, history = np.inf, None, 0, []
    for epoch in range(epochs):
        model.train()
        # an epoch is at least MIN_EPOCH_CROPS crops: few segments are seen several times
        # (different random crops), so a small project still gets enough steps per epoch
        reps = max(1, int(np.ceil(MIN_EPOCH_CROPS / len(tr))))
        order = np.concatenate([rng.permutation(tr) for _ in range(reps)])
        losses = []
        for a in range(0, len(order), batch):
            if cancel():
                raise Cancelled()
            idx = order[a:a + batch]
            if len(idx) < 2:
                continue  # batch norm needs two
            xb = np.stack([_crop(feats[i], rng) for i in idx])
            if masks:
                _mask(xb, rng)
            xb = torch.from_numpy(xb)
            yb = torch.from_numpy(y[idx])
            logits, e = model(xb)
            loss = F.cross_entropy(logits, yb)
            if center_weight:
                loss = loss + center_weight * contrastive_center_loss(e, yb, centers)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        if len(va):
            prob = _probabilities(model, [feats[i] for i in va], len(classes))
            v = float(F.nll_loss(torch.log(torch.from_numpy(prob) + 1e-8), yv))
        else:
            v = float(np.mean(losses))
        history.append((float(np.mean(losses)), v))
        yield Event("train", epoch + 1, epochs, f"epoch {epoch + 1}", loss=history[-1][0], val_loss=v)
        if v < best - 1e-4:
            best, waited = v, 0
            best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    seconds = time.perf_counter() - t0
    info = {"trained": time.time(), "source": source, "norm": norm, "n_train": int(len(tr)), "n_val": int(len(va)),
            "n_speakers": int(len(classes)), "epochs": len(history), "best_val_loss": float(best),
            "center_loss": center_weight, "seconds": round(seconds, 2), "history": history}
    yield Event("done", 1, 1, f"{kind}: {len(history)} epochs in {seconds:.1f}s")
    return SeqClassifier(kind, [project.cluster_name(c) for c in classes], classes.tolist(), model, info)


def fit_run(project: Project, progress: Callable[[Event], None] | None = None, **kwargs) -> SeqClassifier:
    """fit() driven to the end; progress(event) per event."""
    return run_to_end(fit(project, **kwargs), progress)


# ---- evaluation, saving ------------------------------------------------------------------------------
def held_out(project: Project, test_fraction: float = 0.3, seed: int = 0) -> np.ndarray:
    """The held-out verified segments: the very draw classify.classifier.evaluate makes."""
    rng = np.random.default_rng(seed)
    ver = np.flatnonzero(project.verified & ~project.noise & (project.cluster != NOISE))
    if len(ver) < 4:
        raise ValueError("need verified segments to evaluate on")
    return rng.choice(ver, max(2, int(len(ver) * test_fraction)), replace=False)


def evaluate(project: Project, kind: str = "lstm", test_fraction: float = 0.3, seed: int = 0,
             source: str = "verified", progress: Callable[[Event], None] | None = None, **fit_options) -> dict:
    """Top-1 / top-5 and a confusion matrix on held-out verified segments (as classify.classifier.evaluate:
    {"top1", "top5", "n_test", "labels" (speakers + "unknown"), "confusion" (rows true, columns
    predicted, last column "unknown", always 0 here: these classifiers are closed-set),
    "unknown_rate", "kind"}, plus "seconds" (training) and "epochs").

    Trained on `source` segments (verified or clusters) minus the held-out ones.
    """
    test = held_out(project, test_fraction, seed)
    train_pos = np.setdiff1d(training_positions(project, source), test)
    feats = segment_features(project, np.concatenate([train_pos, test]))  # each recording decoded once
    clf = fit_run(project, progress, kind=kind, source=source, positions=train_pos, seed=seed,
                  features=feats[:len(train_pos)], **fit_options)
    pred = clf.predict_features(feats[len(train_pos):])
    truth = np.searchsorted(clf.cluster_ids, project.cluster[test])
    known = np.isin(project.cluster[test], clf.cluster_ids)
    top = pred["top"]
    n = len(clf.names)
    conf = np.zeros((n, n + 1), dtype=np.int64)
    for t, c, k in zip(truth, top[:, 0], known):
        if k:
            conf[t, c] += 1
    return {"top1": float(np.mean(known & (top[:, 0] == truth))),
            "top5": float(np.mean(known & (top == truth[:, None]).any(axis=1))),
            "n_test": int(len(test)), "labels": clf.names + [UNKNOWN], "confusion": conf,
            "unknown_rate": 0.0, "kind": kind, "seconds": clf.info["seconds"], "epochs": clf.info["epochs"]}


def save(project: Project, clf: SeqClassifier) -> Path:
    import torch

    path = project.folder / MODEL_FILE.format(kind=clf.kind)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"kind": clf.kind, "names": clf.names, "cluster_ids": clf.cluster_ids,
                "state_dict": clf.model.state_dict(), "info": {k: v for k, v in clf.info.items() if k != "history"}},
               tmp)
    os.replace(tmp, path)
    project.set_meta(f"seq_classifier_{clf.kind}", {"file": str(path.relative_to(project.folder)),
                                                     "speakers": clf.names, **clf.info})
    return path


def load(project: Project, kind: str) -> SeqClassifier:
    import torch

    path = project.folder / MODEL_FILE.format(kind=kind)
    if not path.exists():
        raise FileNotFoundError(f"{project.folder}: no {kind} classifier yet "
                                f"(run `speakerid train-classifier --kind {kind}`)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = _make(kind, len(ckpt["names"]), ckpt["info"].get("norm", "corpus"))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return SeqClassifier(kind, ckpt["names"], ckpt["cluster_ids"], model, ckpt["info"])
