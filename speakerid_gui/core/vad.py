"""Speech regions with silero-vad (its model ships inside the silero-vad wheel)."""
from __future__ import annotations

import functools

import numpy as np

from .audio import SAMPLE_RATE


@functools.lru_cache(maxsize=1)
def _silero():
    """The silero_vad package, imported without its side effect: its model module calls
    torch.set_num_threads(1) for the whole process, which made CAM++ run on one core."""
    import torch

    threads = torch.get_num_threads()
    import silero_vad
    import silero_vad.utils_vad  # noqa: F401

    torch.set_num_threads(threads)
    return silero_vad


@functools.lru_cache(maxsize=1)
def _model():
    return _silero().load_silero_vad(onnx=False)


CHUNK = 512          # samples per model step at 16 kHz
STREAM = 10.0        # seconds per parallel stream
SHORT_CLIP = 3.0     # files shorter than this are short clips (see speech_regions)
SHORT_CLIP_PROB = 0.2
PREROLL = 0.5        # seconds of context before each stream, discarded


def speech_probabilities(waves: list[np.ndarray]) -> list[np.ndarray]:
    """Silero speech probability per 32 ms frame, for each wave.

    Silero is a recurrent model stepped 32 ms at a time; stepping one file in one
    stream is Python-bound (~90x real time). Cutting every file into 10 s streams with
    0.5 s of pre-roll and stepping all streams of all files as one batch is far faster.
    Streams are stepped only as far as they hold audio (a 1 s clip takes 48 steps, not
    344): streams of similar length are stepped together, so short clips cost what they last.
    Outputs never depend on later steps, so stopping early changes no probability.
    """
    import torch

    per_stream = int(STREAM * SAMPLE_RATE) // CHUNK
    pre = int(PREROLL * SAMPLE_RATE) // CHUNK
    streams, owners, needed = [], [], []
    for w_idx, wave in enumerate(waves):
        n_frames = int(np.ceil(len(wave) / CHUNK))
        padded = np.zeros((n_frames + pre + per_stream) * CHUNK, dtype=np.float32)
        padded[pre * CHUNK: pre * CHUNK + len(wave)] = wave
        for i in range(max(1, int(np.ceil(n_frames / per_stream)))):
            streams.append((padded, i * per_stream * CHUNK))
            owners.append(w_idx)
            needed.append(pre + min(per_stream, max(1, n_frames - i * per_stream)))
    needed = np.array(needed)
    probs = [np.zeros(0, np.float32)] * len(streams)
    for group in _step_groups(needed):
        steps = int(needed[group].max())
        batch = np.stack([streams[j][0][streams[j][1]: streams[j][1] + steps * CHUNK] for j in group])
        out = _step(torch.from_numpy(batch).view(len(group), steps, CHUNK))
        for row, j in enumerate(group):
            probs[j] = out[row, pre: needed[j]]
    owners = np.array(owners)
    return [np.concatenate([probs[j] for j in np.flatnonzero(owners == i)])[: int(np.ceil(len(w) / CHUNK))]
            for i, w in enumerate(waves)]


def _step_groups(needed: np.ndarray, call_cost: float = 64.0) -> list[np.ndarray]:
    """Streams sorted by length and cut into groups that minimise the stepping cost: a group
    costs its longest stream's steps x (call_cost + its streams), since every model call has a
    fixed Python cost worth about call_cost streams. Long files stay one group (few calls);
    a corpus of short clips is not stepped as far as its longest file."""
    order = np.argsort(needed, kind="stable")
    n = len(order)
    lengths = needed[order].astype(float)
    best = np.full(n + 1, np.inf)
    best[0], cut = 0.0, np.zeros(n + 1, dtype=int)
    for end in range(1, n + 1):  # best[end]: cheapest grouping of the `end` shortest streams
        costs = best[:end] + lengths[end - 1] * (call_cost + end - np.arange(end))
        cut[end] = int(np.argmin(costs))
        best[end] = costs[cut[end]]
    groups, end = [], n
    while end > 0:
        groups.append(order[cut[end]:end])
        end = cut[end]
    return groups[::-1]


def _step(batch) -> np.ndarray:
    """(streams, steps, CHUNK) samples -> (streams, steps) speech probabilities."""
    import torch

    model = _model()
    model.reset_states()
    probs = np.empty(batch.shape[:2], dtype=np.float32)
    with torch.inference_mode():
        for t in range(batch.shape[1]):
            probs[:, t] = model(batch[:, t], SAMPLE_RATE).view(-1).numpy()
    model.reset_states()
    return probs


def speech_regions(waves: list[np.ndarray], threshold: float = 0.5, min_speech: float = 0.25,
                   min_silence: float = 0.3, pad: float = 0.05) -> list[list[tuple[float, float]]]:
    """For each 16 kHz mono wave, [(start, end)] in seconds of its speech."""
    get_speech_timestamps_from_probs = _silero().utils_vad.get_speech_timestamps_from_probs
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
    peak = float(np.max(np.abs(wave))) if len(wave) else 0.0
    return peak <= 10 ** (floor_db / 20)
