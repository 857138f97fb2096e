"""Fixed-length windows inside speech regions."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentSettings:
    window: float = 3.0
    hop: float = 1.5
    min_segment: float = 0.5   # speech shorter than this is dropped
    merge_gap: float = 0.5     # speech regions closer than this are one region
    change: str = ""           # speaker-change detection settings key ("" = off); see core/conversation/change.py
    source: str = ""           # key of imported labels the segments tile ("" = speech detection); labels_in.py

    def key(self) -> str:
        key = f"w{self.window:g}-h{self.hop:g}-m{self.min_segment:g}-g{self.merge_gap:g}"
        key = f"{key}-{self.change}" if self.change else key  # old keys unchanged when off
        return f"{key}-labels{self.source}" if self.source else key


def merge_regions(regions: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted(regions):
        if merged and start - merged[-1][1] <= gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def split_regions(regions: list[tuple[float, float]], turns=()) -> list[tuple[float, float]]:
    """Cut regions at speaker turns, so no piece holds a turn inside it."""
    turns = sorted(turns)
    out = []
    for r0, r1 in regions:
        edges = [r0, *(t for t in turns if r0 < t < r1), r1]
        out.extend(zip(edges[:-1], edges[1:]))
    return out


def windows(regions: list[tuple[float, float]], s: SegmentSettings, turns=()) -> list[tuple[float, float]]:
    """Windows of s.window seconds every s.hop seconds inside each region.

    A region shorter than a window is one segment (if >= min_segment); the end of a
    longer region is covered by one more full window aligned to the region's end.
    Regions are cut at speaker turns first (if any), so no window straddles a turn.
    """
    out = []
    for r0, r1 in split_regions(merge_regions(regions, s.merge_gap), turns):
        length = r1 - r0
        if length < s.min_segment:
            continue
        if length <= s.window:
            out.append((r0, r1))
            continue
        start = r0
        while start + s.window <= r1 + 1e-9:
            out.append((start, start + s.window))
            start += s.hop
        last_end = out[-1][1]
        if r1 - last_end > 0.25 * s.hop:  # uncovered tail: one more window ending at r1
            out.append((r1 - s.window, r1))
    return [(round(a, 3), round(b, 3)) for a, b in out]
