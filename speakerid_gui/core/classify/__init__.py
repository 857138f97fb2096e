"""Classifiers for new audio, trained on a reviewed project."""
