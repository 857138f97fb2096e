"""Prosody RNN (seed design): a small GRU over a segment's pitch and energy curves, trained
on the project's own segments with a contrastive loss (NT-Xent) between two augmented views.

Inputs, per 20 ms frame (the pipeline's stored prosody curves, cut per segment):
log-pitch (centred on 150 Hz, 0 where unvoiced), energy in dB relative to the segment's
95th percentile (so recording gain does not matter), a voiced flag, and the deltas of
log-pitch and energy. GRU(5 -> 64) -> mean+std pooling over frames -> MLP -> 32 dims,
L2-normalised.

The model is trained per project, so using it takes the project or the weights file:
- `train(project)` (a generator of progress Events; Cancel between batches) trains it, saves
  `models/prosody_rnn.pt` in the project, records the loss per epoch in the project meta
  ("prosody_rnn": {"losses": [...], ...}) and stores every segment's embedding in the same
  per-recording cache as any backend (cache.py), so `pipeline.embeddings(project, "prosody_rnn")`,
  clustering with `--backend prosody_rnn` and joint embeddings read them without work.
- `get_backend("prosody_rnn", project=FOLDER_OR_PROJECT)` or `get_backend("prosody_rnn",
  weights=PATH)` embeds new waves (Praat pitch is computed from the wave itself). Without
  either option it raises BackendUnavailable saying how to train it.
"""
from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE
from speakerid_gui.core.project.cache import PROSODY_STEP, array_name, backend_matrix, load_prosody, save_prosody, save_recording_embeddings
from speakerid_gui.core.progress import Cancelled, Event, run_to_end
from speakerid_gui.core.embed import BackendUnavailable, register

NAME = "prosody_rnn"
WEIGHTS_FILE = "models/prosody_rnn.pt"
META_KEY = "prosody_rnn"
STEP = PROSODY_STEP  # s per frame: the grid of the stored prosody curves
LOG_F0_REF = float(np.log(150.0))
LOG_F0_SCALE = 0.5  # ln units: +-0.5 is about +-8.5 semitones
ENERGY_SCALE = 20.0  # dB
N_FEATURES = 5
POOL = 2  # frames averaged in pairs: the GRU steps every 40 ms (half the cost, contours intact)
MIN_FRAMES = 5  # shorter inputs are zero-padded (a GRU needs some frames)


