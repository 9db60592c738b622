"""Population uniqueness from a sample: how many people in the *population* are unique on the
quasi-identifiers, when the release is a sample drawn with sampling fraction ``f``.

The estimators are the four ARX offers (``org.deidentifier.arx.risk.RiskModelPopulationUniqueness``),
written here from their papers and checked against ARX's published test values
(``TestRiskMetrics.testDecisionRule2`` on ARX's ``data/adult.csv``, 9 quasi-identifiers):

* **Zayatz** (L. Zayatz, "Estimation of the number of unique population elements using a
  sample", Census Bureau SRD report 1991): the share of sample uniques that are population
  uniques is the hypergeometric chance that a class of size 1 in a population of ``N`` shows
  up once in a sample of ``n``, against that chance for every class size seen in the sample,
  ``P(unique | sample unique) = (c1/u) h(1; N, 1, n) / sum_s (c_s/u) h(1; N, s, n)``; the
  estimate is ``c1 * P / f`` (``c_s`` classes of size ``s`` among ``u`` sample classes).
* **Pitman** (S. Hoshino, "Multivariate analysis of sample uniques", and "Applying Pitman's
  sampling formula to microdata disclosure risk assessment", J. Official Statistics 17(4),
  2001): the class partition of the sample follows Pitman's sampling formula with parameters
  ``theta > 0`` and ``0 < alpha < 1``, fitted by maximum likelihood; the expected number of
  population uniques is ``Gamma(theta+1) / Gamma(theta+alpha) * N**alpha``.
* **SNB** (G. Chen, S. Keller-McNulty, "Estimation of identification disclosure risk in
  microdata", J. Official Statistics 14(1), 1998): population class sizes are shifted negative
  binomial with parameters ``alpha, beta``, fitted by matching the expected numbers of sample
  classes of size 1 and 2 to ``c1`` and ``c2``, with the number ``K`` of non-empty population
  classes from Haas and Stokes' (1998) Shlosser estimator; the estimate is ``K * beta**alpha``.
  ARX's code departs from the papers in two places (the Shlosser denominator, and the sign
  of one exponent in the second moment equation, see :func:`_snb_equations`); the papers'
  forms are the default, ARX's literal ones are available (``arx_form=True``) and reported.
* **Dankar's decision rule** (F. Dankar, K. El Emam, A. Neisa, T. Roffey, "Estimating the
  re-identification risk of clinical data sets", BMC Medical Informatics and Decision Making
  12:66, 2012): Pitman when ``f <= 0.1`` (Zayatz if Pitman does not converge); otherwise the
  smaller of Zayatz and SNB (SNB on a tie, as in ARX; Zayatz if SNB does not converge).

As in ARX, the population size is ``N = round(n / f)`` and the models use ``f = n / N``; an
estimate that does not converge, or falls outside ``[0, N]``, is reported as unavailable
(``None``), never as 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special, stats

__all__ = ["ClassHistogram", "dankar_uniques", "model_risks", "pitman_fit", "pitman_inverse_size", "pitman_uniques",
           "population_size",
           "population_uniqueness", "snb_uniques", "zayatz_uniques"]

#: Largest absolute value of a model's estimating equations accepted as a solution (ARX's
#: default solver accuracy, ``ARXSolverConfiguration.getDefaultAccuracy``).
ACCURACY = 1e-6
#: SNB start values (alpha, beta): ARX's default grid {0, .33, .66, .99}^2.
_SNB_STARTS = [(a, b) for a in (0.0, 0.33, 0.66, 0.99) for b in (0.0, 0.33, 0.66, 0.99)]


@dataclass(frozen=True)
class ClassHistogram:
    """Equivalence-class sizes of a sample as a histogram: ``counts[i]`` classes of size ``sizes[i]``."""

    sizes: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_class_sizes(cls, class_sizes: Any) -> ClassHistogram:
        """From one size per class (not per record)."""
        arr = np.asarray(class_sizes, dtype=np.int64)
        if arr.ndim != 1 or len(arr) == 0 or arr.min() < 1:
            raise ValueError(f"class sizes must be a non-empty 1-d array of positive integers, got {arr!r}")
        sizes, counts = np.unique(arr, return_counts=True)
        return cls(sizes=sizes, counts=counts)

    @property
    def n(self) -> int:
        """Records in the sample."""
        return int(np.sum(self.sizes * self.counts))

    @property
    def u(self) -> int:
        """Classes in the sample."""
        return int(self.counts.sum())

    def of_size(self, s: int) -> int:
        """Number of classes of size ``s``."""
        return int(self.counts[self.sizes == s].sum())


def population_size(n: int, sampling_fraction: float) -> int:
    """ARX's population size for a sample of ``n`` records drawn with ``sampling_fraction``."""
    if not 0.0 < sampling_fraction <= 1.0:
        raise ValueError(f"sampling fraction must be in (0, 1], got {sampling_fraction!r}")
    return int(round(n / sampling_fraction))


