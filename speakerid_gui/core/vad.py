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
    """
    import torch

    per_stream = int(STREAM * SAMPLE_RATE) // CHUNK
    pre = int(PREROLL * SAMPLE_RATE) // CHUNK
    steps = pre + per_stream
    streams, owners = [], []
    for w_idx, wave in enumerate(waves):
        n_frames = int(np.ceil(len(wave) / CHUNK))
        padded = np.zeros((n_frames + steps) * CHUNK, dtype=np.float32)
        padded[pre * CHUNK: pre * CHUNK + len(wave)] = wave
        for i in range(max(1, int(np.ceil(n_frames / per_stream)))):
            streams.append(padded[i * per_stream * CHUNK: (i * per_stream + steps) * CHUNK])
            owners.append(w_idx)
    batch = torch.from_numpy(np.stack(streams)).view(len(streams), steps, CHUNK)
    model = _model()
    model.reset_states()
    probs = np.empty((len(streams), steps), dtype=np.float32)
    with torch.inference_mode():
        for t in range(steps):
            probs[:, t] = model(batch[:, t], SAMPLE_RATE).view(-1).numpy()
    model.reset_states()
    owners = np.array(owners)
    return [probs[owners == i, pre:].reshape(-1)[: int(np.ceil(len(w) / CHUNK))]
            for i, w in enumerate(waves)]


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
