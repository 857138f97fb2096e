"""Group waves of similar length so padding stays small; the model sees no padding at all."""
from __future__ import annotations

from typing import Iterator

import numpy as np


def pad_batches(waves: list[np.ndarray], batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (indices, batch) where every wave in a batch has the same length.

    Waves are grouped by exact length (fixed windows make most of them equal); a group
    is cut into batch_size pieces. No zero padding, so results do not depend on batching.
    """
    lengths = np.array([len(w) for w in waves])
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        for start in range(0, len(idx), batch_size):
            part = idx[start:start + batch_size]
            yield part, np.stack([waves[i] for i in part]).astype(np.float32, copy=False)
