"""`speakerid-gui [PROJECT_OR_AUDIO_FOLDER] [--screenshot OUT.png]`."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="speakerid-gui", description="Review app: listen, merge, split, name speakers.")
    p.add_argument("path", nargs="?", type=Path,
                   help="a project folder (with project.sqlite) or a folder of recordings to analyse")
    p.add_argument("--screenshot", type=Path, metavar="OUT.png",
                   help="show the window, save it to OUT.png and exit (the start page without PATH)")
    p.add_argument("--timeline", metavar="RECORDING",
                   help="with --screenshot: render the timeline of this recording (path, file name or stem)")
    p.add_argument("--size", default="1480x920", metavar="WxH",
                   help="window size for --screenshot (default 1480x920; 1024x700 checks a small screen)")
    p.add_argument("--no-audio", action="store_true", help="never open an audio device")
    return p


def is_project(path: Path) -> bool:
    return (path / "project.sqlite").exists()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.path is not None and not args.path.exists():
        print(f"error: {args.path}: not found", file=sys.stderr)
        return 1
    if args.screenshot and args.path is not None and not is_project(args.path):
        print(f"error: --screenshot needs a project folder (with project.sqlite), not {args.path}", file=sys.stderr)
        return 1

    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("speakerid-gui")
    app.setOrganizationName("speakerid-gui")
    app.setStyle("Fusion")
    pg.setConfigOptions(antialias=False, imageAxisOrder="row-major")

    from speakerid_gui.gui.main_window import MainWindow
    from speakerid_gui.gui.player import NullPlayer

    window = MainWindow(player=NullPlayer() if (args.no_audio or args.screenshot) else None)
    if args.screenshot:
        width, height = (int(v) for v in args.size.lower().split("x"))
        return screenshot(app, window, args.path, args.screenshot, args.timeline, (width, height))
    window.show()
    if args.path is not None:
        open_path(window, args.path)
    return app.exec()


def open_path(window, path: Path):
    """A project opens; a folder of recordings opens its project if one was made before
    (resuming an interrupted analysis is one click), else asks for a new project."""
    from speakerid_gui.gui.new_project import default_project_dir

    if is_project(path):
        window.pages.open_project(path)
    elif is_project(default_project_dir(path)):
        window.pages.open_project(default_project_dir(path))
    else:
        window.pages.ask_new_project(str(path))


def screenshot(app, window, project: Path | None, out: Path, timeline: str | None = None,
               size: tuple[int, int] = (1480, 920)) -> int:
    """Open (optionally) a project, select its largest cluster, render offscreen, save (the
    timeline of one recording instead, with `timeline`)."""
    window.resize(*size)
    window.show()
    if project is not None:
        if not window.pages.open_project(project):
            print(f"error: {window.last_error}", file=sys.stderr)
            return 1
        window.review.select_largest_cluster()
        window.review_queue.refresh_suggestions()  # the Review-next queue belongs in the picture
        deadline = time.monotonic() + 60
        while window.review_queue.suggestions_job is not None and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.02)
    target = window
    if timeline is not None and project is not None:
        from speakerid_gui.gui.timeline_tasks import find_recording

        rid = find_recording(window.state.session.project, timeline)
        if rid is None:
            print(f"error: no recording named {timeline!r} in {project}", file=sys.stderr)
            return 1
        target = window.timelines.open_timeline(rid)
        target.resize(1400, 460)
        target.step_turn(1)
        deadline = time.monotonic() + 60
        while not target.audio_ready and time.monotonic() < deadline:  # its waveform, read by a worker
            app.processEvents()
            time.sleep(0.02)
    for _ in range(5):  # let layouts settle before grabbing
        app.processEvents()
    image = grab(app, target)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = image.save(str(out))
    # Close (and wait for the evaluation job a saved reference may have started).
    while window.jobs:
        app.processEvents()
        for job in list(window.jobs):
            job.wait(50)
    window.close()
    app.processEvents()
    if not ok:
        print(f"error: could not write {out}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


def grab(app, window):
    """The window's pixels: on a real display what the display shows (so a window that never
    mapped or painted gives no picture), offscreen the widgets rendered into an image."""
    from PySide6.QtGui import QGuiApplication

    if QGuiApplication.platformName() in ("offscreen", "minimal"):
        return window.grab()
    deadline = time.monotonic() + 10
    while not (window.windowHandle() and window.windowHandle().isExposed()) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(10):  # the first paint after the expose
        app.processEvents()
        time.sleep(0.02)
    return window.screen().grabWindow(window.winId())


if __name__ == "__main__":
    sys.exit(main())
