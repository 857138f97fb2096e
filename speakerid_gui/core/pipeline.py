"""The pipeline as generators of progress events, shared by the CLI and the GUI workers.

scan -> analyse (decode, speech, segments, embeddings, prosody; per recording, resumable)
-> cluster -> layout. Every stage stores its output under a hash of its inputs and
settings, so a re-run only does what changed (another --speakers re-clusters in seconds).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from speakerid_gui.core.audio.copies import Digests, exact_copies
from speakerid_gui.core.audio.decode import SAMPLE_RATE, AudioError, find_audio_files
from speakerid_gui.core.analysis import _timed, decode, embed_in_chunks, find_segments
from speakerid_gui.core.project.cache import array_name, embedding_file, load_prosody, remember_decode_notes, save_prosody  # noqa: F401  (load_prosody: importable here)
from speakerid_gui.core.progress import Cancelled, Event, check  # noqa: F401  (Cancelled, Event: importable here)
from speakerid_gui.core.audio.segment import SegmentSettings
from speakerid_gui.core.cluster.ids import stable_ids
from speakerid_gui.core.project.store import Project, settings_hash


CLUSTER_VERSION = 9  # bumped when the clustering itself changes, so stored clusterings are redone


@dataclass
class Settings:
    window: float = 3.0
    hop: float = 1.5
    min_segment: float = 0.5
    backend: str = "auto"              # auto: CAM++, joined by GE2E on short clips (embed/choice.py)
    speakers: int | None = None        # None: estimate the number of speakers
    method: str = "ahc"                # ahc | kmeans
    threshold: float | None = None     # AHC distance threshold when estimating (None: automatic)
    one_speaker_per_file: bool = False
    layout: str = "umap"               # umap | tsne | pca
    prosody: bool = True
    clean: str = "none"                # none | denoise | trim | denoise+trim: segments before embedding (clean.py)
    change_detection: bool = False     # cut speech at detected speaker turns (change.py)
    conversation: bool = False         # overlap-aware speaker turns instead of windows (conversation.py)
    labels: str = ""                   # key of labels imported into the project (labels_in.py): their
                                       # turns are the segments and their speakers the clusters
    precision: str = "auto"            # auto | bf16 | float32: CAM++ arithmetic (auto: bf16 on AMX CPUs only)

    @property
    def segments(self) -> SegmentSettings:
        from speakerid_gui.core.conversation.change import ChangeSettings

        change = ChangeSettings().key() if self.change_detection else ""  # part of the segment cache key
        if self.conversation:
            from speakerid_gui.core.conversation.linking import ConversationSettings

            change = ConversationSettings().key()
        return SegmentSettings(self.window, self.hop, self.min_segment, change=change, source=self.labels)

    def cluster_key(self) -> dict:
        key = {k: getattr(self, k) for k in ("speakers", "method", "threshold", "one_speaker_per_file")}
        return {**key, "algorithm": CLUSTER_VERSION, **({"labels": self.labels} if self.labels else {})}


@dataclass
class Summary:
    files_ok: int = 0
    files_skipped: int = 0
    speech_seconds: float = 0.0
    segments: int = 0
    clusters: int = 0
    stage_seconds: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    copies: list = field(default_factory=list)  # (copy, original): the same audio twice (audio/copies.py)


BATCH_SECONDS = 300.0  # audio decoded and analysed together (bounds memory, batches VAD and the model)
# The first batch is smaller, and each next one twice the last up to BATCH_SECONDS, so the first
# files are done (counted, stored, shown) within seconds rather than after 300 s of audio were
# decoded and searched for speech.
FIRST_BATCH_SECONDS = 30.0


def run(project: Project, settings: Settings, cancel: Callable[[], bool] = lambda: False,
        summary: Summary | None = None) -> Iterator[Event]:
    """Run every stage; yields Events; raises Cancelled between batches when cancel() is true."""
    summary = summary if summary is not None else Summary()
    stages = [("scan", scan), ("analyse", analyse), ("cluster", cluster_stage), ("layout", layout_stage)]
    if settings.conversation:  # turns come from linking local speakers across the corpus
        from speakerid_gui.core.conversation import stage as conv

        stages[1:3] = [("analyse", conv.analyse), ("cluster", conv.diarize)]
    project.set_meta("mode", "conversation" if settings.conversation else "windows")
    for name, stage in stages:
        t0 = time.perf_counter()
        if name == "analyse":  # the conversation stages too
            yield from choose_backend(project, settings)
        yield from stage(project, settings, cancel)
        summary.stage_seconds[name] = time.perf_counter() - t0
    project.set_meta("settings", asdict(settings))
    recs = project.recordings()
    summary.files_ok = sum(r.status == "ok" for r in recs)
    summary.skipped = [(r.path, r.error) for r in recs if r.status == "skipped"]
    summary.files_skipped = len(summary.skipped)
    summary.copies = exact_copies(project)
    summary.speech_seconds = float(sum(r.speech or 0 for r in recs if r.status == "ok"))
    summary.segments = project.n_segments
    summary.clusters = len(project.cluster_sizes())


# ---- scan ---------------------------------------------------------------------------------
def scan(project: Project, settings: Settings, cancel) -> Iterator[Event]:
    source, root = Path(project.get_meta("audio_root", ".")), project.audio_root  # a folder or one file
    if not source.exists():
        raise FileNotFoundError(f"{source}: audio {'file' if source.suffix else 'folder'} not found")
    files = find_audio_files(source)
    yield Event("scan", 0, len(files), f"{len(files)} audio files in {source}")
    present = set()
    with project.transaction():
        for path in files:
            try:
                st = path.stat()
            except OSError as exc:
                yield Event("scan", message=f"{path}: cannot read ({exc.strerror})", level="warning")
                continue
            rel = path.relative_to(root).as_posix()
            present.add(rel)
            rid, changed = project.upsert_recording(rel, st.st_size, st.st_mtime)
            if changed:
                project.mark_recording_changed(rid, st.st_size, st.st_mtime)
    gone = [r.path for r in project.recordings() if r.status != "skipped" and r.path not in present]
    if gone:  # deleted or moved since: kept (a reviewer's labels on them are work), but said
        names = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        many = len(gone) > 1
        yield Event("scan", message=f"{len(gone)} recording{'s' if many else ''} of the project no longer in "
                    f"{source}: {names}; {'their' if many else 'its'} segments and labels are kept (playing "
                    f"{'them' if many else 'it'} needs the file{'s' if many else ''} back)", level="warning")
    yield Event("scan", len(files), len(files))


# ---- analyse --------------------------------------------------------------------------------
def choose_backend(project: Project, settings: Settings) -> Iterator[Event]:
    """settings.backend "auto" becomes the backend chosen for this corpus (embed/choice.py): from
    the files' durations, so re-running on the same files chooses the same. Conversations keep
    CAM++ (their local speakers are found on it)."""
    from speakerid_gui.core.embed import choice

    if settings.backend != choice.AUTO:
        return
    if settings.conversation:
        settings.backend = choice.LONG_RECORDINGS
    else:
        root = project.audio_root
        settings.backend = choice.choose([r.duration or _header_seconds(root / r.path) for r in project.recordings()
                                          if r.status != "skipped"], settings.window)
    project.set_meta("auto_backend", settings.backend)
    yield Event("analyse", message=f"embedding with {settings.backend} ({choice.describe(settings.backend)})",
                level="info")


def _embedding_file(project: Project, settings: Settings, rid: int) -> Path:
    return embedding_file(project, settings.backend, settings.segments.key(), settings.clean, rid)


def _todo(project: Project, settings: Settings) -> list[tuple[int, str]]:
    """Recordings whose segments or embeddings (settings.backend's, a plain backend) are missing or stale."""
    from speakerid_gui.core.project.cache import prosody_file

    seg_key = settings.segments.key()
    todo = []
    for rec in project.recordings():
        if rec.status == "skipped" and rec.seg_key == seg_key:
            continue  # already reported; a changed file is reset to pending by scan
        fresh = rec.status == "ok" and rec.seg_key == seg_key and _embedding_file(project, settings, rec.id).exists()
        if settings.prosody and fresh and not prosody_file(project, rec.id).exists():
            fresh = False
        if not fresh:
            todo.append((rec.id, rec.path))
    return todo


def analyse(project: Project, settings: Settings, cancel) -> Iterator[Event]:
    """Analyse what is missing; a backend whose weights are not here is replaced by the default
    one with a warning (settings.backend changes, so later stages and the saved settings follow)."""
    from speakerid_gui.core.embed import DEFAULT_BACKEND, BackendUnavailable

    yield from choose_backend(project, settings)  # (run() has already, unless analyse is called alone)
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
    """A plain backend analyses what its caches lack. A combination is assembled later from its
    parts' own caches (embed.corpus_embeddings): parts missing the same recordings are analysed
    together in one pass (embed.Stacked), each writing its own cache; otherwise part by part."""
    from dataclasses import replace

    from speakerid_gui.core.embed import Stacked, get_backend, parts

    specs = parts(settings.backend) or [settings.backend]
    todos = {spec: _todo(project, replace(settings, backend=spec)) for spec in specs}
    missing = [spec for spec in specs if todos[spec]]
    if len(missing) > 1 and any(todos[spec] != todos[missing[0]] for spec in missing):
        for spec in missing:
            yield from _analyse(project, replace(settings, backend=spec), cancel)
        return
    todo = todos[missing[0]] if missing else []
    if not todo:
        yield Event("analyse", 1, 1, "all recordings already analysed")
        return
    from speakerid_gui.core.layout import prefetch

    prefetch(settings.layout)  # umap is imported in a process of its own meanwhile (layout.py)
    timing: dict[str, float] = {}  # seconds per step, reported at the end (benchmarks/speed.py reads it)
    with _timed(timing, "model"):  # the project goes only to backends trained per project
        backends = [get_backend(spec, project=project, **backend_options(replace(settings, backend=spec)))
                    for spec in missing]
        backend = backends[0] if len(backends) == 1 else Stacked(missing, backends)
    root = project.audio_root
    total = len(todo)
    count = _Count(total, sum(_header_seconds(root / rel) for _, rel in todo))  # minutes, from the first event
    yield count.event(f"{total} recordings to analyse with {'+'.join(missing)}")
    own = replace(settings, backend=missing[0]) if len(missing) == 1 else settings  # whose caches _store writes
    batch: list[tuple[int, str, np.ndarray]] = []
    batch_seconds = 0.0
    limit = min(FIRST_BATCH_SECONDS, BATCH_SECONDS)
    pending = list(todo)
    digests = Digests(project)
    try:
        while pending or batch:
            check(cancel)
            # Decode until the batch holds enough audio, reporting unusable files as we go.
            while pending and batch_seconds < limit:
                check(cancel)
                rid, rel = pending.pop(0)
                notes: list[str] = []
                try:
                    with _timed(timing, "decode"):
                        wave = decode(root / rel, notes)
                except AudioError as exc:
                    _skip(project, settings, rid, exc.reason)
                    yield count.file_done(_header_seconds(root / rel), f"{rel}: {exc.reason}", "warning", skipped=True)
                    continue
                for note in remember_decode_notes(project, rel, notes):  # used, but only in part
                    yield count.event(f"{rel}: {note}", level="warning")
                digests.add(rel, wave)
                batch.append((rid, rel, wave))
                batch_seconds += len(wave) / SAMPLE_RATE
            if not batch:
                continue
            yield from _analyse_batch(project, own, backend, batch, count, cancel, timing)
            batch, batch_seconds = [], 0.0
            limit = min(2 * limit, BATCH_SECONDS)
    finally:  # a cancelled run keeps the digests of what it decoded
        digests.save()
    project.reload()
    yield Event("analyse", message="seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in timing.items()),
                level="info")


def backend_options(settings: Settings) -> dict:
    """Options the settings give the backend: CAM++'s precision."""
    from speakerid_gui.core.embed import parse_spec

    options = {}
    if parse_spec(settings.backend)[0] == "campp" and settings.precision != "auto":
        options["precision"] = settings.precision
    return options


class _Count:
    """Files and seconds of audio done in the analyse stage; every event carries both."""

    def __init__(self, total: int, seconds_total: float):
        self.done, self.total, self.seconds, self.seconds_total = 0, total, 0.0, seconds_total

    def event(self, message: str = "", level: str = "progress", seconds_extra: float = 0.0,
              skipped: bool = False) -> Event:
        seconds = self.seconds + seconds_extra
        return Event("analyse", self.done, self.total, message, level, seconds=round(seconds, 3),
                     seconds_total=round(max(self.seconds_total, seconds), 3), skipped=skipped)

    def file_done(self, seconds: float, message: str = "", level: str = "progress", skipped: bool = False) -> Event:
        self.done += 1
        self.seconds += seconds
        return self.event(message, level, skipped=skipped)


def _header_seconds(path: Path) -> float:
    """A file's duration from its header (0 when unreadable: decoding will say why)."""
    from speakerid_gui.core.audio.decode import probe

    try:
        return float(probe(path).duration)
    except Exception:
        return 0.0


def _skip(project: Project, settings: Settings, rid: int, reason: str):
    project.set_recording_status(rid, "skipped", reason, seg_key=settings.segments.key())


def _analyse_batch(project, settings, backend, batch, count: _Count, cancel, timing) -> Iterator[Event]:
    """Segments and embeddings of a batch of decoded recordings; each recording is stored as soon
    as its embeddings are in, and Cancel is checked between model calls (a cancel keeps them)."""
    imported = given = None
    if settings.labels:  # the imported turns are the speech and the segments
        from speakerid_gui.core.formats.labels_in import ImportedLabels

        imported = ImportedLabels(project, settings.window)
        given = [[(s, e) for s, e, _ in imported.spans_for(rel, len(w) / SAMPLE_RATE)] for _, rel, w in batch]
    waves = [w for _, _, w in batch]
    regions, spans = find_segments(waves, settings, backend, given, timing)
    check(cancel)
    for k, emb, share in embed_in_chunks(backend, waves, spans, settings.clean, timing):
        if emb is None:
            yield count.event(seconds_extra=share * len(waves[k]) / SAMPLE_RATE)
        else:
            yield from _store(project, settings, backend, batch[k], spans[k], regions[k], emb, count, imported,
                              timing)
        check(cancel)


def _store(project, settings, backend, item, spans_r, reg, embeddings_r, count: _Count, imported,
           timing) -> Iterator[Event]:
    """Store one recording's segments, embeddings and prosody (or skip it, saying why)."""
    rid, rel, wave = item
    seg_settings = settings.segments
    duration = len(wave) / SAMPLE_RATE
    if not spans_r:
        reason = "no speech found" if not reg else f"speech too short (< {seg_settings.min_segment} s)"
        if imported is not None:
            reason = f"no labelled turns for it in {imported.source}"
        _skip(project, settings, rid, reason)
        yield count.file_done(duration, f"{rel}: {reason}", level="warning", skipped=True)
        return
    from dataclasses import replace

    from speakerid_gui.core.embed import Stacked

    # each part of a combination analysed in one pass goes to its own cache
    blocks = zip(backend.specs, backend.split(embeddings_r)) if isinstance(backend, Stacked) else \
        [(settings.backend, embeddings_r)]
    for spec, block in blocks:
        np.save(_embedding_file(project, replace(settings, backend=spec), rid), block.astype(np.float32, copy=False))
    if settings.prosody:
        with _timed(timing, "prosody"):
            save_prosody(project, rid, wave, spans_r)
    speech = float(sum(b - a for a, b in reg))
    try:
        project.add_segments(rid, spans_r, seg_settings.key(), duration=duration, speech=speech)
    except ValueError as exc:  # reviewed segments are kept as they are
        yield count.event(f"{rel}: {exc}", level="warning")
    yield count.file_done(duration, rel)


def embeddings(project: Project, backend: str | None = None, seg_key: str | None = None,
               clean: str | None = None) -> np.ndarray:
    """(n_segments, dim) embeddings in segment order, assembled from the per-recording caches
    (cache.py); backend, segment key and cleaning default to the project's last run."""
    from speakerid_gui.core.embed import corpus_embeddings

    settings = Settings(**project.get_meta("settings", {})) if project.get_meta("settings") else Settings()
    chosen_backend(project, settings)
    return corpus_embeddings(project, backend or settings.backend, seg_key or settings.segments.key(),
                             clean or settings.clean)


def embed_edited_turns(project: Project, settings: Settings | None = None, cancel=lambda: False) -> int:
    """Embed again the turns cut or resized on the timeline (edited_turns.py), with the backend,
    cleaning and precision of the project's analysis; returns how many."""
    from dataclasses import replace

    from speakerid_gui.core.edited_turns import embed_edited

    if settings is None:
        settings = Settings(**project.get_meta("settings", {})) if project.get_meta("settings") else Settings()
    chosen_backend(project, settings)
    return embed_edited(project, settings.backend, settings.clean,
                        lambda spec: backend_options(replace(settings, backend=spec)), cancel)


def chosen_backend(project: Project, settings: Settings) -> str:
    """settings.backend, with "auto" replaced by what the analysis chose for this project (CAM++
    for a project analysed before the choice existed)."""
    if settings.backend == "auto":
        settings.backend = project.get_meta("auto_backend", "campp")
    return settings.backend


def one_speaker_basis(project: Project, settings: Settings, emb: np.ndarray) -> tuple[np.ndarray | None, float | None]:
    """(raw embeddings, impostor level) of the one-speaker test: the calibrated part's
    (same_speaker.calibrated_part), or (None, None) when the backend has none. On telephone
    speech (audio.channel) the level is measured on the corpus (same_speaker.corpus_impostor)."""
    from speakerid_gui.core.audio.channel import telephone_band
    from speakerid_gui.core.cluster.same_speaker import backend_impostor, calibrated_part, corpus_impostor

    part = calibrated_part(settings.backend)
    if part is None:
        return None, None
    raw = emb if part == settings.backend else embeddings(project, part, settings.segments.key(), settings.clean)
    impostor = backend_impostor(part)
    return raw, corpus_impostor(raw, impostor) if telephone_band(project) else impostor


# ---- cluster --------------------------------------------------------------------------------
def cluster_stage(project: Project, settings: Settings, cancel) -> Iterator[Event]:
    from speakerid_gui.core.audio.channel import count_notes
    from speakerid_gui.core.cluster import agglomerative as clu
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.palette import color_for

    if project.n_segments == 0:
        yield Event("cluster", 1, 1, "no segments to cluster", level="warning")
        return
    chosen_backend(project, settings)
    try:  # turns cut or resized on the timeline are clustered by what they hold now
        embed_edited_turns(project, settings, cancel)
    except RuntimeError as exc:
        yield Event("cluster", message=str(exc), level="warning")
    emb = embeddings(project, settings.backend, settings.segments.key(), settings.clean)
    key = settings_hash(project.array_key(array_name(settings.backend)), settings.cluster_key())
    edit = project.get_meta("cluster_edit")
    live = project.edit_state(edit) == "done"
    if project.get_meta("cluster_key") == key and live:  # an undone clustering is redone
        yield Event("cluster", 1, 1, "clusters up to date")
        return
    yield Event("cluster", 0, 1, f"clustering {len(emb)} segments")
    X = clu.prepare(emb)
    names = None
    if settings.labels:  # imported labels: one cluster per labelled speaker, named after it
        from speakerid_gui.core.formats.labels_in import ImportedLabels

        names, labels = np.unique(ImportedLabels(project, settings.window).segment_speakers(project).astype(str),
                                  return_inverse=True)
        labels = labels.ravel()
    elif settings.one_speaker_per_file:
        labels = clu.cluster_recordings(X, project.seg_recording, settings.speakers, settings.method,
                                        settings.threshold)
    else:
        raw, impostor = one_speaker_basis(project, settings, emb)
        labels = clu.cluster(X, settings.speakers, settings.method, settings.threshold,
                             durations=project.seg_end - project.seg_start, raw=raw, impostor=impostor)
        yield from count_notes(project, settings.speakers)
    check(cancel)
    conf = clu.confidence(clu.cluster_space(X, labels), labels)
    codes = labels
    labels, rows = stable_ids(project, labels)
    if names is None:
        from speakerid_gui.core.learn.constrained import respect

        labels = respect(project, X, labels)  # verified stay, "different speakers" answers stay apart
    index = np.arange(project.n_segments)
    if project.get_meta("cluster_key") is not None and project.human.any():
        # The corpus changed (files added, turns edited), not an explicit re-cluster (the
        # Re-cluster dialog clears the key): what a reviewer moved, merged or split stays put.
        kept = project.human & ~project.noise
        labels[kept] = project.cluster[kept]
        index = np.flatnonzero(~kept)
        for c in np.unique(project.cluster[kept]).tolist():
            if rows.get(c, 0) is None:  # a cluster the new clustering left empty still holds them
                del rows[c]
    rows.update({c: {"name": "", "color": color_for(c), "notes": ""}
                 for c in np.unique(labels).tolist() if c not in project.clusters and c not in rows})
    if names is not None:
        for c in np.unique(labels).tolist():
            info = rows.get(c) or dict(project.clusters.get(c) or {"color": color_for(c), "notes": ""})
            rows[c] = {**info, "name": str(names[codes[labels == c][0]])}
    edit = EditLog(project).relabel("cluster", f"cluster into {len(np.unique(labels))} speakers "
                             f"({settings.method}, {'given' if settings.speakers else 'estimated'} count)",
                             index, labels[index], conf[index], rows)
    project.set_meta("cluster_key", key)
    project.set_meta("cluster_edit", edit.edit_id)
    yield Event("cluster", 1, 1, f"{len(np.unique(labels))} clusters")


# ---- layout ---------------------------------------------------------------------------------
def layout_stage(project: Project, settings: Settings, cancel) -> Iterator[Event]:
    from speakerid_gui.core.layout import layout

    if project.n_segments == 0:
        return
    chosen_backend(project, settings)
    key = settings_hash(project.array_key(array_name(settings.backend)), settings.layout)
    if project.load_array("layout", key) is not None:
        yield Event("layout", 1, 1, "layout up to date")
        return
    yield Event("layout", 0, 1, f"{settings.layout} layout of {project.n_segments} segments")
    from speakerid_gui.core.cluster.agglomerative import prepare

    coords = layout(prepare(embeddings(project, settings.backend, settings.segments.key(), settings.clean)),
                    settings.layout)
    project.save_array("layout", key, coords.astype(np.float32))
    yield Event("layout", 1, 1)
