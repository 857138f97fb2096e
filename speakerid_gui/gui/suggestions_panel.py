"""The "Review next" panel: the core's ranked review queue (learn.suggestions), one row per
suggestion saying why it is there. The window steps through it (G), accepts the current one
(Y: merge the pair, split the mixed cluster, move the misplaced segment) and refreshes it
after edits; this widget only draws and forwards clicks.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

# A person's words for each kind of suggestion, and what accepting it does.
KIND_TITLES = {"pair": "Same speaker?", "mixed": "Two speakers?", "segment": "Misplaced segment?",
               "spread": "Wide cluster", "name": "Who is this?"}
ACCEPT_TEXT = {"pair": "Merge the two (Y)", "mixed": "Split in two (Y)", "segment": "Move the segment (Y)",
               "name": "Verify and name (Y)"}
COLUMNS = ("", "Kind", "Clusters", "Score", "Why")


def suggestion_key(s) -> tuple:
    """Identity of a suggestion across refreshes (what the reviewer has already looked at)."""
    return s.kind, tuple(int(c) for c in s.cluster_ids), tuple(int(i) for i in s.segment_positions)


class SuggestionsPanel(QWidget):
    chosen = Signal(int)            # go to row i
    next_requested = Signal()
    accept_requested = Signal()
    refresh_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list = []
        self.current: int | None = None
        self.current_text = QLabel("Press G to go to the first suggestion: it is selected, played and explained.")
        self.current_text.setWordWrap(True)
        self.current_text.setTextFormat(Qt.TextFormat.PlainText)
        self.current_text.setStyleSheet("color: #1a1a1a;")
        self.status = QLabel("")
        self.status.setStyleSheet("color: #555;")
        self.next_button = QPushButton("Next suggestion (G)")
        self.next_button.clicked.connect(self.next_requested)
        self.accept_button = QPushButton("Accept (Y)")
        self.accept_button.setEnabled(False)
        self.accept_button.clicked.connect(self.accept_requested)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_requested)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.itemActivated.connect(lambda item: self.chosen.emit(item.row()))
        self.table.cellDoubleClicked.connect(lambda row, _col: self.chosen.emit(row))

        title = QLabel("Review next")
        title.setStyleSheet("font-weight: bold; font-size: 13px;")
        title.setToolTip("The tool's least certain decisions, most informative first. G: next, Y: accept.")
        top = QHBoxLayout()
        top.addWidget(title)
        top.addSpacing(12)
        top.addWidget(self.current_text, 1)
        top.addWidget(self.accept_button)
        top.addWidget(self.next_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

    # ---- what the window sets ----------------------------------------------------------------------
    def set_items(self, items: list, name_of, seen: set, note: str = ""):
        """A new queue (best first); rows already looked at are greyed and ticked."""
        self.items = list(items)
        self.current = None
        self.table.clearSelection()  # a kept selection would point at a row nobody chose (until G)
        # Columns sized to their contents would be re-measured after every cell (100 ms for 50
        # rows at 100k segments): fill with fixed widths, then size once.
        header = self.table.horizontalHeader()
        modes = [header.sectionResizeMode(col) for col in range(self.table.columnCount())]
        for col in range(len(modes)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Fixed)
        self.table.setRowCount(len(self.items))
        grey = QBrush(QColor("#888"))
        for row, s in enumerate(self.items):
            done = suggestion_key(s) in seen
            names = " + ".join(name_of(int(c)) for c in s.cluster_ids)
            cells = ["✓" if done else str(row + 1), KIND_TITLES.get(s.kind, s.kind), names, f"{s.score:.2f}", s.reason]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(s.reason)
                if done:
                    item.setForeground(grey)
                if col in (0, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        for col, mode in enumerate(modes):
            header.setSectionResizeMode(col, mode)
        self.table.resizeRowsToContents()
        self.accept_button.setEnabled(False)
        self.accept_button.setText("Accept (Y)")
        self.set_status(note or (f"{len(self.items)} suggestions, most informative first." if self.items else
                                 "Nothing to suggest."))

    def mark_seen(self, row: int):
        grey = QBrush(QColor("#888"))
        for col in range(self.table.columnCount()):
            item = self.table.item(row, col)
            if item is not None:
                item.setForeground(grey)
        self.table.item(row, 0).setText("✓")

    def mark_stale(self, clusters: set[int]):
        """Rows about clusters an edit just changed: in italics and grey until the re-ranked
        queue replaces them (their wording, e.g. "8 + 8 segments", may no longer be true)."""
        for row, s in enumerate(self.items):
            if not clusters.intersection(int(c) for c in s.cluster_ids):
                continue
            if row == self.current:  # the one under review was answered or overtaken by the edit
                self.current_text.setText("Your last edit changed this suggestion's clusters (Ctrl+Z undoes "
                                          "it): G goes to the next suggestion.")
                self.accept_button.setEnabled(False)
            for col in range(self.table.columnCount()):
                item = self.table.item(row, col)
                if item is not None:
                    font = item.font()
                    font.setItalic(True)
                    item.setFont(font)
                    item.setForeground(QBrush(QColor("#888")))
                    item.setToolTip("Changed by your last edit: re-ranking…")

    def set_current(self, row: int, text: str):
        """Row `row` is the suggestion being reviewed: select it and say why, and what Y would do."""
        self.current = row
        self.table.selectRow(row)
        self.table.scrollToItem(self.table.item(row, 0))
        self.current_text.setText(text)
        kind = self.items[row].kind
        self.accept_button.setEnabled(kind in ACCEPT_TEXT)
        self.accept_button.setText(ACCEPT_TEXT.get(kind, "Accept (Y)"))

    def set_status(self, text: str):
        self.status.setText(text)

    def clear(self):
        self.items, self.current = [], None
        self.table.setRowCount(0)
        self.accept_button.setEnabled(False)
        self.current_text.setText("Press G to go to the first suggestion: it is selected, played and explained.")
        self.set_status("")
