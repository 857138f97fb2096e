"""Speaker-change detection on real speech, segments cut at the turns, and the DER scorer.

The real-audio cases build one batch as the pipeline would analyse it: a recording made
of two LibriSpeech speakers back to back (12 s each, leading and trailing silence cut so
the junction falls inside speech) and three single-speaker recordings of 24 s (several
utterances of one speaker back to back). Measured on five such batches (speakers taken
in turn): the junction was found in 4 of 5, and no turn in any of the 15 single-speaker
recordings; the batch here is one of the five.
"""
from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from coredata import LIBRI, need, run_cli
from speakerid_gui.core.evaluate.metrics import der

SR = 16000
JUNCTION = 12.0
TWO = ("2609", "3005")               # the two-speaker recording, in this order
SINGLE = ("3080", "3331", "367")     # one speaker each


def _speech(speaker: str, seconds: float, skip: int = 0) -> np.ndarray:
    """seconds of one speaker: utterances back to back, each cut to its speech."""
    from speakerid_gui.core.audio.decode import load_audio
    from speakerid_gui.core.audio.vad import speech_regions

    with open(need(LIBRI / "manifest.csv"), newline="") as f:
        rows = sorted((r for r in csv.DictReader(f) if r["speaker"] == speaker), key=lambda r: r["path"])
    parts, total = [], 0.0
    for row in rows[skip:]:
        wave = load_audio(LIBRI / row["path"])
        regions = speech_regions([wave])[0]
        parts.append(wave[int(regions[0][0] * SR):int(regions[-1][1] * SR)])
        total += len(parts[-1]) / SR
        if total >= seconds:
            break
    assert total >= seconds, f"not enough speech for speaker {speaker}"
    return np.concatenate(parts)[:int(seconds * SR)]


@pytest.fixture(scope="module")
def batch():
    """(waves, speech regions, detected turns) of the batch described above."""
    from speakerid_gui.core.conversation.change import batch_turns
    from speakerid_gui.core.audio.vad import speech_regions

    two = np.concatenate([_speech(TWO[0], JUNCTION), _speech(TWO[1], JUNCTION)])
    waves = [two] + [_speech(s, 2 * JUNCTION, skip=3) for s in SINGLE]
    regions = speech_regions(waves)
    return waves, regions, batch_turns(waves, regions)


# ---- detection ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_turn_found_at_the_junction_of_two_speakers(batch):
    from speakerid_gui.core.audio.segment import merge_regions

    _, regions, turns = batch
    # the junction lies inside speech (as segmentation merges it), so only change detection finds it
    assert any(a < JUNCTION - 1 and b > JUNCTION + 1 for a, b in merge_regions(regions[0], 0.5))
    assert any(abs(t - JUNCTION) <= 0.5 for t in turns[0]), turns[0]
    # and no turn inside either speaker's 12 s
    assert all(abs(t - JUNCTION) <= 1.5 for t in turns[0]), turns[0]


@pytest.mark.slow
def test_no_turn_in_single_speaker_recordings(batch):
    _, _, turns = batch
    assert turns[1:] == [[]] * len(SINGLE)


@pytest.mark.slow
def test_segments_never_straddle_a_detected_turn(batch):
    from speakerid_gui.core.audio.segment import SegmentSettings, windows

    _, regions, turns = batch
    fixed = windows(regions[0], SegmentSettings())
    assert any(a < JUNCTION - 0.5 and b > JUNCTION + 0.5 for a, b in fixed)  # without: windows straddle it
    for reg, rec_turns in zip(regions, turns):
        spans = windows(reg, SegmentSettings(), rec_turns)
        assert spans
        for t in rec_turns:
            assert not any(a < t < b for a, b in spans), (t, spans)
            assert any(abs(b - t) < 1e-3 for _, b in spans) and any(abs(a - t) < 1e-3 for a, _ in spans)


def test_pick_turns_on_a_known_curve():
    from speakerid_gui.core.conversation.change import ChangeSettings, Curve, pick_turns, threshold

    cs = ChangeSettings(hop=0.25, min_gap=1.0, k=2.0)
    rng = np.random.default_rng(0)
    d = 0.5 + 0.02 * rng.standard_normal(120)
    d[40], d[42] = 0.95, 0.9   # two peaks 0.5 s apart: one turn (min_gap), at the higher one
    d[90] = 0.9
    d[100] = 0.53              # a bump, but below median + 2 sigma
    times = np.arange(120) * 0.25
    thr = threshold(d, cs)
    assert 0.535 < thr < 0.56  # 0.5 + 2 * 0.02, give or take the sample
    curve = Curve(times, d, np.zeros(120, int), thr)
    assert pick_turns(curve, cs) == [10.0, 22.5]
    # a region edge never joins two regions' peaks into one
    curve.region[60:] = 1
    d[59], d[60] = 0.8, 0.8
    assert pick_turns(curve, cs) == [10.0, 14.75, 15.0, 22.5]


