"""Figures drawn from stored numbers (never recomputed): the report's figures and the privacy curve
of a strength sweep.

:func:`privacy_curve_uri` turns the dict returned by :func:`auditkit.sweep.run_sweep` (schema
``auditkit.sweep/1``, its ``curve`` series) into an inline PNG (``data:image/png;base64,...``)
for the self-contained HTML report. matplotlib runs on the Agg backend; nothing is shown or
written to disk.
"""
from __future__ import annotations

import base64
import io
import math
from typing import Any

__all__ = ["draw_figure", "figure_tasks", "privacy_curve_uri", "report_figures"]


def _num(v: Any) -> float:
    """None / NaN -> NaN (matplotlib breaks the line there), else float."""
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def privacy_curve_uri(sweep: dict[str, Any], *, dpi: int = 110) -> str:
    """The privacy curve of a sweep as an inline PNG data URI.

    One panel per obfuscation family: rank-1 re-identification rate against strength, one line
    per attack with its Wilson 95% interval as a shaded band, the chance level (dashed) and the
    recommended strength (vertical dotted line), or a note that no tested strength qualifies.

    Parameters
    ----------
    sweep : dict
        A :func:`auditkit.sweep.run_sweep` result (``sweep["curve"]``: per family ``x``,
        ``chance``, ``series`` {attack: ``rank1``, ``lo``, ``hi``}, ``recommended``,
        ``x_label``, ``y_label``).
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    str
        ``"data:image/png;base64,..."``.

    Raises
    ------
    ValueError
        If ``sweep`` holds no curve to draw.
    """
    curve = (sweep or {}).get("curve") or {}
    fams = [(f, c) for f, c in curve.items() if c.get("x")]
    if not fams:
        raise ValueError("sweep has no privacy curve to draw (sweep['curve'] is empty); "
                         "pass a result of auditkit.sweep.run_sweep")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(fams)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.8), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    attack_names: list[str] = []
    for _, c in fams:
        for name in c.get("series", {}):
            if name not in attack_names:
                attack_names.append(name)
    colour_of = {name: colours[i % len(colours)] for i, name in enumerate(attack_names)}
    for ax, (fam, c) in zip(axes[0], fams):
        x = [_num(v) for v in c["x"]]
        for name, s in c.get("series", {}).items():
            y = [_num(v) for v in s["rank1"]]
            lo = [_num(v) for v in s["lo"]]
            hi = [_num(v) for v in s["hi"]]
            col = colour_of[name]
            ax.plot(x, y, marker="o", ms=4, color=col, label=name)
            ax.fill_between(x, lo, hi, color=col, alpha=0.15, linewidth=0)
        chance = [_num(v) for v in c.get("chance", [])]
        if chance and len(chance) == len(x):
            ax.plot(x, chance, "k--", lw=1, label="chance")
        rec = c.get("recommended")
        if rec is not None:
            ax.axvline(float(rec), color="green", ls=":", lw=1.5,
                       label=f"recommended: {c.get('param', 'strength')} = {float(rec):g}")
            title = (f"{fam}: recommended {c.get('param', 'strength')} = {float(rec):g}\n"
                     "(smallest tested strength indistinguishable from chance)")
        else:
            title = f"{fam}: no tested strength is\nindistinguishable from chance"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(c.get("x_label") or f"{fam} strength")
        ax.set_ylabel(c.get("y_label") or "rank-1 re-identification rate")
        ax.set_ylim(0, 1.02)
        ax.set_xticks(x)
        ax.set_xticklabels([f"{v:g}" for v in x])
        ax.grid(alpha=0.3)
        from .cmc_figure import legend_below

        legend_below(ax, ncol=2)
    fig.suptitle("Privacy curve: rank-1 re-identification vs strength (bands: Wilson 95% intervals)",
                 fontsize=10)
    fig.tight_layout()
    return _fig_to_uri(fig, dpi=dpi)


