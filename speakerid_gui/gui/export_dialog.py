"""Export labels (CSV / JSON / RTTM / Audacity / TextGrid / EAF / WebVTT) or per-speaker clips
through the core's writers."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout)

from speakerid_gui.core.formats.common import FOLDER_FORMATS, FORMATS

EXPORTS = (*FORMATS, "clips")
FOLDERS = (*FOLDER_FORMATS, "clips")  # written as a folder of files
TITLES = {"audacity": "Audacity labels", "textgrid": "Praat TextGrid", "eaf": "ELAN (EAF)", "vtt": "WebVTT",
          "clips": "Audio clips per speaker"}

DESCRIPTIONS = {
    "csv": "CSV: one row per segment (recording, start, end, cluster, speaker, confidence, verified)",
    "json": "JSON: segments and speaker turns per recording",
    "rttm": "RTTM: speaker turns, for diarization tools",
    "audacity": "Audacity label tracks: one .txt per recording, in a folder",
    "textgrid": "Praat TextGrids: one per recording, an interval tier per speaker, in a folder",
    "eaf": "ELAN files: one per recording, a tier per speaker, linked to the audio, in a folder",
    "vtt": "WebVTT: one per recording, a cue per speaker turn with a <v Speaker> voice tag, in a folder",
    "clips": "Clips for data sets: a folder per speaker, one audio file per turn (the exact source audio "
             "at its own rate unless resampled), and metadata.csv",
}
SUFFIX = {"csv": ".csv", "json": ".json", "rttm": ".rttm"}


class ExportDialog(QDialog):
    """Asks format, destination and whether to keep noise; the window runs the export."""

    def __init__(self, default_folder: Path, parent=None, last: dict | None = None):
        """last: {"format", "path"} of the previous export of this project (its choices come back)."""
        super().__init__(parent)
        self.setWindowTitle("Export labels")
        self.default_folder = Path(default_folder)
        self.format = QComboBox()
        for fmt in EXPORTS:
            self.format.addItem(TITLES.get(fmt, fmt.upper()), fmt)
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
        layout.addWidget(self._clip_box())
        layout.addWidget(buttons)
        self.setMinimumWidth(560)  # adjustSize() after a format change would shrink the path out of sight
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

    def _clip_box(self) -> QGroupBox:
        self.clips_box = QGroupBox("Clips")
        self.clip_16k = QCheckBox("Resample to 16 kHz mono (default: the source's rate and channels)")
        self.clip_segments = QCheckBox("One clip per segment instead of per merged turn")
        self.clip_verified = QCheckBox("Only verified segments")

        def seconds(value, maximum=3600.0, special=None):
            box = QDoubleSpinBox()
            box.setRange(0.0, maximum)
            box.setDecimals(2)
            box.setSuffix(" s")
            box.setValue(value)
            if special:
                box.setSpecialValueText(special)
            return box

        self.clip_min = seconds(0.0, special="no minimum")
        self.clip_max = seconds(0.0, special="no maximum")
        self.clip_padding = seconds(0.0, 10.0, special="none")
        self.clip_confidence = QDoubleSpinBox()
        self.clip_confidence.setRange(0.0, 1.0)
        self.clip_confidence.setSingleStep(0.05)
        self.clip_confidence.setSpecialValueText("any")
        form = QFormLayout(self.clips_box)
        form.addRow(self.clip_16k)
        form.addRow(self.clip_segments)
        form.addRow(self.clip_verified)
        form.addRow("Shortest clip:", self.clip_min)
        form.addRow("Longest clip (longer turns are cut):", self.clip_max)
        form.addRow("Padding each side:", self.clip_padding)
        form.addRow("Lowest confidence:", self.clip_confidence)
        return self.clips_box

    def clip_options(self):
        from speakerid_gui.core.formats.clips import ClipOptions

        return ClipOptions(unit="segment" if self.clip_segments.isChecked() else "turn",
                           sample_rate=16000 if self.clip_16k.isChecked() else None, mono=self.clip_16k.isChecked(),
                           min_length=self.clip_min.value(), max_length=self.clip_max.value() or None,
                           padding=self.clip_padding.value(), verified_only=self.clip_verified.isChecked(),
                           min_confidence=self.clip_confidence.value())

    def fmt(self) -> str:
        return self.format.currentData()

    def out_path(self) -> Path:
        return Path(self.path.text().strip()).expanduser()

    def set_format(self, fmt: str):
        self.format.setCurrentIndex(self.format.findData(fmt))

    def _format_changed(self):
        fmt = self.fmt()
        self.description.setText(DESCRIPTIONS.get(fmt, ""))
        self.clips_box.setVisible(fmt == "clips")
        current = self.path.text().strip()
        stem = Path(current).stem if current else "labels"
        for other in FOLDERS:  # the folder name says what is inside
            stem = stem.removesuffix(f"-{other}")
        folder = Path(current).parent if current else self.default_folder
        name = f"{stem}-{fmt}" if fmt in FOLDERS else stem + SUFFIX[fmt]
        self.path.setText(str(folder / name))
        self.adjustSize()

    def _browse(self):
        if self.fmt() in FOLDERS:
            path = QFileDialog.getExistingDirectory(self, "Folder for the label files", str(self.out_path().parent))
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export labels", str(self.out_path()))
        if path:
            self.path.setText(path)
