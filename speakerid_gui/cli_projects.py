"""The projects a command opens, closed by cli.main when the command ends: their last writes
in, the WAL checkpointed and removed (which needs every connection closed, the store's
threads' too), before the process exits without the interpreter's teardown (cli.entry)."""
from __future__ import annotations

_opened: list = []


def open_project(folder):
    from speakerid_gui.core.project.store import Project

    return _kept(Project.open(folder))


def create_project(folder, audio_root):
    from speakerid_gui.core.project.store import Project

    return _kept(Project.create(folder, audio_root))


def _kept(project):
    _opened.append(project)
    return project


def close_all() -> None:
    while _opened:
        _opened.pop().close()
