"""The report's formatters (jinja filters): percentages that never round one exposed person to 0%,
numbers, intervals, one plain sentence per attack's headline figure, and the words for a risk level
(a "low" whose interval reaches a higher level prints as "inconclusive", issue 16). Every number
the HTML report prints goes through these (no raw float such as 18.746405586745173)."""
from __future__ import annotations

import math
from typing import Any

from ..scoring.risk import outcome_phrase

__all__ = ["adv_ci", "ci", "level_class", "level_word", "num", "outcome", "pct", "value"]


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
    if isinstance(x, str):  # already text (e.g. a normalised duration)
        return x
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




def value(v: Any) -> str:
    """Any stored value as text: numbers through :func:`num`, lists joined, None as "–"."""
    if v is None:
        return "–"
    if isinstance(v, (bool, int, float)):
        return num(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(value(x) for x in v)
    return str(v)


def _inconclusive(a: dict) -> float | None:
    """The advantage upper bound of a "low" attack whose interval reaches a material advantage
    (or whose notes say "inconclusive"); None when the level stands as it is."""
    from ..scoring.risk import ANONYMIZED_MAX_ADVANTAGE

    if a.get("risk") != "low":
        return None
    hi = ((a.get("metrics") or {}).get("advantage_ci") or [None, None])[1]
    said = any(str(n).startswith("inconclusive") for n in a.get("notes") or [])
    if hi is not None and not _nan(hi) and (hi >= ANONYMIZED_MAX_ADVANTAGE or said):
        return float(hi)
    return 1.0 if said else None


def level_word(a: dict) -> str:
    """An attack's level in words: "critical".."low", "not scored", or "inconclusive (low to high)"
    when the level is low only by the lower bound and the interval reaches a higher level."""
    from ..scoring.risk import level_for

    if not a.get("risk"):
        return "not scored"
    hi = _inconclusive(a)
    if hi is None:
        return str(a["risk"])
    top = level_for((hi, hi)) or "low"
    return "inconclusive" + (f" (low to {top})" if top != "low" else "")


def level_class(a: dict) -> str:
    """CSS class of an attack's badge: ``risk-<level>``, ``risk-inconclusive`` or ``risk-unscored``."""
    if not a.get("risk"):
        return "risk-unscored"
    return "risk-inconclusive" if _inconclusive(a) is not None else f"risk-{a['risk']}"
