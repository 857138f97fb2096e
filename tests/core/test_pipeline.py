"""The pipeline end to end: summary, caching (re-cluster without re-embedding), resume after
an interruption and after kill -9."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from coredata import run_cli
from speakerid_gui.core import analysis, embed, pipeline
from speakerid_gui.core.pipeline import Cancelled, Settings, Summary, embeddings, run
from speakerid_gui.core.project.store import Project



def segment_set(folder: Path) -> set[tuple[str, float, float]]:
    project = Project.open(folder)
    try:
        paths = {r.id: r.path for r in project.recordings()}
        return {(paths[int(r)], float(a), float(b))
                for r, a, b in zip(project.seg_recording, project.seg_start, project.seg_end)}
    finally:
        project.close()


def cache_mtimes(folder: Path) -> dict[str, int]:
    files = list((folder / "cache").rglob("*.np*"))
    assert files
    return {str(f.relative_to(folder)): f.stat().st_mtime_ns for f in files}


def test_session_run_summary_and_events(session_project):
    s = session_project.summary
    n_files = len(session_project.truth)
    assert (s.files_ok, s.files_skipped, s.skipped) == (n_files, 0, [])
    assert set(s.stage_seconds) == {"scan", "analyse", "cluster", "layout"}
    assert all(v >= 0 for v in s.stage_seconds.values())
    project = Project.open(session_project.folder)
    try:
        assert s.segments == project.n_segments > 0
        assert s.clusters == len(project.cluster_sizes())
        recs = project.recordings()
        assert s.speech_seconds == pytest.approx(sum(r.speech for r in recs))
        assert 0 < s.speech_seconds <= sum(r.duration for r in recs)
        assert {r.path for r in recs} == set(session_project.truth)
        stored = project.get_meta("settings")
        assert stored["layout"] == "pca" and stored["backend"] == "campp"
        emb = embeddings(project)
        assert emb.shape == (project.n_segments, 192) and np.all(np.isfinite(emb))
    finally:
        project.close()
    stages = [e.stage for e in session_project.events]
    assert stages == sorted(stages, key=["scan", "analyse", "cluster", "layout"].index)
    progress = [e for e in session_project.events if e.stage == "analyse" and e.done]
    assert progress[-1].done == progress[-1].total == n_files
    assert not [e for e in session_project.events if e.level == "warning"]


def test_rerun_with_other_speakers_reclusters_without_reembedding(project_copy, monkeypatch):
    before = cache_mtimes(project_copy)
    with_layout = Project.open(project_copy)
    layout_before = with_layout.load_array("layout").copy()
    with_layout.close()

    def no_backend(*a, **k):
        raise AssertionError("the embedding backend was built on a re-cluster")

    monkeypatch.setattr(embed, "get_backend", no_backend)
    project = Project.open(project_copy)
    summary = Summary()
    events = list(run(project, Settings(layout="pca", speakers=2), summary=summary))
    messages = {(e.stage, e.message) for e in events}
    assert ("analyse", "all recordings already analysed") in messages
    assert ("cluster", "2 clusters") in messages
    assert ("layout", "layout up to date") in messages
    assert summary.clusters == 2 == len(project.cluster_sizes())
    assert cache_mtimes(project_copy) == before
    np.testing.assert_array_equal(project.load_array("layout"), layout_before)
    # and the same settings again: nothing at all to do
    events = list(run(project, Settings(layout="pca", speakers=2)))
    assert ("cluster", "clusters up to date") in {(e.stage, e.message) for e in events}
    project.close()


def test_cancel_stops_between_batches(session_project, tmp_path):
    project = Project.create(tmp_path / "p", session_project.audio)
    with pytest.raises(Cancelled):
        for _ in run(project, Settings(layout="pca"), cancel=lambda: True):
            pass
    assert {r.status for r in project.recordings()} == {"pending"}
    project.close()


def _analysed(events):
    """Recordings an analyse run processed (one progress event with a path per recording)."""
    return [e.message for e in events if e.stage == "analyse" and e.level == "progress" and e.done
            and e.message and "recordings" not in e.message]


@pytest.mark.slow
def test_resume_after_interrupt_does_only_the_rest(session_project, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_SECONDS", 1.0)  # one recording per batch
    folder = tmp_path / "p"
    project = Project.create(folder, session_project.audio)
    gen = run(project, Settings(layout="pca"))
    seen = []
    for event in gen:
        seen.append(event)
        if len(_analysed(seen)) == 3:
            break
    with pytest.raises(KeyboardInterrupt):
        gen.throw(KeyboardInterrupt)
    project.close()

    project = Project.open(folder)
    recs = project.recordings()
    first = _analysed(seen)
    assert sorted(r.path for r in recs if r.status == "ok") == sorted(first)
    assert {r.status for r in recs if r.path not in first} == {"pending"}
    mtimes = cache_mtimes(folder)

    events = list(run(project, Settings(layout="pca")))
    rest = _analysed(events)
    n = len(session_project.truth)
    assert f"{n - 3} recordings to analyse with campp" in [e.message for e in events]
    assert sorted(rest) == sorted(set(session_project.truth) - set(first))
    after = cache_mtimes(folder)
    assert all(after[k] == v for k, v in mtimes.items())  # the first three were not redone
    assert all(r.status == "ok" for r in project.recordings())
    project.close()
    assert segment_set(folder) == segment_set(session_project.folder)
    resumed, clean = Project.open(folder), Project.open(session_project.folder)
    try:  # same segments and embeddings -> the same clustering
        np.testing.assert_allclose(embeddings(resumed), embeddings(clean), atol=1e-5)
        np.testing.assert_array_equal(resumed.cluster, clean.cluster)
    finally:
        resumed.close()
        clean.close()


KILL_SCRIPT = """
import sys
from speakerid_gui.core import pipeline
pipeline.BATCH_SECONDS = 1.0  # one recording per batch, so a kill lands mid-corpus
from speakerid_gui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _ok_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM recordings WHERE status='ok'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_9_mid_analysis_then_resume(session_project, tmp_path):
    folder = tmp_path / "p"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, "run", str(session_project.audio),
                             "--project", str(folder), "--layout", "pca"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    n = len(session_project.truth)
    deadline = time.monotonic() + 120
    try:
        while _ok_count(folder / "project.sqlite") < 2:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no recording was analysed within 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done_at_kill = _ok_count(folder / "project.sqlite")
    assert 2 <= done_at_kill < n, "the kill should land mid-corpus"

    result = run_cli("run", session_project.audio, "--project", folder, "--layout", "pca", check=True)
    assert f"{n - done_at_kill} recordings to analyse" in result.stderr
    assert f"files: {n} ok, 0 skipped" in result.stdout
    project = Project.open(folder)
    try:
        assert all(r.status == "ok" for r in project.recordings())
        reference = Project.open(session_project.folder)
        assert project.n_segments == reference.n_segments
        reference.close()
    finally:
        project.close()
    assert segment_set(folder) == segment_set(session_project.folder)
    # the CLI's closing summary
    out = result.stdout
    assert "speech:" in out and "min in" in out and "segments" in out
    assert "clusters:" in out and "time:" in out
    for stage in ("scan", "analyse", "cluster", "layout"):
        assert f"{stage} " in out.split("time:")[1]


