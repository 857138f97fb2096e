"""Sequence classifiers (GRU + attention, small ResNet-18) on real speech: a copy of the session
project (4 LibriSpeech speakers) whose segments a "reviewer" has labelled and verified."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from coredata import run_cli

CHANCE = 0.25  # 4 speakers
pytestmark = pytest.mark.slow  # trains networks


@pytest.fixture(scope="module")
def verified(session_project, tmp_path_factory):
    """A project copy with every segment moved to its true speaker's cluster and verified."""
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.project.store import Project

    folder = tmp_path_factory.mktemp("seq") / "project"
    shutil.copytree(session_project.folder, folder)
    project = Project.open(folder)
    paths = {r.id: r.path for r in project.recordings()}
    true = np.array([session_project.truth[paths[int(r)]] for r in project.seg_recording])
    log = EditLog(project)
    for speaker in np.unique(true):
        log.move(np.flatnonzero(true == speaker), None, name=str(speaker))
    log.verify(np.arange(project.n_segments))
    yield project, true
    project.close()


@pytest.fixture(scope="module")
def features(verified):
    from speakerid_gui.core.classify.sequence import segment_features

    project, _ = verified
    return segment_features(project)


@pytest.mark.parametrize("kind, options", [("lstm", {}), ("resnet", {"center_loss": 0.1})])
def test_held_out_accuracy_well_above_chance(verified, kind, options):
    from speakerid_gui.core.classify import classifier as lc
    from speakerid_gui.core.classify import sequence as sc

    project, true = verified
    res = sc.evaluate(project, kind, **options)
    n = len(np.unique(true))
    assert res["kind"] == kind and res["n_test"] == int(project.n_segments * 0.3)
    assert res["top1"] >= CHANCE + 0.35, res
    assert res["top5"] >= res["top1"] and res["top5"] == 1.0  # 4 classes: top-5 holds them all
    # the same result format as the embedding classifiers, on the same held-out segments
    base = lc.evaluate(project, np.random.default_rng(0).normal(size=(project.n_segments, 8)), "logreg")
    assert set(base) <= set(res) and res["n_test"] == base["n_test"]
    assert res["labels"] == base["labels"] and res["labels"][-1] == "unknown"
    conf = res["confusion"]
    assert conf.shape == (n, n + 1)
    assert conf.sum() == res["n_test"] and conf[:, -1].sum() == 0
    assert np.trace(conf) / conf.sum() == pytest.approx(res["top1"])


def test_held_out_segments_match_the_embedding_classifiers(verified):
    from speakerid_gui.core.classify import sequence as sc

    project, _ = verified
    test = sc.held_out(project)
    rng = np.random.default_rng(0)  # classify.classifier.evaluate's draw
    ver = np.flatnonzero(project.verified)
    assert np.array_equal(test, rng.choice(ver, int(len(ver) * 0.3), replace=False))


def test_cluster_labels_switch_and_save_load_round_trip(verified, features):
    from speakerid_gui.core.classify import sequence as sc

    project, true = verified
    clf = sc.fit_run(project, kind="lstm", source="clusters", features=features, epochs=4)
    assert clf.info["source"] == "clusters"
    assert clf.info["n_train"] + clf.info["n_val"] == project.n_segments
    path = sc.save(project, clf)
    assert path.exists() and project.get_meta("seq_classifier_lstm")["speakers"] == clf.names
    back = sc.load(project, "lstm")
    a = clf.predict_features(features[:6])
    b = back.predict_features(features[:6])
    assert np.array_equal(a["top"], b["top"]) and np.allclose(a["prob"], b["prob"], atol=1e-6)
    assert a["top"].shape == (6, 4) and np.all(np.diff(a["prob"], axis=1) <= 0)
    with pytest.raises(FileNotFoundError, match="--kind resnet"):
        sc.load(project, "resnet")


def test_cancel_stops_between_batches(verified, features):
    from speakerid_gui.core.classify import sequence as sc
    from speakerid_gui.core.pipeline import Cancelled

    project, _ = verified
    epochs = []
    with pytest.raises(Cancelled):
        for ev in sc.fit(project, "resnet", features=features, epochs=30, cancel=lambda: len(epochs) >= 1):
            if ev.stage == "train":
                epochs.append(ev)
    assert len(epochs) == 1


def test_needs_two_speakers(verified):
    from speakerid_gui.core.classify import sequence as sc

    project, true = verified
    one = np.flatnonzero(true == true[0])
    with pytest.raises(ValueError, match="two speakers"):
        sc.fit_run(project, kind="lstm", positions=one)


def test_cli_train_classifier_kind_lstm(verified, tmp_path):
    project, _ = verified
    folder = tmp_path / "p"
    project.db.execute("PRAGMA wal_checkpoint(FULL)")
    shutil.copytree(project.folder, folder)
    proc = run_cli("train-classifier", folder, "--kind", "lstm", "--epochs", "3", "--evaluate", check=True)
    assert "trained lstm on" in proc.stdout and "verified segments of 4 speakers" in proc.stdout
    assert "(3 epochs)" in proc.stdout and proc.stderr.count("epoch ") == 3
    assert (folder / "models" / "seq-lstm.pt").exists()
    from speakerid_gui.core.classify.sequence import held_out

    n_test = len(held_out(project))  # the draw the CLI's --evaluate makes on the same project
    line = next(l for l in proc.stdout.splitlines() if l.startswith(f"held-out verified ({n_test} segments)"))
    figures = [float(x.strip(",;")) for x in line.split() if x[0].isdigit() and "." in x]
    assert len(figures) == 4 and all(0 <= f <= 1 for f in figures)  # lstm top-1/top-5, logreg top-1/top-5
