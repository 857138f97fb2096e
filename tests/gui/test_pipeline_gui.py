"""New projects from the window: the pipeline in a worker thread with progress, early
results, Cancel, and closing the window mid-job."""
from __future__ import annotations


import pytest

from speakerid_gui.core.pipeline import Settings
from speakerid_gui.core.project.store import Project


FAST = dict(backend="mfcc", layout="pca")  # no model weights, no numba: the GUI mechanics are the subject


def test_new_project_runs_in_background_and_shows_results(make_window, tmp_path, qtbot, libri_subset):
    audio = libri_subset(tmp_path / "audio", speakers=2, files=2)
    w = make_window()
    events, partials = [], []
    assert w.pages.new_project(audio, Settings(speakers=2, **FAST), project_dir=tmp_path / "proj")
    job = w.state.pipeline
    assert job is not None and job.isRunning() and w.progress.isVisible()
    job.progress.connect(events.append)
    job.partial_result.connect(lambda p: partials.append(p[0] if p[0] == "layout" else p))
    assert not w.action("merge_similar").isEnabled()  # no edits while the pipeline relabels
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=120_000)
    assert job.outcome == "ok"
    assert "layout" in partials  # the PCA preview arrived before the end
    assert ("stage_done", "cluster") in partials
    assert {e.stage for e in events} >= {"analyse", "cluster"}
    p = w.state.session.project
    assert p.n_segments > 5 and len(p.cluster_sizes()) == 2
    assert len(w.scatter.base.data) == p.n_segments and w.clusters.model.rowCount() == 2
    assert w.state.current_cluster in p.cluster_sizes()
    assert not w.progress.isVisible() and w.action("merge_similar").isEnabled()
    assert p.get_meta("gui_pending") is None
    assert "Analysis done" in w.statusBar().currentMessage()


def test_progress_is_throttled(qtbot):
    from speakerid_gui.core.pipeline import Event
    from speakerid_gui.gui.workers import Job

    def busy(job):
        for i in range(20000):
            job.report(Event("analyse", i + 1, 20000))
        return "done"

    job = Job("busy", busy)
    received = []
    job.progress.connect(received.append)
    with qtbot.waitSignal(job.succeeded, timeout=10000):
        job.start()
    job.wait()
    assert received[-1].done == 20000  # the last event is never lost
    assert len(received) < 100  # at most ~5 per second, not 20,000


def test_worker_error_names_the_file(make_window, tmp_path, qtbot):
    audio = tmp_path / "audio"
    audio.mkdir()
    Project.create(tmp_path / "proj", audio).close()
    audio.rmdir()  # the recordings disappeared since the project was made
    w = make_window(tmp_path / "proj")
    w.background.start_pipeline(Settings(**FAST))
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=60_000)
    assert w.last_error is not None and "audio" in w.last_error and "not found" in w.last_error


@pytest.fixture
def long_corpus(tmp_path, libri_subset):
    return libri_subset(tmp_path / "audio", speakers=10, files=10)  # > 1 batch of audio


def test_cancel_stops_between_batches_and_resume_finishes(make_window, long_corpus, tmp_path, qtbot):
    w = make_window()
    assert w.pages.new_project(long_corpus, Settings(speakers=10, **FAST), project_dir=tmp_path / "proj")
    job = w.state.pipeline
    w.progress.cancel_button.click()
    assert not w.progress.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=120_000)
    assert job.outcome == "cancelled"
    assert "cancelled" in w.statusBar().currentMessage()
    assert w.action("resume").isEnabled()
    p = Project.open(tmp_path / "proj")
    done = sum(r.status == "ok" for r in p.recordings())
    p.close()
    assert 0 <= done < 100  # stopped early
    w.action("resume").trigger()
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=300_000)
    assert len(w.state.session.project.cluster_sizes()) == 10
    assert not w.action("resume").isEnabled()


def test_progress_preview_cancel_mid_batch_and_the_resume_banner(make_window, long_corpus, tmp_path, qtbot,
                                                                  monkeypatch):
    """The analysis bar counts files and minutes from its first event; points appear in the
    scatter while the analysis runs; Cancel lands between model chunks inside the first batch of
    audio (finished files kept); the partial project says so and Resume finishes it."""
    from speakerid_gui.core import analysis, pipeline
    from speakerid_gui.gui import jobs

    monkeypatch.setattr(jobs, "PREVIEW_SECONDS", 0.0)  # a preview at every chance (the mechanics)
    monkeypatch.setattr(analysis, "EMBED_CHUNK_SECONDS", 3.0)
    w = make_window()
    assert w.pages.new_project(long_corpus, Settings(speakers=10, **FAST), project_dir=tmp_path / "proj")
    job = w.state.pipeline
    bar = w.progress.bars["analyse"]
    seen, previews, shown = [], [], []
    job.progress.connect(lambda ev: ev.stage == "analyse" and seen.append((ev.done, bar.maximum(), bar.format())))

    def partial(payload):
        if payload[0] == "preview":
            previews.append(payload[2])
            shown.append(len(w.scatter.xy))

    job.partial_result.connect(partial)
    qtbot.waitUntil(lambda: len(previews) >= 2 or w.state.pipeline is None, timeout=120_000)
    assert seen and seen[0][1] > 1, "the analysis bar was not determinate from its first event"
    assert "of 100 files" in seen[0][2] and "min" in seen[0][2]
    assert previews and previews == sorted(previews) and shown[-1] == previews[-1]  # points while it runs
    w.progress.cancel_button.click()
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=120_000)
    assert job.outcome == "cancelled"
    p = Project.open(tmp_path / "proj")
    done = sum(r.status == "ok" for r in p.recordings())
    seconds = sum(r.duration or 0 for r in p.recordings() if r.status == "ok")
    p.close()
    assert 0 < done < 100 and seconds < pipeline.BATCH_SECONDS  # stopped inside the first batch, work kept
    banner = w.resume_banner
    assert banner.isVisible() and f"{done} of 100 recordings analysed" in banner.text.text()
    assert w.action("resume").isEnabled()
    banner.resume_button.click()
    assert w.state.pipeline is not None and not banner.isVisible()
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=300_000)
    assert len(w.state.session.project.cluster_sizes()) == 10
    assert not banner.isVisible() and not w.action("resume").isEnabled()


