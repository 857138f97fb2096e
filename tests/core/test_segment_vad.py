"""Speech regions (silero) and fixed windows inside them."""
from __future__ import annotations

import numpy as np
import pytest

from coredata import LIBRI, libri_rows
from speakerid_gui.core.audio.decode import SAMPLE_RATE, load_audio
from speakerid_gui.core.audio.segment import SegmentSettings, merge_regions, windows
from speakerid_gui.core.project.store import Project

S = SegmentSettings()  # 3 s windows every 1.5 s, min 0.5 s, regions merged across gaps <= 0.5 s


# ---------------------------------------------------------------- windows (hand-made regions)

def test_default_settings():
    assert (S.window, S.hop, S.min_segment) == (3.0, 1.5, 0.5)


def test_exact_multiple_region_needs_no_tail_window():
    # 0..6 s: windows at 0, 1.5, 3 -> the last one ends exactly at 6
    assert windows([(0.0, 6.0)], S) == [(0.0, 3.0), (1.5, 4.5), (3.0, 6.0)]


def test_uncovered_tail_gets_one_window_aligned_to_the_region_end():
    # 0..10 s: 0, 1.5, 3, 4.5, 6 (ends at 9) leave 1 s uncovered -> one more window 7..10
    out = windows([(0.0, 10.0)], S)
    assert out[:5] == [(0.0, 3.0), (1.5, 4.5), (3.0, 6.0), (4.5, 7.5), (6.0, 9.0)]
    assert out[-1] == (7.0, 10.0) and len(out) == 6


def test_small_tail_is_left_to_the_previous_window():
    # 0..9.3 s: last regular window ends at 9.0; 0.3 s <= 0.25 * hop is not worth a window
    out = windows([(0.0, 9.3)], S)
    assert out[-1] == (6.0, 9.0)


def test_every_window_is_full_length_and_inside_its_region():
    regions = [(0.7, 8.2), (12.0, 19.9)]
    for a, b in windows(regions, S):
        assert b - a == pytest.approx(S.window)
        assert any(r0 - 1e-9 <= a and b <= r1 + 1e-9 for r0, r1 in regions)
    covered = windows(regions, S)
    for r0, r1 in regions:  # start and end of each region are covered
        assert any(a == pytest.approx(r0) for a, _ in covered)
        assert any(b == pytest.approx(r1) for _, b in covered)


def test_short_region_is_one_segment_if_long_enough():
    assert windows([(2.0, 2.6)], S) == [(2.0, 2.6)]
    assert windows([(2.0, 4.9)], S) == [(2.0, 4.9)]
    assert windows([(2.0, 2.5)], S) == [(2.0, 2.5)]  # exactly min_segment is kept


def test_too_short_region_is_dropped():
    assert windows([(2.0, 2.4)], S) == []
    assert windows([(1.0, 1.2), (5.0, 5.45)], S) == []


def test_close_regions_merge_before_windowing():
    assert merge_regions([(0.0, 1.0), (1.4, 2.0), (5.0, 6.0)], 0.5) == [(0.0, 2.0), (5.0, 6.0)]
    # two 0.3 s bits 0.2 s apart make one 0.8 s region, kept; alone each would be dropped
    assert windows([(0.0, 0.3), (0.5, 0.8)], S) == [(0.0, 0.8)]
    assert windows([(0.0, 0.3), (1.5, 1.8)], S) == []


def test_custom_window_and_hop():
    s = SegmentSettings(window=2.0, hop=1.0, min_segment=1.0)
    assert windows([(0.0, 5.0)], s) == [(0.0, 2.0), (1.0, 3.0), (2.0, 4.0), (3.0, 5.0)]
    assert windows([(0.0, 0.9)], s) == []
    s2 = SegmentSettings(window=1.0, hop=1.0)
    assert windows([(0.0, 3.6)], s2) == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (2.6, 3.6)]


def test_settings_key_changes_with_every_field():
    keys = {SegmentSettings().key(), SegmentSettings(window=2).key(), SegmentSettings(hop=1).key(),
            SegmentSettings(min_segment=1).key(), SegmentSettings(merge_gap=0.2).key()}
    assert len(keys) == 5


# ---------------------------------------------------------------- VAD on real speech

