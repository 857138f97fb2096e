"""Exact copies among a project's recordings: the same audio under two names.

A folder gathered from several places often holds a file twice (copied into two sub-folders,
or converted to another format and kept beside the original). Both are analysed, but their
segments are one voice counted twice, so the run's summary says which files they are (the
CLI's last lines, the app's end-of-analysis message, `speakerid info`). The digest is of the
decoded 16 kHz samples, so a WAV and its FLAC copy match; it is kept in the project's meta
(recording path -> digest), so a resumed run still knows the earlier files.
"""
from __future__ import annotations

import hashlib

import numpy as np

META_KEY = "audio_digests"


def audio_digest(wave: np.ndarray) -> str:
    """A short digest of decoded samples (about 0.5 GB/s: 2 ms per minute of 16 kHz audio)."""
    return hashlib.blake2b(np.ascontiguousarray(wave, dtype=np.float32).view(np.uint8), digest_size=12).hexdigest()


class Digests:
    """The digests of a project's decoded recordings, written to the project by save()."""

    def __init__(self, project):
        self.project = project
        self.by_path: dict[str, str] = dict(project.get_meta(META_KEY, {}) or {})
        self.changed = False

    def add(self, path: str, wave: np.ndarray):
        digest = audio_digest(wave)
        if self.by_path.get(path) != digest:
            self.by_path[path], self.changed = digest, True

    def save(self):
        if self.changed:
            with self.project.transaction():
                self.project.set_meta(META_KEY, self.by_path)
            self.changed = False


def exact_copies(project) -> list[tuple[str, str]]:
    """(copy, original) for every analysed recording whose audio an earlier one (by path) has."""
    digests = project.get_meta(META_KEY, {}) or {}
    first: dict[str, str] = {}
    out = []
    for rec in sorted(project.recordings("ok"), key=lambda r: r.path):
        digest = digests.get(rec.path)
        if digest is None:
            continue
        original = first.setdefault(digest, rec.path)
        if original != rec.path:
            out.append((rec.path, original))
    return out


def describe(copies: list[tuple[str, str]], limit: int = 10) -> list[str]:
    """Lines for a person: which files are copies of which."""
    if not copies:
        return []
    lines = [f"{len(copies)} {'file is an exact copy' if len(copies) == 1 else 'files are exact copies'} "
             "of another (the same audio: one voice counted twice):"]
    lines += [f"  {copy} = {original}" for copy, original in copies[:limit]]
    if len(copies) > limit:
        lines.append(f"  ... and {len(copies) - limit} more (speakerid info PROJECT lists them all)")
    return lines
