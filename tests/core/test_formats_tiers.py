"""TextGrid / EAF / WebVTT exports: written and read back by praatio, pympi-ling and webvtt-py,
and turn for turn the same as the RTTM export."""
from pathlib import Path

import pytest

from speakerid_gui.core.formats.export import export
from speakerid_gui.core.formats.common import LabelRow, read_rttm, rows_to_turns, rttm_file_ids
from speakerid_gui.core.formats.tiers import read_eaf, read_textgrid, read_tier_files, read_vtt

READ = {"textgrid": (read_textgrid, ".TextGrid"), "eaf": (read_eaf, ".eaf"), "vtt": (read_vtt, ".vtt")}


def row(rec, start, end, speaker, cluster=0, noise=False):
    return LabelRow(rec, start, end, cluster, speaker, 0.8, False, noise)


def sample_rows():
    rows = []
    # sliding windows (3 s, hop 1.5) with a speaker change, a noise window, and a name with spaces
    speakers = ["Ann Lee", "Ann Lee", "B", "B", "noise", "Ann Lee", "C<x>"]
    for i, spk in enumerate(speakers):
        rows.append(row("talks/a.flac", i * 1.5, i * 1.5 + 3.0, spk, cluster=-1 if spk == "noise" else i,
                        noise=spk == "noise"))
    rows += [row("b.wav", 0.25, 1.125, "B"), row("b.wav", 5.0, 7.333, "Ann Lee")]
    return rows


def rttm_turns(rows, tmp_path):
    export(rows, "rttm", tmp_path / "ref.rttm")
    by_id = read_rttm(tmp_path / "ref.rttm")
    ids = rttm_file_ids(r.recording for r in rows)
    return {rec: by_id.get(fid, []) for rec, fid in ids.items()}


def close(a, b, tol=1.5e-3):
    assert len(a) == len(b), (a, b)
    for (s1, e1, k1), (s2, e2, k2) in zip(a, b):
        assert abs(s1 - s2) <= tol and abs(e1 - e2) <= tol and k1 == k2, ((s1, e1, k1), (s2, e2, k2))


@pytest.mark.parametrize("fmt", ["textgrid", "eaf", "vtt"])
def test_every_format_agrees_with_rttm_turn_for_turn(fmt, tmp_path):
    rows = sample_rows()
    reference = rttm_turns(rows, tmp_path)
    files = export(rows, fmt, tmp_path / fmt, durations={"talks/a.flac": 12.0})
    reader, suffix = READ[fmt]
    assert sorted(p.relative_to(tmp_path / fmt).as_posix() for p in files) == \
        sorted([f"talks/a{suffix}", f"b{suffix}"])
    for recording, turns in reference.items():
        rel = Path(recording)
        back = reader(tmp_path / fmt / rel.parent / (rel.stem + suffix))
        expected = [(s, e, "C(x)" if fmt == "vtt" and k == "C<x>" else k) for s, e, k in turns]
        # RTTM writes speaker tokens without spaces; the other formats keep the real name
        close(back, [(s, e, k.replace("Ann_Lee", "Ann Lee")) for s, e, k in expected])
    assert reference["talks/a.flac"][0][2] == "Ann_Lee"  # the sample does exercise names with spaces


def test_textgrid_has_a_tier_per_speaker_spanning_the_recording(tmp_path):
    from praatio import textgrid

    export(sample_rows(), "textgrid", tmp_path, durations={"talks/a.flac": 12.0})
    tg = textgrid.openTextgrid(str(tmp_path / "talks" / "a.TextGrid"), includeEmptyIntervals=False)
    assert sorted(tg.tierNames) == ["Ann Lee", "B", "C<x>"]
    assert tg.maxTimestamp == pytest.approx(12.0)


def test_eaf_has_a_tier_per_speaker_and_links_the_media(tmp_path):
    import pympi

    export(sample_rows(), "eaf", tmp_path, media_root="/data/audio")
    eaf = pympi.Elan.Eaf(str(tmp_path / "b.eaf"))
    assert sorted(eaf.get_tier_names()) == ["Ann Lee", "B"]
    assert eaf.media_descriptors[0]["MEDIA_URL"] == "file:///data/audio/b.wav"


def test_vtt_cues_carry_voice_tags(tmp_path):
    export(sample_rows(), "vtt", tmp_path)
    text = (tmp_path / "b.vtt").read_text()
    assert text.startswith("WEBVTT")
    assert "00:00:00.250 --> 00:00:01.125" in text and "<v B>" in text and "<v Ann Lee>" in text


def test_overlapping_turns_of_two_speakers_survive(tmp_path):
    # conversation mode may give overlapping speech: tiers and cues may overlap in time
    from speakerid_gui.core.formats.tiers import write_eaf, write_textgrid, write_vtt

    turns = {"m.wav": [(0.0, 4.0, "A"), (3.0, 5.5, "B"), (6.0, 7.0, "A")]}
    write_textgrid(turns, tmp_path / "tg")
    write_eaf(turns, tmp_path / "eaf")
    write_vtt(turns, tmp_path / "vtt")
    for reader, path in [(read_textgrid, "tg/m.TextGrid"), (read_eaf, "eaf/m.eaf"), (read_vtt, "vtt/m.vtt")]:
        close(reader(tmp_path / path), turns["m.wav"])


def test_real_project_round_trip(session_project, tmp_path):
    from speakerid_gui.cli import label_rows
    from speakerid_gui.core.project.store import Project

    project = Project.open(session_project.folder)
    rows = label_rows(project)
    project.close()
    turns = rows_to_turns(rows)
    assert sum(len(t) for t in turns.values()) >= 4
    for fmt in READ:
        export(rows, fmt, tmp_path / fmt)
        back = read_tier_files(tmp_path / fmt)
        for recording, expected in turns.items():
            close(back[str(Path(recording).with_suffix(""))], expected)


def test_unreadable_files_are_named(tmp_path):
    bad = tmp_path / "x.TextGrid"
    bad.write_text("not a textgrid")
    with pytest.raises(ValueError, match="x.TextGrid"):
        read_textgrid(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no TextGrid"):
        read_tier_files(tmp_path / "empty")
