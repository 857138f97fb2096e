"""Speakers from embeddings: the count estimate and agglomerative cut, the one-speaker test, constrained merging, stable cluster ids."""
