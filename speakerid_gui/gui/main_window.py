"""The main window: start page or review page (cluster list | scatter | inspector), menus
and shortcuts, and the glue between widgets, the ReviewSession, the player and jobs.
Every label change goes through the EditLog; its listener (EditCommands._on_edit) redraws
what the edit's Change says changed."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMessageBox, QSplitter,
                               QStackedWidget, QVBoxLayout, QWidget)

from speakerid_gui.core.audio.decode import AudioError
from speakerid_gui.core.palette import cluster_color
from speakerid_gui.core.project.store import NOISE
from speakerid_gui.core.text import plural
from speakerid_gui.gui.cluster_list import ClusterPanel
from speakerid_gui.gui.evaluation import EvaluationPanel
from speakerid_gui.gui.inspector import Inspector
from speakerid_gui.gui.keys import route_keys
from speakerid_gui.gui.player import Player, SoundDevicePlayer
from speakerid_gui.gui.progress_panel import ProgressPanel, ResumeBanner
from speakerid_gui.gui.review import ReviewSession
from speakerid_gui.gui.project_access import ReadOnlyBanner
from speakerid_gui.gui.scatter import ScatterPanel
from speakerid_gui.gui.shortcuts import ShortcutSheet
from speakerid_gui.gui.small_screen import guard_review_split
from speakerid_gui.gui.start_page import RecentProjects, StartPage
from speakerid_gui.gui.background_tasks import BackgroundTasks
from speakerid_gui.gui.edit_commands import EditCommands
from speakerid_gui.gui.learning_tasks import LearningTasks
from speakerid_gui.gui.project_pages import APP_NAME, ProjectPages
from speakerid_gui.gui.review_queue import ReviewQueue
from speakerid_gui.gui.timeline import TimelineTasks
from speakerid_gui.gui.review_answers import ReviewAnswers
from speakerid_gui.gui.workers import Job

PROSODY_CURVES = 6  # segments overlaid in the pitch/energy plots


class MainWindow(ProjectPages, TimelineTasks, LearningTasks, ReviewQueue, ReviewAnswers, EditCommands, BackgroundTasks, QMainWindow):
    def __init__(self, player: Player | None = None, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings("speakerid-gui", "speakerid-gui")
        self.recent = RecentProjects(self.settings)
        self.player = player or SoundDevicePlayer(self)
        self.session: ReviewSession | None = None
        self.jobs: list[Job] = []
        self.pipeline: Job | None = None
        self.current_cluster: int | None = None
        self.current_segment: int | None = None
        self.queue = np.zeros(0, np.int64)   # the current cluster's members, closest to its centre first
        self.active_dialog = None            # the open dialog (tests drive it)
        self.last_error: str | None = None
        self.last_export = None
        self._close_when_idle = False
        self.setWindowTitle(APP_NAME)
        self._build()
        self._make_actions()
        self._build_answers()  # before the Learn menu: its actions join it (review_answers.py)
        self._build_learning()  # Review-next panel, Learn menu (learning_tasks.py)
        self._split_guard = guard_review_split(self)  # a small window squeezes the panel, not the plots
        route_keys(self, self.clusters.table)  # shortcuts work whatever has focus (keys.py)
        self.player.started.connect(lambda tag: self._playing_changed(True))
        self.player.stopped.connect(self._playback_stopped)
        self.player.failed.connect(self._playback_failed)
        self._position_timer = QTimer(self, interval=30)
        self._position_timer.timeout.connect(self._show_position)
        self.show_start_page()
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1480, 920)

    # ---- construction ---------------------------------------------------------------------------
    def _build(self):
        self.start_page = StartPage()
        self.start_page.new_requested.connect(self.ask_new_project)
        self.start_page.open_requested.connect(self.ask_open_project)
        self.start_page.demo_requested.connect(self.start_demo)
        self.start_page.recent_chosen.connect(self.open_project)

        self.clusters = ClusterPanel()
        self.clusters.restore_sort(self.settings)  # the reviewer's last sort, across restarts
        self.clusters.current_changed.connect(self._on_current_cluster)
        self.scatter = ScatterPanel()
        self.scatter.describe = self._describe_segment
        self.scatter.point_clicked.connect(self._on_point_clicked)
        self.scatter.selection_changed.connect(self._on_segment_selection)
        self.inspector = Inspector()
        self.inspector.play_requested.connect(lambda i: self.show_segment(i, play=True))
        self.inspector.segment_chosen.connect(lambda i: self.show_segment(i))
        self.inspector.step_requested.connect(self.step_segment)
        self.inspector.play_toggled.connect(self.toggle_play)
        self.progress = ProgressPanel()
        self.progress.cancel_requested.connect(self.cancel_pipeline)
        self.progress.hide()
        self.resume_banner = ResumeBanner()
        self.resume_banner.resume_requested.connect(self.resume_pipeline)
        self.read_only_banner = ReadOnlyBanner()
        self.read_only_banner.retry_requested.connect(self.retry_writable)
        self.project_lock = None  # this window's writer lock on its project (project_access.py)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.clusters)
        self.splitter.addWidget(self.scatter)
        self.splitter.addWidget(self.inspector)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setStretchFactor(2, 3)
        self.splitter.setSizes([320, 660, 500])
        review = QWidget()
        layout = QVBoxLayout(review)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.addWidget(self.progress)
        layout.addWidget(self.resume_banner)
        layout.addWidget(self.read_only_banner)
        layout.addWidget(self.splitter, 1)
        self.review_page = review

        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.review_page)
        self.setCentralWidget(self.stack)

        self.evaluation = EvaluationPanel()
        self.evaluation.evaluate_requested.connect(self.evaluate)
        self.evaluation.import_requested.connect(self.ask_import_reference)
        self.evaluation_dock = QDockWidget("Evaluation against reference labels", self)
        self.evaluation_dock.setObjectName("evaluation")
        self.evaluation_dock.setWidget(self.evaluation)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.evaluation_dock)
        self.evaluation_dock.hide()
        self.evaluation_dock.visibilityChanged.connect(
            lambda visible: visible and self.resizeDocks([self.evaluation_dock], [190], Qt.Orientation.Vertical))

        self.audio_status = QLabel("")
        self.statusBar().addPermanentWidget(self.audio_status)

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
        spec = {
            "&File": [
                ("new", "New project from a folder…", ["Ctrl+N"], self.ask_new_project, False),
                ("open", "Open project…", ["Ctrl+O"], self.ask_open_project, False),
                ("demo", "Try the demo", [], self.start_demo, False),
                ("resume", "Resume analysis", [], self.resume_pipeline, True),
                None,
                ("export", "Export labels…", ["Ctrl+E"], self.ask_export, True),
                ("import_reference", "Import reference labels…", ["Ctrl+I"], self.ask_import_reference, True),
                None,
                ("close_project", "Close project", ["Ctrl+W"], self.close_project, True),
                ("quit", "Quit", ["Ctrl+Q"], self.close, False),
            ],
            "&Edit": [
                ("undo", "Undo", ["Ctrl+Z"], self.undo, True),
                ("redo", "Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], self.redo, True),
                None,
                ("merge_similar", "Merge with most similar cluster", ["M"], self.merge_with_most_similar, True),
                ("merge_selected", "Merge selected clusters", ["Shift+M"], self.merge_selected, True),
                ("split", "Split cluster…", ["S"], self.ask_split, True),
                ("move", "Move selected segments…", ["Ctrl+M"], self.ask_move, True),
                ("rename", "Name cluster…", ["N", "F2"], self.ask_rename, True),
                ("verify", "Verify cluster", ["V"], self.verify_cluster, True),
                ("verify_segments", "Verify selected segments", ["Shift+V"], self.verify_segments, True),
                ("noise", "Mark as noise", ["X"], self.mark_noise, True),
                ("clear_selection", "Clear segment selection", ["Esc"], self.scatter.clear_selection, True),
                None,
                ("recluster", "Re-cluster…", [], self.ask_recluster, True),
            ],
            "&Review": [
                ("next_cluster", "Next cluster", ["J", "Down"], lambda: self.clusters.step(1), True),
                ("prev_cluster", "Previous cluster", ["K", "Up"], lambda: self.clusters.step(-1), True),
                ("play", "Play / stop", ["Space"], self.toggle_play, True),
                ("next_segment", "Next segment", ["Right", "L"], lambda: self.step_segment(1), True),
                ("prev_segment", "Previous segment", ["Left", "H"], lambda: self.step_segment(-1), True),
                ("auto_advance", "Auto-advance while listening", ["A"], None, True),
                *self.timeline_actions(),
                ("library", "Speaker library…", ["Ctrl+L"], self.ask_library, True),
                ("find_cluster", "Filter clusters by name (Esc leaves the box)", ["Ctrl+F"], self.focus_filter, True),
            ],
            "&View": [
                ("dim", "Dim other clusters", ["D"], None, True),
                ("reset_view", "Reset zoom", ["R", "Home"], self.scatter.reset_view, True),
                ("mode_pan", "Pan mode", ["Ctrl+1"], lambda: self.scatter.set_mode("pan"), True),
                ("mode_rect", "Rectangle selection mode", ["Ctrl+2"], lambda: self.scatter.set_mode("rect"), True),
                ("mode_lasso", "Lasso selection mode", ["Ctrl+3"], lambda: self.scatter.set_mode("lasso"), True),
                ("show_evaluation", "Evaluation panel", ["Ctrl+Shift+E"], None, True),
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
        file_menu = self.menuBar().actions()[0].menu()
        self.recent_menu = file_menu.addMenu("Recent projects")
        file_menu.insertMenu(self.action("resume"), self.recent_menu)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)

    def focus_filter(self):
        self.clusters.filter.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.clusters.filter.selectAll()

    def action(self, name: str) -> QAction:
        return self.actions_by_name[name]

    def _update_actions(self):
        has = self.session is not None
        busy = self.pipeline is not None or (has and self.session.project.read_only)  # no edit either way
        for action in self.project_actions:
            action.setEnabled(has)
        edits = ["undo", "redo", "merge_similar", "merge_selected", "split", "move", "rename", "verify",
                 "verify_segments", "noise", "recluster"]
        for name in edits:
            self.action(name).setEnabled(has and not busy)  # the pipeline relabels while it runs
        if has and not busy:
            log = self.session.log  # at the clustering Ctrl+Z still answers: it says why it stops
            self.action("undo").setEnabled(log.can_undo() or log.base() is not None)
            self.action("redo").setEnabled(self.session.log.can_redo())
        self.action("resume").setEnabled(has and not busy and not self.resume_banner.isHidden())
        self._update_learning_actions(has, busy)

    # ---- pages and projects ---------------------------------------------------------------------
    def _load_project_view(self):
        """Draw everything from the session: layout, labels, cluster list, largest cluster."""
        s = self.session
        xy, source = s.layout()
        self.scatter.set_data(xy, s.project.cluster, s.project.verified, s.project.noise, self._colors(),
                              {"layout": "", "pca": "PCA layout", "none": ""}[source])
        self._refresh_clusters()
        if self.current_cluster is None or self.current_cluster not in s.project.cluster_sizes():
            self.select_largest_cluster()

    def select_largest_cluster(self):
        sizes = self.session.project.cluster_sizes() if self.session else {}
        if sizes:
            self.clusters.select_cluster(max(sizes, key=sizes.get))

    # ---- drawing from the project ----------------------------------------------------------------
    def _colors(self) -> dict[int, str]:
        clusters = self.session.project.clusters
        return {cid: cluster_color(cid, clusters) for cid in clusters}

    def _refresh_clusters(self, stats=None, change=None):
        p = self.session.project
        stats = stats if stats is not None else self.session.cluster_stats()
        self.clusters.refresh(stats, p.cluster_name, lambda c: cluster_color(c, p.clusters), change)
        return stats

    def _describe_segment(self, index: int) -> str:
        if self.session is None:
            return ""
        return f"{self.session.segment_label(index)}\n{self.session.project.cluster_name(int(self.session.project.cluster[index]))}"

    def _on_current_cluster(self, cluster_id):
        self.current_cluster = cluster_id
        self.scatter.set_focus(cluster_id)
        if cluster_id is None or self.session is None:
            self.queue = np.zeros(0, np.int64)
            self.inspector.clear()
            return
        self._show_cluster(cluster_id, keep_segment=False)

    def _show_cluster(self, cluster_id: int, keep_segment: bool):
        s, p = self.session, self.session.project
        self.queue = s.ranked_members(cluster_id)
        n = len(self.queue)
        members = self.queue
        title = p.cluster_name(cluster_id)
        subtitle = (f"cluster {cluster_id} · {plural(n, 'segment')} · confidence {p.confidence[members].mean():.2f} · "
                    f"{p.verified[members].mean():.0%} verified" if n else "empty")
        reps = [(int(i), s.segment_label(int(i), short=True)) for i in self.queue[:8]]
        outliers = [(int(i), s.segment_label(int(i), short=True)) for i in self.queue[::-1][:min(8, n // 2)]]
        color = cluster_color(cluster_id, self.session.project.clusters)
        self.inspector.set_cluster(title, subtitle, color, reps, outliers)
        if keep_segment and self.current_segment is not None and self.current_segment in self.queue:
            self.show_segment(self.current_segment)
        elif n:
            self.show_segment(int(self.queue[0]))
        else:
            self.show_segment(None)

    # ---- segments and playback ------------------------------------------------------------------------
    def show_segment(self, index: int | None, play: bool = False):
        """Make a segment current: spectrogram, prosody overlay, marker; optionally play it."""
        self.current_segment = None if index is None else int(index)
        self.scatter.set_current(self.current_segment)
        if index is None or self.session is None:
            self.inspector.show_segment(None, "", None, [])
            return
        s = self.session
        try:
            wave = s.read_segment(index)
        except AudioError as exc:  # moved, deleted or replaced audio: the message names the file
            self.statusBar().showMessage(f"Cannot read {exc}", 8000)
            wave = None
        except Exception as exc:  # noqa: BLE001  (any decoder failure: say which file)
            path, start, end = s.segment_span(index)
            self.statusBar().showMessage(f"Cannot read {path}: {exc}", 8000)
            wave = None
        if play and wave is not None:  # sound first: the spectrogram and curves are drawn while it plays
            self.play_wave(wave, index)
        curves = [(self._prosody(index, wave), True)]
        others = [int(i) for i in self.queue[:PROSODY_CURVES] if int(i) != index][:PROSODY_CURVES - 1]
        curves += [(self._prosody(i), False) for i in others]
        self.inspector.show_segment(index, s.segment_label(index), wave, curves)

    def _prosody(self, index: int, wave=None):
        try:
            return self.session.segment_prosody(index, wave)
        except Exception:  # curves are a help, not a requirement
            return None

    def play_segment(self, index: int):
        self.show_segment(index, play=True)

    def play_wave(self, wave: np.ndarray, index: int):
        self.player.play(wave, 16000, index)

    def toggle_play(self):
        if self.player.is_playing():
            self.player.stop()
        elif self.current_segment is not None:
            self.show_segment(self.current_segment, play=True)
        elif len(self.queue):
            self.show_segment(int(self.queue[0]), play=True)

    def step_segment(self, delta: int):
        if not len(self.queue):
            return
        where = np.flatnonzero(self.queue == self.current_segment)
        pos = int(where[0]) + delta if len(where) else 0
        if 0 <= pos < len(self.queue):
            self.show_segment(int(self.queue[pos]), play=True)
        else:
            self.statusBar().showMessage("End of the cluster: J/K for the next/previous cluster.", 4000)

    def _playing_changed(self, playing: bool):
        self.inspector.set_playing(playing)
        if playing:
            self._position_timer.start()
        else:
            self._position_timer.stop()

    def _playback_stopped(self, completed: bool):
        self._playing_changed(False)
        if completed and self.inspector.auto_advance.isChecked():
            where = np.flatnonzero(self.queue == self.current_segment)
            if len(where) and where[0] + 1 < len(self.queue):
                QTimer.singleShot(150, self, lambda: self.step_segment(1))  # dropped if the window goes

    def _playback_failed(self, message: str):
        self.audio_status.setText("No audio output")
        self.audio_status.setToolTip(message)
        self.statusBar().showMessage(message, 10000)

    def _show_position(self):
        if self.player.tag == self.current_segment:
            self.inspector.spectrogram.set_position(self.player.position())

    # ---- scatter interaction ------------------------------------------------------------------------
    def _on_point_clicked(self, index: int):
        cluster_id = int(self.session.project.cluster[index])
        if cluster_id != NOISE and cluster_id != self.current_cluster:
            self.clusters.select_cluster(cluster_id)
        self.scatter.clear_selection()
        self.show_segment(index, play=True)

    def _on_segment_selection(self, selection):
        if len(selection):
            self.statusBar().showMessage(f"{plural(len(selection), 'segment')} selected: Ctrl+M moves them, X marks them as "
                                         "noise, Shift+V verifies them, Esc clears.")

    def selected_segments(self) -> np.ndarray:
        """What segment edits act on: the scatter selection, else the current segment."""
        if len(self.scatter.selection):
            return self.scatter.selection
        return np.array([self.current_segment] if self.current_segment is not None else [], np.int64)

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
        box.open()

    def show_shortcuts(self):
        self._open_dialog(ShortcutSheet(self.menu_groups, self))

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
        if self.session is not None:
            self.session.project.close()
            self.session = None
        if self.project_lock is not None:
            self.project_lock.release()
        event.accept()

