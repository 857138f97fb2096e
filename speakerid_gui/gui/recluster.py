"""Re-clustering: its own command with its own confirmation, because it is not an undoable
edit (undo stops at the latest clustering). Names and verified segments are kept."""
from __future__ import annotations

from dataclasses import fields, replace

from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QLabel, QRadioButton, QSpinBox, QVBoxLayout)


def project_settings(project):
    """The pipeline settings the project was analysed with (defaults for what is missing)."""
    from speakerid_gui.core.pipeline import Settings

    stored = project.get_meta("settings") or {}
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in stored.items() if k in known})


class ReclusterDialog(QDialog):
    def __init__(self, settings, n_clusters: int, undoable: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Re-cluster")
        self.base = settings
        self.estimate = QRadioButton("Estimate the number of speakers")
        self.given = QRadioButton("Number of speakers:")
        group = QButtonGroup(self)
        group.addButton(self.estimate)
        group.addButton(self.given)
        self.count = QSpinBox(minimum=1, maximum=10000, value=settings.speakers or max(n_clusters, 1))
        (self.given if settings.speakers else self.estimate).setChecked(True)
        self.count.setEnabled(self.given.isChecked())
        self.given.toggled.connect(self.count.setEnabled)
        self.method = QComboBox()
        self.method.addItems(["ahc", "kmeans"])
        self.method.setCurrentText(settings.method)
        row = QHBoxLayout()
        row.addWidget(self.given)
        row.addWidget(self.count)
        form = QFormLayout()
        form.addRow(self.estimate)
        form.addRow(row)
        form.addRow("Method:", self.method)
        lost = (f"The {undoable} edit{'s' if undoable != 1 else ''} made since the last clustering can no longer "
                "be undone afterwards." if undoable else "")
        self.warning = QLabel(
            f"Every segment that is not verified gets a new cluster ({n_clusters} clusters now). Names and verified "
            f"segments are kept. Re-clustering is not an undoable edit. {lost}")
        self.warning.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.addButton("Re-cluster", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.warning)
        layout.addWidget(buttons)
        self.resize(460, self.sizeHint().height())

    def settings(self):
        return replace(self.base, speakers=self.count.value() if self.given.isChecked() else None,
                       method=self.method.currentText())


def undoable_edits(log) -> int:
    """Edits done since the latest clustering (what a re-cluster makes permanent)."""
    base = log.base()
    row = log.p.db.execute("SELECT COUNT(*) FROM edits WHERE state='done' AND id>?",
                           (base.id if base else 0,)).fetchone()
    return int(row[0])


def start_recluster(project, start_pipeline, settings):
    """Cluster again with `settings` (even when they equal the stored ones), in the pipeline job."""
    project.set_meta("cluster_key", None)  # the cluster stage must not answer "up to date"
    return start_pipeline(settings)
