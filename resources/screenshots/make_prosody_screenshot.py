"""Screenshot of Learn > Train prosody RNN after a training (offscreen): prosody_rnn.png.

The project is a copy of the one make_learning_screenshots.py analyses (librispeech-test-other,
built once and kept in /tmp/speakerid-learning-shots/project.pristine).
    QT_QPA_PLATFORM=offscreen python resources/screenshots/make_prosody_screenshot.py [--epochs N]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_learning_screenshots as shots  # noqa: E402  (build(), wait(), the data path)

LEARNING_PROJECT = Path("/tmp/speakerid-learning-shots/project")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", type=Path, default=Path("/tmp/speakerid-prosody-shot/project"))
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    if not shots.DATA.exists():
        print(f"{shots.DATA} not available", file=sys.stderr)
        return 1
    import pyqtgraph as pg
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    pg.setConfigOptions(antialias=True)
    from speakerid_gui.gui.main_window import MainWindow
    from speakerid_gui.gui.player import NullPlayer

    pristine = LEARNING_PROJECT.with_name(LEARNING_PROJECT.name + ".pristine")
    if not (pristine / "project.sqlite").exists():
        shots.build(LEARNING_PROJECT)
    shutil.rmtree(args.project, ignore_errors=True)
    shutil.copytree(pristine, args.project)
    settings = QSettings(str(args.project.parent / "gui.ini"), QSettings.Format.IniFormat)
    w = MainWindow(player=NullPlayer(), settings=settings)
    w.resize(1480, 920)
    w.show()
    assert w.pages.open_project(args.project)
    dialog = w.learning.ask_prosody()
    dialog.epochs.setValue(args.epochs)
    dialog.train_button.click()
    shots.wait(app, lambda: w.state.learning_job is None, timeout=900)
    for _ in range(10):
        app.processEvents()
    out = HERE / "prosody_rnn.png"
    dialog.grab().save(str(out))
    print(f"wrote {out}: {dialog.message.text()}")
    dialog.accept()
    w.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
