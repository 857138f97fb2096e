"""The reviewer's answers in the app (issue 10, point 5; issue 12, point 4): "different speakers"
(Shift+Y) is kept in the project and never proposed again, a skipped suggestion stays skipped
after a restart, and the rest relearns in the background after an answer (one undoable edit).
Real project: 3 LibriSpeech speakers, CAM++."""
from __future__ import annotations

import numpy as np
from guidata import key
from PySide6.QtCore import Qt

from speakerid_gui.core.project import constraints
from speakerid_gui.core.project.constraints import suggestion_key


def ranked(qtbot, w):
    qtbot.waitUntil(lambda: w.review_queue.suggestions_job is None and not w.review_queue._suggest_timer.isActive()
                    and w.review_queue._suggestions_serial == w.state.label_serial and bool(w.review_next.items), timeout=60_000)
    return w.review_next.items


def settled(qtbot, w):
    """No relearning pending or running."""
    qtbot.waitUntil(lambda: w.answers.relearn_job is None and not w.answers._relearn_timer.isActive(), timeout=60_000)


def test_different_speakers_is_remembered_and_never_proposed_again(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    items = ranked(qtbot, w)
    row = next(r for r, s in enumerate(items) if s.kind == "pair")
    pair = {int(c) for c in items[row].cluster_ids}
    i, j = (int(x) for x in items[row].segment_positions)
    w.review_queue.go_to_suggestion(row)
    key(w, Qt.Key.Key_Y, Qt.KeyboardModifier.ShiftModifier)
    assert "different speakers" in w.statusBar().currentMessage()
    assert [tuple(r) for r in constraints.cannot_links(w.state.session.project)] == [(min(i, j), max(i, j))]
    settled(qtbot, w)
    items = ranked(qtbot, w)
    assert not any(s.kind == "pair" and set(s.cluster_ids) == pair for s in items)
    w.close()
    w2 = make_window(project_dir)  # a restart: still answered
    items = ranked(qtbot, w2)
    assert not any(s.kind == "pair" and set(s.cluster_ids) == pair for s in items)
    assert len(constraints.cannot_links(w2.state.session.project)) == 1


def test_skipped_suggestion_stays_skipped_after_restart(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    items = ranked(qtbot, w)
    key(w, Qt.Key.Key_G)          # go to the first suggestion ...
    first = suggestion_key(w.state.session.project, w.review_queue.current_suggestion())
    key(w, Qt.Key.Key_G)          # ... and leave it unanswered
    assert first in constraints.skipped(w.state.session.project)
    w.close()
    w2 = make_window(project_dir)
    items = ranked(qtbot, w2)
    assert first not in {suggestion_key(w2.state.session.project, s) for s in items}


def test_relearn_runs_after_an_answer_as_one_undoable_edit(make_window, project_dir, qtbot):
    """Two speakers verified, a third cluster split by the machine into two: one "same speaker"
    answer (Y on the pair) and the background relearning merges or relabels the rest itself."""
    w = make_window(project_dir)
    p = w.state.session.project
    log = w.state.session.log
    ids = sorted(p.cluster_sizes(), key=p.cluster_sizes().get)
    for cid in ids[:2]:
        log.verify(w.state.session.ranked_members(cid)[:3])
    big = ids[-1]
    members = w.state.session.ranked_members(big)
    # a machine-made over-split: half of the biggest cluster as its own unreviewed cluster
    new = log.new_cluster_ids(1)[0]
    log.relabel("cluster", "as if clustered", members[1::2], np.full(len(members[1::2]), new), np.full(len(members[1::2]), 0.5),
                {new: {"name": "", "color": "#888888", "notes": ""}})
    settled(qtbot, w)
    items = ranked(qtbot, w)
    row = next((r for r, s in enumerate(items) if s.kind == "pair" and set(s.cluster_ids) == {big, new}), None)
    assert row is not None, "the over-split should be proposed as a pair"
    vmask = p.verified.copy()
    vlab = p.cluster[vmask].copy()
    runs = w.answers.relearn_runs
    w.review_queue.go_to_suggestion(row)
    key(w, Qt.Key.Key_Y)          # same speaker: merged (the reviewer's edit) ...
    assert new not in p.cluster_sizes() or big not in p.cluster_sizes()
    same = [a for a in constraints.answers(p) if a[2]]
    assert len(same) == 1          # ... and the answer is kept for relearning
    qtbot.waitUntil(lambda: w.answers.relearn_runs > runs, timeout=30_000)  # relearnt in the background
    settled(qtbot, w)
    assert np.array_equal(p.cluster[vmask], vlab)  # verified labels untouched
    history = [e.kind for e in log.history()]
    assert history[0] in ("relearn", "merge") and "merge" in history[:2]
    # one Ctrl+Z per edit: the relearning (if it changed anything), then the merge
    for _ in range(history[:2].index("merge") + 1):
        key(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert new in p.cluster_sizes() and big in p.cluster_sizes()


def test_suggestions_about_clusters_an_edit_changed_read_as_stale_until_re_ranked(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    items = ranked(qtbot, w)
    touched = {int(c) for c in items[0].cluster_ids}
    others = [r for r, s in enumerate(items) if not touched & {int(c) for c in s.cluster_ids}]
    w.state.session.log.rename(min(touched), "Renamed")  # any edit of one of its clusters
    table = w.review_next.table
    assert table.item(0, 4).font().italic() and "re-ranking" in table.item(0, 4).toolTip()
    assert all(not table.item(r, 4).font().italic() for r in others)
    ranked(qtbot, w)  # the new queue replaces the stale rows
    assert not any(table.item(r, 4).font().italic() for r in range(table.rowCount()))
    w.close()


def test_after_an_answer_the_new_queue_has_no_row_selected_until_g(make_window, project_dir, qtbot):
    # the re-ranked queue used to keep row 1 selected, which read as "this is the one you answered"
    w = make_window(project_dir)
    ranked(qtbot, w)
    key(w, Qt.Key.Key_G)
    assert w.review_next.current == 0 and w.review_next.table.selectedItems()
    clusters = {int(c) for c in w.review_next.items[0].cluster_ids}
    w.state.session.log.rename(min(clusters), "Answered")  # an edit of its clusters, as an answer is
    w.review_queue.suggestions_job = None
    ranked(qtbot, w)
    assert w.review_next.current is None and not w.review_next.table.selectedItems()
    assert "G goes to the next suggestion" in w.review_next.current_text.text()
    key(w, Qt.Key.Key_G)
    assert w.review_next.current == 0 and w.review_next.table.selectedItems()
    w.close()

