"""``linkage.sightings``'s label-free estimate (structural decoys and score mixtures) and the
routes an attacker rebuilds from its links (issue 12); see :mod:`auditkit.attacks.sightings`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..data.sightings import UNKNOWN
from ..scoring.stats import wilson_interval
from .sightings_search import _BINS, _CENTRES, LinkageRun, _Acc

__all__ = ["estimate_linkage", "rebuild_routes"]


# ------------------------------------------------------------------------------ label-free estimate

def _kde(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    from scipy.stats import gaussian_kde

    v = values[np.isfinite(values)]
    if len(v) < 2 or np.std(v) < 1e-9:
        sd = 0.5
        mu = float(np.mean(v)) if len(v) else 0.0
        return np.exp(-0.5 * ((at - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    return gaussian_kde(v)(at)


def _impostor_density(imp: np.ndarray, *, seed: int) -> tuple[np.ndarray, dict[str, float]]:
    """Skew-normal density of the impostor z-scores on the histogram centres, and its parameters."""
    from scipy.stats import skewnorm

    v = imp[np.isfinite(imp)]
    if len(v) > 50_000:
        v = np.random.default_rng([seed, 3]).choice(v, 50_000, replace=False)
    if len(v) < 3 or np.std(v) < 1e-9:
        a, loc, scale = 0.0, float(np.mean(v)) if len(v) else 0.0, 1.0
    else:
        a, loc, scale = skewnorm.fit(v)
    dens = np.maximum(skewnorm.pdf(_CENTRES, a, loc, scale), 1e-300)
    return dens, {"shape": float(a), "loc": float(loc), "scale": float(scale)}


def _skewnorm_pdf(at: np.ndarray, a: float, loc: float, scale: float) -> np.ndarray:
    """Skew-normal density ``2/scale phi(x) Phi(a x)``, x = (at - loc)/scale (scipy's, without its
    per-call overhead: the mixture fit evaluates it thousands of times)."""
    from scipy.special import ndtr

    x = (at - loc) / scale
    return 2.0 / scale * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) * ndtr(a * x)


def _normal(at: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((at - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def _decoy_estimate(acc: _Acc, z: np.ndarray, probe: np.ndarray, sel: np.ndarray, *,
                    confidence: float = 0.95) -> dict[str, Any] | None:
    """Target-decoy estimate of the rank-1 rate from known-different pairs ("decoys").

    A decoy (a structural impostor of probe i) is exchangeable with i's impostor candidates, so
    it lands above all of i's m_i candidates with probability (1 - p_i) / (m_i + 1), p_i being the
    chance that i's best candidate is a true one (0 for a probe with no true candidate). Hence
    ``1 - p = mean_i (m_i + 1) h_i / d_i`` (h_i of i's d_i decoys above its best candidate), an
    unbiased estimate of the rank-1 rate over probes, counting a probe without a mate as a miss.
    The interval is the exact Poisson (Garwood) interval on the number of decoys above, times the
    mean weight. No density model is involved; the price is variance (hits are rare)."""
    from scipy.stats import chi2

    ok = np.isin(probe, sel) & (acc.n_cand[probe] > 0)
    z, probe = z[ok], probe[ok]
    if len(z) == 0:
        return None
    above = z > acc.top_z[probe, 0]
    uniq, inv, d = np.unique(probe, return_inverse=True, return_counts=True)
    h = np.bincount(inv, weights=above.astype(float))
    wgt = (acc.n_cand[uniq] + 1.0) / d / len(uniq)  # per decoy of probe i
    one_minus = float((wgt * h).sum())
    H = float(h.sum())
    wbar = float((wgt * d).sum() / d.sum())  # mean weight per decoy
    a = 1 - confidence
    lo_h = chi2.ppf(a / 2, 2 * H) / 2 if H > 0 else 0.0
    hi_h = chi2.ppf(1 - a / 2, 2 * H + 2) / 2
    return {"rank1_all": float(np.clip(1 - one_minus, 0, 1)),
            "rank1_all_ci": (float(np.clip(1 - hi_h * wbar, 0, 1)), float(np.clip(1 - lo_h * wbar, 0, 1))),
            "decoys": int(len(z)), "probes_with_decoys": int(len(uniq)), "decoys_above_best": int(H),
            "rank1": float(np.clip(1 - one_minus, 0, 1))}


def _ranked_z(acc: _Acc, r: int) -> np.ndarray:
    """Per probe, the z-score of its r-th best candidate (from the score histogram, 0.1 wide
    bins; its lowest candidate when it has fewer than r). NaN for a probe without candidates."""
    H = acc.hist
    tot = H.sum(axis=1)
    c = np.cumsum(H, axis=1)
    idx = np.argmax(c > np.maximum(tot - r, 0)[:, None], axis=1)
    return np.where(tot > 0, _CENTRES[idx], np.nan)


def _pooled_decoy_estimate(acc: _Acc, dz: np.ndarray, dp: np.ndarray, sel: np.ndarray, *, n_boot: int = 200,
                           min_per_stratum: int = 2000, max_strata: int = 5, max_decoys: int = 200_000, seed: int = 0,
                           confidence: float = 0.95) -> dict[str, Any] | None:
    """Target-decoy estimate with the decoys pooled over probes of a like score scale.

    The per-probe decoy estimate (:func:`_decoy_estimate`) rests on the few decoys that beat the
    best candidate of their own probe. Here a probe's chance that a decoy beats its best candidate,
    ``S(z1)``, is read from the decoys of *every* probe in its stratum (the empirical survival of
    their z-scores), so every decoy informs every probe: ``1 - p = mean_i (m_i + 1/2) S(z1_i)``.
    Pooling the raw z-scores of all probes reads high (probes differ in the upper tail of their
    wrong candidates' z-scores, and whether the best candidate wins moves with it), so every
    probe's scores are first shifted by the z-score of its 20th best candidate (where the top of
    its mostly wrong candidates lies, whatever their number; no label), and probes are pooled
    within strata of their upper spread (5th best minus 20th best), each stratum with at least
    ``min_per_stratum`` decoys and 50 m decoys (m the median number of candidates: about 50 decoys
    expected above a best candidate), at most ``max_strata``. (Ranks 20 and 5 were chosen on the
    validation cases of benchmarks/README.md, where ranks 10-30 move the estimate by a few points;
    the 75th and 95th percentiles, about the same ranks there, did as well on the real cases but
    not on generated ones with ten times the candidates.)
    ``m + 1/2``
    sits between the exact weights without a mate (m + 1) and with one (m): a bias of at most
    1/(2m) relative. ``dp``: the probe of each decoy (any probe of the release, not only ``sel``).
    Interval: bootstrap over the estimated probes and, independently, over the decoys' probes.
    """
    ok = np.isfinite(dz)
    dz, dp = dz[ok], dp[ok]
    if len(dz) > max_decoys:  # a large release: a random sample of the decoys is plenty
        keep = np.sort(np.random.default_rng([seed, 13]).choice(len(dz), max_decoys, replace=False))
        dz, dp = dz[keep], dp[keep]
    sel = sel[acc.n_cand[sel] > 0]
    if len(sel) == 0 or len(dz) < 100:
        return None
    # location: the probe's 20th best candidate (the top of its wrong candidates, little moved by a
    # few mates, whatever the number of candidates); scale strata: 5th best minus 20th best
    loc = np.nan_to_num(_ranked_z(acc, 20), nan=0.0)
    T = np.nan_to_num(_ranked_z(acc, 5), nan=0.0) - loc
    dz = dz - loc[dp]
    owners, d_inv = np.unique(dp, return_inverse=True)
    # a stratum needs decoys enough that ~50 of them are expected above a typical best candidate
    per_stratum = max(min_per_stratum, 50 * float(np.median(acc.n_cand[sel])))
    K = int(max(1, min(max_strata, len(dz) // per_stratum)))
    edges = np.quantile(T[owners], np.linspace(0, 1, K + 1))[1:-1] if K > 1 else np.zeros(0)
    st_dec = np.searchsorted(edges, T[dp], side="right")
    st_sel = np.searchsorted(edges, T[sel], side="right")
    z1, w = acc.top_z[sel, 0] - loc[sel], acc.n_cand[sel] + 0.5

    def est(probe_rows: np.ndarray, owner_rows: np.ndarray) -> float:
        # decoys of the resampled owners (each owner's decoys as many times as it was drawn)
        cnt = np.bincount(owner_rows, minlength=len(owners))
        rep = cnt[d_inv]
        terms = np.zeros(len(probe_rows))
        for k in range(K):
            m_k = (st_dec == k) & (rep > 0)
            if not m_k.any():
                m_k = rep > 0
            order = np.argsort(dz[m_k], kind="stable")
            zs, cw = dz[m_k][order], np.cumsum(rep[m_k][order])
            in_k = st_sel[probe_rows] == k
            rows = probe_rows[in_k]
            pos = np.searchsorted(zs, z1[rows], side="right")  # decoys at or below z1
            below = np.where(pos > 0, cw[np.maximum(pos - 1, 0)], 0)
            terms[in_k] = w[rows] * (1.0 - below / cw[-1])
        last_terms[0] = terms
        return float(np.clip(1.0 - terms.mean(), 0.0, 1.0))

    last_terms = [np.zeros(len(sel))]

    all_rows, all_owners = np.arange(len(sel)), np.arange(len(owners))
    point = est(all_rows, all_owners)
    p_top = np.clip(1.0 - last_terms[0], 0.0, 1.0)  # per probe: 1 - its estimated chance of a wrong best
    rng = np.random.default_rng([seed, 11])
    boots = [est(rng.integers(0, len(sel), len(sel)), rng.integers(0, len(owners), len(owners)))
             for _ in range(n_boot)]
    a = (1 - confidence) / 2
    return {"rank1_all": point, "rank1_all_ci": (float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))),
            "rank1": point, "decoys": int(len(dz)), "probes_with_decoys": int(len(owners)), "strata": K,
            "probes": int(len(sel)), "links": int((p_top >= 0.5).sum()), "_p_top": p_top[:, None]}


def estimate_linkage(run: LinkageRun, attack: str, *, min_pairs: int = 30, n_boot: int = 200,
                     probes: np.ndarray | None = None, seed: int = 0) -> dict[str, Any]:
    """The label-free estimate for one attack (see the module docstring).

    ``probes``: restrict the estimate to these probe indices (e.g. planted volunteers). Returns
    the constraints used, the score distributions (histograms), and per variant the estimated
    rank-1 rate over probes with a mate (bootstrap interval over probes), the estimated number
    of such probes, chance, and the expected precision of rank-1 links at posterior >= 0.5.
    
    Long: the decoy estimate and the two mixture variants share the candidates' scores and the
    bootstrap draws; kept together so that every variant is computed on the same data.
    """
    acc = run.acc[attack]
    gen = run._cat(acc.gen_struct)
    imp_cp, imp_tr = run._cat(acc.imp_copresent), run._cat(acc.imp_travel)
    assumptions = []
    if len(imp_tr) >= min_pairs:
        imp, imp_src = imp_tr, (f"{len(imp_tr)} pairs on two cameras less than {run.params.min_travel_s:g} s apart "
                                "(nobody travels between the cameras that fast)")
    elif len(imp_cp) >= min_pairs:
        imp, imp_src = imp_cp, f"{len(imp_cp)} pairs seen in the same frame (two people at once)"
        assumptions.append("same-frame pairs share a camera, light and background, so they score somewhat "
                           "higher than cross-camera impostors: the estimate then leans low")
    else:
        pooled = acc.hist.sum(axis=0).astype(float)
        imp = np.repeat(_CENTRES, pooled.astype(np.int64)) if pooled.sum() else np.zeros(0)
        if len(imp) > 200_000:
            imp = np.random.default_rng(seed).choice(imp, 200_000, replace=False)
        imp_src = (f"no structural impostor pairs ({len(imp_tr) + len(imp_cp)} < {min_pairs}): the candidates' "
                   "own pooled scores, which are nearly all different people")
        assumptions.append("impostor scores taken from all candidates (a few are the same person): the estimate leans low")
    # a skew-normal fitted to the impostor pairs: a kernel estimate of a few thousand pairs has no
    # tail where the mated candidates lie (z of 4 and more), which the mixture below needs
    f_i, imp_fit = _impostor_density(imp, seed=seed)
    sel = np.flatnonzero(acc.n_cand > 0) if probes is None else np.asarray(probes)[acc.n_cand[probes] > 0]
    H = acc.hist[sel]  # int32 counts; float32 copies below (memory: 4 bytes x 220 bins per probe)
    pooled = H.sum(axis=0).astype(np.float64)
    mbar = float(acc.n_cand[sel].mean()) if len(sel) else math.nan
    top = acc.top_z[sel]

    def posterior(f_g: np.ndarray, pi: float, fi: np.ndarray | None = None) -> np.ndarray:
        fi = f_i if fi is None else fi
        return pi * f_g / (pi * f_g + (1 - pi) * fi)

    def em_pi(f_g: np.ndarray, pi0: float) -> float:
        pi = pi0
        for _ in range(200):
            r = posterior(f_g, pi)
            new = float((pooled * r).sum() / max(pooled.sum(), 1))
            new = min(max(new, 1e-6), 0.5)
            if abs(new - pi) < 1e-9:
                break
            pi = new
        return pi

    def summarise(f_g: np.ndarray, pi: float, fi: np.ndarray | None = None) -> dict[str, Any]:
        post_bins = posterior(f_g, pi, fi)
        # exact z for the top-k candidates, the histogram for the rest
        tz = np.where(np.isfinite(top), top, np.nan)
        p_top = np.interp(np.nan_to_num(tz, nan=_BINS[0]), _CENTRES, post_bins)
        p_top = np.where(np.isfinite(tz), p_top, 0.0)
        bins_top = np.clip(np.floor((np.nan_to_num(tz, nan=_BINS[0]) - _BINS[0]) / 0.1), 0, len(_CENTRES) - 1).astype(int)
        Hr = H.astype(np.float32)
        for col in range(top.shape[1]):
            fin = np.isfinite(top[:, col])
            np.subtract.at(Hr, (np.flatnonzero(fin), bins_top[fin, col]), 1)
        np.maximum(Hr, 0, out=Hr)
        log_none = (Hr @ np.log1p(-np.minimum(post_bins, 1 - 1e-12)).astype(np.float32)).astype(np.float64) \
            + np.log1p(-np.minimum(p_top, 1 - 1e-12)).sum(axis=1)
        p_mated = 1.0 - np.exp(log_none)
        p1 = p_top[:, 0]
        exp_true = (Hr @ post_bins.astype(np.float32)).astype(np.float64) + p_top.sum(axis=1)
        num, den = float(p1.sum()), float(p_mated.sum())
        rng = np.random.default_rng([seed, 7])
        boots = []
        for _ in range(n_boot):
            b = rng.integers(0, len(sel), len(sel))
            d = p_mated[b].sum()
            if d > 0:
                boots.append(p1[b].sum() / d)
        lo, hi = (float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))) if boots else (math.nan,) * 2
        boots_all = [p1[rng.integers(0, len(sel), len(sel))].mean() for _ in range(n_boot)] if len(sel) else []
        all_ci = (float(np.quantile(boots_all, 0.025)), float(np.quantile(boots_all, 0.975))) if boots_all \
            else (math.nan, math.nan)
        m = acc.n_cand[sel].astype(float)
        chance = float((p_mated * np.minimum(exp_true / np.maximum(m, 1), 1)).sum() / den) if den > 0 else math.nan
        links = p1 >= 0.5
        return {"rank1": num / den if den > 0 else math.nan, "rank1_ci": (lo, hi), "n_mated_est": den,
                "rank1_all": float(p1.mean()) if len(p1) else math.nan, "rank1_all_ci": all_ci,
                "chance_rank1": chance, "pi": pi,
                "links": int(links.sum()), "link_precision": float(p1[links].mean()) if links.any() else math.nan,
                "_p_top": p_top, "_p_mated": p_mated}

    variants: dict[str, Any] = {}
    if len(gen) >= 2:
        f_g = _kde(gen, _CENTRES)
        pi = em_pi(f_g, 1.0 / max(mbar, 2.0))
        variants["structural"] = summarise(f_g, pi)
        mu0, sd0 = float(np.mean(gen)), float(max(np.std(gen), 0.3))
        gen_src = f"{len(gen)} pairs of sightings on one track"
    else:
        mu0, sd0 = 3.0, 1.0
        gen_src = "none (no track has two sightings): the genuine distribution is fitted on the candidates alone"
        assumptions.append("no within-track pairs: the same-person scores are found by the mixture fit alone, "
                           "which needs the mated candidates to stand out of the bulk")
    # corrected: both components refitted on the candidates' own scores (binned likelihood): the
    # impostor skew-normal starts from the structural impostor fit, the Gaussian same-person
    # component from the within-track pairs and from a grid of lower means (cross-camera pairs are
    # harder), and the best likelihood is kept. Constraint: the same-person mean lies at least one
    # standard deviation of the probe's candidates above their mean (z >= 1).
    from scipy.optimize import minimize

    w = pooled
    a0, loc0, sc0 = imp_fit["shape"], imp_fit["loc"], imp_fit["scale"]

    def unpack(x: np.ndarray) -> tuple[float, float, float, float, float, float]:
        x = np.clip(x, -30.0, 30.0)
        return (float(x[0]), float(x[1]), float(np.exp(x[2])), 1.0 + float(np.exp(x[3])), 0.3 + float(np.exp(x[4])),
                0.5 / (1.0 + float(np.exp(-x[5]))))

    def nll(x: np.ndarray) -> float:
        a_, loc_, sc_, mu_, sd_, pi_ = unpack(x)
        dens = pi_ * _normal(_CENTRES, mu_, sd_) + (1 - pi_) * _skewnorm_pdf(_CENTRES, a_, loc_, sc_)
        return -float((w * np.log(np.maximum(dens, 1e-300))).sum()) / max(w.sum(), 1.0)

    pi0 = 1.0 / max(mbar, 2.0)
    best = None
    for m0 in sorted({max(mu0, 1.2), 1.5, 2.5, 3.5, 5.0}):
        x0 = np.array([a0, loc0, math.log(max(sc0, 1e-3)), math.log(max(m0 - 1.0, 0.05)),
                       math.log(max(sd0 - 0.3, 0.05)), math.log(pi0 / max(0.5 - pi0, 1e-9))])
        r = minimize(nll, x0, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-5, "fatol": 1e-10})
        if best is None or r.fun < best.fun:
            best = r
    a_, loc_, sc_, mu, sd, pi = unpack(best.x)
    f_i_corr = np.maximum(_skewnorm_pdf(_CENTRES, a_, loc_, sc_), 1e-300)
    per_probe = pi * mbar if math.isfinite(mbar) else math.nan
    reliable = bool(mu > 1.1 and 0.05 <= per_probe <= 20 and best.success)
    variants["corrected"] = {**summarise(_normal(_CENTRES, mu, sd), pi, f_i_corr), "genuine_mean": mu,
                             "genuine_sd": sd, "impostor_refit": {"shape": a_, "loc": loc_, "scale": sc_},
                             "true_candidates_per_probe": per_probe, "reliable": reliable}
    if not reliable:
        assumptions.append(f"the mixture fit ended at its bounds (same-person mean z {mu:.2f}, {per_probe:.3g} true "
                           "candidates per probe): the same-person scores do not stand out of the bulk, so the corrected "
                           "estimate is unreliable; the interval reported spans both variants")
    if len(gen) >= 2:
        variants["corrected"]["shift_from_structural"] = mu - mu0
    # the target-decoy estimate (no density model): the main figure when there are enough decoys
    use_travel = len(imp_tr) >= min_pairs
    dz = imp_tr if use_travel else imp_cp
    dp = run._cat(acc.imp_travel_p if use_travel else acc.imp_copresent_p).astype(np.int64)
    dec = _decoy_estimate(acc, dz, dp, sel) if len(dz) else None
    main = "corrected"
    src = "two cameras at nearly the same instant" if use_travel else "the same frame"
    if dec is not None:
        dec["decoy_source"] = src
        variants["decoy"] = dec
        if dec["probes_with_decoys"] >= 20:
            main = "decoy"
    # the pooled decoy estimate: every probe's decoys (also those of probes not estimated, e.g.
    # the non-volunteers of a planted exercise: decoys need no label) inform every probe
    pdec = _pooled_decoy_estimate(acc, dz, dp, sel, n_boot=n_boot, seed=seed) if len(dz) else None
    if pdec is not None:
        pdec["decoy_source"] = src
        variants["decoy_pooled"] = pdec
        if pdec["probes_with_decoys"] >= 20:
            main = "decoy_pooled"
    hist_edges = np.linspace(-4, 12, 33)

    def h(v):
        if len(v) == 0:
            return [0.0] * (len(hist_edges) - 1)
        c, _ = np.histogram(np.clip(v, hist_edges[0], hist_edges[-1]), bins=hist_edges)
        return (c / len(v)).tolist()

    cp = pooled / max(pooled.sum(), 1)
    starts = np.searchsorted(_CENTRES, hist_edges[:-1])
    starts[0] = 0  # scores below the first edge count in the first bar, as in h()
    cand_hist = np.add.reduceat(cp, starts).tolist()
    return {"constraints": {"genuine": gen_src, "impostor": imp_src, "n_genuine_pairs": int(len(gen)),
                            "n_impostor_copresent": int(len(imp_cp)), "n_impostor_travel": int(len(imp_tr))},
            "chance_one_true": float(np.mean(1.0 / acc.n_cand[sel])) if len(sel) else math.nan,
            "assumptions": assumptions, "impostor_model": {"family": "skew-normal", **imp_fit}, "main": main, "n_probes": int(len(sel)), "candidates_mean": mbar,
            "variants": variants,
            "score_hist": {"edges": hist_edges.tolist(), "genuine_structural": h(gen), "impostor_structural": h(imp),
                           "candidates": cand_hist}}


# ------------------------------------------------------------------------------ routes

def rebuild_routes(run: LinkageRun, attack: str, p_top: np.ndarray, probes: np.ndarray, *,
                   min_places: int = 3, min_posterior: float = 0.5, max_routes: int = 12,
                   seed: int = 0) -> dict[str, Any]:
    """Link each probe to its best candidate when the two are each other's best match and the
    estimated posterior is at least ``min_posterior`` (the attacker's own rule: it needs no label), join linked sightings and
    tracks into persons (union-find), and rebuild their routes (camera, time).

    With labels: the share of people seen at >= ``min_places`` cameras (capped at the number of
    cameras) whose sightings at that many cameras end up in one rebuilt person that is mostly
    theirs, with a Wilson interval. The rebuilt routes go to
    :func:`auditkit.tables.trajectories.trajectory_uniqueness` (unit = rebuilt person), and the
    ``max_routes`` longest ones, pseudonymised, to the report's route figure (``exposed``).
    
    Long: linking, union-find grouping and the route summary (cameras per person, interval,
    trajectory uniqueness) are one pass over the links.
    """
    s = run.sightings
    n = len(s)
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first: dict[Any, int] = {}
    for i, t in enumerate(s.track):
        if t in first:
            union(first[t], i)
        else:
            first[t] = i
    acc = run.acc[attack]
    n_links = 0
    # mutual best matches only (i's best candidate is j and j's is i, or j's is on i's track):
    # one-way best matches chain unrelated people into one "route"
    tracks = np.asarray(s.track, dtype=object)
    for row, i in enumerate(probes):
        j = int(acc.top_j[i, 0])
        if j < 0 or p_top[row] < min_posterior:
            continue
        back = int(acc.top_j[j, 0])
        if back >= 0 and (back == i or tracks[back] == tracks[i]):
            union(int(i), j)
            n_links += 1
    comp = np.array([find(i) for i in range(n)])
    cams = np.asarray(s.camera, dtype=object)
    n_cams = len(set(s.camera))
    c = int(max(1, min(min_places, n_cams)))
    comp_cams: dict[int, set] = {}
    for i in range(n):
        comp_cams.setdefault(int(comp[i]), set()).add(cams[i])
    routes = sorted(comp_cams.items(), key=lambda kv: -len(kv[1]))
    multi = sum(1 for _, v in routes if len(v) >= c)
    out: dict[str, Any] = {"attack": attack, "min_posterior": min_posterior, "links": n_links,
                           "persons_rebuilt": len(comp_cams), "min_cameras": c, "cameras": n_cams,
                           "routes_at_min_cameras": multi,
                           "route_cameras_hist": _count_hist([len(v) for _, v in routes]),
                           "exposed": _exposed_routes(s, comp, [r for r, v in routes if len(v) >= max(c, 2)],
                                                      max_routes)}
    if s.truth_mode != "none" and n_cams >= 2:
        truth = np.asarray([t if t not in (None, UNKNOWN) else None for t in s.truth], dtype=object)
        people: dict[str, set] = {}
        for i in range(n):
            if truth[i] is not None:
                people.setdefault(truth[i], set()).add(cams[i])
        eligible = [p for p, v in people.items() if len(v) >= c]
        followed = 0
        for person in eligible:
            mine = np.flatnonzero(truth == person)
            best = 0
            for cc in set(comp[mine].tolist()):
                members = np.flatnonzero(comp == cc)
                share = float(np.mean(truth[members] == person))
                if share >= 0.5:
                    best = max(best, len({cams[i] for i in members if truth[i] == person}))
            followed += best >= c
        out.update({"people_eligible": len(eligible), "people_followed": followed,
                    "followed_rate": followed / len(eligible) if eligible else math.nan,
                    "followed_ci": wilson_interval(followed, len(eligible))})
    # uniqueness of the rebuilt routes (the existing trajectory measures)
    timed = np.isfinite(s.t0)
    if timed.sum() >= 2:
        import pandas as pd

        from ..tables.trajectories import trajectory_uniqueness

        df = pd.DataFrame({"unit": comp[timed].astype(str), "camera": cams[timed].astype(str),
                           "time": (s.t0[timed] + s.t1[timed]) / 2})
        try:
            out["uniqueness"] = trajectory_uniqueness(df, p_values=(1, 2, 3), time_bin="15min", n_samples=500,
                                                      random_state=seed)
        except (ValueError, KeyError) as e:  # pragma: no cover - defensive: never abort the audit
            out["uniqueness_error"] = str(e)
    return out


def _exposed_routes(s: Any, comp: np.ndarray, roots: list[int], limit: int) -> list[dict[str, Any]]:
    """The longest rebuilt routes (at least two cameras), pseudonymised for the report's route
    figure: ``person-NN`` (numbered by route length, not by any id of the release), and per
    sighting only its camera and its time in seconds since the release's first sighting (no
    sighting id, file or label)."""
    t_ref = float(np.nanmin(s.t0)) if np.isfinite(s.t0).any() else 0.0
    out = []
    for k, r in enumerate(roots[:limit]):
        members = np.flatnonzero(comp == r)
        pts = sorted(((float((s.t0[i] + s.t1[i]) / 2 - t_ref) if np.isfinite(s.t0[i]) else None, str(s.camera[i]))
                      for i in members), key=lambda p: (p[0] is None, p[0] or 0.0))
        out.append({"person": f"person-{k + 1:02d}", "cameras": len({c for _, c in pts}), "sightings": len(pts),
                    "points": [[c, None if tt is None else round(tt, 1)] for tt, c in pts]})
    return out


def _count_hist(v: list[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in v:
        out[str(x)] = out.get(str(x), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


