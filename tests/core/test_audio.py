"""Decoding and ingest: 16 kHz mono float32, and one clear reason per unusable file."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from coredata import LIBRI, libri_rows, need, pick_libri, run_cli
from speakerid_gui.core.audio import decode as audio
from speakerid_gui.core.audio.decode import SAMPLE_RATE, AudioError, find_audio_files, load_audio, probe, resample
from speakerid_gui.core.pipeline import Settings, analyse, scan
from speakerid_gui.core.project.store import Project


# ---------------------------------------------------------------- load_audio


def _utterance(min_s=5.0, max_s=11.0):
    rows = [r for r in libri_rows() if min_s <= float(r["duration_s"]) <= max_s]
    return sorted(rows, key=lambda r: r["path"])[0]


def test_load_audio_gives_16k_mono_float32_of_the_right_length():
    row = _utterance()
    wave = load_audio(LIBRI / row["path"])
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) / SAMPLE_RATE == pytest.approx(float(row["duration_s"]), abs=0.01)
    assert np.all(np.isfinite(wave)) and 0.01 < np.abs(wave).max() <= 1.0


def test_load_audio_mixes_stereo_44k_and_resamples(tmp_path):
    row = _utterance()
    wave = load_audio(LIBRI / row["path"])
    hi = resample(wave, SAMPLE_RATE, 44100)
    stereo = np.stack([hi, 0.5 * hi], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 44100)
    info = probe(path)
    assert (info.samplerate, info.channels) == (44100, 2)
    back = load_audio(path)
    assert back.dtype == np.float32 and back.ndim == 1
    assert len(back) / SAMPLE_RATE == pytest.approx(len(wave) / SAMPLE_RATE, abs=0.01)
    n = min(len(back), len(wave))
    # the mono mix is 0.75 x the original; the round trip through 44.1 kHz keeps the waveform
    corr = np.corrcoef(back[:n], wave[:n])[0, 1]
    assert corr > 0.99
    assert np.abs(back).max() == pytest.approx(0.75 * np.abs(wave).max(), rel=0.1)


def test_a_long_file_is_decoded_a_block_at_a_time_into_the_same_samples(tmp_path):
    # blocks of BLOCK_SECONDS through soxr's stream: the samples of one whole-file read and
    # resample, without holding the file at 48 kHz stereo (a 3 h one would be 4 GB)
    import soxr

    speech = np.concatenate([load_audio(LIBRI / r["path"]) for r in libri_rows()[:3]])
    assert len(speech) > 2.5 * audio.BLOCK_SECONDS * SAMPLE_RATE
    hi = resample(speech, SAMPLE_RATE, 48000)
    path = tmp_path / "long_48k_stereo.wav"
    sf.write(path, np.stack([hi, 0.5 * hi], axis=1), 48000, subtype="FLOAT")
    whole, _ = sf.read(path, dtype="float32")
    expected = soxr.resample(whole.mean(axis=1), 48000, SAMPLE_RATE, quality="HQ")
    got = load_audio(path)
    assert got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    assert len(got) == len(expected) and np.array_equal(got, expected)


def test_load_audio_upsamples_8k(tmp_path):
    row = _utterance()
    wave = load_audio(LIBRI / row["path"])
    path = tmp_path / "narrow.wav"
    sf.write(path, resample(wave, SAMPLE_RATE, 8000), 8000, subtype="PCM_16")
    back = load_audio(path)
    assert back.dtype == np.float32
    assert len(back) == pytest.approx(len(wave), abs=SAMPLE_RATE * 0.01)


def test_load_audio_refuses_files_over_max_seconds_before_decoding(tmp_path, monkeypatch):
    row = _utterance(9.0, 12.0)
    path = LIBRI / row["path"]
    decoded = []
    refuse = lambda *a, **k: decoded.append(a) or (_ for _ in ()).throw(AssertionError)  # noqa: E731
    monkeypatch.setattr(sf, "read", refuse)
    monkeypatch.setattr(audio, "_decode", refuse)  # (load_audio's block-by-block decoder)
    with pytest.raises(AudioError) as err:
        load_audio(path, max_seconds=5.0)
    assert "too long" in err.value.reason and "split" in err.value.reason
    assert "> 0:00:05)" in err.value.reason  # h:mm:ss: minutes alone read "180 min > 180 min" at 3 h 13 s
    assert err.value.path == str(path)
    assert not decoded, "a too-long file must be refused from its header, without decoding it"


@pytest.mark.parametrize("name, content, reason", [
    ("empty.flac", b"", "empty file"),
    ("random.wav", bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)), "not readable"),
    ("notes.mp3", b"these are my meeting notes, not audio\n" * 20, "not readable"),
])
def test_load_audio_errors_name_file_and_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert reason in err.value.reason
    assert name in str(err.value) and "\n" not in str(err.value)
    # the reason neither repeats the path nor says that a file it opened does not exist
    assert str(tmp_path) not in err.value.reason and "does not exist" not in err.value.reason


def test_a_text_file_named_mp3_is_said_to_hold_no_mp3_stream(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_bytes(b"these are my meeting notes, not audio\n" * 20)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert err.value.reason == "not readable as audio (no MP3 stream found in it)"


def test_a_cut_short_flac_gives_the_samples_before_the_cut_and_says_so(tmp_path):
    # libsndfile fails a whole read of it ("lost sync"); every second before the damage is kept
    source = LIBRI / libri_rows()[0]["path"]
    whole = source.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(Exception):
        sf.read(cut)
    notes = []
    wave = load_audio(cut, notes=notes)
    full = load_audio(source)
    assert 0.2 * len(full) < len(wave) < 0.6 * len(full)
    assert np.allclose(wave[: len(wave) - SAMPLE_RATE // 10], full[: len(wave) - SAMPLE_RATE // 10], atol=1e-4)
    assert len(notes) == 1 and "only the first" in notes[0] and "lost sync" in notes[0], notes
    assert np.array_equal(load_audio(cut), wave)  # every caller (playback, prosody, timeline) the same samples
    header_only = tmp_path / "header.flac"
    header_only.write_bytes(whole[:200])
    with pytest.raises(AudioError):
        load_audio(header_only)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT"])
def test_a_wav_its_recorder_never_closed_is_read_with_a_note(tmp_path, subtype):
    # the data chunk's size left at 0 (power lost while recording): libsndfile reads no frames
    import struct

    speech = load_audio(LIBRI / libri_rows()[0]["path"])[: 6 * SAMPLE_RATE]
    hi = resample(speech, SAMPLE_RATE, 44100)
    closed = tmp_path / "closed.wav"
    sf.write(closed, np.stack([hi, 0.5 * hi], axis=1), 44100, subtype=subtype)
    raw = bytearray(closed.read_bytes())
    at = raw.find(b"data")
    raw[at + 4:at + 8] = struct.pack("<I", 0)
    raw[4:8] = struct.pack("<I", 0)
    unclosed = tmp_path / "unclosed.wav"
    unclosed.write_bytes(bytes(raw))
    assert sf.info(unclosed).frames == 0
    info = probe(unclosed)
    assert info.unclosed and (info.samplerate, info.channels) == (44100, 2)
    assert info.duration == pytest.approx(sf.info(closed).duration)
    notes = []
    got = load_audio(unclosed, notes=notes)
    assert np.array_equal(got, load_audio(closed))  # the same samples as the closed file's
    assert len(notes) == 1 and "never closed" in notes[0], notes
    assert np.array_equal(audio.read_span(unclosed, 2.0, 3.5), audio.read_span(closed, 2.0, 3.5))
    header_only = tmp_path / "header_only.wav"
    header_only.write_bytes(bytes(raw[:at + 8]))  # nothing after the header: no audio
    with pytest.raises(AudioError, match="no audio frames"):
        load_audio(header_only)


def test_load_audio_missing_and_too_short(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "gone.wav")
    path = tmp_path / "blip.wav"
    sf.write(path, np.zeros(int(0.1 * SAMPLE_RATE), np.float32) + 0.1, SAMPLE_RATE)
    with pytest.raises(AudioError, match="too short"):
        load_audio(path)


def test_read_span_reads_the_span_and_names_the_file_when_it_cannot(tmp_path):
    """Playback reads spans long after analysis: past the end is empty; a vanished or
    replaced file is an AudioError naming it, not a raw decoder error."""
    wave = (0.1 * np.sin(np.arange(32000) / 10)).astype(np.float32)
    path = tmp_path / "tone é.wav"
    sf.write(path, wave, SAMPLE_RATE)
    span = audio.read_span(path, 0.5, 1.0)
    assert np.allclose(span, wave[8000:16000], atol=1e-4)
    assert audio.read_span(path, 5.0, 6.0).size == 0
    path.write_bytes(b"not audio any more")
    with pytest.raises(AudioError) as err:
        audio.read_span(path, 0.0, 1.0)
    assert str(path) in str(err.value)
    path.unlink()
    with pytest.raises(AudioError, match="tone"):
        audio.read_span(path, 0.0, 1.0)


def test_find_audio_files_recurses_sorted_and_skips_hidden(tmp_path):
    for rel in ["b/x.WAV", "a/y.flac", ".hidden/z.wav", "a/.dot.wav", "a/readme.txt", "c.mp3"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)]
    assert found == ["a/y.flac", "b/x.WAV", "c.mp3"]


# ---------------------------------------------------------------- ingest of a messy folder

BAD = {  # file name -> words the reason must contain
    "corrupt.wav": "not readable",
    "empty.flac": "empty file",
    "silent.wav": "silent",
    "notes.mp3": "not readable",
    "blip.wav": "too short",
}
GOOD = ["Grüße_日本.flac", "stereo_44k.wav", "narrow_8k.wav", "good_a.flac", "good_b.flac", "good_c.flac"]
PARTIAL = "cut_short.flac"  # half its bytes: used up to where it stops decoding, with a warning
UNCLOSED = "unclosed.wav"  # its data chunk's size left at 0: read as it is, with a warning


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory):
    rows = pick_libri(n_speakers=2, per_speaker=3)
    folder = tmp_path_factory.mktemp("messy") / "audio"
    folder.mkdir()
    rng = np.random.default_rng(1)
    (folder / "corrupt.wav").write_bytes(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    (folder / "empty.flac").write_bytes(b"")
    sf.write(folder / "silent.wav", np.zeros(5 * SAMPLE_RATE, np.float32), SAMPLE_RATE)
    (folder / "notes.mp3").write_text("agenda: 1. budget 2. hiring\n" * 50)
    speech = load_audio(LIBRI / rows[0]["path"])
    sf.write(folder / "blip.wav", speech[SAMPLE_RATE: SAMPLE_RATE + SAMPLE_RATE // 10], SAMPLE_RATE)
    shutil.copy2(LIBRI / rows[1]["path"], folder / "Grüße_日本.flac")
    w2 = load_audio(LIBRI / rows[2]["path"])
    hi = resample(w2, SAMPLE_RATE, 44100)
    sf.write(folder / "stereo_44k.wav", np.stack([hi, 0.8 * hi], axis=1), 44100)
    sf.write(folder / "narrow_8k.wav", resample(load_audio(LIBRI / rows[3]["path"]), SAMPLE_RATE, 8000), 8000)
    for name, row in zip(["good_a.flac", "good_b.flac", "good_c.flac"], rows[3:6]):
        shutil.copy2(LIBRI / row["path"], folder / name)
    whole = (LIBRI / rows[4]["path"]).read_bytes()
    (folder / PARTIAL).write_bytes(whole[: len(whole) // 2])
    sf.write(folder / UNCLOSED, load_audio(LIBRI / rows[0]["path"]), SAMPLE_RATE)
    raw = bytearray((folder / UNCLOSED).read_bytes())
    at = raw.find(b"data")
    raw[at + 4:at + 8] = bytes(4)
    (folder / UNCLOSED).write_bytes(bytes(raw))
    return folder


@pytest.fixture(scope="module")
def messy_run(messy_folder, tmp_path_factory):
    project = tmp_path_factory.mktemp("messy-project") / "p"
    proc = run_cli("run", messy_folder, "--project", project, "--layout", "pca", "--no-prosody")
    return proc, project


@pytest.mark.slow
def test_run_on_messy_folder_exits_zero_and_reports_each_bad_file_once(messy_run):
    proc, _ = messy_run
    assert proc.returncode == 0, proc.stderr
    lines = (proc.stdout + proc.stderr).splitlines()
    for name, reason in BAD.items():
        mentions = [ln for ln in lines if name in ln and "skipped" in ln]
        assert len(mentions) == 1, f"{name}: expected one line, got {mentions}"
        assert reason in mentions[0], mentions[0]
    for name in GOOD:
        assert not any(name in ln and "skipped" in ln for ln in lines), name
    partial = [ln for ln in lines if PARTIAL in ln and ("warning" in ln or "skipped" in ln)]
    assert len(partial) == 1 and "warning:" in partial[0] and "only the first" in partial[0], partial
    unclosed = [ln for ln in lines if UNCLOSED in ln and ("warning" in ln or "skipped" in ln)]
    assert len(unclosed) == 1 and "warning:" in unclosed[0] and "never closed" in unclosed[0], unclosed
    assert "Traceback" not in proc.stderr
    assert f"{len(GOOD) + 2} ok, {len(BAD)} skipped" in proc.stdout


@pytest.mark.slow
def test_run_on_messy_folder_stores_status_per_file(messy_run):
    _, folder = messy_run
    project = Project.open(folder)
    try:
        recs = {r.path: r for r in project.recordings()}
        assert set(recs) == set(BAD) | set(GOOD) | {PARTIAL, UNCLOSED}
        for name in (PARTIAL, UNCLOSED):
            assert recs[name].status == "ok" and recs[name].speech > 1.0, recs[name]
        from speakerid_gui.core.project.cache import decode_notes

        notes = decode_notes(project)  # kept, so they are still said after the run
        assert set(notes) == {PARTIAL, UNCLOSED}
        assert "only the first" in notes[PARTIAL] and "never closed" in notes[UNCLOSED]
        for name, reason in BAD.items():
            assert recs[name].status == "skipped", (name, recs[name])
            assert reason in recs[name].error
        for name in GOOD:
            assert recs[name].status == "ok", (name, recs[name].error)
            assert recs[name].error is None
            assert recs[name].speech and recs[name].speech > 1.0
        # good files (non-ASCII name, stereo 44.1 kHz, 8 kHz) all have segments, bad ones none
        ok_ids = {recs[n].id for n in [*GOOD, PARTIAL, UNCLOSED]}
        assert set(np.unique(project.seg_recording).tolist()) == ok_ids
        durations = {r.id: r.duration for r in recs.values()}
        for rid, end in zip(project.seg_recording, project.seg_end):
            assert end <= durations[int(rid)] + 1e-3
    finally:
        project.close()


@pytest.mark.slow
def test_info_names_the_recordings_used_in_part_until_they_decode_whole(messy_run):
    from speakerid_gui.core.project.cache import decode_notes, remember_decode_notes

    _, folder = messy_run
    info = run_cli("info", folder)
    assert info.returncode == 0, info.stderr
    lines = [ln for ln in info.stdout.splitlines() if "used in part" in ln]
    assert len(lines) == 2 and any(PARTIAL in ln for ln in lines) and any(UNCLOSED in ln for ln in lines)
    copy = folder.parent / "notes-copy"
    shutil.copytree(folder, copy)
    project = Project.open(copy)
    try:
        remember_decode_notes(project, PARTIAL, [])  # as a run does once the file decodes whole
        assert set(decode_notes(project)) == {UNCLOSED}
    finally:
        project.close()


@pytest.mark.slow
def test_file_deleted_after_scan_is_skipped_as_not_found(tmp_path):
    rows = pick_libri(n_speakers=1, per_speaker=3)
    folder = tmp_path / "audio"
    folder.mkdir()
    names = []
    for i, row in enumerate(rows):
        names.append(f"utt{i}.flac")
        shutil.copy2(LIBRI / row["path"], folder / names[-1])
    project = Project.create(tmp_path / "p", folder)
    settings = Settings(layout="pca", prosody=False)
    list(scan(project, settings, lambda: False))
    (folder / names[1]).unlink()
    events = list(analyse(project, settings, lambda: False))
    warnings = [e.message for e in events if e.level == "warning"]
    assert len(warnings) == 1 and names[1] in warnings[0] and "not found" in warnings[0]
    recs = {r.path: r for r in project.recordings()}
    assert recs[names[1]].status == "skipped" and "not found" in recs[names[1]].error
    assert recs[names[0]].status == recs[names[2]].status == "ok"
    assert set(np.unique(project.seg_recording).tolist()) == {recs[names[0]].id, recs[names[2]].id}
    project.close()


@pytest.mark.slow
def test_pipeline_skips_files_longer_than_the_module_limit(tmp_path, monkeypatch):
    """audio.MAX_SECONDS is the pipeline's limit for huge files; lowering it must apply."""
    row = _utterance(9.0, 12.0)
    short = _utterance(4.0, 6.0)
    folder = tmp_path / "audio"
    folder.mkdir()
    shutil.copy2(LIBRI / row["path"], folder / "long.flac")
    shutil.copy2(LIBRI / short["path"], folder / "short.flac")
    monkeypatch.setattr(audio, "MAX_SECONDS", 8.0)
    project = Project.create(tmp_path / "p", folder)
    settings = Settings(layout="pca", prosody=False)
    list(scan(project, settings, lambda: False))
    list(analyse(project, settings, lambda: False))
    recs = {r.path: r for r in project.recordings()}
    project.close()
    assert recs["short.flac"].status == "ok"
    assert recs["long.flac"].status == "skipped"
    assert "too long" in (recs["long.flac"].error or "")


def test_need_real_data():
    """Guard: the real-speech tests above must not all be silently skipped on this machine."""
    need(LIBRI / "manifest.csv")
    assert len(libri_rows()) == 100