# ---- pipeline and CLI ---------------------------------------------------------------------------
@pytest.mark.slow
def test_run_with_change_detection_cuts_segments_at_the_turn(batch, tmp_path):
    from speakerid_gui.core.pipeline import Settings
    from speakerid_gui.core.project.store import Project

    waves, _, turns = batch
    audio = tmp_path / "audio"
    audio.mkdir()
    for i, wave in enumerate(waves):  # float wav: the pipeline decodes exactly these samples
        sf.write(audio / f"rec{i}.wav", wave, SR, subtype="FLOAT")
    run_cli("run", audio, "--project", tmp_path / "project", "--change-detection", "--layout", "pca",
            "--no-prosody", "--quiet", check=True, timeout=300)
    project = Project.open(tmp_path / "project")
    try:
        key = Settings(change_detection=True).segments.key()
        assert key != Settings().segments.key()  # another segmentation, another cache
        recs = {r.path: r.id for r in project.recordings()}
        assert {row[0] for row in project.db.execute("SELECT seg_key FROM recordings")} == {key}
        two = project.seg_recording == recs["rec0.wav"]
        spans = list(zip(project.seg_start[two], project.seg_end[two]))
        assert not any(a < JUNCTION - 0.5 and b > JUNCTION + 0.5 for a, b in spans), spans
        for t in turns[0]:
            assert not any(a < t < b for a, b in spans)
        assert project.get_meta("settings")["change_detection"] is True
    finally:
        project.close()


# ---- DER ------------------------------------------------------------------------------------------
def test_der_known_answer_with_collar_uem_and_overlap():
    ref = {"f": [(0.0, 10.0, "A"), (8.0, 15.0, "B"), (20.0, 25.0, "A")],
           "out_of_uem": [(0.0, 5.0, "C")]}
    hyp = {"f": [(0.0, 9.0, "x"), (9.0, 16.0, "y"), (19.0, 21.0, "x"), (21.0, 25.0, "y"), (26.0, 28.0, "z")],
           "no_reference": [(0.0, 2.0, "w")]}
    uem = {"f": [(0.0, 22.0), (24.0, 30.0)], "no_reference": [(0.0, 10.0)]}
    # Scored in f: the UEM minus 0.5 s on each side of the reference boundaries 0, 8, 10, 15, 20, 25:
    # [0.5, 7.5] A | [8.5, 9.5] A+B | [10.5, 14.5] B | [15.5, 19.5] none | [20.5, 22] A | [24, 24.5] A
    # | [25.5, 30] none. Mapping x->A, y->B. Reference speech 7 + 2*1 + 4 + 1.5 + 0.5 = 15 s.
    # missed: [8.5, 9.5] has two speakers, one hypothesised at a time: 1 s.
    # false alarm: y [15.5, 16], x [19, 19.5], z [26, 28] = 3 s, plus w in the UEM-only file: 2 s.
    # confusion: y where only A speaks: [21, 22], [24, 24.5] = 1.5 s (in [8.5, 9.5] x and y are both right).
    # "out_of_uem" is outside the UEM: not scored at all.
    result = der(ref, hyp, uem, collar=0.5)
    assert result["total"] == pytest.approx(15.0)
    assert result["missed"] == pytest.approx(1.0)
    assert result["false_alarm"] == pytest.approx(5.0)
    assert result["confusion"] == pytest.approx(1.5)
    assert result["der"] == pytest.approx(7.5 / 15.0)
    # Without the collar every boundary counts. Reference speech in the UEM: A 0-10, B 8-15, A 20-22,
    # A 24-25 = 20 s; missed [8, 10] (two speakers, one hypothesised) = 2 s; false alarm y 15-16,
    # x 19-20, z, w = 6 s; confusion y over A alone at [21, 22], [24, 25] = 2 s.
    plain = der(ref, hyp, uem, collar=0.0)
    assert plain["total"] == pytest.approx(20.0)
    assert plain["missed"] == pytest.approx(2.0)
    assert plain["false_alarm"] == pytest.approx(6.0)
    assert plain["confusion"] == pytest.approx(2.0)
    assert plain["der"] == pytest.approx(10.0 / 20.0)
