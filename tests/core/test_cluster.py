"""Clustering, confidence, splitting, layout and prosody on the session project's real embeddings."""
from __future__ import annotations

import numpy as np
import pytest

from speakerid_gui.core.cluster import agglomerative as clu
from speakerid_gui.core.cluster import split
from speakerid_gui.core.layout import layout, pca2
from speakerid_gui.core.evaluate.metrics import hungarian_accuracy, purity
from speakerid_gui.core.pipeline import Settings, cluster_stage, embeddings, load_prosody
from speakerid_gui.core.project.store import Project


@pytest.fixture(scope="module")
def corpus(session_project):
    """(raw embeddings, true speaker per segment, recording per segment) of the session project."""
    project = Project.open(session_project.folder)
    try:
        emb = np.array(embeddings(project))
        paths = {r.id: r.path for r in project.recordings()}
        true = np.array([session_project.truth[paths[int(r)]] for r in project.seg_recording])
        recs = project.seg_recording.copy()
    finally:
        project.close()
    assert len(emb) == len(true) > 20
    return emb, true, recs


def test_prepare_centres_and_normalises(corpus):
    emb, _, _ = corpus
    X = clu.prepare(emb)
    assert X.shape == emb.shape and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    # centred before normalising: the corpus mean direction is gone
    assert np.linalg.norm(X.mean(axis=0)) < 0.5 * np.linalg.norm((emb / np.linalg.norm(emb, axis=1,
                                                                                        keepdims=True)).mean(axis=0))


@pytest.mark.parametrize("k", [2, 3, 4, 6])
def test_given_count_gives_that_many_clusters(corpus, k):
    X = clu.prepare(corpus[0])
    for method in ("ahc", "kmeans"):
        labels = clu.cluster(X, k, method)
        assert labels.shape == (len(X),)
        assert sorted(np.unique(labels).tolist()) == list(range(k)), method


def test_estimated_count_is_close_and_accurate(corpus):
    emb, true, _ = corpus
    X = clu.prepare(emb)
    labels = clu.cluster(X)
    n_true = len(np.unique(true))
    assert abs(len(np.unique(labels)) - n_true) <= 2
    assert abs(clu.estimate_count(X) - n_true) <= 2
    assert hungarian_accuracy(true, labels) >= 0.9


def test_kmeans_with_true_count_is_accurate(corpus):
    emb, true, _ = corpus
    labels = clu.cluster(clu.prepare(emb), len(np.unique(true)), "kmeans")
    assert hungarian_accuracy(true, labels) >= 0.9


def test_kmeans_estimates_the_count_when_not_given(corpus):
    emb, true, _ = corpus
    labels = clu.cluster(clu.prepare(emb), None, "kmeans")
    assert abs(len(np.unique(labels)) - len(np.unique(true))) <= 2


def test_unknown_method_is_rejected(corpus):
    with pytest.raises(ValueError, match="unknown clustering method"):
        clu.cluster(clu.prepare(corpus[0]), 2, "spectral")


def test_degenerate_inputs():
    assert clu.cluster(np.zeros((0, 4), np.float32)).shape == (0,)
    assert clu.cluster(np.ones((1, 4), np.float32)).tolist() == [0]
    X = clu.prepare(np.random.default_rng(0).normal(size=(5, 8)))
    assert len(np.unique(clu.cluster(X, 50))) == 5  # never more clusters than points


def test_large_corpus_path_uses_micro_clusters(corpus, monkeypatch):
    """Above MAX_DIRECT points AHC runs on k-means micro-clusters; it must still find the speakers."""
    emb, true, _ = corpus
    monkeypatch.setattr(clu, "MAX_DIRECT", 30)
    labels = clu.cluster(clu.prepare(emb), len(np.unique(true)))
    assert hungarian_accuracy(true, labels) >= 0.85


def test_confidence_in_unit_interval_and_higher_near_the_centroid(corpus):
    emb, true, _ = corpus
    X = clu.prepare(emb)
    labels = clu.cluster(X, len(np.unique(true)))
    conf = clu.confidence(X, labels)
    assert conf.shape == (len(X),) and conf.dtype == np.float32
    assert np.all((conf >= 0) & (conf <= 1))
    ids, C = clu.centroids(X, labels)
    own = (X * C[np.searchsorted(ids, labels)]).sum(axis=1)
    order = np.argsort(own)
    half = len(order) // 2
    assert conf[order[half:]].mean() > conf[order[:half]].mean()
    # rank correlation between nearness to the own centroid and confidence is positive
    r = np.corrcoef(np.argsort(np.argsort(own)), np.argsort(np.argsort(conf)))[0, 1]
    assert r > 0.3


