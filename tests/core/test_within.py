"""Within-cluster covariance normalisation (cluster.within): what one speaker's clips share with
other speakers' (the same words) weighs less once the first clusters' spread is damped."""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.cluster.agglomerative import prepare
from speakerid_gui.core.cluster.within import MIN_SEGMENTS, within_normalised


def _words(rng, speakers=10, clips=12, words=12, dim=32, word_scale=1.2):
    """Each clip: its speaker's direction + the word it says (every speaker says the same words)
    + noise. At word_scale 1.2 a clip's nearest neighbour is mostly another speaker's same word."""
    voice = rng.normal(size=(speakers, dim))
    word = rng.normal(size=(words, dim)) * word_scale
    who = np.repeat(np.arange(speakers), clips)
    said = np.tile(np.arange(clips) % words, speakers)
    emb = voice[who] + word[said] + rng.normal(scale=0.3, size=(len(who), dim))
    return prepare(emb), who


def _nearest_same(X, who):
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    return float(np.mean(who[np.argmax(S, axis=1)] == who))


def test_shared_words_weigh_less_after_normalisation():
    X, who = _words(np.random.default_rng(0))
    before = _nearest_same(X, who)
    W = within_normalised(X, who)
    assert W is not None and W.shape == X.shape
    assert np.allclose(np.linalg.norm(W, axis=1), 1.0, atol=1e-5)
    after = _nearest_same(W, who)
    assert before < 0.8 and after > before + 0.1, (before, after)


def test_too_little_to_estimate_changes_nothing():
    X, who = _words(np.random.default_rng(1), speakers=3, clips=6)
    assert within_normalised(X, np.zeros(len(X), int)) is None  # one cluster
    singletons = np.arange(len(X))
    assert within_normalised(X, singletons) is None  # no cluster of three
    few = MIN_SEGMENTS - 1
    assert within_normalised(X[:few], who[:few]) is None


def test_clusters_of_identical_copies_change_nothing():
    """Copies of the same clips have no spread inside their clusters: nothing to normalise, and no
    division by a zero covariance."""
    X, _ = _words(np.random.default_rng(2), speakers=2, clips=1)
    copies = np.repeat(X, 15, axis=0)
    assert within_normalised(copies, np.repeat([0, 1], 15)) is None
