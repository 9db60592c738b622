"""Estimate what obfuscation a release applied, and how strong it is (issue 3).

For one image region (a face box, or the whole image) :func:`estimate_obfuscation` decides
between the families of :data:`auditkit.obfuscation.spec.METHODS` -- Gaussian blur, box blur,
pixelation (mosaic), solid mask, additive noise, nothing -- or ``unknown`` when no family
explains the pixels confidently. :func:`estimate_release` aggregates many regions into a
:class:`ReleaseObfuscation` (dominant method, strength with spread and interval, counts,
un-obfuscated regions = leaks, whole-frame vs region coverage, mixed releases), whose
:meth:`ReleaseObfuscation.to_dict` is the ``obfuscation`` section of ``results.json``.
:func:`localize_obfuscation` finds obfuscated regions in a full frame when no boxes exist.

How each family is recognised (all on the grey-level region, no reference needed):

* **mask** -- almost all pixels within a few grey levels of the median (JPEG ringing allowed).
* **pixelate** -- the horizontal and vertical difference profiles concentrate on a regular
  grid (period ``p``, phase ``o``; integer periods as drawn by ``deface`` and fractional
  ``width / n`` periods as produced by resize-based mosaics such as
  :func:`auditkit.obfuscation.spec.apply_obfuscation`), and the grid's cells are flat.
* **blur / none** -- re-blur analysis (in the spirit of Crete et al. 2007, "The blur effect:
  perception and estimation with a new no-reference perceptual blur metric"): the gradient
  energy ``E(s_r)`` of the region re-blurred with known Gaussian sigmas ``s_r`` is fitted by
  ``A * S(sqrt(t + s_r^2); alpha) + N * W(s_r)``, where ``S`` is the gradient energy of a
  ``1/f^alpha`` power spectrum blurred by a Gaussian (computed on the discrete frequency grid)
  and ``W`` that of white noise (quantisation, JPEG, sensor). ``t`` is the total blur variance;
  the applied sigma is ``sqrt(t - s_cam^2)``. The spectral slope prior is ``alpha = 2.6``
  (measured on unblurred AT&T faces); the reported interval spans ``alpha`` in [2.2, 3.0]
  and a camera blur ``s_cam`` in [0, 1] px.
* **box** vs Gaussian -- a box kernel of side ``k`` puts nulls in the 1-D row/column spectra at
  ``f = 1/k`` with a side lobe at ``f ~ 1.43/k``; a Gaussian decays monotonically. Where the
  side lobe sits below the noise floor the kernel shape is undetermined and the estimate
  stays ``blur`` with that said in the evidence.
* **noise** -- the white-noise term of the same fit dominates the gradient energy.
* **unknown** -- nothing above fits, or a blur fit is contradicted by edges far sharper than
  the fitted sigma allows (median filters, posterisation), or the fit residual is large.

Scores are heuristic evidence strengths in [0, 1], not calibrated probabilities; the tests
measure a confusion matrix on generated and real faces to show how far they can be trusted.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from auditkit.obfuscation.spec import METHODS, ObfuscationSpec, apply_obfuscation

__all__ = [
    "FAMILIES",
    "MIN_RELIABLE_SIZE",
    "ObfuscationEstimate",
    "RegionMap",
    "ReleaseObfuscation",
    "estimate_obfuscation",
    "estimate_release",
    "localize_obfuscation",
]

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


# --------------------------------------------------------------------------- results


@dataclass
class ObfuscationEstimate:
    """What one region shows.

    Attributes
    ----------
    method : str
        One of :data:`FAMILIES` (``none``, ``blur``, ``box``, ``pixelate``, ``mask``,
        ``noise``, ``unknown``).
    strength : float or None
        In the :class:`~auditkit.obfuscation.spec.ObfuscationSpec` unit of ``method``: blur sigma
        (px), box side (px), pixelate block (px), mask grey value, noise std (grey levels).
        ``None`` for ``none`` and ``unknown``.
    strength_rel : float or None
        ``strength`` divided by the region width (blur, box, pixelate); ``None`` otherwise.
    uncertainty : tuple of float or None
        ``(low, high)`` interval for ``strength`` (see the module docstring for what it spans).
    confidence : float
        Evidence strength of the chosen method in [0, 1] (heuristic, not a probability);
        capped at 0.3 for regions smaller than :data:`MIN_RELIABLE_SIZE`.
    scores : dict
        Evidence strength of every family in :data:`FAMILIES`.
    evidence : str
        A short human-readable reason.
    box : tuple or None
        ``(x, y, w, h)`` analysed, or ``None`` for the whole image.
    size : tuple of int
        ``(width, height)`` of the analysed region.
    details : dict
        Raw measurements (fitted sigma, grid periods, noise std, ...).
    """

    method: str
    strength: float | None
    strength_rel: float | None
    uncertainty: tuple[float, float] | None
    confidence: float
    scores: dict[str, float]
    evidence: str
    box: tuple[int, int, int, int] | None = None
    size: tuple[int, int] = (0, 0)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """``blur`` for Gaussian and box blur alike, otherwise :attr:`method`."""
        return "blur" if self.method in ("blur", "box") else self.method

    def as_spec(self) -> ObfuscationSpec:
        """The estimate as an :class:`~auditkit.obfuscation.spec.ObfuscationSpec`.

        Raises
        ------
        ValueError
            If the method is ``unknown``: there is nothing an attacker could re-apply.
        """
        if self.method == "unknown":
            raise ValueError(
                f"obfuscation of region {self.box!r} is unknown ({self.evidence}); "
                f"declare it explicitly, e.g. 'blur:sigma=6' (allowed methods: {', '.join(METHODS)})"
            )
        if self.method == "none":
            return ObfuscationSpec("none")
        return ObfuscationSpec(self.method, float(self.strength or 0.0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (numbers rounded to 4 significant places where float)."""
        return _jsonable(
            {
                "method": self.method,
                "strength": self.strength,
                "strength_param": METHODS.get(self.method, ("", 0))[0] or None,
                "strength_rel": self.strength_rel,
                "uncertainty": list(self.uncertainty) if self.uncertainty else None,
                "confidence": self.confidence,
                "scores": self.scores,
                "evidence": self.evidence,
                "box": list(self.box) if self.box is not None else None,
                "size": list(self.size),
            }
        )


