"""Cutting a turn in two and giving a span of turns to a speaker (core/project/turn_cuts.py,
EditLog.cut_turn / give_span): new segment rows with their own labels, embeddings and layout
points from their parents, one undoable edit each, kept across a restart; on the real
session project (real CAM++ embeddings, real SQLite)."""
from __future__ import annotations

import numpy as np
import pytest

from speakerid_gui.core.pipeline import embeddings
from speakerid_gui.core.project.edits import EditLog
from speakerid_gui.core.project.store import Project
from speakerid_gui.core.project.turn_cuts import pieces


@pytest.fixture
def opened(project_copy):
    project = Project.open(project_copy)
    log = EditLog(project)
    heard = []
    log.listeners.append(heard.append)
    yield project, log, heard
    project.close()


def snapshot(project):
    return {k: getattr(project, k).copy() for k in ("segment_ids", "seg_start", "seg_end", "cluster", "human")}


def same(project, before):
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(project, k), v, err_msg=k)


def adjacent_pair(project):
    """Two consecutive segments of one recording, 1 s or longer (a span from the middle of one
    to the middle of the other)."""
    for i in range(project.n_segments - 1):
        if project.seg_recording[i] == project.seg_recording[i + 1] and \
                min(np.diff([project.seg_start[i:i + 2], project.seg_end[i:i + 2]], axis=0).ravel()) > 1.0 and \
                project.seg_start[i + 1] - project.seg_start[i] > 0.5:
            return i, i + 1
    pytest.skip("no two long consecutive segments")


def test_a_cut_makes_two_turns_and_undo_makes_one(opened):
    project, log, heard = opened
    n, layout = project.n_segments, project.load_array("layout")
    assert layout is not None and len(layout) == n
    emb = embeddings(project)
    i = int(np.argmax(project.seg_end - project.seg_start))
    start, end = float(project.seg_start[i]), float(project.seg_end[i])
    before = snapshot(project)
    t = round((start + end) / 2, 3)
    change = log.cut_turn(i, t)
    assert heard[-1] is change and change.kind == "cut" and change.resized
    assert project.n_segments == n + 1
    j = int(np.flatnonzero(project.segment_ids == project.segment_ids.max())[0])
    assert (project.seg_start[i], project.seg_end[i]) == (pytest.approx(start), pytest.approx(t))
    assert (project.seg_start[j], project.seg_end[j]) == (pytest.approx(t), pytest.approx(end))
    assert project.cluster[j] == project.cluster[i] == before["cluster"][i]
    assert project.human[i] and project.human[j]  # a person cut it: a re-analysis keeps it
    assert pieces(project) == {int(project.segment_ids[j]): int(project.segment_ids[i])}
    assert sorted(change.bounds.tolist()) == sorted([i, j])
    after = embeddings(project)  # the piece has its parent's row, every other row is as it was
    assert len(after) == n + 1
    np.testing.assert_array_equal(after[j], emb[i])
    np.testing.assert_array_equal(np.delete(after, j, axis=0), emb)
    grown = project.load_array("layout")
    assert len(grown) == n + 1 and (grown[j] == grown[i]).all()
    undone = log.undo()
    assert undone.action == "undo" and undone.resized
    same(project, before)
    assert pieces(project) == {} and len(embeddings(project)) == n
    np.testing.assert_array_equal(project.load_array("layout"), layout)
    log.redo()
    assert project.n_segments == n + 1 and project.seg_end[i] == pytest.approx(t)


def test_a_cut_survives_a_restart_and_undoes_after_it(project_copy):
    project = Project.open(project_copy)
    before = snapshot(project)
    i = int(np.argmax(project.seg_end - project.seg_start))
    t = round(float(project.seg_start[i] + project.seg_end[i]) / 2, 3)
    EditLog(project).cut_turn(i, t)
    cut = snapshot(project)
    project.close()
    again = Project.open(project_copy)
    try:
        same(again, cut)  # segments, assignments (the writer's copy) and times as they were left
        assert len(embeddings(again)) == again.n_segments
        EditLog(again).undo()
        same(again, before)
    finally:
        again.close()
    reread = Project.open(project_copy)
    try:
        same(reread, before)
    finally:
        reread.close()


def test_a_span_across_two_turns_goes_to_another_speaker_in_one_edit(opened):
    project, log, heard = opened
    a, b = adjacent_pair(project)
    before = snapshot(project)
    n = project.n_segments
    span = tuple(round(float(project.seg_start[k] + project.seg_end[k]) / 2, 3) for k in (a, b))
    overlapping = [a, b]
    change = log.give_span(overlapping, *span, None, name="interjection")
    (target,) = change.added  # a new cluster
    assert project.cluster_name(target) == "interjection"
    inside = np.flatnonzero(project.cluster == target)
    # exactly the span's time went: the pieces inside it, nothing else of either turn
    assert project.seg_start[inside].min() == pytest.approx(span[0], abs=1e-3)
    assert project.seg_end[inside].max() == pytest.approx(span[1], abs=1e-3)
    assert project.n_segments > n and change.resized and set(change.moved.tolist()) == set(inside.tolist())
    assert project.seg_end[a] == pytest.approx(span[0], abs=1e-3)  # a keeps its speaker before the span
    assert project.cluster[a] == before["cluster"][a]
    assert len(embeddings(project)) == project.n_segments
    log.undo()  # the cuts and the move, at once
    same(project, before)


