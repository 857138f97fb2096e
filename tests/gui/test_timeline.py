"""The timeline of a conversation project: lanes, zoom, playback with context, undoable edits by key."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from conftest import DATA
from speakerid_gui.core.audio.decode import load_audio

pytestmark = pytest.mark.slow  # the conversation pipeline on ami-debug meetings

AMI = DATA / "ami-debug"


@pytest.fixture(scope="module")
def conversation_project(tmp_path_factory):
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.project.store import Project

    if not (AMI / "tst00.wav").exists():
        pytest.skip(f"{AMI} not available")
    root = tmp_path_factory.mktemp("timeline")
    audio = root / "audio"
    audio.mkdir()
    for name in ("tst00.wav", "dev00.wav"):
        shutil.copy2(AMI / name, audio / name)
    project = Project.create(root / "project", audio)
    for _ in run(project, Settings(conversation=True, layout="pca", prosody=False)):
        pass
    assert project.get_meta("mode") == "conversation" and project.n_segments > 5
    project.close()
    return root / "project"


@pytest.fixture
def timeline(conversation_project, tmp_path, make_window, qtbot):
    folder = tmp_path / "project"
    shutil.copytree(conversation_project, folder)
    w = make_window(folder)
    p = w.state.session.project
    rid = next(r.id for r in p.recordings() if r.path == "tst00.wav")
    first = int(np.flatnonzero(p.seg_recording == rid)[0])
    w.playback.show_segment(first)
    QTest.keyClick(w.clusters.table, Qt.Key.Key_T)  # opened from the current segment
    qtbot.waitUntil(lambda: w.timelines.timeline is not None and w.timelines.timeline.isVisible(), timeout=5000)
    t = w.timelines.timeline
    t.activateWindow()
    qtbot.waitUntil(lambda: t.isActiveWindow() and t.audio_ready, timeout=10_000)  # the waveform: a worker's
    return w, t, rid, first


def test_timeline_shows_every_turn_in_lanes_with_overlaps(timeline):
    w, t, rid, first = timeline
    p = w.state.session.project
    turns = t.turn_positions()
    assert set(turns.tolist()) == set(np.flatnonzero(p.seg_recording == rid).tolist())
    assert t.selected == first
    lanes = t.lanes()
    assert set(lanes) == set(p.cluster[turns].tolist())
    assert t.overlap_count > 0                       # a busy meeting: overlapped speech is shaded
    assert t.info.text().startswith(f"{len(turns)} turns, {len(lanes)} speakers, {t.overlap_count} overlap")
    assert t.duration == pytest.approx(30.0, abs=0.1)
    # the waveform fills its plot: scaled to the recording's peak (a meeting's far-field audio
    # peaks well below full scale and drew as a flat line on a fixed +-1 axis)
    peak = float(np.abs(load_audio(t.path)).max())
    assert peak < 0.9
    y0, y1 = t.wave_plot.viewRange()[1]
    assert y1 == pytest.approx(peak, rel=0.1) and y0 == pytest.approx(-peak, rel=0.1)
    t.show_all()
    x0, x1 = t.view_range()
    assert x0 == pytest.approx(0, abs=0.05) and x1 == pytest.approx(30.0, abs=0.1)
    for _ in range(8):
        t.zoom(0.5)
    x0, x1 = t.view_range()
    assert x1 - x0 == pytest.approx(1.0, abs=0.05)   # down to 1 s, no further


def test_the_waveform_height_follows_what_is_in_view(timeline):
    """Zoomed into the quiet start of tst00 (far-field speech before anyone is near the
    microphone), the words fill the plot instead of a flat line under the recording's peak."""
    w, t, rid, first = timeline
    wave = load_audio(t.path)
    t.wave_plot.setXRange(0.5, 3.0, padding=0)
    visible = float(np.abs(wave[int(0.5 * 16000):int(3.0 * 16000)]).max())
    assert visible < 0.5 * float(np.abs(wave).max())  # the start is quiet next to the loudest part
    y0, y1 = t.wave_plot.viewRange()[1]
    assert y1 == pytest.approx(visible, rel=0.15) and y0 == pytest.approx(-visible, rel=0.15)
    t.show_all()
    assert t.wave_plot.viewRange()[1][1] == pytest.approx(float(np.abs(wave).max()), rel=0.1)


