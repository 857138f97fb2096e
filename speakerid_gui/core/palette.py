"""Cluster colours that stay distinguishable for hundreds of clusters."""
from __future__ import annotations

import colorsys

GOLDEN = 0.618033988749895
# Lightness/saturation tiers cycle with a different period than the hue walk, so
# clusters with nearby ids differ in hue and, for large ids, also in brightness.
TIERS = [(0.55, 0.85), (0.42, 0.95), (0.68, 0.75), (0.35, 0.70), (0.60, 0.55)]


def cluster_color(cluster_id: int, clusters: dict) -> str:
    """The one colour rule: the colour stored in the cluster's row (clusters: id -> row), else
    the palette's for its id."""
    return (clusters.get(cluster_id) or {}).get("color") or color_for(cluster_id)


def contrasting(base: str, n: int) -> list[str]:
    """n colours for the new parts of a split, told apart from `base` and each other at a glance:
    hues spread evenly around the circle away from the base's hue, bright and saturated (the
    palette's colours of two new ids can be near neighbours)."""
    r, g, b = (int(base[i:i + 2], 16) / 255 for i in (1, 3, 5))
    hue = colorsys.rgb_to_hls(r, g, b)[0]
    out = []
    for k in range(n):
        r, g, b = colorsys.hls_to_rgb((hue + (k + 1) / (n + 1)) % 1.0, 0.55, 0.9)
        out.append("#{:02x}{:02x}{:02x}".format(int(r * 255), int(g * 255), int(b * 255)))
    return out


def color_for(cluster_id: int) -> str:
    """#rrggbb for a cluster id (deterministic)."""
    if cluster_id < 0:
        return "#808080"
    hue = (0.07 + cluster_id * GOLDEN) % 1.0
    light, sat = TIERS[(cluster_id // 7) % len(TIERS)]
    r, g, b = colorsys.hls_to_rgb(hue, light, sat)
    return "#{:02x}{:02x}{:02x}".format(int(r * 255), int(g * 255), int(b * 255))

