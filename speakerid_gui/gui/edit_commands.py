"""Edit commands controller of the main window: every label change goes through the
project's EditLog, whose listener (on_edit) redraws what the edit's Change says changed and,
after undo or redo, puts the selection back where the Change says.

Given: the ReviewState, the window (parent of the dialogs, and where the split dialog goes),
the cluster list, the scatter, the review-selection controller (colours, the cluster list's
rows, the inspector's cluster, what segment edits act on), `show_segment`, the status bar,
`open_dialog`, `show_error`, `start_job`, `update_actions` and `start_pipeline` (re-clustering).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject

from speakerid_gui.core.project.edit_record import Change, Selection
from speakerid_gui.core.palette import cluster_color, contrasting
from speakerid_gui.core.text import plural
from speakerid_gui.gui import jobs
from speakerid_gui.gui.edit_dialogs import MoveDialog, RenameDialog, SplitDialog
from speakerid_gui.gui.workers import Job


# what an edit command may refuse with: a rule (ValueError, KeyError; a read-only project is a
# ValueError) said in the status bar, the disk (OSError, e.g. WriteFailed) in a dialog
REFUSALS = (ValueError, KeyError, OSError)


class EditCommands(QObject):
    def __init__(self, state, window, clusters, scatter, review, show_segment, status, open_dialog, show_error,
                 start_job, update_actions, start_pipeline):
        super().__init__(window)
        self.state, self.window, self.clusters, self.scatter, self.review = state, window, clusters, scatter, review
        self.show_segment, self.status, self.open_dialog, self.show_error = show_segment, status, open_dialog, show_error
        self.start_job, self.update_actions, self.start_pipeline = start_job, update_actions, start_pipeline
        self._pending_merge = None

    def attach(self, session):
        """A project opened: redraw after each of its edits, and store the reviewer's place with each."""
        session.log.listeners.append(self.on_edit)
        session.log.selection_source = self.selection_now  # stored with every edit, for undo / redo

    # ---- what an edit changed, and the selection ------------------------------------------------------
    def on_edit(self, change: Change):
        """EditLog listener: the scatter and the cluster list follow the Change; after undo / redo
        the selection goes where it says; the inspector is redrawn only if its cluster gained or
        lost segments, a turn of it moved, or a cluster row changed."""
        p = self.state.session.project
        if change.resized:  # a turn cut (or a cut undone): a point more or less, where its parent is
            xy, _ = self.state.session.layout()
            self.scatter.set_data(xy, p.cluster, p.verified, p.noise, self.review.colors(), keep_view=True)
        else:
            self.scatter.apply_change(change, p.cluster, p.verified, p.noise, self.review.colors())
        # an edit that emptied the cluster under review says where the reviewer goes (a move: to
        # its target): the list goes straight there, not via "none" and the largest cluster
        goes = change.selection if change.action == "do" and change.selection is not None and \
            self.state.current_cluster in change.removed else None
        stats = self.review.refresh_clusters(change=change, then=goes.current if goes else None)
        restore = change.selection if change.action != "do" else None
        drawn = goes is not None and self.state.current_cluster == goes.current  # by the switch
        if not drawn and not self._restore_clusters(restore, stats):
            current = self.state.current_cluster
            if current is not None and current in stats.ids:
                if (not len(change.positions) and not len(change.bounds)) or change.touches(current) or \
                        (p.cluster[change.bounds] == current).any():
                    self.review.show_cluster(current, keep_segment=True)
            elif self.clusters.current_id() is None:
                self.review.select_largest_cluster()
        if restore is not None:
            self._restore_segments(restore)
        self.update_actions()

    def selection_now(self) -> Selection:
        """The reviewer's place, stored with every edit (EditLog.selection_source)."""
        return Selection(tuple(int(c) for c in self.clusters.selected_ids()), self.state.current_cluster,
                         tuple(np.asarray(self.scatter.selection, np.int64).tolist()), self.state.current_segment)

    def _restore_clusters(self, selection: Selection | None, stats=None) -> bool:
        """Select the clusters of `selection` that still exist; True if that made another cluster
        current (whose handlers then redrew the inspector)."""
        if selection is None or selection.current is None:
            return False
        if selection.current == self.clusters.current_id() and \
                list(selection.clusters or (selection.current,)) == self.clusters.selected_ids():
            return False  # there already (the edit's listener went there): no stats to count
        alive = set((stats if stats is not None else self.state.session.cluster_stats()).ids.tolist())
        if selection.current not in alive:
            return False
        ids = [c for c in selection.clusters if c in alive] or [selection.current]
        if ids == self.clusters.selected_ids() and selection.current == self.clusters.current_id():
            return False
        switched = selection.current != self.state.current_cluster
        self.clusters.select_ids(ids, selection.current)
        return switched

    def _restore_segments(self, selection: Selection):
        n = self.state.session.project.n_segments
        self.scatter.set_selection([i for i in selection.segments if i < n], emit=False)
        segment = selection.segment
        if segment is not None and segment != self.state.current_segment and segment in self.state.queue:
            self.show_segment(segment)

    # ---- edits ---------------------------------------------------------------------------------------
    def edit(self, fn, *args, **kwargs):
        """Run one EditLog command; a refused edit becomes a status message, not a crash."""
        try:
            return fn(*args, **kwargs)
        except REFUSALS as exc:
            self._say_refused(exc)
            return None

    def _say_refused(self, exc: Exception):
        if isinstance(exc, OSError):  # the disk refused the project's file (full, read-only, gone)
            self.show_error(f"This edit was not made: {exc}", "Could not save")
        else:
            self.status.showMessage(str(exc), 6000)

    def _need_cluster(self) -> int | None:
        if self.state.current_cluster is None:
            self.status.showMessage("Select a cluster first (J/K or click one).", 4000)
        return self.state.current_cluster

    def undo(self):
        try:
            edit = self.state.session.log.undo()
        except REFUSALS as exc:
            return self._say_refused(exc)
        if edit is None and self.state.session.log.base() is not None:
            self.status.showMessage("Nothing to undo: undo stops at the clustering "
                                         "(Edit ▸ Re-cluster… clusters again).", 6000)
            return
        self.status.showMessage(f"Undone: {edit.description}" if edit else "Nothing to undo.", 5000)

    def redo(self):
        try:
            edit = self.state.session.log.redo()
        except REFUSALS as exc:
            return self._say_refused(exc)
        self.status.showMessage(f"Redone: {edit.description}" if edit else "Nothing to redo.", 5000)

    def merge_selected(self):
        ids = self.clusters.selected_ids()
        if len(ids) < 2:
            self.status.showMessage("Select two or more clusters (Ctrl/Shift+click in the list) to merge them.", 5000)
            return
        self.merge(ids)

    def merge_with_most_similar(self):
        cid = self._need_cluster()
        if cid is None:
            return
        found = self.state.session.most_similar(cid)
        if found is None:
            self.status.showMessage("No other cluster to merge with (or no embeddings yet).", 5000)
            return
        other, similarity = found
        pending = self._pending_merge
        if pending != (cid, other):
            # First M: show and play the target, so nothing merges into a cluster never heard.
            self._pending_merge = (cid, other)
            rep = int(self.state.session.representatives(other, 1)[0])
            self.scatter.set_selection([rep], emit=False)
            self.show_segment(rep, play=True)
            p = self.state.session.project
            self.status.showMessage(f"Most similar to {p.cluster_name(cid)}: {p.cluster_name(other)} "
                                         f"(cosine {similarity:.2f}), playing it. M again merges them.", 15000)
            return
        self._pending_merge = None
        self.merge([cid, other], f" (cosine similarity {similarity:.2f})")

    def merge(self, ids: list[int], note: str = ""):
        p = self.state.session.project
        names = {c: p.cluster_name(c) for c in ids}
        change = self.edit(self.state.session.log.merge, ids)
        if change is None:
            return
        self._restore_clusters(change.selection)  # the selection followed the merged clusters into the target
        into = change.destinations()  # merged cluster -> the cluster it went into
        if into:
            merged = ", ".join(names[c] for c in ids if c in into)
            self.status.showMessage(f"Merged {merged} into {p.cluster_name(next(iter(into.values())))}"
                                         f"{note}. Ctrl+Z undoes.", 8000)

    def ask_split(self):
        cid = self._need_cluster()
        if cid is None:
            return None
        members = self.state.session.members(cid)
        if len(members) < 2:
            self.status.showMessage("A cluster needs at least two segments to be split.", 5000)
            return None
        if self.state.session.X is None:
            self.show_error("This project has no embeddings yet: run the analysis before splitting.")
            return None
        dialog = SplitDialog(self.state.session.project.cluster_name(cid), len(members), self.window)
        dialog.propose.connect(lambda k: self._propose_split(dialog, cid, members, k))
        dialog.play_part.connect(lambda part: self._play_split_part(dialog, members, part))
        dialog.accepted.connect(lambda: self._apply_split(dialog, cid))
        dialog.finished.connect(lambda _: self.scatter.clear_preview())
        self.open_dialog(dialog)
        self._beside_scatter(dialog)
        self._propose_split(dialog, cid, members, None)
        return dialog

    def _beside_scatter(self, dialog):
        """Put the dialog right of the scatter (over the inspector): the proposal it describes is
        coloured in the scatter, which a centred dialog covered."""
        from PySide6.QtCore import QPoint

        left = self.scatter.mapToGlobal(QPoint(self.scatter.width(), 0))
        right = self.window.mapToGlobal(QPoint(self.window.width(), 0)).x()
        width = max(dialog.minimumSizeHint().width(), min(480, right - left.x() - 8))
        dialog.resize(width, dialog.height())
        dialog.move(max(self.window.mapToGlobal(QPoint(0, 0)).x(), min(left.x() + 8, right - width)), left.y())

    def _propose_split(self, dialog: SplitDialog, cid: int, members: np.ndarray, k):
        dialog.set_busy("Estimating the parts…" if k is None else f"Splitting into {k}…")
        p = self.state.session.project
        job = Job(f"split {cid}", jobs.split_job, self.state.session.X, p.cluster.copy(), members,
                  p.seg_end - p.seg_start, k, parent=self)
        dialog.pending = job  # only the latest proposal of a still-open dialog counts

        def done(labels):
            if getattr(dialog, "pending", None) is not job or not dialog.isVisible():
                return
            parts, inverse = np.unique(labels, return_inverse=True)
            ids = np.array([cid] + self.state.session.log.new_cluster_ids(len(parts) - 1))
            base = cluster_color(cid, self.state.session.project.clusters)
            colors = [base] + contrasting(base, len(parts) - 1)
            self.scatter.show_preview(members, ids[inverse], dict(zip(ids[1:].tolist(), colors[1:])))
            dialog.set_proposal(labels, colors)
            dialog.part_colors = colors[1:]

        job.succeeded.connect(done)
        job.failed.connect(lambda msg: dialog.isVisible() and dialog.set_failed(f"Split failed: {msg}"))
        self.start_job(job)

    def _play_split_part(self, dialog: SplitDialog, members: np.ndarray, part: int):
        """Play a proposed part: its segment closest to the part's centre, then the next closest
        each time the part is played again."""
        if dialog.labels is None or self.state.session is None or self.state.session.X is None:
            return
        parts = np.unique(dialog.labels)
        if not 0 <= part < len(parts):
            return
        mine = members[dialog.labels == parts[part]]
        X = self.state.session.X[mine]
        centre = X.mean(axis=0)
        order = mine[np.argsort(-(X @ centre))]
        turn = dialog.played.get(part, -1) + 1
        dialog.played[part] = turn
        index = int(order[turn % len(order)])
        self.show_segment(index, play=True)
        dialog.status.setText(f"Playing part {part + 1}: {self.state.session.segment_label(index, short=True)} "
                              f"({turn % len(order) + 1} of {len(order)}). Play again for the next one.")

    def _apply_split(self, dialog: SplitDialog, cid: int):
        self.scatter.clear_preview()
        if dialog.labels is None:
            return
        if self.edit(self.state.session.log.split, cid, dialog.labels, getattr(dialog, "part_colors", None)) is not None:
            self.status.showMessage(f"Split {self.state.session.project.cluster_name(cid)} into "
                                         f"{plural(len(np.unique(dialog.labels)), 'cluster')}. Ctrl+Z undoes.", 8000)

    def ask_move(self):
        index = self.review.selected_segments()
        if not len(index):
            self.status.showMessage("Select segments first (rectangle or lasso in the scatter).", 5000)
            return None
        p = self.state.session.project
        stats = self.state.session.cluster_stats()
        order = np.argsort(-stats.size)
        clusters = [(int(c), f"{p.cluster_name(int(c))} ({plural(int(n), 'segment')})", cluster_color(int(c), p.clusters))
                    for c, n in zip(stats.ids[order], stats.size[order])]
        dialog = MoveDialog(len(index), clusters, self.window)
        dialog.accepted.connect(lambda: self.move_segments(index, dialog.target_id(), dialog.new_name.text().strip()))
        self.open_dialog(dialog)
        return dialog

    def move_segments(self, index, target: int | None, name: str = ""):
        index = np.asarray(index, np.int64)
        log = self.state.session.log
        target = log.new_cluster_ids(1)[0] if target is None else int(target)  # a new cluster: its id now
        after = replace(self.selection_now(), clusters=(target,), current=target, segments=())
        change = self.edit(log.move, index, target, name, after=after)
        if change is None:
            return
        self._restore_segments(change.selection)
        self._restore_clusters(change.selection)
        self.status.showMessage(f"Moved {plural(len(index), 'segment')} to {self.state.session.project.cluster_name(target)}. "
                                     "Ctrl+Z undoes.", 8000)

    def ask_rename(self):
        cid = self._need_cluster()
        if cid is None:
            return None
        p = self.state.session.project
        info = p.clusters.get(cid, {})
        sizes = p.cluster_sizes()
        taken = {i["name"]: (c, sizes[c]) for c, i in p.clusters.items() if i.get("name") and c != cid and c in sizes}
        dialog = RenameDialog(info.get("name", ""), self.state.session.cluster_names(), self.window, taken)
        dialog.accepted.connect(lambda: self._rename(cid, dialog.name(), dialog.merge_into()))
        self.open_dialog(dialog)
        return dialog

    def _rename(self, cid: int, name: str, merge_into: int | None):
        if merge_into is None:
            p = self.state.session.project
            old = p.cluster_name(cid)
            if self.edit(self.state.session.log.rename, cid, name) is not None:
                self.status.showMessage(f"{old} is now {p.cluster_name(cid)}. Ctrl+Z undoes.", 5000)
            return
        from speakerid_gui.core.learn.constrained import answer_named_same

        s = self.state.session
        p = s.project
        old, target = p.cluster_name(cid), p.cluster_name(merge_into)
        if not p.read_only:  # the name says "same speaker", as accepting the pair would
            answer_named_same(p, s.X, cid, merge_into, self.state.current_segment)
        if self.edit(s.log.merge, [merge_into, cid], into=merge_into) is not None:
            self.status.showMessage(f"Merged {old} into {target}, the cluster already named so. Ctrl+Z undoes.", 8000)

    def verify_cluster(self):
        cid = self._need_cluster()
        if cid is not None and self.edit(self.state.session.log.verify_cluster, cid) is not None:
            self.status.showMessage(f"Verified every segment of {self.state.session.project.cluster_name(cid)}.", 5000)

    def verify_segments(self):
        index = self.review.selected_segments()
        if len(index) and self.edit(self.state.session.log.verify, index) is not None:
            self.status.showMessage(f"Verified {plural(len(index), 'segment')}.", 5000)

    def mark_noise(self):
        index = self.review.selected_segments()
        if not len(index):
            return
        # the segment after the current one, so the review goes on where it was
        where = np.flatnonzero(self.state.queue == self.state.current_segment)
        following = [int(i) for i in self.state.queue[int(where[0]) + 1:]] if len(where) else []
        marked = set(index.tolist())
        nxt = next((i for i in following if i not in marked), None)
        after = replace(self.selection_now(), segments=(), segment=nxt)
        change = self.edit(self.state.session.log.mark_noise, index, after=after)
        if change is None:
            return
        self._restore_segments(change.selection)
        self.status.showMessage(f"Marked {plural(len(index), 'segment')} as noise. Ctrl+Z undoes.", 5000)

    # ---- re-clustering (a command of its own, not an edit) ----------------------------------------------
    def ask_recluster(self):
        from speakerid_gui.gui.recluster import ReclusterDialog, project_settings, start_recluster, undoable_edits

        if self.state.session is None or self.state.pipeline is not None:
            return None
        p = self.state.session.project
        dialog = ReclusterDialog(project_settings(p), len(p.cluster_sizes()), undoable_edits(self.state.session.log), self.window)
        dialog.accepted.connect(lambda: start_recluster(self.state.session.project, self.start_pipeline, dialog.settings()))
        self.open_dialog(dialog)
        return dialog
