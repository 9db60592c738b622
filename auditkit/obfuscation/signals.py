"""The measurements the obfuscation estimator reads an image region by: grey conversion, box
clipping, re-blur fits, pixel-grid and box-kernel tests, edge excess, noise level (see
:mod:`auditkit.obfuscation.estimate`, whose docstring gives the method and its references)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ..data.boxes import clip_box
from .spec import METHODS

#: labels an estimate can carry: the obfuscation methods plus ``unknown``.
FAMILIES: tuple[str, ...] = tuple(METHODS) + ("unknown",)



#: regions whose shorter side is below this many pixels get a low-confidence estimate.
MIN_RELIABLE_SIZE = 16



# -- thresholds (grey levels, pixels); chosen on AT&T faces and generated 1/f images -----
_MASK_TOL = 6.0  # a mask pixel is within this many grey levels of the median



_MASK_FRAC = 0.92  # ... for at least this fraction of the region



_GRID_EXCESS = 0.55  # difference energy on the grid beyond chance, each axis



_GRID_R2 = 0.85  # block means explain this share of the region's variance



_NONE_SIGMA = 1.3  # fitted sigma below this: no blur detected (95th pct of clear AT&T faces)



_NOISE_STD = 8.5  # Immerkaer noise std above this (grey levels; clear AT&T faces max 8.0) and ...



_NOISE_SHARE = 0.5  # ... carrying this share of the gradient energy: additive noise



_ALPHA_PRIOR = 2.5



_ALPHA_RANGE = (2.2, 3.0)



_S_CAM = 0.7  # assumed intrinsic (camera/resampling) blur of an unobfuscated image, px



_S_CAM_RANGE = (0.0, 1.0)



def _to_gray(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3:
        if arr.shape[2] not in (3, 4):
            raise ValueError(f"image must be HxW or HxWx(1|3|4), got shape {arr.shape}")
        arr = arr[:, :, :3].astype(np.float64).mean(axis=2)
    elif arr.ndim != 2:
        raise ValueError(f"image must be HxW or HxWx(1|3|4), got shape {arr.shape}")
    return arr.astype(np.float64)



def _clip_box(box: Sequence[float], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(box) != 4:
        raise ValueError(f"box must be (x, y, w, h), got {box!r}")
    c = clip_box(tuple(int(round(float(v))) for v in box), shape)
    if c is None:
        H, W = shape[:2]
        raise ValueError(f"box {tuple(box)!r} does not overlap the {W}x{H} image")
    return tuple(int(v) for v in c)



def _gblur(g: np.ndarray, s: float) -> np.ndarray:
    if s <= 0:
        return g
    k = int(2 * np.ceil(3 * s) + 1)
    return cv2.GaussianBlur(g, (k, k), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REFLECT)



_TAB_N = 128



_S_GRID = np.linspace(0.0, 40.0, 801)



_A_GRID = np.round(np.arange(2.0, 3.21, 0.1), 2)



_TABLES: dict[str, np.ndarray] = {}



def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(log S[alpha, s], W[s]) on (_A_GRID, _S_GRID); computed once, lazily."""
    if "S" not in _TABLES:
        f = np.fft.fftfreq(_TAB_N)
        fx, fy = np.meshgrid(f, f)
        r2 = fx**2 + fy**2
        d = 4 * np.sin(np.pi * fx) ** 2 + 4 * np.sin(np.pi * fy) ** 2  # forward difference
        nz = r2 > 0
        r2n, dn = r2[nz], d[nz]
        gauss = np.exp(-4 * np.pi**2 * np.outer(_S_GRID**2, r2n))  # (s, freq)
        S = np.empty((len(_A_GRID), len(_S_GRID)))
        for i, a in enumerate(_A_GRID):
            S[i] = gauss @ (r2n ** (-a / 2) * dn)
        _TABLES["S"] = np.log(S)
        _TABLES["W"] = (gauss @ dn + 0.0) / (_TAB_N**2)  # white noise of unit variance
    return _TABLES["S"], _TABLES["W"]



def _grad_energy(g: np.ndarray) -> float:
    return float(np.mean(np.diff(g, axis=1) ** 2) + np.mean(np.diff(g, axis=0) ** 2))



_REBLUR = (0.0, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)



_T_GRID = np.linspace(0.0, 24.0, 481) ** 2  # candidate total blur variances



