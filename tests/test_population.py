"""Population projection (auditkit.scoring.population) against known truth on generated scores."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from auditkit.scoring.metrics import rank_k_score
from auditkit.scoring.population import fit_impostor_model, project_population
from auditkit.scoring.scores import ScoreMatrix

MU = 3.0


def _gaussian_sm(n_probes: int = 200, n_ids: int = 100, seed: int = 1) -> ScoreMatrix:
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n_probes, n_ids))
    truth = rng.integers(0, n_ids, n_probes)
    s[np.arange(n_probes), truth] = rng.normal(MU, 1.0, n_probes)
    ids = [f"id{j}" for j in range(n_ids)]
    return ScoreMatrix(s, [f"p{i}" for i in range(n_probes)], ids, [ids[t] for t in truth])


def _true_rank1(n: float) -> float:
    """E[Phi(g) ** (N - 1)], g ~ N(MU, 1): rank-1 among N identities with N(0, 1) impostors."""
    return integrate.quad(lambda g: stats.norm.pdf(g, MU) * stats.norm.cdf(g) ** (n - 1), -10, 20, limit=200)[0]


def _simulated_rank1(n: int, n_probes: int = 20000, seed: int = 7) -> float:
    """Simulated galleries of n identities: the best of n - 1 N(0, 1) impostors drawn exactly
    through its CDF (Phi ** (n - 1))."""
    rng = np.random.default_rng(seed)
    g = rng.normal(MU, 1.0, n_probes)
    best_imp = stats.norm.ppf(rng.uniform(size=n_probes) ** (1.0 / (n - 1)))
    return float(np.mean(g > best_imp))


@pytest.fixture(scope="module")
def projected() -> tuple[ScoreMatrix, dict]:
    sm = _gaussian_sm()
    return sm, project_population(sm, [1e3, 1e4, 1e6], n_boot=100, seed=0)


def test_projection_covers_truth_at_10k(projected) -> None:
    _, r = projected
    sim = _simulated_rank1(10_000)
    assert abs(sim - _true_rank1(10_000)) < 0.01  # the simulation agrees with the integral
    for n, (lo, hi), p in zip(r["sizes"], r["rank1_ci"], r["rank1"]):
        truth = _true_rank1(n)
        assert lo <= truth <= hi, (n, lo, truth, hi)
        assert abs(p - truth) < 0.08, (n, p, truth)  # 200 genuine scores: sd of the mean ~0.03
    assert r["rank1"][0] > r["rank1"][1] > r["rank1"][2]


def test_dir_at_fpir_covers_truth(projected) -> None:
    _, r = projected
    for n, (lo, hi), d in zip(r["sizes"], r["dir_ci"], r["dir"]):
        t = stats.norm.isf(-np.expm1(np.log1p(-0.01) / n))
        truth = integrate.quad(lambda g, n=n: stats.norm.pdf(g, MU) * stats.norm.cdf(g) ** (n - 1), t, 20, limit=200)[0]
        assert lo <= truth <= hi, (n, lo, truth, hi)
        assert d <= r["rank1"][r["sizes"].index(n)] + 1e-12  # DIR needs rank-1 and the threshold


def test_projection_agrees_with_measured_at_audited_size(projected) -> None:
    sm, r = projected
    measured, _ = rank_k_score(sm, k=1)
    lo, hi = r["measured"]["projected_rank1_ci"]
    assert r["measured"]["rank1"] == measured
    assert lo <= measured <= hi and r["measured"]["agrees"] is True


def test_tail_model_recovers_exponential_tail() -> None:
    # exponential impostors: GPD shape 0, scale 1 above any threshold
    imp = np.random.default_rng(3).exponential(size=20000)
    m = fit_impostor_model(imp, tail_fraction=0.1)
    assert abs(m.shape) < 0.1 and abs(m.scale - 1.0) < 0.1
    assert abs(m.p_tail - 0.1) < 0.01
    for q in (1e-3, 1e-6):  # P(imp > t) = q  <=>  t = -log q
        assert abs(m.isf(q) - (-np.log(q))) / -np.log(q) < 0.1
    assert abs(float(m.sf(np.array([m.isf(1e-5)]))[0]) - 1e-5) < 1e-9


def test_bad_input_raises_clear_errors() -> None:
    sm = _gaussian_sm(20, 10)
    with pytest.raises(ValueError, match="sizes"):
        project_population(sm, [1.0], n_boot=0)
    with pytest.raises(ValueError, match="fpir"):
        project_population(sm, [1e3], fpir=1.5, n_boot=0)
    with pytest.raises(ValueError, match="at least 10 impostor"):
        fit_impostor_model(np.arange(5.0))
    with pytest.raises(ValueError, match="all equal"):
        fit_impostor_model(np.zeros(100))
    one = ScoreMatrix(np.ones((3, 1)), ["a", "b", "c"], ["x"], ["x", "x", "x"])
    with pytest.raises(ValueError, match="2 identities"):
        project_population(one, [1e3], n_boot=0)