def test_closing_the_window_during_a_job_cancels_and_exits(make_window, long_corpus, tmp_path, qtbot):
    w = make_window()
    assert w.pages.new_project(long_corpus, Settings(**FAST), project_dir=tmp_path / "proj")
    job = w.state.pipeline
    w.close()
    assert w.isVisible() and job.cancelled()  # waits for the worker instead of killing it
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=120_000)
    assert job.outcome == "cancelled" and not w.jobs and w.state.session is None  # the thread ran out, then the window closed


@pytest.mark.slow
def test_try_the_demo_from_the_start_page(make_window, tmp_path, qtbot, monkeypatch):
    import speakerid_gui.gui.background_tasks as tasks

    w = make_window()
    assert w.stack.currentWidget() is w.start_page
    monkeypatch.setattr(tasks, "DEMO_SETTINGS", Settings(**FAST))
    w.start_page.demo_button.click()
    qtbot.waitUntil(lambda: w.state.session is not None, timeout=60_000)
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=180_000)
    p = w.state.session.project
    assert len(p.recordings()) == 17 and p.n_segments > 50
    assert w.stack.currentWidget() is w.review_page
    assert p.get_meta("reference").endswith("reference.rttm")
    w.background.evaluate()
    qtbot.waitUntil(lambda: not w.jobs, timeout=60_000)
    assert w.evaluation.result["n_speakers"] == 5


def test_exact_copies_are_named_when_the_analysis_ends(make_window, tmp_path, qtbot, libri_subset):
    import shutil

    audio = libri_subset(tmp_path / "audio", speakers=2, files=2)
    original = sorted(p for p in audio.rglob("*") if p.is_file())[0]
    shutil.copy2(original, audio / f"copy of {original.name}")
    w = make_window()
    assert w.pages.new_project(audio, Settings(speakers=2, **FAST), project_dir=tmp_path / "proj")
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=120_000)
    assert w.last_error.startswith("1 file is an exact copy")  # in a message box, its first line in the status bar
    assert f"copy of {original.name} = {original.relative_to(audio).as_posix()}" in w.last_error
    from PySide6.QtWidgets import QApplication, QMessageBox

    box = QApplication.activeModalWidget()
    assert isinstance(box, QMessageBox)
    activated = []
    w.activateWindow = lambda: activated.append(True)  # a bare X server leaves no window active
    box.accept()
    assert activated  # the keys go back to the review when the box is closed


def test_what_the_analysis_warns_about_is_shown_when_it_ends(make_window, tmp_path, qtbot, libri_subset):
    """Warnings other than skipped files reach the window too: here the note that on telephone
    speech a known speaker count is worth giving (pipeline.count_notes)."""
    import numpy as np
    import soundfile as sf
    import soxr
    from scipy.signal import butter, sosfilt

    from speakerid_gui.core.audio.channel import TELEPHONE_COUNT_NOTE

    wide = libri_subset(tmp_path / "wide", speakers=2, files=2)
    sos = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    for path in sorted(wide.rglob("*.flac")):
        wave, sr = sf.read(path, dtype="float32")
        target = tmp_path / "phone" / path.relative_to(wide).with_suffix(".wav")
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, np.clip(sosfilt(sos, soxr.resample(wave, sr, 8000)), -1, 1), 8000, subtype="ULAW")
    w = make_window()
    assert w.pages.new_project(tmp_path / "phone", Settings(**FAST), project_dir=tmp_path / "proj")
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=120_000)
    assert TELEPHONE_COUNT_NOTE in (w.last_error or "")


def test_new_files_dropped_into_the_folder_are_analysed_from_the_file_menu(make_window, libri_subset, tmp_path,
                                                                            qtbot):
    """File > Analyse new files in the folder: the recordings copied in after the analysis get
    segments and clusters; the ones analysed before keep theirs. (Resume analysis is only there
    for an interrupted run.)"""
    import shutil

    from testdata import MINI

    audio = libri_subset(tmp_path / "audio", speakers=2, files=2)
    w = make_window()
    assert w.pages.new_project(audio, Settings(**FAST), project_dir=tmp_path / "proj")
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=120_000)
    p = w.state.session.project
    before = {r.path for r in p.recordings() if r.status == "ok"}
    assert len(before) == 4 and not w.action("resume").isEnabled() and w.action("add_new").isEnabled()
    shutil.copy2(MINI / "1688" / "1688-142285-0003.flac", audio / "added.flac")
    w.action("add_new").trigger()
    assert w.state.pipeline is not None
    qtbot.waitUntil(lambda: w.state.pipeline is None, timeout=120_000)
    p = w.state.session.project
    added = next(r for r in p.recordings() if r.path == "added.flac")
    assert added.status == "ok" and (p.seg_recording == added.id).sum() > 0
    assert (p.cluster[p.seg_recording == added.id] >= 0).all()
    assert {r.path for r in p.recordings() if r.status == "ok"} == before | {"added.flac"}
