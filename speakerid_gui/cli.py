"""`speakerid`: the headless command line on the same core as the app."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from speakerid_gui.core.evaluate.reference import diarization_errors, evaluate_project, label_rows  # noqa: F401  (also used by benchmarks)
from speakerid_gui import cli_library
from speakerid_gui.cli_projects import close_all
from speakerid_gui.core.project.lock import ProjectLock, ProjectLocked

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOTHING = 0, 1, 2, 3


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        with _writer_lock(args):
            try:
                return args.func(args)
            finally:  # inside the writer lock, if any: closed before another writer opens them
                close_all()
    except ProjectLocked as exc:
        print(f"error: {exc}; nothing was changed (close it there, or use export / info / evaluate, which only read)",
              file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted: work done so far is saved; run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`speakerid info P | head`): not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return EXIT_OK
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _writer_lock(args):
    """The project's writer lock for commands that change it (`writes` on their parser); the
    window holds the same lock, so a command never changes a project a reviewer has open."""
    from contextlib import nullcontext

    writes = getattr(args, "writes", False) or getattr(args, "in_place", False)
    project = getattr(args, "project", None)
    if not writes or project is None:
        return nullcontext()
    return ProjectLock(project, f"`speakerid {getattr(args, 'command_name', 'command')}`")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="speakerid", description="Find and name the speakers in unlabelled recordings.")
    sub = p.add_subparsers(metavar="COMMAND")

    r = sub.add_parser("run", help="analyse a folder of recordings into a project (resumable)")
    r.add_argument("audio_dir", type=Path, help="folder of wav/flac/ogg/mp3 files (searched recursively)")
    r.add_argument("--project", type=Path, required=True, help="project folder (created if missing)")
    r.add_argument("--speakers", type=int, help="number of speakers if known (default: estimated)")
    r.add_argument("--backend", default="auto",
                   help="embedding backend: auto, campp, ge2e, mfcc, ast, whisper, wavlm, prosody_rnn, with "
                        "options as NAME:KEY=VALUE,... (whisper:model=/path/to/folder), or a weighted combination "
                        "joint:campp=1,mfcc=0.3 (default auto: campp, joined by ge2e at 0.5 when the median "
                        "file is shorter than --window; an unavailable one falls back to campp)")
    r.add_argument("--method", default="ahc", choices=["ahc", "kmeans"], help="clustering method")
    r.add_argument("--threshold", type=float, help="AHC cosine distance threshold when estimating the count")
    r.add_argument("--window", type=float, default=3.0, help="segment length in seconds (default 3)")
    r.add_argument("--hop", type=float, default=1.5, help="segment hop in seconds (default 1.5)")
    r.add_argument("--min-segment", type=float, default=0.5, help="shortest speech kept, seconds")
    r.add_argument("--one-speaker-per-file", action="store_true", help="each file holds one speaker")
    r.add_argument("--layout", default="umap", choices=["umap", "tsne", "pca"])
    r.add_argument("--no-prosody", action="store_true", help="skip pitch/energy curves")
    r.add_argument("--change-detection", action="store_true",
                   help="cut speech at detected speaker turns, so no segment holds two speakers")
    r.add_argument("--conversation", action="store_true",
                   help="meetings, interviews, calls: overlap-aware speaker turns (pyannote segmentation-3.0 "
                        "per 10 s chunk, speakers linked across all recordings) instead of fixed windows")
    r.add_argument("--clean", default="none", choices=["none", "denoise", "trim", "denoise+trim"],
                   help="clean segments before embedding: spectral noise reduction and/or silence trimming")
    r.add_argument("--precision", default="auto", choices=["auto", "bf16", "float32"],
                   help="CAM++ arithmetic: auto is float32 (ONNX Runtime), bfloat16 only on CPUs with AMX; "
                        "the environment variable SPEAKERID_FLOAT32=1 makes auto mean float32 there too")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    cli_library.add_run_options(r)  # --labels, --library
    r.set_defaults(func=cmd_run)  # takes the writer lock itself, once the arguments are checked

    e = sub.add_parser("export", help="write the labels as csv, json, rttm, audacity, textgrid, eaf, vtt, "
                       "or per-speaker audio clips")
    e.add_argument("project", type=Path)
    e.add_argument("--format", required=True,
                   choices=["csv", "json", "rttm", "audacity", "textgrid", "eaf", "vtt", "clips"])
    e.add_argument("--out", type=Path, required=True,
                   help="output file (a folder for audacity, textgrid, eaf, vtt and clips)")
    e.add_argument("--include-noise", action="store_true", help="keep segments marked as noise")
    cli_library.add_export_options(e)
    e.set_defaults(func=cmd_export)

    v = sub.add_parser("evaluate", help="compare the labels with reference labels")
    v.add_argument("project", type=Path)
    v.add_argument("--reference", type=Path, required=True, help="manifest CSV (path,speaker) or RTTM")
    v.add_argument("--uem", type=Path, help="scored regions for the diarization error rate of an RTTM "
                   "reference (default: the reference's name with .uem, if it exists)")
    v.add_argument("--json", action="store_true", help="print the metrics as JSON")
    v.set_defaults(func=cmd_evaluate)

    i = sub.add_parser("info", help="summary of a project")
    i.add_argument("project", type=Path)
    i.set_defaults(func=cmd_info)

    for name, helptext in [("undo", "undo the last edit"), ("redo", "redo the last undone edit")]:
        u = sub.add_parser(name, help=helptext)
        u.add_argument("project", type=Path)
        u.set_defaults(func=cmd_undo_redo, action=name, writes=True, command_name=name)

    ed = sub.add_parser("edit", help="merge / rename / verify clusters from the command line")
    ed.add_argument("project", type=Path)
    ed.add_argument("--merge", nargs="+", type=int, metavar="CLUSTER", help="merge these clusters")
    ed.add_argument("--rename", nargs=2, metavar=("CLUSTER", "NAME"))
    ed.add_argument("--verify", type=int, metavar="CLUSTER", help="mark every segment of a cluster verified")
    ed.add_argument("--split", type=int, metavar="CLUSTER", help="split a cluster (see --into)")
    ed.add_argument("--into", type=int, help="number of parts for --split (default: estimated)")
    ed.add_argument("--history", action="store_true", help="list the edit log")
    ed.set_defaults(func=cmd_edit, writes=True, command_name="edit")

    d = sub.add_parser("demo", help="write a small synthetic multi-speaker corpus (no download)")
    d.add_argument("dir", nargs="?", type=Path, default=Path("speakerid-demo"), help="output folder")
    d.add_argument("--speakers", type=int, default=5)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)

    from speakerid_gui.cli_learn import add_commands  # suggest, propagate, refine, classify, simulate-review

    add_commands(sub)
    cli_library.add_commands(sub)  # library add|list|remove|rename|match
    return p


# ---- progress -----------------------------------------------------------------------------------
class ProgressPrinter:
    """One updating line per stage on a terminal; plain lines otherwise; warnings always."""

    def __init__(self, quiet=False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.stage = None
        self.t0 = time.perf_counter()

    def __call__(self, ev):
        if ev.level == "warning":
            self._end_line()
            print(f"  skipped {ev.message}" if ev.skipped else f"  warning: {ev.message}",
                  file=sys.stderr)
            return
        if self.quiet:
            return
        if ev.stage != self.stage:
            self._end_line()
            self.stage, self.t0 = ev.stage, time.perf_counter()
        if ev.total:
            frac = min(1.0, ev.done / ev.total)
            bar = "#" * int(frac * 30)
            line = f"{ev.stage:8s} [{bar:30s}] {ev.done}/{ev.total} {time.perf_counter() - self.t0:6.1f}s"
            if self.tty:
                print("\r" + line, end="", file=sys.stderr, flush=True)
            elif ev.done in (0, ev.total) and (ev.stage, ev.done, ev.total) != getattr(self, "_last", None):
                self._last = (ev.stage, ev.done, ev.total)
                print(line + (f"  {ev.message}" if ev.message else ""), file=sys.stderr)
        elif ev.message:
            self._end_line()
            print(f"{ev.stage:8s} {ev.message}", file=sys.stderr)

    def _end_line(self):
        if self.tty and self.stage is not None:
            print(file=sys.stderr)
            self.stage = None


# ---- commands ----------------------------------------------------------------------------------
def cmd_run(args) -> int:
    from speakerid_gui.core.pipeline import Settings
    from speakerid_gui.cli_projects import create_project

    if not args.audio_dir.exists():
        print(f"error: {args.audio_dir}: folder not found", file=sys.stderr)
        return EXIT_ERROR
    settings = Settings(window=args.window, hop=args.hop, min_segment=args.min_segment, backend=args.backend,
                        speakers=args.speakers, method=args.method, threshold=args.threshold,
                        one_speaker_per_file=args.one_speaker_per_file, layout=args.layout,
                        prosody=not args.no_prosody, clean=args.clean,
                        change_detection=args.change_detection, conversation=args.conversation,
                        precision=args.precision)
    if settings.hop <= 0 or settings.window <= 0:
        print("error: --window and --hop must be positive", file=sys.stderr)
        return EXIT_USAGE
    with ProjectLock(args.project, "`speakerid run`"):  # creates the folder: only once the arguments are right
        try:
            return _run(args, settings, create_project(args.project, args.audio_dir))
        finally:
            close_all()  # before the lock goes (main closes the others)


def _run(args, settings, project) -> int:
    from speakerid_gui.core.pipeline import Summary, run

    cli_library.prepare_run(args, project, settings)  # --labels
    printer = ProgressPrinter(args.quiet)
    summary = Summary()
    t0 = time.perf_counter()
    for event in run(project, settings, summary=summary):
        printer(event)
    printer._end_line()
    total = time.perf_counter() - t0
    print(format_summary(summary, total))
    if summary.files_ok:
        cli_library.after_run(args, project)  # --library
    return EXIT_OK if summary.files_ok else EXIT_NOTHING


def format_summary(s, total: float) -> str:
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in s.stage_seconds.items())
    lines = [f"files: {s.files_ok} ok, {s.files_skipped} skipped",
             f"speech: {s.speech_seconds / 60:.1f} min in {s.segments} segments",
             f"clusters: {s.clusters}",
             f"time: {total:.1f}s ({stages})"]
    from speakerid_gui.core.audio.copies import describe

    return "\n".join(lines + describe(getattr(s, "copies", [])))


def cmd_export(args) -> int:
    from speakerid_gui.core.conversation.stage import is_conversation
    from speakerid_gui.core.formats.export import export
    from speakerid_gui.cli_projects import open_project

    project = open_project(args.project)
    rows = label_rows(project, args.include_noise)
    code = cli_library.export_other(args, project, rows)  # clips, textgrid, eaf, vtt
    if code is not None:
        return code
    export(rows, args.format, args.out, overlapping=is_conversation(project))
    print(f"wrote {len(rows)} segments as {args.format} to {args.out}")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    import json

    from speakerid_gui.core.evaluate.metrics import format_report
    from speakerid_gui.cli_projects import open_project

    project = open_project(args.project)
    result = evaluate_project(project, args.reference, args.uem)
    if not result.get("n_scored"):
        print(f"error: no segment of {args.project} matches a recording in {args.reference}", file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return EXIT_OK


def cmd_info(args) -> int:
    from speakerid_gui.cli_projects import open_project

    project = open_project(args.project)
    recs = project.recordings()
    ok = [r for r in recs if r.status == "ok"]
    print(f"project: {project.folder}\naudio: {project.get_meta('audio_root')}")
    print(f"recordings: {len(ok)} ok, {sum(r.status == 'skipped' for r in recs)} skipped, "
          f"{sum(r.status == 'pending' for r in recs)} pending")
    print(f"segments: {project.n_segments}, verified {int(project.verified.sum())}, noise {int(project.noise.sum())}")
    settings = project.get_meta("settings") or {}
    if settings:  # how it was analysed: what a re-run with other options would change
        from speakerid_gui.core.embed.choice import describe as backend_words
        from speakerid_gui.core.pipeline import Settings, chosen_backend

        backend = chosen_backend(project, Settings(**settings))
        mode = project.get_meta("mode") or "windows"
        print(f"analysed: {mode} mode, {backend} ({backend_words(backend)})")
    sizes = project.cluster_sizes()
    print(f"clusters: {len(sizes)}")
    for cid, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:50]:
        members = project.cluster == cid
        print(f"  {cid:5d} {project.cluster_name(cid):20s} {size:6d} segments, "
              f"confidence {project.confidence[members].mean():.2f}, verified {project.verified[members].mean():.0%}")
    from speakerid_gui.core.project.cache import decode_notes

    for r in recs:
        if r.status == "skipped":
            print(f"  skipped {r.path}: {r.error}")
    for path, note in decode_notes(project).items():
        print(f"  used in part {path}: {note}")
    from speakerid_gui.core.audio.copies import describe, exact_copies

    for line in describe(exact_copies(project), limit=10**9):
        print(line)
    return EXIT_OK


def cmd_demo(args) -> int:
    from speakerid_gui.core.demo import make_demo_corpus

    c = make_demo_corpus(args.dir, n_speakers=args.speakers, seed=args.seed)
    print(f"wrote {len(c.files)} files to {c.folder}; truth: {c.manifest}, {c.rttm}")
    print(f"next: speakerid run {c.folder} --project {c.folder}-project")
    return EXIT_OK


def cmd_undo_redo(args) -> int:
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.cli_projects import open_project

    log = EditLog(open_project(args.project))
    edit = log.undo() if args.action == "undo" else log.redo()
    if edit is None and args.action == "undo" and log.base() is not None:
        print(f"nothing to undo: undo stops at the clustering ({log.base().description}); "
              "`speakerid run` with other settings clusters again")
        return EXIT_NOTHING
    print(f"{args.action}: {edit.description}" if edit else f"nothing to {args.action}")
    return EXIT_OK if edit else EXIT_NOTHING


def cmd_edit(args) -> int:
    import numpy as np

    from speakerid_gui.core.cluster import agglomerative as clu
    from speakerid_gui.core.cluster import split
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.pipeline import embeddings
    from speakerid_gui.cli_projects import open_project

    project = open_project(args.project)
    if args.rename and not args.rename[0].lstrip("-").isdigit():
        print(f"--rename takes a cluster number, then the name (got {args.rename[0]!r})", file=sys.stderr)
        return EXIT_USAGE
    named = [*(args.merge or []), *([int(args.rename[0])] if args.rename else []),
             *([args.verify] if args.verify is not None else []), *([args.split] if args.split is not None else [])]
    missing = sorted({int(c) for c in named} - set(project.cluster_sizes()))
    if missing:  # an edit of a cluster that is not there would be logged as done and change nothing
        have = ", ".join(str(c) for c in sorted(project.cluster_sizes()))
        print(f"{args.project}: no cluster {', '.join(map(str, missing))} (its clusters: {have}; "
              f"`speakerid info` lists them)", file=sys.stderr)
        return EXIT_USAGE
    log = EditLog(project)
    if args.merge:
        log.merge(args.merge)
    if args.rename:
        log.rename(int(args.rename[0]), args.rename[1])
    if args.verify is not None:
        log.verify_cluster(args.verify)
    if args.split is not None:
        members = log.members(args.split)
        if args.into:
            labels = split.split_labels(embeddings(project)[members], args.into)
        else:  # estimated as the corpus's speakers are counted: 1 part means one speaker
            labels = split.split_estimate(clu.prepare(embeddings(project)), project.cluster, members,
                                        project.seg_end - project.seg_start)
            if len(np.unique(labels)) < 2:
                print(f"{project.cluster_name(args.split)} looks like one speaker: nothing split "
                      "(--into N cuts it anyway)")
                return EXIT_OK
        log.split(args.split, labels)
    for edit in log.history(20 if args.history else 1):
        print(f"{edit.id:5d} {edit.state:7s} {edit.kind:8s} {edit.description}")
    return EXIT_OK


def entry() -> None:
    """The `speakerid` command: main() (which closes the projects it opened), then exit without
    the interpreter's teardown, which frees torch, scipy and ONNX Runtime module by module: a
    second of two cores' time at the end of every command, for nothing."""
    import os

    from speakerid_gui.core.layout import stop_helper

    code = main()
    stop_helper()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # the reader went away or the stream is closed
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
