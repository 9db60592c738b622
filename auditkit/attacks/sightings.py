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

``decoy`` (the main figure when at least 20 probes have a known-different pair)
    target-decoy: a known-different sighting is exchangeable with the probe's wrong candidates,
    so it beats all m candidates with probability (1 - p) / (m + 1); counting how often decoys beat
    the best candidate gives an unbiased estimate of p with an exact Poisson interval. No density
    model; wide intervals (decoys rarely land at the top). It assumes the constraints hold (a
    genuine pair taken for a decoy counts heavily) and that decoys look like candidates (same
    cameras, same population).
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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.sightings import UNKNOWN, SightingSet
from ..result import AttackResult
from ..scoring.stats import advantage, advantage_interval, wilson_interval

__all__ = ["LinkageParams", "LinkageRun", "estimate_linkage", "link_sightings", "prepare_features",
           "rebuild_routes", "run_linkage"]

_BINS = np.linspace(-6.0, 16.0, 221)  # z-score histogram edges (0.1 wide)
_CENTRES = (_BINS[:-1] + _BINS[1:]) / 2


@dataclass
class LinkageParams:
    """Options of the linkage attack.

    window_s : candidates lie within this many seconds of the probe (None: no time bound; the
        sightings without a time are candidates of every probe in any case).
    same_camera : search the probe's own camera too (a later or earlier visit). None (default):
        only when the release has a single camera; with several, linkage is across cameras (the
        question of following someone), and same-camera look-alikes (same light and background)
        do not crowd out the other cameras.
    same_camera_gap_s : on the probe's own camera, a candidate's interval must be at least this
        far from the probe's (a later or earlier visit; 0: merely not overlapping).
    min_travel_s : sightings on two cameras closer in time than this are different people
        (nobody travels between the cameras that fast; 0: only overlapping intervals). The
        attacker removes them from the candidates; the estimate uses them as impostor pairs.
    k : top candidates kept per probe (links, route rebuilding, the report's matches).
    pca_dims : appearance/gait descriptors longer than this are reduced by PCA on the release.
    camera_centre, whiten : subtract each camera's mean appearance/gait descriptor; whiten the PCA
        (see :func:`prepare_features`).
    camera_norm : z-score a probe's scores separately per candidate camera (same-camera candidates
        share light and background and would otherwise crowd out the other cameras).
    memory_bytes : budget for one block of probe x candidate scores.
    seed : random state (PCA sample, impostor subsamples, bootstrap).
    """

    window_s: float | None = 3600.0
    same_camera: bool | None = None
    same_camera_gap_s: float = 0.0
    min_travel_s: float = 0.0
    k: int = 10
    pca_dims: int = 128
    camera_centre: bool = True
    whiten: bool = True
    camera_norm: bool = True
    memory_bytes: int = 256 * 2**20
    seed: int = 0


@dataclass
class _Acc:
    """Per-attack accumulators filled block by block."""

    n: int
    k: int
    n_cand: np.ndarray = field(init=False)
    top_z: np.ndarray = field(init=False)
    top_j: np.ndarray = field(init=False)
    hist: np.ndarray = field(init=False)
    gen_struct: list = field(default_factory=list)
    imp_copresent: list = field(default_factory=list)
    imp_travel: list = field(default_factory=list)
    imp_copresent_p: list = field(default_factory=list)  # probe of each impostor pair (decoy estimate)
    imp_travel_p: list = field(default_factory=list)
    # labelled scoring
    greater: np.ndarray = field(init=False)
    ties: np.ndarray = field(init=False)
    n_true: np.ndarray = field(init=False)
    n_scorable: np.ndarray = field(init=False)
    gen_lab: list = field(default_factory=list)
    imp_lab: list = field(default_factory=list)

    def __post_init__(self) -> None:
        n, k = self.n, self.k
        self.n_cand = np.zeros(n, np.int64)
        self.top_z = np.full((n, k), -np.inf)
        self.top_j = np.full((n, k), -1, np.int64)
        self.hist = np.zeros((n, len(_CENTRES)), np.int32)
        self.greater = np.zeros(n)
        self.ties = np.zeros(n)
        self.n_true = np.zeros(n, np.int64)
        self.n_scorable = np.zeros(n, np.int64)


# ------------------------------------------------------------------------------ features