def test_space_plays_the_turn_with_one_second_of_context(timeline, qtbot):
    w, t, rid, _ = timeline
    p = w.state.session.project
    QTest.keyClick(t, Qt.Key.Key_Right)              # the next turn
    i = t.selected
    assert i is not None
    QTest.keyClick(t, Qt.Key.Key_Space)
    wave, sr, tag = w.player.calls[-1]
    start, end = max(0.0, p.seg_start[i] - 1.0), min(t.duration, p.seg_end[i] + 1.0)
    assert tag == ("timeline", rid)
    assert len(wave) / sr == pytest.approx(end - start, abs=0.01)
    # the same samples as the file holds there
    import soundfile as sf

    ref, _ = sf.read(str(AMI / "tst00.wav"), start=int(round(start * 16000)), frames=len(wave), dtype="float32")
    assert np.allclose(wave, ref if ref.ndim == 1 else ref.mean(axis=1), atol=1e-4)


def test_turns_change_speaker_by_key_and_undo_restores(timeline):
    w, t, rid, _ = timeline
    p = w.state.session.project
    t.select_turn(int(t.turn_positions()[0]))
    i = t.selected
    before = int(p.cluster[i])
    lanes = t.lanes()
    other = next(k for k, c in enumerate(lanes) if c != before)
    QTest.keyClick(t, getattr(Qt.Key, f"Key_{other + 1}"))
    assert int(p.cluster[i]) == lanes[other] and p.human[i]
    QTest.keyClick(t, Qt.Key.Key_0)                  # a new speaker
    new = int(p.cluster[i])
    assert new not in lanes and new in t.lanes()
    QTest.keyClick(t, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(t, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert int(p.cluster[i]) == before and not p.human[i]


def test_recording_list_searches_by_name(conversation_project, tmp_path, make_window, qtbot):
    from speakerid_gui.gui.timeline_tasks import RecordingPicker

    folder = tmp_path / "project"
    shutil.copytree(conversation_project, folder)
    w = make_window(folder)
    picker = RecordingPicker(w.state.session, w)
    picker.search.setText("dev0")
    assert w.state.session.recording_rel(picker.chosen()) == "dev00.wav"
    picker.search.setText("nothing like it")
    assert picker.chosen() is None


def test_the_timeline_opens_before_its_waveform_is_decoded(conversation_project, tmp_path, make_window, qtbot,
                                                          monkeypatch):
    # hours of audio take seconds to decode: the turns come at once, the waveform when a worker has it
    import threading

    from speakerid_gui.gui import waveform as waveform_module

    folder = tmp_path / "project"
    shutil.copytree(conversation_project, folder)
    w = make_window(folder)
    release, decoded = threading.Event(), []

    def slow_load(path, *args, **kwargs):
        assert threading.current_thread() is not threading.main_thread()
        release.wait(10)
        decoded.append(path)
        return load_audio(path, *args, **kwargs)

    monkeypatch.setattr(waveform_module, "load_audio", slow_load)
    t = w.timelines.open_timeline(segment=0)
    turns = t.turn_positions()
    assert len(turns) and not t.audio_ready and len(t.envelope[0]) == 0
    assert t.duration == pytest.approx(30.0, abs=0.1)  # from the header meanwhile
    assert t.info.text().startswith(f"{len(turns)} turns")
    release.set()
    qtbot.waitUntil(lambda: t.audio_ready, timeout=10_000)
    assert decoded and len(t.envelope[0]) > 1000 and t.peak < 1.0
    t.close()


def test_a_timeline_whose_audio_is_gone_still_shows_its_turns_and_says_why(conversation_project, tmp_path,
                                                                           make_window, qtbot):
    folder = tmp_path / "project"
    shutil.copytree(conversation_project, folder)
    w = make_window(folder)
    p = w.state.session.project
    rid = next(r.id for r in p.recordings() if r.path == "tst00.wav")
    (p.audio_root / "tst00.wav").rename(p.audio_root / "tst00-moved.wav")
    t = w.timelines.open_timeline(rid)
    try:
        assert t.audio_ready and len(t.turn_positions()) > 5
        assert "Cannot read" in t.info.text() and "tst00.wav" in t.info.text()
        assert t.duration == pytest.approx(float(p.seg_end[t.turn_positions()].max()))
    finally:
        (p.audio_root / "tst00-moved.wav").rename(p.audio_root / "tst00.wav")
        t.close()


def test_screenshot_of_a_timeline(conversation_project, tmp_path):
    out = tmp_path / "timeline.png"
    proc = subprocess.run([sys.executable, "-m", "speakerid_gui.gui.app", str(conversation_project),
                           "--screenshot", str(out), "--timeline", "tst00"], capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert image.width() >= 1000 and image.height() >= 300
    bad = subprocess.run([sys.executable, "-m", "speakerid_gui.gui.app", str(conversation_project),
                          "--screenshot", str(out), "--timeline", "no-such-file"], capture_output=True, text=True,
                         timeout=180)
    assert bad.returncode == 1 and "no-such-file" in bad.stderr


def test_new_project_dialog_offers_conversation_mode(qtbot, tmp_path):
    from speakerid_gui.gui.new_project import NewProjectDialog

    dialog = NewProjectDialog(tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.settings().conversation is False  # windows stay the default
    dialog.change.setChecked(True)
    dialog.mode.setCurrentIndex(dialog.mode.findData("conversation"))
    s = dialog.settings()
    assert s.conversation is True and s.change_detection is False  # turns come from the model there
    assert not dialog.change.isEnabled()


def test_turn_boundaries_move_by_key_and_drag_and_undo_survives_reopening(timeline, qtbot):
    from speakerid_gui.core.project.store import Project

    w, t, rid, _ = timeline
    p = w.state.session.project
    t.select_turn(int(t.turn_positions()[0]))
    i = t.selected
    start, end = float(p.seg_start[i]), float(p.seg_end[i])
    t.set_cursor(start + 0.4 * (end - start))
    QTest.keyClick(t, Qt.Key.Key_BracketRight)              # the end to the cursor
    assert p.seg_end[i] == pytest.approx(start + 0.4 * (end - start), abs=1e-3)
    t.move_boundary("start", start + 0.1)                   # what a drag of the start edge does
    assert p.seg_start[i] == pytest.approx(start + 0.1, abs=1e-3)
    row = p.db.execute("SELECT start, end FROM segments WHERE id=?", (int(p.segment_ids[i]),)).fetchone()
    assert row == pytest.approx((p.seg_start[i], p.seg_end[i]))  # in the database, not just on screen
    assert t.move_boundary("start", float(p.seg_end[i]) + 1.0) is None  # past the end: refused
    QTest.keyClick(t, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(t, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (p.seg_start[i], p.seg_end[i]) == pytest.approx((start, end))
    QTest.keyClick(t, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # redo the end move
    folder = p.folder
    reopened = Project.open(folder)
    try:
        k = int(np.flatnonzero(reopened.segment_ids == p.segment_ids[i])[0])
        assert reopened.seg_end[k] == pytest.approx(start + 0.4 * (end - start), abs=1e-3)
    finally:
        reopened.close()


def test_s_cuts_a_turn_at_the_cursor_and_the_window_follows(timeline, qtbot):
    """S cuts the selected turn at the cursor: two turns in the lanes, a point more in the
    scatter (where its parent is), a row more of embeddings; Ctrl+Z takes the piece away."""
    w, t, rid, _ = timeline
    p = w.state.session.project
    n, points = p.n_segments, len(w.scatter.xy)
    i = int(max(t.turn_positions(), key=lambda k: p.seg_end[k] - p.seg_start[k]))
    t.select_turn(i)
    start, end = float(p.seg_start[i]), float(p.seg_end[i])
    t.set_cursor((start + end) / 2)
    QTest.keyClick(t, Qt.Key.Key_S)
    assert p.n_segments == n + 1 and len(t.turn_positions()) == len(np.flatnonzero(p.seg_recording == rid))
    piece = int(np.argmax(p.segment_ids))
    assert (p.seg_start[piece], p.seg_end[piece]) == pytest.approx(((start + end) / 2, end), abs=1e-3)
    assert p.seg_end[i] == pytest.approx((start + end) / 2, abs=1e-3) and t.selected == i
    assert p.cluster[piece] == p.cluster[i]
    assert len(w.scatter.xy) == points + 1 and (w.scatter.xy[piece] == w.scatter.xy[i]).all()
    assert len(w.state.session.X) == n + 1
    for _ in range(len(t.turn_positions())):           # the piece is a turn like any other: Right reaches it
        QTest.keyClick(t, Qt.Key.Key_Right)
        if t.selected == piece:
            break
    assert t.selected == piece
    QTest.keyClick(t, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert p.n_segments == n and p.seg_end[i] == pytest.approx(end) and len(w.scatter.xy) == points
    assert t.selected is None and "turns" in t.info.text()  # the piece went, and the window with it
    t.set_cursor(start + 0.01)
    t.select_turn(i)
    t.set_cursor(start + 0.01)
    QTest.keyClick(t, Qt.Key.Key_S)                     # at the very edge: refused, said why
    assert p.n_segments == n and "both sides" in t.info.text()


def test_s_leaves_the_next_turn_alone_when_the_cursor_has_run_past_the_selected_one(timeline, qtbot):
    """Space plays the selected turn with a second of context, and the cursor follows playback
    into the next turn; S then cuts nothing (it used to cut that neighbour) and says why."""
    w, t, rid, _ = timeline
    p = w.state.session.project
    turns = sorted(t.turn_positions(), key=lambda k: p.seg_start[k])
    i, j = next((a, b) for a, b in zip(turns, turns[1:]) if p.seg_end[b] > p.seg_end[a] + 0.2)
    t.select_turn(i)
    QTest.keyClick(t, Qt.Key.Key_Space)
    assert t.last_played == pytest.approx((max(0.0, p.seg_start[i] - 1.0), min(t.duration, p.seg_end[i] + 1.0)))
    t.set_cursor(float(p.seg_end[i]) + 0.1)             # where playback carried it, inside another turn
    assert t.turn_at(t.cursor_time) is not None and t.turn_at(t.cursor_time) != i
    n, ends = p.n_segments, p.seg_end.copy()
    QTest.keyClick(t, Qt.Key.Key_S)
    assert p.n_segments == n and (p.seg_end == ends).all() and "outside the selected turn" in t.info.text()
    t.set_cursor((float(p.seg_start[i]) + float(p.seg_end[i])) / 2)
    QTest.keyClick(t, Qt.Key.Key_S)                     # back inside: it cuts the selected turn
    assert p.n_segments == n + 1 and p.seg_end[i] < ends[i]


def test_a_span_marked_while_listening_goes_to_a_new_speaker(timeline, qtbot):
    w, t, rid, _ = timeline
    p = w.state.session.project
    i = int(max(t.turn_positions(), key=lambda k: p.seg_end[k] - p.seg_start[k]))
    t.select_turn(i)
    start, end = float(p.seg_start[i]), float(p.seg_end[i])
    a, b = start + 0.3 * (end - start), start + 0.6 * (end - start)
    before = p.cluster.copy()
    t.set_cursor(a)
    QTest.keyClick(t, Qt.Key.Key_M)
    assert "M again" in t.info.text()
    t.set_cursor(b)
    QTest.keyClick(t, Qt.Key.Key_M)
    assert t.span == pytest.approx((a, b)) and t.span_item.isVisible()
    QTest.keyClick(t, Qt.Key.Key_0)                     # the span's part of the turn: a new speaker
    inside = np.flatnonzero((p.seg_recording == rid) & (p.seg_start >= a - 1e-3) & (p.seg_end <= b + 1e-3))
    assert len(inside) == 1
    new = int(p.cluster[inside[0]])
    assert new not in before and t.span is None and new in t.lanes()
    # the turn's time before and after the span keeps its speaker
    around = np.flatnonzero((p.seg_recording == rid) & (p.cluster == before[i]) &
                            ((np.abs(p.seg_end - a) < 1e-3) | (np.abs(p.seg_start - b) < 1e-3)))
    assert len(around) == 2
    # a worker embeds the three turns for what they now hold: the given part no longer "sounds
    # like" the turn it was cut from (with its parent's row it did, at cosine 1.0)
    qtbot.waitUntil(lambda: "embedded for what they hold now" in w.statusBar().currentMessage(), timeout=30000)
    X = w.state.session.X
    assert float(X[inside[0]] @ X[around[0]]) < 0.999 and float(X[around[0]] @ X[around[1]]) < 0.999
    # ...and the cut-off pieces have their own places on the map (a cut put them on their parent)
    xy = w.scatter.xy
    assert len(xy) == p.n_segments and not (xy[inside[0]] == xy[i]).all()
    QTest.keyClick(t, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one edit: all of it back
    np.testing.assert_array_equal(p.cluster, before)
    assert (p.seg_start[i], p.seg_end[i]) == pytest.approx((start, end))
    t.set_span((a, b))
    QTest.keyClick(t, Qt.Key.Key_Escape)                # Esc drops the span, the window stays
    assert t.span is None and t.isVisible()


def test_f1_lists_the_timelines_keys_and_mouse(timeline, qtbot):
    w, t, _, _ = timeline
    QTest.keyClick(t, Qt.Key.Key_F1)
    sheets = [c for c in t.children() if c.__class__.__name__ == "ShortcutSheet"]
    assert len(sheets) == 1 and sheets[0].isVisible()
    text = sheets[0].text.toPlainText()
    for words in ("Cut the turn in two at the cursor", "Mark a span", "lane 1-9", "Shift+click", "Undo"):
        assert words in text, words
    sheets[0].close()
    w.show_shortcuts()                                   # the main window's sheet has them too
    assert "Cut the turn in two at the cursor" in w.active_dialog.text.toPlainText()
    w.active_dialog.close()


def test_windows_of_the_default_mode_are_not_called_overlaps(project_dir, make_window, qtbot):
    """3 s windows every 1.5 s overlap their neighbours whoever speaks: no overlap shading there."""
    w = make_window(project_dir)
    p = w.state.session.project
    assert p.get_meta("mode") != "conversation"
    overlapping = np.flatnonzero((p.seg_recording[1:] == p.seg_recording[:-1]) & (p.seg_start[1:] < p.seg_end[:-1]))
    assert len(overlapping)  # a long utterance: 3 s windows every 1.5 s
    t = w.timelines.open_timeline(segment=int(overlapping[0]))
    turns = t.turn_positions()
    assert t.overlap_count == 0 and not t._shades
    assert t.info.text().startswith(f"{len(turns)} windows (they overlap by design)")
    t.close()


def test_keyboard_alone_places_the_cursor_and_cuts_there(timeline, qtbot):
    w, t, rid, _ = timeline
    p = w.state.session.project
    i = int(max(t.turn_positions(), key=lambda k: p.seg_end[k] - p.seg_start[k]))
    t.select_turn(i)                                     # the cursor goes to the turn's start
    start = float(p.seg_start[i])
    assert t.cursor_time == pytest.approx(start)
    QTest.keyClick(t, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)    # + 1 s
    for _ in range(3):
        QTest.keyClick(t, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)  # + 0.1 s each
    QTest.keyClick(t, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)       # - 0.1 s
    assert t.cursor_time == pytest.approx(start + 1.2, abs=1e-6)
    QTest.keyClick(t, Qt.Key.Key_P)                      # play from the cursor
    wave, sr, tag = w.player.calls[-1]
    assert tag == ("timeline", rid) and t.last_played[0] == pytest.approx(start + 1.2)
    n = p.n_segments
    QTest.keyClick(t, Qt.Key.Key_S)
    assert p.n_segments == n + 1 and p.seg_end[i] == pytest.approx(start + 1.2, abs=1e-3)


def test_a_read_only_timeline_says_why_nothing_changed(timeline, qtbot):
    w, t, rid, _ = timeline
    p = w.state.session.project
    i = int(max(t.turn_positions(), key=lambda k: p.seg_end[k] - p.seg_start[k]))
    t.select_turn(i)
    before = (p.n_segments, p.cluster.copy(), float(p.seg_end[i]))
    p.read_only = True  # what a second window on the project gets
    try:
        t.set_cursor(float(p.seg_start[i] + p.seg_end[i]) / 2)
        QTest.keyClick(t, Qt.Key.Key_S)
        assert "read-only" in t.info.text()
        QTest.keyClick(t, Qt.Key.Key_0)
        QTest.keyClick(t, Qt.Key.Key_BracketRight)
        assert "read-only" in t.info.text()
    finally:
        p.read_only = False
    assert p.n_segments == before[0] and (p.cluster == before[1]).all() and p.seg_end[i] == before[2]