@pytest.fixture(scope="module")
def speech_waves():
    rows = sorted((r for r in libri_rows() if 6.0 <= float(r["duration_s"]) <= 12.0), key=lambda r: r["path"])
    return [load_audio(LIBRI / rows[i]["path"]) for i in (0, len(rows) // 2, len(rows) - 1)]


def test_vad_finds_speech_in_real_utterances(speech_waves):
    from speakerid_gui.core.audio.vad import speech_regions

    for wave, regions in zip(speech_waves, speech_regions(speech_waves)):
        duration = len(wave) / SAMPLE_RATE
        assert regions, "no speech found in a read-speech utterance"
        speech = sum(b - a for a, b in regions)
        assert 0.5 * duration < speech <= duration + 1e-6
        for a, b in regions:
            assert 0.0 <= a < b <= duration + 1e-6
        assert all(regions[i][1] <= regions[i + 1][0] for i in range(len(regions) - 1))


def test_vad_finds_nothing_in_digital_silence():
    from speakerid_gui.core.audio.vad import is_silent, speech_regions

    waves = [np.zeros(5 * SAMPLE_RATE, np.float32), np.zeros(SAMPLE_RATE, np.float32),
             np.zeros(25 * SAMPLE_RATE, np.float32)]
    assert speech_regions(waves) == [[], [], []]
    assert all(is_silent(w) for w in waves)


def test_vad_batches_do_not_change_results(speech_waves):
    """All files are stepped as one batch of streams; a file's regions must not depend on its neighbours."""
    from speakerid_gui.core.audio.vad import speech_regions

    together = speech_regions(speech_waves + [np.zeros(3 * SAMPLE_RATE, np.float32)])
    alone = [speech_regions([w])[0] for w in speech_waves]
    for a, b in zip(together, alone):
        assert len(a) == len(b)
        assert np.allclose(np.array(a), np.array(b), atol=0.05)
    assert together[-1] == []


def test_vad_silence_inserted_in_speech_is_not_speech(speech_waves):
    from speakerid_gui.core.audio.vad import speech_regions

    wave = speech_waves[0]
    gap = np.zeros(4 * SAMPLE_RATE, np.float32)
    joined = np.concatenate([wave, gap, wave])
    regions = speech_regions([joined])[0]
    g0, g1 = len(wave) / SAMPLE_RATE, len(wave) / SAMPLE_RATE + 4.0
    inside = sum(max(0.0, min(b, g1 - 0.5) - max(a, g0 + 0.5)) for a, b in regions)
    assert inside == 0.0, regions
    assert any(a >= g1 - 0.5 for a, _ in regions)


def test_is_silent_thresholds():
    from speakerid_gui.core.audio.vad import is_silent

    assert is_silent(np.zeros(100, np.float32)) and is_silent(np.zeros(0, np.float32))
    assert is_silent(np.full(100, 1e-4, np.float32))       # -80 dBFS
    assert not is_silent(np.full(100, 1e-2, np.float32))   # -40 dBFS


# ---------------------------------------------------------------- segments of the real project

@pytest.mark.slow
def test_project_segments_lie_inside_their_recordings(session_project):
    project = Project.open(session_project.folder)
    try:
        recs = {r.id: r for r in project.recordings()}
        assert project.n_segments > 0
        for rid, a, b in zip(project.seg_recording, project.seg_start, project.seg_end):
            rec = recs[int(rid)]
            assert 0.0 <= a < b <= rec.duration + 1e-3
            assert b - a >= 0.5 - 1e-6
            assert b - a <= 3.0 + 1e-6
        for rec in recs.values():
            assert rec.status == "ok"
            assert 0 < rec.speech <= rec.duration + 1e-3
            n = int((project.seg_recording == rec.id).sum())
            # a recording of d seconds of speech gets about d / hop windows (3 s windows, 1.5 s hop)
            assert 1 <= n <= int(rec.duration / 1.5) + 2
    finally:
        project.close()


def test_speech_detection_leaves_torch_threads_alone():
    """silero-vad's import sets torch to one thread for the whole process; CAM++ would then
    run on one core. In a fresh process the thread count must survive speech detection."""
    import subprocess
    import sys

    code = ("import numpy as np, torch; torch.set_num_threads(2); "
            "from speakerid_gui.core.audio.vad import speech_regions; "
            "speech_regions([np.zeros(16000, np.float32)]); print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"
