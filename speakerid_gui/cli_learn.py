"""`speakerid` subcommands that learn from the reviewer: suggest, propagate, refine,
train-classifier (embedding or sequence classifiers), train-prosody, classify, simulate-review.
Wired in by cli.build_parser via add_commands(sub)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOTHING = 0, 1, 2, 3


def add_commands(sub):
    s = sub.add_parser("suggest", help="what to review next (least certain segments, similar/mixed clusters)")
    s.add_argument("project", type=Path)
    s.add_argument("-n", type=int, default=20, help="number of suggestions")
    s.set_defaults(func=cmd_suggest)

    p = sub.add_parser("propagate", help="relabel unverified segments from the verified ones (undoable)")
    p.add_argument("project", type=Path)
    p.add_argument("--threshold", type=float, help="cosine below which a segment stays unknown (default: calibrated)")
    p.set_defaults(func=cmd_propagate, writes=True, command_name="propagate")

    r = sub.add_parser("refine", help="train a projection head on verified labels and reassign the rest")
    r.add_argument("project", type=Path)
    r.add_argument("--epochs", type=int, default=200)
    r.add_argument("--threads", type=int, default=2)
    r.set_defaults(func=cmd_refine, writes=True, command_name="refine")

    t = sub.add_parser("train-classifier", help="train a speaker classifier for new audio and save it")
    t.add_argument("project", type=Path)
    t.add_argument("--model", default="logreg", choices=["rf", "logreg", "mlp"])
    t.add_argument("--kind", default="embedding", choices=["embedding", "lstm", "resnet"],
                   help="embedding: --model on the segment embeddings; lstm (GRU + attention) or resnet "
                        "(small ResNet-18): sequence classifiers on log-mel frames")
    t.add_argument("--source", choices=["clusters", "verified"],
                   help="train on all cluster labels (pseudo-labels) or verified segments only "
                        "(default: clusters for --kind embedding, verified for lstm/resnet)")
    t.add_argument("--center-loss", type=float, default=0.0, help="lstm/resnet: contrastive-center loss weight")
    t.add_argument("--epochs", type=int, default=30, help="lstm/resnet: most epochs (early stopping ends sooner)")
    t.add_argument("--evaluate", action="store_true", help="also report top-1/top-5 on held-out verified segments")
    t.set_defaults(func=cmd_train, writes=True, command_name="train-classifier")

    tp = sub.add_parser("train-prosody", help="train the prosody RNN (pitch + energy) on the project's segments")
    tp.add_argument("project", type=Path)
    tp.add_argument("--epochs", type=int, default=30)
    tp.add_argument("--seed", type=int, default=0)
    tp.set_defaults(func=cmd_train_prosody, writes=True, command_name="train-prosody")

    c = sub.add_parser("classify", help="label new recordings with the project's classifier")
    c.add_argument("project", type=Path)
    c.add_argument("audio_dir", type=Path)
    c.add_argument("--out", type=Path, required=True, help="CSV: segment rows with top-5, then per-file rows")
    c.add_argument("--top", type=int, default=5)
    c.set_defaults(func=cmd_classify)

    v = sub.add_parser("simulate-review",
                       help="play the reviewer from reference labels; accuracy vs share reviewed and reviewer "
                            "minutes. Runs on a copy: the project is left unchanged unless --in-place",
                       description="Play the reviewer from reference labels and print accuracy against the share "
                                   "of segments heard and the reviewer's minutes (a stated cost per action). "
                                   "Without --in-place the review runs on a copy of the project and the project "
                                   "itself is left unchanged (an export afterwards shows the starting labels).")
    v.add_argument("project", type=Path)
    v.add_argument("--reference", type=Path, required=True, help="manifest CSV or RTTM")
    v.add_argument("--budget", default="5%", help="share of segments to review (e.g. 5%% or 0.05)")
    v.add_argument("--step", default="0.5%",
                   help="record accuracy every STEP (share of segments); the machine relearns after every answer")
    v.add_argument("--refine", action="store_true",
                   help="refine (train a projection head) after each answer instead of relearning")
    v.add_argument("--no-random", action="store_true", help="skip the random-review baseline")
    v.add_argument("--in-place", action="store_true",
                   help="review the project itself and keep the simulated reviewer's labels (suggestions only; "
                        "each relabelling is an undoable edit)")
    v.set_defaults(func=cmd_simulate, command_name="simulate-review")


def _share(text: str) -> float:
    text = str(text).strip()
    value = float(text.rstrip("%")) / 100 if text.endswith("%") else float(text)
    if not 0 < value <= 1:
        raise ValueError(f"share {text!r} must be in (0, 100%]")
    return value


def _open(folder):
    from speakerid_gui.core.pipeline import embeddings
    from speakerid_gui.cli_projects import open_project

    project = open_project(folder)
    return project, embeddings(project)


def cmd_suggest(args) -> int:
    from speakerid_gui.core.learn.reviewer import suggestions

    project, emb = _open(args.project)
    items = suggestions(project, emb, n=args.n)
    for k, s in enumerate(items, 1):
        print(f"{k:3d}. [{s.kind:7s}] {s.score:.2f}  clusters {s.cluster_ids} play {s.segment_positions}\n"
              f"      {s.reason}")
    return EXIT_OK if items else EXIT_NOTHING


def cmd_propagate(args) -> int:
    from speakerid_gui.core.learn.reviewer import propagate

    project, emb = _open(args.project)
    if not project.verified.any():
        print("nothing verified yet: verify some segments first", file=sys.stderr)
        return EXIT_NOTHING
    t0 = time.perf_counter()
    r = propagate(project, emb, threshold=args.threshold)
    print(f"relabelled {len(r.index)} unverified segments in {time.perf_counter() - t0:.2f}s "
          f"({int(r.unknown.sum())} unknown below cosine {r.threshold:.2f}); `speakerid undo` reverts")
    return EXIT_OK


def cmd_refine(args) -> int:
    from speakerid_gui.core.learn.reviewer import refine_run

    project, emb = _open(args.project)
    t0 = time.perf_counter()

    def show(ev):
        if ev.stage == "train" and sys.stderr.isatty():
            print(f"\rtrain epoch {ev.done}/{ev.total} loss {ev.loss:.3f} val {ev.val_loss:.3f}", end="",
                  file=sys.stderr)
        elif ev.stage != "train":
            print(f"\n{ev.stage}: {ev.message}", file=sys.stderr)

    r = refine_run(project, emb, progress=show, epochs=args.epochs, threads=args.threads)
    print(f"refined {len(r.index)} unverified segments in {time.perf_counter() - t0:.1f}s "
          f"({int(r.unknown.sum())} unknown); `speakerid undo` reverts")
    return EXIT_OK


def cmd_train(args) -> int:
    from speakerid_gui.core.classify import classifier as lc

    if args.kind != "embedding":
        return cmd_train_sequence(args)
    project, emb = _open(args.project)
    clf = lc.train(project, emb, args.model, args.source or "clusters")
    path = lc.save(project, clf)
    print(f"trained {args.model} on {clf.info['n_train']} segments of {len(clf.names)} speakers "
          f"(unknown below cosine {clf.threshold:.2f}); saved {path}")
    if args.evaluate:
        try:
            res = lc.evaluate(project, emb, args.model)
            print(f"held-out verified: top-1 {res['top1']:.3f}, top-5 {res['top5']:.3f} on {res['n_test']} segments")
        except ValueError as exc:
            print(f"not evaluated: {exc}", file=sys.stderr)
    return EXIT_OK


def cmd_train_sequence(args) -> int:
    """train-classifier --kind lstm|resnet: trained on verified segments unless --source clusters."""
    from speakerid_gui.core.classify import classifier as lc
    from speakerid_gui.core.classify import sequence as sc

    project, emb = _open(args.project)
    source = args.source or "verified"

    def show(ev):
        if ev.stage == "train":
            print(f"epoch {ev.done:3d} loss {ev.loss:.3f} val {ev.val_loss:.3f}", file=sys.stderr)

    options = {"source": source, "center_loss": args.center_loss, "epochs": args.epochs}
    clf = sc.fit_run(project, show, kind=args.kind, **options)
    path = sc.save(project, clf)
    print(f"trained {args.kind} on {clf.info['n_train']} {source} segments of {len(clf.names)} speakers "
          f"in {clf.info['seconds']:.1f}s ({clf.info['epochs']} epochs); saved {path}")
    if args.evaluate:
        try:
            res = sc.evaluate(project, args.kind, **options)
            base = lc.evaluate(project, emb, args.model)  # the same held-out segments
        except ValueError as exc:
            print(f"not evaluated: {exc}", file=sys.stderr)
            return EXIT_OK
        print(f"held-out verified ({res['n_test']} segments): {args.kind} top-1 {res['top1']:.3f}, "
              f"top-5 {res['top5']:.3f}; {args.model} on embeddings top-1 {base['top1']:.3f}, top-5 {base['top5']:.3f}")
    return EXIT_OK


def cmd_train_prosody(args) -> int:
    from speakerid_gui.core.embed import prosody_rnn
    from speakerid_gui.cli_projects import open_project

    project = open_project(args.project)

    def show(ev):
        if ev.stage == "train":
            print(f"epoch {ev.done:3d}/{ev.total} loss {ev.loss:.4f}", flush=True)
        elif ev.message:
            print(f"{ev.stage}: {ev.message}", file=sys.stderr)

    r = prosody_rnn.train_run(project, show, epochs=args.epochs, seed=args.seed)
    print(f"prosody RNN: {r.embeddings.shape[1]}-dim embeddings of {len(r.embeddings)} segments in "
          f"{r.seconds:.1f}s; use them with --backend {prosody_rnn.NAME} (or in a joint embedding)")
    return EXIT_OK


def cmd_classify(args) -> int:
    from speakerid_gui.core.classify import classifier as lc
    from speakerid_gui.core.audio.decode import find_audio_files
    from speakerid_gui.cli_projects import open_project

    project = open_project(args.project)
    clf = lc.load(project)
    if not args.audio_dir.exists():
        print(f"error: {args.audio_dir}: folder not found", file=sys.stderr)
        return EXIT_ERROR
    files = find_audio_files(args.audio_dir) if args.audio_dir.is_dir() else [args.audio_dir]
    t0 = time.perf_counter()
    rows, per_file, skipped = lc.classify_files(clf, files, args.audio_dir if args.audio_dir.is_dir() else None,
                                                k=args.top, project=project)
    lc.write_rows(rows, per_file, args.out, args.top)
    seconds = sum(r.end for r in per_file)
    took = time.perf_counter() - t0
    for path, why in skipped:
        print(f"  skipped {path}: {why}", file=sys.stderr)
    print(f"classified {len(per_file)} files ({seconds:.0f}s of audio, {len(rows)} segments) in {took:.1f}s "
          f"({seconds / max(took, 1e-9):.0f}x real time); wrote {args.out}")
    return EXIT_OK if per_file else EXIT_NOTHING


def cmd_simulate(args) -> int:
    from speakerid_gui.core.evaluate import simulate as ls

    budget, step = _share(args.budget), _share(args.step)
    t0 = time.perf_counter()
    if args.in_place:
        project, emb = _open(args.project)
        curves = [ls.simulate(project, emb, ls.true_labels(project, args.reference), budget, "suggestions",
                              step=step, refine=args.refine)]
    else:
        strategies = ("suggestions",) if args.no_random else ("suggestions", "random")
        curves = ls.simulate_copy(args.project, args.reference, budget, strategies, step=step, refine=args.refine)
    print("share heard/reviewer minutes:accuracy")
    print(ls.format_curves(curves))
    print(f"({time.perf_counter() - t0:.1f}s)")
    if args.in_place:
        print(f"{args.project}: the simulated reviewer's labels are kept (`speakerid undo` reverts edit by edit)")
    else:
        print(f"{args.project}: left unchanged (the review ran on a copy; --in-place keeps its labels)")
    return EXIT_OK
