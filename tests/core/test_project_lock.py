"""One writer per project: a second process is refused with who holds it; a crashed holder
leaves no stale lock; the CLI's writing commands respect it, its reading ones do not need it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from speakerid_gui import cli
from speakerid_gui.core.project.edits import EditLog, ReadOnlyProject
from speakerid_gui.core.project.lock import ProjectLock, ProjectLocked
from speakerid_gui.core.project.store import Project

ROOT = Path(__file__).resolve().parents[2]
HOLD = "import sys, time; from speakerid_gui.core.project.lock import ProjectLock\n" \
       "lock = ProjectLock(sys.argv[1], 'a test window').acquire(); print('held', flush=True); time.sleep(60)"


def hold_in_another_process(folder: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_and_told_who_holds_it(tmp_path):
    proc = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(ProjectLocked) as err:
            ProjectLock(tmp_path).acquire()
        assert err.value.holder["pid"] == proc.pid
        assert f"pid {proc.pid}" in str(err.value) and "a test window" in str(err.value)
    finally:
        proc.kill()
        proc.wait()
    # the kernel dropped the dead holder's lock: nothing stale to clean up
    with ProjectLock(tmp_path, "me") as lock:
        assert lock.held and lock.holder()["pid"] == os.getpid()
    assert not lock.held


def test_a_holder_killed_without_cleanup_leaves_no_stale_lock(tmp_path):
    proc = hold_in_another_process(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ProjectLock(tmp_path).acquire().held


def test_one_process_cannot_hold_it_twice(tmp_path):
    first = ProjectLock(tmp_path).acquire()
    with pytest.raises(ProjectLocked):
        ProjectLock(tmp_path).acquire()  # a second window of the same process
    first.release()
    ProjectLock(tmp_path).acquire().release()


def test_a_read_only_project_refuses_every_edit(tmp_path):
    project = Project.create(tmp_path / "p", tmp_path)
    project.read_only = True
    log = EditLog(project)
    with pytest.raises(ReadOnlyProject, match="read-only"):
        log.rename(0, "Alice")
    with pytest.raises(ReadOnlyProject):
        log.undo()
    assert project.clusters == {} or 0 not in project.clusters
    project.close()


def test_the_cli_refuses_to_change_a_project_another_process_holds(tmp_path, capsys):
    folder = tmp_path / "p"
    Project.create(folder, tmp_path).close()
    proc = hold_in_another_process(folder)
    try:
        assert cli.main(["edit", str(folder), "--rename", "0", "Alice"]) == cli.EXIT_ERROR
        err = capsys.readouterr().err
        assert str(folder) in err and f"pid {proc.pid}" in err and "nothing was changed" in err
        assert cli.main(["undo", str(folder)]) == cli.EXIT_ERROR
        assert cli.main(["run", str(tmp_path), "--project", str(folder)]) == cli.EXIT_ERROR
        assert "`speakerid run`" not in capsys.readouterr().err  # the holder is named, not the one refused
        assert cli.main(["info", str(folder)]) == cli.EXIT_OK  # reading needs no lock
    finally:
        proc.kill()
        proc.wait()
    time.sleep(0.05)
    capsys.readouterr()
    # the lock is gone: the edit gets as far as the project itself (which has no cluster 0)
    assert cli.main(["edit", str(folder), "--rename", "0", "Alice"]) == cli.EXIT_USAGE
    assert "no cluster 0" in capsys.readouterr().err


def test_a_read_only_project_refuses_writes_below_the_edit_log_too(tmp_path):
    from speakerid_gui.core.project import constraints

    project = Project.create(tmp_path / "p", tmp_path)
    project.read_only = True
    with pytest.raises(ReadOnlyProject):
        with project.transaction():
            pass
    with pytest.raises(ReadOnlyProject):  # reviewer answers and skips live in the meta table
        project.set_meta(constraints.SKIPPED, ["a suggestion"])
    project.read_only = False
    assert constraints.skipped(project) == set()
    project.close()


def test_a_lock_file_that_cannot_be_opened_is_refused_with_the_reason(tmp_path):
    (tmp_path / "writer.lock").mkdir()  # not a file: open() fails whoever we are
    with pytest.raises(ProjectLocked, match="cannot be changed here"):
        ProjectLock(tmp_path).acquire()
