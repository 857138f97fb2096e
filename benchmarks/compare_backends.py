"""Every embedding backend and combination available offline, on the same data, in one table.

    python benchmarks/compare_backends.py [--sets test-other tc100-cut ami] [--epochs 30]
        [--seeds 0 1 2] [--work DIR] [--every N] [--threads N]

Per set: one project, analysed by the real pipeline once per backend (the per-recording
caches make the joint rows cost only a clustering), then clustered with the speaker count
estimated and given, and scored like `speakerid evaluate` (cli.evaluate_project).

Rows: CAM++ (default), GE2E, MFCC statistics, the prosody RNN (trained per project and per
seed with prosody_rnn.train_run), the hand-made prosody statistics (no registered backend:
z-scored prosody.prosody_stats stored in the pipeline's cache under the name
`prosody_stats`, so the pipeline clusters and joins it like any backend), joint embeddings
(embed/joint.py spec syntax), and the transformers backends when their weights are local.

Speed: x real time = the set's audio seconds / seconds spent computing that backend's
embeddings inside the analyse stage (joint: sum of its parts; prosody: Praat curves +
inference). Training time of the prosody RNN is a separate column. A cell with a range
(a–b) shows the spread over the seeds of the prosody RNN.
Prints a markdown table on stdout (progress on stderr); --every N takes every N-th file of
each set, for a quick check.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import available, corpus, subset  # noqa: E402

SETS = ["test-other", "tc100-cut", "ami"]
HF_BACKENDS = ["ast", "whisper", "wavlm"]
PLAIN = ["campp", "ge2e", "mfcc"]
COMBOS = ["joint:campp=1,mfcc=0.3", "joint:campp=1,ge2e=0.5"]
STATS = "prosody_stats"  # the hand-made prosody statistics, stored in the cache under this name
PROSODY_WEIGHTS = (0.25, 0.5)
LABELS = {"campp": "campp (default)"}


# ---- the table ---------------------------------------------------------------------------------------
@dataclass
class Row:
    set: str
    backend: str
    values: dict = field(default_factory=dict)  # metric -> list of values (one per seed)
    note: str = ""

    def add(self, **metrics):
        for key, value in metrics.items():
            self.values.setdefault(key, []).append(value)


def cell(values, fmt: str = "{:.3f}") -> str:
    """One value, or min–max (en dash) when the values (e.g. over seeds) differ once formatted."""
    values = [v for v in (values or []) if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if not values:
        return "-"
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}–{hi}"


COLUMNS = [  # header, metric key, format
    ("acc, count given", "acc_given", "{:.3f}"),
    ("NMI, given", "nmi_given", "{:.3f}"),
    ("acc, count estimated", "acc_est", "{:.3f}"),
    ("clusters/speakers", "clusters", "{:d}"),
    ("NMI, estimated", "nmi_est", "{:.3f}"),
    ("EER", "eer", "{:.3f}"),
    ("speed (x real time)", "speed", "{:.0f}"),
    ("prosody RNN training (s)", "train_s", "{:.0f}"),
]


def markdown_table(rows: list[Row]) -> str:
    head = ["set", "backend"] + [c[0] for c in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * len(COLUMNS)) + "|"]
    for row in rows:
        if row.note:
            cells = [row.note] + [""] * (len(COLUMNS) - 1)
        else:
            cells = [cell(row.values.get(key), fmt) for _, key, fmt in COLUMNS]
            if cells[3] != "-":
                cells[3] += f"/{cell(row.values.get('speakers'), '{:d}')}"
        lines.append("| " + " | ".join([row.set, f"`{LABELS.get(row.backend, row.backend)}`"] + cells) + " |")
    return "\n".join(lines)


def prosody_effect(rows: list[Row]) -> list[str]:
    """Per set, each joint row against CAM++ alone: the differences of accuracy and EER
    (a range spans the seeds). Positive accuracy and negative EER mean the addition helps."""
    base = {r.set: r.values for r in rows if r.backend == "campp" and not r.note}
    lines = []
    for r in rows:
        if r.note or r.set not in base or not r.backend.startswith("joint:campp=1,"):
            continue
        # rounded first, and -0.0 + 0.0 is +0.0: a difference of nothing prints as +0.000
        diffs = [f"{label} {cell([round(v - base[r.set][key][0], 3) + 0.0 for v in r.values[key]], '{:+.3f}')}"
                 for label, key in (("acc given", "acc_given"), ("acc estimated", "acc_est"), ("EER", "eer"))]
        lines.append(f"{r.set}, `{r.backend}` vs `campp`: " + ", ".join(diffs))
    return lines


# ---- measuring -------------------------------------------------------------------------------------
def log(message: str):
    print(message, file=sys.stderr, flush=True)


@contextmanager
def timed_embeddings(seconds: dict):
    """While active, every backend the pipeline builds adds its embed() wall time to
    seconds[spec]: the analyse stage's own cost of that backend, without decoding and VAD."""
    from speakerid_gui.core import embed

    original = embed.get_backend

    def get_backend(spec, **options):
        backend = original(spec, **options)

        def timed(inner):
            def call(*args):
                t0 = time.perf_counter()
                try:
                    return inner(*args)
                finally:
                    seconds[spec] = seconds.get(spec, 0.0) + time.perf_counter() - t0
            return call

        # embed_spans: CAM++'s windows of whole recordings (embed_segments prefers it)
        for method in ("embed", "embed_spans"):
            if hasattr(backend, method):
                setattr(backend, method, timed(getattr(backend, method)))
        return backend

    embed.get_backend = get_backend
    try:
        yield
    finally:
        embed.get_backend = original


