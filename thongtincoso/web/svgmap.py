"""Points on an offline map: latitude/longitude projected into an SVG box.

No tile server is reachable on an intranet, so maps are drawn as dots (devices, feedback) in a
box that fits the points shown. Equirectangular with the longitude scaled by cos(mean latitude),
so a commune near the equator and one in the north keep their shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    width: int
    height: int
    pad: int = 24
    # Room on the right for a label written beside each dot.
    label: int = 0


def project(points: Sequence[tuple[float, float]], box: Box) -> list[tuple[str, str]]:
    """(x, y) for each (lat, long), as strings with one decimal.

    Strings, because a float in a template is localised ("12,5" in Vietnamese), which SVG would
    not read.
    """
    if not points:
        return []
    lats = [lat for lat, _ in points]
    k = math.cos(math.radians((min(lats) + max(lats)) / 2))
    xs = [lon * k for _, lon in points]
    span_x = max(xs) - min(xs) or 1e-6
    span_y = max(lats) - min(lats) or 1e-6
    usable_w = box.width - 2 * box.pad - box.label
    scale = min(usable_w / span_x, (box.height - 2 * box.pad) / span_y)
    # Centre the drawing in the box.
    off_x = box.pad + (usable_w - span_x * scale) / 2
    off_y = (box.height - span_y * scale) / 2
    return [
        (f"{off_x + (x - min(xs)) * scale:.1f}", f"{off_y + (max(lats) - lat) * scale:.1f}")
        for x, lat in zip(xs, lats, strict=True)
    ]
