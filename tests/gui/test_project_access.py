"""A project another process holds opens read-only (edits off, said in a banner) and becomes
writable with Try again once it is free; Ctrl+O on a folder that is no project keeps the open
project and offers the folder's analysis."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from speakerid_gui.gui.new_project import NewProjectDialog

ROOT = Path(__file__).resolve().parents[2]
HOLD = "import sys, time; from speakerid_gui.core.project.lock import ProjectLock\n" \
       "lock = ProjectLock(sys.argv[1], 'another speakerid window').acquire(); print('held', flush=True); time.sleep(60)"


def test_a_project_held_elsewhere_opens_read_only_until_it_is_free(make_window, project_dir, qtbot):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(project_dir)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert proc.stdout.readline().strip() == "held"
        w = make_window(project_dir)
        assert w.state.session is not None and w.state.session.project.read_only
        assert w.read_only_banner.isVisibleTo(w) and f"pid {proc.pid}" in w.read_only_banner.text.text()
        assert "read-only" in w.windowTitle()
        for name in ("merge_selected", "split", "move", "rename", "verify", "undo", "recluster", "propagate"):
            assert not w.action(name).isEnabled(), name
        assert w.action("export").isEnabled()  # reading works
        before = w.state.session.project.cluster_name(w.state.current_cluster)
        assert w.edits.edit(w.state.session.log.rename, w.state.current_cluster, "Nobody") is None  # refused, said in the status
        assert "read-only" in w.statusBar().currentMessage()
        assert w.state.session.project.cluster_name(w.state.current_cluster) == before
        assert not w.pages.retry_writable()  # still held
        from speakerid_gui.core.pipeline import Settings

        assert not w.pages.new_project(w.state.session.project.audio_root, Settings(), project_dir)  # no analysis starts
        assert w.state.pipeline is None and w.state.session.project.read_only
    finally:
        proc.kill()
        proc.wait()
    assert w.pages.retry_writable()
    assert not w.state.session.project.read_only and w.pages.project_lock.held
    assert not w.read_only_banner.isVisibleTo(w) and "read-only" not in w.windowTitle()
    assert w.action("merge_selected").isEnabled()


def test_ctrl_o_on_a_folder_of_recordings_keeps_the_project_and_offers_its_analysis(make_window, project_dir,
                                                                                     tmp_path):
    w = make_window(project_dir)
    audio = ROOT / "tests" / "data" / "librispeech-mini"
    assert not w.pages.open_project(audio)
    assert w.state.session is not None and Path(w.state.session.project.folder) == project_dir  # still open
    assert isinstance(w.active_dialog, NewProjectDialog)
    assert w.active_dialog.audio_folder() == audio
    w.active_dialog.reject()
    empty = tmp_path / "nothing here"
    empty.mkdir()
    assert not w.pages.open_project(empty)
    assert w.state.session is not None and "no recordings" in w.last_error


def test_the_window_holds_the_lock_while_open_and_lets_go_on_close(make_window, project_dir):
    from speakerid_gui.core.project.lock import ProjectLock, ProjectLocked

    w = make_window(project_dir)
    assert w.pages.project_lock.held and not w.state.session.project.read_only
    try:
        ProjectLock(project_dir).acquire()
        raise AssertionError("a second writer got the lock")
    except ProjectLocked as exc:
        assert exc.holder["pid"] == os.getpid()
    assert w.pages.close_project()
    ProjectLock(project_dir).acquire().release()


def test_an_open_project_is_kept_out_of_the_cyclic_collectors_reach_until_closed(make_window, project_dir):
    # a full collection traversing every object of a 100k-segment project stalled the window
    # 40-50 ms while Review next re-ranked in its worker (benchmarks/gui_scale.py)
    import gc

    w = make_window(project_dir)
    assert gc.get_freeze_count() > 10_000
    assert w.pages.close_project()
    assert gc.get_freeze_count() == 0
    w.pages.open_project(project_dir)
    assert gc.get_freeze_count() > 10_000
    w.close()
    assert gc.get_freeze_count() == 0


def test_the_new_project_dialog_chooses_where_the_project_goes(make_window, tmp_path, monkeypatch):
    from speakerid_gui.core.project.store import Project
    from speakerid_gui.gui.new_project import default_project_dir

    monkeypatch.setenv("SPEAKERID_GUI_DATA", str(tmp_path / "data"))
    first, second = tmp_path / "a" / "interviews", tmp_path / "b" / "interviews"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    assert default_project_dir(first) == tmp_path / "data" / "projects" / "interviews"  # no hash, no app name twice
    Project.create(default_project_dir(first), first).close()
    assert default_project_dir(first) == tmp_path / "data" / "projects" / "interviews"  # its own project: resumed
    assert default_project_dir(second) == tmp_path / "data" / "projects" / "interviews 2"  # another folder's

    w = make_window()
    dialog = w.pages.ask_new_project(str(second))
    assert dialog.project.text() == str(tmp_path / "data" / "projects" / "interviews 2")
    assert dialog.start_button.isEnabled()
    busy = tmp_path / "my documents"
    busy.mkdir()
    (busy / "letter.txt").write_text("not a project")
    dialog.project.setText(str(busy))
    assert not dialog.start_button.isEnabled() and "other files" in dialog.where.text()
    dialog.project.setText(str(default_project_dir(first)))  # another folder's project
    assert not dialog.start_button.isEnabled() and "already the project of" in dialog.where.text()
    chosen = tmp_path / "elsewhere" / "mine"
    dialog.project.setText(str(chosen))
    assert dialog.start_button.isEnabled() and dialog.project_dir() == chosen
    dialog.folder.setText(str(first))  # a location the reviewer chose stays when the audio folder changes
    assert dialog.project_dir() == chosen
    dialog.reject()