# --------------------------------------------------------------------------- helpers


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return round(f, 4) if np.isfinite(f) else None
    return obj


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
    x, y, w, h = (int(round(float(v))) for v in box)
    H, W = shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {tuple(box)!r} does not overlap the {W}x{H} image")
    return x0, y0, x1 - x0, y1 - y0


def _gblur(g: np.ndarray, s: float) -> np.ndarray:
    if s <= 0:
        return g
    k = int(2 * np.ceil(3 * s) + 1)
    return cv2.GaussianBlur(g, (k, k), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REFLECT)


# -- the re-blur model tables: gradient energy of a 1/f^alpha spectrum after Gaussian blur --

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


# -- pixelation: a regular grid in the difference profiles --------------------------------


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


# -- box kernel: nulls of the 1-D spectra -----------------------------------------------


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


# --------------------------------------------------------------------------- estimator


def estimate_obfuscation(
    image: np.ndarray,
    box: Sequence[float] | None = None,
    *,
    reference: np.ndarray | None = None,
) -> ObfuscationEstimate:
    """Decide what obfuscation a region shows and estimate its strength.

    Parameters
    ----------
    image : ndarray
        uint8 (or float in 0-255) image, HxW or HxWxC.
    box : (x, y, w, h), optional
        Region in pixels (clipped to the image); ``None`` analyses the whole image.
    reference : ndarray, optional
        The clear version of the same image (calibration). When given, the strength is fitted
        directly: the parameter minimising the error between
        ``apply_obfuscation(reference, spec, box)`` and ``image`` over the region.

    Returns
    -------
    ObfuscationEstimate

    Examples
    --------
    >>> import numpy as np
    >>> from auditkit.obfuscation.spec import apply_obfuscation, parse_spec
    >>> rng = np.random.default_rng(0)
    >>> img = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    >>> est = estimate_obfuscation(apply_obfuscation(img, parse_spec("pixelate:block=8")))
    >>> est.method, est.strength
    ('pixelate', 8.0)
    """
    arr = np.asarray(image)
    if arr.size == 0:
        raise ValueError(f"image is empty (shape {arr.shape})")
    bx = _clip_box(box, arr.shape) if box is not None else None
    if bx is not None:
        # crop before converting: only the region's pixels are analysed (no margin is used), and
        # converting a whole 1080p frame per region costs ~10x more than the region itself
        x, y, w, h = bx
        g = _to_gray(arr[y : y + h, x : x + w])
    else:
        g = _to_gray(arr)
    h, w = g.shape
    if reference is not None:
        return _fit_with_reference(arr, np.asarray(reference), bx, g)
    est = _estimate_gray(g)
    est.box = bx
    est.size = (w, h)
    if min(w, h) < MIN_RELIABLE_SIZE:
        est.confidence = min(est.confidence, 0.3)
        est.evidence += f"; region {w}x{h} px is below {MIN_RELIABLE_SIZE} px, estimate unreliable"
        est.details["tiny"] = True
    return est


