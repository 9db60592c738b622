"""CMC figures with interval bands (issue 16): the overview of one kind of attack and each attack's
own curve, drawn on the same axes (same x scale and limits, y from 0 to 1), the legend below the
axes so it never covers a curve.

The band at rank k is the 95% Wilson interval of the stored CMC value cmc[k] over the attack's
scored probes (``metrics.n_mated``, else ``metrics.n``), from :mod:`auditkit.scoring.stats`, the one
statistics module; the curve itself is the stored one.
"""
from __future__ import annotations

from typing import Any

from ..scoring.metrics import chance_rank_k
from ..scoring.stats import wilson_interval

__all__ = ["cmc_axes", "cmc_band", "cmc_figure", "legend_below"]

#: what a CMC counts, per kind of audit (a benchmark counts probes)
UNITS = {"face": "release faces", "body": "release tracks", "sightings": "release sightings", "other": "release items"}


def cmc_band(a: dict[str, Any]) -> tuple[list[float], list[float]] | None:
    """(lower, upper) 95% Wilson bounds of an attack's stored CMC; None without a probe count."""
    m = a.get("metrics") or {}
    n = m.get("n_mated", m.get("n"))
    if not n:
        return None
    n = int(n)
    bounds = [wilson_interval(round(v * n), n) for v in a["cmc"]]
    return [b[0] for b in bounds], [b[1] for b in bounds]


def cmc_axes(attacks: list[dict[str, Any]]) -> dict[str, Any]:
    """Shared axes for a group of CMC curves: x from rank 1 to the longest curve, log scale when it is
    longer than 20 ranks (linear otherwise), y from 0 to 1."""
    m = max((len(a.get("cmc") or []) for a in attacks), default=1)
    return {"max_rank": max(m, 1), "log": m > 20}


def legend_below(ax, ncol: int = 2) -> None:
    """The legend under the axes, outside the plotting area (it never covers data)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22),
                  ncol=ncol, frameon=False)


def _apply(ax, axes: dict[str, Any], unit: str) -> None:
    m = axes["max_rank"]
    if axes["log"]:
        ax.set_xscale("log")
    ax.set_xlim(0.9 if axes["log"] else 0.5, m * (1.1 if axes["log"] else 1) + (0 if axes["log"] else 0.5))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("rank k" + (" (log scale)" if axes["log"] else ""))
    ax.set_ylabel(f"share of {unit}\nfound by rank k")
    ax.grid(alpha=0.3)


def cmc_figure(attacks: list[dict[str, Any]], axes: dict[str, Any], *, unit: str, title: str | None = None):
    """One matplotlib figure: each attack's CMC with its 95% band, and chance per gallery size."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4 if len(attacks) > 1 else 5.2, 3.9))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, a in enumerate(attacks):
        ks = list(range(1, len(a["cmc"]) + 1))
        col = colours[i % len(colours)]
        ax.plot(ks, a["cmc"], marker="o", ms=3, color=col, label=a["name"])
        band = cmc_band(a)
        if band is not None:
            ax.fill_between(ks, band[0], band[1], color=col, alpha=0.15, linewidth=0)
    m = axes["max_rank"]
    sizes = sorted({a["n_identities"] for a in attacks if a.get("n_identities")})
    for n_id in sizes:  # one chance line per gallery size: cues may be scored against different identity sets
        ax.plot(range(1, m + 1), [chance_rank_k(n_id, k) for k in range(1, m + 1)], "k--", lw=1,
                label="chance" if len(sizes) == 1 else f"chance ({n_id} identities)")
    ax.fill_between([], [], [], color="grey", alpha=0.15, label="95% Wilson interval")
    _apply(ax, axes, unit)
    if title:
        ax.set_title(title, fontsize=10)
    legend_below(ax, ncol=3 if len(attacks) > 2 else 2)  # savefig's tight bbox keeps it in the image
    return fig
