"""Identification and verification metrics on a :class:`~auditkit.scoring.scores.ScoreMatrix`.

Conventions (scikit-learn style): ``*_score`` higher is better, options keyword-only.
Ties: a probe whose true identity ties with others is placed uniformly at random among the
tied candidates, and metrics take the expectation (so constant scores give exactly chance,
never a lucky 100%). Every function here is checked against a plain brute-force oracle in
``tests/test_metrics.py``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .scores import ScoreMatrix
from .stats import advantage, advantage_interval, wilson_interval

__all__ = [
    "chance_rank_k",
    "cmc_curve",
    "equal_error_rate",
    "genuine_impostor_scores",
    "identification_metrics",
    "mean_reciprocal_rank",
    "open_set_dir",
    "per_subject_exposure",
    "rank_k_score",
    "roc_auc_score",
]


def _rank_bounds(sm: ScoreMatrix) -> tuple[np.ndarray, np.ndarray]:
    """For mated probes: (#identities scoring strictly higher, #others tying) with the truth."""
    idx = sm.truth_index()
    rows = np.flatnonzero(idx >= 0)
    s = sm.scores[rows]
    true = s[np.arange(len(rows)), idx[rows]][:, None]
    greater = (s > true).sum(axis=1)
    ties = (s == true).sum(axis=1) - 1
    return greater, ties


def _p_rank_le(g: np.ndarray, t: np.ndarray, k: int) -> np.ndarray:
    # true rank is uniform on g+1 .. g+t+1; P(rank <= k)
    return np.clip((k - g) / (t + 1.0), 0.0, 1.0)


def cmc_curve(sm: ScoreMatrix, *, max_rank: int | None = None) -> np.ndarray:
    """Cumulative match characteristic: ``cmc[k-1]`` = fraction of mated probes found by rank k."""
    m = sm.n_identities
    max_rank = m if max_rank is None else min(max_rank, m)
    g, t = _rank_bounds(sm)
    if len(g) == 0:
        return np.full(max_rank, np.nan)
    return np.array([_p_rank_le(g, t, k).mean() for k in range(1, max_rank + 1)])


def rank_k_score(sm: ScoreMatrix, *, k: int = 1) -> tuple[float, int]:
    """(fraction of mated probes whose identity is in the top ``k``, number of mated probes)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    g, t = _rank_bounds(sm)
    if len(g) == 0:
        return math.nan, 0
    return float(_p_rank_le(g, t, k).mean()), len(g)


def mean_reciprocal_rank(sm: ScoreMatrix) -> float:
    """Mean over mated probes of E[1/rank]: the mean average precision of the identity ranking
    (one relevant identity per probe, so AP = 1/rank)."""
    g, t = _rank_bounds(sm)
    if len(g) == 0:
        return math.nan
    vals = [np.mean(1.0 / np.arange(gi + 1, gi + ti + 2)) for gi, ti in zip(g, t)]
    return float(np.mean(vals))


def genuine_impostor_scores(sm: ScoreMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Verification view: genuine = probe vs its own identity; impostor = probe vs any other
    identity, over probes with known ground truth (unmated probes contribute impostors only)."""
    idx = sm.truth_index()
    known = sm.known_mask()
    mated = idx >= 0
    genuine = sm.scores[np.flatnonzero(mated), idx[mated]]
    mask = np.zeros_like(sm.scores, dtype=bool)
    mask[known] = True
    mask[np.flatnonzero(mated), idx[mated]] = False
    return genuine, sm.scores[mask]


def roc_auc_score(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """P(genuine > impostor) + 0.5 P(tie) (Mann-Whitney U / (n_g n_i))."""
    genuine, impostor = np.asarray(genuine, float), np.asarray(impostor, float)
    if genuine.size == 0 or impostor.size == 0:
        return math.nan
    # U counted directly on the sorted impostors (no scipy.stats import: seconds on a cold start)
    imp = np.sort(impostor)
    below = np.searchsorted(imp, genuine, side="left")
    ties = np.searchsorted(imp, genuine, side="right") - below
    u = below.sum(dtype=np.float64) + 0.5 * ties.sum(dtype=np.float64)
    return float(u / (len(genuine) * len(impostor)))


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Rate where false accepts (impostor >= t) equal false rejects (genuine < t), linearly
    interpolated between the thresholds that bracket the crossing."""
    genuine, impostor = np.asarray(genuine, float), np.asarray(impostor, float)
    if genuine.size == 0 or impostor.size == 0:
        return math.nan
    th = np.unique(np.concatenate([genuine, impostor, [np.inf]]))
    gs, is_ = np.sort(genuine), np.sort(impostor)
    frr = np.searchsorted(gs, th, side="left") / len(gs)  # genuine < t
    far = 1.0 - np.searchsorted(is_, th, side="left") / len(is_)  # impostor >= t
    d = far - frr  # decreasing in t
    j = int(np.argmax(d <= 0))
    if j == 0:
        return float((far[0] + frr[0]) / 2)
    d0, d1 = d[j - 1], d[j]
    w = d0 / (d0 - d1) if d0 != d1 else 0.5
    return float((1 - w) * (far[j - 1] + frr[j - 1]) / 2 + w * (far[j] + frr[j]) / 2)


def chance_rank_k(n_identities: int, k: int = 1) -> float:
    """Success rate of a uniform random guess ranking (closed set)."""
    if n_identities < 1:
        raise ValueError(f"n_identities must be >= 1, got {n_identities!r}")
    return min(k, n_identities) / n_identities


def open_set_dir(sm: ScoreMatrix, *, fpir: float) -> dict[str, Any] | None:
    """Detection-and-identification rate at a false-positive identification rate.

    Non-mated probes (ground truth known, absent from the gallery) set the threshold: the
    smallest score at which at most ``fpir`` of them would be (wrongly) reported as someone.
    DIR = fraction of mated probes identified at rank 1 with a score at or above it.
    Returns None without non-mated probes.
    """
    idx = sm.truth_index()
    known = sm.known_mask()
    non_mated = np.flatnonzero(known & (idx < 0))
    mated = np.flatnonzero(idx >= 0)
    if len(non_mated) == 0 or len(mated) == 0:
        return None
    nm_top = np.sort(sm.scores[non_mated].max(axis=1))[::-1]
    allowed = int(math.floor(fpir * len(non_mated)))
    # threshold strictly above the (allowed+1)-th highest non-mated top score
    thr = float(np.nextafter(nm_top[allowed], np.inf)) if allowed < len(nm_top) else -np.inf
    s = sm.scores[mated]
    true = s[np.arange(len(mated)), idx[mated]]
    top1 = (s.max(axis=1) == true) & ((s == true[:, None]).sum(axis=1) == 1)
    hits = int(np.sum(top1 & (true >= thr)))
    actual_fpir = float(np.mean(nm_top >= thr))
    return {"fpir_target": fpir, "fpir": actual_fpir, "threshold": thr, "dir": hits / len(mated),
            "dir_ci": wilson_interval(hits, len(mated)), "n_mated": len(mated), "n_non_mated": len(non_mated)}


def per_subject_exposure(sm: ScoreMatrix) -> list[dict[str, Any]]:
    """For each ground-truth subject: probes, expected rank-1 hits, and the share found."""
    idx = sm.truth_index()
    rows = np.flatnonzero(idx >= 0)
    g, t = _rank_bounds(sm)
    p1 = _p_rank_le(g, t, 1)
    by: dict[str, list[float]] = {}
    for r, p in zip(rows, p1):
        by.setdefault(sm.truth[r], []).append(float(p))
    out = []
    for subj in sorted(by):
        v = by[subj]
        out.append({"subject": subj, "n_probes": len(v), "found_rank1": float(np.sum(v)),
                    "rate": float(np.mean(v)), "exposed": bool(np.mean(v) > 0.5)})
    return out


def identification_metrics(sm: ScoreMatrix, *, confidence: float = 0.95,
                           max_cmc: int = 50) -> dict[str, Any]:
    """All identification figures for one attack, each with its n, chance level and interval."""
    m = sm.n_identities
    idx = sm.truth_index()
    known = sm.known_mask()
    n_mated = int((idx >= 0).sum())
    n_known = int(known.sum())
    out: dict[str, Any] = {"n_probes": sm.n_probes, "n_identities": m, "n_mated": n_mated,
                           "n_non_mated": n_known - n_mated, "n_unknown": sm.n_probes - n_known,
                           "confidence": confidence}
    for k in (1, 5, 10):
        r, n = rank_k_score(sm, k=k)
        out[f"rank{k}"] = r
        out[f"rank{k}_ci"] = wilson_interval(r * n, n, confidence=confidence) if n else (math.nan, math.nan)
        out[f"chance_rank{k}"] = chance_rank_k(m, k) if m else math.nan
    p0 = out["chance_rank1"]
    out["advantage"] = advantage(out["rank1"], p0) if n_mated and p0 < 1 else math.nan
    out["advantage_ci"] = (advantage_interval(out["rank1_ci"], p0) if n_mated and p0 < 1
                           else (math.nan, math.nan))
    out["map"] = mean_reciprocal_rank(sm)
    gen, imp = genuine_impostor_scores(sm)
    out["auc"] = roc_auc_score(gen, imp)
    out["eer"] = equal_error_rate(gen, imp)
    out["n_genuine"], out["n_impostor"] = int(gen.size), int(imp.size)
    out["cmc"] = cmc_curve(sm, max_rank=max_cmc).tolist() if n_mated else []
    out["open_set"] = [d for d in (open_set_dir(sm, fpir=f) for f in (0.01, 0.1)) if d is not None]
    return out