def test_a_cut_at_a_turns_edge_is_refused_and_changes_nothing(opened):
    project, log, _ = opened
    before = snapshot(project)
    i = 0
    with pytest.raises(ValueError, match="both sides"):
        log.cut_turn(i, float(project.seg_start[i]) + 0.01)
    with pytest.raises(ValueError, match="no turn"):
        log.give_span([i], float(project.seg_end[i]) + 1, float(project.seg_end[i]) + 2, None)
    same(project, before)
    assert not log.can_undo() or log.history(1)[0].kind != "cut"


def test_cut_and_moved_turns_are_embedded_again_for_what_they_hold_now(opened):
    """After embed_edited_turns both parts of a cut turn, and a turn whose edge moved, have the
    embedding of their own audio (what the analysis would give that span); undo brings the
    analysed rows back, redo the stored ones without embedding anything again."""
    from speakerid_gui.core.audio.decode import read_span
    from speakerid_gui.core.embed import embed_segments, get_backend
    from speakerid_gui.core.pipeline import embed_edited_turns

    project, log, _ = opened
    emb = embeddings(project)
    i = int(np.argmax(project.seg_end - project.seg_start))
    t = round(float(project.seg_start[i] + project.seg_end[i]) / 2, 3)
    log.cut_turn(i, t)
    k = (i + 1) if i + 1 < project.n_segments - 1 else i - 1
    log.set_bounds(k, float(project.seg_start[k]) + 0.5, float(project.seg_end[k]))
    j = int(np.argmax(project.segment_ids))
    assert embed_edited_turns(project) == 3
    now = embeddings(project)
    campp = get_backend("campp")
    for pos in (i, j, k):
        wave = read_span(project.recording_path(int(project.seg_recording[pos])), float(project.seg_start[pos]),
                         float(project.seg_end[pos]))
        own = embed_segments(campp, [wave], [[(0.0, len(wave) / 16000)]])[0]
        assert np.allclose(now[pos], own, atol=1e-4), pos
    assert float(now[i] @ now[j] / np.linalg.norm(now[i]) / np.linalg.norm(now[j])) < 0.999  # no longer copies
    others = np.setdiff1d(np.arange(len(emb)), [i, k])
    np.testing.assert_array_equal(now[others], emb[others])
    log.undo()
    log.undo()
    np.testing.assert_array_equal(embeddings(project), emb)  # the analysed rows, as before the edits
    log.redo()
    log.redo()
    assert embed_edited_turns(project) == 0  # stored: nothing to embed again
    np.testing.assert_array_equal(embeddings(project), now)


def test_a_span_that_only_grazes_a_turn_gives_nothing(opened):
    project, log, _ = opened
    before = snapshot(project)
    i = int(np.argmax(project.seg_end - project.seg_start))
    end = float(project.seg_end[i])
    others = [int(k) for k in np.flatnonzero(project.seg_recording == project.seg_recording[i])
              if k != i and project.seg_start[k] < end + 0.5 and project.seg_end[k] > end - 0.02]
    if others:
        pytest.skip("another turn of the recording is under the span")
    with pytest.raises(ValueError, match="less than"):
        log.give_span([i], end - 0.02, end + 0.5, None)
    same(project, before)


def test_a_piece_is_placed_on_the_map_among_the_segments_it_sounds_like(opened):
    from speakerid_gui.core.cluster.agglomerative import prepare
    from speakerid_gui.core.edited_turns import place_pieces
    from speakerid_gui.core.layout import place
    from speakerid_gui.core.pipeline import embed_edited_turns

    project, log, _ = opened
    # the rule itself: a row like another is put on that one's point
    X = prepare(embeddings(project))
    xy = project.load_array("layout")
    twin = np.vstack([X, X[5:6]])
    grid = np.vstack([xy, [[1e3, 1e3]]])
    got = place(twin, grid, [len(X)], k=1)[0]
    np.testing.assert_allclose(got, xy[5])
    # a cut: the piece starts on its parent's point, then goes where its own embedding puts it
    i = int(np.argmax(project.seg_end - project.seg_start))
    log.cut_turn(i, round(float(project.seg_start[i] + project.seg_end[i]) / 2, 3))
    j = int(np.argmax(project.segment_ids))
    before = project.load_array("layout")
    assert (before[j] == before[i]).all()
    embed_edited_turns(project)
    X = prepare(embeddings(project))
    assert place_pieces(project, X) == 1
    after = project.load_array("layout")
    np.testing.assert_array_equal(np.delete(after, j, axis=0), np.delete(before, j, axis=0))  # the rest stays
    np.testing.assert_allclose(after[j], place(X, before, [j])[0])
    log.undo()
    np.testing.assert_array_equal(project.load_array("layout"), np.delete(before, j, axis=0))
