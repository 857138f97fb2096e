"""The main window: start page or review page (cluster list | scatter | inspector), menus
and shortcuts, composed of controllers that are each given what they use in their constructor:

- ReviewState (review_state.py): the session, the current cluster (its one owner), segment and
  the cluster's ranked members, the label version, the running analysis and learning job;
- ReviewSelection (review_selection.py): drawing the project, following the current cluster;
- Playback (playback.py): the current segment, playing, stepping, auto-advance;
- EditCommands (edit_commands.py): every label change, through the EditLog; its listener
  (EditCommands.on_edit) redraws what the edit's Change says changed;
- BackgroundTasks (background_tasks.py): analysis, demo, export, evaluation;
- ProjectPages (project_pages.py): start page, new / open / close, the writer lock;
- ReviewQueue (review_queue.py) and ReviewAnswers (review_answers.py): Review next, answers,
  relearning; LearningTasks (learning_tasks.py): the Learn menu's jobs;
- TimelineTasks (timeline_tasks.py): a recording's timeline.

The window itself keeps the widgets, the menus, the jobs list, dialogs and errors."""
from __future__ import annotations

import gc

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMessageBox, QSplitter,
                               QStackedWidget, QVBoxLayout, QWidget)

from speakerid_gui.gui.background_tasks import BackgroundTasks
from speakerid_gui.gui.cluster_list import ClusterPanel
from speakerid_gui.gui.edit_commands import EditCommands
from speakerid_gui.gui.evaluation import EvaluationPanel
from speakerid_gui.gui.inspector import Inspector
from speakerid_gui.gui.keys import route_keys
from speakerid_gui.gui.learning_tasks import LearningTasks
from speakerid_gui.gui.playback import Playback
from speakerid_gui.gui.player import Player, SoundDevicePlayer
from speakerid_gui.gui.progress_panel import ProgressPanel, ResumeBanner
from speakerid_gui.gui.project_access import ReadOnlyBanner
from speakerid_gui.gui.project_pages import APP_NAME, ProjectPages
from speakerid_gui.gui.review_answers import ReviewAnswers
from speakerid_gui.gui.review_queue import PANEL_HEIGHT, ReviewQueue
from speakerid_gui.gui.review_selection import ReviewSelection
from speakerid_gui.gui.review_state import ReviewState
from speakerid_gui.gui.scatter import ScatterPanel
from speakerid_gui.gui.shortcuts import ShortcutSheet
from speakerid_gui.gui.small_screen import guard_review_split
from speakerid_gui.gui.start_page import RecentProjects, StartPage
from speakerid_gui.gui.suggestions_panel import SuggestionsPanel
from speakerid_gui.gui.timeline_tasks import TimelineTasks
from speakerid_gui.gui.workers import Job


