"""The app path of a new-project analysis: the real window and its worker, offscreen, against the
command line on the same corpus (issue 16, point 2: the app analyses as fast as the CLI and its
window thread stays nearly idle), and how long Cancel takes (issue 10, point 7: within 2 s).

Prints, for the CLI (`speakerid run`, a fresh process, end to end) and for the app (MainWindow.new_project
to the end of the job, default settings):
  wall seconds, x real time (seconds of audio / wall seconds),
  CPU seconds of the window's (GUI) thread (time.thread_time() in that thread) and their share of the wall time,
  progress events and scatter previews delivered to the window;
and, with --cancel-after S, the seconds from pressing Cancel S seconds into a second app run to the
end of its job.

    python benchmarks/app_analysis.py [--corpus DIR] [--cancel-after 20] [--screenshot OUT.png]

Time it on a quiet machine only (check `uptime` before and after): on 2 shared cores anything
else running changes every figure. Set OMP_NUM_THREADS / OMP_WAIT_POLICY as for benchmarks/speed.py.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "librispeech-test-other"


def audio_seconds(folder: Path) -> float:
    from speakerid_gui.core.audio.decode import find_audio_files, probe

    total = 0.0
    for path in find_audio_files(folder):
        try:
            total += probe(path).duration
        except Exception:
            pass
    return total


def cli_run(corpus: Path, work: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "speakerid_gui.cli", "run", str(corpus), "--project", str(work / "cli"),
                    "--quiet"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def app_run(corpus: Path, project: Path, cancel_after: float | None = None, screenshot: Path | None = None):
    """(wall s, GUI-thread CPU s, progress events, previews, cancel latency s or None)."""
    import pyqtgraph as pg
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from speakerid_gui.core.pipeline import Settings
    from speakerid_gui.gui.main_window import MainWindow
    from speakerid_gui.gui.player import NullPlayer

    app = QApplication.instance() or QApplication([])
    app.setStyle("Fusion")
    pg.setConfigOptions(antialias=False, imageAxisOrder="row-major")
    settings = QSettings(str(project.parent / f"{project.name}.ini"), QSettings.Format.IniFormat)
    window = MainWindow(player=NullPlayer(), settings=settings)
    window.resize(1480, 920)
    window.show()
    counts = {"events": 0, "previews": 0}
    cpu0, t0 = time.thread_time(), time.perf_counter()
    assert window.pages.new_project(corpus, Settings(), project_dir=project)
    job = window.state.pipeline
    job.progress.connect(lambda _ev: counts.__setitem__("events", counts["events"] + 1))
    job.partial_result.connect(lambda p: p[0] == "preview" and counts.__setitem__("previews", counts["previews"] + 1))
    state = {"cancelled_at": None}
    loop = QEventLoop()
    job.finished.connect(loop.quit)  # the real event loop, as in the app (exec), until the job ends

    def cancel():
        if window.state.pipeline is not None:
            state["cancelled_at"] = time.perf_counter()
            window.progress.cancel_button.click()

    def grab():
        if window.state.pipeline is not None:
            window.grab().save(str(screenshot))
            print(f"wrote {screenshot} at {time.perf_counter() - t0:.0f} s")

    if cancel_after is not None:
        QTimer.singleShot(int(cancel_after * 1000), cancel)
    if screenshot is not None:
        QTimer.singleShot(int((cancel_after or 30) * 500), grab)
    if window.state.pipeline is not None:
        loop.exec()
    app.processEvents()  # the job's last signals (done, summary)
    cancelled_at = state["cancelled_at"]
    wall = time.perf_counter() - t0
    cpu = time.thread_time() - cpu0
    latency = time.perf_counter() - cancelled_at if cancelled_at is not None else None
    while window.jobs:
        app.processEvents()
        time.sleep(0.01)
    window.close()
    app.processEvents()
    return wall, cpu, counts["events"], counts["previews"], latency


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT)
    parser.add_argument("--cancel-after", type=float, default=None,
                        help="also time Cancel pressed this many seconds into a second app run")
    parser.add_argument("--screenshot", type=Path, help="grab the window half-way through the app run")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line run")
    args = parser.parse_args()
    if not args.corpus.exists():
        print(f"{args.corpus}: not found, nothing to measure")
        return 0
    sys.path.insert(0, str(ROOT))
    seconds = audio_seconds(args.corpus)
    print(f"corpus {args.corpus} ({seconds / 60:.1f} min of audio); load before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("| path | wall s | x real time | GUI-thread CPU s | GUI thread busy | events | previews |")
        print("|---|---|---|---|---|---|---|")
        if not args.no_cli:
            wall = cli_run(args.corpus, work)
            print(f"| CLI (speakerid run, fresh process) | {wall:.1f} | {seconds / wall:.1f}x | - | - | - | - |", flush=True)
        wall, cpu, events, previews, _ = app_run(args.corpus, work / "app", screenshot=args.screenshot)
        print(f"| app (window + worker, offscreen) | {wall:.1f} | {seconds / wall:.1f}x | {cpu:.2f} | "
              f"{cpu / wall:.1%} | {events} | {previews} |", flush=True)
        if args.cancel_after is not None:
            _, _, _, _, latency = app_run(args.corpus, work / "app-cancel", cancel_after=args.cancel_after)
            print(f"\nCancel pressed {args.cancel_after:.0f} s into an app run: the job ended "
                  + (f"{latency:.2f} s later" if latency is not None else "before it (corpus too short)"))
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