def _estimate_gray(g: np.ndarray) -> ObfuscationEstimate:
    h, w = g.shape
    scores = {k: 0.0 for k in FAMILIES}
    details: dict[str, Any] = {}

    # 1. solid mask
    med = float(np.median(g))
    frac = float(np.mean(np.abs(g - med) <= _MASK_TOL))
    details["mask_fraction"] = frac
    scores["mask"] = float(np.clip((frac - 0.5) / (_MASK_FRAC - 0.5), 0, 1)) if frac > 0.5 else 0.0
    if frac >= _MASK_FRAC:
        return ObfuscationEstimate(
            "mask", round(med, 1), None, (float(np.quantile(g, 0.05)), float(np.quantile(g, 0.95))),
            confidence=float(np.clip(0.5 + (frac - _MASK_FRAC) / (1 - _MASK_FRAC) * 0.5, 0.5, 1.0)),
            scores=scores,
            evidence=f"{frac:.0%} of pixels within {_MASK_TOL:g} grey levels of {med:.0f}: a solid fill",
            size=(w, h), details=details,
        )

    # 2. pixelation grid
    grid = _grid_test(g)
    ex, ey = grid["x"]["excess"], grid["y"]["excess"]
    details.update(grid_period_x=grid["x"]["period"], grid_period_y=grid["y"]["period"],
                   grid_excess_x=ex, grid_excess_y=ey, grid_r2=grid["r2"])
    pix_score = float(np.clip(min(ex, ey), 0, 1) * np.clip(grid["r2"], 0, 1))
    scores["pixelate"] = pix_score
    if min(ex, ey) >= _GRID_EXCESS and grid["r2"] >= _GRID_R2:
        ix = _block_interval(grid["x"], w)
        iy = _block_interval(grid["y"], h)
        lo, hi = max(ix[0], iy[0]), min(ix[1], iy[1])
        if lo > hi:  # x and y disagree: report the union, centred on the mean
            lo, hi = min(ix[0], iy[0]), max(ix[1], iy[1])
        mean_p = 0.5 * (grid["x"]["period"] + grid["y"]["period"])
        ints = [k for k in range(int(np.floor(lo)), int(np.ceil(hi)) + 1) if lo - 1e-9 <= k <= hi + 1e-9]
        # apply_obfuscation's fractional cells are (w/(n+1), w/n]: exclude the open end
        strength = float(min(ints, key=lambda k: abs(k - mean_p))) if ints else round(mean_p, 2)
        conf = float(np.clip(pix_score, 0.5, 1.0))
        return ObfuscationEstimate(
            "pixelate", strength, strength / w, (round(lo, 2), round(hi, 2)), conf, scores,
            evidence=(f"flat cells on a regular grid (period {grid['x']['period']:.2f} x "
                      f"{grid['y']['period']:.2f} px; {min(ex, ey):.0%} of difference energy on the grid "
                      f"beyond chance; cells explain {grid['r2']:.0%} of variance)"),
            size=(w, h), details=details,
        )

    # 3. blur / noise / none from the re-blur fit
    fit = _reblur_fit(g)
    if not fit.get("ok"):
        scores["unknown"] = 1.0
        return ObfuscationEstimate("unknown", None, None, None, 0.5, scores,
                                   "region has no gradient energy but is not a uniform fill",
                                   size=(w, h), details=details)
    t = fit["t"]
    sigma = _sigma_from_t(t, _S_CAM)
    ts = list(fit["t_by_alpha"].items())
    t_lo = min(v for a, v in ts if _ALPHA_RANGE[0] - 1e-9 <= a <= _ALPHA_RANGE[1] + 1e-9)
    t_hi = max(v for a, v in ts if _ALPHA_RANGE[0] - 1e-9 <= a <= _ALPHA_RANGE[1] + 1e-9)
    s_lo = _sigma_from_t(t_lo, _S_CAM_RANGE[1])
    s_hi = _sigma_from_t(t_hi, _S_CAM_RANGE[0])
    details.update(sigma_total=float(np.sqrt(t)), sigma=sigma, sigma_interval=(s_lo, s_hi),
                   noise_std=fit["noise_std"], noise_share=fit["noise_share"],
                   fit_residual=fit["residual"], best_alpha=fit["best_alpha"])

    # noise
    std = _immerkaer_std(g)
    details["immerkaer_std"] = std
    noise_score = float(np.clip(fit["noise_share"] / _NOISE_SHARE, 0, 1)
                        * np.clip((std - 0.5 * _NOISE_STD) / (0.5 * _NOISE_STD), 0, 1))
    scores["noise"] = noise_score
    if std >= _NOISE_STD and fit["noise_share"] >= _NOISE_SHARE:
        return ObfuscationEstimate(
            "noise", round(std, 2), None, (round(0.8 * std, 2), round(1.25 * std, 2)),
            float(np.clip(noise_score, 0.5, 1.0)), scores,
            evidence=(f"white noise of std ~{std:.1f} grey levels carries "
                      f"{fit['noise_share']:.0%} of the gradient energy"),
            size=(w, h), details=details,
        )

    # blur vs none
    blur_score = float(np.clip((sigma - 0.5 * _NONE_SIGMA) / (1.5 * _NONE_SIGMA), 0, 1))
    scores["blur"] = blur_score
    scores["none"] = float(np.clip(1.0 - blur_score, 0, 1) * (1 - noise_score) * (1 - pix_score))
    bad_fit = fit["best_residual"] > 0.25  # 99th pct of clear AT&T faces: 0.17
    details["edge_excess"] = edge = _edge_excess(g, sigma) if sigma >= _NONE_SIGMA else 0.0
    if sigma < _NONE_SIGMA:
        if bad_fit:
            scores["unknown"] = 0.6
            return ObfuscationEstimate(
                "unknown", None, None, None, 0.4, scores,
                evidence=f"sharp (fitted sigma {sigma:.2f} px) but the natural-image model fits poorly "
                         f"(residual {fit['residual']:.3f})",
                size=(w, h), details=details)
        return ObfuscationEstimate(
            "none", None, None, None, float(np.clip(scores["none"], 0.3, 1.0)), scores,
            evidence=(f"natural sharpness: fitted blur sigma {sigma:.2f} px "
                      f"(interval {s_lo:.2f}-{s_hi:.2f}) is below {_NONE_SIGMA:g} px"),
            size=(w, h), details=details,
        )
    if edge > 1.6 or bad_fit:
        why = (f"edges {edge:.1f}x sharper than a blur of sigma {sigma:.1f} px allows"
               if edge > 1.6 else f"blur model fits poorly (residual {fit['residual']:.3f})")
        scores["unknown"] = 0.7
        return ObfuscationEstimate(
            "unknown", None, None, None, 0.5, scores,
            evidence=f"smoothed but not like a Gaussian/box blur: {why} (median filter? posterisation?)",
            size=(w, h), details=details)

    box = _box_test(g, float(np.sqrt(t)))
    details.update(box_k=box["k"], box_dip=box["dip"], box_resolved=box["resolved"])
    if box["resolved"] and box["dip"] > 1.2:
        k = box["k"]
        scores["box"] = float(np.clip(box["dip"] / 3.0, 0, 1))
        return ObfuscationEstimate(
            "box", k, k / w, (k - 1, k + 1), float(np.clip(0.4 + 0.2 * box["dip"], 0.5, 1.0)), scores,
            evidence=(f"box kernel: spectral nulls at 1/{k:g} px^-1 with side lobes "
                      f"{np.exp(box['dip']):.1f}x stronger; equivalent sigma {sigma:.1f} px"),
            size=(w, h), details=details,
        )
    shape_note = ("" if box["resolved"] or not np.isfinite(box["dip"]) else
                  "; kernel shape (Gaussian or box) not resolvable at this size/strength")
    if not box["resolved"] and np.isfinite(box["dip"]):
        scores["box"] = 0.5 * blur_score
    conf = float(np.clip(blur_score * (1 - 0.5 * noise_score), 0.3, 1.0))
    return ObfuscationEstimate(
        "blur", round(sigma, 2), sigma / w, (round(s_lo, 2), round(s_hi, 2)), conf, scores,
        evidence=(f"re-blur fit: Gaussian sigma {sigma:.2f} px ({sigma / w:.1%} of width), "
                  f"interval {s_lo:.2f}-{s_hi:.2f}{shape_note}"),
        size=(w, h), details=details,
    )


