"""The one statistics module: confidence intervals, chance-corrected advantage, residual risk.

Every figure auditkit reports goes through these functions, so that a reader can check one
place for how an interval or an advantage was computed.

References
----------
- E. B. Wilson, "Probable inference, the law of succession, and statistical inference",
  JASA 22(158), 1927 (the score interval used for every proportion).
- A. Agresti & B. Coull, "Approximate is better than 'exact' for interval estimation of
  binomial proportions", The American Statistician 52(2), 1998 (why Wilson, not Wald).
- M. Giomi et al., "A Unified Framework for Quantifying Privacy Risk in Synthetic Data"
  (anonymeter), PoPETs 2023: residual risk ``(attack - control) / (1 - control)``.
"""
from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["advantage", "advantage_interval", "residual_risk", "wilson_interval", "z_value"]


def z_value(confidence: float = 0.95) -> float:
    """Two-sided normal quantile for ``confidence`` (1.959964 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: float, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``.

    Returns ``(nan, nan)`` when ``n == 0``: no data, no interval (never a made-up one).

    >>> lo, hi = wilson_interval(8, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.4902, 0.9433)
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n!r}")
    if n == 0:
        return (math.nan, math.nan)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes!r}")
    z = z_value(confidence)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # the interval always contains p mathematically; in floating point its bound at p = 0 or 1 can
    # miss by 1e-16 (e.g. 10/10 -> upper 0.9999999999999999), which a reader (or a plot) would trip on
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def advantage(p: float, p0: float) -> float:
    """Attacker advantage over chance: ``(p - p0) / (1 - p0)``.

    0 means no better than guessing, 1 means always right; negative means worse than chance.
    ``p0`` must be < 1 (if chance is certain there is nothing to gain).
    """
    if not 0.0 <= p0 < 1.0:
        raise ValueError(f"chance level p0 must be in [0, 1), got {p0!r}")
    if math.isnan(p):
        return math.nan
    return (p - p0) / (1.0 - p0)


def advantage_interval(interval: tuple[float, float], p0: float) -> tuple[float, float]:
    """Map an interval on the success rate to one on the advantage (the map is monotone)."""
    lo, hi = interval
    return (advantage(lo, p0), advantage(hi, p0))


def residual_risk(attack_rate: float, control_rate: float) -> float:
    """Anonymeter's residual risk ``(attack - control) / (1 - control)``.

    Same formula as :func:`advantage`, with the control (or baseline) rate as the reference.
    """
    return advantage(attack_rate, control_rate)
