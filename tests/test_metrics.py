"""Each vectorised metric against a brute-force oracle written plainly here."""
import itertools
import math

import numpy as np
import pytest

from auditkit.scoring.metrics import (
    chance_rank_k,
    cmc_curve,
    equal_error_rate,
    genuine_impostor_scores,
    identification_metrics,
    mean_reciprocal_rank,
    open_set_dir,
    per_subject_exposure,
    rank_k_score,
    roc_auc_score,
)
from auditkit.scoring.scores import ScoreMatrix


def random_matrix(seed, n=40, m=7, levels=None, unknown=0, nonmated=0):
    rng = np.random.default_rng(seed)
    ids = [f"id{j}" for j in range(m)]
    s = rng.normal(size=(n, m))
    if levels:
        s = np.round(s * levels) / levels  # force ties
    truth = [ids[rng.integers(m)] for _ in range(n)]
    for i in range(unknown):
        truth[i] = None
    for i in range(unknown, unknown + nonmated):
        truth[i] = "stranger"
    # make the truth a bit more likely to score high
    for i, t in enumerate(truth):
        if t in ids:
            s[i, ids.index(t)] += 0.8
    return ScoreMatrix(s, [f"p{i}" for i in range(n)], ids, truth)


def oracle_rank_probs(sm, k):
    """P(true identity within top k) with uniformly random tie-breaking, by enumeration."""
    out = []
    for i, t in enumerate(sm.truth):
        if t not in sm.identities:
            continue
        j = sm.identities.index(t)
        row = sm.scores[i]
        greater = sum(1 for x in row if x > row[j])
        ties = sum(1 for x in row if x == row[j]) - 1
        # every position of the truth among its tie group is equally likely
        hits = sum(1 for pos in range(ties + 1) if greater + pos + 1 <= k)
        out.append(hits / (ties + 1))
    return out


@pytest.mark.parametrize("seed,levels", [(0, None), (1, 2), (2, 1), (3, None)])
def test_rank_k_and_cmc_match_oracle(seed, levels):
    sm = random_matrix(seed, levels=levels, unknown=3, nonmated=4)
    cmc = cmc_curve(sm)
    for k in range(1, sm.n_identities + 1):
        probs = oracle_rank_probs(sm, k)
        assert rank_k_score(sm, k=k) == (pytest.approx(np.mean(probs)), len(probs))
        assert cmc[k - 1] == pytest.approx(np.mean(probs))
    assert cmc[-1] == pytest.approx(1.0)
    assert np.all(np.diff(cmc) >= -1e-12)


def test_constant_scores_give_exactly_chance():
    sm = ScoreMatrix(np.zeros((12, 4)), [f"p{i}" for i in range(12)], list("abcd"), list("abcd") * 3)
    assert rank_k_score(sm, k=1)[0] == pytest.approx(0.25)
    assert rank_k_score(sm, k=2)[0] == pytest.approx(0.5)
    assert mean_reciprocal_rank(sm) == pytest.approx(np.mean([1, 1 / 2, 1 / 3, 1 / 4]))
    m = identification_metrics(sm)
    assert m["advantage"] == pytest.approx(0.0)
    assert m["auc"] == pytest.approx(0.5)


def test_mrr_matches_oracle():
    sm = random_matrix(5, levels=2)
    vals = []
    for i, t in enumerate(sm.truth):
        j = sm.identities.index(t)
        row = sm.scores[i]
        g = sum(x > row[j] for x in row)
        ties = sum(x == row[j] for x in row) - 1
        vals.append(np.mean([1 / (g + 1 + p) for p in range(ties + 1)]))
    assert mean_reciprocal_rank(sm) == pytest.approx(np.mean(vals))


def test_auc_matches_pairwise_oracle():
    rng = np.random.default_rng(3)
    g = np.round(rng.normal(1, 1, 30), 1)
    i = np.round(rng.normal(0, 1, 50), 1)
    pairs = [(1.0 if a > b else 0.5 if a == b else 0.0) for a, b in itertools.product(g, i)]
    assert roc_auc_score(g, i) == pytest.approx(np.mean(pairs))


def test_eer_oracle_by_threshold_scan():
    rng = np.random.default_rng(4)
    g, i = rng.normal(1.5, 1, 400), rng.normal(0, 1, 600)
    best = min((abs(np.mean(i >= t) - np.mean(g < t)), (np.mean(i >= t) + np.mean(g < t)) / 2)
               for t in np.concatenate([g, i]))
    assert equal_error_rate(g, i) == pytest.approx(best[1], abs=0.005)
    assert equal_error_rate(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == pytest.approx(0.0)
    assert equal_error_rate(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == pytest.approx(1.0)


def test_genuine_impostor_split():
    sm = random_matrix(6, n=10, m=3, unknown=2, nonmated=2)
    gen, imp = genuine_impostor_scores(sm)
    exp_gen, exp_imp = [], []
    for r, t in enumerate(sm.truth):
        if t is None:
            continue
        for c, ident in enumerate(sm.identities):
            (exp_gen if ident == t else exp_imp).append(sm.scores[r, c])
    assert sorted(gen) == pytest.approx(sorted(exp_gen))
    assert sorted(imp) == pytest.approx(sorted(exp_imp))


def test_open_set_dir_oracle():
    sm = random_matrix(7, n=200, m=5, nonmated=60)
    for fpir in (0.01, 0.1, 0.3):
        res = open_set_dir(sm, fpir=fpir)
        thr = res["threshold"]
        nm = [max(sm.scores[r]) for r, t in enumerate(sm.truth) if t == "stranger"]
        assert np.mean([x >= thr for x in nm]) <= fpir + 1e-12
        hits = 0
        mated = [r for r, t in enumerate(sm.truth) if t in sm.identities]
        for r in mated:
            j = sm.identities.index(sm.truth[r])
            row = sm.scores[r]
            hits += row[j] == max(row) and list(row).count(row[j]) == 1 and row[j] >= thr
        assert res["dir"] == pytest.approx(hits / len(mated))
        # the threshold is the lowest that respects the FPIR: one step lower would exceed it
        lower = [x for x in nm if x < thr]
        if lower:
            assert np.mean([x >= max(lower) for x in nm]) > fpir
    assert open_set_dir(random_matrix(8), fpir=0.1) is None


def test_per_subject_exposure_and_chance():
    sm = ScoreMatrix(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), ["a", "b", "c"], ["x", "y"], ["x", "x", "y"])
    rows = {r["subject"]: r for r in per_subject_exposure(sm)}
    assert rows["x"]["n_probes"] == 2 and rows["x"]["rate"] == 0.5
    assert rows["y"]["rate"] == 0.0
    assert chance_rank_k(40, 1) == 0.025 and chance_rank_k(3, 5) == 1.0
    m = identification_metrics(sm)
    assert m["rank1"] == pytest.approx(1 / 3)
    assert m["rank1_ci"][0] < 1 / 3 < m["rank1_ci"][1]
    assert math.isclose(m["advantage"], (1 / 3 - 0.5) / 0.5)


def test_scorematrix_validation():
    with pytest.raises(ValueError, match="2 probe ids for 3"):
        ScoreMatrix(np.zeros((3, 2)), ["a", "b"], ["x", "y"], [None] * 3)
    with pytest.raises(ValueError, match="NaN"):
        ScoreMatrix(np.full((1, 2), np.nan), ["a"], ["x", "y"], [None])
    with pytest.raises(ValueError, match="k must be"):
        rank_k_score(random_matrix(0), k=0)
