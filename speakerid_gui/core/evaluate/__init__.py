"""Scores against a reference, and the simulated reviewer."""