def _valid(value: float, big_n: int) -> float | None:
    return float(value) if np.isfinite(value) and 0.0 < value <= big_n else None


def zayatz_uniques(h: ClassHistogram, big_n: int) -> float | None:
    """Zayatz's estimate of the number of population uniques (see the module docstring)."""
    n, u, c1 = h.n, h.u, h.of_size(1)
    if c1 == 0:
        return 0.0
    p_one = stats.hypergeom(big_n, h.sizes, n).pmf(1)  # a class of size s seen exactly once
    denom = float(np.sum(h.counts / u * p_one))
    cond = (c1 / u) * float(stats.hypergeom(big_n, 1, n).pmf(1)) / denom
    return _valid(c1 * cond / (n / big_n), big_n)


def _pitman_scores(x: np.ndarray, h: ClassHistogram) -> np.ndarray:
    """The two likelihood equations of Pitman's sampling formula in (theta, alpha)."""
    t, a = x
    n, u = h.n, h.u
    i = np.arange(1, u, dtype=float)
    big = h.sizes > 1
    d_theta = np.sum(1.0 / (t + i * a)) - (special.digamma(n + t) - special.digamma(t + 1.0))
    d_alpha = np.sum(i / (t + i * a)) - np.sum(
        h.counts[big] * (special.digamma(h.sizes[big] - a) - special.digamma(1.0 - a)))
    return np.array([d_theta, d_alpha])


def pitman_fit(h: ClassHistogram) -> tuple[float, float] | None:
    """Maximum-likelihood ``(theta, alpha)`` of Pitman's sampling formula, or ``None``.

    Started, as in Hoshino (2001) and ARX, from the moment-type guess built on ``c1`` and ``c2``.
    """
    n, u, c1 = h.n, h.u, h.of_size(1)
    c2 = h.of_size(2) or 1  # ARX: overestimate when there is no class of size 2
    c = c1 * (c1 - 1) / c2
    den = 2 * c1 * u + c1 * c - n * c
    if den == 0:
        return None
    t0 = (n * u * c - c1 * (n - 1) * (2 * u + c)) / den
    a0 = (t0 * (c1 - n) + (n - 1) * c1) / (n * u)
    with np.errstate(all="ignore"):
        sol = optimize.root(_pitman_scores, np.array([t0, a0], dtype=float), args=(h,), method="hybr")
        t, a = sol.x
        ok = (np.all(np.isfinite(sol.x)) and t >= 0 and 0 < a < 1
              and np.max(np.abs(_pitman_scores(sol.x, h))) <= ACCURACY)
    return (float(t), float(a)) if ok else None


def pitman_uniques(h: ClassHistogram, big_n: int) -> float | None:
    """Pitman-model estimate of the number of population uniques (see the module docstring)."""
    if h.of_size(1) == 0:
        return 0.0
    fit = pitman_fit(h)
    if fit is None:
        return None
    t, a = fit
    with np.errstate(all="ignore"):
        value = np.exp(special.gammaln(t + 1.0) - special.gammaln(t + a) + a * np.log(big_n))
    return _valid(value, big_n)


def _shlosser_classes(h: ClassHistogram, f: float, *, arx_form: bool = False) -> float:
    """Haas and Stokes' (1998) third Shlosser estimate of the number of non-empty population classes.

    ``d + f1 * [sum_i i q^2 (1-q^2)^(i-1) f_i / sum_i (1-q)^i ((1+q)^i - 1) f_i]
    * [sum_i (1-q)^i f_i / sum_i i q (1-q)^(i-1) f_i]^2`` with ``q`` the sampling fraction and
    ``f_i`` the number of sample classes of size ``i``. ``arx_form`` reproduces ARX's literal
    expression, ``(1-q)^i f_i (1+q)^i - 1`` in the second denominator (the ``- 1`` taken once
    per distinct class size, not multiplied by ``(1-q)^i f_i``).
    """
    s, c = h.sizes.astype(float), h.counts.astype(float)
    q = (1.0 - f) ** s * c
    v1 = np.sum(s * f * f * (1.0 - f * f) ** (s - 1) * c)
    v2 = np.sum(q * (1.0 + f) ** s - 1.0) if arx_form else np.sum(q * ((1.0 + f) ** s - 1.0))
    v3 = np.sum(q)
    v4 = np.sum(s * f * (1.0 - f) ** (s - 1) * c)
    return h.u + h.of_size(1) * (v1 / v2) * (v3 / v4) ** 2


