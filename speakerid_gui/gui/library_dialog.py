"""The speaker library in the app: each cluster's best match and its score, accept or reject
it, and add the project's named speakers to the library. The work is the core's (open_set.py,
library.py); edits go through the window's EditLog, so they are undoable and every view follows."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

COLUMNS = ["Cluster", "Name now", "Best match", "Score", "Threshold", "Segments", "Decision"]
DECISIONS = {"named": "named from the library", "accepted": "accepted", "rejected": "rejected",
             "proposed": "below threshold: anonymous"}


class LibraryDialog(QDialog):
    def __init__(self, session, library_folder: Path | None = None, parent=None):
        super().__init__(parent)
        from speakerid_gui.core.library.enrolled import default_library_dir

        self.session = session
        self.folder = Path(library_folder) if library_folder else default_library_dir()
        self.setWindowTitle("Speaker library")
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.match_button = QPushButton("Match clusters with the library")
        self.accept_button = QPushButton("Accept match")
        self.reject_button = QPushButton("Reject match")
        self.add_button = QPushButton("Add named speakers to the library")
        close = QPushButton("Close")
        self.match_button.clicked.connect(self.match)
        self.accept_button.clicked.connect(lambda: self.decide("accepted"))
        self.reject_button.clicked.connect(lambda: self.decide("rejected"))
        self.add_button.clicked.connect(self.add_to_library)
        close.clicked.connect(self.accept)
        self.message = QLabel()
        self.message.setWordWrap(True)
        row = QHBoxLayout()
        for b in (self.match_button, self.accept_button, self.reject_button, self.add_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.info)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(row)
        self.resize(820, 440)
        self.refresh()

    # ---- state ----------------------------------------------------------------------------------
    def library(self):
        from speakerid_gui.core.library.enrolled import Library

        return Library.open(self.folder) if Library.exists(self.folder) else None

    def refresh(self):
        from speakerid_gui.core.library.open_set import stored_matches

        lib = self.library()
        if lib is None:
            self.info.setText(f"No speaker library yet at {self.folder}. Name and review clusters, then "
                              "“Add named speakers to the library”; later projects are named from it.")
        else:
            ge2e = sum(lib.has_part(sp.id, "ge2e") for sp in lib.speakers())
            kind = lib.backend + (f", GE2E too for {ge2e} enrolled from short clips" if ge2e else "")
            from speakerid_gui.core.library.cohort import MIN_SPEAKERS, MIN_SYMMETRIC

            n = len(lib.speakers())
            if n >= MIN_SYMMETRIC:
                normalised = (f", or when its score stands out by {lib.segment_s:g} from the other enrolled "
                              "speakers (normalised both ways: against what their segments score on this "
                              "voiceprint, and against what this segment scores on theirs)")
            elif n >= MIN_SPEAKERS:
                normalised = (f", or when its score is {lib.segment_z:g} standard deviations above what the "
                              "other enrolled speakers' segments score on this voiceprint")
            else:
                normalised = ""
            self.info.setText(f"Library {lib.folder}: {n} speakers ({kind}). A cluster takes a speaker's "
                              f"name when its score reaches {lib.threshold:.2f} (for the segments whose own best "
                              "match agrees). A segment on its own joins its speaker's cluster when it scores "
                              f"{lib.segment_threshold:.2f}{normalised}.")
        project = self.session.project
        matches = stored_matches(project)
        self.table.setRowCount(len(matches))
        for r, m in enumerate(sorted(matches, key=lambda m: -m["score"])):
            values = [m["cluster"], project.cluster_name(m["cluster"]), m["name"], f"{m['score']:.3f}",
                      f"{m['threshold']:.2f}", m["segments"], DECISIONS.get(m["status"], m["status"])]
            for c, v in enumerate(values):
                item = QTableWidgetItem(str(v))
                item.setData(Qt.ItemDataRole.UserRole, m["cluster"])
                self.table.setItem(r, c, item)
        has = lib is not None and bool(lib.speakers())
        self.match_button.setEnabled(has)
        self.accept_button.setEnabled(bool(matches))
        self.reject_button.setEnabled(bool(matches))

    def selected_cluster(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return None if not rows else self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)

    def select_cluster(self, cluster: int):
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == cluster:
                self.table.selectRow(r)
                return

    # ---- actions --------------------------------------------------------------------------------
    def match(self):
        from speakerid_gui.core.library.open_set import apply_matches, match_project

        try:
            matches = apply_matches(self.session.project, match_project(self.session.project, self.library()),
                                    log=self.session.log)
        except (ValueError, OSError) as exc:
            self.message.setText(str(exc))
            return
        named = sum(m.status == "named" for m in matches)
        moved = len(getattr(matches, "index", ()))
        self.message.setText(f"{named} of {len(matches)} clusters carry a library name"
                             + (f"; {moved} segments moved to the cluster of their speaker or out of a "
                                "cluster they do not match (one edit: Undo reverts it)." if moved else "."))
        self.refresh()

    def decide(self, status: str):
        from speakerid_gui.core.library.open_set import set_status

        cluster = self.selected_cluster()
        if cluster is None:
            self.message.setText("Select a row first.")
            return
        m = set_status(self.session.project, cluster, status, log=self.session.log)
        self.message.setText(f"Cluster {cluster}: {m['name']!r} {status}.")
        self.refresh()
        self.select_cluster(cluster)

    def add_to_library(self):
        from speakerid_gui.core.library.enrolled import Library, project_backend

        project = self.session.project
        backend = project_backend(project)
        try:
            enrolled = Library.open(self.folder, create=True, backend=backend).add_project(project)
        except (ValueError, OSError) as exc:
            self.message.setText(str(exc))
            return
        changed = [e for e in enrolled if e.new or e.segments]
        same = len(enrolled) - len(changed)
        self.message.setText((f"Added or updated {len(changed)} speakers: " + ", ".join(e.name for e in changed)
                              + (f"; {same} unchanged (their segments here are enrolled already)" if same else ""))
                             if enrolled else "No named cluster with enough segments to add: name clusters first (N).")
        self.refresh()
