"""Diarization error rate on ami-debug: fixed windows, change detection, conversation mode.

    python benchmarks/diarization.py [--backend campp] [--threads 2] [--work DIR] [--no-sensitivity]
                                     [--telephone] [--corpus ami-debug|readers-talk]

--corpus readers-talk scores the same modes on conversations made from librispeech-test-other's
readers (datasets.readers_talk: 10 recordings of 60 s, 2-5 readers each, overlapping turns and
backchannels) instead of the AMI clips: read speech, other voices, other turn-taking.

(c) conversation mode (Settings.conversation, `speakerid run --conversation`): local speakers
with overlap per 10 s chunk (pyannote segmentation-3.0), linked across the corpus
(core/conversation/linking.py); its overlapping turns are scored as the RTTM export writes them. For
every mode the script prints DER and its parts per recording and corpus-wide, and the speed
(seconds of audio per second of pipeline time, float32 everywhere: CAM++ runs with
precision=float32, as on CPUs without bf16). Timings mean something on a quiet machine only.

The 14 AMI clips (30 s, 1-4 speakers) go through the real pipeline twice: (a) fixed
3 s / 1.5 s windows inside speech, (b) the same windows with speech first cut at the
speaker turns found by core/conversation/change.py (Settings.change_detection). The segments are
clustered into speakers with the count estimated (1) within each recording and (2)
over the whole corpus, as the pipeline does; turns per recording go out as RTTM
through core/formats/common.py and are scored against reference.rttm inside reference.uem,
with a 0.25 s collar on each side of every reference boundary and overlapped speech
scored (core/metrics.der).

Then, with the same code outside the pipeline: the sensitivity of (b) to the threshold
k (median + k * sigma of the distances of the batch), the threshold taken from each
recording alone instead of the batch, and an oracle that cuts at the reference turns
(the best any change detector could do with this clustering).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import DATA  # noqa: E402

AMI = DATA / "ami-debug"
COLLAR = 0.25
K_GRID = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0]


# ---- scoring ----------------------------------------------------------------------------------
def rttm_hypothesis(rows, work: Path) -> dict:
    """Per-recording turns, through the RTTM writer and reader the product uses."""
    from speakerid_gui.core.formats.common import read_rttm, write_rttm

    path = work / "hypothesis.rttm"
    write_rttm(rows, path)
    return read_rttm(path)


def label_rows(names, spans, labels):
    from speakerid_gui.core.formats.common import LabelRow

    return [LabelRow(names[r], a, b, int(c), f"S{c}", 1.0, False) for (r, a, b), c in zip(spans, labels)]


def per_recording_labels(emb: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """Speakers estimated within each recording (embeddings centred on the corpus mean)."""
    from speakerid_gui.core.cluster.agglomerative import cluster, prepare

    X = prepare(emb)
    labels = np.zeros(len(X), dtype=np.int64)
    for r in np.unique(owners):
        idx = np.flatnonzero(owners == r)
        labels[idx] = cluster(X[idx]) + 1000 * int(r)  # speakers never shared between recordings
    return labels


def corpus_labels(emb: np.ndarray) -> np.ndarray:
    from speakerid_gui.core.cluster.agglomerative import cluster, prepare

    return cluster(prepare(emb))


def score(rows, reference, uem, work) -> dict:
    from speakerid_gui.core.evaluate.metrics import der

    return der(reference, rttm_hypothesis(rows, work), uem, collar=COLLAR)


def line(label, result) -> str:
    return (f"{label:52s} {result['missed']:7.1f} {result['false_alarm']:6.1f} {result['confusion']:6.1f} "
            f"{100 * result['der']:6.1f}")


HEADER = f"{'':52s} {'missed':>7s} {'FA':>6s} {'conf':>6s} {'DER%':>6s}"


# ---- (a) and (b) through the pipeline ---------------------------------------------------------
def pipeline_results(change: bool, args, reference, uem) -> tuple[dict, dict, float, int]:
    from speakerid_gui.cli import label_rows as project_rows
    from speakerid_gui.core.pipeline import Settings, embeddings, run
    from speakerid_gui.core.project.store import Project

    folder = args.work / f"{args.audio.name}-{'change' if change else 'fixed'}-{args.backend}"
    project = Project.create(folder, args.audio)
    settings = Settings(backend=fp32(args.backend), layout="pca", prosody=False, change_detection=change)
    t0 = time.perf_counter()
    for _ in run(project, settings):
        pass
    seconds = time.perf_counter() - t0
    corpus = score(project_rows(project), reference, uem, args.work)  # the pipeline's own clusters
    paths = {r.id: r.path for r in project.recordings()}
    rids = sorted(paths)
    names = [paths[r] for r in rids]
    owners = np.searchsorted(rids, project.seg_recording)
    spans = list(zip(owners.tolist(), project.seg_start.tolist(), project.seg_end.tolist()))
    labels = per_recording_labels(embeddings(project, settings.backend), owners)
    per_rec = score(label_rows(names, spans, labels), reference, uem, args.work)
    n = project.n_segments
    per_file = {Path(r.path).stem: single_file_der(project, r, reference, uem) for r in project.recordings()}
    project.close()
    return per_rec, corpus, seconds, n, per_file


# ---- (c) conversation mode ----------------------------------------------------------------------
def conversation_results(args, reference, uem):
    """Conversation mode through the pipeline: corpus-wide linking (the pipeline's), and the
    same local analyses linked within each recording alone; per-recording DER of the former."""
    from speakerid_gui.cli import diarization_errors
    from speakerid_gui.core.conversation import linking as cv
    from speakerid_gui.core.conversation.stage import _local_file
    from speakerid_gui.core.cluster.same_speaker import backend_impostor
    from speakerid_gui.core.formats.common import load_reference
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.project.store import Project

    folder = args.work / f"{args.audio.name}-conversation-{args.backend}"
    project = Project.create(folder, args.audio)
    settings = Settings(backend=fp32(args.backend), layout="pca", prosody=False, conversation=True)
    t0 = time.perf_counter()
    for ev in run(project, settings):
        if ev.level == "warning":
            print(f"  warning: {ev.message}")
    seconds = time.perf_counter() - t0
    ref = load_reference(args.corpus_dir / "reference.rttm")
    corpus = diarization_errors(project, ref, args.corpus_dir / "reference.rttm")
    per_file = {}
    for r in project.recordings():
        key = Path(r.path).stem
        per_file[key] = single_file_der(project, r, reference, uem)
    # per-recording linking, on the same local analyses
    hyp = {}
    for r in project.recordings("ok"):
        loc = cv.Local.load(_local_file(project, settings, r.id))
        turns, _ = cv.diarize([loc], cv.ConversationSettings(), impostor=backend_impostor(settings.backend))
        hyp[Path(r.path).stem] = [(a, b, f"S{g}") for a, b, g in turns[0]]
    from speakerid_gui.core.evaluate.metrics import der

    per_rec = der(reference, {k: hyp.get(k, []) for k in uem}, uem, collar=COLLAR)
    if args.audio == args.corpus_dir:  # the telephone copy is scored against the same reference: report once
        args.conversation_oracle = conversation_oracle(project, settings, reference, uem)
    n = project.n_segments
    project.close()
    return per_rec, corpus, seconds, n, per_file


def oracle_labels(loc, turns) -> np.ndarray:
    """Each (chunk, local speaker) given the reference speaker it overlaps most in that chunk
    (one-to-one within a chunk); a local speaker overlapping none is a speaker of its own."""
    from scipy.optimize import linear_sum_assignment

    ch = loc.chunks
    speakers = sorted({spk for _, _, spk in turns})
    labels = np.full((ch.activity.shape[0], ch.activity.shape[2]), -1, np.int32)
    for c in range(ch.activity.shape[0]):
        t = ch.starts[c] + ch.frame_times()
        ref = np.zeros((len(t), len(speakers)))
        for a, b, spk in turns:
            ref[(t >= a) & (t < b), speakers.index(spk)] = 1
        act = ch.activity[c].astype(float)
        overlap = act.T @ ref
        for k, j in zip(*linear_sum_assignment(-overlap)):
            if act[:, k].any():
                labels[c, k] = j if overlap[k, j] > 0 else len(speakers) + k
    for k in range(ch.activity.shape[2]):  # local speakers the assignment left out
        labels[:, k] = np.where((labels[:, k] < 0) & ch.activity.any(axis=1)[:, k], len(speakers) + k, labels[:, k])
    return labels


def conversation_oracle(project, settings, reference, uem) -> dict:
    """DER when the local speakers are linked by the reference (the best any linking of this
    segmentation can do), and the pipeline's missed speech by how many people the reference
    has talking at once."""
    from speakerid_gui.core.conversation import linking as cv
    from speakerid_gui.core.conversation.stage import _local_file, is_conversation
    from speakerid_gui.core.formats.common import rows_to_turns
    from speakerid_gui.cli import label_rows
    from speakerid_gui.core.evaluate.metrics import der

    hyp, missed = {}, np.zeros(4)
    turns_of = rows_to_turns(label_rows(project), overlapping=is_conversation(project))
    for r in project.recordings("ok"):
        key = Path(r.path).stem
        loc = cv.Local.load(_local_file(project, settings, r.id))
        labels = oracle_labels(loc, reference.get(key, []))
        binary, _ = cv.reconstruct(loc, labels, int(labels.max(initial=0)) + 1)
        cs = cv.ConversationSettings()
        if cs.vad and loc.vad is not None:  # the same steps after linking as the pipeline's
            binary = cv.agree_with_vad(binary, loc)
        hyp[key] = [(a, b, f"S{g}") for a, b, g in cv.turns(binary, loc, cs.min_gap, cs.min_turn)]
        for people in range(1, 5):  # missed seconds where the reference has this many speakers
            frames = reference_count(reference.get(key, []), uem[key], people)
            part = {key: turns_of.get(r.path, [])}
            missed[people - 1] += der({key: frames}, part, {key: uem[key]}, collar=0.0)["missed"]
    return {"oracle": der(reference, {k: hyp.get(k, []) for k in uem}, uem, collar=COLLAR), "missed": missed}


def reference_count(turns, regions, people: int) -> list:
    """The reference turns cut to where exactly `people` (4: 4 or more) speak at once."""
    t = np.arange(0, max([e for _, e, _ in turns] + [e for _, e in regions] + [0.0]), 0.01)
    talking = np.zeros(len(t), int)
    for a, b, _ in turns:
        talking[(t >= a) & (t < b)] += 1
    keep = talking >= 4 if people == 4 else talking == people
    out = []
    for a, b, spk in turns:
        inside = keep & (t >= a) & (t < b)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(int), [0]])))
        out += [(t[i], t[j - 1] + 0.01, spk) for i, j in zip(edges[::2], edges[1::2])]
    return out


def single_file_der(project, recording, reference, uem) -> dict:
    from speakerid_gui.cli import label_rows
    from speakerid_gui.core.conversation.stage import is_conversation
    from speakerid_gui.core.formats.common import rows_to_turns
    from speakerid_gui.core.evaluate.metrics import der

    key = Path(recording.path).stem
    rows = [r for r in label_rows(project) if r.recording == recording.path]
    turns = rows_to_turns(rows, overlapping=is_conversation(project)).get(recording.path, [])
    return der({key: reference.get(key, [])}, {key: turns}, {key: uem[key]}, collar=COLLAR)


def fp32(backend: str) -> str:
    """CAM++ forced to float32, so the speed is what CPUs without bf16 get."""
    return f"{backend}:precision=float32" if backend == "campp" else backend


def command_seconds(audio: Path, project: Path) -> float:
    """Wall time of `speakerid run AUDIO --conversation` in a fresh process (layout PCA, no
    prosody, as the in-process runs), on a new project."""
    import os
    import shutil
    import subprocess

    shutil.rmtree(project, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": f"{Path(__file__).resolve().parents[1]}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "speakerid_gui.cli", "run", str(audio), "--project", str(project),
                    "--conversation", "--layout", "pca", "--no-prosody"], check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


# ---- sensitivity, outside the pipeline --------------------------------------------------------
class SegmentEmbedder:
    """Embeds (recording, start, end) spans once, however many configurations use them."""

    def __init__(self, backend, waves):
        self.backend, self.waves, self.cache = backend, waves, {}

    def __call__(self, spans) -> np.ndarray:
        todo = [s for s in dict.fromkeys(spans) if s not in self.cache]
        if todo:
            emb = self.backend.embed([self.waves[r][int(a * 16000):int(b * 16000)] for r, a, b in todo])
            self.cache.update(zip(todo, emb))
        return np.stack([self.cache[s] for s in spans])


def pipeline_batches(waves) -> list[list[int]]:
    """Recording indices grouped as the pipeline groups them (about BATCH_SECONDS of audio)."""
    from speakerid_gui.core.pipeline import BATCH_SECONDS

    batches, seconds = [[]], 0.0
    for i, w in enumerate(waves):
        if seconds >= BATCH_SECONDS:
            batches.append([])
            seconds = 0.0
        batches[-1].append(i)
        seconds += len(w) / 16000
    return batches


def reference_turns(reference, names) -> list[list[float]]:
    """Times where the reference's speaker changes (shorter turns win inside overlaps)."""
    out = []
    for name in names:
        turns = reference.get(Path(name).stem, [])
        active = np.full(3001, -1)
        speakers = sorted({s for _, _, s in turns})
        for s, e, spk in sorted(turns, key=lambda t: t[1] - t[0], reverse=True):
            active[int(s * 100):int(e * 100)] = speakers.index(spk)
        change = np.flatnonzero((active[1:] != active[:-1]) & (active[1:] >= 0) & (active[:-1] >= 0))
        out.append(((change + 1) / 100).tolist())
    return out


def sensitivity(args, reference, uem):
    from speakerid_gui.core.audio.decode import load_audio
    from speakerid_gui.core.conversation.change import ChangeSettings, confirm, curves, pick_turns, threshold
    from speakerid_gui.core.embed import get_backend
    from speakerid_gui.core.audio.segment import SegmentSettings, merge_regions, windows
    from speakerid_gui.core.audio.vad import speech_regions

    paths = sorted(args.corpus_dir.glob("*.wav"))
    names = [p.name for p in paths]
    waves = [load_audio(p) for p in paths]
    regions = speech_regions(waves)
    cs = ChangeSettings()
    change_backend = get_backend(cs.backend)
    embed = SegmentEmbedder(get_backend(args.backend) if args.backend != cs.backend else change_backend, waves)
    batches = pipeline_batches(waves)
    merged = [merge_regions(r, 0.5) for r in regions]
    all_curves = [None] * len(waves)
    for batch in batches:
        for i, c in zip(batch, curves([waves[i] for i in batch], [merged[i] for i in batch], change_backend, cs)):
            all_curves[i] = c

    def detect(batch, thresholds, ks):
        """core.change.detect_turns on curves already computed, with the given thresholds."""
        turns = []
        for i, thr in zip(batch, thresholds):
            candidates = pick_turns(all_curves[i], ks, thr)
            turns.append(confirm([waves[i]], [merged[i]], [candidates], change_backend,
                                 all_curves[i].mean, thr, ks)[0] if ks.context else candidates)
        return turns

    def batch_rule(k, context=cs.context):
        ks = ChangeSettings(k=k, context=context)
        turns = [None] * len(waves)
        for batch in batches:
            thr = threshold(np.concatenate([all_curves[i].distance for i in batch]), ks)
            for i, t in zip(batch, detect(batch, [thr] * len(batch), ks)):
                turns[i] = t
        return turns

    def recording_rule(k):
        ks = ChangeSettings(k=k)
        return detect(range(len(waves)), [threshold(c.distance, ks) for c in all_curves], ks)

    configs = [(f"k={k:g}", batch_rule(k)) for k in K_GRID]
    configs += [(f"k={cs.k:g}, peaks not confirmed with {cs.context:g} s", batch_rule(cs.k, 0.0)),
                (f"k={cs.k:g}, threshold from each recording alone", recording_rule(cs.k)),
                ("oracle: cut at the reference turns", reference_turns(reference, names))]
    results = []
    for label, turns in configs:
        spans = [(r, a, b) for r, reg in enumerate(regions) for a, b in windows(reg, SegmentSettings(), turns[r])]
        emb = embed(spans)
        owners = np.array([r for r, _, _ in spans])
        per_rec = score(label_rows(names, spans, per_recording_labels(emb, owners)), reference, uem, args.work)
        corpus = score(label_rows(names, spans, corpus_labels(emb)), reference, uem, args.work)
        results.append((f"{label} ({sum(map(len, turns))} turns)", per_rec, corpus))
    return results


def telephone_copy(source: Path, work: Path) -> Path:
    """The clips as a telephone line carries them (datasets.telephone: 8 kHz, the 300-3400 Hz
    band, 8-bit mu-law), read back by the pipeline like any file; the reference is unchanged."""
    from datasets import telephone

    name = "ami-telephone" if source == AMI else f"{source.name}-telephone"
    return telephone(source, source / "reference.rttm", work / name)[0]


def sf_duration(path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="campp", help="embedding backend of the segments")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path(tempfile.mkdtemp(prefix="speakerid-der-")))
    ap.add_argument("--no-sensitivity", action="store_true")
    ap.add_argument("--telephone", action="store_true",
                    help="also score the clips after an 8 kHz mu-law telephone channel (windows and conversation)")
    ap.add_argument("--corpus", choices=["ami-debug", "readers-talk"], default="ami-debug",
                    help="readers-talk: conversations made from librispeech-test-other (datasets.readers_talk)")
    args = ap.parse_args()
    if not (AMI / "reference.rttm").exists():
        print(f"{AMI} not found: skipped")
        return
    from datasets import readers_talk

    args.corpus_dir = AMI if args.corpus == "ami-debug" else readers_talk(args.work / "readers-talk")
    import torch

    from speakerid_gui.core.formats.common import read_rttm, read_uem

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    reference = read_rttm(args.corpus_dir / "reference.rttm")
    uem = read_uem(args.corpus_dir / "reference.uem")
    audio = sum(e - s for regions in uem.values() for s, e in regions)
    duration = sum(sf_duration(p) for p in args.corpus_dir.glob("*.wav"))
    print(f"{args.corpus}: {len(uem)} clips, {audio:.0f} s scored by the UEM; collar {COLLAR} s each side of "
          f"reference boundaries; overlapped speech scored; errors in seconds; {args.threads} threads, float32")
    args.audio = args.corpus_dir
    a = pipeline_results(False, args, reference, uem)
    b = pipeline_results(True, args, reference, uem)
    c = conversation_results(args, reference, uem)
    modes = [("(a) fixed windows", a), ("(b) with change detection", b), ("(c) conversation mode", c)]
    if args.telephone:
        args.audio = telephone_copy(args.corpus_dir, args.work)
        modes += [("(a) windows, telephone 8 kHz", pipeline_results(False, args, reference, uem)),
                  ("(c) conversation, telephone 8 kHz", conversation_results(args, reference, uem))]
        args.audio = args.corpus_dir
    print(f"scored speech {a[0]['total']:.1f} s; {duration:.0f} s of audio")
    for label, res in modes:
        print(f"  {label:28s} pipeline {res[2]:6.1f} s = {duration / res[2]:5.1f}x real time, {res[3]} segments")
    # the pipeline above runs inside this process, after the other modes; a user runs the command
    wall = command_seconds(args.corpus_dir, args.work / "command-conversation")
    print(f"  (c) as `speakerid run --conversation` in a new process (imports and model loads included): "
          f"{wall:.1f} s = {duration / wall:.1f}x real time")
    for i, mode in enumerate(["per-recording clustering", "whole-corpus clustering (the pipeline's)"]):
        print(f"\n{mode:52s}" + HEADER[52:])
        for label, res in modes:
            print(line(label, res[i]))
    print("\nper recording (the pipeline's clustering), DER %  " + "  ".join(f"{k:>6s}" for k in sorted(uem)))
    for label, res in modes:
        per = res[4]
        print(f"{label:48s}" + "  ".join(f"{100 * per[k]['der'] if k in per else float('nan'):6.1f}"
                                          for k in sorted(uem)))
    print(f"recordings scored: {', '.join(f'{label[:3]} {len(res[4])}' for label, res in modes)} of {len(uem)}")
    oracle = args.conversation_oracle
    print("\n(c) conversation mode, where its error comes from (collar 0 for the missed split)")
    print(line("  local speakers linked by the reference", oracle["oracle"]))
    print("  missed speech where the reference has 1 / 2 / 3 / 4+ people talking: "
          + " / ".join(f"{m:.1f}" for m in oracle["missed"]) + " s (the model marks at most 2 per frame)")
    if args.no_sensitivity:
        return
    results = sensitivity(args, reference, uem)
    for i, mode in enumerate(["per-recording clustering", "whole-corpus clustering"]):
        print(f"\n(b) sensitivity, {mode:34s}" + HEADER[52:])
        for label, *res in results:
            print(line("  " + label, res[i]))


if __name__ == "__main__":
    main()
