import csv
import io
import json
from pathlib import Path

import pytest

from testdata import need  # skips without the data, fails in CI

from speakerid_gui.core.formats.export import export
from speakerid_gui.core.formats.common import (
    LabelRow,
    Reference,
    load_reference,
    read_manifest,
    read_rttm,
    read_uem,
    rows_to_turns,
    rttm_file_ids,
    write_audacity,
    write_csv,
    write_json,
    write_rttm,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
AMI = DATA / "ami-debug"
LIBRI = DATA / "librispeech-test-other"


def row(rec, start, end, speaker, cluster=0, confidence=0.9, verified=False, noise=False):
    return LabelRow(rec, start, end, cluster, speaker, confidence, verified, noise)


def windows(rec, speakers, length=3.0, hop=1.5):
    """Sliding windows like the pipeline makes: one per speaker label, noise for None."""
    return [row(rec, i * hop, i * hop + length, spk or "noise", cluster=-1 if spk is None else 0,
                noise=spk is None) for i, spk in enumerate(speakers)]




# ---------------------------------------------------------------- turns

def test_overlapping_windows_split_at_overlap_midpoints():
    rows = [row("a.wav", 0, 3, "A"), row("a.wav", 1.5, 4.5, "A"), row("a.wav", 3, 6, "B")]
    assert rows_to_turns(rows) == {"a.wav": [(0, 3.75, "A"), (3.75, 6, "B")]}


def test_turns_ignore_input_order_and_separate_recordings():
    rows = [row("b.wav", 3, 6, "B"), row("a.wav", 0, 3, "A"), row("b.wav", 0, 3, "A")]
    assert rows_to_turns(rows) == {"a.wav": [(0, 3, "A")], "b.wav": [(0, 3, "A"), (3, 6, "B")]}


def test_noise_windows_leave_a_gap_and_min_gap_bridges_it():
    rows = windows("a.wav", ["A", None, "A"])  # [0,3] [1.5,4.5] [3,6]
    assert rows_to_turns(rows) == {"a.wav": [(0, 2.25, "A"), (3.75, 6, "A")]}
    assert rows_to_turns(rows, min_gap=1.5) == {"a.wav": [(0, 6, "A")]}
    assert rows_to_turns(rows, min_gap=1.0) == {"a.wav": [(0, 2.25, "A"), (3.75, 6, "A")]}


def test_non_overlapping_windows_keep_their_own_bounds():
    rows = [row("a.wav", 0, 2, "A"), row("a.wav", 5, 7, "A"), row("a.wav", 7, 9, "A")]
    assert rows_to_turns(rows) == {"a.wav": [(0, 2, "A"), (5, 9, "A")]}


def test_turns_never_overlap_with_irregular_windows():
    rows = [row("a.wav", 0, 10, "A"), row("a.wav", 2, 4, "B"), row("a.wav", 3, 12, "C")]
    turns = rows_to_turns(rows)["a.wav"]
    for (s1, e1, _), (s2, e2, _) in zip(turns, turns[1:]):
        assert s1 < e1 <= s2 < e2


def test_recording_with_only_noise_has_no_turns():
    assert rows_to_turns(windows("a.wav", [None, None])) == {"a.wav": []}


# ---------------------------------------------------------------- writers

def test_csv_round_trip_sorted_and_formatted(tmp_path):
    rows = [
        row("sub/b.flac", 1.5, 4.5, "Alice", cluster=2, confidence=0.87654, verified=True),
        row("sub/b.flac", 0.0, 3.0, "Alice", cluster=2, confidence=0.5),
        row("a.wav", 0.12345, 3.1, "noise", cluster=-1, confidence=0.0, noise=True),
    ]
    out = tmp_path / "deep" / "labels.csv"
    write_csv(rows, out)
    with open(out, encoding="utf-8", newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["recording", "start", "end", "cluster", "speaker", "confidence", "verified"]
    assert lines[1:] == [
        ["a.wav", "0.123", "3.100", "-1", "noise", "0.0000", "0"],
        ["sub/b.flac", "0.000", "3.000", "2", "Alice", "0.5000", "0"],
        ["sub/b.flac", "1.500", "4.500", "2", "Alice", "0.8765", "1"],
    ]


def test_csv_and_json_keep_non_ascii_names(tmp_path):
    rows = [row("Zoë/émission, été.wav", 0, 3, "Jürgen Ölz"), row("日本/声.flac", 0, 3, "話者")]
    write_csv(rows, tmp_path / "l.csv")
    with open(tmp_path / "l.csv", encoding="utf-8", newline="") as f:
        got = [(r["recording"], r["speaker"]) for r in csv.DictReader(f)]
    assert got == [("Zoë/émission, été.wav", "Jürgen Ölz"), ("日本/声.flac", "話者")]
    write_json(rows, tmp_path / "l.json")
    data = json.loads((tmp_path / "l.json").read_text(encoding="utf-8"))
    assert {s["recording"] for s in data["segments"]} == {"Zoë/émission, été.wav", "日本/声.flac"}
    assert "話者" in (tmp_path / "l.json").read_text(encoding="utf-8")  # not \u-escaped


def test_json_segments_and_speaker_summary(tmp_path):
    rows = windows("a.wav", ["A", "A", "B", None])  # [0,3] [1.5,4.5] [3,6] [4.5,7.5]
    write_json(rows, tmp_path / "out.json")
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert len(data["segments"]) == 4
    assert set(data["segments"][0]) == {"recording", "start", "end", "cluster", "speaker", "confidence",
                                        "verified", "noise"}
    assert data["segments"][3]["noise"] is True
    # seconds are the owned, non-overlapping spans: A [0,3.75], B [3.75,5.25], noise [5.25,7.5]
    assert data["speakers"] == {"A": {"segments": 2, "seconds": 3.75}, "B": {"segments": 1, "seconds": 1.5},
                                "noise": {"segments": 1, "seconds": 2.25}}


def test_rttm_round_trip(tmp_path):
    rows = windows("x/one.wav", ["A", "A", "B", "B"]) + windows("y/two.flac", ["C", None, "C"])
    path = tmp_path / "out" / "hyp.rttm"
    write_rttm(rows, path)
    assert read_rttm(path) == {"one": [(0.0, 3.75, "A"), (3.75, 7.5, "B")],
                               "two": [(0.0, 2.25, "C"), (3.75, 6.0, "C")]}


def test_rttm_ids_fall_back_to_paths_when_stems_clash_and_speakers_lose_spaces():
    rows = [row("a/x.wav", 0, 3, "Mary Ann"), row("b/x.wav", 0, 3, "Bob")]
    stream = io.StringIO()
    write_rttm(rows, stream)
    assert stream.getvalue().splitlines() == [
        "SPEAKER a__x 1 0.000 3.000 <NA> <NA> Mary_Ann <NA> <NA>",
        "SPEAKER b__x 1 0.000 3.000 <NA> <NA> Bob <NA> <NA>",
    ]
    assert rttm_file_ids(["a/x.wav", "c/y.wav"]) == {"a/x.wav": "x", "c/y.wav": "y"}


def test_audacity_one_file_per_recording(tmp_path):
    rows = windows("sub/é 1.wav", ["A", "A", "B"]) + windows("two.flac", [None])
    written = write_audacity(rows, tmp_path / "labels")
    assert sorted(p.relative_to(tmp_path / "labels").as_posix() for p in written) == ["sub/é 1.txt", "two.txt"]
    text = (tmp_path / "labels" / "sub" / "é 1.txt").read_text(encoding="utf-8")
    assert text.splitlines() == ["0.000000\t3.750000\tA", "3.750000\t6.000000\tB"]
    assert (tmp_path / "labels" / "two.txt").read_text(encoding="utf-8") == ""


def test_audacity_stays_inside_out_dir(tmp_path):
    written = write_audacity([row("../../evil.wav", 0, 3, "A")], tmp_path / "labels")
    assert written == [tmp_path / "labels" / "evil.txt"]


def test_export_dispatches_and_rejects_unknown(tmp_path):
    rows = windows("a.wav", ["A", "B"])
    for fmt, name in [("csv", "l.csv"), ("json", "l.json"), ("rttm", "l.rttm")]:
        assert export(rows, fmt, tmp_path / name) == [tmp_path / name]
        assert (tmp_path / name).stat().st_size > 0
    assert export(rows, "audacity", tmp_path / "aud") == [tmp_path / "aud" / "a.txt"]
    with pytest.raises(ValueError, match="xlsx"):
        export(rows, "xlsx", tmp_path / "l.xlsx")


# ---------------------------------------------------------------- readers and Reference

def test_read_manifest_keeps_multi_speaker_strings(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("path,speaker,duration_s\na/1.wav,S1,2.0\nb.wav,S1;S2,3.0\n", encoding="utf-8")
    assert read_manifest(p) == {"a/1.wav": "S1", "b.wav": "S1;S2"}
    ref = load_reference(p)
    assert ref.label_for("a/1.wav", 0, 1) == "S1"
    assert ref.label_for("b.wav", 0, 1) is None
    assert ref.speakers_of("b.wav") == {"S1", "S2"}
    assert ref.label_for("missing.wav", 0, 1) is None and ref.speakers_of("missing.wav") == set()


def test_load_reference_errors_name_the_file(tmp_path):
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("file,label\nx.wav,A\n", encoding="utf-8")
    empty_rttm = tmp_path / "empty.rttm"
    empty_rttm.write_text("# nothing\n", encoding="utf-8")
    broken_rttm = tmp_path / "broken.rttm"
    broken_rttm.write_text("SPEAKER f 1 zero 1.0 <NA> <NA> A <NA> <NA>\n", encoding="utf-8")
    other = tmp_path / "ref.txt"
    other.write_text("x", encoding="utf-8")
    for path in (bad_csv, empty_rttm, broken_rttm, other, tmp_path / "absent.rttm"):
        with pytest.raises(ValueError, match=path.name):
            load_reference(path)


def test_reference_matching_rules():
    ref = Reference(turns={"dev00": [(0, 10, "A")], "sub__rec": [(0, 10, "B")],
                           "x/same.wav": [(0, 10, "C")], "y/same.wav": [(0, 10, "D")]})
    assert ref.label_for("dev00.wav", 1, 4) == "A"          # without extension
    assert ref.label_for("other/dev00.flac", 1, 4) == "A"   # stem
    assert ref.label_for("sub/rec.wav", 1, 4) == "B"        # RTTM "__" form
    assert ref.label_for("x/same.wav", 1, 4) == "C"         # exact wins over the clashing stem
    assert ref.label_for("z/same.wav", 1, 4) is None        # ambiguous stem: no guess
    assert ref.recording_keys() == ["dev00", "sub__rec", "x/same.wav", "y/same.wav"]


def test_rttm_reference_on_real_ami_data():
    ref = load_reference(need(AMI / "reference.rttm"))
    assert ref.kind == "rttm"
    assert "dev00" in ref.recording_keys()
    assert ref.speakers_of("dev00.wav") == {"MEE009", "MEE012"}
    assert ref.label_for("dev00.wav", 2.0, 5.0) == "MEE009"
    assert ref.label_for("dev00.wav", 13.5, 16.5) == "MEE012"
    assert ref.label_for("dev00.wav", 12.0, 15.0) == "MEE012"   # 1.85 s of 3 vs 1.31 s
    assert ref.label_for("dev00.wav", 0.0, 1.4) is None          # silence before the first turn
    assert ref.label_for("dev00.wav", 16.0, 19.0) is None        # best speaker covers only 1.26 s of 3
    assert ref.label_for("meetings/dev00.wav", 2.0, 5.0) == "MEE009"


def test_real_uem_and_manifest_of_ami():
    uem = read_uem(need(AMI / "reference.uem"))
    assert uem["dev00"] == [(0.0, 30.0)]
    assert set(uem) == set(read_rttm(AMI / "reference.rttm"))
    ref = load_reference(need(AMI / "manifest.csv"))
    assert ref.label_for("dev00.wav", 0, 3) is None  # two speakers in the clip
    assert ref.label_for("trn02.wav", 0, 3) == "FEO066"


def test_manifest_reference_on_real_librispeech():
    ref = load_reference(need(LIBRI / "manifest.csv"))
    assert ref.kind == "manifest"
    assert len(ref.recording_keys()) == 100
    assert ref.label_for("1688/1688-142285-0000.flac", 0, 3) == "1688"
    assert ref.label_for("1688-142285-0000.flac", 0, 3) == "1688"   # copied out of its folder
    assert ref.label_for("1688/1688-142285-0000.wav", 0, 3) == "1688"  # converted
    assert ref.speakers_of("1688/1688-142285-0000.flac") == {"1688"}
    assert len({ref.label_for(k, 0, 1) for k in ref.recording_keys()}) == 10
