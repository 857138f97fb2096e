"""Which projects a window may change, and what Ctrl+O does with a folder that is none.

A window holds its project's writer lock (core/project/lock.py) while it has it open. A
project that another window or command holds opens read-only: the banner says who holds it,
every edit is off, and "Try again" takes the lock once it is free (reloading what the other
one changed meanwhile).
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from speakerid_gui.core.project.lock import ProjectLock, ProjectLocked

WHAT = "another speakerid window"


def is_project(folder: str | os.PathLike) -> bool:
    return (Path(folder) / "project.sqlite").exists()


def same_folder(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def take_lock(folder) -> tuple[ProjectLock, ProjectLocked | None]:
    """The window's lock on `folder` (held), or an unheld one and why it could not be taken."""
    lock = ProjectLock(folder, WHAT)
    try:
        return lock.acquire(), None
    except ProjectLocked as exc:
        return lock, exc


def count_audio(folder) -> int:
    from speakerid_gui.core.audio.decode import find_audio_files

    try:
        return len(find_audio_files(Path(folder)))
    except OSError:
        return 0


class ReadOnlyBanner(QFrame):
    """Says the open project is read-only and why; Try again takes the lock when it is free."""

    retry_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("ReadOnlyBanner { background: #fde2e1; }")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.retry_button = QPushButton("Try again")
        self.retry_button.clicked.connect(self.retry_requested)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.text, 1)
        row.addWidget(self.retry_button)
        self.hide()

    def show_locked(self, exc: ProjectLocked | None):
        if exc is None:
            self.hide()
            return
        self.text.setText(f"Opened read-only: {exc}. You can listen, browse and export; edits are off "
                          "until that window closes (then Try again).")
        self.show()
