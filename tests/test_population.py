"""Population projection (auditkit.scoring.population) against known truth on generated scores."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from auditkit.scoring.metrics import rank_k_score
from auditkit.scoring.population import fit_gpd, fit_impostor_model, project_population
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
    assert r["measured"]["rank1"] == measured and r["measured"]["n"] == sm.n_probes
    assert lo <= measured <= hi and r["measured"]["agrees"] is True
    # a projection from other scores (genuine shifted down) does not agree with this measurement
    worse = ScoreMatrix(sm.scores.copy(), sm.probes, sm.identities, sm.truth)
    idx = worse.truth_index()
    worse.scores[np.arange(worse.n_probes), idx] -= 1.5
    rw = project_population(worse, [1e3], n_boot=60, seed=0)
    assert rw["measured"]["agrees"] is True  # its own measurement: still consistent
    assert rw["measured"]["projected_rank1"] < r["measured"]["projected_rank1_ci"][0]


def test_probe_normalised_projection_covers_truth() -> None:
    sm = _gaussian_sm()
    r = project_population(sm, [1e3, 1e4], n_boot=60, seed=1, normalize="probe")
    assert r["normalize"] == "probe" and "standardised" in r["assumptions"][0]
    for n, (lo, hi) in zip(r["sizes"], r["rank1_ci"]):
        assert lo <= _true_rank1(n) <= hi, (n, lo, hi)
    with pytest.raises(ValueError, match="normalize"):
        project_population(sm, [1e3], n_boot=0, normalize="zz")


def test_tail_model_recovers_exponential_tail() -> None:
    # exponential impostors: GPD shape 0, scale 1 above any threshold
    imp = np.random.default_rng(3).exponential(size=20000)
    m = fit_impostor_model(imp, tail_fraction=0.1)
    assert abs(m.shape) < 0.1 and abs(m.scale - 1.0) < 0.1
    assert abs(m.p_tail - 0.1) < 0.01
    for q in (1e-3, 1e-6):  # P(imp > t) = q  <=>  t = -log q
        assert abs(m.isf(q) - (-np.log(q))) / -np.log(q) < 0.1
    assert abs(float(m.sf(np.array([m.isf(1e-5)]))[0]) - 1e-5) < 1e-9


@pytest.mark.parametrize("shape", [-0.4, -0.15, 0.0, 0.3])
def test_gpd_fit_reaches_scipys_maximum_likelihood(shape: float) -> None:
    x = stats.genpareto.rvs(shape, scale=0.05, size=800, random_state=np.random.default_rng(4))
    k, s = fit_gpd(x)
    k2, _, s2 = stats.genpareto.fit(x, floc=0)
    nll = -stats.genpareto.logpdf(x, k, 0, s).sum()
    assert nll <= -stats.genpareto.logpdf(x, k2, 0, s2).sum() + 1e-6  # at least as likely as scipy's fit
    assert abs(k - k2) < 1e-3 and abs(s / s2 - 1) < 1e-3
    assert abs(k - shape) < 0.15  # and near the truth (800 exceedances)


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


def test_attack_result_gains_population_block_and_report_table() -> None:
    from auditkit.attacks.base import attack_result
    from auditkit.config import AuditConfig
    from auditkit.report.environment import environment
    from auditkit.result import AttackResult
    from auditkit.scoring.population import add_population

    sm = _gaussian_sm(60, 30, seed=2)
    res = attack_result("face.naive", "face", sm)
    sizes = AuditConfig.from_flat(population_sizes="1e3, 1e6").faces.population_sizes
    assert sizes == (1e3, 1e6)
    add_population([res], sizes, seed=0, n_boot=30)
    d = AttackResult.from_dict(res.to_dict()).to_dict()  # through results.json's dictionary form
    pop = d["details"]["population"]
    assert pop["sizes"] == [1e3, 1e6] and len(pop["rank1_ci"]) == 2 and len(pop["dir"]) == 2
    assert pop["rank1"][0] > pop["rank1"][1] and pop["tail_model"]["n_exceedances"] >= 50
    assert pop["measured"]["rank1"] == d["metrics"]["rank1"] and pop["assumptions"]
    html = environment().get_template("partials/population.html.j2").render(pop=pop)
    assert "1,000,000" in html and "generalised Pareto" in html and "independent" in html
    # an attack that cannot be projected gets an error block, never an exception
    one = attack_result("face.naive", "face", ScoreMatrix(np.ones((3, 2)), ["a", "b", "c"], ["x", "y"], ["x", None, None]))
    add_population([one], sizes, n_boot=5)
    assert "2 mated probes" in one.details["population"]["error"]
    assert "not computed" in environment().get_template("partials/population.html.j2").render(
        pop=one.details["population"])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from auditkit.report.population_figure import gallery_size_figure

    fig = gallery_size_figure(pop)
    assert fig is not None and fig.axes[0].get_xscale() == "log"
    plt.close(fig)
    assert gallery_size_figure(one.details["population"]) is None and gallery_size_figure(None) is None
    # a measured rank-1 of 1.0 whose stored upper bound fell 1e-16 short of it (results written
    # before the Wilson bound was clamped) still draws: the error bar is clamped at zero
    edge = {**pop, "measured": {**pop["measured"], "rank1": 1.0, "rank1_ci": [0.79, 0.9999999999999999]}}
    fig = gallery_size_figure(edge)
    assert fig is not None
    plt.close(fig)


def test_population_sizes_option_is_checked() -> None:
    from auditkit.config import AuditConfig

    assert AuditConfig().faces.population_sizes == (1e3, 1e5, 1e7, 1.7e8)
    assert AuditConfig.from_flat(population_sizes="none").faces.population_sizes == ()
    with pytest.raises(ValueError, match="'ten' is not a number"):
        AuditConfig.from_flat(population_sizes="ten")
    with pytest.raises(ValueError, match=">= 2"):
        AuditConfig.from_flat(population_sizes=[1.0])


def test_att_audit_attacks_carry_population_block(att_audit) -> None:
    """The one shared-data test: a real audit's identification attacks are projected, the
    projection agrees with the measured rank-1 at the audited size, and the report shows it."""
    from auditkit.report import render_html

    res = att_audit["results"]
    # gallery identification attacks (linkage.sightings ranks other sightings, not gallery identities:
    # a larger gallery does not apply to it)
    ident = [a for a in res["attacks"] if "rank1" in a["metrics"] and a["metrics"]["rank1"] is not None
             and not a["name"].startswith("linkage.")]
    assert ident
    for a in ident:
        pop = a["details"]["population"]
        if "error" in pop:
            continue
        assert pop["sizes"] == [1e3, 1e5, 1e7, 1.7e8]
        assert pop["measured"]["rank1"] == pytest.approx(a["metrics"]["rank1"], abs=1e-12)
        assert pop["measured"]["agrees"] is True, (a["name"], pop["measured"])
        assert all(lo <= r + 1e-12 and r <= hi + 1e-12 for r, (lo, hi) in zip(pop["rank1"], pop["rank1_ci"]))
    assert any("error" not in a["details"]["population"] for a in ident)
    html = render_html(res)
    assert "Projected to larger galleries" in html
    assert "Rank-1 identification of face." in html and "against the attacker" in html  # the figure's alt text
