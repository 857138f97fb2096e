"""Entry point, start page, screenshots, the shortcut sheet, and playback without a device."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from speakerid_gui.gui.player import SoundDevicePlayer


def run_app(*args, env_dir):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(env_dir / "config"),
               SPEAKERID_GUI_DATA=str(env_dir / "data"))
    return subprocess.run([sys.executable, "-m", "speakerid_gui.gui.app", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_screenshot_of_a_project_selects_the_largest_cluster(project_dir, tmp_path):
    out = tmp_path / "shot.png"
    result = run_app(project_dir, "--screenshot", out, env_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert not image.isNull() and image.width() >= 1000 and out.stat().st_size > 20_000
    # not a blank window: the dark scatter and many colours
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 200


def test_screenshot_without_project_is_the_start_page(tmp_path):
    out = tmp_path / "start.png"
    result = run_app("--screenshot", out, env_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 5_000 and not QImage(str(out)).isNull()


def test_bad_arguments_fail_cleanly(tmp_path):
    result = run_app(tmp_path / "missing", env_dir=tmp_path)
    assert result.returncode == 1 and "not found" in result.stderr
    (tmp_path / "audio").mkdir()
    result = run_app(tmp_path / "audio", "--screenshot", tmp_path / "x.png", env_dir=tmp_path)
    assert result.returncode == 1 and "project" in result.stderr


def test_start_page_lists_recent_projects_and_opens_them(make_window, project_dir, qtbot):
    w = make_window()
    assert w.stack.currentWidget() is w.start_page
    assert not w.recent.list() and w.start_page.recent_empty.isVisible()
    assert not w.action("export").isEnabled()  # project actions wait for a project
    assert w.pages.open_project(project_dir)
    assert w.pages.close_project()
    assert w.stack.currentWidget() is w.start_page
    assert w.recent.list() == [str(project_dir.resolve())]
    item = w.start_page.recent.item(0)
    assert item.data(Qt.ItemDataRole.UserRole) == str(project_dir.resolve())
    w.start_page.recent.itemActivated.emit(item)
    assert w.state.session is not None and w.stack.currentWidget() is w.review_page


def test_new_project_dialog_asks_folder_count_and_backend(make_window, tmp_path):
    from speakerid_gui.gui.new_project import NewProjectDialog

    w = make_window()
    dialog = w.pages.ask_new_project(str(tmp_path))
    assert isinstance(dialog, NewProjectDialog)
    assert dialog.settings().speakers is None  # estimate by default
    dialog.count.setValue(7)
    assert dialog.settings().speakers == 7 and dialog.known.isChecked()
    assert dialog.backend.currentData() == "auto"
    assert str(dialog.project_dir()).startswith(os.environ["SPEAKERID_GUI_DATA"])
    dialog.folder.setText(str(tmp_path / "nope"))
    assert not dialog.start_button.isEnabled()
    dialog.reject()


def test_shortcut_sheet_lists_the_review_keys(make_window):
    w = make_window()
    w.action("shortcuts").trigger()
    text = w.active_dialog.text.toPlainText()
    for needle in ("Merge with most similar cluster", "Split cluster", "Verify cluster", "Mark as noise",
                   "Play / stop", "Next cluster", "Undo", "Redo", "Lasso"):
        assert needle in text
    w.active_dialog.reject()


def test_playback_without_a_device_reports_and_everything_else_works(make_window, project_dir):
    player = SoundDevicePlayer()
    w = make_window(project_dir, player)
    w.playback.toggle_play()
    if player.is_playing():  # a machine with a sound card: it simply plays
        player.stop()
        pytest.skip("an audio output device exists here")
    message = w.statusBar().currentMessage()
    assert "playback" in message.lower() or "audio" in message.lower()
    assert w.audio_status.text()  # a lasting hint in the status bar
    assert w.inspector.spectrogram.image.image is not None  # the inspector still shows the segment
    before = len(w.state.session.project.cluster_sizes())
    w.edits.merge_with_most_similar()  # shows the target (its sound cannot play)...
    w.edits.merge_with_most_similar()  # ...and merges
    assert len(w.state.session.project.cluster_sizes()) == before - 1


def test_audio_folder_argument_asks_for_a_new_project_or_reopens_it(make_window, tmp_path):
    from speakerid_gui.core.project.store import Project
    from speakerid_gui.gui.app import open_path
    from speakerid_gui.gui.new_project import NewProjectDialog, default_project_dir

    audio = tmp_path / "recordings"
    audio.mkdir()
    w = make_window()
    open_path(w, audio)
    assert isinstance(w.active_dialog, NewProjectDialog) and w.active_dialog.audio_folder() == audio
    w.active_dialog.reject()
    Project.create(default_project_dir(audio), audio).close()  # analysed before
    open_path(w, audio)
    assert w.state.session is not None and w.state.session.project.folder == default_project_dir(audio)


def test_tests_keep_the_apps_settings_in_their_own_folder(project_dir, tmp_path):
    # The recent-projects list of whoever runs `make test` must not collect pytest's projects:
    # the app's settings, in this process and in an app started without a private environment,
    # live in the test's folder (conftest._private_data_dir).
    from PySide6.QtCore import QSettings

    assert QSettings("speakerid-gui", "speakerid-gui").fileName().startswith(str(tmp_path))
    out = tmp_path / "shot.png"
    result = subprocess.run([sys.executable, "-m", "speakerid_gui.gui.app", str(project_dir), "--screenshot", str(out)],
                            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    written = list((tmp_path / "config").rglob("*.conf"))
    assert written and any(str(project_dir) in p.read_text() for p in written)
