"""Shared fixtures for the headless-core tests: real speech, one small real project per session.

The session project is the 4 speakers x 3 utterances of LibriSpeech shipped in
tests/data/librispeech-mini (about 75 s of speech, so a clone anywhere runs it), analysed once with CAM++ and a PCA layout. Tests that change a
project work on a copy (`project_copy`), never on the session project itself.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coredata import MINI, BuiltProject, copy_libri, pick_libri


@pytest.fixture(scope="session")
def libri_audio(tmp_path_factory) -> tuple[Path, dict]:
    rows = pick_libri(folder=MINI)
    audio = tmp_path_factory.mktemp("libri") / "audio"
    truth = copy_libri(rows, audio, MINI)
    return audio, truth


@pytest.fixture(scope="session")
def session_project(libri_audio, tmp_path_factory) -> BuiltProject:
    """The real pipeline (CAM++, estimated count, PCA layout) run once, in process."""
    from speakerid_gui.core.pipeline import Settings, Summary, run
    from speakerid_gui.core.project.store import Project

    audio, truth = libri_audio
    folder = tmp_path_factory.mktemp("session") / "project"
    settings = Settings(layout="pca")
    summary = Summary()
    project = Project.create(folder, audio)
    events = list(run(project, settings, summary=summary))
    project.close()  # checkpoints the WAL, so copies of the folder are complete
    return BuiltProject(folder, audio, truth, events, summary, settings)


@pytest.fixture
def project_copy(session_project, tmp_path) -> Path:
    """A private copy of the session project folder (same audio), safe to mutate."""
    dest = tmp_path / "project"
    shutil.copytree(session_project.folder, dest)
    return dest


@pytest.fixture(scope="session")
def campp():
    from speakerid_gui.core.embed import BackendUnavailable, get_backend

    try:
        return get_backend("campp")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