def _reblur_fit(g: np.ndarray, *, min_reblur: float = 0.0) -> dict[str, Any]:
    """Fit total blur variance t, spectral slope alpha and a white-noise level to E(s_r)."""
    logS, Wn = _tables()
    m = min(g.shape)
    sr = np.array([s for s in _REBLUR if min_reblur <= s <= max(m / 6.0, 1.0)])
    E = np.array([_grad_energy(_gblur(g, s)) for s in sr])
    if not np.all(E > 0):
        return {"ok": False}
    stot = np.sqrt(_T_GRID[:, None] + sr[None, :] ** 2)  # (t, r)
    W = np.interp(sr, _S_GRID, Wn)
    out: dict[float, tuple[float, float, float, float]] = {}
    profiles: dict[float, np.ndarray] = {}
    for ia, a in enumerate(_A_GRID):
        A = np.exp(np.interp(stot, _S_GRID, logS[ia]))  # (t, r)
        # weighted least squares on relative error: minimise sum((cA*A + cN*W)/E - 1)^2
        X1 = A / E
        X2 = np.broadcast_to(W / E, X1.shape)
        s11 = np.sum(X1 * X1, 1)
        s12 = np.sum(X1 * X2, 1)
        s22 = np.sum(X2 * X2, 1)
        b1 = np.sum(X1, 1)
        b2 = np.sum(X2, 1)
        det = s11 * s22 - s12**2
        with np.errstate(divide="ignore", invalid="ignore"):
            cA = (b1 * s22 - b2 * s12) / det
            cN = (b2 * s11 - b1 * s12) / det
        neg = ~(cN >= 0) | ~np.isfinite(cA)
        cA = np.where(neg, b1 / s11, cA)
        cN = np.where(neg, 0.0, cN)
        cA = np.maximum(cA, 0.0)
        res = np.sum((cA[:, None] * X1 + cN[:, None] * X2 - 1.0) ** 2, 1)
        j = int(np.argmin(res))
        out[float(a)] = (float(_T_GRID[j]), float(res[j]), float(cA[j]), float(cN[j]))
        profiles[float(a)] = res
    a0 = float(_ALPHA_PRIOR)
    t0, r0, _cA0, cN0 = out[a0]
    noise_var = cN0  # W is per unit variance, per pixel
    noise_energy = cN0 * W[0]
    best_alpha = min(out, key=lambda k: out[k][1])
    return {
        "ok": True,
        "t": t0,
        "residual": r0,
        "best_alpha": best_alpha,
        "best_residual": out[best_alpha][1],
        "t_by_alpha": {a: v[0] for a, v in out.items()},
        "noise_std": float(np.sqrt(max(noise_var, 0.0))),
        "noise_share": float(min(noise_energy / E[0], 1.0)),
        "energy": float(E[0]),
        "reblur_sigmas": sr.tolist(),
    }



def _sigma_from_t(t: float, s_cam: float) -> float:
    return float(np.sqrt(max(t - s_cam**2, 0.0)))



