"""`speakerid` subcommands on real projects: export formats, evaluate, info, undo/redo, edit, errors."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

from coredata import AMI, LIBRI, MINI, need, run_cli
from speakerid_gui.core.project.edits import EditLog
from speakerid_gui.core.project.store import Project

pytestmark = pytest.mark.slow

METRIC_KEYS = ["accuracy", "purity", "coverage", "nmi", "ari", "rand_index", "mutual_info",
               "recording_accuracy", "eer", "top5", "intra", "inter", "n_clusters", "n_speakers"]


def largest_cluster(project: Project) -> int:
    return max(project.cluster_sizes().items(), key=lambda kv: kv[1])[0]


@pytest.fixture
def renamed(project_copy):
    """A copy of the session project with its largest cluster named "Alice Smith" (via the CLI)
    and the first two segments of its longest recording marked as noise."""
    project = Project.open(project_copy)
    cid = largest_cluster(project)
    rids, counts = np.unique(project.seg_recording, return_counts=True)
    assert counts.max() >= 3
    noise = np.flatnonzero(project.seg_recording == rids[counts.argmax()])[:2]
    EditLog(project).mark_noise(noise)
    project.close()
    run_cli("edit", project_copy, "--rename", cid, "Alice Smith", check=True)
    return project_copy, cid, noise


# ---------------------------------------------------------------- export

def test_export_csv(renamed, tmp_path, session_project):
    folder, cid, noise = renamed
    out = tmp_path / "labels.csv"
    proc = run_cli("export", folder, "--format", "csv", "--out", out, check=True)
    project = Project.open(folder)
    n_rows = project.n_segments - len(noise)
    assert f"wrote {n_rows} segments" in proc.stdout
    with open(out, newline="", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "recording,start,end,cluster,speaker,confidence,verified"
    rows = list(csv.DictReader(lines))
    assert len(rows) == n_rows
    assert {r["recording"] for r in rows} == set(session_project.truth)  # relative to the input folder
    for r in rows:
        assert not PurePosixPath(r["recording"]).is_absolute()
        assert (session_project.audio / r["recording"]).exists()
        c = int(r["cluster"])
        assert c >= 0
        assert r["speaker"] == project.cluster_name(c)
        assert 0.0 <= float(r["start"]) < float(r["end"])
        assert 0.0 <= float(r["confidence"]) <= 1.0
        assert r["verified"] in ("0", "1")
    alice = [r for r in rows if int(r["cluster"]) == cid]
    assert alice and all(r["speaker"] == "Alice Smith" for r in alice)
    assert not any(r["speaker"] == "Alice Smith" for r in rows if int(r["cluster"]) != cid)
    # noise segments are left out, and come back with --include-noise
    noisy = {(project.recording_path(int(project.seg_recording[i])).relative_to(session_project.audio).as_posix(),
              f"{project.seg_start[i]:.3f}") for i in noise}
    assert not noisy & {(r["recording"], r["start"]) for r in rows}
    out2 = tmp_path / "all.csv"
    run_cli("export", folder, "--format", "csv", "--out", out2, "--include-noise", check=True)
    with open(out2, newline="", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == project.n_segments
    project.close()


def test_export_json(renamed, tmp_path):
    folder, cid, noise = renamed
    out = tmp_path / "labels.json"
    run_cli("export", folder, "--format", "json", "--out", out, check=True)
    data = json.loads(out.read_text(encoding="utf-8"))
    project = Project.open(folder)
    assert len(data["segments"]) == project.n_segments - len(noise)
    assert "Alice Smith" in data["speakers"]
    assert data["speakers"]["Alice Smith"]["segments"] == int((project.cluster == cid).sum())
    total = sum(v["seconds"] for v in data["speakers"].values())
    speech = sum(r.speech for r in project.recordings())
    assert 0 < total <= speech + 1.0  # non-overlapping time, not the sum of overlapping windows
    project.close()


def parse_rttm(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    turns: dict[str, list] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split()
        assert len(f) == 10 and f[0] == "SPEAKER" and f[2] == "1", line
        start, dur = float(f[3]), float(f[4])
        assert start >= 0 and dur > 0, line
        turns.setdefault(f[1], []).append((start, start + dur, f[7]))
    return turns


def test_export_rttm(renamed, tmp_path, session_project):
    folder, cid, _ = renamed
    out = tmp_path / "labels.rttm"
    run_cli("export", folder, "--format", "rttm", "--out", out, check=True)
    turns = parse_rttm(out)
    assert set(turns) == {PurePosixPath(p).stem for p in session_project.truth}
    for file_id, ts in turns.items():
        ts.sort()
        for (a0, a1, _), (b0, _, _) in zip(ts, ts[1:]):
            assert a1 <= b0 + 1e-3, f"overlapping turns in {file_id}"
    assert "Alice_Smith" in {spk for ts in turns.values() for _, _, spk in ts}
    # the exported RTTM reads back as a reference and scores the project perfectly against itself
    proc = run_cli("evaluate", folder, "--reference", out, "--json", check=True)
    result = json.loads(proc.stdout)
    assert result["accuracy"] >= 0.95


def test_export_audacity(renamed, tmp_path, session_project):
    folder, _, _ = renamed
    out = tmp_path / "labels"
    run_cli("export", folder, "--format", "audacity", "--out", out, check=True)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt"))
    assert files == sorted(str(PurePosixPath(p).with_suffix(".txt")) for p in session_project.truth)
    for f in out.rglob("*.txt"):
        lines = f.read_text(encoding="utf-8").splitlines()
        assert lines
        prev_end = 0.0
        for line in lines:
            start, end, label = line.split("\t")
            assert prev_end - 1e-6 <= float(start) < float(end)
            prev_end = float(end)
            assert label


# ---------------------------------------------------------------- evaluate

def check_metrics(result: dict):
    for key in METRIC_KEYS:
        assert key in result, key
    for key in ("accuracy", "purity", "coverage", "nmi", "rand_index", "recording_accuracy", "eer", "top5"):
        assert 0.0 <= result[key] <= 1.0, (key, result[key])
    assert -1.0 <= result["ari"] <= 1.0
    assert result["mutual_info"] >= 0.0
    assert 0.0 <= result["intra"] <= 2.0 and 0.0 <= result["inter"] <= 2.0
    assert result["n_clusters"] >= 1 and result["n_speakers"] >= 1


def test_evaluate_against_the_manifest(session_project):
    manifest = need(LIBRI / "manifest.csv")
    proc = run_cli("evaluate", session_project.folder, "--reference", manifest, check=True)
    for key in METRIC_KEYS:
        assert key in proc.stdout, key
    proc = run_cli("evaluate", session_project.folder, "--reference", manifest, "--json", check=True)
    result = json.loads(proc.stdout)
    check_metrics(result)
    assert result["n_speakers"] == len(set(session_project.truth.values()))
    assert result["n_scored"] == Project.open(session_project.folder).n_segments
    assert result["accuracy"] >= 0.9
    assert result["intra"] < result["inter"]


def test_evaluate_with_an_unrelated_reference_fails_clearly(session_project, tmp_path):
    ref = tmp_path / "other.csv"
    ref.write_text("path,speaker\nnot/a/file.flac,X\n")
    proc = run_cli("evaluate", session_project.folder, "--reference", ref)
    assert proc.returncode != 0
    assert "no segment" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def ami_project(tmp_path_factory):
    need(AMI / "reference.rttm")
    audio = tmp_path_factory.mktemp("ami") / "audio"
    audio.mkdir()
    for name in ("dev00.wav", "tst01.wav"):
        shutil.copy2(AMI / name, audio / name)
    folder = audio.parent / "project"
    proc = run_cli("run", audio, "--project", folder, "--layout", "pca", "--no-prosody")
    assert proc.returncode == 0, proc.stderr
    return folder


def test_evaluate_with_an_rttm_reference(ami_project):
    rttm = AMI / "reference.rttm"
    proc = run_cli("evaluate", ami_project, "--reference", rttm, check=True)
    assert "accuracy" in proc.stdout
    result = json.loads(run_cli("evaluate", ami_project, "--reference", rttm, "--json", check=True).stdout)
    check_metrics(result)
    ref_speakers = set()
    for line in rttm.read_text().splitlines():
        f = line.split()
        if f and f[1] in ("dev00", "tst01"):
            ref_speakers.add(f[7])
    assert 1 <= result["n_speakers"] <= len(ref_speakers)
    assert result["n_scored"] > 0
    # the diarization error rate of the exported turns, inside reference.uem, on these two clips only
    assert "diarization error rate" in proc.stdout
    uem = sum(float(f[3]) - float(f[2]) for f in (line.split() for line in (AMI / "reference.uem").read_text()
                                                   .splitlines()) if f and f[0] in ("dev00", "tst01"))
    assert 0 < result["total"] <= uem + 1e-6  # reference speech of the two clips, not of all 14
    assert 0 <= result["der"] < 1.0
    assert result["der"] == pytest.approx((result["missed"] + result["false_alarm"] + result["confusion"])
                                          / result["total"])


# ---------------------------------------------------------------- run, info, undo/redo, edit

def test_run_on_a_missing_folder_fails_with_a_clear_message(tmp_path):
    missing = tmp_path / "no-such-folder"
    proc = run_cli("run", missing, "--project", tmp_path / "p", timeout=60)
    assert proc.returncode != 0
    assert "no-such-folder" in proc.stderr and "not found" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "p").exists()


def test_run_rejects_a_non_positive_hop(tmp_path, session_project):
    proc = run_cli("run", session_project.audio, "--project", tmp_path / "p", "--hop", "0", timeout=60)
    assert proc.returncode != 0
    assert "--hop" in proc.stderr and "Traceback" not in proc.stderr


def test_commands_on_a_missing_project_fail_clearly(tmp_path):
    for args in (["info"], ["undo"], ["export", "--format", "csv", "--out", tmp_path / "x.csv"]):
        proc = run_cli(args[0], tmp_path / "nothing", *args[1:], timeout=60)
        assert proc.returncode != 0, args
        assert "no project here" in proc.stderr and "Traceback" not in proc.stderr


def test_info(session_project):
    proc = run_cli("info", session_project.folder, check=True)
    project = Project.open(session_project.folder)
    n = len(session_project.truth)
    assert f"recordings: {n} ok, 0 skipped, 0 pending" in proc.stdout
    assert f"segments: {project.n_segments}, verified 0, noise 0" in proc.stdout
    assert f"clusters: {len(project.cluster_sizes())}" in proc.stdout
    assert "analysed: windows mode, campp (CAM++)" in proc.stdout  # long readings: CAM++ alone
    for cid in project.cluster_sizes():
        assert project.cluster_name(cid) in proc.stdout
    project.close()


def test_rerun_of_a_finished_project_is_quick_and_reports_the_same(session_project, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(session_project.folder, folder)
    proc = run_cli("run", session_project.audio, "--project", folder, "--layout", "pca", check=True)
    assert "all recordings already analysed" in proc.stderr
    assert "clusters up to date" in proc.stderr
    s = session_project.summary
    assert f"files: {s.files_ok} ok, 0 skipped" in proc.stdout
    assert f"in {s.segments} segments" in proc.stdout
    assert f"clusters: {s.clusters}" in proc.stdout


def test_a_run_leaves_a_complete_project_and_its_umap_map(tmp_path):
    """`speakerid run` exits without the interpreter's teardown (cli.entry) once it has closed
    its project: the WAL is checkpointed into project.sqlite and removed (a copy of that one
    file is the whole project), and the umap layout made by the helper process is in it."""
    folder = tmp_path / "p"
    proc = run_cli("run", MINI, "--project", folder, check=True)
    assert "files:" in proc.stdout and "layout" in proc.stderr
    assert not (folder / "project.sqlite-wal").exists() and not (folder / "project.sqlite-shm").exists()
    alone = tmp_path / "copy"
    alone.mkdir()
    shutil.copy(folder / "project.sqlite", alone / "project.sqlite")
    shutil.copytree(folder / "arrays", alone / "arrays")
    project = Project.open(alone)  # the database file alone holds every segment, cluster and the map
    xy = project.load_array("layout")
    assert project.n_segments > 20 and len(project.cluster_sizes()) >= 2
    assert xy is not None and xy.shape == (project.n_segments, 2) and np.isfinite(xy).all()
    assert np.ptp(xy, axis=0).min() > 0  # a real 2-D map, not points on a line
    project.close()


def test_an_edit_of_a_cluster_that_is_not_there_is_refused_by_name(project_copy):
    """It used to be logged as done ("rename S99 to Bob") and change nothing."""
    project = Project.open(project_copy)
    missing = max(project.cluster_sizes()) + 7
    project.close()
    history = run_cli("edit", project_copy, "--history", check=True).stdout
    for args in (("--rename", missing, "Bob"), ("--verify", missing), ("--merge", 0, missing), ("--split", missing)):
        proc = run_cli("edit", project_copy, *args)
        assert proc.returncode == 2 and f"no cluster {missing}" in proc.stderr, args
    proc = run_cli("edit", project_copy, "--rename", "Bob", "Bob")
    assert proc.returncode == 2 and "cluster number" in proc.stderr
    assert run_cli("edit", project_copy, "--history", check=True).stdout == history  # nothing logged


def test_edit_undo_redo_via_cli(project_copy):
    project = Project.open(project_copy)
    sizes = project.cluster_sizes()
    a, b = sorted(sizes, key=lambda c: -sizes[c])[:2]
    project.close()

    proc = run_cli("edit", project_copy, "--rename", a, "Bea", check=True)
    assert "rename" in proc.stdout and "Bea" in proc.stdout
    proc = run_cli("edit", project_copy, "--merge", a, b, check=True)
    assert "merge" in proc.stdout
    project = Project.open(project_copy)
    assert b not in project.cluster_sizes() and project.cluster_sizes()[a] == sizes[a] + sizes[b]
    assert project.cluster_name(a) == "Bea"
    project.close()

    run_cli("edit", project_copy, "--verify", a, check=True)
    project = Project.open(project_copy)
    assert project.verified[project.cluster == a].all() and project.verified.sum() == sizes[a] + sizes[b]
    project.close()

    proc = run_cli("undo", project_copy, check=True)
    assert proc.stdout.startswith("undo: verify")
    proc = run_cli("undo", project_copy, check=True)
    assert proc.stdout.startswith("undo: merge")
    project = Project.open(project_copy)
    assert project.cluster_sizes() == sizes and not project.verified.any()
    project.close()
    proc = run_cli("redo", project_copy, check=True)
    assert proc.stdout.startswith("redo: merge")
    project = Project.open(project_copy)
    assert b not in project.cluster_sizes()
    project.close()

    proc = run_cli("edit", project_copy, "--split", a, "--into", "2", check=True)
    assert "split" in proc.stdout
    project = Project.open(project_copy)
    after = project.cluster_sizes()
    assert len(after) == len(sizes)  # merged two, split one in two
    assert sum(after.values()) == sum(sizes.values())
    project.close()

    proc = run_cli("edit", project_copy, "--history", check=True)
    lines = proc.stdout.splitlines()
    kinds = [line.split()[2] for line in lines]
    assert kinds == ["split", "merge", "rename", "cluster"]  # newest first; the undone verify was discarded
    assert all(line.split()[1] == "done" for line in lines)

    proc = run_cli("redo", project_copy)
    assert proc.returncode == 3 and "nothing to redo" in proc.stdout
    for _ in range(3):  # split, merge, rename
        assert run_cli("undo", project_copy, check=True).stdout.startswith("undo: ")
    proc = run_cli("undo", project_copy)  # the clustering is not an edit
    assert proc.returncode == 3 and "nothing to undo" in proc.stdout and "clustering" in proc.stdout
    project = Project.open(project_copy)
    assert project.cluster_sizes() == sizes and (project.cluster >= 0).all()
    project.close()


def test_simulate_review_leaves_the_project_unchanged_and_says_so(ami_project):
    """Without --in-place the simulated reviewer works on a copy, and its output says so."""
    before = Project.open(ami_project)
    labels, n_edits = before.cluster.copy(), len(EditLog(before).history())
    before.close()
    proc = run_cli("simulate-review", ami_project, "--reference", AMI / "reference.rttm", "--budget", "10%",
                   "--no-random", timeout=300, check=True)
    assert "left unchanged" in proc.stdout and "min:" in proc.stdout  # accuracy vs share heard and minutes
    after = Project.open(ami_project)
    try:
        assert np.array_equal(after.cluster, labels) and len(EditLog(after).history()) == n_edits
    finally:
        after.close()
    proc = run_cli("simulate-review", "--help", check=True)
    assert "left unchanged" in " ".join(proc.stdout.split())


def test_a_reader_that_stops_early_is_not_an_error(session_project):
    """`speakerid info P | head -1`: the closed pipe ends the command quietly (it printed a traceback)."""
    import subprocess

    from coredata import speakerid_command

    proc = subprocess.Popen([*speakerid_command(), "info", str(session_project.folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err, err
