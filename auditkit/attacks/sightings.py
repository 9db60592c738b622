"""``linkage.sightings``: the release as its own gallery (WP29 *linkability*, issue 12).

Every sighting of a :class:`~auditkit.data.sightings.SightingSet` is a probe against every
*candidate* sighting: one on a different camera, or on the same camera in a time interval that
does not overlap the probe's (a later or an earlier visit), within ``window_s`` seconds of it;
never itself, its own track, a sighting of the same frame, or one on another camera closer in
time than ``min_travel_s`` (the last three are known to be someone else, or the same person by
construction, and the attacker uses that). Candidates are found in time-sorted blocks; every
block of probes x candidates is scored densely within a memory budget and reduced at once to
per-probe summaries (top-k, counts, a histogram of scores), so 100,000 sightings run in bounded
memory. (The gallery search of :mod:`auditkit.matching` cannot be used as is: each probe has its
own candidate set and exclusions, and per-probe normalisation needs every candidate's score.)

Scores
------
Per cue (``face``: 128-d encodings; ``appearance``: LOMO+LAB descriptors reduced by a PCA fitted on
the release itself, no label; ``gait``: GEIs, same), the similarity is minus the Euclidean
distance, then **z-scored per probe** over its candidates. ``fused`` is the sum of the per-cue
z-scores a pair shares, z-scored again per probe: equal weights, *not learned* (no labelled
pair is needed, and no scored label can leak into it).

Ground truth (see :mod:`auditkit.data.sightings`)
-------------------------------------------------
With labels (``subject`` or planted volunteers) each probe with a known identity and at least
one true candidate is scored: rank of its first true candidate among its scorable candidates
(ties averaged), CMC, chance = true candidates / candidates (averaged over probes), advantage,
Wilson intervals, and verification ROC-AUC/EER on true vs other candidate pairs.

Without labels, the **label-free estimate** uses the structural constraints: pairs of sightings on
one track (the same person) and pairs in the same frame, or on two cameras closer in time than
``min_travel_s`` (different people). Three estimates, all of the rank-1 rate over every probe
(a probe whose true mate is absent, or hidden in the crowd, counts as a miss, since without labels
the two cannot be told apart):

``decoy_pooled`` (the main figure when at least 20 probes have a known-different pair)
    target-decoy with pooled decoys: a known-different sighting (a decoy) is exchangeable with a
    probe's wrong candidates, so it beats all m candidates with probability about (1 - p) / m;
    that chance is read, for each probe's best score, from the decoys of every probe in its
    stratum (probes of a like upper bulk of candidate z-scores), and averaged: an estimate of
    p with a bootstrap interval (over probes and over the decoys' probes). No density model.
``decoy``
    the same identity with each probe's own decoys only: exact, but it rests on the few decoys
    that beat their own probe's best candidate (a Poisson interval tens of points wide). Both
    assume the constraints hold (a genuine pair taken for a decoy counts heavily) and that
    decoys look like candidates (same cameras, same population).
``structural``
    a two-component mixture of the candidates' scores with the same-person density taken from the
    within-track pairs as they are. Within-track pairs are *easier* than cross-camera pairs (same
    camera, light and pose, moments apart), so this variant leans optimistic; reported as a bound.
``corrected``
    the same mixture with both components refitted on the candidates' own scores (skew-normal
    different-person scores, Gaussian same-person scores starting from the within-track fit and
    lower means). It removes the within-track shift but depends on the shapes assumed; it is
    unreliable (and flagged) when the true mates do not stand out of the bulk. Its posteriors
    also decide which links the attacker makes when rebuilding routes.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..data.sightings import UNKNOWN, SightingSet
from ..result import AttackResult
from ..scoring.stats import advantage, advantage_interval
from .sightings_estimate import _skewnorm_pdf, estimate_linkage, rebuild_routes  # noqa: F401  (re-exported)
from .sightings_search import (  # noqa: F401  (re-exported: the attack's public names)
    _CENTRES,
    LinkageParams,
    LinkageRun,
    labelled_metrics,
    link_sightings,
    prepare_features,
)

__all__ = ["LinkageParams", "LinkageRun", "estimate_linkage", "labelled_metrics", "link_sightings",
           "prepare_features", "rebuild_routes", "run_linkage"]


# ------------------------------------------------------------------------------ the attack

_CUE_OF = {"face": "face", "appearance": "appearance", "gait": "gait", "fused": "fused"}


def run_linkage(s: SightingSet, params: LinkageParams | None = None, *, notes: list[str] | None = None
                ) -> tuple[list[AttackResult], dict[str, Any]]:
    """The whole gallery-free linkage audit of a sighting set.

    Returns the attacks (``linkage.sightings.<cue>`` per cue and ``linkage.sightings`` for the
    fusion, or for the only cue), not yet risk-assessed, and the JSON-ready ``linkage`` section:
    candidates, per attack the labelled figures (when there are labels), the label-free estimate
    beside them and their difference, rebuilt routes, and the limits.
    """
    params = params or LinkageParams()
    notes = notes if notes is not None else []
    run = link_sightings(s, params)
    main_attack = "fused" if "fused" in run.attacks else run.attacks[0]
    labelled = s.truth_mode != "none"
    probes = np.flatnonzero(run.acc[main_attack].n_cand > 0)
    if s.truth_mode == "planted":
        vol = np.flatnonzero(np.array([t not in (None, UNKNOWN) and t not in s.unscored for t in s.truth]))
        probes_est = vol[run.acc[main_attack].n_cand[vol] > 0]
    else:
        probes_est = None
    section: dict[str, Any] = {
        "truth_mode": s.truth_mode, "sightings": len(s), "cameras": len(set(s.camera)),
        "tracks": len(set(s.track)), "timed": int(np.isfinite(s.t0).sum()),
        "cues": {c: int(s.has(c).sum()) for c in s.cues},
        "params": {"window_s": params.window_s, "same_camera_gap_s": params.same_camera_gap_s,
                   "min_travel_s": params.min_travel_s, "k": params.k, "pca_dims": params.pca_dims},
        "candidate_pairs": run.n_candidate_pairs, "fusion": "sum of per-probe z-scores, equal weights (not learned)",
        "attacks": {}, "routes": None, "limits": _limits(s)}
    results: list[AttackResult] = []
    main_est = None
    for a in run.attacks:
        acc = run.acc[a]
        m_c = acc.n_cand[acc.n_cand > 0]
        cand = {"probes_with_candidates": int(len(m_c)), "candidates_median": float(np.median(m_c)) if len(m_c) else 0.0,
                "candidates_max": int(m_c.max()) if len(m_c) else 0}
        est = estimate_linkage(run, a, probes=probes_est, seed=params.seed)
        entry: dict[str, Any] = {"candidates": cand, "estimate": _public(est)}
        if labelled:
            lab = labelled_metrics(run, a)
            entry["labelled"] = {k: v for k, v in lab.items() if k not in ("cmc", "chance_cmc")}
            # on one basis: rank-1 over every scored probe, a probe without a true candidate a miss
            lo, hi = lab["rank1_all_ci"]
            entry["comparison"] = {v: {"estimate": ev_["rank1_all"], "labelled": lab["rank1_all"],
                                       "difference": ev_["rank1_all"] - lab["rank1_all"] if lab["n_all"] else math.nan,
                                       "inside_labelled_interval": bool(lo <= ev_["rank1_all"] <= hi)
                                       if lab["n_all"] else None,
                                       "labelled_inside_estimate_interval":
                                           bool(ev_["rank1_all_ci"][0] <= lab["rank1_all"] <= ev_["rank1_all_ci"][1])
                                           if lab["n_all"] and not math.isnan(ev_["rank1_all_ci"][0]) else None}
                                   for v, ev_ in est["variants"].items()}
            metrics = {k: v for k, v in lab.items() if k not in ("cmc", "chance_cmc")}
            cmc = lab["cmc"]
            metrics["estimated"] = False
        else:
            metrics, cmc = _estimated_metrics(est), []
        metrics["n_identities"] = cand["candidates_median"]
        name = "linkage.sightings" if a == main_attack else f"linkage.sightings.{a}"
        how = ("labelled: " + ("subject column" if s.truth_mode == "subject" else "planted volunteers")) if labelled \
            else "label-free estimate from structural constraints"
        res_notes = [f"gallery-free linkage of release sightings ({how}); {cand['probes_with_candidates']} probes, "
                     f"median {cand['candidates_median']:.0f} candidate sightings each"]
        if not labelled:
            res_notes.append(f"ESTIMATE, not a measurement: genuine pairs from {est['constraints']['genuine']}; "
                             f"impostor pairs from {est['constraints']['impostor']}")
        res = AttackResult(name=name, cue=_CUE_OF[a], criterion="linkability", n_probes=len(s),
                           n_identities=int(round(cand["candidates_median"])), metrics=metrics, cmc=cmc,
                           notes=res_notes, details={"linkage": entry, "matches": _matches(run, a, limit=20),
                                                     "score_hist": _score_hist(run, a, labelled)})
        results.append(res)
        section["attacks"][a] = entry
        if a == main_attack:
            main_est = est
    if main_est is not None:
        # the attacker's links: each best candidate's chance of being the same person, from the
        # label-free estimate over every probe (no label involved): the pooled decoys' when there
        # are decoys, else the corrected mixture's posterior
        est_all = main_est if probes_est is None else estimate_linkage(run, main_attack, seed=params.seed)
        v = est_all["variants"].get("decoy_pooled") or est_all["variants"]["corrected"]
        section["routes"] = rebuild_routes(run, main_attack, v["_p_top"][:, 0], probes, seed=params.seed)
    return results, section


def _score_hist(run: LinkageRun, attack: str, labelled: bool) -> dict[str, Any]:
    """Genuine/impostor histograms for the report's figure: labelled candidate pairs when there
    are labels, else the structural pairs (same track / same frame or simultaneous cameras)."""
    acc = run.acc[attack]
    if labelled:
        gen, imp = run._cat(acc.gen_lab), run._cat(acc.imp_lab)
    else:
        gen, imp = run._cat(acc.gen_struct), run._cat(acc.imp_travel) if len(run._cat(acc.imp_travel)) else \
            run._cat(acc.imp_copresent)
    allv = np.concatenate([gen, imp])
    lo, hi = (float(np.min(allv)), float(np.max(allv))) if allv.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    edges = np.linspace(lo, hi, 41)

    def h(v: np.ndarray) -> list[float]:
        if v.size == 0:
            return [0.0] * 40
        c, _ = np.histogram(v, bins=edges)
        return (c / v.size).tolist()

    return {"edges": edges.tolist(), "genuine": h(gen), "impostor": h(imp),
            "source": "labelled candidate pairs" if labelled else "structural pairs"}


def _public(est: dict[str, Any]) -> dict[str, Any]:
    out = dict(est)
    out["variants"] = {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in est["variants"].items()}
    return out


def _estimated_metrics(est: dict[str, Any]) -> dict[str, Any]:
    """Metrics of an unlabelled run: the main estimate's rank-1 (over every probe, a probe without
    a mate a miss) and its interval. The decoy estimates carry their own interval (bootstrap or
    Poisson); a mixture
    estimate (no decoys) an interval spanning every variant's bootstrap interval (the model
    uncertainty between them is not sampling noise)."""
    v = est["variants"]
    main = v[est["main"]]
    if est["main"] in ("decoy", "decoy_pooled"):
        rank1, ci = main["rank1_all"], tuple(main["rank1_all_ci"])
        n_fig = main.get("probes", main["probes_with_decoys"])
    else:
        los = [x["rank1_ci"][0] for x in v.values() if "rank1_ci" in x and not math.isnan(x["rank1_ci"][0])]
        his = [x["rank1_ci"][1] for x in v.values() if "rank1_ci" in x and not math.isnan(x["rank1_ci"][1])]
        ci = (min(los), max(his)) if los and his else (math.nan, math.nan)
        rank1, n_fig = main["rank1"], None
    p0 = main.get("chance_rank1", math.nan)
    if p0 is None or math.isnan(p0) or p0 <= 0:  # decoy estimate, or no mate found by the fit: one true candidate each
        p0 = est["chance_one_true"]
    n = n_fig if n_fig is not None else int(round(main["n_mated_est"]))
    ok = p0 is not None and not math.isnan(p0) and p0 < 1 and not math.isnan(rank1)
    mix = v["corrected"]  # the links are made by the mixture's posteriors
    return {"estimated": True, "estimate_method": est["main"], "rank1": rank1, "rank1_ci": ci, "chance_rank1": p0,
            "advantage": advantage(rank1, p0) if ok else math.nan,
            "advantage_ci": advantage_interval(ci, p0) if ok and not math.isnan(ci[0]) else (math.nan, math.nan),
            "n_mated": n, "n_probes": est["n_probes"], "link_precision": mix["link_precision"],
            "links": mix["links"]}


def _matches(run: LinkageRun, attack: str, *, limit: int) -> list[dict[str, Any]]:
    s = run.sightings
    acc = run.acc[attack]
    order = np.argsort(-acc.top_z[:, 0], kind="stable")[:limit]
    rows = []
    for i in order:
        if acc.top_j[i, 0] < 0:
            continue
        cand = [s.ids[j] for j in acc.top_j[i] if j >= 0][:5]
        rows.append({"probe": s.ids[i], "truth": s.truth[i], "candidates": cand,
                     "scores": [float(z) for z in acc.top_z[i][:len(cand)]]})
    return rows


def _limits(s: SightingSet) -> list[str]:
    out = ["Candidates are bounded by the time window: a person seen again later than that is not searched for, "
           "so linkage over longer spans is not measured.",
           "Per-probe z-scores and equal-weight fusion are a simple attacker; a learned re-identification model "
           "would likely do better, so these figures are a floor on linkability, not a ceiling."]
    out += ["The label-free estimate counts a sighting whose true mate is absent, or hidden among look-alikes, as a "
            "miss: it estimates rank-1 over every probe, not over the probes that have a mate.",
            "The decoy estimates assume the structural constraints hold (nobody in two frames at once, nobody on two "
            "cameras closer in time than the travel time, camera views not overlapping) and that a decoy looks like a "
            "wrong candidate (same cameras, same population): one genuine pair taken for a decoy weighs as much as m "
            "wrong candidates.",
            "The main (pooled) decoy estimate reads each probe's chance that a decoy beats its best candidate, about "
            "1 in m, from the decoys of every probe of a like score scale: it needs tens of thousands of decoys. With "
            "a few hundred (a single-camera release, whose only decoys are people seen in the same frame) few decoys "
            "reach the top, the interval is tens of points wide and the point can land far from the true figure.",
            "It weighs each probe by m + 1/2, between the exact m + 1 (no true candidate) and m - t + 1 (t true "
            "candidates): with several true candidates per probe it leans low by up to (t - 1/2)/m of the miss rate.",
            "Within-track pairs are easier than cross-camera pairs (same camera, light and pose, moments apart): "
            "the structural mixture variant leans high; the corrected variant refits the same-person scores on the "
            "candidates but depends on the shapes it assumes and fails when the true mates do not stand out.",
            "Routes are rebuilt from mutual best matches whose estimated chance of being the same person is at least "
            "one half; without labels the share of people followed is not measured, only the number of rebuilt "
            "routes that span several cameras."]
    if s.truth_mode == "planted":
        out.append("Planted volunteers are assumed to appear only in their recorded windows; a window with "
                   "several tracks is left out, and a volunteer with such a window is not scored as a probe, so "
                   "crowded scenes are under-represented.")
    return out