def prepare_features(s: SightingSet, params: LinkageParams) -> dict[str, np.ndarray]:
    """Per cue, the vectors compared. Face encodings as they are. Appearance and gait: each
    camera's mean descriptor is subtracted (``camera_centre``: removes the camera's colour cast
    and background, an unsupervised step of cross-camera re-identification), then a PCA fitted on
    (a sample of) the release's own sightings reduces them to ``pca_dims`` (``whiten``: unit
    variance per component), then L2-normalised. No label is used. Rows of sightings without
    the cue stay NaN."""
    out: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(params.seed)
    cams = np.asarray(s.camera, dtype=object)
    for cue in s.cues:
        X = s.features[cue]
        ok = s.has(cue)
        if cue == "face":
            out[cue] = X.copy()
            continue
        rows = np.flatnonzero(ok)
        Xc = np.full_like(X, np.nan)
        Xc[rows] = X[rows]
        if params.camera_centre:
            for cam in set(cams[rows].tolist()):
                r = rows[cams[rows] == cam]
                Xc[r] = X[r] - X[r].mean(axis=0)
        if X.shape[1] <= params.pca_dims:
            Y = Xc
        else:
            from sklearn.decomposition import PCA

            fit_rows = rows if len(rows) <= 5000 else rng.choice(rows, 5000, replace=False)
            # at most a fifth of the sightings: whitening more directions than the data support
            # amplifies noise (a small release keeps a few components)
            dims = int(min(params.pca_dims, max(2, len(fit_rows) // 5), len(fit_rows) - 1, X.shape[1]))
            Y = np.full((len(X), max(dims, 1)), np.nan)
            if dims >= 1:
                pca = PCA(n_components=dims, svd_solver="randomized", whiten=params.whiten,
                          random_state=params.seed).fit(Xc[fit_rows])
                for a in range(0, len(rows), 8192):
                    r = rows[a:a + 8192]
                    Y[r] = pca.transform(Xc[r])
        nrm = np.linalg.norm(Y, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            Y = np.where(nrm > 0, Y / nrm, Y)
        out[cue] = Y
    return out


# ------------------------------------------------------------------------------ blocks

def _gap(a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """Time between intervals (0 when they overlap; NaN when a time is unknown)."""
    return np.maximum(0.0, np.maximum(b0[None, :] - a1[:, None], a0[:, None] - b1[None, :]))


def _blocks(s: SightingSet, params: LinkageParams, n_attacks: int):
    """Yield (probe indices, candidate indices): probes in time order, candidates every sighting
    whose interval lies within ``window_s`` of the block's, the untimed ones, and the probes'
    own tracks (for the within-track pairs)."""
    n = len(s)
    timed = np.isfinite(s.t0) & np.isfinite(s.t1)
    order = np.flatnonzero(timed)[np.argsort(s.t0[timed], kind="stable")]
    untimed = np.flatnonzero(~timed)
    t0s = s.t0[order]
    max_dur = float(np.max(s.t1[timed] - s.t0[timed])) if timed.any() else 0.0
    W = math.inf if params.window_s is None else float(params.window_s)
    tracks = np.asarray(s.track, dtype=object)
    by_track: dict[Any, list[int]] = {}
    for i, t in enumerate(tracks):
        by_track.setdefault(t, []).append(i)
    per_cell = 8 * (3 * n_attacks + 6)
    budget = max(params.memory_bytes // per_cell, 1)

    def cands_for(p: np.ndarray) -> np.ndarray:
        if len(p) == 0:
            return p
        if np.isfinite(s.t0[p]).all() and math.isfinite(W):
            a, b = float(s.t0[p].min()), float(s.t1[p].max())
            lo = int(np.searchsorted(t0s, a - W - max_dur, side="left"))
            hi = int(np.searchsorted(t0s, b + W, side="right"))
            c = order[lo:hi]
            c = c[s.t1[c] >= a - W]
            c = np.concatenate([c, untimed])
        else:
            c = np.arange(n)
        own = [j for i in p for j in by_track[tracks[i]]]
        return np.unique(np.concatenate([c, np.asarray(own, np.int64)]))

    seq = np.concatenate([order, untimed])
    i = 0
    step = 256
    while i < len(seq):
        p = seq[i:i + step]
        c = cands_for(p)
        while len(p) > 1 and len(p) * len(c) > budget:
            p = p[: max(1, len(p) // 2)]
            c = cands_for(p)
        yield p, c
        i += len(p)


# ------------------------------------------------------------------------------ scoring

def _row_z(S: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row z-scores of S over ``valid`` entries; (Z, mean, sd). Rows with < 2 valid or zero
    spread get sd = inf (every z = 0: no evidence)."""
    cnt = valid.sum(axis=1)
    Sv = np.where(valid, S, 0.0)
    mu = Sv.sum(axis=1) / np.maximum(cnt, 1)
    var = (np.where(valid, (S - mu[:, None]) ** 2, 0.0)).sum(axis=1) / np.maximum(cnt, 1)
    sd = np.sqrt(var)
    sd = np.where((cnt >= 2) & (sd > 1e-12), sd, np.inf)
    Z = (S - mu[:, None]) / sd[:, None]
    return Z, mu, sd


def _row_z_by(S: np.ndarray, valid: np.ndarray, gcol: np.ndarray | None) -> np.ndarray:
    """Per-row z-scores computed separately within each group of columns (the candidates'
    camera), over ``valid`` entries; a (row, group) with fewer than two valid entries uses the
    row's overall mean and spread. ``gcol`` None: one group."""
    Z, mu, sd = _row_z(S, valid)
    if gcol is None:
        return Z
    K = int(gcol.max()) + 1 if len(gcol) else 1
    if K <= 1:
        return Z
    m = S.shape[0]
    key = (np.arange(m)[:, None] * K + gcol[None, :]).ravel()
    v = valid.ravel()
    Sv = np.where(valid, S, 0.0).ravel()
    cnt = np.bincount(key, weights=v.astype(float), minlength=m * K).reshape(m, K)
    s1 = np.bincount(key, weights=Sv, minlength=m * K).reshape(m, K)
    s2 = np.bincount(key, weights=Sv * Sv, minlength=m * K).reshape(m, K)
    gmu = s1 / np.maximum(cnt, 1)
    gsd = np.sqrt(np.maximum(s2 / np.maximum(cnt, 1) - gmu ** 2, 0.0))
    use = (cnt >= 2) & (gsd > 1e-12)
    gmu = np.where(use, gmu, mu[:, None])
    gsd = np.where(use, gsd, sd[:, None])
    return (S - gmu[:, gcol]) / gsd[:, gcol]


def _attack_scores(feats: dict[str, np.ndarray], cues: list[str], p: np.ndarray, c: np.ndarray,
                   cand: np.ndarray, gcol: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per attack (each cue, and ``fused`` with two or more): (Z, valid), probe x candidate;
    z-scores per probe and candidate camera (``gcol``: camera index of each candidate column)."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    zs = []
    for cue in cues:
        X = feats[cue]
        P, C = X[p], X[c]
        hp, hc = np.isfinite(P).all(axis=1), np.isfinite(C).all(axis=1)
        Pz, Cz = np.where(hp[:, None], P, 0.0), np.where(hc[:, None], C, 0.0)
        d2 = (Pz * Pz).sum(1)[:, None] + (Cz * Cz).sum(1)[None, :] - 2.0 * (Pz @ Cz.T)
        S = -np.sqrt(np.maximum(d2, 0.0))
        both = hp[:, None] & hc[None, :]
        Z = np.where(both, _row_z_by(S, both & cand, gcol), np.nan)
        out[cue] = (Z, both)
        zs.append(Z)
    if len(cues) >= 2:
        stack = np.stack(zs)
        anyv = np.isfinite(stack).any(axis=0)
        F = np.nansum(np.where(np.isfinite(stack), stack, np.nan), axis=0)
        out["fused"] = (np.where(anyv, _row_z_by(F, anyv & cand, gcol), np.nan), anyv)
    return out


def link_sightings(s: SightingSet, params: LinkageParams | None = None) -> LinkageRun:
    """Score every probe against its candidates, for every cue and their fusion (see module doc)."""
    params = params or LinkageParams()
    feats = prepare_features(s, params)
    cues = [c for c in s.cues]
    if not cues:
        raise ValueError("no sighting carries a face, appearance or gait feature: nothing to link")
    attacks = cues + (["fused"] if len(cues) >= 2 else [])
    n = len(s)
    k = int(max(1, params.k))
    accs = {a: _Acc(n, k) for a in attacks}
    rng = np.random.default_rng([params.seed, 12])
    cams = np.asarray(s.camera, dtype=object)
    tracks = np.asarray(s.track, dtype=object)
    groups = np.asarray([g if g is not None else f"\0{i}" for i, g in enumerate(s.group)], dtype=object)
    truth = np.asarray([t if t is not None else "" for t in s.truth], dtype=object)
    labelled = s.truth_mode != "none"
    probe_ok = np.array([t not in (None, UNKNOWN) for t in s.truth]) if labelled else np.zeros(n, bool)
    if s.truth_mode == "planted":
        scorable_c = np.array([t != UNKNOWN for t in s.truth])
    else:
        scorable_c = probe_ok.copy()
    W = math.inf if params.window_s is None else float(params.window_s)
    same_camera_ok = params.same_camera if params.same_camera is not None else len(set(s.camera)) == 1
    n_pairs = 0
    for p, c in _blocks(s, params, len(attacks)):
        same_track = tracks[p][:, None] == tracks[c][None, :]
        self_ = p[:, None] == c[None, :]
        gap = _gap(s.t0[p], s.t1[p], s.t0[c], s.t1[c])
        known = np.isfinite(gap)
        same_cam = cams[p][:, None] == cams[c][None, :]
        same_group = groups[p][:, None] == groups[c][None, :]
        copresent = ~same_track & (same_group | (same_cam & known & (gap <= 0)))
        travel = ~same_track & ~same_cam & known & (gap < max(params.min_travel_s, 1e-9)) & ~copresent
        in_window = ~known | (gap <= W)
        sep_ok = ~same_cam | ~known & ~same_group | (known & (gap > max(params.same_camera_gap_s, 0.0)))
        if not same_camera_ok:
            sep_ok = ~same_cam
        cand = ~self_ & ~same_track & ~copresent & ~travel & in_window & sep_ok
        gen_s = same_track & ~self_
        n_pairs += int(cand.sum())
        gcol = np.unique(cams[c], return_inverse=True)[1].reshape(-1) if params.camera_norm else None
        scores = _attack_scores(feats, cues, p, c, cand, gcol)
        for a in attacks:
            Z, valid = scores[a]
            acc = accs[a]
            ok = cand & valid
            Zc = np.where(ok, Z, -np.inf)
            acc.n_cand[p] = ok.sum(axis=1)
            kk = min(k, Zc.shape[1])
            if kk:
                part = np.argpartition(-Zc, kk - 1, axis=1)[:, :kk] if Zc.shape[1] > kk else \
                    np.tile(np.arange(Zc.shape[1]), (len(p), 1))
                tz = np.take_along_axis(Zc, part, axis=1)
                o = np.argsort(-tz, axis=1, kind="stable")
                acc.top_z[p, :kk] = np.take_along_axis(tz, o, axis=1)
                acc.top_j[p, :kk] = np.where(np.isfinite(acc.top_z[p, :kk]),
                                             c[np.take_along_axis(part, o, axis=1)], -1)
            zb = np.clip(np.where(ok, Z, np.nan), _BINS[0], _BINS[-1] - 1e-9)
            bi = np.floor((zb - _BINS[0]) / (_BINS[1] - _BINS[0]))
            rows, cols = np.nonzero(ok)
            np.add.at(acc.hist, (p[rows], bi[rows, cols].astype(np.int64)), 1)
            fin = np.isfinite(Z)
            for mask, store, pstore in ((gen_s & valid & fin, acc.gen_struct, None),
                                        (copresent & valid & fin, acc.imp_copresent, acc.imp_copresent_p),
                                        (travel & valid & fin, acc.imp_travel, acc.imp_travel_p)):
                r, q = np.nonzero(mask)
                if len(r) > 50 * len(p):
                    sel = np.sort(rng.choice(len(r), 50 * len(p), replace=False))
                    r, q = r[sel], q[sel]
                store.append(Z[r, q])
                if pstore is not None:
                    pstore.append(p[r])
            if labelled:
                pr = np.flatnonzero(probe_ok[p])
                if len(pr):
                    sc = ok[pr] & scorable_c[c][None, :]
                    tru = sc & (truth[p][pr][:, None] == truth[c][None, :])
                    Zp = Z[pr]
                    best = np.max(np.where(tru, Zp, -np.inf), axis=1)
                    imp = sc & ~tru
                    acc.greater[p[pr]] = (imp & (Zp > best[:, None])).sum(axis=1)
                    acc.ties[p[pr]] = (imp & (Zp == best[:, None])).sum(axis=1)
                    acc.n_true[p[pr]] = tru.sum(axis=1)
                    acc.n_scorable[p[pr]] = sc.sum(axis=1)
                    acc.gen_lab.append(Zp[tru])
                    r, q = np.nonzero(imp)
                    if len(r) > 50 * len(pr):
                        sel = rng.choice(len(r), 50 * len(pr), replace=False)
                        r, q = r[sel], q[sel]
                    acc.imp_lab.append(Zp[r, q])
    return LinkageRun(s, params, attacks, accs, n_pairs)


@dataclass
class LinkageRun:
    """What :func:`link_sightings` computed: per attack, per-probe summaries of the candidates."""

    sightings: SightingSet
    params: LinkageParams
    attacks: list[str]
    acc: dict[str, _Acc]
    n_candidate_pairs: int

    def candidates(self, attack: str) -> np.ndarray:
        return self.acc[attack].n_cand

    @staticmethod
    def _cat(parts: list) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0)


# ------------------------------------------------------------------------------ labelled metrics

def _p_rank_le(g: np.ndarray, t: np.ndarray, k: int) -> np.ndarray:
    return np.clip((k - g) / (t + 1.0), 0.0, 1.0)


def _chance_rank_k(n_true: np.ndarray, m: np.ndarray, k: int) -> np.ndarray:
    """P(a uniformly random ranking of m candidates puts one of n_true true ones in the top k)."""
    from scipy.special import gammaln

    m = np.asarray(m, dtype=float)
    t = np.asarray(n_true, dtype=float)
    ok = (m - t) >= k  # else a true one is always in the top k
    mm, tt = np.where(ok, m, k + 1.0), np.where(ok, t, 0.0)
    # 1 - C(m - t, k) / C(m, k)
    lg = gammaln(mm - tt + 1) - gammaln(mm - tt - k + 1) - gammaln(mm + 1) + gammaln(mm - k + 1)
    return np.where(ok, 1.0 - np.exp(lg), 1.0)


def labelled_metrics(run: LinkageRun, attack: str, *, confidence: float = 0.95, max_cmc: int = 50) -> dict[str, Any]:
    """Rank-k/CMC over candidate sightings, chance, advantage, ROC-AUC/EER, for labelled probes."""
    from ..scoring.metrics import equal_error_rate, roc_auc_score

    acc = run.acc[attack]
    mated = np.flatnonzero(acc.n_true > 0)
    g, t = acc.greater[mated], acc.ties[mated]
    m = acc.n_scorable[mated]
    nt = acc.n_true[mated]
    n = len(mated)
    out: dict[str, Any] = {"n_probes": int(len(run.sightings)), "n_mated": n, "confidence": confidence,
                           "candidates_median": float(np.median(m)) if n else math.nan,
                           "true_candidates_mean": float(nt.mean()) if n else math.nan}
    for k in (1, 5, 10):
        r = float(_p_rank_le(g, t, k).mean()) if n else math.nan
        out[f"rank{k}"] = r
        out[f"rank{k}_ci"] = wilson_interval(r * n, n, confidence=confidence) if n else (math.nan, math.nan)
        out[f"chance_rank{k}"] = float(_chance_rank_k(nt, m, k).mean()) if n else math.nan
    p0 = out["chance_rank1"]
    ok = n > 0 and p0 < 1
    out["advantage"] = advantage(out["rank1"], p0) if ok else math.nan
    out["advantage_ci"] = advantage_interval(out["rank1_ci"], p0) if ok else (math.nan, math.nan)
    gen, imp = run._cat(acc.gen_lab), run._cat(acc.imp_lab)
    # every labelled probe with candidates, those without a true candidate counting as misses
    # (the basis of the label-free estimate, which cannot tell a hidden mate from none)
    labelled_probes = np.flatnonzero(acc.n_scorable > 0)
    n_all = len(labelled_probes)
    hits_all = float(_p_rank_le(g, t, 1).sum()) if n else 0.0
    out["n_all"] = n_all
    out["rank1_all"] = hits_all / n_all if n_all else math.nan
    out["rank1_all_ci"] = wilson_interval(hits_all, n_all, confidence=confidence) if n_all else (math.nan, math.nan)
    out["auc"] = roc_auc_score(gen, imp)
    out["eer"] = equal_error_rate(gen, imp)
    out["n_genuine"], out["n_impostor"] = int(gen.size), int(imp.size)
    out["cmc"] = [float(_p_rank_le(g, t, k).mean()) for k in range(1, max_cmc + 1)] if n else []
    out["chance_cmc"] = [float(_chance_rank_k(nt, m, k).mean()) for k in range(1, max_cmc + 1)] if n else []
    return out


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


def estimate_linkage(run: LinkageRun, attack: str, *, min_pairs: int = 30, n_boot: int = 200,
                     probes: np.ndarray | None = None, seed: int = 0) -> dict[str, Any]:
    """The label-free estimate for one attack (see the module docstring).

    ``probes``: restrict the estimate to these probe indices (e.g. planted volunteers). Returns
    the constraints used, the score distributions (histograms), and per variant the estimated
    rank-1 rate over probes with a mate (bootstrap interval over probes), the estimated number
    of such probes, chance, and the expected precision of rank-1 links at posterior >= 0.5.
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
    if dec is not None:
        dec["decoy_source"] = "two cameras at nearly the same instant" if use_travel else "the same frame"
        variants["decoy"] = dec
        if dec["probes_with_decoys"] >= 20:
            main = "decoy"
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
                   min_places: int = 3, min_posterior: float = 0.5, seed: int = 0) -> dict[str, Any]:
    """Link each probe to its best candidate when the two are each other's best match and the
    estimated posterior is at least ``min_posterior`` (the attacker's own rule: it needs no label), join linked sightings and
    tracks into persons (union-find), and rebuild their routes (camera, time).

    With labels: the share of people seen at >= ``min_places`` cameras (capped at the number of
    cameras) whose sightings at that many cameras end up in one rebuilt person that is mostly
    theirs, with a Wilson interval. The rebuilt routes go to
    :func:`auditkit.tables.trajectories.trajectory_uniqueness` (unit = rebuilt person).
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
                           "route_cameras_hist": _count_hist([len(v) for _, v in routes])}
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


def _count_hist(v: list[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in v:
        out[str(x)] = out.get(str(x), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


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
        vol = np.flatnonzero(np.array([t not in (None, UNKNOWN) for t in s.truth]))
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
            main_est = est["variants"]["corrected"]  # the links are made by the mixture's posteriors
    if main_est is not None:
        # the attacker's links use the posterior of the label-free estimate over every probe (no label involved)
        est_all = main_est if probes_est is None else \
            estimate_linkage(run, main_attack, seed=params.seed)["variants"]["corrected"]
        section["routes"] = rebuild_routes(run, main_attack, est_all["_p_top"][:, 0], probes, seed=params.seed)
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
    a mate a miss) and its interval. The decoy estimate carries its Poisson interval; a mixture
    estimate (no decoys) an interval spanning every variant's bootstrap interval (the model
    uncertainty between them is not sampling noise)."""
    v = est["variants"]
    main = v[est["main"]]
    if est["main"] == "decoy":
        rank1, ci = main["rank1_all"], tuple(main["rank1_all_ci"])
        n_fig = main["probes_with_decoys"]
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
            "The decoy estimate assumes the structural constraints hold (nobody in two frames at once, nobody on two "
            "cameras closer in time than the travel time, camera views not overlapping): one genuine pair taken for "
            "a decoy weighs as much as m wrong candidates. Its interval is wide because decoys rarely reach the top.",
            "Within-track pairs are easier than cross-camera pairs (same camera, light and pose, moments apart): "
            "the structural mixture variant leans high; the corrected variant refits the same-person scores on the "
            "candidates but depends on the shapes it assumes and fails when the true mates do not stand out.",
            "Same-frame decoys (the only ones in a single-camera release) share light and background with the "
            "probe and score higher than other candidates, which pushes the decoy estimate down."]
    if s.truth_mode == "planted":
        out.append("Planted volunteers are assumed to appear only in their recorded windows; a window with "
                   "several tracks is left out, so crowded scenes are under-represented.")
    return out