def test_analyse_progress_is_determinate_in_files_and_seconds(session_project):
    """The first analyse event already knows how many files and seconds of audio there are;
    both counts only grow and end at their totals."""
    events = [e for e in session_project.events if e.stage == "analyse" and e.level == "progress"]
    first, last = events[0], events[-1]
    recs = Project.open(session_project.folder)
    try:
        seconds = sum(r.duration for r in recs.recordings())
    finally:
        recs.close()
    assert first.total == len(session_project.truth) and first.done == 0
    assert first.seconds == 0 and first.seconds_total == pytest.approx(seconds, rel=1e-3)
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert [e.seconds for e in events] == sorted(e.seconds for e in events)
    assert last.done == last.total and last.seconds == pytest.approx(last.seconds_total, rel=1e-3)


@pytest.mark.slow
def test_cancel_mid_batch_keeps_finished_recordings(session_project, tmp_path, monkeypatch):
    """Cancel is checked between model chunks inside a batch: recordings already embedded are
    stored, the rest stay pending, and a resumed run gives the same embeddings as an uninterrupted one."""
    monkeypatch.setattr(analysis, "EMBED_CHUNK_SECONDS", 3.0)  # about one window per model call
    folder = tmp_path / "p"
    project = Project.create(folder, session_project.audio)
    stop = {"now": False}
    seen = []
    with pytest.raises(Cancelled):
        for event in run(project, Settings(layout="pca"), cancel=lambda: stop["now"]):
            seen.append(event)
            if len(_analysed(seen)) == 2:
                stop["now"] = True  # the next check, a chunk later, raises
    analysed = _analysed(seen)
    assert len(analysed) == 2  # the cancel landed at the next model chunk
    statuses = {r.path: r.status for r in project.recordings()}
    assert sorted(p for p, s in statuses.items() if s == "ok") == sorted(analysed)
    assert {s for p, s in statuses.items() if p not in analysed} == {"pending"}
    list(run(project, Settings(layout="pca")))
    project.close()
    # CAM++ shares frames between the windows of one model call, so the reference is a run
    # straight through with the same chunk size
    straight = Project.create(tmp_path / "straight", session_project.audio)
    list(run(straight, Settings(layout="pca")))
    straight.close()
    resumed, clean = Project.open(folder), Project.open(tmp_path / "straight")
    try:
        np.testing.assert_allclose(embeddings(resumed), embeddings(clean), atol=1e-4)
    finally:
        resumed.close()
        clean.close()


