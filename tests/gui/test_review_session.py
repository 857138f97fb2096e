"""ReviewSession (Qt-free): statistics, ranking, similarity and prosody of a real project."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from speakerid_gui.core.cluster import agglomerative as clu
from speakerid_gui.core.pipeline import embeddings
from speakerid_gui.core.project.store import Project
from speakerid_gui.gui.review import ReviewSession


@pytest.fixture
def session(project_dir):
    s = ReviewSession(Project.open(project_dir))
    yield s
    s.project.close()


def test_cluster_stats_match_the_project(session):
    p = session.project
    p_sizes = p.cluster_sizes()
    session.log.mark_noise([0])
    session.log.verify(np.flatnonzero(p.cluster == p.cluster[5])[:2])
    stats = session.cluster_stats()
    assert dict(zip(stats.ids.tolist(), stats.size.tolist())) == p.cluster_sizes() != p_sizes
    for cid, conf, ver in zip(stats.ids, stats.confidence, stats.verified):
        members = p.cluster == cid
        assert conf == pytest.approx(p.confidence[members].mean(), abs=1e-6)
        assert ver == pytest.approx(p.verified[members].mean())


def test_ranking_centroids_and_most_similar_agree_with_the_core(session):
    p = session.project
    X = clu.prepare(embeddings(p))
    ids, C = clu.centroids(X, p.cluster)
    mine_ids, mine_C = session.centroids()
    assert np.array_equal(ids, mine_ids) and np.allclose(C, mine_C, atol=1e-5)
    cid = int(ids[0])
    ranked = session.ranked_members(cid)
    assert sorted(ranked.tolist()) == np.flatnonzero(p.cluster == cid).tolist()
    sims = X[ranked] @ C[0]
    assert np.all(np.diff(sims) <= 1e-5)  # closest to the centre first
    assert session.outliers(cid, 3).tolist() == ranked[::-1][:3].tolist()
    other, sim = session.most_similar(cid)
    pair_sims = {int(b if a == cid else a): s for a, b, s in clu.similar_pairs(X, p.cluster) if cid in (a, b)}
    assert other == max(pair_sims, key=pair_sims.get) and sim == pytest.approx(pair_sims[other], abs=1e-5)
    # an edit invalidates the cached centroids
    session.log.merge([cid, other])
    assert len(session.centroids()[0]) == len(ids) - 1


def test_members_of_equal_score_come_longest_first(session):
    """A conversation's turns of one local speaker share its embedding: the representative is then
    the longest of them, not the first (often a quarter-second sliver)."""
    p = session.project
    cid = int(p.cluster[0])
    members = session.members(cid)
    X = session.X
    a, b = int(members[0]), int(members[1])
    row, end = X[b].copy(), float(p.seg_end[b])
    try:
        X[b] = X[a]  # two members with one embedding
        p.seg_end[b] = p.seg_start[b] + (p.seg_end[a] - p.seg_start[a]) + 1.0  # b the longer
        ranked = session.ranked_members(cid).tolist()
        assert ranked.index(b) == ranked.index(a) - 1
    finally:
        X[b], p.seg_end[b] = row, end


def test_prosody_is_sliced_from_the_store_or_computed(session, project_dir):
    index = 3
    stored = session.segment_prosody(index)
    length = session.project.seg_end[index] - session.project.seg_start[index]
    assert len(stored.times) > 10 and stored.times[0] >= 0 and stored.times[-1] <= length
    shutil.rmtree(project_dir / "cache" / "prosody")  # a project made without prosody curves
    fresh = ReviewSession(Project.open(project_dir))
    computed = fresh.segment_prosody(index)
    assert len(computed.times) > 10 and np.isfinite(computed.pitch).any()
    # the same audio: median pitch close to the stored curves'
    assert np.nanmedian(computed.pitch) == pytest.approx(np.nanmedian(stored.pitch), rel=0.15)
    assert fresh.segment_prosody(index) is computed  # computed once: coming back to it is instant
    fresh.project.close()


def test_layout_falls_back_to_pca_of_the_embeddings(session):
    xy, source = session.layout()
    assert source == "layout" and xy.shape == (session.project.n_segments, 2)
    session.project.db.execute("DELETE FROM arrays WHERE name='layout'")
    xy, source = session.layout()
    assert source == "pca" and xy.shape == (session.project.n_segments, 2) and np.ptp(xy[:, 0]) > 0
