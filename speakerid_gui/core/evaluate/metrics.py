"""Evaluation against a reference: clustering scores, embedding quality and diarization error rate."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

FRAME = 0.01  # DER time resolution in seconds
NAN = float("nan")


# ---------------------------------------------------------------- helpers

def _encode(labels) -> np.ndarray:
    """Labels of any hashable kind (ints, strings, mixed) as integer codes 0..k-1."""
    arr = np.asarray(labels)
    if arr.dtype != object:
        return np.unique(arr.ravel(), return_inverse=True)[1].ravel()
    index: dict = {}
    return np.array([index.setdefault(v, len(index)) for v in arr.ravel().tolist()], dtype=np.int64)


def _contingency(true, pred) -> np.ndarray:
    """counts[i, j] = number of items with true code i and predicted code j."""
    t, p = _encode(true), _encode(pred)
    if len(t) != len(p):
        raise ValueError(f"true and pred differ in length ({len(t)} vs {len(p)})")
    if not len(t):
        return np.zeros((0, 0), dtype=np.int64)
    counts = np.zeros((t.max() + 1, p.max() + 1), dtype=np.int64)
    np.add.at(counts, (t, p), 1)
    return counts


def _normalise(embeddings) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


# ---------------------------------------------------------------- clustering

def hungarian_accuracy(true, pred) -> float:
    """Fraction of items right after the best one-to-one cluster -> speaker mapping."""
    from scipy.optimize import linear_sum_assignment

    counts = _contingency(true, pred)
    if not counts.size:
        return NAN
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / counts.sum())


def purity(true, pred) -> float:
    """How pure each cluster is: items of its main speaker, summed over clusters."""
    counts = _contingency(true, pred)
    return float(counts.max(axis=0).sum() / counts.sum()) if counts.size else NAN


def coverage(true, pred) -> float:
    """Inverse purity: how much of each speaker ends up in its main cluster."""
    counts = _contingency(true, pred)
    return float(counts.max(axis=1).sum() / counts.sum()) if counts.size else NAN


def nmi(true, pred) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(_encode(true), _encode(pred))) if len(true) else NAN


def ari(true, pred) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(_encode(true), _encode(pred))) if len(true) else NAN


def rand_index(true, pred) -> float:
    from sklearn.metrics import rand_score

    return float(rand_score(_encode(true), _encode(pred))) if len(true) else NAN


def mutual_info(true, pred) -> float:
    from sklearn.metrics import mutual_info_score

    return float(mutual_info_score(_encode(true), _encode(pred))) if len(true) else NAN


def hungarian_mapping(true, pred) -> dict:
    """Predicted label -> true label under the best one-to-one mapping (unmatched clusters absent)."""
    from scipy.optimize import linear_sum_assignment

    true, pred = list(np.asarray(true, dtype=object)), list(np.asarray(pred, dtype=object))
    true_names, pred_names = list(dict.fromkeys(true)), list(dict.fromkeys(pred))
    counts = _contingency(np.array(true, dtype=object), np.array(pred, dtype=object))
    if not counts.size:
        return {}
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return {pred_names[c]: true_names[r] for r, c in zip(rows, cols)}


def recording_accuracy(recordings, true, pred) -> float:
    """Fraction of recordings whose majority cluster maps (segment-level Hungarian) to their majority speaker."""
    recordings = np.asarray(recordings, dtype=object)
    true, pred = np.asarray(true, dtype=object), np.asarray(pred, dtype=object)
    if not len(recordings):
        return NAN
    mapping = hungarian_mapping(true, pred)
    correct = 0
    groups = _encode(recordings)
    for g in range(groups.max() + 1):
        members = groups == g
        majority_true = Counter(true[members].tolist()).most_common(1)[0][0]
        majority_pred = Counter(pred[members].tolist()).most_common(1)[0][0]
        correct += mapping.get(majority_pred, _MISSING) == majority_true
    return correct / (groups.max() + 1)


_MISSING = object()  # a cluster with no mapped speaker never equals a true label


# ---------------------------------------------------------------- embeddings

def _sample_pairs(labels: np.ndarray, max_pairs: int, rng: np.random.Generator):
    """(same_i, same_j, diff_i, diff_j) index pairs: all pairs when few, else up to
    max_pairs/2 of each kind (EER does not depend on the ratio, so balancing is free)."""
    n = len(labels)
    if n * (n - 1) // 2 <= max_pairs:
        i, j = np.triu_indices(n, k=1)
        same = labels[i] == labels[j]
        return i[same], j[same], i[~same], j[~same]
    half = max_pairs // 2
    # same-speaker pairs: a random item and another random item of its group
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    sizes = np.searchsorted(sorted_labels, sorted_labels, side="right") - starts
    eligible = np.flatnonzero(sizes >= 2)
    si = sj = np.zeros(0, dtype=np.int64)
    if len(eligible):
        pick = rng.choice(eligible, size=half)
        rank = pick - starts[pick]
        other = starts[pick] + (rank + 1 + rng.integers(0, sizes[pick] - 1)) % sizes[pick]
        si, sj = order[pick], order[other]
    # different-speaker pairs: uniform random pairs, keeping those that differ
    di, dj = rng.integers(0, n, size=(2, 4 * half))
    keep = labels[di] != labels[dj]
    return si, sj, di[keep][:half], dj[keep][:half]


def _cosine(x: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x[i], x[j])


def eer(embeddings, labels, max_pairs: int = 200_000, seed: int = 0) -> float:
    """Equal error rate of same- vs different-speaker cosine scores (0 = perfect, 0.5 = chance)."""
    from sklearn.metrics import roc_curve

    x, codes = _normalise(embeddings), _encode(labels)
    si, sj, di, dj = _sample_pairs(codes, max_pairs, np.random.default_rng(seed))
    if not len(si) or not len(di):
        return NAN
    scores = np.concatenate([_cosine(x, si, sj), _cosine(x, di, dj)])
    target = np.concatenate([np.ones(len(si)), np.zeros(len(di))])
    fpr, tpr, _ = roc_curve(target, scores)
    fnr = 1 - tpr
    # first threshold where false alarms catch up with misses; interpolate between it and the one before
    k = int(np.argmax(fpr >= fnr))
    if k == 0:
        return float((fpr[0] + fnr[0]) / 2)
    d0, d1 = fnr[k - 1] - fpr[k - 1], fnr[k] - fpr[k]
    w = d0 / (d0 - d1) if d0 != d1 else 0.5
    return float(fpr[k - 1] + w * (fpr[k] - fpr[k - 1]))


def topk_retrieval(embeddings, labels, k: int = 5, chunk_elements: int = 20_000_000) -> float:
    """Fraction of segments with a same-speaker segment among their k nearest others (cosine).
    Similarities are computed in row chunks of about chunk_elements values to bound memory."""
    x, codes = _normalise(embeddings), _encode(labels)
    n = len(x)
    if n < 2:
        return NAN
    k = min(k, n - 1)
    # sort by speaker so each speaker's columns are one contiguous block (the answer ignores order)
    order = np.argsort(codes, kind="stable")
    x, codes = x[order], codes[order]
    block_starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])  # codes are dense: block c = code c
    rows_per_chunk = max(1, chunk_elements // n)
    hits = 0
    for lo in range(0, n, rows_per_chunk):
        hi = min(n, lo + rows_per_chunk)
        sims = x[lo:hi] @ x.T
        sims[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf  # a segment is not its own neighbour
        # a hit when fewer than k others beat the closest same-speaker segment
        # (a few passes over the chunk: far faster than argpartition on wide rows)
        best_per_speaker = np.maximum.reduceat(sims, block_starts, axis=1)
        best_same = best_per_speaker[np.arange(hi - lo), codes[lo:hi]]
        beaten_by = np.count_nonzero(sims > best_same[:, None], axis=1)
        hits += int((np.isfinite(best_same) & (beaten_by < k)).sum())
    return hits / n


def intra_inter_distance(embeddings, labels, max_pairs: int = 200_000, seed: int = 0) -> tuple[float, float]:
    """Mean cosine distance within speakers and between speakers (sampled pairs when many)."""
    x, codes = _normalise(embeddings), _encode(labels)
    si, sj, di, dj = _sample_pairs(codes, max_pairs, np.random.default_rng(seed))
    intra = float(np.mean(1 - _cosine(x, si, sj))) if len(si) else NAN
    inter = float(np.mean(1 - _cosine(x, di, dj))) if len(di) else NAN
    return intra, inter


# ---------------------------------------------------------------- diarization error rate

def _frame(t: float) -> int:
    return int(round(t / FRAME))


def _activity(turns, n_frames: int) -> tuple[np.ndarray, list[str]]:
    """Frame x speaker boolean matrix of who speaks when."""
    names = sorted({spk for _, _, spk in turns})
    active = np.zeros((n_frames, len(names)), dtype=bool)
    col = {name: c for c, name in enumerate(names)}
    for s, e, spk in turns:
        active[max(0, _frame(s)):max(0, _frame(e)), col[spk]] = True
    return active, names


def _scored_mask(ref_turns, regions, n_frames: int, collar: float) -> np.ndarray:
    """Frames inside the UEM (everything when none) minus a collar around each reference boundary."""
    mask = np.zeros(n_frames, dtype=bool)
    for s, e in regions:
        mask[max(0, _frame(s)):max(0, _frame(e))] = True
    if collar > 0:
        for s, e, _ in ref_turns:
            for t in (s, e):
                mask[max(0, _frame(t - collar)):max(0, _frame(t + collar))] = False
    return mask


def _file_errors(ref_turns, hyp_turns, regions, collar: float) -> np.ndarray:
    """[missed, false_alarm, confusion, total] in frames for one file."""
    from scipy.optimize import linear_sum_assignment

    end = max([e for _, e, _ in ref_turns] + [e for _, e, _ in hyp_turns] + [e for _, e in regions or []] + [0.0])
    n_frames = _frame(end) + 1
    ref, _ = _activity(ref_turns, n_frames)
    hyp, _ = _activity(hyp_turns, n_frames)
    mask = _scored_mask(ref_turns, regions if regions is not None else [(0.0, end)], n_frames, collar)
    ref, hyp = ref[mask].astype(np.float32), hyp[mask].astype(np.float32)
    n_ref, n_hyp = ref.sum(axis=1), hyp.sum(axis=1)
    correct = 0.0
    if ref.shape[1] and hyp.shape[1]:
        overlap = ref.T @ hyp  # frames each (reference, hypothesis) speaker pair share
        rows, cols = linear_sum_assignment(overlap, maximize=True)
        correct = float(overlap[rows, cols].sum())
    missed = np.maximum(n_ref - n_hyp, 0).sum()
    false_alarm = np.maximum(n_hyp - n_ref, 0).sum()
    confusion = np.minimum(n_ref, n_hyp).sum() - correct
    return np.array([missed, false_alarm, confusion, n_ref.sum()], dtype=np.float64)


def der(reference: dict, hypothesis: dict, uem: dict | None = None, collar: float = 0.25) -> dict:
    """Diarization error rate, as NIST md-eval scores it: overlapped speech scored, a no-score
    collar of `collar` seconds on each side of every reference boundary, best one-to-one
    speaker mapping per file. Files scored: the reference's, or the UEM's when one is given
    (a UEM file without reference turns is all non-speech: its hypothesis is false alarm)."""
    totals = np.zeros(4)
    for file_id in (reference if uem is None else uem):
        regions = uem[file_id] if uem is not None else None
        totals += _file_errors(reference.get(file_id, []), hypothesis.get(file_id, []), regions, collar)
    missed, false_alarm, confusion, total = totals * FRAME
    errors = missed + false_alarm + confusion
    return {
        "der": float(errors / total) if total > 0 else NAN,
        "missed": float(missed),
        "false_alarm": float(false_alarm),
        "confusion": float(confusion),
        "total": float(total),
    }


# ---------------------------------------------------------------- all together

def evaluate(true, pred, embeddings=None, recordings=None) -> dict[str, float]:
    """Every metric that applies; rows whose true label is None are not scored."""
    true = np.asarray(list(true), dtype=object)
    pred = np.asarray(list(pred), dtype=object)
    keep = np.array([t is not None for t in true], dtype=bool)
    true, pred = true[keep], pred[keep]
    result: dict[str, float] = {"n_scored": int(keep.sum()), "n_speakers": len(set(true.tolist())),
                                "n_clusters": len(set(pred.tolist()))}
    if not len(true):
        return result
    result.update(
        accuracy=hungarian_accuracy(true, pred), purity=purity(true, pred), coverage=coverage(true, pred),
        nmi=nmi(true, pred), ari=ari(true, pred), rand_index=rand_index(true, pred),
        mutual_info=mutual_info(true, pred),
    )
    if recordings is not None:
        result["recording_accuracy"] = recording_accuracy(np.asarray(list(recordings), dtype=object)[keep],
                                                          true, pred)
    if embeddings is not None:
        emb = np.asarray(embeddings)[keep]
        result["eer"] = eer(emb, true)
        result["top5"] = topk_retrieval(emb, true, k=5)
        result["intra"], result["inter"] = intra_inter_distance(emb, true)
    return result


_REPORT = [  # key, description
    ("accuracy", "segments right after best cluster->speaker mapping"),
    ("recording_accuracy", "recordings whose main cluster maps to their speaker"),
    ("purity", "clusters holding one speaker"),
    ("coverage", "speakers kept in one cluster"),
    ("nmi", "normalised mutual information"),
    ("ari", "adjusted Rand index"),
    ("rand_index", "Rand index"),
    ("mutual_info", "mutual information (nats)"),
    ("eer", "equal error rate of cosine scores (lower is better)"),
    ("top5", "segments with a same-speaker neighbour in their 5 nearest"),
    ("intra", "mean cosine distance within speakers"),
    ("inter", "mean cosine distance between speakers"),
    ("der", "diarization error rate"),
    ("missed", "missed speech (s)"),
    ("false_alarm", "false alarm speech (s)"),
    ("confusion", "speaker confusion (s)"),
    ("total", "scored reference speech (s)"),
    ("recordings_scored", "recordings in the DER (skipped ones too: their speech counts as missed)"),
    ("recordings_without_turns", "recordings scored with no turns at all"),
    ("n_scored", "segments scored"),
    ("n_speakers", "true speakers"),
    ("n_clusters", "predicted clusters"),
]


def _format_value(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def format_report(metrics: dict) -> str:
    """One aligned line per metric, known ones first in a fixed order, with a short explanation."""
    described = dict(_REPORT)
    keys = [k for k, _ in _REPORT if k in metrics] + [k for k in metrics if k not in described]
    if not keys:
        return ""
    width = max(len(k) for k in keys)
    values = {k: _format_value(metrics[k]) for k in keys}
    vwidth = max(len(v) for v in values.values())
    lines = []
    for k in keys:
        note = described.get(k, "")
        lines.append(f"{k:<{width}}  {values[k]:>{vwidth}}" + (f"  {note}" if note else ""))
    return "\n".join(lines)


__all__ = [
    "hungarian_accuracy", "hungarian_mapping", "purity", "coverage", "nmi", "ari", "rand_index", "mutual_info",
    "recording_accuracy", "eer", "topk_retrieval", "intra_inter_distance", "der", "evaluate", "format_report",
]
