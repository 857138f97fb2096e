"""Pages and projects in the main window (a mixin): the start page, New / Open / close, and the
writer lock the window holds on its project (project_access.py).

Uses from the window: session, pipeline, jobs, player, recent, start_page, review_page, stack,
clusters, evaluation, evaluation_dock, read_only_banner, project_lock, current_cluster,
current_segment, queue, recent_menu, statusBar(), show_error(), start_pipeline(), _open_dialog(),
_on_edit(), _selection_now(), _learning_project_opened(), _load_project_view(), evaluate(), show_analysis_state(),
_update_actions().
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from speakerid_gui.core.project.store import Project
from speakerid_gui.gui import project_access
from speakerid_gui.gui.new_project import NewProjectDialog, data_dir, default_project_dir
from speakerid_gui.gui.review import ReviewSession

APP_NAME = "speakerid"


class ProjectPages:
    def show_start_page(self):
        self.start_page.set_recent(self.recent.list())
        self.stack.setCurrentWidget(self.start_page)
        self.evaluation_dock.hide()
        self.setWindowTitle(APP_NAME)
        self._update_actions()

    def ask_new_project(self, folder: str | None = None):
        dialog = NewProjectDialog(folder, self)
        dialog.accepted.connect(lambda: self.new_project(dialog.audio_folder(), dialog.settings(),
                                                         dialog.project_dir()))
        self._open_dialog(dialog)
        return dialog

    def ask_open_project(self):
        folder = QFileDialog.getExistingDirectory(self, "Open project (a folder with project.sqlite)",
                                                  str(data_dir() / "projects"))
        if folder:
            self.open_project(folder)

    def offer_analysis(self, folder: Path) -> bool:
        """A folder that is no project: its recordings are offered for analysis; the open project stays."""
        n = project_access.count_audio(folder)
        if n == 0:
            self.show_error(f"{folder}: no project here (no project.sqlite) and no recordings to analyse "
                            "(wav, flac, ogg, mp3).", "Not a project")
            return False
        self.statusBar().showMessage(f"{folder} is not a project: its {n:,} recordings can be analysed "
                                     "as a new one.", 10000)
        self.ask_new_project(str(folder))
        return False

    def new_project(self, audio_folder, settings, project_dir=None) -> bool:
        audio_folder = Path(audio_folder)
        if not audio_folder.is_dir():
            self.show_error(f"{audio_folder}: folder not found")
            return False
        folder = Path(project_dir) if project_dir else default_project_dir(audio_folder)
        try:
            Project.create(folder, audio_folder).close()
        except Exception as exc:
            self.show_error(f"Cannot create the project in {folder}: {exc}")
            return False
        if not self.open_project(folder):
            return False
        if self.session.project.read_only:  # another window has this folder's project: it analyses, not us
            self.statusBar().showMessage(f"{folder.name} is open in another window: not analysed here.", 10000)
            return False
        self.start_pipeline(settings)
        return True

    def open_project(self, folder) -> bool:
        folder = Path(folder)
        if not project_access.is_project(folder):
            return self.offer_analysis(folder)  # before closing anything: the reviewer keeps their project
        same = self.session is not None and project_access.same_folder(self.session.project.folder, folder)
        held = same and self.project_lock is not None and self.project_lock.held
        lock, locked = (self.project_lock, None) if held else project_access.take_lock(folder)
        if not self.close_project(keep_lock=same):
            if not same:
                lock.release()
            return False
        try:
            project = Project.open(folder)
        except Exception as exc:
            lock.release()
            self.show_error(f"Cannot open {folder}: {exc}")
            return False
        self.project_lock = lock
        project.read_only = locked is not None
        self.read_only_banner.show_locked(locked)
        self.session = ReviewSession(project)
        self.player.warm_up()  # the output stream runs before the first key
        self.session.log.listeners.append(self._on_edit)
        self.session.log.selection_source = self._selection_now  # stored with every edit, for undo / redo
        self._learning_project_opened()
        self.recent.add(folder)
        self.setWindowTitle(f"{folder.name}{' (read-only)' if locked else ''} — {APP_NAME}")
        self.stack.setCurrentWidget(self.review_page)
        self.clusters.filter.clear()  # a filter typed for another project would hide this one's clusters
        self._load_project_view()
        reference = project.get_meta("reference")
        self.evaluation.set_reference(reference)
        self.evaluation.set_result(None)
        if reference:
            self.evaluation_dock.show()
            self.evaluate()
        self.clusters.table.setFocus(Qt.FocusReason.OtherFocusReason)  # never the filter box: keys are shortcuts
        if project.get_meta("gui_pending") is not None:
            self.statusBar().showMessage("The analysis of this project was interrupted: File ▸ Resume analysis "
                                         "continues where it stopped.")
        self.show_analysis_state()  # a partial analysis says so, with a Resume button
        self._update_actions()
        return True

    def close_project(self, keep_lock: bool = False) -> bool:
        """Back to the start page; refused (False) while a job still runs on the project."""
        if self.session is None:
            return True
        if any(j.isRunning() for j in self.jobs):
            self.statusBar().showMessage("Wait for (or cancel) the running job before closing the project.")
            return False
        self.player.stop()
        self.session.project.close()
        self.session = None
        if not keep_lock and self.project_lock is not None:
            self.project_lock.release()
            self.project_lock = None
        self.read_only_banner.hide()
        self.current_cluster = self.current_segment = None
        self.queue = np.zeros(0, np.int64)
        self.show_start_page()
        return True

    def _fill_recent_menu(self):
        self.recent_menu.clear()
        for folder in self.recent.list():
            self.recent_menu.addAction(folder, lambda f=folder: self.open_project(f))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def retry_writable(self) -> bool:
        """Read-only project: take the writer lock if the other window let go, and show its edits."""
        if self.session is None or not self.session.project.read_only:
            return True
        lock, locked = project_access.take_lock(self.session.project.folder)
        if locked is not None:
            self.read_only_banner.show_locked(locked)
            self.statusBar().showMessage("Still open elsewhere: the project stays read-only.", 6000)
            return False
        self.project_lock = lock
        folder = self.session.project.folder
        self.session.project.read_only = False
        return self.open_project(folder)  # reloads what the other window changed; keeps this lock
