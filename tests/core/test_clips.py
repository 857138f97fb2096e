"""Clip export: exact source audio per span, metadata.csv, the options, bad files reported."""
import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from coredata import LIBRI, need
from speakerid_gui.core.formats.clips import METADATA_HEADER, ClipOptions, export_clips, plan_clips
from speakerid_gui.core.formats.common import LabelRow, rows_to_turns


def row(rec, start, end, speaker, confidence=0.9, verified=False, noise=False):
    return LabelRow(rec, start, end, -1 if noise else 0, speaker, confidence, verified, noise)


def metadata(out: Path) -> list[dict]:
    with open(out / "metadata.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == METADATA_HEADER
        return list(reader)


@pytest.fixture
def stereo(tmp_path) -> Path:
    """A real utterance as a 44.1 kHz stereo 24-bit WAV (the right channel delayed), so 'source
    rate' and 'exact samples' mean something other than 16 kHz mono."""
    import soxr

    src = sorted(need(LIBRI).rglob("*.flac"))[0]
    wave, sr = sf.read(src, dtype="float32")
    hi = soxr.resample(wave, sr, 44100)
    data = np.stack([hi, np.roll(hi, 441)], axis=1) * 0.9
    folder = tmp_path / "audio"
    folder.mkdir()
    sf.write(folder / "talk.wav", data, 44100, subtype="PCM_24")
    return folder


def test_project_clips_hold_exactly_the_source_audio_of_each_turn(session_project, tmp_path):
    from speakerid_gui.cli import label_rows
    from speakerid_gui.core.project.store import Project

    project = Project.open(session_project.folder)
    rows = label_rows(project)
    project.close()
    out = tmp_path / "clips"
    report = export_clips(rows, session_project.audio, out)
    meta = metadata(out)
    turns = rows_to_turns(rows)
    assert len(meta) == len(report.clips) == sum(len(t) for t in turns.values())  # one clip per RTTM turn
    for m in meta:
        clip, sr = sf.read(out / m["file"], dtype="int16")
        info = sf.info(out / m["file"])
        src = session_project.audio / m["recording"]
        assert sr == sf.info(src).samplerate and info.subtype == "PCM_16"
        first, last = round(float(m["start"]) * sr), round(float(m["end"]) * sr)
        source, _ = sf.read(src, start=first, stop=last, dtype="int16")
        np.testing.assert_array_equal(clip, source)
        assert Path(m["file"]).parts[0] == m["speaker"]  # one folder per speaker
        assert m["verified"] in ("0", "1") and 0 <= float(m["confidence"]) <= 1
    spans = sorted((m["recording"], round(float(m["start"]), 3), round(float(m["end"]), 3), m["speaker"]) for m in meta)
    expected = sorted((rec, round(s, 3), round(e, 3), spk) for rec, t in turns.items() for s, e, spk in t)
    assert len(spans) == len(expected)
    for a, b in zip(spans, expected):
        assert a[0] == b[0] and a[3] == b[3] and abs(a[1] - b[1]) < 1e-3 and abs(a[2] - b[2]) < 1e-3


def test_source_rate_channels_and_bits_are_kept(stereo, tmp_path):
    rows = [row("talk.wav", 0.5, 2.0, "A"), row("talk.wav", 2.0, 3.25, "B")]
    export_clips(rows, stereo, tmp_path / "out")
    meta = metadata(tmp_path / "out")
    assert [m["speaker"] for m in meta] == ["A", "B"]
    clip, sr = sf.read(tmp_path / "out" / meta[0]["file"], dtype="int32")
    assert sr == 44100 and clip.shape == (round(1.5 * 44100), 2)
    assert sf.info(tmp_path / "out" / meta[0]["file"]).subtype == "PCM_24"
    source, _ = sf.read(stereo / "talk.wav", start=round(0.5 * 44100), stop=round(2.0 * 44100), dtype="int32")
    np.testing.assert_array_equal(clip, source)


def test_16k_mono_padding_and_lengths(stereo, tmp_path):
    duration = sf.info(stereo / "talk.wav").duration
    rows = [row("talk.wav", 0.0, 0.3, "A"), row("talk.wav", 1.0, 8.0, "B"), row("talk.wav", duration - 0.5, duration, "C")]
    opts = ClipOptions(sample_rate=16000, mono=True, min_length=0.4, max_length=3.0, padding=0.25)
    export_clips(rows, stereo, tmp_path / "out", opts)
    meta = metadata(tmp_path / "out")
    assert [m["speaker"] for m in meta] == ["B", "B", "B", "C"]  # A too short; B cut into 3 pieces of 2.33 s
    for m in meta:
        clip, sr = sf.read(tmp_path / "out" / m["file"])
        assert sr == 16000 and clip.ndim == 1
        assert len(clip) == pytest.approx((float(m["end"]) - float(m["start"])) * 16000, abs=2)
    assert float(meta[0]["start"]) == pytest.approx(0.75, abs=1e-4)  # padded by 0.25 s
    assert float(meta[-1]["end"]) == pytest.approx(duration, abs=1e-4)  # padding stops at the file's end


def test_verified_and_confidence_filters_keep_time_out_of_neighbours():
    rows = [row("a.wav", 0, 3, "A", verified=True), row("a.wav", 1.5, 4.5, "A", confidence=0.3),
            row("a.wav", 3, 6, "A", verified=True)]
    assert [(c.start, c.end) for c in plan_clips(rows, ClipOptions())] == [(0, 6)]
    # the doubtful middle window still owns its time: two turns, not one spanning it
    assert [(c.start, c.end) for c in plan_clips(rows, ClipOptions(min_confidence=0.5))] == [(0, 2.25), (3.75, 6)]
    assert len(plan_clips(rows, ClipOptions(verified_only=True))) == 2
    assert [(c.start, c.end) for c in plan_clips(rows, ClipOptions(unit="segment", verified_only=True))] == \
        [(0, 3), (3, 6)]
    assert all(c.verified for c in plan_clips(rows, ClipOptions(verified_only=True)))


def test_unreadable_recording_is_reported_and_the_rest_written(stereo, tmp_path):
    (stereo / "broken.wav").write_bytes(b"RIFF....not audio")
    rows = [row("broken.wav", 0, 1, "A"), row("gone.wav", 0, 1, "A"), row("talk.wav", 0, 1, "A/B")]
    report = export_clips(rows, stereo, tmp_path / "out")
    assert sorted(r for r, _ in report.skipped) == ["broken.wav", "gone.wav"]
    assert all(reason for _, reason in report.skipped)
    meta = metadata(tmp_path / "out")
    assert len(meta) == 1 and meta[0]["file"].startswith("A_B/")  # a name with '/' is one safe folder


def test_cli_export_clips(session_project, tmp_path):
    from coredata import run_cli

    out = tmp_path / "clips"
    proc = run_cli("export", session_project.folder, "--format", "clips", "--out", out, "--sample-rate", "8000",
                   "--max-length", "4", check=True)
    assert "clips" in proc.stdout
    meta = metadata(out)
    assert meta and all(sf.info(out / m["file"]).samplerate == 8000 for m in meta)
    assert all(float(m["end"]) - float(m["start"]) <= 4.0 + 1e-3 for m in meta)


def test_exporting_again_after_a_rename_leaves_no_old_speaker_folder(stereo, tmp_path):
    """A speaker renamed between two exports into one folder left its old folder beside the new
    one (the same voice twice in the data set, and clips metadata.csv does not list). The second
    export removes the clips the first one wrote and it does not, and never a file of the user's."""
    out = tmp_path / "clips"
    first = export_clips([row("talk.wav", 0.5, 2.0, "S0"), row("talk.wav", 2.5, 4.0, "Ada")], stereo, out)
    assert {Path(c.file).parts[0] for c in first.clips} == {"S0", "Ada"}
    (out / "README.txt").write_text("my notes")  # the user's own file, never listed by an export
    (out / "S0" / "keep.wav").write_bytes(b"not ours")
    second = export_clips([row("talk.wav", 0.5, 2.0, "Grace"), row("talk.wav", 2.5, 4.0, "Ada")], stereo, out)
    assert second.removed == 1
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*.wav")}
    assert on_disk == {c.file for c in second.clips} | {"S0/keep.wav"}
    assert {r["file"] for r in metadata(out)} == {c.file for c in second.clips}
    assert (out / "README.txt").read_text() == "my notes"
    export_clips([row("talk.wav", 0.5, 2.0, "Grace")], stereo, out)
    assert not (out / "Ada").exists()  # a speaker folder its removed clips leave empty goes too
    assert (out / "S0" / "keep.wav").exists()


def test_a_folder_holding_someone_elses_metadata_csv_is_refused(stereo, tmp_path):
    """A data set's own metadata.csv (other columns) is neither overwritten nor taken as a list of
    clips to remove: the export says so and writes nothing."""
    out = tmp_path / "dataset"
    out.mkdir()
    (out / "wavs").mkdir()
    (out / "wavs" / "a.wav").write_bytes(b"theirs")
    (out / "metadata.csv").write_text("file,text\nwavs/a.wav,hello\n")
    with pytest.raises(ValueError, match="not written by a clip export"):
        export_clips([row("talk.wav", 0.5, 2.0, "S0")], stereo, out)
    assert (out / "metadata.csv").read_text() == "file,text\nwavs/a.wav,hello\n" and (out / "wavs" / "a.wav").exists()
    assert not (out / "S0").exists()
