"""The page shown with no project open: new, open, recent projects, and the demo."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout, QWidget)

MAX_RECENT = 10


class RecentProjects:
    """Recently opened project folders, newest first, kept in QSettings."""

    KEY = "recent_projects"

    def __init__(self, settings: QSettings):
        self.settings = settings

    def list(self) -> list[str]:
        value = self.settings.value(self.KEY, [])
        if isinstance(value, str):  # QSettings returns a lone string for one-item lists
            value = [value]
        return [p for p in (value or []) if (Path(p) / "project.sqlite").exists()]

    def add(self, folder: str | Path):
        folder = str(Path(folder).resolve())
        items = [folder] + [p for p in self.list() if p != folder]
        self.settings.setValue(self.KEY, items[:MAX_RECENT])
        self.settings.sync()


class StartPage(QWidget):
    new_requested = Signal()
    open_requested = Signal()
    demo_requested = Signal()
    recent_chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        title = QLabel("speakerid")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 2.4)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel("Find and name the speakers in a pile of unlabelled recordings.\n"
                          "The machine segments, embeds, clusters and lays out; you listen, merge, split, "
                          "move, name and verify.")
        subtitle.setWordWrap(True)
        subtitle.setStyleSheet("color: #555;")

        self.new_button = QPushButton("New project from a folder…")
        self.open_button = QPushButton("Open project…")
        self.demo_button = QPushButton("Try the demo")
        self.demo_button.setToolTip("Synthesise a small corpus of 5 speakers (17 files, a few with two speakers), "
                                    "analyse it and open it")
        for b, signal in ((self.new_button, self.new_requested), (self.open_button, self.open_requested),
                          (self.demo_button, self.demo_requested)):
            b.setMinimumHeight(40)
            b.clicked.connect(signal)
        self.new_button.setDefault(True)
        buttons = QVBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(_hint("Choose a folder of recordings, say how many speakers if you know, and the "
                                "analysis runs in the background."))
        buttons.addSpacing(8)
        buttons.addWidget(self.open_button)
        buttons.addWidget(_hint("Continue reviewing a project: every edit was saved and can be undone."))
        buttons.addSpacing(8)
        buttons.addWidget(self.demo_button)
        buttons.addWidget(_hint("Synthesises 5 speakers (17 short files, two of them conversations) with this "
                                "program's own voice synthesiser, then analyses them. No download."))
        self.demo_status = QLabel("")
        self.demo_status.setStyleSheet("color: #555;")
        self.demo_status.setWordWrap(True)
        buttons.addWidget(self.demo_status)
        buttons.addStretch(1)

        self.recent = QListWidget()
        self.recent.setStyleSheet("QListWidget::item { padding: 6px 4px; }")
        self.recent.setMaximumHeight(360)
        self.recent.itemActivated.connect(lambda item: self.recent_chosen.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.recent_empty = QLabel("No recent projects yet.")
        self.recent_empty.setStyleSheet("color: #777;")
        recent = QVBoxLayout()
        recent.addWidget(_heading("Recent projects"))
        recent.addWidget(self.recent)
        recent.addWidget(self.recent_empty)
        recent.addStretch(1)

        columns = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(_heading("Start"))
        left.addLayout(buttons)
        columns.addLayout(left, 2)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.VLine)
        line.setStyleSheet("color: #ddd;")
        columns.addWidget(line)
        columns.addLayout(recent, 3)

        card = QVBoxLayout()
        card.addStretch(1)
        card.addWidget(title)
        card.addWidget(subtitle)
        card.addSpacing(16)
        card.addLayout(columns)
        card.addSpacing(16)
        card.addWidget(_hint("Keyboard: J/K next/previous cluster · Space play · M merge with most similar · "
                             "S split · V verify · N name · X noise · Ctrl+Z undo. Help ▸ Keyboard shortcuts."))
        card.addStretch(2)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        holder = QWidget()
        holder.setLayout(card)
        holder.setMaximumWidth(900)
        holder.setMinimumWidth(640)
        outer.addWidget(holder, 8)
        outer.addStretch(1)

    def set_recent(self, folders: list[str]):
        self.recent.clear()
        for folder in folders:
            item = QListWidgetItem(f"{Path(folder).name}\n{folder}")
            item.setData(Qt.ItemDataRole.UserRole, folder)
            item.setToolTip(folder)
            self.recent.addItem(item)
        self.recent.setVisible(bool(folders))
        self.recent_empty.setVisible(not folders)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.15)
    label.setFont(font)
    return label


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #777; font-size: 11px;")
    return label
