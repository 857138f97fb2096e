"""Scoring a project against a reference, shared by `speakerid evaluate`/`export` and the GUI.

label_rows: the project's labels as export rows; evaluate_project: clustering metrics of the
labels (and DER of the exported turns for an RTTM reference).
"""
from __future__ import annotations

from pathlib import Path


def label_rows(project, include_noise=False):
    from speakerid_gui.core.formats.common import LabelRow

    paths = {r.id: r.path for r in project.recordings()}
    rows = []
    for i in range(project.n_segments):
        noise = bool(project.noise[i])
        c = int(project.cluster[i])
        if (noise or c == -1) and not include_noise:  # unclustered (e.g. clustering undone) is not a speaker
            continue
        rows.append(LabelRow(recording=paths[int(project.seg_recording[i])], start=float(project.seg_start[i]),
                             end=float(project.seg_end[i]), cluster=c, speaker=project.cluster_name(c),
                             confidence=float(project.confidence[i]), verified=bool(project.verified[i]),
                             noise=noise))
    return rows


def evaluate_project(project, reference_path, uem_path=None):
    """Metrics of a project's labels against a reference (manifest CSV or RTTM; an RTTM also
    gives the diarization error rate of the exported turns, inside the UEM when there is one)."""
    import numpy as np

    from speakerid_gui.core.evaluate import metrics
    from speakerid_gui.core.formats.common import load_reference
    from speakerid_gui.core.pipeline import embeddings

    ref = load_reference(reference_path)
    paths = {r.id: r.path for r in project.recordings()}
    true = np.array([ref.label_for(paths[int(r)], float(a), float(b)) for r, a, b in
                     zip(project.seg_recording, project.seg_start, project.seg_end)], dtype=object)
    keep = np.array([t is not None for t in true]) & ~project.noise
    try:
        emb = embeddings(project)[keep]
    except Exception:  # metrics of the labels still make sense without embeddings
        emb = None
    result = metrics.evaluate(true[keep], project.cluster[keep], embeddings=emb,
                              recordings=project.seg_recording[keep])
    if ref.kind == "rttm":
        result.update(diarization_errors(project, ref, reference_path, uem_path))
    return result


def diarization_errors(project, ref, reference_path, uem_path=None) -> dict:
    """DER (collar 0.25 s, overlap scored) of the project's turns, as the RTTM export writes them."""
    from speakerid_gui.core.evaluate import metrics
    from speakerid_gui.core.conversation.stage import is_conversation
    from speakerid_gui.core.formats.common import read_uem, rows_to_turns

    uem_path = uem_path or Path(reference_path).with_suffix(".uem")
    uem = read_uem(uem_path) if Path(uem_path).is_file() else None
    turns = rows_to_turns(label_rows(project), overlapping=is_conversation(project))
    # only the project's recordings are scored, even when the reference covers more; a skipped
    # recording is scored too (all its reference speech is missed), never left out silently
    keys = {ref.key_for(r.path): r.path for r in project.recordings()}
    keys.pop(None, None)
    hypothesis = {key: turns.get(path, []) for key, path in keys.items()}
    reference = {key: ref.turns.get(key, []) for key in keys}
    if uem is not None:
        uem = {key: uem[key] for key in keys if key in uem}
    result = metrics.der(reference, hypothesis, uem)
    result["recordings_scored"] = len(hypothesis)
    result["recordings_without_turns"] = sum(1 for v in hypothesis.values() if not v)
    return result
