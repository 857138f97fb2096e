"""`speakerid library add|list|remove|rename`, and the library, labels and clip options of
`run` and `export`. Wired in by cli.build_parser (add_commands, add_run_options,
add_export_options) and called from cmd_run / cmd_export."""
from __future__ import annotations

import sys
import time
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOTHING = 0, 1, 2, 3
DEFAULT = "default"


def add_commands(sub):
    lib = sub.add_parser("library", help="speakers known across projects: add, list, remove, rename")
    lsub = lib.add_subparsers(metavar="ACTION")
    a = lsub.add_parser("add", help="enrol the named speakers of a project")
    a.add_argument("project", type=Path)
    a.add_argument("--cluster", type=int, action="append", help="only this cluster (repeatable)")
    _library_option(a)
    a.set_defaults(func=cmd_library_add)
    ls = lsub.add_parser("list", help="the enrolled speakers")
    _library_option(ls)
    ls.set_defaults(func=cmd_library_list)
    rm = lsub.add_parser("remove", help="forget a speaker")
    rm.add_argument("speaker", help="name or id")
    _library_option(rm)
    rm.set_defaults(func=cmd_library_remove)
    rn = lsub.add_parser("rename", help="rename a speaker")
    rn.add_argument("speaker", help="name or id")
    rn.add_argument("new_name")
    _library_option(rn)
    rn.set_defaults(func=cmd_library_rename)
    m = lsub.add_parser("match", help="name a project's clusters from the library (what run --library does)")
    m.add_argument("project", type=Path)
    m.add_argument("--threshold", type=float, help="acceptance score (default: the library's)")
    m.add_argument("--segment-threshold", type=float,
                   help="a segment's own score from which it joins its speaker's cluster (default: the library's)")
    m.add_argument("--dry-run", action="store_true", help="show the matches, rename nothing")
    _library_option(m)
    m.set_defaults(func=cmd_library_match, writes=True, command_name="library match")
    lib.set_defaults(func=lambda args: (lib.print_help(), EXIT_USAGE)[1])


def _library_option(p):
    p.add_argument("--library", type=Path, help="library folder (default: $XDG_DATA_HOME/speakerid-gui/library, "
                   "else ~/.local/share/speakerid-gui/library)")


def add_run_options(r):
    r.add_argument("--labels", type=Path, help="start from these labels instead of clustering: an RTTM, a CSV in "
                   "the export's columns, or TextGrid / EAF / WebVTT files (one file or a folder)")
    r.add_argument("--library", nargs="?", const=DEFAULT, metavar="DIR",
                   help="name clusters that match speakers of this library (no DIR: the default library)")


def add_export_options(e):
    g = e.add_argument_group("clips (--format clips)")
    g.add_argument("--unit", default="turn", choices=["turn", "segment"],
                   help="one clip per merged speaker turn (default) or per segment")
    g.add_argument("--sample-rate", type=int, help="resample clips (e.g. 16000); default: the source's rate")
    g.add_argument("--mono", action="store_true", help="mix clips down to one channel")
    g.add_argument("--min-length", type=float, default=0.0, help="leave out clips shorter than this (s)")
    g.add_argument("--max-length", type=float, help="cut longer turns into equal pieces no longer than this (s)")
    g.add_argument("--padding", type=float, default=0.0, help="seconds of context added each side")
    g.add_argument("--verified-only", action="store_true", help="only verified segments")
    g.add_argument("--min-confidence", type=float, default=0.0, help="only segments at least this confident")


# ---- run / export hooks ---------------------------------------------------------------------
def prepare_run(args, project, settings) -> None:
    """--labels: read them into the project before the pipeline runs."""
    if getattr(args, "labels", None):
        from speakerid_gui.core.formats.labels_in import store_labels

        settings.labels = store_labels(project, args.labels)


def after_run(args, project) -> None:
    """--library: name the matching clusters and print the matches."""
    spec = getattr(args, "library", None)
    if not spec:
        return
    from speakerid_gui.core.library.enrolled import Library
    from speakerid_gui.core.library.open_set import apply_matches, match_project

    library = Library.open(None if spec == DEFAULT else Path(spec))
    matches = apply_matches(project, match_project(project, library))
    print_matches(project, matches)


def print_matches(project, matches) -> None:
    named = sum(m.status == "named" for m in matches)
    moved = len(getattr(matches, "index", ()))
    print(f"library: {named} of {len(matches)} clusters named (threshold {matches[0].threshold:.2f}), "
          f"{moved} segments moved" if matches else "library: no enrolled speakers")
    for m in sorted(matches, key=lambda m: -m.score):
        verdict = {"named": "named", "rejected": "rejected before"}.get(m.status, "anonymous")
        print(f"  {m.cluster:5d} {project.cluster_name(m.cluster):20s} best {m.name!r} score {m.score:.3f} "
              f"({m.segments} segments{f', {m.moved} moved in' if m.moved else ''}): {verdict}")


