"""Opening timelines: the recording list (search by name) and the main window's side of it
(open the timeline of the current segment, or of a recording chosen in the list), and the
turns a timeline edit cut or resized embedded again in a worker thread (core/edited_turns.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from speakerid_gui.core.project.cache import decode_notes
from speakerid_gui.gui.timeline import TimelineWindow
from speakerid_gui.gui.workers import describe, plain_thread

EMBED_DELAY_MS = 800  # a burst of edge drags and cuts: embed once, after the last one


class RecordingPicker(QDialog):
    """Every recording of the project, searchable by name; Enter opens its timeline."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Recordings")
        self.search = QLineEdit()
        self.search.setPlaceholderText("search by name")
        self.list = QListWidget()
        p = session.project
        counts = np.bincount(p.seg_recording, minlength=1) if p.n_segments else np.zeros(1, int)
        partly = decode_notes(p)
        for r in p.recordings():
            n = int(counts[r.id]) if r.id < len(counts) else 0
            text = f"{r.path}   ({n} turns)" if r.status == "ok" else f"{r.path}   ({r.status}: {r.error})"
            if r.path in partly:
                text += f"   (used in part: {partly[r.path]})"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, r.id)
            if not n:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.list.addItem(item)
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self.accept)
        self.list.itemActivated.connect(lambda _: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)
        self.resize(520, 480)

    def filter(self, text: str):
        text = text.strip().lower()
        first = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            hidden = bool(text) and text not in item.text().lower()
            item.setHidden(hidden)
            if not hidden and first is None and item.flags() & Qt.ItemFlag.ItemIsEnabled:
                first = item
        if first is not None:
            self.list.setCurrentItem(first)

    def chosen(self) -> int | None:
        item = self.list.currentItem()
        if item is None or item.isHidden() or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return None
        return int(item.data(Qt.ItemDataRole.UserRole))


def find_recording(project, name: str) -> int | None:
    """A recording id by its path, file name or stem (for --timeline NAME)."""
    for r in project.recordings():
        if name in (r.path, Path(r.path).name, Path(r.path).stem):
            return r.id
    return None


class _Delivery(QObject):
    done = Signal(object)  # (session, turns embedded, error text)


def _embed_edited(delivery: _Delivery, folder, session):
    from speakerid_gui.core.pipeline import embed_edited_turns
    from speakerid_gui.core.project.store import Project

    try:
        project = Project.open(folder)  # the worker's own connection
        try:
            count = embed_edited_turns(project)
            if count:  # the pieces' points go where they now sound like they belong
                from speakerid_gui.core.cluster.agglomerative import prepare
                from speakerid_gui.core.edited_turns import place_pieces
                from speakerid_gui.core.pipeline import embeddings

                place_pieces(project, prepare(embeddings(project)))
            payload = (session, count, "")
        finally:
            project.close()
    except Exception as exc:  # a file gone, no embeddings yet: said in the status bar
        payload = (session, 0, describe(exc))
    delivery.done.emit(payload)


class TimelineTasks(QObject):
    """The main window's side: open a timeline from the current segment or the recording list;
    after a cut or a moved edge, embed the edited turns again. Given: the ReviewState (session,
    current segment), the window (parent of the picker), the player, `undo` / `redo` (the edit
    controller's), the status bar, `open_dialog` and `embedded` (called once new embeddings, and the pieces' new points, are in)."""

    def __init__(self, state, window, player, undo, redo, status, open_dialog, embedded=lambda: None):
        super().__init__(window)
        self.state, self.window, self.player, self.undo, self.redo = state, window, player, undo, redo
        self.status, self.open_dialog, self.embedded = status, open_dialog, embedded
        self.timeline: TimelineWindow | None = None
        self.embedding = None  # the running job (a Future)
        self._again = False    # an edit came while it ran
        self._timer = QTimer(self, singleShot=True, interval=EMBED_DELAY_MS)
        self._timer.timeout.connect(self._start_embedding)
        self._delivery = None

    def project_opened(self, session):
        session.log.listeners.append(self._on_edit)

    def _on_edit(self, change):
        if change.kind in ("cut", "bounds") and change.action == "do":
            self._timer.start()

    def _start_embedding(self):
        session = self.state.session
        if session is None:
            return
        if self.embedding is not None:
            self._again = True
            return
        self._delivery = _Delivery()  # not a child of the window: a late result goes nowhere
        self._delivery.done.connect(self._embedded)
        self.embedding = plain_thread("edited-turns").submit(_embed_edited, self._delivery, session.project.folder,
                                                             session)

    def _embedded(self, payload):
        session, count, error = payload
        self.embedding = None
        if session is self.state.session:
            if error:
                self.status.showMessage(f"Edited turns keep their old embeddings: {error}", 10000)
            elif count:
                session.embeddings_changed()
                self.status.showMessage(f"{count} edited turn{'s' if count != 1 else ''} embedded for what "
                                        "they hold now.", 5000)
                self.embedded()
        if self._again:
            self._again = False
            self._timer.start()

    def open_timeline(self, recording_id: int | None = None, segment: int | None = None):
        session = self.state.session
        if session is None:
            return None
        p = session.project
        if recording_id is None:
            segment = self.state.current_segment if segment is None else segment
            if segment is None:
                self.status.showMessage("Choose a segment (or a recording: Ctrl+Shift+R) to see its timeline.", 5000)
                return None
            recording_id = int(p.seg_recording[segment])
        if self.timeline is not None:
            self.timeline.close()
        self.timeline = TimelineWindow(session, recording_id, self.player, self.undo, self.redo)
        self.timeline.closed.connect(lambda: setattr(self, "timeline", None))
        if segment is not None and int(p.seg_recording[segment]) == int(recording_id):
            self.timeline.select_turn(int(segment))
        self.timeline.show()
        return self.timeline

    def ask_recording(self):
        if self.state.session is None:
            return
        picker = RecordingPicker(self.state.session, self.window)
        picker.accepted.connect(lambda: picker.chosen() is not None and self.open_timeline(picker.chosen()))
        self.open_dialog(picker)
