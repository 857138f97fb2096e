"""GUI tests: offscreen Qt, a real project built once per session from ../shared/data, and a
MainWindow with a null audio player and throwaway settings."""
from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
LIBRI = DATA / "librispeech-test-other"
SPEAKERS = 3
FILES_PER_SPEAKER = 3


def _libri_subset(dest: Path, speakers: int = SPEAKERS, files: int = FILES_PER_SPEAKER) -> Path:
    """A few speakers x a few files of librispeech-test-other (symlinked, same relative paths)."""
    import csv

    from testdata import need

    need(LIBRI / "manifest.csv")  # skips without the data (fails in CI)
    with open(LIBRI / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    chosen: dict[str, list[str]] = {}
    for row in rows:
        picked = chosen.setdefault(row["speaker"], [])
        if len(picked) < files:
            picked.append(row["path"])
    keep = sorted(chosen)[:speakers]
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "speaker"])
        for spk in keep:
            for rel in chosen[spk]:
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    target.symlink_to(LIBRI / rel)
                w.writerow([rel, spk])
    return dest


@pytest.fixture
def libri_subset():
    """libri_subset(dest, speakers=3, files=3) -> a folder of real speech (skips without the data)."""
    return _libri_subset


@pytest.fixture(scope="session")
def built_project(tmp_path_factory):
    """A real project: core pipeline (CAM++, 3 speakers given, PCA layout) on 3 x 3 LibriSpeech files."""
    from speakerid_gui.core.embed import BackendUnavailable
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.project.store import Project

    root = tmp_path_factory.mktemp("built")
    audio = _libri_subset(root / "audio")
    folder = root / "project"
    project = Project.create(folder, audio)
    try:
        for _ in run(project, Settings(speakers=SPEAKERS, layout="pca")):
            pass
    except BackendUnavailable as exc:  # CAM++ weights not installed (make setup installs them)
        pytest.skip(str(exc))
    assert project.n_segments > 20 and len(project.cluster_sizes()) == SPEAKERS
    project.close()
    return folder, audio


@pytest.fixture
def project_dir(built_project, tmp_path):
    """A private copy of the built project (tests edit it)."""
    folder, _ = built_project
    copy = tmp_path / "project"
    shutil.copytree(folder, copy)
    return copy


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    """Projects, libraries and the app's settings (recent projects, window geometry) of a test
    live in its own folder, for this process and the apps it starts: `make test` on a user's
    machine must not fill their recent-projects list with pytest's temporary projects."""
    from PySide6.QtCore import QSettings

    monkeypatch.setenv("SPEAKERID_GUI_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "config"))


@pytest.fixture
def make_window(qtbot, settings):
    """make_window(project=None, player=None) -> a shown MainWindow; jobs are awaited at teardown."""
    from PySide6.QtWidgets import QApplication

    from speakerid_gui.gui.main_window import MainWindow
    from speakerid_gui.gui.player import NullPlayer

    windows = []

    def make(project=None, player=None):
        window = MainWindow(player=player or NullPlayer(), settings=settings)
        qtbot.addWidget(window)
        window.resize(1400, 900)
        window.show()
        window.activateWindow()  # window shortcuts (J, K, Space...) only fire in the active window
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
        if project is not None:
            assert window.pages.open_project(project)
        windows.append(window)
        return window

    yield make
    for window in windows:
        _wait_jobs(qtbot, window)


def _wait_jobs(qtbot, window, timeout=120_000):
    qtbot.waitUntil(lambda: not window.jobs, timeout=timeout)


@pytest.fixture
def wait_jobs(qtbot):
    """wait_jobs(window): until every background job of the window has finished."""
    return lambda window, timeout=120_000: _wait_jobs(qtbot, window, timeout)
