"""The pipeline as generators of progress events, shared by the CLI and the GUI workers.

scan -> analyse (decode, speech, segments, embeddings, prosody; per recording, resumable)
-> cluster -> layout. Every stage stores its output under a hash of its inputs and
settings, so a re-run only does what changed (another --speakers re-clusters in seconds).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .audio import AudioError, find_audio_files, load_audio
from .segment import SegmentSettings, windows
from .store import Project, settings_hash


CLUSTER_VERSION = 3  # bumped when the clustering itself changes, so stored clusterings are redone


@dataclass
class Settings:
    window: float = 3.0
    hop: float = 1.5
    min_segment: float = 0.5
    backend: str = "campp"
    speakers: int | None = None        # None: estimate the number of speakers
    method: str = "ahc"                # ahc | kmeans
    threshold: float | None = None     # AHC distance threshold when estimating (None: automatic)
    one_speaker_per_file: bool = False
    layout: str = "umap"               # umap | tsne | pca
    prosody: bool = True
    clean: str = "none"                # none | denoise | trim | denoise+trim: segments before embedding (clean.py)
    change_detection: bool = False     # cut speech at detected speaker turns (change.py)

    @property
    def segments(self) -> SegmentSettings:
        from .change import ChangeSettings

        change = ChangeSettings().key() if self.change_detection else ""  # part of the segment cache key
        return SegmentSettings(self.window, self.hop, self.min_segment, change=change)

    def cluster_key(self) -> dict:
        key = {k: getattr(self, k) for k in ("speakers", "method", "threshold", "one_speaker_per_file")}
        return {**key, "algorithm": CLUSTER_VERSION}


@dataclass
class Event:
    stage: str
    done: int = 0
    total: int = 0
    message: str = ""
    level: str = "progress"  # progress | warning | info


class Cancelled(Exception):
    pass


@dataclass
class Summary:
    files_ok: int = 0
    files_skipped: int = 0
    speech_seconds: float = 0.0
    segments: int = 0
    clusters: int = 0
    stage_seconds: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)


PROSODY_STEP = 0.02  # 20 ms curves are plenty for the panels, and Praat's cost is per frame
BATCH_SECONDS = 300.0  # audio decoded and analysed together (bounds memory, batches VAD and the model)


def run(project: Project, settings: Settings, cancel: Callable[[], bool] = lambda: False,
        summary: Summary | None = None) -> Iterator[Event]:
    """Run every stage; yields Events; raises Cancelled between batches when cancel() is true."""
    summary = summary if summary is not None else Summary()
    stages = [("scan", scan), ("analyse", analyse), ("cluster", cluster_stage), ("layout", layout_stage)]
    for name, stage in stages:
        t0 = time.perf_counter()
        yield from stage(project, settings, cancel)
        summary.stage_seconds[name] = time.perf_counter() - t0
    project.set_meta("settings", asdict(settings))
    recs = project.recordings()
    summary.files_ok = sum(r.status == "ok" for r in recs)
    summary.skipped = [(r.path, r.error) for r in recs if r.status == "skipped"]
    summary.files_skipped = len(summary.skipped)
    summary.speech_seconds = float(sum(r.speech or 0 for r in recs if r.status == "ok"))
    summary.segments = project.n_segments
    summary.clusters = len(project.cluster_sizes())


def _check(cancel):
    if cancel():
        raise Cancelled()


# ---- scan ---------------------------------------------------------------------------------
def scan(project: Project, settings: Settings, cancel) -> Iterator[Event]:
    root = project.audio_root
    if not root.exists():
        raise FileNotFoundError(f"{root}: audio folder not found")
    files = find_audio_files(root)
    yield Event("scan", 0, len(files), f"{len(files)} audio files in {root}")
    with project.transaction():
        for path in files:
            try:
                st = path.stat()
            except OSError as exc:
                yield Event("scan", message=f"{path}: cannot read ({exc.strerror})", level="warning")
                continue
            rel = path.relative_to(root).as_posix() if path != root else path.name
            rid, changed = project.upsert_recording(rel, st.st_size, st.st_mtime)
            if changed:
                project.db.execute("UPDATE recordings SET size=?, mtime=?, status='pending' WHERE id=?",
                                   (st.st_size, st.st_mtime, rid))
    yield Event("scan", len(files), len(files))


# ---- analyse --------------------------------------------------------------------------------
def _embedding_file(project: Project, settings: Settings, rid: int) -> Path:
    return embedding_file(project, settings.backend, settings.segments.key(), settings.clean, rid)


def embedding_file(project: Project, backend: str, seg_key: str, clean: str | None, rid: int) -> Path:
    """A recording's embedding cache. Cleaning is part of its name, not of the segment key, so
    another cleaning re-embeds the same segments. A backend spec with options gets a safe name."""
    from .embed import spec_slug

    suffix = "" if clean in (None, "none") else f"-{clean}"
    return project.cache_dir(f"emb-{spec_slug(backend)}") / f"{rid}-{seg_key}{suffix}.npy"


def _array_name(backend: str) -> str:
    from .embed import spec_slug

    return f"embeddings-{spec_slug(backend)}"


def _prosody_file(project: Project, rid: int) -> Path:
    return project.cache_dir("prosody") / f"{rid}.npz"


def _todo(project: Project, settings: Settings) -> list[tuple[int, str]]:
    """Recordings whose segments or embeddings are missing or stale."""
    seg_key = settings.segments.key()
    rows = project.db.execute("SELECT id, path, status, seg_key FROM recordings ORDER BY id").fetchall()
    todo = []
    for rid, rel, status, key in rows:
        if status == "skipped" and key == seg_key:
            continue  # already reported; a changed file is reset to pending by scan
        fresh = status == "ok" and key == seg_key and _embedding_file(project, settings, rid).exists()
        if settings.prosody and fresh and not _prosody_file(project, rid).exists():
            fresh = False
        if not fresh:
            todo.append((rid, rel))
    return todo


def analyse(project: Project, settings: Settings, cancel) -> Iterator[Event]:
    """Analyse what is missing; a backend whose weights are not here is replaced by the default
    one with a warning (settings.backend changes, so later stages and the saved settings follow)."""
    from .embed import DEFAULT_BACKEND, BackendUnavailable

    try:
        yield from _analyse(project, settings, cancel)
    except BackendUnavailable as exc:
        if settings.backend == DEFAULT_BACKEND:
            raise
        yield Event("analyse", message=f"backend {settings.backend} unavailable: {exc} "
                    f"Using {DEFAULT_BACKEND} instead.", level="warning")
        settings.backend = DEFAULT_BACKEND
        yield from _analyse(project, settings, cancel)


def _analyse(project: Project, settings: Settings, cancel) -> Iterator[Event]:
    from dataclasses import replace

    from .embed import get_backend, parse_spec
    from .embed.joint import is_joint, parts_of
    from .vad import is_silent, speech_regions

    if is_joint(settings.backend):  # built from its parts' own caches when assembled (embed/joint.py)
        for part, _ in parts_of(settings.backend):
            yield from _analyse(project, replace(settings, backend=part), cancel)
        return
    todo = _todo(project, settings)
    if not todo:
        yield Event("analyse", 1, 1, "all recordings already analysed")
        return
    # the prosody RNN is trained per project: it needs the project to find its weights
    per_project = parse_spec(settings.backend)[0] == "prosody_rnn"
    backend = get_backend(settings.backend, **({"project": project} if per_project else {}))
    root = project.audio_root
    done = 0
    total = len(todo)
    yield Event("analyse", 0, total, f"{total} recordings to analyse with {settings.backend}")
    batch: list[tuple[int, str, np.ndarray]] = []
    batch_seconds = 0.0
    pending = list(todo)
    while pending or batch:
        _check(cancel)
        # Decode until the batch holds enough audio, reporting unusable files as we go.
        while pending and batch_seconds < BATCH_SECONDS:
            rid, rel = pending.pop(0)
            path = root / rel
            try:
                wave = load_audio(path)
                if is_silent(wave):
                    raise AudioError(path, "silent (no signal above -60 dBFS)")
            except AudioError as exc:
                _skip(project, settings, rid, exc.reason)
                done += 1
                yield Event("analyse", done, total, f"{rel}: {exc.reason}", level="warning")
                continue
            except Exception as exc:  # a decoder crash must not stop the corpus
                _skip(project, settings, rid, f"unexpected error: {exc}")
                done += 1
                yield Event("analyse", done, total, f"{rel}: unexpected error: {exc}", level="warning")
                continue
            batch.append((rid, rel, wave))
            batch_seconds += len(wave) / 16000
        if not batch:
            continue
        for event in _analyse_batch(project, settings, backend, batch, speech_regions):
            if event.level == "progress":
                done += 1
                event.done, event.total = done, total
            yield event
        batch, batch_seconds = [], 0.0
    project.reload()


def _skip(project: Project, settings: Settings, rid: int, reason: str):
    project.set_recording_status(rid, "skipped", reason, seg_key=settings.segments.key())


def _analyse_batch(project, settings, backend, batch, speech_regions) -> Iterator[Event]:
    from .clean import segment_waves

    seg_settings = settings.segments
    regions = speech_regions([w for _, _, w in batch])
    turns = [()] * len(batch)
    if settings.change_detection:  # one segment holds one speaker: windows never straddle a turn
        from .change import batch_turns

        turns = batch_turns([w for _, _, w in batch], regions, backend, settings.backend, seg_settings.merge_gap)
    spans, waves, owners = [], [], []
    for (rid, rel, wave), reg, turns_r in zip(batch, regions, turns):
        duration = len(wave) / 16000
        spans_r = windows(reg, seg_settings, turns_r)
        if not spans_r and reg and duration < seg_settings.window:
            spans_r = [(0.0, round(duration, 3))]  # a short clip with speech is one segment
        spans.append(spans_r)
        waves += segment_waves(wave, spans_r, settings.clean)  # cut, and cleaned if asked
        owners += [rid] * len(spans_r)
    embeddings = backend.embed(waves) if waves else np.zeros((0, backend.dim), np.float32)
    owners = np.array(owners)
    for (rid, rel, wave), spans_r, reg in zip(batch, spans, regions):
        duration = len(wave) / 16000
        if not spans_r:
            reason = "no speech found" if not reg else f"speech too short (< {seg_settings.min_segment} s)"
            _skip(project, settings, rid, reason)
            yield Event("analyse", message=f"{rel}: {reason}", level="warning")
            yield Event("analyse", message=rel)
            continue
        np.save(_embedding_file(project, settings, rid), embeddings[owners == rid])
        if settings.prosody:
            _save_prosody(project, rid, wave, spans_r)
        speech = float(sum(b - a for a, b in reg))
        try:
            project.add_segments(rid, spans_r, seg_settings.key(), duration=duration, speech=speech)
        except ValueError as exc:  # reviewed segments are kept as they are
            yield Event("analyse", message=f"{rel}: {exc}", level="warning")
        yield Event("analyse", message=rel)


def _save_prosody(project: Project, rid: int, wave: np.ndarray, spans):
    from .prosody import recording_prosody

    p = recording_prosody(wave, step=PROSODY_STEP, spans=spans)
    tmp = _prosody_file(project, rid).with_suffix(".tmp.npz")
    np.savez(tmp, times=p.times, pitch=p.pitch, energy=p.energy)
    os.replace(tmp, _prosody_file(project, rid))


def load_prosody(project: Project, recording_id: int):
    """The stored pitch/energy curves of a whole recording (or None)."""
    from .prosody import Prosody

    path = _prosody_file(project, recording_id)
    if not path.exists():
        return None
    with np.load(path) as z:
        return Prosody(times=z["times"], pitch=z["pitch"], energy=z["energy"])


# ---- embeddings matrix ----------------------------------------------------------------------
def embeddings(project: Project, backend: str | None = None, seg_key: str | None = None,
               clean: str | None = None) -> np.ndarray:
    """(n_segments, dim) embeddings in segment order, assembled from the per-recording caches."""
    from .embed.joint import corpus_matrix, is_joint

    settings = Settings(**project.get_meta("settings", {})) if project.get_meta("settings") else Settings()
    backend = backend or settings.backend
    seg_key = seg_key or settings.segments.key()
    clean = clean or settings.clean
    if is_joint(backend):
        return corpus_matrix(project, backend, seg_key, clean)
    key = settings_hash(backend, seg_key, project.segment_ids[:1].tolist(), project.segment_ids[-1:].tolist(),
                        project.n_segments, *([clean] if clean != "none" else []),
                        # a retrained prosody RNN must not be shadowed by the old matrix
                        *([project.get_meta("prosody_rnn", {}).get("trained")] if backend == "prosody_rnn" else []))
    cached = project.load_array(_array_name(backend), key)
    if cached is not None:
        return cached
    parts = []
    rec_ids, starts = np.unique(project.seg_recording, return_index=True)
    for rid in rec_ids[np.argsort(starts)]:
        arr = np.load(embedding_file(project, backend, seg_key, clean, rid))
        parts.append(arr)
    matrix = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 1), np.float32)
    if len(matrix) != project.n_segments:
        raise RuntimeError("embedding cache out of step with segments: run the pipeline again")
    project.save_array(_array_name(backend), key, matrix)
    return matrix


# ---- cluster --------------------------------------------------------------------------------
def cluster_stage(project: Project, settings: Settings, cancel) -> Iterator[Event]:
    from . import cluster as clu
    from .edits import EditLog
    from .palette import color_for

    if project.n_segments == 0:
        yield Event("cluster", 1, 1, "no segments to cluster", level="warning")
        return
    emb = embeddings(project, settings.backend, settings.segments.key(), settings.clean)
    key = settings_hash(project.array_key(_array_name(settings.backend)), settings.cluster_key())
    edit = project.get_meta("cluster_edit")
    live = edit is not None and project.db.execute(
        "SELECT 1 FROM edits WHERE id=? AND state='done'", (edit,)).fetchone() is not None
    if project.get_meta("cluster_key") == key and live:  # an undone clustering is redone
        yield Event("cluster", 1, 1, "clusters up to date")
        return
    yield Event("cluster", 0, 1, f"clustering {len(emb)} segments")
    X = clu.prepare(emb)
    if settings.one_speaker_per_file:
        labels = clu.cluster_recordings(X, project.seg_recording, settings.speakers, settings.method,
                                        settings.threshold)
    else:
        labels = clu.cluster(X, settings.speakers, settings.method, settings.threshold,
                             durations=project.seg_end - project.seg_start)
    _check(cancel)
    conf = clu.confidence(X, labels)
    labels, rows = _stable_ids(project, labels)
    from .learn_constrained import respect

    labels = respect(project, X, labels)  # verified stay, "different speakers" answers stay apart
    rows.update({c: {"name": "", "color": color_for(c), "notes": ""}
                 for c in np.unique(labels).tolist() if c not in project.clusters and c not in rows})
    edit = EditLog(project).relabel("cluster", f"cluster into {len(np.unique(labels))} speakers "
                             f"({settings.method}, {'given' if settings.speakers else 'estimated'} count)",
                             np.arange(project.n_segments), labels, conf, rows)
    project.set_meta("cluster_key", key)
    project.set_meta("cluster_edit", edit)
    yield Event("cluster", 1, 1, f"{len(np.unique(labels))} clusters")


def _stable_ids(project: Project, labels: np.ndarray) -> tuple[np.ndarray, dict]:
    """Give new clusters the ids (names, colours) of the old clusters they overlap most.

    Clusters holding verified segments keep their id; a new cluster that mostly covers one
    takes it over, so a reviewer's names survive a re-cluster.
    """
    from scipy.optimize import linear_sum_assignment

    old = project.cluster.copy()
    new_ids = np.unique(labels)
    old_ids = np.unique(old[old >= 0])
    mapping = {}
    if len(old_ids):
        table = np.zeros((len(new_ids), len(old_ids)))
        np.add.at(table, (np.searchsorted(new_ids, labels[old >= 0]), np.searchsorted(old_ids, old[old >= 0])), 1)
        rows, cols = linear_sum_assignment(-table)
        mapping = {int(new_ids[r]): int(old_ids[c]) for r, c in zip(rows, cols) if table[r, c] > 0}
    used = set(mapping.values()) | set(project.clusters) | set(old_ids.tolist())
    next_id = max(used, default=-1) + 1
    for n in new_ids.tolist():
        if n not in mapping:
            mapping[n] = next_id
            next_id += 1
    out = np.array([mapping[int(l)] for l in labels], dtype=np.int32)
    # Old auto clusters that got no members and hold no verified segment disappear.
    alive = set(out.tolist()) | set(project.cluster[project.verified].tolist())
    rows = {c: None for c in project.clusters if c not in alive}
    return out, rows


# ---- layout ---------------------------------------------------------------------------------
def layout_stage(project: Project, settings: Settings, cancel) -> Iterator[Event]:
    from .layout import layout

    if project.n_segments == 0:
        return
    key = settings_hash(project.array_key(_array_name(settings.backend)), settings.layout)
    if project.load_array("layout", key) is not None:
        yield Event("layout", 1, 1, "layout up to date")
        return
    yield Event("layout", 0, 1, f"{settings.layout} layout of {project.n_segments} segments")
    from .cluster import prepare

    coords = layout(prepare(embeddings(project, settings.backend, settings.segments.key(), settings.clean)),
                    settings.layout)
    project.save_array("layout", key, coords.astype(np.float32))
    yield Event("layout", 1, 1)
