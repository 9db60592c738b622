"""Population uniqueness from a sample (issue 14): Zayatz, Pitman, SNB and Dankar's rule, and the
journalist / marketer risks under the Pitman model. Generated data and plainly written oracles;
the real ARX case (ARX's adult.csv, published test values) is in test_population_uniqueness_adult.py."""
from __future__ import annotations

import math

import numpy as np
import pytest

from auditkit.tables.population_uniqueness import (
    ClassHistogram,
    dankar_uniques,
    model_risks,
    pitman_fit,
    pitman_inverse_size,
    pitman_uniques,
    population_size,
    population_uniqueness,
    snb_uniques,
    zayatz_uniques,
)


def _hyper_one(big_n: int, size: int, n: int) -> float:
    """P(exactly one of a class of ``size`` is drawn in a sample of n from big_n), by counting."""
    return math.comb(size, 1) * math.comb(big_n - size, n - 1) / math.comb(big_n, n)


def test_zayatz_matches_hand_computed_hypergeometric():
    sizes = [1, 1, 1, 2, 2, 3]  # c1=3, c2=2, c3=1: n=10, u=6
    h = ClassHistogram.from_class_sizes(sizes)
    big_n = 40
    num = (3 / 6) * _hyper_one(big_n, 1, 10)
    den = (3 / 6) * _hyper_one(big_n, 1, 10) + (2 / 6) * _hyper_one(big_n, 2, 10) + (1 / 6) * _hyper_one(big_n, 3, 10)
    expected = 3 * (num / den) / (10 / 40)
    assert zayatz_uniques(h, big_n) == pytest.approx(expected, rel=1e-12)


def _pitman_loglik(t: float, a: float, sizes: list[int]) -> float:
    """Pitman's sampling formula log-likelihood, term by term (Hoshino 2001, eq. 2)."""
    n, u = sum(sizes), len(sizes)
    ll = sum(math.log(t + i * a) for i in range(1, u)) - sum(math.log(t + i) for i in range(1, n))
    for s in sizes:
        ll += sum(math.log(k - a) for k in range(1, s))
    return ll


def _skewed_sizes(seed: int = 0, n_classes: int = 400) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(s) for s in 1 + rng.negative_binomial(0.4, 0.25, size=n_classes)]


def test_pitman_fit_is_a_maximum_of_the_likelihood():
    sizes = _skewed_sizes()
    fit = pitman_fit(ClassHistogram.from_class_sizes(sizes))
    assert fit is not None
    t, a = fit
    best = _pitman_loglik(t, a, sizes)
    for dt in (-0.05, 0.05):
        for da in (-0.01, 0.01):
            assert _pitman_loglik(t * (1 + dt), a + da, sizes) < best


def test_pitman_uniques_closed_form():
    sizes = _skewed_sizes()
    h = ClassHistogram.from_class_sizes(sizes)
    t, a = pitman_fit(h)
    big_n = population_size(h.n, 0.05)
    assert pitman_uniques(h, big_n) == pytest.approx(math.exp(math.lgamma(t + 1) - math.lgamma(t + a)) * big_n ** a, rel=1e-9)