def test_confidence_of_synthetic_points():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:2]
    X = np.concatenate([centres[0] + 0.05 * rng.normal(size=(20, 8)), centres[1] + 0.05 * rng.normal(size=(20, 8))])
    labels = np.repeat([0, 1], 20)
    middle = (centres[0] + centres[1]) / 2  # halfway: no margin
    X = np.vstack([X, centres[0], middle])
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    labels = np.append(labels, [0, 0])
    conf = clu.confidence(X.astype(np.float32), labels)
    assert conf[-2] > 0.9
    assert conf[-1] == pytest.approx(0.5, abs=0.05)
    assert conf[-2] > conf[-1]
    assert np.all(clu.confidence(X[:5].astype(np.float32), np.zeros(5, int)) == 1.0)


def test_one_speaker_per_file_labels_whole_files(corpus):
    emb, true, recs = corpus
    labels = clu.cluster_recordings(clu.prepare(emb), recs, len(np.unique(true)))
    for rid in np.unique(recs):
        assert len(np.unique(labels[recs == rid])) == 1
    assert hungarian_accuracy(true, labels) >= 0.9


def test_one_speaker_per_file_through_the_cluster_stage(project_copy):
    project = Project.open(project_copy)
    settings = Settings(layout="pca", one_speaker_per_file=True, speakers=3)
    events = list(cluster_stage(project, settings, lambda: False))
    assert events[-1].message == "3 clusters"
    project.reload()
    for rid in np.unique(project.seg_recording):
        assert len(np.unique(project.cluster[project.seg_recording == rid])) == 1
    assert len(project.cluster_sizes()) == 3
    project.close()


def test_split_labels_separates_a_merged_pair(corpus):
    emb, true, _ = corpus
    speakers = sorted(np.unique(true))[:2]
    mask = np.isin(true, speakers)
    X, t = emb[mask], true[mask]
    for k in (2, None):
        labels = split.split_labels(X, k)
        assert len(np.unique(labels)) >= 2
        assert purity(t, labels) >= 0.9, k
        if k == 2:
            assert hungarian_accuracy(t, labels) >= 0.9
    assert split.split_labels(X[:1]).tolist() == [0]


def test_similar_pairs_ranks_the_split_speaker_first(corpus):
    emb, true, _ = corpus
    X = clu.prepare(emb)
    labels = np.searchsorted(np.unique(true), true).astype(np.int32)
    # split speaker 0 into two fake clusters: they must be the most similar pair
    first = np.flatnonzero(labels == 0)
    labels[first[::2]] = 99
    pairs = clu.similar_pairs(X, labels)
    assert set(pairs[0][:2]) == {0, 99}
    assert all(pairs[i][2] >= pairs[i + 1][2] for i in range(len(pairs) - 1))


# ---------------------------------------------------------------- layout

def test_stored_layout_is_finite_n_by_2(session_project):
    project = Project.open(session_project.folder)
    try:
        coords = project.load_array("layout")
        assert coords is not None
        assert coords.shape == (project.n_segments, 2)
        assert np.all(np.isfinite(coords))
        assert np.all(coords.std(axis=0) > 0)
    finally:
        project.close()


def test_layout_pca_matches_its_own_definition(corpus):
    X = clu.prepare(corpus[0])
    a = layout(X, "pca")
    assert a.shape == (len(X), 2) and a.dtype == np.float32
    assert np.allclose(a, pca2(X))
    # first axis carries at least as much variance as the second
    assert a[:, 0].var() >= a[:, 1].var() - 1e-6
    tiny = layout(X[:3], "umap")  # too few points for UMAP: PCA instead
    assert tiny.shape == (3, 2) and np.all(np.isfinite(tiny))
    with pytest.raises(ValueError, match="unknown layout"):
        layout(X, "mds")


def test_layout_separates_speakers(corpus):
    emb, true, _ = corpus
    coords = layout(clu.prepare(emb), "pca")
    # a segment's nearest neighbour in 2-D is mostly of the same speaker
    D = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(D, np.inf)
    assert (true[D.argmin(axis=1)] == true).mean() >= 0.7


@pytest.mark.slow
def test_umap_layout_on_real_embeddings(corpus):
    """The default layout (UMAP, cosine) on the session embeddings: finite, and speakers stay apart."""
    emb, true, _ = corpus
    coords = layout(clu.prepare(emb), "umap")
    assert coords.shape == (len(emb), 2) and coords.dtype == np.float32
    assert np.all(np.isfinite(coords))
    D = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(D, np.inf)
    assert (true[D.argmin(axis=1)] == true).mean() >= 0.7


def test_cosine_knn_matches_brute_force(corpus):
    """The exact neighbours handed to UMAP: self first at distance 0, then the k-1 nearest by cosine."""
    from sklearn.metrics import pairwise_distances

    from speakerid_gui.core.layout import cosine_knn

    emb, _, _ = corpus
    idx, dist, _ = cosine_knn(emb, 6, block=7)  # a small block exercises the blocking
    D = pairwise_distances(emb, metric="cosine")
    np.fill_diagonal(D, -1)
    expected = np.argsort(D, axis=1, kind="stable")[:, :6]
    assert np.array_equal(idx[:, 0], np.arange(len(emb))) and np.all(dist[:, 0] == 0)
    np.fill_diagonal(D, 0)
    assert np.allclose(dist, np.take_along_axis(D, expected, 1), atol=1e-5)
    assert np.all(np.diff(dist, axis=1) >= -1e-6)


