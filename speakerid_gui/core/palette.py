"""Cluster colours that stay distinguishable for hundreds of clusters."""
from __future__ import annotations

import colorsys

GOLDEN = 0.618033988749895
# Lightness/saturation tiers cycle with a different period than the hue walk, so
# clusters with nearby ids differ in hue and, for large ids, also in brightness.
TIERS = [(0.55, 0.85), (0.42, 0.95), (0.68, 0.75), (0.35, 0.70), (0.60, 0.55)]


def color_for(cluster_id: int) -> str:
    """#rrggbb for a cluster id (deterministic)."""
    if cluster_id < 0:
        return "#808080"
    hue = (0.07 + cluster_id * GOLDEN) % 1.0
    light, sat = TIERS[(cluster_id // 7) % len(TIERS)]
    r, g, b = colorsys.hls_to_rgb(hue, light, sat)
    return "#{:02x}{:02x}{:02x}".format(int(r * 255), int(g * 255), int(b * 255))

