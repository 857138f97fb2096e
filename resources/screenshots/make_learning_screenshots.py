"""Screenshots of the learning features in the review app (offscreen):
review_next.png (main window, Review-next panel, first suggestion selected) and
confusion.png (classifier dialog after training, confusion matrix).

A real project: librispeech-test-other (10 speakers) clustered into 12 (an over-split, so the
queue has real "same speaker?" pairs); the 4 most central segments of each cluster verified.
    QT_QPA_PLATFORM=offscreen python resources/screenshots/make_learning_screenshots.py [--project DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "shared" / "data" / "librispeech-test-other"


def build(folder: Path) -> Path:
    """The analysed project, built once (kept in `folder`.pristine), copied fresh for each run."""
    import shutil

    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.store import Project

    pristine = folder.with_name(folder.name + ".pristine")
    if not (pristine / "project.sqlite").exists():
        project = Project.create(pristine, DATA)
        for _ in run(project, Settings(speakers=12)):
            pass
        project.close()
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(pristine, folder)
    return folder


def name_clusters(session):
    """Verify the 4 most central segments of each cluster and name each speaker's largest cluster
    after its LibriSpeech reader (from the manifest), as a reviewer would after listening."""
    import csv
    from collections import Counter

    with open(DATA / "manifest.csv", newline="") as f:
        speaker_of = {row["path"]: row["speaker"] for row in csv.DictReader(f)}
    p = session.project
    paths = {r.id: r.path for r in p.recordings()}
    sizes = p.cluster_sizes()
    named = set()
    for cid in sorted(sizes, key=sizes.get, reverse=True):
        if sizes[cid] < 5:
            continue  # fragments are left for the review queue
        central = session.ranked_members(cid)[:4]
        session.log.verify(central)
        reader = Counter(speaker_of.get(paths[int(p.seg_recording[i])]) for i in central).most_common(1)[0][0]
        if reader not in named:
            named.add(reader)
            session.log.rename(cid, f"Reader {reader}")


def wait(app, condition, timeout=120.0):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("timed out")
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", type=Path, default=Path("/tmp/speakerid-learning-shots/project"))
    args = parser.parse_args()
    if not DATA.exists():
        print(f"{DATA} not available", file=sys.stderr)
        return 1
    import pyqtgraph as pg
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    pg.setConfigOptions(antialias=False, imageAxisOrder="row-major")
    from speakerid_gui.gui.main_window import MainWindow
    from speakerid_gui.gui.player import NullPlayer

    folder = build(args.project)
    settings = QSettings(str(folder.parent / "gui.ini"), QSettings.Format.IniFormat)
    w = MainWindow(player=NullPlayer(), settings=settings)
    w.resize(1480, 920)
    w.show()
    assert w.pages.open_project(folder)
    s = w.state.session
    name_clusters(s)
    wait(app, lambda: w.review_queue.suggestions_job is None and not w.review_queue._suggest_timer.isActive() and bool(w.review_next.items))
    w.review_queue.next_suggestion()
    for _ in range(10):
        app.processEvents()
    out = HERE / "review_next.png"
    w.grab().save(str(out))
    print(f"wrote {out}")

    dialog = w.learning.ask_classifier()
    dialog.train_button.click()
    wait(app, lambda: w.state.learning_job is None and dialog.outcome is not None)
    for _ in range(10):
        app.processEvents()
    out = HERE / "confusion.png"
    dialog.grab().save(str(out))
    print(f"wrote {out}")
    dialog.accept()
    w.player.stop()
    w.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
