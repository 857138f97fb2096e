"""The default backend is chosen for the corpus (embed/choice.py): CAM++ on long recordings, CAM++
joined by GE2E on clips shorter than a window. Counts stay decided on CAM++; the library keeps
CAM++ voiceprints; a classifier centres new audio as its corpus was."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from coredata import cut_mini_clips
from speakerid_gui.core.embed import choice

pytestmark = pytest.mark.slow  # a pipeline run on 48 clips with two models


def test_the_choice_follows_the_median_file():
    assert choice.choose([1.0] * 10 + [30.0] * 9) == choice.SHORT_CLIPS
    assert choice.choose([1.0] * 9 + [30.0] * 10) == choice.LONG_RECORDINGS
    assert choice.choose([0.0, 0.0, 12.0]) == choice.LONG_RECORDINGS  # unknown durations are ignored
    assert choice.choose([]) == choice.LONG_RECORDINGS
    assert choice.choose([2.5] * 4, window=2.0) == choice.LONG_RECORDINGS


@pytest.fixture(scope="module")
def short_clips(tmp_path_factory):
    """The shipped utterances (4 readers x 3) cut into 4 files each of 1.1-1.7 s, analysed with the
    defaults: (project, reader per file, events)."""
    from speakerid_gui.core.pipeline import Settings, run
    from speakerid_gui.core.project.store import Project

    base = tmp_path_factory.mktemp("short-clips")
    truth = cut_mini_clips(base / "audio")
    project = Project.create(base / "project", base / "audio")
    events = list(run(project, Settings(layout="pca", prosody=False)))
    yield project, truth, events
    project.close()


def readers(project, truth) -> np.ndarray:
    paths = {r.id: r.path for r in project.recordings()}
    return np.array([truth[paths[int(r)]] for r in project.seg_recording])


def test_short_clips_are_embedded_by_both_models_and_counted_on_campp(short_clips):
    from speakerid_gui.core.cluster.same_speaker import IMPOSTOR_COSINE
    from speakerid_gui.core.embed import corpus_embeddings
    from speakerid_gui.core.evaluate.metrics import hungarian_accuracy
    from speakerid_gui.core.pipeline import Settings, embeddings, one_speaker_basis

    project, truth, events = short_clips
    settings = Settings(**project.get_meta("settings"))
    assert settings.backend == project.get_meta("auto_backend") == choice.SHORT_CLIPS
    assert any("embedding with joint:campp=1,ge2e=0.5" in e.message for e in events)
    emb = embeddings(project)
    assert emb.shape == (project.n_segments, 192 + 256)
    raw, impostor = one_speaker_basis(project, settings, emb)
    assert impostor == IMPOSTOR_COSINE["campp"]
    np.testing.assert_array_equal(raw, corpus_embeddings(project, "campp", settings.segments.key(), "none"))
    true = readers(project, truth)
    assert len(project.cluster_sizes()) == 4
    assert hungarian_accuracy(true, project.cluster) >= 0.95


def test_both_models_run_in_one_pass_each_writing_its_own_cache(short_clips):
    """One decode and speech detection for both parts; each part's cache holds exactly what that
    model alone gives (so a later CAM++-only project of the same files reuses it)."""
    from speakerid_gui.core.analysis import decode
    from speakerid_gui.core.embed import corpus_embeddings, get_backend

    project, _, events = short_clips
    passes = [e.message for e in events if "recordings to analyse with" in e.message]
    assert passes == [f"{len(project.recordings())} recordings to analyse with campp+ge2e"], passes
    from speakerid_gui.core.pipeline import Settings

    seg_key = Settings(**project.get_meta("settings")).segments.key()
    cached = corpus_embeddings(project, "ge2e", seg_key, "none")
    rows = np.arange(0, project.n_segments, 9)
    paths = {r.id: r.path for r in project.recordings()}
    waves = []
    for i in rows:
        wave = decode(project.audio_root / paths[int(project.seg_recording[i])])
        waves.append(wave[int(project.seg_start[i] * 16000):int(project.seg_end[i] * 16000)])
    np.testing.assert_allclose(cached[rows], get_backend("ge2e").embed(waves), atol=1e-5)


def test_a_library_from_a_short_clip_project_keeps_campp_voiceprints(short_clips, tmp_path):
    from speakerid_gui.core.library.enrolled import Library, project_backend
    from speakerid_gui.core.library.open_set import match_project
    from speakerid_gui.core.project.edits import EditLog

    project, truth, _ = short_clips
    true = readers(project, truth)
    named = {}
    for cid in sorted(project.cluster_sizes()):
        named[cid] = "reader " + Counter(true[project.cluster == cid]).most_common(1)[0][0]
    saved = {cid: project.cluster_name(cid) for cid in named}
    for cid, name in named.items():
        EditLog(project).rename(cid, name)
    try:
        library = Library.open(tmp_path / "library", create=True, backend=project_backend(project))
        assert library.backend == "campp"
        assert len(library.add_project(project)) == 4
        matches = match_project(project, library)  # CAM++ of a joint project against CAM++ voiceprints
        assert {m.cluster: m.name for m in matches if m.accepted} == named
    finally:
        for cid, name in saved.items():
            EditLog(project).rename(cid, name)


def test_a_classifier_of_a_short_clip_project_centres_new_audio_as_its_corpus(short_clips):
    from speakerid_gui.core.classify import classifier as lc
    from speakerid_gui.core.pipeline import embeddings

    project, _, _ = short_clips
    clf = lc.train(project, embeddings(project), "logreg")
    assert clf.backend == choice.SHORT_CLIPS and len(clf.info["block_centres"]) == 2
    files = sorted(project.audio_root.glob("*.flac"))
    rows, _, skipped = lc.classify_files(clf, files, project.audio_root)
    assert not skipped
    pred = clf.predict(embeddings(project))
    np.testing.assert_allclose([r.top[0][1] for r in rows], pred["prob"][:, 0], atol=1e-4)


def test_a_library_keeps_the_short_clips_ge2e_beside_campp_and_scores_both(short_clips, tmp_path):
    """Enrolling a short-clip project keeps each speaker's GE2E rows beside the CAM++ ones, and
    the library's own speakers are the cohort that normalises each score (cohort.py): every
    segment's own reader scores far above that reader's impostors, on the two parts summed."""
    from collections import Counter

    from speakerid_gui.core.library.cohort import cohort, z_scores
    from speakerid_gui.core.library.enrolled import Library, extra_voices, project_voices
    from speakerid_gui.core.project.edits import EditLog

    project, truth, _ = short_clips
    true = readers(project, truth)
    log = EditLog(project)
    for cid in sorted(project.cluster_sizes()):
        log.rename(cid, "reader " + Counter(true[project.cluster == cid]).most_common(1)[0][0])
    library = Library.open(tmp_path / "library", create=True)
    library.add_project(project)
    speakers = library.speakers()
    assert len(speakers) == 4
    for s in speakers:
        ge2e = library.part_embeddings(s.id, "ge2e")
        assert ge2e is not None and ge2e.shape == (len(library.embeddings(s.id)), 256)
    parts = cohort(library, speakers)
    assert [p.name for p in parts] == ["campp", "ge2e"] and all(p.has.all() for p in parts)
    Z = z_scores(parts, {"campp": project_voices(project, library), **extra_voices(project, library)})
    assert Z.shape == (project.n_segments, 4)
    names = np.array([s.name for s in speakers])
    assert np.mean(names[Z.argmax(1)] == np.array(["reader " + t for t in true])) >= 0.95
    own = Z[np.arange(len(Z)), [list(names).index("reader " + t) for t in true]]
    assert np.median(own) > 6.0  # the library's default segment z: a typical clip of its own speaker is named