def test_files_added_after_a_review_leave_the_reviewers_merge_and_moves_alone(libri_audio, tmp_path):
    """A reviewer merged two speakers' clusters (the machine keeps them apart) and moved one
    segment; then a new file lands in the folder and the project is run again. The new file's
    segments are clustered; the merge and the move stand (they used to be clustered over, and
    the edits before that clustering could no longer be undone)."""
    import shutil

    from coredata import LIBRI, libri_rows, need
    from speakerid_gui.core.project.edits import EditLog

    audio = tmp_path / "audio"
    shutil.copytree(libri_audio[0], audio)
    project = Project.create(tmp_path / "project", audio)
    list(run(project, Settings(layout="pca")))
    sizes = project.cluster_sizes()
    a, b, c = sorted(sizes, key=lambda k: -sizes[k])[:3]
    log = EditLog(project)
    log.merge([a, b], into=a)
    moved = int(np.flatnonzero(project.cluster == c)[0])
    log.move([moved], a)
    merged = np.flatnonzero(project.cluster == a)
    human = project.human.copy()
    row = next(r for r in libri_rows(need(LIBRI)) if 5 <= float(r["duration_s"]) <= 12)
    shutil.copy2(LIBRI / row["path"], audio / "new.flac")
    events = list(run(project, Settings(layout="pca")))
    assert ("cluster", "clusters up to date") not in {(e.stage, e.message) for e in events}
    new = next(r for r in project.recordings() if r.path == "new.flac")
    assert new.status == "ok" and (project.cluster[project.seg_recording == new.id] >= 0).all()
    assert (project.cluster[merged] == a).all() and project.cluster[moved] == a
    assert np.array_equal(project.human[:len(human)], human)
    project.close()


def test_a_project_of_one_file_and_a_file_deleted_since_are_handled(libri_audio, tmp_path):
    """`speakerid run FILE` used to skip that very file ("file not found": its path was resolved
    against the file itself); now it is analysed, and a second run finds it up to date. A file
    deleted from a folder project since its analysis is said by name, its segments kept."""
    import shutil

    audio, _ = libri_audio
    one = sorted(audio.rglob("*.flac"))[0]
    proc = run_cli("run", one, "--project", tmp_path / "one", "--layout", "pca", "--no-prosody", check=True)
    assert "files: 1 ok, 0 skipped" in proc.stdout
    p = Project.open(tmp_path / "one")
    try:
        assert p.n_segments > 0 and p.recording_path(p.recordings()[0].id) == one.resolve()
    finally:
        p.close()
    again = run_cli("run", one, "--project", tmp_path / "one", "--layout", "pca", "--no-prosody", check=True)
    assert "files: 1 ok, 0 skipped" in again.stdout and "no longer" not in again.stdout + again.stderr
    folder = tmp_path / "folder"
    shutil.copytree(audio, folder)
    run_cli("run", folder, "--project", tmp_path / "p", "--layout", "pca", "--no-prosody", check=True)
    gone = sorted(folder.rglob("*.flac"))[0]
    gone.unlink()
    proc = run_cli("run", folder, "--project", tmp_path / "p", "--layout", "pca", "--no-prosody", check=True)
    out = proc.stdout + proc.stderr
    assert "1 recording of the project no longer in" in out and gone.name in out
