"""One analysis path (issue 11): new audio in `classify` is cut and embedded by the pipeline's
own code with the settings the classifier was trained under, so it sees the segments the
project holds, embedded the same way."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from speakerid_gui.core.classify import classifier as lc
from speakerid_gui.core.pipeline import Settings, embeddings, run
from speakerid_gui.core.project.store import Project

pytestmark = pytest.mark.slow  # the pipeline run again under a classifier's own settings

# Not the defaults (3 s / 1.5 s, no cleaning): a classifier that cut new audio its own way
# would produce other spans and other embeddings.
SETTINGS = Settings(window=2.0, hop=1.0, clean="trim", layout="pca", speakers=4)


@pytest.fixture(scope="module")
def trained(session_project, tmp_path_factory):
    folder = tmp_path_factory.mktemp("classify") / "project"
    project = Project.create(folder, session_project.audio)
    for _ in run(project, SETTINGS):
        pass
    clf = lc.train(project, embeddings(project), "logreg")
    yield project, clf
    project.close()


def test_classify_cuts_and_embeds_as_the_pipeline(trained, session_project):
    project, clf = trained
    audio = session_project.audio
    files = sorted(p for p in audio.rglob("*.flac"))
    rows, per_file, skipped = lc.classify_files(clf, files, audio)
    assert not skipped and len(per_file) == len(files)
    paths = {r.id: r.path for r in project.recordings()}
    stored = [(paths[int(r)], round(float(a), 3), round(float(b), 3))
              for r, a, b in zip(project.seg_recording, project.seg_start, project.seg_end)]
    assert [(r.path, round(r.start, 3), round(r.end, 3)) for r in rows] == stored
    # the same waves, cleaned the same way, give the same embeddings: the same predictions
    pred = clf.predict(embeddings(project))
    assert [r.top[0][0] for r in rows] == [clf.names[c] for c in pred["top"][:, 0]]
    np.testing.assert_allclose([r.top[0][1] for r in rows], pred["prob"][:, 0], atol=1e-4)


def test_the_stored_settings_are_the_ones_used(trained):
    _, clf = trained
    used = lc.classifier_settings(clf)
    assert (used.window, used.hop, used.clean, used.backend) == (2.0, 1.0, "trim", "campp")
    # an old classifier without stored settings falls back to the pipeline defaults
    old = replace(clf, info={k: v for k, v in clf.info.items() if k != "segment_settings"})
    assert lc.classifier_settings(old).segments == Settings().segments


def test_a_classifier_saved_under_the_old_module_path_loads(trained, monkeypatch):
    # before the core became sub-packages the class lived in speakerid_gui.core.learn_classifier;
    # joblib files saved then name that module
    import sys

    project, clf = trained
    monkeypatch.setattr(lc.SpeakerClassifier, "__module__", "speakerid_gui.core.learn_classifier")
    monkeypatch.setitem(sys.modules, "speakerid_gui.core.learn_classifier", lc)
    lc.save(project, clf)
    monkeypatch.delitem(sys.modules, "speakerid_gui.core.learn_classifier")
    monkeypatch.undo()
    assert "speakerid_gui.core.learn_classifier" not in sys.modules
    back = lc.load(project)
    assert isinstance(back, lc.SpeakerClassifier) and back.names == clf.names
