"""The evaluation view: the project's labels scored against reference labels."""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget

from speakerid_gui.core.evaluate import metrics

# The core's own one-line explanations, when it has them.
DESCRIPTIONS = dict(getattr(metrics, "_REPORT", []))


class EvaluationPanel(QWidget):
    evaluate_requested = Signal()
    import_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.reference = QLabel("No reference labels. Import a manifest CSV (path,speaker) or an RTTM file.")
        self.reference.setWordWrap(True)
        self.evaluate_button = QPushButton("Evaluate now")
        self.evaluate_button.clicked.connect(self.evaluate_requested)
        self.import_button = QPushButton("Import reference…")
        self.import_button.clicked.connect(self.import_requested)
        self.model = QStandardItemModel(0, 3, self)
        self.model.setHorizontalHeaderLabels(["Metric", "Value", "Meaning"])
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        row = QHBoxLayout()
        row.addWidget(self.reference, 1)
        row.addWidget(self.import_button)
        row.addWidget(self.evaluate_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        self.evaluate_button.setEnabled(False)
        self.result: dict | None = None

    def set_reference(self, path: str | None):
        self.evaluate_button.setEnabled(bool(path))
        self.reference.setText(f"Reference: {path}" if path else
                               "No reference labels. Import a manifest CSV (path,speaker) or an RTTM file.")

    def set_busy(self):
        self.evaluate_button.setEnabled(False)
        self.evaluate_button.setText("Evaluating…")

    def set_result(self, result: dict | None):
        self.evaluate_button.setEnabled(True)
        self.evaluate_button.setText("Evaluate now")
        self.result = result
        self.model.removeRows(0, self.model.rowCount())
        if not result:
            return
        known = [k for k in DESCRIPTIONS if k in result] + [k for k in result if k not in DESCRIPTIONS]
        for key in known:
            items = [QStandardItem(key), QStandardItem(_format(result[key])), QStandardItem(DESCRIPTIONS.get(key, ""))]
            items[1].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.model.appendRow(items)
        self.table.resizeColumnToContents(1)

    def value(self, key: str):
        return None if self.result is None else self.result.get(key)


def _format(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}"
    return str(value)