def _fig_to_uri(fig, *, dpi: int = 110) -> str:
    """A matplotlib figure as an inline PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def report_figures(results: dict) -> dict[str, dict[str, str]]:
    """Every figure of the HTML report as inline PNGs: per kind of identification attack an
    overview CMC (``figs["_cmc_<kind>"]["cmc"]``), per attack its CMC on the same axes, its score
    histograms and its gallery-size figure, and the privacy curve of a sweep (``figs["_sweep"]``).
    CMC curves carry 95% bands and every legend sits below its axes.

    Each figure is drawn on its own from the stored numbers (:func:`figure_tasks`), so when the
    audit's worker pool is running (:func:`auditkit.features.executors.running_pool`; issue 15:
    the figures were ~30% of a cold audit) they are drawn there in parallel, byte for byte the
    same PNGs as drawn here; else, or when the pool fails, here one after the other."""
    tasks = figure_tasks(results)
    drawn = None
    if len(tasks) > 2:
        from ..features.executors import running_pool

        pool = running_pool()
        if pool is not None:
            try:
                drawn = list(pool.map(draw_figure, tasks))
            except Exception:  # noqa: BLE001  (a lost worker must not lose the report: drawn here)
                drawn = None
    if drawn is None:
        drawn = [draw_figure(t) for t in tasks]
    figs: dict[str, dict[str, str]] = {}
    for (fig_key, sub, _, _), uri in zip(tasks, drawn):
        if uri is not None:
            figs.setdefault(fig_key, {})[sub] = uri
        elif fig_key not in figs and not fig_key.startswith("_"):
            figs[fig_key] = {}  # every attack has its entry, even without a figure
    return figs


FigureTask = tuple[str, str, str, tuple]  # (figs key, sub key, what to draw, its arguments)


def figure_tasks(results: dict) -> list[FigureTask]:
    """The report's figures as independent tasks for :func:`draw_figure`, in the report's order."""
    from .cmc_figure import UNITS, cmc_axes
    from .frameworks import attack_kind

    tasks: list[FigureTask] = []
    is_eval = bool(results.get("evaluation"))
    groups: dict[str, list[dict]] = {}
    for a in results.get("attacks", []):
        if a.get("cmc"):
            groups.setdefault(attack_kind(a), []).append(a)
    axes_of: dict[str, dict] = {}
    for kind, ident in groups.items():
        axes_of[kind] = cmc_axes(ident)
        unit = "benchmark probes" if is_eval else UNITS.get(kind, "release items")
        tasks.append((f"_cmc_{kind}", "cmc", "cmc", (ident, axes_of[kind], unit,
                                                     "Cumulative match characteristic (CMC)")))
    for a in results.get("attacks", []):
        if a.get("cmc"):
            kind = attack_kind(a)
            unit = "benchmark probes" if is_eval else UNITS.get(kind, "release items")
            tasks.append((a["name"], "cmc", "cmc", ([a], axes_of[kind], unit, None)))
        hist = a.get("details", {}).get("score_hist")
        if hist and any(hist["genuine"]):
            tasks.append((a["name"], "scores", "scores", (hist,)))
        tasks.append((a["name"], "gallery_size", "gallery_size", ((a.get("details") or {}).get("population"),
                                                                  a["name"])))
    if results.get("sweep"):
        tasks.append(("_sweep", "curve", "sweep", (results["sweep"],)))
    tasks.append(("_linkage", "routes", "routes", ((results.get("linkage") or {}).get("routes"),)))
    return tasks


def draw_figure(task: FigureTask) -> str | None:
    """One :func:`figure_tasks` task as an inline PNG (None when there is nothing to draw)."""
    import matplotlib

    matplotlib.use("Agg")
    _, _, what, args = task
    if what == "sweep":
        return privacy_curve_uri(*args)
    if what == "cmc":
        from .cmc_figure import cmc_figure

        ident, axes, unit, title = args
        fig = cmc_figure(ident, axes, unit=unit, title=title)
    elif what == "scores":
        fig = _scores_figure(*args)
    elif what == "gallery_size":
        from .population_figure import gallery_size_figure  # issue 14

        fig = gallery_size_figure(args[0], name=args[1])
    elif what == "routes":
        from .linkage_figure import routes_figure  # issue 12

        fig = routes_figure(args[0])
    else:
        raise ValueError(f"unknown figure {what!r}")
    return _fig_to_uri(fig) if fig is not None else None


def _scores_figure(hist: dict[str, Any]):
    import matplotlib.pyplot as plt
    import numpy as np

    from .cmc_figure import legend_below

    edges = np.array(hist["edges"])
    centres = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(centres, hist["impostor"], width=width, alpha=0.55, label="different person (impostor)")
    ax.bar(centres, hist["genuine"], width=width, alpha=0.55, label="same person (genuine)")
    ax.set_xlabel("similarity score (higher = more alike)")
    ax.set_ylabel("share of comparisons")
    legend_below(ax)
    ax.grid(alpha=0.3)
    return fig