class MainWindow(QMainWindow):
    def __init__(self, player: Player | None = None, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings("speakerid-gui", "speakerid-gui")
        self.recent = RecentProjects(self.settings)
        self.player = player or SoundDevicePlayer(self)
        self.state = ReviewState(self)
        self.jobs: list[Job] = []
        self.active_dialog = None            # the open dialog (tests drive it)
        self.last_error: str | None = None
        self._close_when_idle = False
        self.setWindowTitle(APP_NAME)
        self._build()
        self._make_controllers()
        self._make_actions()
        self._split_guard = guard_review_split(self)  # a small window squeezes the panel, not the plots
        route_keys(self, self.clusters.table)  # shortcuts work whatever has focus (keys.py)
        self.pages.show_start_page()
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1480, 920)

    # ---- construction ---------------------------------------------------------------------------
    def _build(self):
        self.start_page = StartPage()
        self.clusters = ClusterPanel()
        self.clusters.restore_sort(self.settings)  # the reviewer's last sort, across restarts
        self.scatter = ScatterPanel()
        self.inspector = Inspector()
        self.progress = ProgressPanel()
        self.progress.hide()
        self.resume_banner = ResumeBanner()
        self.read_only_banner = ReadOnlyBanner()

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.clusters)
        self.splitter.addWidget(self.scatter)
        self.splitter.addWidget(self.inspector)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setStretchFactor(2, 3)
        self.splitter.setSizes([320, 660, 500])
        # The Review-next panel goes below the cluster list | scatter | inspector row, in a splitter of
        # the review page (not a dock: it comes and goes with the page, and opening a project does not
        # re-lay the window out).
        self.review_next = SuggestionsPanel()
        self.review_split = QSplitter(Qt.Orientation.Vertical)
        self.review_split.addWidget(self.splitter)
        self.review_split.addWidget(self.review_next)
        self.review_split.setCollapsible(0, False)
        self.review_split.setStretchFactor(0, 1)
        self.review_split.setStretchFactor(1, 0)
        self.review_split.setSizes([700, PANEL_HEIGHT])
        review = QWidget()
        layout = QVBoxLayout(review)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.addWidget(self.progress)
        layout.addWidget(self.resume_banner)
        layout.addWidget(self.read_only_banner)
        layout.addWidget(self.review_split, 1)
        self.review_page = review

        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.review_page)
        self.setCentralWidget(self.stack)

        self.evaluation = EvaluationPanel()
        self.evaluation_dock = QDockWidget("Evaluation against reference labels", self)
        self.evaluation_dock.setObjectName("evaluation")
        self.evaluation_dock.setWidget(self.evaluation)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.evaluation_dock)
        self.evaluation_dock.hide()
        self.evaluation_dock.visibilityChanged.connect(
            lambda visible: visible and self.resizeDocks([self.evaluation_dock], [190], Qt.Orientation.Vertical))

        self.audio_status = QLabel("")
        self.statusBar().addPermanentWidget(self.audio_status)

    def _make_controllers(self):
        """Each controller gets what it uses; a callback into a controller made later is a lambda."""
        st, status = self.state, self.statusBar()
        services = dict(open_dialog=self._open_dialog, show_error=self.show_error, start_job=self.start_job)
        self.playback = Playback(st, self.inspector, self.scatter, self.player, status, self.audio_status, self)
        show = self.playback.show_segment
        self.review = ReviewSelection(st, self.clusters, self.scatter, self.inspector, status, show, self)
        self.background = BackgroundTasks(
            st, self, self.progress, self.resume_banner, self.scatter, self.evaluation, self.evaluation_dock,
            self.start_page, status, review=self.review, update_actions=self._update_actions,
            new_project=lambda *args: self.pages.new_project(*args), **services)
        self.edits = EditCommands(st, self, self.clusters, self.scatter, self.review, show, status,
                                  update_actions=self._update_actions, start_pipeline=self.background.start_pipeline,
                                  **services)
        self.answers = ReviewAnswers(st, status, self.edits.edit, lambda: self._close_when_idle, self)
        self.review_queue = ReviewQueue(st, self.review_next, self.clusters, self.scatter, self.player,
                                        self.inspector.auto_advance.isChecked, show, self.edits, self.answers,
                                        status, self)
        self.learning = LearningTasks(st, self, status, edit=self.edits.edit, update_actions=self._update_actions,
                                      on_idle=self.answers.learning_idle, **services)
        self.timelines = TimelineTasks(st, self, self.player, self.edits.undo, self.edits.redo, status,
                                       self._open_dialog, embedded=self._edited_turns_embedded)
        bg = self.background
        self.pages = ProjectPages(
            st, self, self.recent, self.start_page, self.stack, self.review_page, self.clusters, self.evaluation,
            self.evaluation_dock, self.read_only_banner, self.player, status, self._open_dialog, self.show_error,
            jobs_running=lambda: any(j.isRunning() for j in self.jobs), start_pipeline=bg.start_pipeline,
            evaluate=bg.evaluate, show_analysis_state=bg.show_analysis_state,
            load_project_view=self.review.load_project_view, update_actions=self._update_actions)
        self.pages.session_opened.connect(self.edits.attach)  # the redraw listener before the queue's
        self.pages.session_opened.connect(self.review_queue.project_opened)
        self.pages.session_opened.connect(self.timelines.project_opened)
        self.start_page.demo_requested.connect(bg.start_demo)
        self.stack.currentChanged.connect(
            lambda _: self.stack.currentWidget() is not self.review_page and self.review_queue.project_closed())

    def add_action(self, menu, group: list, name: str, text: str, keys: list[str], slot,
                   needs_project: bool = True) -> QAction:
        """A menu action whose shortcuts work anywhere in the window (and appear in the sheet)."""
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if slot is not None:
            action.triggered.connect(lambda _=False, s=slot: s())
        menu.addAction(action)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        self.actions_by_name[name] = action
        group.append(action)
        if needs_project:
            self.project_actions.append(action)
        return action

    def _make_actions(self):
        """Menus; every action's shortcut works anywhere in the window (and is in the sheet)."""
        self.actions_by_name: dict[str, QAction] = {}
        self.menu_groups: list[tuple[str, list[QAction]]] = []
        pages, bg, edits, play, queue, learn, tl = (self.pages, self.background, self.edits, self.playback,
                                                    self.review_queue, self.learning, self.timelines)
        spec = {
            "&File": [
                ("new", "New project from a folder…", ["Ctrl+N"], pages.ask_new_project, False),
                ("open", "Open project…", ["Ctrl+O"], pages.ask_open_project, False),
                ("demo", "Try the demo", [], bg.start_demo, False),
                ("resume", "Resume analysis", [], bg.resume_pipeline, True),
                ("add_new", "Analyse new files in the folder", [], bg.resume_pipeline, True),
                None,
                ("export", "Export labels…", ["Ctrl+E"], bg.ask_export, True),
                ("import_reference", "Import reference labels…", ["Ctrl+I"], bg.ask_import_reference, True),
                None,
                ("close_project", "Close project", ["Ctrl+W"], pages.close_project, True),
                ("quit", "Quit", ["Ctrl+Q"], self.close, False),
            ],
            "&Edit": [
                ("undo", "Undo", ["Ctrl+Z"], edits.undo, True),
                ("redo", "Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], edits.redo, True),
                None,
                ("merge_similar", "Merge with most similar cluster", ["M"], edits.merge_with_most_similar, True),
                ("merge_selected", "Merge selected clusters", ["Shift+M"], edits.merge_selected, True),
                ("split", "Split cluster…", ["S"], edits.ask_split, True),
                ("move", "Move selected segments…", ["Ctrl+M"], edits.ask_move, True),
                ("rename", "Name cluster…", ["N", "F2"], edits.ask_rename, True),
                ("verify", "Verify cluster", ["V"], edits.verify_cluster, True),
                ("verify_segments", "Verify selected segments", ["Shift+V"], edits.verify_segments, True),
                ("noise", "Mark as noise", ["X"], edits.mark_noise, True),
                ("clear_selection", "Clear segment selection", ["Esc"], self.scatter.clear_selection, True),
                None,
                ("recluster", "Re-cluster…", [], edits.ask_recluster, True),
            ],
            "&Review": [
                ("next_cluster", "Next cluster", ["J", "Down"], lambda: self.clusters.step(1), True),
                ("prev_cluster", "Previous cluster", ["K", "Up"], lambda: self.clusters.step(-1), True),
                ("play", "Play / stop", ["Space"], play.toggle_play, True),
                ("next_segment", "Next segment", ["Right", "L"], lambda: play.step_segment(1), True),
                ("prev_segment", "Previous segment", ["Left", "H"], lambda: play.step_segment(-1), True),
                ("auto_advance", "Auto-advance while listening", ["A"], None, True),
                ("timeline", "Timeline of this segment's recording", ["T"], tl.open_timeline, True),
                ("recordings", "Recordings… (timeline by name)", ["Ctrl+Shift+R"], tl.ask_recording, True),
                ("library", "Speaker library…", ["Ctrl+L"], bg.ask_library, True),
                ("find_cluster", "Filter clusters by name (Esc leaves the box)", ["Ctrl+F"], self.focus_filter, True),
                None,
                ("next_suggestion", "Next suggestion (review next)", ["G"], queue.next_suggestion, True),
                ("prev_suggestion", "Previous suggestion", ["Shift+G"], lambda: queue.next_suggestion(-1), True),
                ("accept_suggestion", "Accept suggestion (merge the pair / split / move)", ["Y"],
                 queue.accept_suggestion, True),
                ("different_speakers", "Different speakers (answer the suggestion: no)", ["Shift+Y"],
                 queue.answer_different, True),
            ],
            "&Learn": [
                ("propagate", "Propagate labels from verified segments", ["Ctrl+P"], learn.propagate_labels, True),
                ("refine", "Refine embeddings…", ["Ctrl+R"], learn.ask_refine, True),
                ("train_classifier", "Train / evaluate classifier…", ["Ctrl+T"], learn.ask_classifier, True),
                ("train_prosody", "Train prosody RNN…", [], learn.ask_prosody, True),
                None,
                ("refresh_suggestions", "Refresh suggestions", ["F5"], queue.refresh_suggestions, True),
                ("auto_relearn", "Relearn after each answer or correction", [], None, True),
            ],
            "&View": [
                ("dim", "Dim other clusters", ["D"], None, True),
                ("reset_view", "Reset zoom", ["R", "Home"], self.scatter.reset_view, True),
                ("mode_pan", "Pan mode", ["Ctrl+1"], lambda: self.scatter.set_mode("pan"), True),
                ("mode_rect", "Rectangle selection mode", ["Ctrl+2"], lambda: self.scatter.set_mode("rect"), True),
                ("mode_lasso", "Lasso selection mode", ["Ctrl+3"], lambda: self.scatter.set_mode("lasso"), True),
                ("show_evaluation", "Evaluation panel", ["Ctrl+Shift+E"], None, True),
                ("show_review_next", "Review next panel", ["Ctrl+Shift+N"], None, True),
            ],
            "&Help": [
                ("shortcuts", "Keyboard shortcuts", ["F1", "?"], self.show_shortcuts, False),
                ("about", "About", [], self.show_about, False),
            ],
        }
        self.project_actions = []
        for title, items in spec.items():
            menu = self.menuBar().addMenu(title)
            group = []
            for item in items:
                if item is None:
                    menu.addSeparator()
                    continue
                self.add_action(menu, group, *item)
            self.menu_groups.append((title, group))
        a = self.actions_by_name
        a["auto_advance"].setCheckable(True)
        a["auto_advance"].toggled.connect(self.inspector.auto_advance.setChecked)
        self.inspector.auto_advance.toggled.connect(a["auto_advance"].setChecked)
        a["dim"].setCheckable(True)
        a["dim"].toggled.connect(self.scatter.set_dim_others)
        self.scatter.dim_button.toggled.connect(a["dim"].setChecked)
        a["show_evaluation"].setCheckable(True)
        a["show_evaluation"].toggled.connect(self.evaluation_dock.setVisible)
        self.evaluation_dock.visibilityChanged.connect(a["show_evaluation"].setChecked)
        a["auto_relearn"].setCheckable(True)
        a["auto_relearn"].setChecked(self.answers.auto_relearn)
        a["auto_relearn"].toggled.connect(self.answers.set_auto_relearn)
        a["show_review_next"].setCheckable(True)
        a["show_review_next"].setChecked(True)
        a["show_review_next"].toggled.connect(self.review_next.setVisible)
        file_menu = self.menuBar().actions()[0].menu()
        self.recent_menu = file_menu.addMenu("Recent projects")
        file_menu.insertMenu(self.action("resume"), self.recent_menu)
        self.recent_menu.aboutToShow.connect(lambda: self.pages.fill_recent_menu(self.recent_menu))

    def focus_filter(self):
        self.clusters.filter.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.clusters.filter.selectAll()

    def action(self, name: str) -> QAction:
        return self.actions_by_name[name]

    def _update_actions(self):
        st = self.state
        has = st.session is not None
        busy = st.busy()  # the pipeline relabels while it runs; a read-only project is not edited
        for action in self.project_actions:
            action.setEnabled(has)
        edits = ["undo", "redo", "merge_similar", "merge_selected", "split", "move", "rename", "verify",
                 "verify_segments", "noise", "recluster"]
        for name in edits:
            self.action(name).setEnabled(has and not busy)
        if has and not busy:
            log = st.session.log  # at the clustering Ctrl+Z still answers: it says why it stops
            self.action("undo").setEnabled(log.can_undo() or log.base() is not None)
            self.action("redo").setEnabled(log.can_redo())
        self.action("resume").setEnabled(has and not busy and not self.resume_banner.isHidden())
        self.action("add_new").setEnabled(has and not busy)  # busy covers a read-only project
        running = st.learning_job is not None  # the Learn actions wait for the pipeline and for each other
        for name in ("propagate", "refine", "train_classifier", "train_prosody"):
            self.action(name).setEnabled(has and not busy and not running)
        self.action("accept_suggestion").setEnabled(has and not busy)
        self.review_queue.labels_may_change(busy, has)

    # ---- jobs, dialogs, errors, closing ------------------------------------------------------------------
    def start_job(self, job: Job):
        self.jobs.append(job)
        job.finished.connect(lambda: self._job_finished(job))
        job.start()

    def _job_finished(self, job: Job):
        if job in self.jobs:
            self.jobs.remove(job)
        job.deleteLater()
        if self._close_when_idle and not any(j.isRunning() for j in self.jobs):
            self.close()

    def _open_dialog(self, dialog):
        """Window-modal and non-blocking (open, not exec), so tests and the event loop keep running."""
        self.active_dialog = dialog

        def finished(_):
            if self.active_dialog is dialog:
                self.active_dialog = None
            self.activateWindow()  # keys go back to the review (not every platform does this itself)

        dialog.finished.connect(finished)
        if getattr(dialog, "non_modal", False):  # learning jobs: the reviewer keeps reviewing meanwhile
            dialog.setModal(False)
            dialog.show()
            dialog.raise_()
        else:
            dialog.open()

    def show_error(self, message: str, title: str = "Problem"):
        self.last_error = message
        self.statusBar().showMessage(message.splitlines()[0], 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _: self.activateWindow())  # keys back to the review, as _open_dialog
        box.open()

    def _edited_turns_embedded(self):
        self.review.reload_layout()  # cut-off pieces have their own places on the map now
        self.review_queue.refresh_suggestions()

    def show_shortcuts(self):
        from speakerid_gui.gui.timeline import sheet_actions

        self._open_dialog(ShortcutSheet(self.menu_groups + [("Timeline window (T)", sheet_actions(self))], self))

    def show_about(self):
        QMessageBox.about(self, "About speakerid", "speakerid: find and name the speakers in unlabelled recordings.\n"
                          "Every edit is undoable and saved as you go.")

    def closeEvent(self, event):
        running = [j for j in self.jobs if j.isRunning()]
        if running:  # never destroy a running thread: cancel, and close when the jobs return
            for job in running:
                job.cancel()
            self._close_when_idle = True
            self.setEnabled(False)
            self.statusBar().showMessage("Stopping background work before closing…")
            event.ignore()
            return
        self.player.stop()
        self.settings.setValue("geometry", self.saveGeometry())
        if self.state.session is not None:
            self.state.session.project.close()
            self.state.session = None
            gc.unfreeze()  # what project_pages.open_project froze can be collected again
        self.pages.release_lock()
        event.accept()

