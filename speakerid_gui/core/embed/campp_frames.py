"""CAM++ embeddings of overlapping windows from one pass of its frame network.

With 3 s windows every 1.5 s, embedding each window on its own runs the network twice
over every second of speech. Here the frame-level part (fbank, FCM head, the dense TDNN
blocks, up to the statistics pooling) runs once over a chunk of speech that holds several
windows, and each window is pooled (mean + std) from the chunk's frames that fall inside
it. The frames near a window's edges then see speech outside the window, and the CAM
layers' context and the fbank mean are the chunk's, so the vectors differ slightly from
per-window ones: benchmarks/accuracy.py compares both (backend option context=0 is the
per-window way).
"""
from __future__ import annotations

import numpy as np


SR = 16000
FRAME_RATE = 50  # frames per second after CAM++'s stride-2 TDNN layer (fbank: 100)


def chunks(spans: list[tuple[float, float]], max_seconds: float) -> list[tuple[float, float, list[int]]]:
    """Group windows into chunks [(start, end, window indices)] no longer than max_seconds.

    Windows that overlap or touch share a chunk until it would grow past max_seconds; a
    window longer than max_seconds is a chunk of its own. Every window lies inside its chunk.
    """
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    out: list[list] = []
    for i in order:
        a, b = spans[i]
        if out and a <= out[-1][1] + 1e-6 and max(b, out[-1][1]) - out[-1][0] <= max_seconds + 1e-6:
            out[-1][1] = max(out[-1][1], b)
            out[-1][2].append(i)
        else:
            out.append([a, b, [i]])
    return [(a, b, idx) for a, b, idx in out]


def frame_range(a: float, b: float, chunk_start: float, n_frames: int) -> tuple[int, int]:
    """The chunk's network frames that a per-window pass over [a, b) would produce."""
    n_fbank = 1 + (int(round((b - a) * SR)) - 400) // 160
    count = max(1, (n_fbank + 1) // 2)
    first = int(round((a - chunk_start) * FRAME_RATE))
    first = min(max(0, first), max(0, n_frames - count))
    return first, min(n_frames, first + count)


def frame_network(model, feats):
    """CAM++ up to (and including) its last nonlinearity: (B, T, 80) -> (B, C, T/2)."""
    x = model.head(feats.permute(0, 2, 1))
    for name, layer in model.xvector.named_children():
        if name == "stats":
            break
        x = layer(x)
    return x


def pool_and_project(dense, frames_list) -> np.ndarray:
    """Mean + unbiased std of each window's (C, frames) frames (CAM++'s StatsPool), then its
    dense layer (campp_onnx.Dense)."""
    stats = np.stack([np.concatenate([f.mean(axis=-1), f.std(axis=-1, ddof=1) if f.shape[-1] > 1
                                      else np.full(f.shape[0], 1e-2, f.dtype)]) for f in frames_list])
    return dense(stats)
