"""Conversation mode in the pipeline: analyse (local speakers per chunk) and diarize stages.

Turns live in the segments table: one row per speaker turn (start, end), rows of different
speakers may overlap, and each row's assignment is its global speaker. The project's meta
"mode" says "conversation" so exports and the app know that overlaps are real. The analyse
stage caches each recording's local analysis (conversation.Local, an .npz); the diarize stage
clusters all recordings' local speakers together and rewrites the turns, so another
--speakers only re-runs the cheap part.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from speakerid_gui.core.audio.copies import Digests
from speakerid_gui.core.audio.decode import AudioError, load_audio
from speakerid_gui.core.conversation.linking import ConversationSettings, Local
from speakerid_gui.core.project.cache import (array_name, embedding_file, prosody_file, remember_decode_notes,
                                               save_prosody)
from speakerid_gui.core.cluster.ids import stable_ids
from speakerid_gui.core.progress import Event, check
from speakerid_gui.core.project.store import Project, settings_hash

MODE_KEY = "mode"


NO_TURNS = "no speaker turns found"  # the reason diarize() gives a recording it left without turns


def _local_file(project: Project, settings, rid: int):
    from speakerid_gui.core.embed import spec_slug

    return project.cache_dir(f"conv-{spec_slug(settings.backend)}") / f"{rid}-{settings.segments.key()}.npz"


def _todo(project: Project, settings) -> list[tuple[int, str]]:
    seg_key = settings.segments.key()
    todo = []
    for rec in project.recordings():
        rid, rel, status, key = rec.id, rec.path, rec.status, rec.seg_key
        if status == "skipped" and key == seg_key:
            continue
        fresh = status == "ok" and key == seg_key and _local_file(project, settings, rid).exists()
        if settings.prosody and fresh:
            fresh = prosody_file(project, rid).exists()
        if not fresh:
            todo.append((rid, rel))
    return todo


def analyse(project: Project, settings, cancel) -> Iterator:
    """Per recording: segmentation-3.0 over sliding chunks, an embedding per local speaker."""
    from speakerid_gui.core.embed import get_backend
    from speakerid_gui.core.embed.joint import is_joint
    from speakerid_gui.core.conversation.segmentation import get_segmenter

    if is_joint(settings.backend) or settings.backend.startswith("prosody_rnn"):
        raise ValueError(f"conversation mode needs one speaker-embedding backend (e.g. campp), "
                         f"not {settings.backend}")
    cs = ConversationSettings()
    todo = _todo(project, settings)
    if not todo:
        yield Event("analyse", 1, 1, "all recordings already analysed")
        return
    from speakerid_gui.core.layout import prefetch

    prefetch(settings.layout)  # umap is imported in a process of its own meanwhile (layout.py)
    backend = get_backend(settings.backend)
    segmenter = get_segmenter(cs.step)
    root = project.audio_root
    yield Event("analyse", 0, len(todo), f"{len(todo)} recordings: local speakers with overlap, "
                f"{settings.backend} embeddings")
    digests = Digests(project)
    try:
        yield from _analyse_each(project, settings, todo, root, backend, segmenter, cs, digests, cancel)
    finally:  # a cancelled run keeps the digests of what it decoded
        digests.save()
    project.reload()


def _analyse_each(project, settings, todo, root, backend, segmenter, cs, digests, cancel) -> Iterator:
    from speakerid_gui.core.audio.vad import is_silent
    from speakerid_gui.core.audio.vad import speech_regions as vad_regions
    from speakerid_gui.core.cluster.same_speaker import backend_impostor
    from speakerid_gui.core.conversation.linking import local_embeddings, speech_regions

    for done, (rid, rel) in enumerate(todo, 1):
        check(cancel)
        path = root / rel
        notes: list[str] = []
        try:
            wave = load_audio(path, notes=notes)
            if is_silent(wave):
                raise AudioError(path, "silent (no signal above -60 dBFS)")
        except AudioError as exc:
            _skip(project, settings, rid, exc.reason)
            yield Event("analyse", done, len(todo), f"{rel}: {exc.reason}", level="warning", skipped=True)
            continue
        except Exception as exc:  # a decoder crash must not stop the corpus
            _skip(project, settings, rid, f"unexpected error: {exc}")
            yield Event("analyse", done, len(todo), f"{rel}: unexpected error: {exc}", level="warning", skipped=True)
            continue
        for note in remember_decode_notes(project, rel, notes):  # used, but only in part
            yield Event("analyse", done - 1, len(todo), f"{rel}: {note}", level="warning")
        digests.add(rel, wave)
        local = local_embeddings(wave, segmenter(wave), backend, cs, backend_impostor(settings.backend))
        if cs.vad:
            local.vad = np.asarray(vad_regions([wave])[0], np.float64).reshape(-1, 2)
        regions = speech_regions(local)
        if not np.isfinite(local.embeddings[:, :, 0]).any():
            reason = "no speech found" if not regions else f"speech too short (< {cs.min_short} s per speaker)"
            _skip(project, settings, rid, reason)
            yield Event("analyse", done, len(todo), f"{rel}: {reason}", level="warning", skipped=True)
            continue
        local.save(_local_file(project, settings, rid))
        if settings.prosody:
            save_prosody(project, rid, wave, regions)
        project.set_recording_status(rid, "ok", None, seg_key=settings.segments.key(),
                                     duration=len(wave) / 16000, speech=float(sum(b - a for a, b in regions)))
        yield Event("analyse", done, len(todo), rel)


def diarize(project: Project, settings, cancel) -> Iterator:
    """Link local speakers across the whole corpus and write the turns (with overlaps)."""
    from speakerid_gui.core.audio.channel import count_notes
    from speakerid_gui.core.cluster import agglomerative as clu
    from speakerid_gui.core.conversation.linking import diarize as run_diarize
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.embed import corpus_embeddings
    from speakerid_gui.core.palette import color_for

    cs = ConversationSettings()
    # A recording this stage itself left without turns keeps its place in the linking: dropping it
    # on the next run changed the inputs, so an unchanged project was linked again, differently.
    recs = [r for r in project.recordings() if r.status == "ok" or (r.status == "skipped" and r.error == NO_TURNS)]
    files = [_local_file(project, settings, r.id) for r in recs]
    recs = [r for r, f in zip(recs, files) if f.exists()]
    files = [f for f in files if f.exists()]
    if not recs:
        yield Event("cluster", 1, 1, "no recordings with speech to diarize", level="warning")
        return
    key = settings_hash(cs.key(), "one-speaker-test", settings.backend, settings.cluster_key(),
                        [(r.id, f.stat().st_mtime_ns) for r, f in zip(recs, files)])
    edit = project.get_meta("cluster_edit")
    live = project.edit_state(edit) == "done"
    if project.get_meta("cluster_key") == key and live:
        yield Event("cluster", 1, 1, "speaker turns up to date")
        return
    from speakerid_gui.core.cluster.same_speaker import backend_impostor

    reviewed = bool(project.n_segments and project.human.any())
    if reviewed and all((project.seg_recording == r.id).any() for r in recs if r.status == "ok"):
        yield Event("cluster", 1, 1, "turns carry reviewed labels: not re-diarizing (start a new project "
                    "to diarize again)", level="warning")
        return
    yield Event("cluster", 0, 1, f"linking local speakers of {len(recs)} recordings")
    locals_ = [Local.load(f) for f in files]
    all_turns, labels = run_diarize(locals_, cs, settings.speakers, settings.method, settings.threshold,
                                    impostor=backend_impostor(settings.backend))
    if reviewed:
        yield from _add_recordings(project, settings, recs, locals_, all_turns, labels, key)
        return
    yield from count_notes(project, settings.speakers)
    seg_key = settings.segments.key()
    speaker_of = []
    with project.transaction():
        for i, (rec, turns) in enumerate(zip(recs, all_turns)):
            skipped = _store_turns(project, settings, locals_, labels, i, rec, turns)
            if skipped:
                yield skipped
                continue
            speaker_of += [g for _, _, g in turns]
        # the stored matrix and layout belong to the old turns
        project.drop_array(array_name(settings.backend))
        project.drop_array("layout")
    project.reload()
    X = clu.prepare(corpus_embeddings(project, settings.backend, seg_key, settings.clean))
    labels_ = np.asarray(speaker_of, dtype=np.int32)
    conf = clu.confidence(clu.cluster_space(X, labels_), labels_)
    new, rows = stable_ids(project, labels_)
    rows.update({c: {"name": "", "color": color_for(c), "notes": ""}
                 for c in np.unique(new).tolist() if c not in project.clusters and c not in rows})
    edit = EditLog(project).relabel("cluster", f"diarize into {len(np.unique(new))} speakers "
                                    f"({'given' if settings.speakers else 'estimated'} count)",
                                    np.arange(project.n_segments), new, conf, rows)
    project.set_meta("cluster_key", key)
    project.set_meta("cluster_edit", edit.edit_id)
    project.set_meta(MODE_KEY, "conversation")
    yield Event("cluster", 1, 1, f"{len(np.unique(new))} speakers, {project.n_segments} turns")




def _store_turns(project: Project, settings, locals_, labels, i: int, rec, turns) -> Event | None:
    """Write one recording's turns and their embeddings; a recording left without turns is
    marked skipped, and the warning saying so is returned."""
    from speakerid_gui.core.conversation.linking import turn_embeddings

    seg_key = settings.segments.key()
    if not turns:
        project.set_recording_status(rec.id, "skipped", NO_TURNS, seg_key=seg_key)
        project.delete_recording_segments(rec.id)
        return Event("cluster", message=f"{rec.path}: {NO_TURNS}", level="warning")
    np.save(embedding_file(project, settings.backend, seg_key, settings.clean, rec.id),
            turn_embeddings(locals_, labels, i, turns))
    project.add_segments(rec.id, [(a, b) for a, b, _ in turns], seg_key, duration=rec.duration, speech=rec.speech)
    return None


def _add_recordings(project: Project, settings, recs, locals_, all_turns, labels, key: str) -> Iterator:
    """Turns for the recordings that have none yet, in a project whose turns carry a reviewer's
    work (those are never rewritten). The corpus was linked as a whole, so a new recording's
    speaker is the project's speaker whose stored turns that linking's speaker covers most in the
    reviewed recordings; a speaker heard only in new recordings becomes a new cluster. One
    undoable edit, over the new turns only."""
    from speakerid_gui.core.cluster import agglomerative as clu
    from speakerid_gui.core.conversation.linking import turn_embeddings
    from speakerid_gui.core.embed import corpus_embeddings
    from speakerid_gui.core.palette import color_for
    from speakerid_gui.core.project.edits import EditLog

    seg_key = settings.segments.key()
    new = [i for i, r in enumerate(recs) if not (project.seg_recording == r.id).any()]
    overlap: dict[int, dict[int, float]] = {}  # linking's speaker -> project cluster -> seconds
    for i, rec in enumerate(recs):
        stored = np.flatnonzero((project.seg_recording == rec.id) & (project.cluster >= 0))
        if len(stored) and all_turns[i]:
            s, e, g = (np.array(x) for x in zip(*all_turns[i]))
            seconds = np.clip(np.minimum(project.seg_end[stored, None], e) -
                              np.maximum(project.seg_start[stored, None], s), 0.0, None)  # (stored, turns)
            for j, t in zip(*np.nonzero(seconds)):
                into = overlap.setdefault(int(g[t]), {})
                c = int(project.cluster[stored[j]])
                into[c] = into.get(c, 0.0) + float(seconds[j, t])
        if len(stored) and not embedding_file(project, settings.backend, seg_key, settings.clean, rec.id).exists():
            # reviewed turns analysed under another key: embedded as the speaker that covers each most
            spans = [(project.seg_start[j], project.seg_end[j]) for j in np.flatnonzero(project.seg_recording == rec.id)]
            own = [(a, b, max(all_turns[i], key=lambda t: min(b, t[1]) - max(a, t[0]), default=(0, 0, -1))[2])
                   for a, b in spans]
            np.save(embedding_file(project, settings.backend, seg_key, settings.clean, rec.id),
                    turn_embeddings(locals_, labels, i, own))
    next_id = max(max([*project.clusters, *project.cluster.tolist()], default=-1) + 1, project.next_cluster_id())
    cluster_of = {}
    for g in sorted({g for i in new for _, _, g in all_turns[i]}):
        if g in overlap:
            cluster_of[g] = max(overlap[g], key=overlap[g].get)
        else:
            cluster_of[g], next_id = next_id, next_id + 1
    first = project.n_segments
    added, speakers = [], []
    with project.transaction():
        for i in new:
            rec, turns = recs[i], all_turns[i]
            skipped = _store_turns(project, settings, locals_, labels, i, rec, turns)
            if skipped:
                yield skipped
                continue
            added.append(rec.path)
            speakers += [cluster_of[g] for _, _, g in turns]
        project.drop_array(array_name(settings.backend))
        project.drop_array("layout")
    project.reload()
    if not added:
        return
    X = clu.prepare(corpus_embeddings(project, settings.backend, seg_key, settings.clean))
    index = np.arange(first, project.n_segments)  # segments are kept in the order they were added
    full = project.cluster.copy()
    full[index] = speakers
    conf = clu.confidence(clu.cluster_space(X, full), full)
    rows = {c: {"name": "", "color": color_for(c), "notes": ""}
            for c in set(speakers) if c not in project.clusters}
    edit = EditLog(project).relabel("cluster", f"turns of {len(added)} added recording(s), linked to the "
                                    f"project's speakers", index, full[index], conf[index], rows)
    project.set_meta("cluster_key", key)
    project.set_meta("cluster_edit", edit.edit_id)
    what = "1 new recording" if len(added) == 1 else f"{len(added)} new recordings"
    yield Event("cluster", 1, 1, f"{what}: {len(index)} turns, joined to the reviewed turns' speakers "
                f"({len(set(speakers))} speakers; reviewed turns left as they are)")


def is_conversation(project: Project) -> bool:
    return project.get_meta(MODE_KEY) == "conversation"


def _skip(project: Project, settings, rid: int, reason: str):
    project.set_recording_status(rid, "skipped", reason, seg_key=settings.segments.key())
