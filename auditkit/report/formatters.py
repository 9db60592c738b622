"""The report's formatters (jinja filters): percentages that never round one exposed person to 0%,
numbers, intervals, and one plain sentence per attack's headline figure."""
from __future__ import annotations

import math
from typing import Any

from ..scoring.risk import outcome_phrase

__all__ = ["adv_ci", "ci", "num", "outcome", "pct"]


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x: Any, digits: int = 1) -> str:
    """0-1 fraction -> percentage; tiny non-zero values print as '< 0.1%', never as 0%."""
    if _nan(x):
        return "n/a"
    x = float(x)
    if 0 < x < 0.001:
        return "< 0.1%"
    if 0.999 < x < 1:
        return "> 99.9%"
    s = f"{100 * x:.{digits}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s + "%"


def num(x: Any, digits: int = 3) -> str:
    if _nan(x):
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return f"{int(x):,}"
    return f"{float(x):.{digits}g}"


def outcome(a: dict, unit: str | None = None) -> str:
    """One plain sentence for an attack's headline figure (rate, n, interval, chance, advantage)."""
    m = a.get("metrics") or {}
    rate = m.get("rank1", m.get("success_rate"))
    if rate is None or _nan(rate):
        return "not scored (no ground truth)."
    rci = m.get("rank1_ci", m.get("success_rate_ci"))
    p0 = m.get("chance_rank1", m.get("baseline"))
    n = m.get("n_mated", m.get("n"))
    default_unit, happened, base = outcome_phrase(a.get("cue"), a.get("criterion"))
    unit = unit or default_unit
    text = (f"{pct(rate)} of {num(n)} {unit} {happened} (95% CI {ci(rci)}); {base} {pct(p0)}; "
            f"advantage over {base} {num(m.get('advantage'), 2)} ({adv_ci(m.get('advantage_ci'))}).")
    if m.get("control") is not None and not _nan(m.get("control")):
        text += f" Control records (not in the release): {pct(m['control'])}."
    return text


def ci(interval: Any) -> str:
    if not interval or any(_nan(v) for v in interval):
        return "n/a"
    return f"{pct(interval[0])} – {pct(interval[1])}"


def adv_ci(interval: Any) -> str:
    if not interval or any(_nan(v) for v in interval):
        return "n/a"
    return f"{num(interval[0], 2)} – {num(interval[1], 2)}"