def _snb_equations(x: np.ndarray, k: float, f: float, c1: float, c2: float, arx_form: bool = False) -> np.ndarray:
    """Expected numbers of sample classes of size 1 and 2 under the SNB model, minus ``c1``, ``c2``.

    With ``d = (1-f)(1-beta)``, the probability generating function of a population class size
    ``z (beta / (1 - (1-beta) z))^alpha`` gives ``E c1 = K f (beta/(1-d))^alpha (1 + alpha d/(1-d))``
    and ``E c2 = K f^2/2 alpha beta^alpha (1-beta) (1-d)^-(alpha+2) (2 - (1-alpha) d)``.
    ``arx_form`` uses ARX's ``(1-d)^+(alpha+2)`` in the second equation.
    """
    a, b = x
    d = (1.0 - f) * (1.0 - b)
    e1 = k * f * (b / (1.0 - d)) ** a * (a * d / (1.0 - d) + 1.0) - c1
    power = (a + 2.0) if arx_form else -(a + 2.0)
    e2 = k * a * b ** a * f * f * (1.0 - b) / 2.0 * (1.0 - d) ** power * (2.0 - (1.0 - a) * d) - c2
    return np.array([e1, e2])


def snb_uniques(h: ClassHistogram, big_n: int, *, arx_form: bool = False) -> float | None:
    """SNB-model estimate of the number of population uniques (see the module docstring).

    The two moment equations are solved from ARX's 16 start values; the first solution found
    with both equations within :data:`ACCURACY` (relative to ``c1``, ``c2``) and ``alpha > 0``,
    ``0 < beta <= 1`` is used. ``arx_form=True`` uses ARX's literal expressions for the Shlosser
    estimate and the second moment equation, which differ from the papers' (see
    :func:`_shlosser_classes`, :func:`_snb_equations`); the default follows the papers.
    """
    c1, c2 = h.of_size(1), h.of_size(2)
    if c1 == 0:
        return 0.0
    f = h.n / big_n
    scale = np.array([max(c1, 1), max(c2, 1)], dtype=float)
    with np.errstate(all="ignore"):
        k = _shlosser_classes(h, f, arx_form=arx_form)
        if not np.isfinite(k):
            return None
        for start in _SNB_STARTS:
            sol = optimize.root(lambda x: _snb_equations(x, k, f, c1, c2, arx_form) / scale, np.array(start),
                                method="hybr")
            a, b = sol.x
            if (np.all(np.isfinite(sol.x)) and a > 0 and 0 < b <= 1
                    and np.max(np.abs(_snb_equations(sol.x, k, f, c1, c2, arx_form) / scale)) <= ACCURACY):
                return _valid(k * b ** a, big_n)
    return None


def dankar_uniques(h: ClassHistogram, big_n: int, *, estimates: dict[str, float | None] | None = None
                   ) -> tuple[float, str]:
    """Dankar et al.'s decision rule: ``(number of population uniques, model chosen)``."""
    est = estimates if estimates is not None else {}
    if h.of_size(1) == 0:
        return 0.0, "none (no sample uniques)"
    f = h.n / big_n
    if f <= 0.1:
        p = est["pitman"] if "pitman" in est else pitman_uniques(h, big_n)
        if p:
            return p, "pitman"
        z = est["zayatz"] if "zayatz" in est else zayatz_uniques(h, big_n)
        return (z or 0.0), "zayatz"
    z = est["zayatz"] if "zayatz" in est else zayatz_uniques(h, big_n)
    s = est["snb"] if "snb" in est else snb_uniques(h, big_n)
    if s and z is not None and z < s:
        return z, "zayatz"
    if s:
        return s, "snb"
    return (z or 0.0), "zayatz"


