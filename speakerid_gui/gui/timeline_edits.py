"""The timeline's edits: give a turn or a span to a speaker, move a turn's edges, cut a turn at
the cursor, select a span. Every one is a command of the project's EditLog (undoable, stored
with the project); this mixin only decides which turns and times it acts on, from the
TimelineWindow's selected turn, cursor and span."""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.project.turn_cuts import MIN_PIECE


class TimelineEdits:
    """Mixed into TimelineWindow (timeline.py): needs its session, selected, cursor_time, span,
    _mark, span_item, wave_span, info, duration, redraw(), lanes(), turn_at() and turn_positions()."""

    # ---- edits --------------------------------------------------------------------------------
    def give_to_lane(self, lane: int):
        """Give the span (if one is selected) or the selected turn to the speaker of lane `lane` (0-based)."""
        lanes = self.lanes()
        if not 0 <= lane < len(lanes):
            return None
        target = lanes[lane]
        if self.span is not None:
            return self.give_span(target)
        if self.selected is None or target == int(self.session.project.cluster[self.selected]):
            return None
        return self._try(self.session.log.move, [self.selected], target)

    def give_to_new_speaker(self):
        if self.span is not None:
            return self.give_span(None)
        if self.selected is None:
            return None
        return self._try(self.session.log.move, [self.selected], None)

    def _try(self, command, *args):
        """Run an EditLog command; a refusal (a read-only project, a rule) is said in the header."""
        try:
            return command(*args)
        except ValueError as exc:
            self.info.setText(str(exc))
            return None

    # ---- cuts and spans -------------------------------------------------------------------------
    def cut_at_cursor(self):
        """S: cut the selected turn in two at the cursor (with no turn selected, the turn under
        the cursor); the first part stays selected. A cursor outside the selected turn cuts
        nothing: after Space plays a turn with its context the cursor has run on into the next
        turn, and cutting that one would not be what the reviewer meant."""
        p, t = self.session.project, self.cursor_time
        turn = self.selected
        if turn is not None and not p.seg_start[turn] < t < p.seg_end[turn]:
            self.info.setText(f"The cursor ({t:.2f} s) is outside the selected turn ({p.seg_start[turn]:.2f}-"
                              f"{p.seg_end[turn]:.2f} s): click inside it, or move the cursor with Shift+Left/Right.")
            return None
        if turn is None:
            turn = self.turn_at(t)
        if turn is None:
            self.info.setText(f"No turn at {t:.2f} s to cut: put the cursor inside one.")
            return None
        change = self._try(self.session.log.cut_turn, turn, t)  # refused: too close to an edge, read-only
        if change is None:
            return None
        self.selected = turn
        self.redraw()
        return change

    def mark(self):
        """M: the first press marks where a span starts (at the cursor), the second where it ends."""
        if self._mark is None:
            self._mark = self.cursor_time
            self.set_span(None)
            return
        start, self._mark = self._mark, None
        self.set_span(tuple(sorted((start, self.cursor_time))))

    def set_span(self, span):
        if span is not None:
            span = (max(0.0, float(span[0])), min(self.duration, float(span[1])))
            if span[1] - span[0] < MIN_PIECE:
                span = None
        self.span = span
        for item in (self.span_item, self.wave_span):
            item.setVisible(span is not None)
            if span is not None:
                item.blockSignals(True)  # setting the region is no drag of its edges
                item.setRegion(span)
                item.blockSignals(False)
        self._update_info()

    def span_turns(self) -> np.ndarray:
        """The turns the span acts on: those of the selected turn's speaker when the selected turn
        overlaps the span (two people talking at once: only one of them goes), else every turn
        in it."""
        p = self.session.project
        idx = self.turn_positions()
        a, b = self.span
        idx = idx[(p.seg_start[idx] < b) & (p.seg_end[idx] > a)]
        if self.selected is not None and self.selected in set(idx.tolist()):
            idx = idx[p.cluster[idx] == p.cluster[self.selected]]
        return idx

    def give_span(self, target: int | None):
        """The span's part of its turns to cluster `target` (None: a new one); one undoable edit."""
        turns = self.span_turns()
        if target is not None:
            turns = turns[self.session.project.cluster[turns] != target]
        if not len(turns):
            self.info.setText("The span holds no turn of another speaker.")
            return None
        change = self._try(self.session.log.give_span, turns, *self.span, target)
        if change is None:
            return None
        self.set_span(None)
        return change

    def escape(self):
        """Esc drops a span (or a span being marked); with none, it closes the window."""
        if self.span is None and self._mark is None:
            self.close()
            return
        self._mark = None
        self.set_span(None)

    def move_boundary(self, side: str, t: float):
        """The selected turn's start or end to time t (a drag, or [ and ] at the cursor)."""
        if self.selected is None:
            return None
        p = self.session.project
        start, end = float(p.seg_start[self.selected]), float(p.seg_end[self.selected])
        start, end = (t, end) if side == "start" else (start, t)
        start, end = max(0.0, start), min(self.duration, end)
        if end - start < 0.05:  # a boundary dragged past the other one: the turn stays as it was
            self.info.setText("A turn must keep at least 50 ms; use 0-9 to give it to another speaker.")
            self.redraw()
            return None
        return self._try(self.session.log.set_bounds, self.selected, start, end)