# ---- features ------------------------------------------------------------------------------------
def curve_features(pitch: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """(T, 5) float32 frame features from pitch (Hz, NaN unvoiced) and energy (dB) curves."""
    pitch = np.asarray(pitch, np.float64)
    energy = np.asarray(energy, np.float64)
    voiced = np.isfinite(pitch) & (pitch > 0)
    logf0 = np.where(voiced, (np.log(np.where(voiced, pitch, 1.0)) - LOG_F0_REF) / LOG_F0_SCALE, 0.0)
    ref = np.percentile(energy, 95) if len(energy) else 0.0
    e = np.clip((energy - ref) / ENERGY_SCALE, -3.0, 1.0)
    d_f0 = np.zeros_like(logf0)
    both = voiced[1:] & voiced[:-1]  # a pitch slope only between neighbouring voiced frames
    d_f0[1:][both] = (logf0[1:] - logf0[:-1])[both]
    d_e = np.zeros_like(e)
    d_e[1:] = e[1:] - e[:-1]
    feats = np.column_stack([logf0, e, voiced.astype(np.float64), 4.0 * d_f0, d_e]).astype(np.float32)
    if POOL > 1 and len(feats) >= POOL:
        g = feats[:len(feats) // POOL * POOL].reshape(-1, POOL, N_FEATURES)
        v = g[:, :, 2]
        pooled = g.mean(axis=1)
        # pitch columns average over the voiced frames only (an unvoiced 0 is not a low pitch)
        pooled[:, [0, 3]] = (g[:, :, [0, 3]] * v[:, :, None]).sum(1) / np.maximum(v.sum(1), 1.0)[:, None]
        feats = pooled
    if len(feats) < MIN_FRAMES:
        feats = np.pad(feats, ((0, MIN_FRAMES - len(feats)), (0, 0)))
    return feats


def augment(pitch: np.ndarray, energy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random view of a segment's curves, as features: crop, time warp, pitch shift in
    log-pitch, then feature noise and a time mask."""
    n = len(pitch)
    # crop: 70-100 % of the segment
    keep = max(MIN_FRAMES, int(round(n * rng.uniform(0.7, 1.0))))
    if keep < n:
        a = rng.integers(0, n - keep + 1)
        pitch, energy = pitch[a:a + keep], energy[a:a + keep]
    # time warp: resample by 0.8-1.25 (nearest frame, so unvoiced stays unvoiced)
    m = max(MIN_FRAMES, int(round(len(pitch) * rng.uniform(0.8, 1.25))))
    idx = np.clip(np.rint(np.linspace(0, len(pitch) - 1, m)).astype(int), 0, max(0, len(pitch) - 1))
    if len(pitch):
        pitch, energy = pitch[idx], energy[idx]
    # pitch shift: up to +-1 semitone (speaker identity lives in the pitch level, keep it small)
    pitch = pitch * np.exp(rng.uniform(-0.058, 0.058))
    feats = curve_features(pitch, energy)
    cont = [0, 1, 3, 4]
    feats[:, cont] += rng.normal(0.0, 0.05, (len(feats), len(cont))).astype(np.float32)
    # time mask: zero 0-20 % of the frames in one span
    width = int(len(feats) * rng.uniform(0.0, 0.2))
    if width:
        a = rng.integers(0, len(feats) - width + 1)
        feats[a:a + width] = 0.0
    return feats


# ---- the network ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _net_class():
    import torch
    from torch import nn

    class ProsodyGRU(nn.Module):
        def __init__(self, hidden: int = 64, dim: int = 32):
            super().__init__()
            self.gru = nn.GRU(N_FEATURES, hidden, batch_first=True)
            self.proj = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, dim))

        def forward(self, x, lengths):
            # Padding sits after each sequence and the GRU runs forwards, so a segment's
            # outputs do not depend on what it is batched with.
            out, _ = self.gru(x)
            mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).unsqueeze(2).float()
            n = lengths[:, None].float()
            mean = (out * mask).sum(1) / n
            std = (((out - mean[:, None]) ** 2 * mask).sum(1) / n + 1e-5).sqrt()
            return nn.functional.normalize(self.proj(torch.cat([mean, std], 1)), dim=1)

    return ProsodyGRU


def _batch(feats: list[np.ndarray]):
    import torch

    lengths = torch.tensor([len(f) for f in feats])
    x = torch.zeros(len(feats), int(lengths.max()), N_FEATURES)
    for i, f in enumerate(feats):
        x[i, :len(f)] = torch.from_numpy(f)
    return x, lengths


def nt_xent(z1, z2, tau: float = 0.2):
    """NT-Xent (SimCLR), as in the refinement head; a warmer temperature suits these views."""
    from speakerid_gui.core.embed.losses import nt_xent_loss

    return nt_xent_loss(z1, z2, tau)


def embed_features(model, feats: list[np.ndarray], batch: int = 256) -> np.ndarray:
    """(N, dim) embeddings of feature sequences, sorted by length inside so padding stays small."""
    import torch

    dim = model.proj[-1].out_features
    out = np.zeros((len(feats), dim), np.float32)
    order = np.argsort([len(f) for f in feats], kind="stable")
    model.eval()
    with torch.no_grad():
        for a in range(0, len(order), batch):
            idx = order[a:a + batch]
            x, lengths = _batch([feats[i] for i in idx])
            out[idx] = model(x, lengths).numpy()
    return out


# ---- the project's segments ------------------------------------------------------------------------
def segment_curves(project) -> list[tuple[np.ndarray, np.ndarray]]:
    """(pitch, energy) of every segment, in segment order, cut from the stored recording curves.

    Recordings analysed without prosody (--no-prosody) get their curves computed and
    stored now, as the pipeline would have.
    """
    from speakerid_gui.core.audio.decode import load_audio
    from speakerid_gui.core.audio.prosody import slice_prosody

    out: list = [None] * project.n_segments
    for rid in np.unique(project.seg_recording):
        pos = np.flatnonzero(project.seg_recording == rid)
        curves = load_prosody(project, int(rid))
        if curves is None:
            wave = load_audio(project.recording_path(int(rid)))
            save_prosody(project, int(rid), wave, list(zip(project.seg_start[pos], project.seg_end[pos])))
            curves = load_prosody(project, int(rid))
        for i in pos:
            s = slice_prosody(curves, float(project.seg_start[i]), float(project.seg_end[i]))
            out[i] = (s.pitch, s.energy)
    return out


@dataclass
class TrainResult:
    losses: list[float]
    seconds: float
    embeddings: np.ndarray  # (n_segments, dim), segment order
    weights: Path


def train(project, epochs: int = 30, batch: int = 128, hidden: int = 64, dim: int = 32, lr: float = 3e-3,
          tau: float = 0.1, seed: int = 0, threads: int | None = 1,
          cancel: Callable[[], bool] = lambda: False) -> Iterator[Event]:
    """Train the prosody RNN on every segment of the project (two augmented views each, NT-Xent).

    Yields progress Events (stages prepare, train (per epoch, loss = its mean NT-Xent), embed,
    done); raises progress.Cancelled between batches when cancel() is true, and then writes nothing. At the
    end it saves the weights, the loss curve and every segment's embedding (see the module
    doc); the TrainResult is the value of the StopIteration (`train_run` returns it).

    threads: torch threads while training (restored after). One is the default: a GRU this
    small gains nothing from two, and on a busy machine two threads spin and run 10x slower.
    """
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return (yield from _train(project, epochs, batch, hidden, dim, lr, tau, seed, cancel))
    finally:
        torch.set_num_threads(before)


def _train(project, epochs, batch, hidden, dim, lr, tau, seed, cancel):
    import torch

    t0 = time.perf_counter()
    yield Event("prepare", 0, 1, "reading pitch and energy curves")
    curves = segment_curves(project)
    if len(curves) < 4:
        raise ValueError(f"need at least 4 segments to train the prosody RNN (project has {len(curves)})")
    yield Event("prepare", 1, 1, f"{len(curves)} segments")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = _net_class()(hidden, dim)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    n = len(curves)
    starts = list(range(0, n, batch))
    if len(starts) > 1 and n - starts[-1] < batch // 2:
        starts.pop()  # a small last batch (few negatives) joins the one before it
    losses = []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(n)
        epoch_losses = []
        for k, a in enumerate(starts):
            if cancel():
                raise Cancelled()
            idx = order[a:starts[k + 1] if k + 1 < len(starts) else n]
            v1, l1 = _batch([augment(*curves[i], rng) for i in idx])
            v2, l2 = _batch([augment(*curves[i], rng) for i in idx])
            loss = nt_xent(model(v1, l1), model(v2, l2), tau)
            opt.zero_grad()
            loss.backward()
            opt.step()
            epoch_losses.append(float(loss.detach()))
        sched.step()
        losses.append(float(np.mean(epoch_losses)))
        yield Event("train", epoch + 1, epochs, f"epoch {epoch + 1}/{epochs} loss {losses[-1]:.4f}",
                    loss=losses[-1])
    if cancel():
        raise Cancelled()
    yield Event("embed", 0, 1, f"embedding {n} segments")
    emb = embed_features(model, [curve_features(p, e) for p, e in curves])
    weights = save_weights(project.folder / WEIGHTS_FILE, model, hidden, dim)
    emb = store_embeddings(project, emb)
    seconds = time.perf_counter() - t0
    project.set_meta(META_KEY, {"file": WEIGHTS_FILE, "losses": losses, "epochs": epochs, "batch": batch,
                                "hidden": hidden, "dim": dim, "tau": tau, "seed": seed,
                                "n_segments": n, "seconds": round(seconds, 2), "trained": time.time()})
    yield Event("done", 1, 1, f"trained on {n} segments in {seconds:.1f}s, final loss {losses[-1]:.4f}")
    return TrainResult(losses, seconds, emb, weights)


def train_run(project, progress: Callable[[Event], None] | None = None, **kwargs) -> TrainResult:
    """train() driven to the end; progress(event) per event."""
    return run_to_end(train(project, **kwargs), progress)


def loss_curve(project) -> list[float]:
    """The loss per epoch of the project's last prosody RNN training (empty if never trained)."""
    return list((project.get_meta(META_KEY) or {}).get("losses", []))


def save_weights(path: Path, model, hidden: int, dim: int) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": model.state_dict(), "hidden": hidden, "dim": dim, "step": STEP}, tmp)
    os.replace(tmp, path)
    return path


def load_model(path: str | os.PathLike):
    import torch

    path = Path(path)
    if not path.exists():
        raise BackendUnavailable(f"{path}: no trained prosody RNN here; train one with "
                                 f"`speakerid train-prosody PROJECT` (it learns from the project's segments)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = _net_class()(ckpt["hidden"], ckpt["dim"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model


def store_embeddings(project, emb: np.ndarray) -> np.ndarray:
    """Write per-recording caches exactly where the pipeline keeps a backend's embeddings,
    then rebuild the assembled matrix (returned)."""
    seg_key = project.segment_key()  # the settings the project's segments were cut with
    # The curves come from the raw audio whatever the cleaning setting; file them under the
    # project's setting so pipeline.embeddings finds them.
    clean = (project.get_meta("settings") or {}).get("clean")
    for rid in np.unique(project.seg_recording):
        save_recording_embeddings(project, NAME, seg_key, clean, int(rid), emb[project.seg_recording == rid])
    # The assembled matrix is keyed by the segments and the training time, which is stored
    # after this: drop the old one, or it would shadow the retrained numbers.
    project.drop_array(array_name(NAME))
    return backend_matrix(project, NAME, seg_key, clean, _trained(project))


def _trained(project):
    """When the project's model was trained: part of its assembled matrix's key."""
    return (project.get_meta(META_KEY) or {}).get("trained")


# ---- the registry backend (new audio) -----------------------------------------------------------------
class ProsodyRnnBackend:
    name = NAME

    def __init__(self, weights: str | os.PathLike | None = None, project=None, threads: int | None = None,
                 **_options):
        if weights is None and project is not None:
            folder = getattr(project, "folder", project)
            weights = Path(folder) / WEIGHTS_FILE
        if weights is None:
            raise BackendUnavailable("prosody_rnn is trained per project: run `speakerid train-prosody PROJECT`, "
                                     "then pass project=PROJECT or weights=PROJECT/" + WEIGHTS_FILE)
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.model = load_model(weights)
        self.dim = self.model.proj[-1].out_features

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        from speakerid_gui.core.audio.prosody import prosody_curves

        feats = []
        for wave in waves:
            p = prosody_curves(np.asarray(wave, np.float32), SAMPLE_RATE, STEP)
            feats.append(curve_features(p.pitch, p.energy))
        if not feats:
            return np.zeros((0, self.dim), np.float32)
        return embed_features(self.model, feats)


@register(NAME, project=True, matrix_tag=_trained)
def _factory(**options):
    return ProsodyRnnBackend(**options)
