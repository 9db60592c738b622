"""The "routes rebuilt" figure (issue 12): one small panel per exposed (pseudonymised) person.

Each panel is one person the gallery-free linkage attack rebuilt from the release alone
(``results.json["linkage"]["routes"]["exposed"]``): their sightings as camera against time,
joined in time order, so a reader sees how far one person can be followed. Persons are
``person-NN`` (numbered by route length) and times are minutes since the release's first
sighting: no sighting id, file or label is shown.
"""
from __future__ import annotations

import math
from typing import Any

__all__ = ["routes_figure"]


def routes_figure(routes: dict[str, Any] | None, *, max_panels: int = 12):
    """The route matplotlib figure, or None when no rebuilt route spans two cameras with times."""
    exposed = [r for r in (routes or {}).get("exposed") or []
               if sum(1 for _, t in r["points"] if t is not None) >= 2][:max_panels]
    if not exposed:
        return None
    import matplotlib.pyplot as plt

    cams = sorted({c for r in exposed for c, _ in r["points"]})
    cols = min(4, len(exposed))
    rows = math.ceil(len(exposed) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 0.5 + (0.25 * len(cams) + 1.0) * rows),
                             squeeze=False, sharey=True)
    for ax, r in zip(axes.ravel(), exposed):
        pts = [(t / 60.0, cams.index(c)) for c, t in r["points"] if t is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", ms=3, lw=1)
        ax.set_title(f"{r['person']}: {r['cameras']} cameras", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(exposed):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_yticks(range(len(cams)))
        ax.set_yticklabels(cams, fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("minutes since first sighting", fontsize=7)
    fig.suptitle("Routes rebuilt from the release alone (pseudonymised persons)", fontsize=9)
    fig.tight_layout()
    return fig
