import math

import pytest

from auditkit.scoring.stats import advantage, advantage_interval, residual_risk, wilson_interval, z_value


def test_wilson_matches_hand_computation():
    # n=10, k=8, z=1.959964: centre (0.8 + z^2/20)/(1 + z^2/10), half-width by the formula
    z = 1.959963984540054
    p, n = 0.8, 10
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(centre - half, abs=1e-12)
    assert hi == pytest.approx(centre + half, abs=1e-12)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)


def test_wilson_edges_and_errors():
    assert wilson_interval(0, 20)[0] == 0.0
    assert wilson_interval(20, 20)[1] == 1.0
    assert 0 < wilson_interval(0, 20)[1] < 0.2  # zero successes still has an upper bound
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="confidence"):
        z_value(1.5)


def test_wilson_interval_contains_the_proportion_exactly():
    # in floating point the bound at k = n came out as 1 - 1e-16 for n = 15 (and a report figure's
    # error bar went negative); the interval must contain k/n and reach exactly 1 (0) at k = n (0)
    for n in range(1, 201):
        for k in range(n + 1):
            lo, hi = wilson_interval(k, n)
            assert lo <= k / n <= hi, (k, n, lo, hi)
        assert wilson_interval(n, n)[1] == 1.0 and wilson_interval(0, n)[0] == 0.0


def test_advantage_and_residual_risk():
    assert advantage(0.025, 0.025) == 0
    assert advantage(1.0, 0.025) == 1
    assert advantage(0.71, 0.025) == pytest.approx((0.71 - 0.025) / 0.975)
    assert residual_risk(0.3, 0.1) == pytest.approx(0.2 / 0.9)
    lo, hi = advantage_interval((0.1, 0.5), 0.1)
    assert lo == 0 and hi == pytest.approx(0.4 / 0.9)
    with pytest.raises(ValueError, match="chance level"):
        advantage(0.5, 1.0)
