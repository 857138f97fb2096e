"""Labels in: a project started from RTTM / CSV / TextGrid labels gives back the same turns."""
from pathlib import Path

import pytest

from coredata import run_cli
from speakerid_gui.core.formats.export import export
from speakerid_gui.core.formats.common import read_rttm
from speakerid_gui.core.formats.labels_in import read_labels, tile_turns


def close_turns(a: dict, b: dict, tol=1.5e-3):
    assert sorted(a) == sorted(b)
    for key in a:
        assert len(a[key]) == len(b[key]), key
        for (s1, e1, k1), (s2, e2, k2) in zip(a[key], b[key]):
            assert k1 == k2 and abs(s1 - s2) <= tol and abs(e1 - e2) <= tol, (key, (s1, e1, k1), (s2, e2, k2))


@pytest.fixture(scope="module")
def original(session_project, tmp_path_factory):
    """The session project's labels, with named speakers, in every input format."""
    from speakerid_gui.cli import label_rows
    from speakerid_gui.core.project.store import Project

    project = Project.open(session_project.folder)
    rows = label_rows(project)
    project.close()
    names = {}
    for r in rows:  # give the speakers real names (with a space), as someone else's labels would
        r.speaker = names.setdefault(r.speaker, f"Speaker {chr(65 + len(names))}")
    out = tmp_path_factory.mktemp("labels")
    export(rows, "rttm", out / "ref.rttm")
    export(rows, "csv", out / "ref.csv")
    export(rows, "textgrid", out / "textgrids")
    return out, read_rttm(out / "ref.rttm")


def import_and_export(audio, labels, folder, out_rttm):
    from speakerid_gui.cli import label_rows
    from speakerid_gui.core.formats.labels_in import store_labels
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.project.store import Project

    project = Project.create(folder, audio)
    settings = Settings(layout="pca", prosody=False, labels=store_labels(project, labels))
    events = list(run(project, settings))
    rows = label_rows(project)
    export(rows, "rttm", out_rttm)
    names = sorted(info["name"] for info in project.clusters.values())
    project.close()
    return read_rttm(out_rttm), names, events


@pytest.mark.parametrize("source", ["ref.csv", "textgrids"])
def test_import_then_export_gives_back_the_same_turns(original, session_project, tmp_path, source):
    folder, reference = original
    turns, names, _ = import_and_export(session_project.audio, folder / source, tmp_path / "p", tmp_path / "back.rttm")
    close_turns(turns, {k: [(s, e, spk) for s, e, spk in v] for k, v in reference.items()})
    # RTTM tokens have no spaces; CSV and TextGrid keep the real names as cluster names
    assert names == sorted({spk.replace("_", " ") for v in reference.values() for _, _, spk in v})


@pytest.mark.slow
def test_cli_run_with_rttm_labels(original, session_project, tmp_path):
    folder, reference = original
    project = tmp_path / "from-rttm"
    run_cli("run", session_project.audio, "--project", project, "--labels", folder / "ref.rttm", "--quiet",
            "--layout", "pca", "--no-prosody", check=True)
    run_cli("export", project, "--format", "rttm", "--out", tmp_path / "back.rttm", check=True)
    close_turns(read_rttm(tmp_path / "back.rttm"), reference)
    # the imported labels live in the project: a second run needs nothing else and changes nothing
    again = run_cli("run", session_project.audio, "--project", project, "--quiet", "--layout", "pca",
                    "--no-prosody", "--labels", folder / "ref.rttm", check=True)
    assert "clusters:" in again.stdout
    run_cli("export", project, "--format", "rttm", "--out", tmp_path / "again.rttm", check=True)
    assert (tmp_path / "again.rttm").read_text() == (tmp_path / "back.rttm").read_text()


def test_recordings_without_labels_are_skipped_with_a_reason(session_project, tmp_path):
    rec = sorted(Path(session_project.audio).rglob("*.flac"))[0].relative_to(session_project.audio).as_posix()
    import soundfile as sf

    d = round(sf.info(str(session_project.audio / rec)).duration, 3)
    labels = tmp_path / "one.rttm"
    line = "SPEAKER {} 1 {:.3f} {:.3f} <NA> <NA> {} <NA> <NA>\n"
    labels.write_text(line.format(Path(rec).stem, 0.5, 2.0, "Ann")
                      + line.format(Path(rec).stem, 3.0, 0.01, "Bob")        # 10 ms: too short to embed
                      + line.format(Path(rec).stem, d - 1.0, 5.0, "Cid")     # runs past the end: cut there
                      + line.format(Path(rec).stem, d + 2.0, 1.0, "Dan"))    # after the end: no audio
    turns, names, events = import_and_export(session_project.audio, labels, tmp_path / "p", tmp_path / "b.rttm")
    stem = Path(rec).stem
    assert [t[2] for t in turns[stem]] == ["Ann", "Cid"] and names == ["Ann", "Cid"]
    assert turns[stem][0] == (0.5, 2.5, "Ann") and abs(turns[stem][1][0] - (d - 1.0)) < 2e-3
    assert abs(turns[stem][1][1] - d) < 2e-3
    skipped = [e.message for e in events if e.level == "warning"]
    assert len(skipped) == len(session_project.truth) - 1
    assert all("no labelled turns for it in" in m and "one.rttm" in m for m in skipped)


def test_bad_labels_files_are_named(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("path,who\na.wav,b\n")
    with pytest.raises(ValueError, match=r"x\.csv.*missing column"):
        read_labels(bad)
    with pytest.raises(ValueError, match="labels file not found"):
        read_labels(tmp_path / "nope.rttm")
    other = tmp_path / "x.txt"
    other.write_text("hello")
    with pytest.raises(ValueError, match="unknown labels format"):
        read_labels(other)
    proc = run_cli("run", tmp_path, "--project", tmp_path / "p", "--labels", bad)
    assert proc.returncode == 1 and "x.csv" in proc.stderr


def test_turns_are_tiled_exactly():
    tiles = tile_turns([(1.0, 8.5, "A"), (9.0, 9.2, "B")], 3.0)
    assert [t[2] for t in tiles] == ["A", "A", "A", "B"]
    assert tiles[0][0] == 1.0 and tiles[2][1] == 8.5 and tiles[0][1] == tiles[1][0]
    assert all(e - s <= 3.0 + 1e-9 for s, e, _ in tiles)