def _snb_population(alpha: float, beta: float, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1 + rng.negative_binomial(alpha, beta, size=k)  # Chen & McNulty's shifted negative binomial


@pytest.mark.parametrize("alpha,beta", [(0.5, 0.3), (0.2, 0.1)])
def test_snb_recovers_the_uniques_of_an_snb_population(alpha, beta):
    pop = _snb_population(alpha, beta, 20_000, seed=3)
    rng = np.random.default_rng(4)
    sample = rng.binomial(pop, 0.5)
    h = ClassHistogram.from_class_sizes(sample[sample > 0])
    truth = int(np.sum(pop == 1))
    est = snb_uniques(h, int(pop.sum()))
    assert est is not None and est == pytest.approx(truth, rel=0.08)
    # ARX's literal equations miss the same population (documented departure, issue 14)
    arx = snb_uniques(h, int(pop.sum()), arx_form=True)
    assert arx is None or abs(arx - truth) > abs(est - truth)


def test_dankar_rule_branches():
    h = ClassHistogram.from_class_sizes(_skewed_sizes())
    small = population_size(h.n, 0.05)
    assert dankar_uniques(h, small, estimates={"pitman": 7.0, "zayatz": 9.0}) == (7.0, "pitman")
    assert dankar_uniques(h, small, estimates={"pitman": None, "zayatz": 9.0}) == (9.0, "zayatz")
    large = population_size(h.n, 0.5)
    assert dankar_uniques(h, large, estimates={"zayatz": 5.0, "snb": 6.0}) == (5.0, "zayatz")
    assert dankar_uniques(h, large, estimates={"zayatz": 6.0, "snb": 5.0}) == (5.0, "snb")
    assert dankar_uniques(h, large, estimates={"zayatz": 6.0, "snb": None}) == (6.0, "zayatz")
    no_uniques = ClassHistogram.from_class_sizes([2, 3, 2])
    assert dankar_uniques(no_uniques, 70)[0] == 0.0


def test_census_population_uniqueness_is_sample_uniqueness():
    r = population_uniqueness([1, 1, 1, 2, 4, 3, 1], sampling_fraction=1.0)
    assert r["population_size"] == 13
    assert r["dankar"] == pytest.approx(4 / 13, rel=1e-12)
    assert r["zayatz"] == pytest.approx(4 / 13, rel=1e-12)


def test_population_size_rounds_like_arx_and_rejects_bad_fractions():
    assert population_size(30162, 0.1) == 301620
    assert population_size(7, 0.3) == 23
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="sampling fraction"):
            population_size(10, bad)
    with pytest.raises(ValueError, match="class sizes"):
        ClassHistogram.from_class_sizes([0, 1])


def _urn_inverse(sizes: list[int], j: int, extra: int, t: float, a: float) -> float:
    """E[1/F_j] after `extra` more draws of Pitman's process, by enumerating every path."""
    def rec(cur: tuple[int, ...], left: int) -> float:
        if left == 0:
            return 1.0 / cur[j]
        n, k = sum(cur), len(cur)
        out = (t + k * a) / (t + n) * rec(cur + (1,), left - 1)
        for i, s in enumerate(cur):
            nxt = cur[:i] + (s + 1,) + cur[i + 1:]
            out += (s - a) / (t + n) * rec(nxt, left - 1)
        return out
    return rec(tuple(sizes), extra)


def test_pitman_inverse_size_matches_path_enumeration():
    sizes, t, a = [2, 1, 1], 1.5, 0.3
    for j, s in enumerate(sizes):
        got = pitman_inverse_size(s, theta=t, alpha=a, n=4, big_n=9)
        assert got == pytest.approx(_urn_inverse(sizes, j, 5, t, a), rel=1e-10)


@pytest.mark.parametrize("s", [1, 2, 30])
def test_pitman_inverse_size_truncated_sum_agrees_with_the_full_sum(s):
    from scipy import stats

    t, a, n = 300.0, 0.6, 2000
    m = 250_000
    x = np.arange(m + 1)
    exact = float(np.sum(stats.betabinom.pmf(x, m, s - a, t + n - s + a) / (s + x)))
    assert pitman_inverse_size(s, theta=t, alpha=a, n=n, big_n=n + m) == pytest.approx(exact, rel=1e-10)


def test_model_risks_of_a_census_are_the_sample_risks():
    sizes = _skewed_sizes(seed=2)
    r = model_risks(sizes, sampling_fraction=1.0)
    n, c = sum(sizes), len(sizes)
    assert r["marketer"]["average_risk"] == pytest.approx(c / n, rel=1e-12)
    assert r["journalist"]["highest_risk"] == pytest.approx(1.0)
    at_risk = sum(s for s in sizes if 1 / s > 0.2) / n
    assert r["journalist"]["records_at_risk"] == pytest.approx(at_risk, rel=1e-12)


def test_model_risks_fall_as_the_population_grows():
    sizes = _skewed_sizes(seed=2)
    risks = [model_risks(sizes, sampling_fraction=f)["marketer"]["average_risk"] for f in (1.0, 0.5, 0.1, 0.01)]
    assert all(x > y for x, y in zip(risks, risks[1:]))