# ---------------------------------------------------------------- prosody stored by the pipeline

def test_pipeline_stores_plausible_pitch_per_recording(session_project):
    project = Project.open(session_project.folder)
    try:
        recs = project.recordings("ok")
        assert recs
        for rec in recs:
            p = load_prosody(project, rec.id)
            assert p is not None, rec.path
            assert p.times.shape == p.pitch.shape == p.energy.shape
            assert p.times[-1] == pytest.approx(rec.duration, abs=0.05)
            voiced = p.pitch[np.isfinite(p.pitch)]
            assert len(voiced) > 0.2 * len(p.pitch), rec.path
            assert 60.0 <= np.median(voiced) <= 400.0, rec.path
            assert np.all(np.isfinite(p.energy)) and p.energy.max() > -40.0
        assert load_prosody(project, 10_000) is None
    finally:
        project.close()


def test_lone_short_segments_join_their_nearest_cluster(corpus):
    emb, true, _ = corpus
    X = clu.prepare(emb)
    _, labels = np.unique(true, return_inverse=True)
    labels = labels.astype(np.int32)
    lone = [int(np.flatnonzero(labels == k)[0]) for k in range(3)]  # one segment of each of 3 speakers
    cut = labels.copy()
    cut[lone] = labels.max() + 1 + np.arange(3)  # left alone by the cut
    short = np.zeros(len(X), bool)
    short[lone[:2]] = True  # the third is long: it may found a speaker of its own
    fixed = clu.attach_short_singletons(X, cut, short)
    assert len(np.unique(fixed)) == len(np.unique(labels)) + 1
    for i in lone[:2]:
        assert fixed[i] == fixed[np.flatnonzero(labels == labels[i])[1]]
    assert np.sum(fixed == fixed[lone[2]]) == 1


def test_durations_only_matter_when_the_count_is_estimated(corpus):
    emb, true, _ = corpus
    X = clu.prepare(emb)
    tiny = np.full(len(X), 0.3)  # every segment "short"
    k = len(np.unique(true))
    assert len(np.unique(clu.cluster(X, k, durations=tiny))) == k
    est = clu.cluster(X, durations=tiny)
    assert hungarian_accuracy(true, est) >= hungarian_accuracy(true, clu.cluster(X)) - 1e-9


def test_clusters_of_too_little_speech_are_no_evidence_of_a_speaker():
    """Two speakers, each heard in 10 tight pairs of segments spread around the speaker. Cut by
    silhouette alone, every pair looks like a speaker; a pair of 0.5 s clips (1 s of speech) is
    too little to found one, so it scores 0 and the 2-speaker cut wins; pairs of 3 s segments do
    count (the rule is about speech, not about cluster size)."""
    from scipy.cluster.hierarchy import linkage

    rng = np.random.default_rng(0)
    dim, rows = 64, []
    for sign in (1.0, -1.0):
        speaker = np.zeros(dim)
        speaker[0] = sign
        for _ in range(10):
            r = rng.normal(size=dim)
            r[0] = 0.0
            centre = speaker + 1.5 * r / np.linalg.norm(r)
            rows += [centre / np.linalg.norm(centre) + 0.01 * rng.normal(size=dim) for _ in range(2)]
    X = np.array(rows, dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Z = linkage(X, method="average", metric="cosine")
    assert clu.best_cut(X, Z).max() == 20  # fcluster labels are 1..k
    assert clu.best_cut(X, Z, np.full(40, 0.5)).max() == 2
    assert clu.best_cut(X, Z, np.full(40, 3.0)).max() == 20
    labels = clu.cluster(X, durations=np.full(40, 0.5))
    truth = np.repeat([0, 1], 20)
    assert len(np.unique(labels)) == 2 and hungarian_accuracy(truth, labels) == 1.0


def test_split_estimate_keeps_one_speaker_whole_and_separates_two(corpus):
    """Split's estimate counts speakers as the clustering does (corpus silhouette, the cluster left
    whole as a candidate): one reader's segments, even only 8 of them, stay one part; two readers
    merged come apart along the true line."""
    emb, true, _ = corpus
    X = clu.prepare(emb)
    labels = np.searchsorted(np.unique(true), true).astype(np.int32)
    durations = np.full(len(X), 3.0)
    for speaker in np.unique(labels):
        members = np.flatnonzero(labels == speaker)
        assert len(np.unique(split.split_estimate(X, labels, members, durations))) == 1, speaker
        few = members[:8]
        rest = labels.copy()
        rest[members[8:]] = -1  # an 8-segment cluster: the others of its speaker unlabelled
        assert len(np.unique(split.split_estimate(X, rest, few, durations))) == 1
    merged = labels.copy()
    merged[merged == 1] = 0
    members = np.flatnonzero(merged == 0)
    parts = split.split_estimate(X, merged, members, durations)
    assert len(np.unique(parts)) == 2
    assert hungarian_accuracy(labels[members], parts) >= 0.95
