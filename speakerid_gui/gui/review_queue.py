"""The "Review next" queue controller of the main window: the ranked suggestions, their keys
(G next, Shift+G previous, Y accept) and the playlist of a suggestion's segments.

The queue is ranked in a plain worker thread on its own Project connection after each burst
of edits (debounced); every edit bumps a label version (`_label_serial`) and a ranking made
from an older version is shown as out of date, then ranked again.

Given: the ReviewState (session, label version, current cluster, the running analysis), the
Review-next panel, the cluster list, the scatter, the player (a suggestion's playlist follows
its `stopped`), `auto_advance` (is the inspector's auto-advance on), `show_segment`, the edit
controller (merge, split, move, rename through its guarded `edit`), the answers controller and
the status bar. A suggestion's cluster is made current through the state when the list does
not switch to it (filtered out).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from speakerid_gui.core.project.store import NOISE
from speakerid_gui.core.text import plural
from speakerid_gui.gui import learning_jobs
from speakerid_gui.gui.suggestions_panel import KIND_TITLES, suggestion_key
from speakerid_gui.gui.workers import describe, plain_thread

SUGGESTIONS = 50      # length of the review queue
DEBOUNCE_MS = 400     # re-rank this long after the last edit (a burst of edits costs one job)
PLAY_GAP_MS = 250     # pause between the segments of one suggestion
PANEL_HEIGHT = 190    # px of the Review-next panel under the review row

KEYS = {"pair": "Y merges · Shift+Y different · G next", "mixed": "Y splits · G next",
        "segment": "Y moves it · G next", "name": "Y verifies and names it · G next",
        "spread": "Ctrl+M / X / Shift+V on the ringed segments · G next"}
HINTS = {
    "pair": "Playing {a} then {b}. Y merges them; Shift+Y: different speakers; G goes on.",
    "name": "Playing the most typical segment of {a}. Y verifies it and asks for a name; G goes on.",
    "mixed": "Playing one segment of each group. Y splits {a} in two; G goes on.",
    "segment": "Y moves it to {b}; X marks it as noise; Shift+V verifies it where it is; G goes on.",
    "spread": "Playing its farthest segments (ringed in the map): Ctrl+M moves them, X marks them as noise, "
              "Shift+V verifies them; G goes on.",
}


# ---- ranking the review queue off the GUI thread -------------------------------------------------------
class _Delivery(QObject):
    done = Signal(object)  # (session, label version, suggestions or None, error text)


def _rank(delivery: _Delivery, folder, session, serial: int):
    try:
        payload = (session, serial, learning_jobs.rank_suggestions(folder, SUGGESTIONS), "")
    except Exception as exc:  # no embeddings yet, caches out of step...: said in the panel
        payload = (session, serial, None, describe(exc))
    delivery.done.emit(payload)


class ReviewQueue(QObject):
    def __init__(self, state, panel, clusters, scatter, player, auto_advance, show_segment, edits, answers, status,
                 parent=None):
        super().__init__(parent)
        self.state, self.review_next, self.clusters, self.scatter, self.player = state, panel, clusters, scatter, player
        self.auto_advance, self.show_segment, self.edits, self.answers = auto_advance, show_segment, edits, answers
        self.status = status
        self.suggestions_job = None                # the running ranking (a Future)
        self._suggestions_serial = -1              # the label version the shown queue was ranked from
        self._suggestions_dirty = True
        self._seen: set[tuple] = set()             # suggestions the reviewer has gone to (G skips them)
        self._suggestion_pos = -1
        self._playlist: list[int] = []             # the rest of the current suggestion's segments
        self._playlist_after: int | None = None
        self._playlist_serial = -1                 # the labels it was made for: an edit ends it
        self._delivery = None

        panel.chosen.connect(self.go_to_suggestion)
        panel.next_requested.connect(self.next_suggestion)
        panel.accept_requested.connect(self.accept_suggestion)
        panel.refresh_requested.connect(self.refresh_suggestions)
        self._suggest_timer = QTimer(self)
        self._suggest_timer.setSingleShot(True)
        self._suggest_timer.setInterval(DEBOUNCE_MS)
        self._suggest_timer.timeout.connect(self._start_suggestions)
        player.stopped.connect(self._continue_playlist)

    def project_closed(self):
        self._suggest_timer.stop()
        self._playlist = []
        self.review_next.clear()

    def labels_may_change(self, busy: bool, has_project: bool):
        """From the window's action update: while the pipeline relabels the queue must be ranked
        again when it is done; after it, it is."""
        if busy:
            self._suggestions_dirty = True
        elif has_project and self._suggestions_dirty and self.suggestions_job is None:
            self._schedule_suggestions()

    # ---- the review queue -------------------------------------------------------------------------------
    def project_opened(self, session):
        """A project opened: a fresh queue, and re-rank after every edit of this session's log."""
        self.state.label_serial += 1
        self._seen.clear()
        self.answers.project_opened()
        self._suggestion_pos = -1
        self._playlist = []
        self.review_next.clear()
        self.review_next.set_status("Ranking suggestions…")
        session.log.listeners.append(self._on_edit)
        self._suggestions_dirty = True
        self._schedule_suggestions()

    def _on_edit(self, change):
        self.answers.on_edit(change.tag)  # "undo:merge" is no answer
        self.review_next.mark_stale(change.clusters())
        self.state.label_serial += 1
        self._suggestions_dirty = True
        self._schedule_suggestions()

    def _schedule_suggestions(self):
        self._suggest_timer.start()

    def refresh_suggestions(self):
        self._suggestions_dirty = True
        self._start_suggestions()

    def _start_suggestions(self):
        """Rank the queue in a worker thread (seconds at 100k segments); one at a time, the latest labels win."""
        if self.state.session is None or self.suggestions_job is not None:
            return  # dirty stays set: the running ranking's end schedules another
        if self.state.pipeline is not None:  # the analysis relabels as it goes; its end schedules the ranking
            self.review_next.set_status("Suggestions come when the analysis is done.")
            return
        p = self.state.session.project
        if p.n_segments == 0 or not p.cluster_sizes():
            self.review_next.set_status("No clusters yet: suggestions come once the analysis has clustered.")
            return
        self._suggestions_dirty = False
        self.review_next.set_status("Ranking suggestions…" if not self.review_next.items
                                    else "Updating the suggestions after your edit…")
        delivery = _Delivery()  # not the window's child: a late result is emitted into nothing
        delivery.done.connect(self._suggestions_delivered)
        self._delivery = delivery  # alive until the queued result is delivered
        self.suggestions_job = plain_thread("review-next").submit(_rank, delivery, p.folder, self.state.session, self.state.label_serial)
        return self.suggestions_job

    def _suggestions_delivered(self, payload):
        session, serial, items, error = payload
        self.suggestions_job = None
        if session is not self.state.session:
            return  # the project was closed (or another opened) meanwhile
        if error:
            self.review_next.set_status(f"No suggestions: {error}")
        else:
            self._suggestions_serial = serial
            self._suggestion_pos = -1
            stale = serial != self.state.label_serial
            self.review_next.set_items(items, session.project.cluster_name, self._seen,
                                       "Updating after your latest edit…" if stale else "")
        if self._suggestions_dirty:
            self._schedule_suggestions()

    def _suggestion_valid(self, s) -> bool:
        """Still meaningful with the current labels (a merge may have removed one of its clusters)."""
        p = self.state.session.project
        sizes = p.cluster_sizes()
        ids = [int(c) for c in s.cluster_ids]
        if any(c not in sizes for c in ids) or any(int(i) >= p.n_segments for i in s.segment_positions):
            return False
        if s.kind == "pair":
            return ids[0] != ids[1]
        if s.kind == "segment":
            seg = int(s.segment_positions[0])
            return int(p.cluster[seg]) == ids[0] and not p.verified[seg]
        return True

    def next_suggestion(self, delta: int = 1):
        """Go to the next suggestion not yet looked at (delta=-1: back to the previous one)."""
        if self.state.session is None:
            return
        items = self.review_next.items
        if not items:
            self.status.showMessage("Ranking suggestions…" if self.suggestions_job is not None else
                                         "No suggestions: nothing looks uncertain right now.", 5000)
            return
        pos = self._suggestion_pos
        if delta > 0:
            self.answers.skip(self.current_suggestion())
            order = list(range(pos + 1, len(items))) + list(range(0, max(pos + 1, 0)))
            order = [k for k in order if suggestion_key(items[k]) not in self._seen]
        else:
            order = list(range(pos - 1, -1, -1))
        for k in order:
            if self._suggestion_valid(items[k]):
                self.go_to_suggestion(k)
                return
        self.status.showMessage("That was the first suggestion." if delta < 0 else
                                     f"All {len(items)} suggestions looked at: they are ranked again after your "
                                     "next edit (or F5).", 8000)

    def go_to_suggestion(self, row: int):
        """Select the suggestion's clusters and segments, play them in turn, and say why it is here."""
        items = self.review_next.items
        if self.state.session is None or not 0 <= row < len(items):
            return
        s = items[row]
        p = self.state.session.project
        if not self._suggestion_valid(s):
            self.status.showMessage("This suggestion is out of date (its clusters changed); "
                                         "the list is being ranked again.", 6000)
            self.refresh_suggestions()
            return
        self._suggestion_pos = row
        self._seen.add(suggestion_key(s))
        self.review_next.mark_seen(row)
        ids = [int(c) for c in s.cluster_ids]
        segments = [int(i) for i in s.segment_positions]
        home = int(p.cluster[segments[0]]) if p.cluster[segments[0]] != NOISE else ids[0]
        if s.kind == "pair":  # both rows selected: Shift+M merges them too
            self.clusters.select_ids([home] + [c for c in ids if c != home], home)
        else:
            self.clusters.select_cluster(home)
        if self.state.current_cluster != home:  # the list did not switch (e.g. filtered out): show it anyway
            self.state.set_cluster(home)
        self.scatter.set_selection(segments, emit=False)  # ringed; X / Shift+V / Ctrl+M act on them
        self.show_segment(segments[0], play=True)
        self._playlist, self._playlist_after = segments[1:], segments[0]
        self._playlist_serial = self.state.label_serial
        names = [p.cluster_name(c) for c in ids]
        hint = HINTS.get(s.kind, "").format(a=names[0], b=names[-1])
        stop = "" if s.reason.rstrip().endswith(("?", ".", "!")) else "."
        text = f"{KIND_TITLES.get(s.kind, s.kind)} ({row + 1} of {len(items)}): {s.reason}{stop} {hint}"
        self.review_next.set_current(row, text)
        self.status.showMessage(f"Review next {row + 1}/{len(items)}: {s.reason} ({KEYS.get(s.kind, 'G next')})")

    def answer_different(self):
        """Shift+Y: the current suggestion's two voices are different speakers (review_answers.py)."""
        if self.answers.answer_different(self.current_suggestion()):
            self.refresh_suggestions()

    def current_suggestion(self):
        items = self.review_next.items
        return items[self._suggestion_pos] if 0 <= self._suggestion_pos < len(items) else None

    def accept_suggestion(self):
        """Do what the current suggestion proposes: merge a pair, split a mixed cluster, move a segment."""
        s = self.current_suggestion()
        if s is None:
            self.status.showMessage("Press G to go to a suggestion first.", 5000)
            return
        if not self._suggestion_valid(s):
            self.status.showMessage("This suggestion is out of date (its clusters changed): G for the next one.",
                                         6000)
            return
        ids = [int(c) for c in s.cluster_ids]
        if s.kind == "pair":
            self.answers.record_accept(s)
            self.edits.merge(ids, " (review suggestion)")
        elif s.kind == "mixed":
            members = self.state.session.members(ids[0])
            if self._suggestions_serial != self.state.label_serial or len(members) != len(s.parts):
                self.status.showMessage("The cluster changed since this was proposed: ranking again "
                                             "(or S to split it yourself).", 6000)
                self.refresh_suggestions()
                return
            name = self.state.session.project.cluster_name(ids[0])
            self.answers.record_accept(s)  # the parts are different speakers: never proposed back as a merge
            if self.edits.edit(self.state.session.log.split, ids[0], np.asarray(s.parts)) is not None:
                # the second group's voice was just heard: say where it went, so it can be named
                p = self.state.session.project
                part = int(p.cluster[int(s.segment_positions[1])]) if len(s.segment_positions) > 1 else None
                where = (f": {plural(int(np.sum(np.asarray(s.parts) == 1)), 'segment')} went to "
                         f"{p.cluster_name(part)} (select it and press N to name it; a speaker's name merges it into theirs)"
                         if part is not None and part != ids[0] else "")
                self.status.showMessage(f"Split {name} into the two proposed groups{where}. Ctrl+Z undoes.", 10000)
        elif s.kind == "segment":
            self.edits.move_segments([int(s.segment_positions[0])], ids[1])
        elif s.kind == "name":  # the typical segment is this cluster's voice: verify it, then name the cluster
            self.answers.mark_answered(s)
            if self.edits.edit(self.state.session.log.verify, [int(s.segment_positions[0])]) is not None:
                self.edits.ask_rename()
        else:
            self.status.showMessage("Nothing to accept for a wide cluster: move (Ctrl+M) or mark (X) "
                                         "the ringed segments that do not belong.", 6000)

    def _continue_playlist(self, completed: bool):
        """Player stopped: play the suggestion's next segment if the previous one played to its end."""
        finished = self.player.tag
        if self._playlist_serial != self.state.label_serial:
            self._playlist = []  # an edit (a split, say) since: its segments may sit elsewhere now
        if not completed or not self._playlist or finished != self._playlist_after:
            if not completed:
                self._playlist = []  # interrupted (Space, another segment): the sequence ends
            return
        if self.auto_advance():
            return  # auto-advance already walks the cluster
        nxt = self._playlist.pop(0)
        self._playlist_after = nxt

        def play():
            if self.state.session is not None and self._playlist_after == nxt and not self.player.is_playing() \
                    and self._playlist_serial == self.state.label_serial:
                self.show_segment(nxt, play=True)

        QTimer.singleShot(PLAY_GAP_MS, play)