def _immerkaer_std(g: np.ndarray) -> float:
    """Immerkaer (1996) fast noise std estimate."""
    if min(g.shape) < 3:
        return 0.0
    M = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    conv = cv2.filter2D(g, cv2.CV_64F, M)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.mean(np.abs(conv)) / 6.0)


# -- calibration with a clear reference --------------------------------------------------


def _fit_with_reference(arr: np.ndarray, ref: np.ndarray, bx, g: np.ndarray) -> ObfuscationEstimate:
    if ref.shape != arr.shape:
        raise ValueError(f"reference shape {ref.shape} differs from image shape {arr.shape}")
    h, w = g.shape
    x, y = (bx[0], bx[1]) if bx is not None else (0, 0)
    refg = ref if ref.dtype == np.uint8 else np.clip(ref, 0, 255).astype(np.uint8)

    def err(spec: ObfuscationSpec) -> float:
        out = _to_gray(apply_obfuscation(refg, spec, bx))[y : y + h, x : x + w]
        return float(np.sqrt(np.mean((out - g) ** 2)))

    cands: dict[str, list[tuple[float, float]]] = {}
    cands["none"] = [(0.0, err(ObfuscationSpec("none")))]
    sig = np.concatenate([np.arange(0.25, 3.0, 0.25), np.arange(3.0, 24.5, 0.5)])
    cands["blur"] = [(float(s), err(ObfuscationSpec("blur", float(s)))) for s in sig]
    cands["box"] = [(float(k), err(ObfuscationSpec("box", float(k)))) for k in range(2, max(3, min(h, w)))]
    cands["pixelate"] = [(float(b), err(ObfuscationSpec("pixelate", float(b))))
                         for b in range(2, max(3, min(h, w) // 2 + 1))]
    v = float(np.median(g))
    cands["mask"] = [(round(v, 1), err(ObfuscationSpec("mask", round(v, 1))))]
    diff = g - _to_gray(refg)[y : y + h, x : x + w]
    cands["noise"] = [(float(np.std(diff)), float(np.std(diff)))]  # residual is the noise itself
    best = {m: min(c, key=lambda t: t[1]) for m, c in cands.items()}
    # a noise explanation only counts when the residual is white (no structure removed)
    corr = _lag1_corr(diff)
    if corr > 0.2:
        best.pop("noise")
    method = min(best, key=lambda m: best[m][1])
    strength, rmse = best[method]
    ranked = sorted(best.values(), key=lambda t: t[1])
    second = ranked[1][1] if len(ranked) > 1 else np.inf
    scores = {k: 0.0 for k in FAMILIES}
    for m, (_, e) in best.items():
        scores[m] = float(1.0 / (1.0 + e))
    # interval: parameters within 10% (or 0.5 grey levels) of the best error
    tol = max(0.1 * rmse, 0.5)
    near = [s for s, e in cands.get(method, []) if e <= rmse + tol]
    unc = (min(near), max(near)) if near and method not in ("none", "noise") else (
        (0.8 * strength, 1.25 * strength) if method == "noise" else None)
    if rmse > 8.0:
        return ObfuscationEstimate(
            "unknown", None, None, None, 0.5, scores,
            f"no method reproduces the image from the reference (best {method} rmse {rmse:.1f})",
            box=bx, size=(w, h), details={"reference_rmse": rmse, "best": method})
    conf = float(np.clip(1.0 - rmse / max(second, 1e-9), 0.0, 1.0))
    return ObfuscationEstimate(
        method, None if method == "none" else strength,
        strength / w if method in ("blur", "box", "pixelate") else None,
        unc, conf, scores,
        f"direct fit against the clear reference: {method} {strength:g} (rmse {rmse:.2f} grey levels)",
        box=bx, size=(w, h), details={"reference_rmse": rmse, "lag1_corr": corr},
    )


def _lag1_corr(d: np.ndarray) -> float:
    d = d - d.mean()
    den = float(np.sum(d * d))
    if den <= 0 or d.shape[1] < 2:
        return 0.0
    return float(np.sum(d[:, 1:] * d[:, :-1]) / den)


# --------------------------------------------------------------------------- localisation


@dataclass
class RegionMap:
    """Obfuscated regions found in a full frame without boxes.

    Attributes
    ----------
    labels : ndarray of int
        HxW map: 0 = not flagged, ``i`` = pixel of ``regions[i - 1]``.
    regions : list of ObfuscationEstimate
        One estimate per flagged region (its bounding box in ``box``), none of them ``none``.
    candidate : ndarray of bool
        HxW map of pixels that looked flat or smooth before the per-region check.
    """

    labels: np.ndarray
    regions: list[ObfuscationEstimate]
    candidate: np.ndarray

    def family_map(self) -> np.ndarray:
        """HxW array of family names ('' where not flagged)."""
        names = np.array([""] + [r.family for r in self.regions], dtype=object)
        return names[self.labels]


def localize_obfuscation(
    image: np.ndarray,
    *,
    window: int = 9,
    min_area: int = 150,
    min_confidence: float = 0.5,
) -> RegionMap:
    """Find locally blurred, pixelated or masked regions in a full frame.

    Pixels are candidates where the local content is flat (local std below 2 grey levels:
    masks, mosaic cells) or smooth (little of the local gradient energy is at the finest scale,
    although the window has contrast: blur). Candidate components of at least ``min_area``
    pixels are then checked with :func:`estimate_obfuscation` on their bounding box; those
    estimated as an obfuscation with at least ``min_confidence`` are kept. Natural flat areas
    (sky, walls) can pass the first stage; the second stage rejects those that look natural,
    but smooth natural surfaces may still be reported as blur -- check the region list.

    Parameters
    ----------
    image : ndarray
        HxW or HxWxC image.
    window : int
        Side of the local statistics window in pixels.
    min_area : int
        Smallest candidate region, in pixels.
    min_confidence : float
        Smallest confidence of a kept region.
    """
    if window < 3:
        raise ValueError(f"window must be >= 3 pixels, got {window!r}")
    g = _to_gray(image)
    g32 = g.astype(np.float32)
    k = (window, window)
    mean = cv2.blur(g32, k)
    var = np.maximum(cv2.blur(g32 * g32, k) - mean * mean, 0)
    std = np.sqrt(var)
    gx, gy = np.diff(g32, axis=1, append=g32[:, -1:]), np.diff(g32, axis=0, append=g32[-1:, :])
    e_all = cv2.blur(gx * gx + gy * gy, k)
    fine = g32 - cv2.GaussianBlur(g32, (0, 0), 1.5)
    fx, fy = np.diff(fine, axis=1, append=fine[:, -1:]), np.diff(fine, axis=0, append=fine[-1:, :])
    e_fine = cv2.blur(fx * fx + fy * fy, k)
    frac_fine = e_fine / np.maximum(e_all, 1e-6)
    flat = std < 2.0
    smooth = (std >= 2.0) & (frac_fine < 0.08)
    cand = (flat | smooth).astype(np.uint8)
    cand = cv2.morphologyEx(cand, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(cand)
    labels = np.zeros(g.shape, np.int32)
    regions: list[ObfuscationEstimate] = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_area:
            continue
        est = estimate_obfuscation(image, (x, y, w, h))
        if est.method in ("none", "unknown") or est.confidence < min_confidence:
            continue
        regions.append(est)
        labels[lab == i] = len(regions)
    return RegionMap(labels=labels, regions=regions, candidate=cand.astype(bool))


# --------------------------------------------------------------------------- release


@dataclass
class ReleaseObfuscation:
    """What a release applied, aggregated over its faces/regions.

    Attributes
    ----------
    method : str
        Dominant obfuscation family among obfuscated regions, ``mixed`` when a second family
        holds at least ``mixed_share`` of them, ``none`` when no region is obfuscated,
        ``unknown`` when none could be identified.
    strength : float or None
        Median strength of the regions estimated as ``method`` (its ObfuscationSpec unit).
    strength_rel : float or None
        Median strength relative to region width.
    uncertainty : tuple or None
        ``(median of per-region lower bounds, median of per-region upper bounds)``.
    spread : tuple or None
        ``(25th, 75th)`` percentile of the per-region point estimates.
    counts : dict
        Regions per method (all of :data:`FAMILIES`).
    coverage : str
        ``regions`` (obfuscated inside boxes, clear outside), ``whole_frame``, ``none`` or
        ``unknown``.
    leaks : list of dict
        Every region estimated as un-obfuscated: image, box, confidence, evidence.
    unknown : list of dict
        Every region whose obfuscation could not be identified.
    notes : list of str
    estimates : list of ObfuscationEstimate
    """

    method: str
    strength: float | None
    strength_rel: float | None
    uncertainty: tuple[float, float] | None
    spread: tuple[float, float] | None
    counts: dict[str, int]
    coverage: str
    leaks: list[dict[str, Any]]
    unknown: list[dict[str, Any]]
    notes: list[str]
    n_regions: int
    n_images: int
    mixed: bool = False
    inside_outside: dict[str, Any] = field(default_factory=dict)
    estimates: list[ObfuscationEstimate] = field(default_factory=list, repr=False)

    def as_spec(self) -> ObfuscationSpec:
        """The dominant obfuscation as a spec (raises for ``mixed``/``unknown``)."""
        if self.method in ("mixed", "unknown"):
            raise ValueError(
                f"release obfuscation is {self.method!r} ({self.counts}); declare one explicitly, "
                f"e.g. 'blur:sigma=6' (allowed methods: {', '.join(METHODS)})")
        if self.method == "none":
            return ObfuscationSpec("none")
        return ObfuscationSpec(self.method, float(self.strength or 0.0))

    def to_dict(self) -> dict[str, Any]:
        """The ``obfuscation`` section of ``results.json``."""
        param = METHODS.get(self.method, ("", 0.0))[0] or None
        return _jsonable({
            "method": self.method,
            "strength": self.strength,
            "strength_param": param,
            "strength_rel": self.strength_rel,
            "uncertainty": list(self.uncertainty) if self.uncertainty else None,
            "spread": list(self.spread) if self.spread else None,
            "counts": self.counts,
            "n_regions": self.n_regions,
            "n_images": self.n_images,
            "coverage": self.coverage,
            "mixed": self.mixed,
            "leaks": self.leaks,
            "unknown": self.unknown,
            "inside_outside": self.inside_outside,
            "notes": self.notes,
        })


def _outside_tiles(shape: tuple[int, int], boxes: list[tuple[int, int, int, int]], side: int,
                   max_tiles: int = 6) -> list[tuple[int, int, int, int]]:
    H, W = shape
    occ = np.zeros((H, W), bool)
    for x, y, w, h in boxes:
        m = side // 4
        occ[max(0, y - m): y + h + m, max(0, x - m): x + w + m] = True
    tiles = []
    for y in range(0, H - side + 1, side):
        for x in range(0, W - side + 1, side):
            if not occ[y: y + side, x: x + side].any():
                tiles.append((x, y, side, side))
    if len(tiles) > max_tiles:
        idx = np.linspace(0, len(tiles) - 1, max_tiles).round().astype(int)
        tiles = [tiles[i] for i in idx]
    return tiles


def estimate_release(
    images_with_boxes: Iterable[tuple],
    *,
    min_confidence: float = 0.5,
    mixed_share: float = 0.2,
    check_outside: bool = True,
) -> ReleaseObfuscation:
    """Estimate the obfuscation of a whole release.

    Parameters
    ----------
    images_with_boxes : iterable of tuples
        ``(image, boxes)`` or ``(image, boxes, label)``; ``boxes`` is a list of ``(x, y, w, h)``
        face boxes, or ``None``/empty to search the full frame with
        :func:`localize_obfuscation` (and to estimate the whole frame).
    min_confidence : float
        Regions below this confidence are counted but do not decide the dominant method. The
        dominant family (Gaussian and box blur counted together) must also hold at least half of
        all regions, unknown and clear ones included; otherwise the release method is ``none``
        when at least half the regions show no obfuscation, else ``unknown``, with a note.
    mixed_share : float
        A second obfuscation family holding at least this share of confident obfuscated
        regions makes the release ``mixed``.
    check_outside : bool
        With boxes, also estimate tiles outside the boxes to tell region-only obfuscation from
        whole-frame obfuscation.
    """
    if not 0 < mixed_share <= 0.5:
        raise ValueError(f"mixed_share must be in (0, 0.5], got {mixed_share!r}")
    estimates: list[ObfuscationEstimate] = []
    owners: list[str] = []
    inside_fam: list[str] = []
    outside_fam: list[str] = []
    in_sig: list[float] = []
    out_sig: list[float] = []
    notes: list[str] = []
    n_images = 0
    full_frame_hits = 0
    for item in images_with_boxes:
        if len(item) not in (2, 3):
            raise ValueError(f"each item must be (image, boxes) or (image, boxes, label), got {len(item)} values")
        image, boxes = item[0], item[1]
        label = str(item[2]) if len(item) == 3 else f"image {n_images}"
        n_images += 1
        arr = np.asarray(image)
        if boxes:
            clipped = []
            for b in boxes:
                est = estimate_obfuscation(arr, b)
                estimates.append(est)
                owners.append(label)
                clipped.append(est.box)
                inside_fam.append(est.family)
                if "sigma_total" in est.details:
                    in_sig.append(est.details["sigma_total"])
            if check_outside:
                sides = [min(b[2], b[3]) for b in clipped]
                side = int(np.clip(np.median(sides) if sides else 64, 32, 96))
                for t in _outside_tiles(arr.shape[:2], clipped, side):
                    o = estimate_obfuscation(arr, t)
                    outside_fam.append(o.family)
                    if "sigma_total" in o.details:
                        out_sig.append(o.details["sigma_total"])
        else:
            whole = estimate_obfuscation(arr)
            rmap = localize_obfuscation(arr, min_confidence=min_confidence)
            if rmap.regions and whole.family in ("none", "unknown"):
                for r in rmap.regions:
                    estimates.append(r)
                    owners.append(label)
                    inside_fam.append(r.family)
                outside_fam.append("none")
            else:
                estimates.append(whole)
                owners.append(label)
                if whole.family not in ("none", "unknown"):
                    full_frame_hits += 1
    counts = {k: 0 for k in FAMILIES}
    for e in estimates:
        counts[e.method] += 1
    leaks = [{"image": o, "box": list(e.box) if e.box else None, "confidence": round(e.confidence, 3),
              "evidence": e.evidence} for e, o in zip(estimates, owners) if e.method == "none"]
    unknown = [{"image": o, "box": list(e.box) if e.box else None, "evidence": e.evidence}
               for e, o in zip(estimates, owners) if e.method == "unknown"]
    obf = [e for e in estimates if e.method not in ("none", "unknown") and e.confidence >= min_confidence]
    low = sum(1 for e in estimates if e.method not in ("none", "unknown") and e.confidence < min_confidence)
    if low:
        notes.append(f"{low} region(s) estimated with confidence below {min_confidence:g} did not decide the method")
    tiny = sum(1 for e in estimates if e.details.get("tiny"))
    if tiny:
        notes.append(f"{tiny} region(s) smaller than {MIN_RELIABLE_SIZE} px: estimates unreliable")
    fam_counts = Counter(e.method for e in obf)
    mixed = False
    if not estimates:
        method = "unknown"
        notes.append("no regions to analyse")
    elif not obf:
        method = "none" if counts["none"] >= counts["unknown"] else "unknown"
    else:
        ranked = fam_counts.most_common()
        method = ranked[0][0]
        # Gaussian and box blur are one family for the mixed test
        fam2 = Counter(("blur" if m in ("blur", "box") else m) for m in fam_counts.elements())
        if len(fam2) > 1 and fam2.most_common()[1][1] >= mixed_share * len(obf):
            mixed = True
            notes.append("mixed release: " + ", ".join(f"{m} {c}" for m, c in fam2.most_common()))
            method = "mixed"
        else:
            # the winner must cover at least half of ALL regions (unknown and clear ones included),
            # else a few confident regions would speak for a release whose other regions say nothing
            top_fam = "blur" if method in ("blur", "box") else method
            held = fam2[top_fam]
            if held < 0.5 * len(estimates):
                notes.append(f"the most common method, {method}, covers only {held} of {len(estimates)} regions "
                             f"({counts['unknown']} unknown, {counts['none']} without obfuscation): "
                             "release method not decided")
                method = "none" if counts["none"] >= 0.5 * len(estimates) else "unknown"
    strength = strength_rel = None
    unc = spread = None
    if method not in ("mixed", "none", "unknown"):
        sel = [e for e in obf if e.method == method and e.strength is not None]
        vals = np.array([e.strength for e in sel], float)
        strength = float(np.median(vals))
        rel = [e.strength_rel for e in sel if e.strength_rel is not None]
        strength_rel = float(np.median(rel)) if rel else None
        spread = (float(np.quantile(vals, 0.25)), float(np.quantile(vals, 0.75)))
        bounds = [e.uncertainty for e in sel if e.uncertainty is not None]
        if bounds:
            unc = (float(np.median([b[0] for b in bounds])), float(np.median([b[1] for b in bounds])))
    if leaks:
        notes.append(f"{len(leaks)} region(s) show no obfuscation (possible leaks; listed)")
    # coverage
    def majority(f: list[str]) -> str | None:
        return Counter(f).most_common(1)[0][0] if f else None
    fin, fout = majority(inside_fam), majority(outside_fam)
    if full_frame_hits and not inside_fam:
        coverage = "whole_frame"
    elif fin is None:
        coverage = "unknown" if method == "unknown" else "none"
    elif fin in ("none",):
        coverage = "none"
    elif fout is None:
        coverage = "unknown"
        notes.append("no area outside the boxes to compare: coverage unknown")
    elif fout == "none":
        coverage = "regions"
    elif fout == fin:
        coverage = "whole_frame"
    else:
        coverage = "unknown"
    io = {"inside": dict(Counter(inside_fam)), "outside": dict(Counter(outside_fam)),
          "inside_sigma_total_median": float(np.median(in_sig)) if in_sig else None,
          "outside_sigma_total_median": float(np.median(out_sig)) if out_sig else None}
    return ReleaseObfuscation(
        method=method, strength=strength, strength_rel=strength_rel, uncertainty=unc, spread=spread,
        counts=counts, coverage=coverage, leaks=leaks, unknown=unknown, notes=notes,
        n_regions=len(estimates), n_images=n_images, mixed=mixed, inside_outside=io,
        estimates=estimates,
    )
