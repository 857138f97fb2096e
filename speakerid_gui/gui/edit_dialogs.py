"""Small dialogs for edits: rename (with completion), move a selection, split with preview."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap, QIcon
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QCompleter, QDialog, QDialogButtonBox, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                               QRadioButton, QSpinBox, QVBoxLayout)

from speakerid_gui.core.text import plural


def _completer(names: list[str], parent) -> QCompleter:
    completer = QCompleter(names, parent)
    completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    completer.setFilterMode(Qt.MatchFlag.MatchContains)
    return completer


def _swatch(color: str) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(QColor(color))
    return QIcon(pm)


class RenameDialog(QDialog):
    """A speaker's name. A name another cluster already has means the same person: the dialog
    offers to merge into that cluster (on by default), so one voice is never two rows alike."""

    def __init__(self, current_name: str, names: list[str], parent=None, taken: dict | None = None):
        """taken: the other clusters' names -> (cluster id, its size)."""
        super().__init__(parent)
        self.setWindowTitle("Name cluster")
        self.taken = {name.casefold(): (name, cid, size) for name, (cid, size) in (taken or {}).items()}
        self.edit = QLineEdit(current_name)
        self.edit.selectAll()
        self.edit.setCompleter(_completer(names, self))
        self.merge = QCheckBox()
        self.merge.setChecked(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Speaker name:"))
        layout.addWidget(self.edit)
        layout.addWidget(self.merge)
        layout.addWidget(buttons)
        self.edit.textChanged.connect(self._offer_merge)
        self._offer_merge()

    def _offer_merge(self):
        hit = self.taken.get(self.name().casefold())
        self.merge.setVisible(hit is not None)
        if hit is not None:
            name, _, size = hit
            self.merge.setText(f"Merge into the cluster already named {name} ({plural(size, 'segment')}): "
                               "the same speaker")

    def name(self) -> str:
        return self.edit.text().strip()

    def merge_into(self) -> int | None:
        """The cluster to merge into: another one already has this name and the box is ticked."""
        hit = self.taken.get(self.name().casefold())
        return hit[1] if hit is not None and self.merge.isChecked() else None


class MoveDialog(QDialog):
    """Where the selected segments go: an existing cluster (type to search) or a new one."""

    NEW = -2

    def __init__(self, count: int, clusters: list[tuple[int, str, str]], parent=None):
        """clusters: (id, label, colour) in display order."""
        super().__init__(parent)
        self.setWindowTitle("Move segments")
        self.target = QComboBox()
        self.target.setEditable(True)
        self.target.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.target.addItem("New cluster", self.NEW)
        for cid, label, color in clusters:
            self.target.addItem(_swatch(color), label, cid)
        self.target.completer().setFilterMode(Qt.MatchFlag.MatchContains)
        self.target.completer().setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.new_name = QLineEdit(placeholderText="optional name of the new cluster")
        self.target.currentIndexChanged.connect(lambda _: self.new_name.setEnabled(self.target_id() is None))
        form = QFormLayout()
        form.addRow("Move to:", self.target)
        form.addRow("New name:", self.new_name)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Move {plural(count, 'selected segment')}"))
        layout.addLayout(form)
        layout.addWidget(buttons)

    def target_id(self) -> int | None:
        data = self.target.currentData()
        return None if data in (None, self.NEW) else int(data)

    def select_target(self, cluster_id: int | None):
        index = self.target.findData(self.NEW if cluster_id is None else cluster_id)
        if index >= 0:
            self.target.setCurrentIndex(index)


class SplitDialog(QDialog):
    """Choose k (or estimate), see the proposed parts (also coloured in the scatter), apply."""

    propose = Signal(object)  # k, or None to estimate
    play_part = Signal(int)   # listen to part i (0-based) of the proposal

    def __init__(self, cluster_name: str, n_members: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Split {cluster_name}")
        self.labels: np.ndarray | None = None
        self.played: dict[int, int] = {}  # part -> how many of its segments were played
        self.estimate = QRadioButton("Estimate the number of parts")
        self.estimate.setToolTip("Counted as the corpus's speakers are: one part means one speaker")
        self.fixed = QRadioButton("Split into")
        self.estimate.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.estimate)
        group.addButton(self.fixed)
        self.k = QSpinBox(minimum=2, maximum=max(2, min(50, n_members)), value=2)
        self.k.valueChanged.connect(lambda _: self.fixed.setChecked(True))
        self.propose_button = QPushButton("Propose")
        self.propose_button.clicked.connect(lambda: self.propose.emit(self.requested_k()))
        row = QHBoxLayout()
        row.addWidget(self.fixed)
        row.addWidget(self.k)
        row.addWidget(QLabel("parts"))
        row.addStretch(1)
        self.status = QLabel("")
        self.status.setWordWrap(True)  # long messages wrap: the dialog stays beside the scatter
        self.parts = QListWidget()
        self.parts.setMinimumHeight(120)
        self.parts.setToolTip("Double-click (or Enter) a part to hear it; again for its next segment")
        self.parts.itemActivated.connect(lambda item: self.play_part.emit(self.parts.row(item)))
        self.play_button = QPushButton("▶ Play part")
        self.play_button.setEnabled(False)
        self.play_button.clicked.connect(lambda: self.play_part.emit(max(self.parts.currentRow(), 0)))
        self.buttons = QDialogButtonBox()
        self.apply_button = self.buttons.addButton("Apply", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.apply_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        intro = QLabel(f"{cluster_name}: {plural(n_members, 'segment')}. The proposal is coloured in the scatter.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(self.estimate)
        layout.addLayout(row)
        layout.addWidget(self.propose_button)
        layout.addWidget(self.status)
        layout.addWidget(self.parts)
        layout.addWidget(self.play_button)
        layout.addWidget(self.buttons)

    def requested_k(self) -> int | None:
        return self.k.value() if self.fixed.isChecked() else None

    def set_busy(self, text: str):
        self.labels = None
        self.apply_button.setEnabled(False)
        self.propose_button.setEnabled(False)
        self.status.setText(text)

    def set_failed(self, text: str):
        self.propose_button.setEnabled(True)
        self.status.setText(text)

    def set_proposal(self, labels: np.ndarray, colors: list[str]):
        self.labels = np.asarray(labels)
        self.played = {}
        parts, sizes = np.unique(self.labels, return_counts=True)
        self.parts.clear()
        for i, (part, size) in enumerate(zip(parts, sizes)):
            keeps = " (keeps the cluster's id and name)" if i == 0 else " (new cluster)"
            self.parts.addItem(QListWidgetItem(_swatch(colors[i % len(colors)]), f"Part {i + 1}: {plural(int(size), 'segment')}{keeps}"))
        self.status.setText(f"Proposed {len(parts)} parts: double-click one to hear it." if len(parts) > 1 else
                            "Looks like one speaker: nothing to split. To cut it anyway, choose "
                            "\"Split into\" a number of parts and Propose.")
        self.parts.setCurrentRow(0)
        self.play_button.setEnabled(True)
        self.apply_button.setEnabled(len(parts) > 1)
        self.propose_button.setEnabled(True)
