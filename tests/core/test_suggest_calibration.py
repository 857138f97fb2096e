"""Suggestion scores are calibrated chances of a real error (issue 10.5), on a small synthetic project.

Twelve speakers of ten segments each, plus
- a fragment: two segments of speaker 0 in a cluster of their own (a real error: merge them);
- a tiny distinct speaker: two segments of a thirteenth voice, far from everyone (not an error).
The old score gave every tiny cluster a fixed 0.80 "merge with your nearest cluster", whatever
its cosine: the distinct speaker was proposed as a likely merge.
"""
from __future__ import annotations

import numpy as np
import pytest

DIM, SPEAKERS, PER = 64, 12, 10


def _project(tmp_path, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(SPEAKERS + 1, DIM))
    speaker = np.concatenate([np.repeat(np.arange(SPEAKERS), PER), [0, 0], [SPEAKERS, SPEAKERS]])
    cluster = np.concatenate([np.repeat(np.arange(SPEAKERS), PER), [SPEAKERS, SPEAKERS],
                              [SPEAKERS + 1, SPEAKERS + 1]]).astype(np.int32)
    emb = (centres[speaker] + 0.9 * rng.normal(size=(len(speaker), DIM))).astype(np.float32)
    p = _store(tmp_path, cluster)
    return p, emb, SPEAKERS, SPEAKERS + 1


def _store(tmp_path, cluster: np.ndarray, confidence: float = 0.8):
    """A project of len(cluster) 3 s segments of one recording, clustered as given."""
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.project.store import Project

    audio = tmp_path / "audio"
    audio.mkdir()
    p = Project.create(tmp_path / "project", audio)
    with p.transaction() as db:
        rid, _ = p.upsert_recording("rec.flac", 1, 0.0)
        db.executemany("INSERT INTO segments(recording_id, start, end) VALUES(?, ?, ?)",
                       [(rid, 1.5 * i, 1.5 * i + 3.0) for i in range(len(cluster))])
        db.execute("INSERT INTO assignments(segment_id) SELECT id FROM segments")
    p.reload()
    EditLog(p).relabel("cluster", "synthetic", np.arange(len(cluster)), np.asarray(cluster, np.int32),
                       np.full(len(cluster), confidence, np.float32))
    return p


@pytest.fixture
def synthetic(tmp_path):
    p, emb, fragment, distinct = _project(tmp_path)
    yield p, emb, fragment, distinct
    p.close()


def _pairs_with(items, c):
    return [s for s in items if s.kind == "pair" and c in s.cluster_ids]


def test_tiny_distinct_cluster_is_not_a_likely_merge(synthetic):
    from speakerid_gui.core.learn.reviewer import suggestions

    p, emb, fragment, distinct = synthetic
    items = suggestions(p, emb, n=200)
    lone = _pairs_with(items, distinct)
    assert lone, "its nearest pair is still listed (as unlikely)"
    assert max(s.score for s in lone) < 0.5  # was a fixed 0.80
    # the fragment of speaker 0 is a likely merge, with speaker 0's cluster, and ranked above it
    frag = _pairs_with(items, fragment)
    best = max(frag, key=lambda s: s.score)
    assert set(best.cluster_ids) == {0, fragment} and best.score > 0.5
    ranked = [s for s in items if s.kind != "name"]
    assert ranked.index(best) < min(ranked.index(s) for s in lone)


def test_scores_are_probabilities_on_one_scale(synthetic):
    from speakerid_gui.core.learn.reviewer import suggestions

    p, emb, fragment, distinct = synthetic
    items = suggestions(p, emb, n=200)
    assert {"pair", "mixed"} <= {s.kind for s in items}
    assert all(0.0 <= s.score <= 1.0 for s in items)
    # no pure speaker's cluster is called "two speakers in one" with confidence
    mixed = [s for s in items if s.kind == "mixed" and s.cluster_ids[0] < SPEAKERS]
    assert mixed and max(s.score for s in mixed) < 0.9


def test_calibration_follows_the_references():
    from speakerid_gui.core.learn.calibrate import llr, odds, prior_odds

    rng = np.random.default_rng(1)
    same, diff = rng.normal(0.7, 0.08, 200), rng.normal(0.2, 0.08, 200)
    assert odds(0.7, same, diff) > 0.99 and odds(0.2, same, diff) < 0.01
    assert abs(odds((same.mean() + diff.mean()) / 2, same, diff) - 0.5) < 1e-9  # even odds halfway
    assert odds(0.4, same, diff, claim_same=False) > 0.5 > odds(0.5, same, diff, claim_same=False)
    # monotone in the cosine, also far outside both samples (no Gaussian cross-over)
    xs = np.linspace(-0.5, 1.0, 31)
    assert np.all(np.diff(llr(xs, same, diff)) > 0)
    # a cleaner population (fewer likely errors) lowers the prior odds of the claim
    assert prior_odds(llr(rng.normal(0.2, 0.08, 100), same, diff)) < prior_odds(llr(rng.normal(0.7, 0.08, 100), same, diff))


def test_a_project_of_one_cluster_is_not_told_it_holds_two_speakers(tmp_path):
    """One voice in one cluster: centred on itself, its halves' cosine is near -1, which read as
    "S0 has two groups (cosine -0.98): 50 % likely two speakers"; only "who is this?" remains."""
    from speakerid_gui.core.learn.reviewer import prepare, suggestions

    rng = np.random.default_rng(1)
    emb = (rng.normal(size=DIM) + 0.9 * rng.normal(size=(20, DIM))).astype(np.float32)
    p = _store(tmp_path, np.zeros(len(emb), np.int32))
    X = prepare(emb)
    halves = X[:10].mean(axis=0) @ X[10:].mean(axis=0)
    assert halves < 0  # the degenerate geometry the suggestion used to read as two speakers
    kinds = {s.kind for s in suggestions(p, emb)}
    assert "mixed" not in kinds and "name" in kinds
    p.close()


def test_a_clean_project_asks_who_is_who_not_unlikely_questions(tmp_path):
    """Eight well-separated voices, each its own cluster: no question is worth a listen but who
    each one is, so those come first and the unlikely ones (still listed, with their score)
    after them. "Same speaker? 0% likely" used to come first (the clusters' confidence is near
    1, which makes naming them worth little in expected fixes)."""
    from speakerid_gui.core.learn.reviewer import MIN_SCORE, suggestions

    rng = np.random.default_rng(1)
    speakers, per = 8, 10
    centres = rng.normal(size=(speakers, DIM))
    cluster = np.repeat(np.arange(speakers), per).astype(np.int32)
    emb = (centres[cluster] + 0.3 * rng.normal(size=(len(cluster), DIM))).astype(np.float32)
    p = _store(tmp_path, cluster, confidence=1.0)  # as the clustering rates such clusters
    items = suggestions(p, emb, n=50)
    kinds = [s.kind for s in items]
    assert kinds[:speakers] == ["name"] * speakers, [(s.kind, round(s.score, 3)) for s in items]
    assert sorted(s.cluster_ids[0] for s in items[:speakers]) == list(range(speakers))
    assert len(items) > speakers and all(s.score < MIN_SCORE for s in items[speakers:])  # listed, after