def score(project, spec: str, reference) -> dict:
    """Cluster with the speaker count estimated, then given; metrics as `speakerid evaluate`."""
    from speakerid_gui.cli import evaluate_project
    from speakerid_gui.core.pipeline import Settings, Summary, run

    out = {}
    for given in (False, True):
        settings = Settings(backend=spec, layout="pca", prosody=False,
                            speakers=out["speakers"] if given else None)
        summary = Summary()
        for event in run(project, settings, summary=summary):
            if event.level == "warning":
                log(f"    warning: {event.message}")
        if settings.backend != spec:  # the pipeline fell back to the default backend
            raise RuntimeError(f"{spec} was replaced by {settings.backend}")
        res = evaluate_project(project, reference)
        if given:
            out.update(acc_given=res["accuracy"], nmi_given=res["nmi"])
        else:
            out.update(acc_est=res["accuracy"], nmi_est=res["nmi"], clusters=res["n_clusters"],
                       speakers=res["n_speakers"], eer=res.get("eer", float("nan")),
                       analyse_s=summary.stage_seconds["analyse"])
    return out


def store_prosody_stats(project, curves) -> float:
    """Z-scored prosody statistics of every segment, written where the pipeline keeps a
    backend's per-recording embeddings; returns the seconds it took (curves excluded)."""
    from speakerid_gui.core.embed.prosody_rnn import STEP
    from speakerid_gui.core.pipeline import Settings, embedding_file
    from speakerid_gui.core.audio.prosody import Prosody, prosody_stats

    t0 = time.perf_counter()
    stats = np.array([prosody_stats(Prosody(np.arange(len(p)) * STEP, p, e)) for p, e in curves])
    stats = (stats - stats.mean(0)) / (stats.std(0) + 1e-8)  # Hz, ratios and dB on one scale
    seconds = time.perf_counter() - t0
    seg_key = Settings().segments.key()
    for rid in np.unique(project.seg_recording):
        np.save(embedding_file(project, STATS, seg_key, "none", int(rid)),
                stats[project.seg_recording == rid].astype(np.float32))
    return seconds


def audio_seconds(project) -> float:
    return float(sum(r.duration or 0 for r in project.recordings() if r.status == "ok"))


def hf_status() -> dict[str, str]:
    """'' for a transformers backend whose weights are here, else why not (nothing downloaded)."""
    from speakerid_gui.core.embed import BackendUnavailable, get_backend

    status = {}
    for name in HF_BACKENDS:
        try:
            get_backend(name)
            status[name] = ""
        except BackendUnavailable as exc:
            # the message's first clause, e.g. "no local copy of the model 'openai/whisper-base'"
            status[name] = str(exc).removeprefix(f"{name}: ").split(" (")[0].split(". ")[0]
    return status


