"""The analysis of decoded recordings, shared by the project's pipeline and by new audio
(classify): decode, speech regions, segments, and embeddings computed in chunks between
which a caller can store results and check Cancel."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE, AudioError, load_audio
from speakerid_gui.core.audio.segment import windows

# Windows embedded per model call: between two calls the stage checks Cancel, reports progress
# and stores every recording whose windows are all embedded. 30 s of windows take about 1 s at
# 32x real time, so Cancel takes effect within about a second even on a CPU without bfloat16.
EMBED_CHUNK_SECONDS = 30.0


@contextmanager
def _timed(timing: dict, key: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timing[key] = timing.get(key, 0.0) + time.perf_counter() - t0


def decode(path: Path, notes: list | None = None) -> np.ndarray:
    """A file as 16 kHz mono float32; AudioError (naming the file and the reason) when it cannot be
    used, also for a silent file and for any decoder crash, which must not stop a corpus. notes:
    what to tell about a file that is used only in part (load_audio)."""
    from speakerid_gui.core.audio.vad import is_silent

    try:
        wave = load_audio(path, notes=notes)
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(path, f"unexpected error: {exc}") from exc
    if is_silent(wave):
        raise AudioError(path, "silent (no signal above -60 dBFS)")
    return wave


def find_segments(waves: list[np.ndarray], settings, backend, given_regions: list | None = None,
                  timing: dict | None = None) -> tuple[list, list]:
    """Speech regions and segment spans of decoded recordings: windows inside speech (cut at
    speaker turns when asked; a short clip with speech is one segment), or the imported turns
    themselves (given_regions: one list of (start, end) per recording)."""
    from speakerid_gui.core.audio.vad import speech_regions

    timing = {} if timing is None else timing
    seg_settings = settings.segments
    with _timed(timing, "speech"):
        regions = given_regions if given_regions is not None else speech_regions(waves)
    turns = [()] * len(waves)
    if settings.change_detection and given_regions is None:  # windows never straddle a turn
        from speakerid_gui.core.conversation.change import batch_turns

        turns = batch_turns(waves, regions, backend, settings.backend, seg_settings.merge_gap)
    spans = []
    for wave, reg, turns_r in zip(waves, regions, turns):
        duration = len(wave) / SAMPLE_RATE
        spans_r = list(reg) if given_regions is not None else windows(reg, seg_settings, turns_r)
        if not spans_r and reg and duration < seg_settings.window:
            spans_r = [(0.0, round(duration, 3))]  # a short clip with speech is one segment
        spans.append(spans_r)
    return regions, spans


def embed_in_chunks(backend, waves: list[np.ndarray], spans: list[list], clean: str,
                    timing: dict | None = None) -> Iterator[tuple[int, np.ndarray | None, float]]:
    """Embeddings of every recording's segments, in recording order: yields (k, embeddings of
    recording k, 1.0) once all of k's segments are in, and (k, None, share done) while a long
    recording is part-way. The model runs on about EMBED_CHUNK_SECONDS of windows per call, so
    the caller can store finished recordings and check Cancel between calls. A recording is cut
    only where its own spans say (_pieces), so the project, a resumed run and new audio
    (classify) get the same embeddings."""
    from speakerid_gui.core.embed import embed_segments

    timing = {} if timing is None else timing
    got: list[list[np.ndarray]] = [[] for _ in waves]
    group: list[tuple[int, list]] = []  # (recording, its spans) in the next model call
    seconds, ready = 0.0, 0

    def run_group():
        with _timed(timing, "embed"):
            emb = embed_segments(backend, [waves[k] for k, _ in group], [s for _, s in group], clean)
        offset = 0
        for k, s in group:
            got[k].append(emb[offset:offset + len(s)])
            offset += len(s)
        group.clear()

    def finished(upto: int):
        nonlocal ready
        while ready < upto and sum(len(g) for g in got[ready]) == len(spans[ready]):
            parts = got[ready]
            yield ready, (np.concatenate(parts) if parts else np.zeros((0, backend.dim), np.float32)), 1.0
            got[ready] = []
            ready += 1

    for k, spans_r in enumerate(spans):
        for piece in _pieces(spans_r):
            group.append((k, piece))
            seconds += sum(b - a for a, b in piece)
            if seconds >= EMBED_CHUNK_SECONDS:
                run_group()
                seconds = 0.0
                yield from finished(k + 1)
                if ready == k and spans_r:  # a long recording part-way: say how far it is
                    yield k, None, sum(len(g) for g in got[k]) / len(spans_r)
    if group:
        run_group()
    yield from finished(len(spans))


def _pieces(spans_r: list) -> list[list]:
    """A recording's spans in runs of about EMBED_CHUNK_SECONDS of windows, counted from its own
    start: where a long recording is cut between model calls never depends on the other
    recordings of the batch (CAM++ shares frames between the windows of one call), so a resumed
    analysis gives the same embeddings as one run straight through."""
    pieces, run, seconds = [], [], 0.0
    for a, b in spans_r:
        run.append((a, b))
        seconds += b - a
        if seconds >= EMBED_CHUNK_SECONDS:
            pieces.append(run)
            run, seconds = [], 0.0
    return pieces + ([run] if run else [])


def segment_and_embed(waves: list[np.ndarray], settings, backend, given_regions: list | None = None,
                      timing: dict | None = None) -> tuple[list, list, np.ndarray, np.ndarray]:
    """The analysis of decoded recordings, for the project and for new audio alike: speech
    regions, segments (find_segments), one embedding per segment (embed_in_chunks). Returns
    (speech regions per recording, segment spans per recording, embeddings of all segments in
    order, index of the recording each embedding belongs to)."""
    regions, spans = find_segments(waves, settings, backend, given_regions, timing)
    parts = [emb for _, emb, _ in embed_in_chunks(backend, waves, spans, settings.clean, timing) if emb is not None]
    embeddings = np.concatenate(parts) if parts else np.zeros((0, backend.dim), np.float32)
    owners = np.repeat(np.arange(len(waves)), [len(s) for s in spans]).astype(np.int64)
    return regions, spans, embeddings, owners