def population_uniqueness(class_sizes: Any, *, sampling_fraction: float) -> dict[str, Any]:
    """Every estimator's share of the population that is unique, and Dankar's choice.

    Parameters
    ----------
    class_sizes : one size per equivalence class of the released sample (suppressed records
        left out beforehand: they form no class).
    sampling_fraction : the share of the population the release holds, in (0, 1].

    Returns
    -------
    dict with ``population_size``, ``sample_size``, ``sampling_fraction`` (``n / N``), the
    ``sample_uniqueness`` and, per model (``zayatz``, ``pitman``, ``snb``), the fraction of the
    population estimated unique (``None`` when the model does not converge), plus ``dankar``
    and the ``dankar_model`` it chose. ``snb`` and ``dankar`` follow ARX's code (``arx_form``),
    so the figures are the peer's; ``snb_paper`` and ``dankar_paper`` use the published equations.

    Examples
    --------
    >>> r = population_uniqueness([1, 1, 2, 3], sampling_fraction=1.0)
    >>> round(r["dankar"], 4)  # a census: population uniqueness is sample uniqueness
    0.2857
    """
    h = ClassHistogram.from_class_sizes(class_sizes)
    big_n = population_size(h.n, sampling_fraction)
    est = {"zayatz": zayatz_uniques(h, big_n), "pitman": pitman_uniques(h, big_n),
           "snb": snb_uniques(h, big_n, arx_form=True)}
    d, model = dankar_uniques(h, big_n, estimates=est)
    snb_paper = snb_uniques(h, big_n)
    d_paper, model_paper = dankar_uniques(h, big_n, estimates={**est, "snb": snb_paper})
    out: dict[str, Any] = {
        "population_size": big_n, "sample_size": h.n, "sampling_fraction": h.n / big_n,
        "sampling_fraction_declared": sampling_fraction, "sample_classes": h.u,
        "sample_uniques": h.of_size(1), "sample_uniqueness": h.of_size(1) / h.n,
    }
    for name, v in est.items():
        out[name] = None if v is None else v / big_n
    out["dankar"] = d / big_n
    out["dankar_model"] = model
    out["population_uniques_dankar"] = d
    out["snb_paper"] = None if snb_paper is None else snb_paper / big_n
    out["dankar_paper"] = d_paper / big_n
    out["dankar_paper_model"] = model_paper
    out["note"] = ("snb and dankar follow ARX's code (its SNB equations, which seldom converge, so the rule "
                   "falls back to Zayatz); snb_paper / dankar_paper use Chen & McNulty's and Haas & Stokes' "
                   "equations as published")
    return out


#: Probability mass of the beta-binomial tail left out of :func:`pitman_inverse_size`'s sum.
_TAIL = 1e-13


def pitman_inverse_size(s: int, *, theta: float, alpha: float, n: int, big_n: int) -> float:
    """``E[1 / F]`` for a sample class of size ``s`` under the fitted Pitman model.

    In Pitman's (Chinese-restaurant) process, after ``n`` sampled people the next person joins a
    class of size ``s`` with probability ``(s - alpha) / (theta + n)``, and each join adds 1 to
    that class and 1 to the total: a two-colour Polya urn. The ``N - n`` people not sampled thus
    add ``X ~ BetaBinomial(N - n, s - alpha, theta + n - s + alpha)`` to the class, and
    ``F = s + X``. The sum over ``X`` stops where the beta tail leaves less than
    :data:`_TAIL` of the mass (an error below ``_TAIL / s``).
    """
    m = big_n - n
    if m <= 0:
        return 1.0 / s
    a, b = s - alpha, theta + n - s + alpha
    q = float(stats.beta.isf(_TAIL, a, b))
    hi = int(min(m, math.ceil(m * q + 10.0 * math.sqrt(m * q + 1.0) + 10.0)))
    x = np.arange(hi + 1)
    return float(np.sum(stats.betabinom.pmf(x, m, a, b) / (s + x)))


def model_risks(class_sizes: Any, *, sampling_fraction: float, threshold: float = 0.2) -> dict[str, Any] | None:
    """Journalist and marketer risks when the population is known only through Pitman's model.

    ARX's definitions (:func:`auditkit.scoring.table_measures.reidentification_risks`) with each
    population class size ``F_j`` replaced by its distribution given the sample under the fitted
    Pitman model (:func:`pitman_inverse_size`): marketer = ``(1/n) sum_j f_j E[1/F_j]``; journalist
    records at risk = share of records with ``E[1/F_j] > threshold``, highest = ``max_j E[1/F_j]``,
    average = ``max(c / sum_j E[F_j], marketer)``. ``None`` when the Pitman model does not converge.
    """
    h = ClassHistogram.from_class_sizes(class_sizes)
    big_n = population_size(h.n, sampling_fraction)
    fit = pitman_fit(h) if h.of_size(1) else None
    if fit is None:
        return None
    t, a = fit
    inv = np.array([pitman_inverse_size(int(s), theta=t, alpha=a, n=h.n, big_n=big_n) for s in h.sizes])
    mean_f = h.sizes + (big_n - h.n) * (h.sizes - a) / (t + h.n)
    marketer = float(np.sum(h.counts * h.sizes * inv) / h.n)
    journalist = {"records_at_risk": float(np.sum((h.counts * h.sizes)[inv > threshold]) / h.n),
                  "highest_risk": float(inv.max()),
                  "average_risk": float(max(h.u / np.sum(h.counts * mean_f), marketer))}
    return {"model": "pitman", "theta": t, "alpha": a, "population_size": big_n, "threshold": threshold,
            "journalist": journalist,
            "marketer": {"records_at_risk": None, "highest_risk": None, "average_risk": marketer}}