def export_other(args, project, rows) -> int | None:
    """Clips and the per-recording formats; None when cmd_export's own writers apply."""
    from speakerid_gui.core.conversation.stage import is_conversation

    fmt = args.format
    overlapping = is_conversation(project)  # turns that may overlap, written as they are (as the RTTM)
    if fmt == "clips":
        from speakerid_gui.core.formats.clips import ClipOptions, export_clips

        options = ClipOptions(unit=args.unit, sample_rate=args.sample_rate, mono=args.mono,
                              min_length=args.min_length, max_length=args.max_length, padding=args.padding,
                              verified_only=args.verified_only, min_confidence=args.min_confidence,
                              overlapping=overlapping)
        t0 = time.perf_counter()
        report = export_clips(rows, project.audio_root, args.out, options)
        took = time.perf_counter() - t0
        for recording, reason in report.skipped:
            print(f"  skipped {recording}: {reason}", file=sys.stderr)
        speakers = len({c.speaker for c in report.clips})
        print(f"wrote {len(report.clips)} clips of {speakers} speakers ({report.seconds / 60:.1f} min of audio) "
              f"to {args.out} in {took:.1f}s; metadata in {Path(args.out) / 'metadata.csv'}")
        if report.removed:
            print(f"removed {report.removed} clips of the export before into {args.out} that this one no longer "
                  "holds (a renamed or merged speaker's old folder)")
        return EXIT_OK if report.clips or not rows else EXIT_NOTHING
    if fmt in ("textgrid", "eaf", "vtt"):
        from speakerid_gui.core.formats.export import export

        durations = {r.path: r.duration for r in project.recordings() if r.duration}
        files = export(rows, fmt, args.out, overlapping=overlapping, durations=durations,
                       media_root=project.audio_root)
        print(f"wrote {len(files)} {fmt} files ({len(rows)} segments) to {args.out}")
        return EXIT_OK
    return None


# ---- library commands ---------------------------------------------------------------------
def _open(args, create=False, backend="campp"):
    from speakerid_gui.core.library.enrolled import Library

    return Library.open(args.library, create=create, backend=backend)


def cmd_library_add(args) -> int:
    from speakerid_gui.core.library.enrolled import project_backend
    from speakerid_gui.cli_projects import open_project

    project = open_project(args.project)
    backend = project_backend(project)
    library = _open(args, create=True, backend=backend)
    enrolled = library.add_project(project, args.cluster)
    if not enrolled:
        print(f"nothing enrolled: {args.project} has no named cluster with enough segments "
              "(name clusters in the app or with `speakerid edit --rename`)", file=sys.stderr)
        return EXIT_NOTHING
    for e in enrolled:
        if e.new or e.segments:
            print(f"{'added' if e.new else 'updated'} {e.name!r} ({e.segments} segments) [{e.speaker_id}]")
        else:
            print(f"unchanged {e.name!r}: its segments here are enrolled already [{e.speaker_id}]")
    print(f"library {library.folder}: {len(library.speakers())} speakers")
    return EXIT_OK


def cmd_library_list(args) -> int:
    library = _open(args)
    speakers = library.speakers()
    print(f"library {library.folder} ({library.backend}, threshold {library.threshold:.2f}): {len(speakers)} speakers")
    for s in speakers:
        ge2e = "  +GE2E" if library.has_part(s.id, "ge2e") else ""
        print(f"  {s.name:24s} {s.segments:6d} segments {s.seconds / 60:7.1f} min  from {len(s.projects)} "
              f"project(s)  [{s.id}]{ge2e}")
    return EXIT_OK


def cmd_library_remove(args) -> int:
    s = _open(args).remove(args.speaker)
    print(f"removed {s.name!r} [{s.id}]")
    return EXIT_OK


def cmd_library_rename(args) -> int:
    s = _open(args).rename(args.speaker, args.new_name)
    print(f"renamed to {s.name!r} [{s.id}]")
    return EXIT_OK


def cmd_library_match(args) -> int:
    from speakerid_gui.core.library.open_set import apply_matches, match_project
    from speakerid_gui.cli_projects import open_project

    project = open_project(args.project)
    matches = match_project(project, _open(args), args.threshold, args.segment_threshold)
    if not args.dry_run:
        matches = apply_matches(project, matches)
    print_matches(project, matches)
    return EXIT_OK
