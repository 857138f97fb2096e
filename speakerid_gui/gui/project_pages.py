"""Pages and projects in the main window (a controller): the start page, New / Open / close, and the
writer lock the window holds on its project (project_access.pGiven: the ReviewState, the window (its title; parent of dialogs), the recent-projects list,
the start page, the page stack and the review page, the cluster list (its filter and focus),
the evaluation panel and its dock, the read-only banner, the player, the status bar,
`open_dialog`, `show_error`, `jobs_running` (may the project close), `start_pipeline`,
`evaluate`, `show_analysis_state`, `load_project_view` and `update_actions`. Who else must
know of a new session connects to `session_opened` (the edit listener, the review queue).
s().
"""
from __future__ import annotations

import gc

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog

from speakerid_gui.core.project.store import Project
from speakerid_gui.gui import project_access
from speakerid_gui.gui.new_project import NewProjectDialog, data_dir, default_project_dir
from speakerid_gui.gui.review import ReviewSession

APP_NAME = "speakerid"


class ProjectPages(QObject):
    session_opened = Signal(object)  # the ReviewSession of a project just opened, before it is drawn

    def __init__(self, state, window, recent, start_page, stack, review_page, clusters, evaluation, evaluation_dock,
                 read_only_banner, player, status, open_dialog, show_error, jobs_running, start_pipeline, evaluate,
                 show_analysis_state, load_project_view, update_actions):
        super().__init__(window)
        self.state, self.window, self.recent, self.start_page, self.stack = state, window, recent, start_page, stack
        self.review_page, self.clusters, self.evaluation, self.evaluation_dock = review_page, clusters, evaluation, evaluation_dock
        self.read_only_banner, self.player, self.status = read_only_banner, player, status
        self.open_dialog, self.show_error, self.jobs_running = open_dialog, show_error, jobs_running
        self.start_pipeline, self.evaluate, self.show_analysis_state = start_pipeline, evaluate, show_analysis_state
        self.load_project_view, self.update_actions = load_project_view, update_actions
        self.project_lock = None  # this window's writer lock on its project (project_access.py)
        start_page.new_requested.connect(self.ask_new_project)
        start_page.open_requested.connect(self.ask_open_project)
        start_page.recent_chosen.connect(self.open_project)
        read_only_banner.retry_requested.connect(self.retry_writable)

    def show_start_page(self):
        self.start_page.set_recent(self.recent.list())
        self.stack.setCurrentWidget(self.start_page)
        self.evaluation_dock.hide()
        self.window.setWindowTitle(APP_NAME)
        self.update_actions()

    def ask_new_project(self, folder: str | None = None):
        dialog = NewProjectDialog(folder, self.window)
        dialog.accepted.connect(lambda: self.new_project(dialog.audio_folder(), dialog.settings(),
                                                         dialog.project_dir()))
        self.open_dialog(dialog)
        return dialog

    def ask_open_project(self):
        folder = QFileDialog.getExistingDirectory(self.window, "Open project (a folder with project.sqlite)",
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
        self.status.showMessage(f"{folder} is not a project: its {n:,} recordings can be analysed "
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
        if self.state.session.project.read_only:  # another window has this folder's project: it analyses, not us
            self.status.showMessage(f"{folder.name} is open in another window: not analysed here.", 10000)
            return False
        self.start_pipeline(settings)
        return True

    def open_project(self, folder) -> bool:
        folder = Path(folder)
        if not project_access.is_project(folder):
            return self.offer_analysis(folder)  # before closing anything: the reviewer keeps their project
        same = self.state.session is not None and project_access.same_folder(self.state.session.project.folder, folder)
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
        self.state.session = ReviewSession(project)
        self.player.warm_up()  # the output stream runs before the first key
        self.session_opened.emit(self.state.session)  # the edit listener first, then the review queue
        self.recent.add(folder)
        self.window.setWindowTitle(f"{folder.name}{' (read-only)' if locked else ''} — {APP_NAME}")
        self.stack.setCurrentWidget(self.review_page)
        self.clusters.filter.clear()  # a filter typed for another project would hide this one's clusters
        self.load_project_view()
        reference = project.get_meta("reference")
        self.evaluation.set_reference(reference)
        self.evaluation.set_result(None)
        if reference:
            self.evaluation_dock.show()
            self.evaluate()
        self.clusters.table.setFocus(Qt.FocusReason.OtherFocusReason)  # never the filter box: keys are shortcuts
        if project.get_meta("gui_pending") is not None:
            self.status.showMessage("The analysis of this project was interrupted: File ▸ Resume analysis "
                                         "continues where it stopped.")
        self.show_analysis_state()  # a partial analysis says so, with a Resume button
        self.update_actions()
        # What is there now lives while the project is open: out of the cyclic collector's reach,
        # a full collection (in any thread, the review queue's worker too) takes 2-5 ms instead of
        # 40-50 ms at 100k segments, a stall of the window (benchmarks/gui_scale.py). Objects that
        # go away still free themselves by reference counting; close_project unfreezes.
        gc.collect()
        gc.freeze()
        return True

    def close_project(self, keep_lock: bool = False) -> bool:
        """Back to the start page; refused (False) while a job still runs on the project."""
        if self.state.session is None:
            return True
        if self.jobs_running():
            self.status.showMessage("Wait for (or cancel) the running job before closing the project.")
            return False
        self.player.stop()
        self.state.session.project.close()
        self.state.reset()
        gc.unfreeze()  # the closed project's cycles can be collected again
        if not keep_lock and self.project_lock is not None:
            self.project_lock.release()
            self.project_lock = None
        self.read_only_banner.hide()
        self.show_start_page()
        return True

    def fill_recent_menu(self, menu):
        menu.clear()
        for folder in self.recent.list():
            menu.addAction(folder, lambda f=folder: self.open_project(f))
        if menu.isEmpty():
            menu.addAction("(none)").setEnabled(False)

    def release_lock(self):
        """The window closes: let another window write the project."""
        if self.project_lock is not None:
            self.project_lock.release()

    def retry_writable(self) -> bool:
        """Read-only project: take the writer lock if the other window let go, and show its edits."""
        if self.state.session is None or not self.state.session.project.read_only:
            return True
        lock, locked = project_access.take_lock(self.state.session.project.folder)
        if locked is not None:
            self.read_only_banner.show_locked(locked)
            self.status.showMessage("Still open elsewhere: the project stays read-only.", 6000)
            return False
        self.project_lock = lock
        folder = self.state.session.project.folder
        self.state.session.project.read_only = False
        return self.open_project(folder)  # reloads what the other window changed; keeps this lock
