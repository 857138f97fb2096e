"""Export labels (CSV / JSON / RTTM / Audacity) through the core's writers."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout)

from ..core.formats import FORMATS

DESCRIPTIONS = {
    "csv": "CSV: one row per segment (recording, start, end, cluster, speaker, confidence, verified)",
    "json": "JSON: segments and speaker turns per recording",
    "rttm": "RTTM: speaker turns, for diarization tools",
    "audacity": "Audacity label tracks: one .txt per recording, in a folder",
}
SUFFIX = {"csv": ".csv", "json": ".json", "rttm": ".rttm", "audacity": ""}


class ExportDialog(QDialog):
    """Asks format, destination and whether to keep noise; the window runs the export."""

    def __init__(self, default_folder: Path, parent=None, last: dict | None = None):
        """last: {"format", "path"} of the previous export of this project (its choices come back)."""
        super().__init__(parent)
        self.setWindowTitle("Export labels")
        self.default_folder = Path(default_folder)
        self.format = QComboBox()
        for fmt in FORMATS:
            self.format.addItem(fmt.upper() if fmt != "audacity" else "Audacity labels", fmt)
        self.path = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.include_noise = QCheckBox("Include segments marked as noise")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #555;")
        self.format.currentIndexChanged.connect(self._format_changed)
        form = QFormLayout()
        form.addRow("Format:", self.format)
        form.addRow("Save to:", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.description)
        layout.addWidget(self.include_noise)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())
        last = last or {}
        if last.get("path"):
            self.path.setText(str(last["path"]))
        if last.get("format") in FORMATS and last["format"] != self.fmt():
            self.set_format(last["format"])  # adapts the remembered path's suffix
        else:
            self._format_changed()

    def choices(self) -> dict:
        """What to remember for the next export of this project."""
        return {"format": self.fmt(), "path": str(self.out_path())}

    def fmt(self) -> str:
        return self.format.currentData()

    def out_path(self) -> Path:
        return Path(self.path.text().strip()).expanduser()

    def set_format(self, fmt: str):
        self.format.setCurrentIndex(self.format.findData(fmt))

    def _format_changed(self):
        fmt = self.fmt()
        self.description.setText(DESCRIPTIONS.get(fmt, ""))
        current = self.path.text().strip()
        stem = Path(current).stem if current else "labels"
        folder = Path(current).parent if current else self.default_folder
        name = f"{stem}-audacity" if fmt == "audacity" and not stem.endswith("-audacity") else \
            stem.removesuffix("-audacity") + SUFFIX[fmt]
        self.path.setText(str(folder / name))

    def _browse(self):
        if self.fmt() == "audacity":
            path = QFileDialog.getExistingDirectory(self, "Folder for the label files", str(self.out_path().parent))
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export labels", str(self.out_path()))
        if path:
            self.path.setText(path)