def compare_set(name: str, args, hf_ok: list[str]) -> tuple[list[Row], str]:
    from speakerid_gui.core.embed import prosody_rnn as pr
    from speakerid_gui.core.embed.joint import parts_of
    from speakerid_gui.core.project.store import Project

    audio, reference = corpus(name, args.work)
    audio = subset(audio, args.work / f"subset{args.every}-{name}", args.every)
    folder = args.work / f"compare-{name}"
    shutil.rmtree(folder, ignore_errors=True)  # fresh caches: the speed column is real work
    project = Project.create(folder, audio)
    rows: dict[str, Row] = {}
    embed_s: dict[str, float] = {}

    def measure(spec, speed_of=(), **extra):
        """Score one backend; its speed from the embedding seconds of speed_of (after the run)."""
        t0 = time.perf_counter()
        res = score(project, spec, reference)
        seconds = sum(embed_s[part] for part in speed_of)
        audio_s = audio_seconds(project)
        row = rows.setdefault(spec, Row(name, spec))
        row.add(**{k: v for k, v in res.items() if k != "analyse_s"}, **extra)
        if speed_of:
            row.add(speed=audio_s / seconds if seconds > 0 else float("nan"))
        log(f"  {name} {spec}: acc given {res['acc_given']:.3f}, estimated {res['acc_est']:.3f} "
            f"({res['clusters']}/{res['speakers']}), EER {res['eer']:.3f} [{time.perf_counter() - t0:.0f}s]")
        return res

    with timed_embeddings(embed_s):
        for spec in PLAIN + hf_ok:
            res = measure(spec, speed_of=(spec,))
            if spec == "campp":
                common_s = res["analyse_s"] - embed_s["campp"]
    for spec in COMBOS:
        measure(spec, speed_of=[part for part, _ in parts_of(spec)])

    t0 = time.perf_counter()
    curves = pr.segment_curves(project)  # Praat pitch + energy of every recording, stored
    embed_s["curves"] = time.perf_counter() - t0
    embed_s[STATS] = embed_s["curves"] + store_prosody_stats(project, curves)
    measure(STATS, speed_of=(STATS,))
    for w in PROSODY_WEIGHTS:
        measure(f"joint:campp=1,{STATS}={w}", speed_of=("campp", STATS))

    losses = []
    for seed in args.seeds:
        result = pr.train_run(project, epochs=args.epochs, seed=seed)
        losses.append(result.losses[-1])
        t0 = time.perf_counter()  # inference alone, on the stored curves (training embeds them too)
        pr.embed_features(pr.load_model(result.weights), [pr.curve_features(p, e) for p, e in curves])
        embed_s["prosody_rnn"] = embed_s["curves"] + time.perf_counter() - t0
        log(f"  {name} prosody RNN seed {seed}: trained in {result.seconds:.0f}s, final loss {result.losses[-1]:.3f}")
        measure("prosody_rnn", speed_of=("prosody_rnn",), train_s=result.seconds)
        for w in PROSODY_WEIGHTS:
            measure(f"joint:campp=1,prosody_rnn={w}", speed_of=("campp", "prosody_rnn"), train_s=result.seconds)
    audio_s = audio_seconds(project)
    n_recordings, n_segments = sum(r.status == "ok" for r in project.recordings()), project.n_segments
    project.close()
    order = (PLAIN + hf_ok + COMBOS + ["prosody_rnn"]
             + [f"joint:campp=1,prosody_rnn={w}" for w in PROSODY_WEIGHTS]
             + [STATS] + [f"joint:campp=1,{STATS}={w}" for w in PROSODY_WEIGHTS])
    facts = (f"{name}: {n_recordings} recordings, {audio_s / 60:.1f} min of audio, {n_segments} segments; "
             f"decode + VAD + segmenting {audio_s / max(common_s, 1e-9):.0f}x real time (common to all rows); "
             f"Praat curves {embed_s['curves']:.0f}s; prosody RNN final NT-Xent loss {cell(losses, '{:.2f}')}")
    log("  " + facts)
    return [rows[k] for k in order], facts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", default=SETS)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "speakerid-compare")
    ap.add_argument("--every", type=int, default=1, help="use every N-th file of each set (quick check)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if not available():
        print("../shared/data not found: skipped")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    status = hf_status()
    hf_ok = [n for n, why in status.items() if not why]
    rows, facts = [], []
    for name in args.sets:
        log(f"{name} ...")
        set_rows, set_facts = compare_set(name, args, hf_ok)
        rows += set_rows
        facts.append(set_facts)
    rows += [Row("all", n, note=f"not available offline ({why})") for n, why in status.items() if why]
    print(markdown_table(rows))
    print()
    print(f"Prosody RNN: {args.epochs} epochs, seeds {', '.join(map(str, args.seeds))} "
          f"(a range a–b spans the seeds; prosody_rnn.train defaults otherwise, 1 torch thread). "
          f"`{STATS}`: z-scored prosody.prosody_stats (not a registered backend). "
          f"Clustering: AHC, PCA layout; torch threads {torch.get_num_threads()}.")
    for line in facts:
        print(f"- {line}")
    print("\nJoint embeddings against CAM++ alone (same segments, same clustering):")
    for line in prosody_effect(rows):
        print(f"- {line}")
    print(f"Total run time {time.perf_counter() - t_start:.0f}s.")


if __name__ == "__main__":
    main()
