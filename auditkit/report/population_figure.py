"""The "gallery size" figure (issue 14): rank-1 against the attacker's gallery size N.

Measured rank-1 (with its Wilson interval) at the audited size, the projected rank-1 with its
bootstrap band at the sizes asked (:func:`auditkit.scoring.population.project_population`), and
chance (1/N), on a log axis.
"""
from __future__ import annotations

from typing import Any

__all__ = ["gallery_size_figure"]


def gallery_size_figure(pop: dict[str, Any] | None, *, name: str = ""):
    """The gallery-size matplotlib figure for one attack's ``population`` block; None without one."""
    if not pop or "error" in pop or not pop.get("sizes"):
        return None
    import matplotlib.pyplot as plt
    import numpy as np

    m = pop["measured"]
    xs = np.array([m["n_identities"], *pop["sizes"]], dtype=float)
    ys = np.array([m["projected_rank1"], *pop["rank1"]], dtype=float)
    ci = [m["projected_rank1_ci"], *pop["rank1_ci"]]
    lo = np.array([c[0] if c and c[0] is not None else np.nan for c in ci], dtype=float)
    hi = np.array([c[1] if c and c[1] is not None else np.nan for c in ci], dtype=float)
    order = np.argsort(xs)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.fill_between(xs[order], lo[order], hi[order], alpha=0.25, label="projected, 95% bootstrap band")
    ax.plot(xs[order], ys[order], marker="o", ms=3, label=f"projected rank-1{' (' + name + ')' if name else ''}")
    mlo, mhi = m.get("rank1_ci") or (None, None)
    if m.get("rank1") is not None:
        # clamped at 0: at rank-1 1.0 the Wilson bound is 1 - 1e-16 in floating point, and matplotlib
        # refuses a negative error bar (a 3-identity audit crashed rendering here)
        err = None if mlo is None else [[max(0.0, m["rank1"] - mlo)], [max(0.0, mhi - m["rank1"])]]
        ax.errorbar([m["n_identities"]], [m["rank1"]], yerr=err, fmt="s", color="k", ms=5, capsize=3,
                    label="measured (95% Wilson)")
    grid = np.geomspace(max(2.0, xs.min()), xs.max(), 50)
    ax.plot(grid, 1.0 / grid, "k--", lw=1, label="chance (1/N)")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("gallery size N (identities)")
    ax.set_ylabel("rank-1 identification")
    ax.grid(alpha=0.3)
    from .cmc_figure import legend_below

    legend_below(ax)  # issue 16: legends never cover data
    return fig
