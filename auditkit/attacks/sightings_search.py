"""``linkage.sightings``'s search (issue 12): the sightings' features, the candidate blocks
(camera and time windows, bounded memory), per-probe scores and the labelled metrics. The
attack and its overview are :mod:`auditkit.attacks.sightings`; the label-free estimate and
the routes :mod:`auditkit.attacks.sightings_estimate`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.sightings import UNKNOWN, SightingSet
from ..scoring.stats import advantage, advantage_interval, wilson_interval

__all__ = ["LinkageParams", "LinkageRun", "labelled_metrics", "link_sightings", "prepare_features"]

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
    z-scores per probe and candidate camera (``gcol``: camera index of each candidate column),
    standardised over the ``cand`` entries (the reference set)."""
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
    """Score every probe against its candidates, for every cue and their fusion (see module doc).

    Long: one pass over the candidate blocks keeps every cue's scores, exclusions and
    accumulators in step; split, each part would re-walk the blocks (the memory bound)."""
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
    probe_ok = np.array([t not in (None, UNKNOWN) and t not in s.unscored for t in s.truth]) if labelled \
        else np.zeros(n, bool)
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
        # the z-scores' reference set: the candidates and the decoys (structural impostors) together,
        # so that a decoy and a wrong candidate are scored alike (exchangeable, as the label-free
        # estimate needs: standardised on the candidates alone, a decoy would be out of sample and
        # its z-score heavier-tailed than theirs); the ranking within a camera does not change
        scores = _attack_scores(feats, cues, p, c, cand | ((copresent | travel) & in_window), gcol)
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