def _axis_grid(d: np.ndarray, n_px: int) -> dict[str, Any]:
    """Best grid for one axis' mean absolute difference profile ``d`` (length n_px - 1)."""
    L = len(d)
    total = float(d.sum())
    res = {"period": float("nan"), "excess": 0.0, "positions": np.zeros(0, int), "kind": ""}
    if L < 5 or total <= 0:
        return res
    cands: list[tuple[float, str, np.ndarray]] = []
    for p in range(2, L // 2 + 1):
        for o in range(p):
            pos = np.arange(o, L, p)
            if len(pos) >= 2:
                cands.append((float(p), "integer", pos))
    for n in range(3, n_px // 2 + 1):
        p = n_px / n
        if abs(p - round(p)) < 1e-9:
            continue
        pos = np.ceil(np.arange(1, n) * p - 1e-9).astype(int) - 1
        pos = pos[(pos >= 0) & (pos < L)]
        if len(pos) >= 2:
            cands.append((p, "fractional", pos))
    if not cands:
        return res
    scored = []
    for p, kind, pos in cands:
        conc = float(d[pos].sum()) / total
        chance = len(pos) / L
        exc = (conc - chance) / (1 - chance) if chance < 1 else 0.0
        scored.append((exc, p, kind, pos))
    best = max(s[0] for s in scored)
    near = [s for s in scored if s[0] >= 0.9 * best and s[0] >= best - 0.08]
    exc, p, kind, pos = max(near, key=lambda s: (s[1], s[0]))
    return {"period": p, "excess": float(exc), "positions": pos, "kind": kind}



def _grid_test(g: np.ndarray) -> dict[str, Any]:
    H, W = g.shape
    dx = np.abs(np.diff(g, axis=1)).mean(axis=0)
    dy = np.abs(np.diff(g, axis=0)).mean(axis=1)
    gx, gy = _axis_grid(dx, W), _axis_grid(dy, H)
    r2 = 0.0
    if len(gx["positions"]) and len(gy["positions"]):
        cx = np.zeros(W, int)
        cx[gx["positions"] + 1] = 1
        cy = np.zeros(H, int)
        cy[gy["positions"] + 1] = 1
        lab = (np.cumsum(cy)[:, None] * (cx.sum() + 1) + np.cumsum(cx)[None, :]).ravel()
        v = g.ravel()
        cnt = np.bincount(lab)
        means = np.bincount(lab, weights=v) / np.maximum(cnt, 1)
        sst = float(np.sum((v - v.mean()) ** 2))
        sse = float(np.sum((v - means[lab]) ** 2))
        r2 = 1.0 - sse / sst if sst > 0 else 0.0
    return {"x": gx, "y": gy, "r2": r2}



def _block_interval(ax: dict[str, Any], n_px: int) -> tuple[float, float]:
    p = ax["period"]
    if ax["kind"] == "fractional":
        n = round(n_px / p)
        return (n_px / (n + 1), n_px / n)
    return (p - 0.5, p + 0.5)



def _axis_spectrum(g: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.diff(g if axis == 1 else g.T, axis=1)  # prewhiten: flattens the 1/f fall-off
    n = a.shape[1]
    win = np.hanning(n)
    a = (a - a.mean(axis=1, keepdims=True)) * win
    nfft = 1 << int(np.ceil(np.log2(4 * n)))
    P = np.mean(np.abs(np.fft.rfft(a, nfft, axis=1)) ** 2, axis=0)
    f = np.fft.rfftfreq(nfft)
    return f, P



def _box_test(g: np.ndarray, sigma_total: float) -> dict[str, Any]:
    """Dip score of a box kernel of side k: log P(1.43/k) - log P(1/k), per axis."""
    H, W = g.shape
    out = {"k": float("nan"), "dip": -np.inf, "resolved": False, "ks": {}}
    kmax = int(min(H, W) / 3)
    if kmax < 3:
        return out
    k_eq = np.sqrt(12 * sigma_total**2 + 1)
    ks = [k for k in range(3, kmax + 1) if 0.5 * k_eq - 2 <= k <= 1.6 * k_eq + 3]
    if not ks:
        return out
    specs = [_axis_spectrum(g, 1), _axis_spectrum(g, 0)]
    best = (-np.inf, float("nan"), False)
    per_k: dict[int, float] = {}
    for k in ks:
        dips, above = [], []
        for f, P in specs:
            floor = float(np.median(P[f > 0.4])) + 1e-12
            null = float(np.interp(1.0 / k, f, P))
            lobe = float(np.mean(np.interp(np.linspace(1.3 / k, 1.55 / k, 5), f, P)))
            if 1.55 / k > 0.5:
                dips.append(-np.inf)
                above.append(False)
                continue
            dips.append(np.log((lobe + 1e-12) / (null + 1e-12)))
            above.append(lobe > 2 * floor)
        dip = float(min(dips))
        per_k[k] = dip
        if dip > best[0]:
            best = (dip, float(k), bool(all(above)))
    out.update(dip=best[0], k=best[1], resolved=best[2], ks=per_k)
    return out



def _edge_excess(g: np.ndarray, sigma: float) -> float:
    """How much sharper the strongest edges are than a Gaussian of ``sigma`` allows (>1 = sharper).

    For a step of height h blurred by sigma, the peak gradient is h / (sigma sqrt(2 pi)); the
    local range within +-3 sigma bounds h from above. Returns the 98th percentile of
    ``grad * sigma * sqrt(2 pi) / local range`` over the strongest-gradient pixels.
    """
    if sigma < 1.5:
        return 0.0
    gx = cv2.Sobel(g, cv2.CV_64F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_64F, 0, 1, ksize=3) / 8.0
    mag = np.hypot(gx, gy)
    r = int(np.ceil(3 * sigma))
    ker = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    g32 = g.astype(np.float32)
    rng = cv2.dilate(g32, ker) - cv2.erode(g32, ker)
    sel = mag >= np.quantile(mag, 0.98)
    if not np.any(sel):
        return 0.0
    ratio = mag[sel] * sigma * np.sqrt(2 * np.pi) / np.maximum(rng[sel], 4.0)
    return float(np.median(ratio))



def _immerkaer_std(g: np.ndarray) -> float:
    """Immerkaer (1996) fast noise std estimate."""
    if min(g.shape) < 3:
        return 0.0
    M = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    conv = cv2.filter2D(g, cv2.CV_64F, M)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.mean(np.abs(conv)) / 6.0)



def _lag1_corr(d: np.ndarray) -> float:
    d = d - d.mean()
    den = float(np.sum(d * d))
    if den <= 0 or d.shape[1] < 2:
        return 0.0
    return float(np.sum(d[:, 1:] * d[:, :-1]) / den)
