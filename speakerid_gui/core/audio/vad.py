"""Speech regions with silero-vad (its model ships inside the silero-vad wheel)."""
from __future__ import annotations

import functools

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE
from speakerid_gui.core.cpu import default_workers


SEQUENCE_MODEL = "data/silero_vad_16k_sequence.onnx"
CONTEXT = 64         # samples of the frame before that the model sees with each frame


@functools.lru_cache(maxsize=1)
def _model():
    """silero's sequence model (ONNX, shipped in the wheel): one call runs a stream's 32 ms frames
    with the same per-frame probabilities as stepping the streaming model frame by frame, so a
    file costs a few calls instead of one Python step per 32 ms. Loaded from the wheel's file, not
    through the silero_vad package, whose __init__ imports torch (0.85 s of a run)."""
    import onnxruntime as ort

    from speakerid_gui.core.wheel_files import shipped_file

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(shipped_file("silero_vad", SEQUENCE_MODEL)), options,
                                providers=["CPUExecutionProvider"])


def _forward(piece: np.ndarray) -> np.ndarray:
    """Probabilities of a stream's frames from a fresh model state, as silero's own
    SileroVADSequence.audio_forward gives them for a piece of whole frames, up to 512 of them
    (tests/core/test_vad_steps.py): one block of its own frame_blocks (each frame prefixed with
    the last CONTEXT samples of the frame before), one model call."""
    (block,) = _frame_blocks()(piece, CHUNK, CONTEXT, max(1, len(piece) // CHUNK))
    state = np.zeros((1, 1, 128), np.float32)
    probs = _model().run(["speech_probs"], {"input": block, "h": state, "c": state})[0]
    return np.asarray(probs, np.float32).reshape(-1)


@functools.lru_cache(maxsize=1)
def _frame_blocks():
    """silero's frame_blocks, compiled from the wheel's sequence_vad.py (whose package imports torch)."""
    from speakerid_gui.core.wheel_files import function_from_file, shipped_file

    return function_from_file(shipped_file("silero_vad", "sequence_vad.py"), "frame_blocks", np=np)


@functools.lru_cache(maxsize=1)
def _timestamps():
    """silero's get_speech_timestamps_from_probs, its own code compiled from the wheel's file
    without the module's `import torch` (wheel_files.function_from_file)."""
    from typing import List

    from speakerid_gui.core.wheel_files import function_from_file, shipped_file

    return function_from_file(shipped_file("silero_vad", "utils_vad.py"), "get_speech_timestamps_from_probs",
                              List=List)


CHUNK = 512          # samples per model frame at 16 kHz
SHORT_CLIP = 3.0     # files shorter than this are short clips (see speech_regions)
SHORT_CLIP_PROB = 0.2
STREAM = 10.0        # seconds per stream: a long file is cut into streams run in parallel
PREROLL = 0.5        # seconds before each stream (silence before a file's first), discarded


def streams(n_samples: int) -> list[tuple[int, int, int]]:
    """A file's streams as (first sample of the pre-roll, may be negative, first frame it
    yields, frames it yields). Each starts PREROLL before its STREAM seconds, so the model's state
    has settled on real audio (or, at the file's start, on silence: without it 3 of fsdd's 240
    short clips had no speech at all). The project's speech regions have always been cut this way:
    streaming a whole file in one piece moved ami-debug's segments and cost 0.07 accuracy there."""
    per, pre = int(STREAM * SAMPLE_RATE) // CHUNK, int(PREROLL * SAMPLE_RATE) // CHUNK
    n_frames = int(np.ceil(n_samples / CHUNK))
    return [((f - pre) * CHUNK, f, min(per, n_frames - f)) for f in range(0, max(n_frames, 1), per)]


def speech_probabilities(waves: list[np.ndarray], workers: int | None = None) -> list[np.ndarray]:
    """Silero speech probability per 32 ms frame, for each wave. Every stream (see `streams`) is
    one sequence-model call; streams of all files are shared among `workers` threads (the ONNX
    session releases the GIL; default: the cores), longest first so the threads finish together."""
    from concurrent.futures import ThreadPoolExecutor

    pre = int(PREROLL * SAMPLE_RATE) // CHUNK
    jobs = [(i, *s) for i, w in enumerate(waves) for s in streams(len(w))]
    pieces: dict[tuple[int, int], np.ndarray] = {}

    def one(job):
        i, first, frame, count = job
        wave = np.asarray(waves[i], np.float32)
        piece = np.zeros((pre + count) * CHUNK, np.float32)
        lo, hi = max(first, 0), min(len(wave), first + len(piece))
        if hi > lo:
            piece[lo - first: hi - first] = wave[lo:hi]
        pieces[i, frame] = _forward(piece)[pre: pre + count]

    jobs.sort(key=lambda j: -j[3])
    workers = min(int(workers or default_workers()), max(1, len(jobs)))
    if workers <= 1:
        for job in jobs:
            one(job)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, jobs))
    return [np.concatenate([pieces[i, f] for _, f, _ in streams(len(w))])[: int(np.ceil(len(w) / CHUNK))]
            if len(w) else np.zeros(0, np.float32) for i, w in enumerate(waves)]


def speech_regions(waves: list[np.ndarray], threshold: float = 0.5, min_speech: float = 0.25,
                   min_silence: float = 0.3, pad: float = 0.05) -> list[list[tuple[float, float]]]:
    """For each 16 kHz mono wave, [(start, end)] in seconds of its speech."""
    get_speech_timestamps_from_probs = _timestamps()
    out = []
    for wave, probs in zip(waves, speech_probabilities(waves)):
        stamps = get_speech_timestamps_from_probs(
            probs.tolist(), audio_length_samples=len(wave), threshold=threshold,
            sampling_rate=SAMPLE_RATE, min_speech_duration_ms=int(min_speech * 1000),
            min_silence_duration_ms=int(min_silence * 1000), speech_pad_ms=int(pad * 1000))
        regions = [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]
        if not regions and len(wave) < SHORT_CLIP * SAMPLE_RATE and probs.size and probs.max() >= SHORT_CLIP_PROB:
            # Silero needs context: a clip of a word or two rarely passes the threshold, yet a
            # short file cut around speech is speech. Keep it whole when the model leans that way.
            regions = [(0.0, len(wave) / SAMPLE_RATE)]
        out.append(regions)
    return out


def is_silent(wave: np.ndarray, floor_db: float = -60.0) -> bool:
    """True for digital silence or near-silence (peak below floor_db dBFS)."""
    wave = np.asarray(wave)
    peak = max(-float(wave.min()), float(wave.max())) if len(wave) else 0.0  # (no copy of an hour's wave)
    return peak <= 10 ** (floor_db / 20)
