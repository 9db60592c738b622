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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..result import to_jsonable
from .signals import (
    _ALPHA_RANGE,
    _GRID_EXCESS,
    _GRID_R2,
    _MASK_FRAC,
    _MASK_TOL,
    _NOISE_SHARE,
    _NOISE_STD,
    _NONE_SIGMA,
    _S_CAM,
    _S_CAM_RANGE,
    FAMILIES,
    MIN_RELIABLE_SIZE,
    _block_interval,
    _box_test,
    _clip_box,
    _edge_excess,
    _grid_test,
    _immerkaer_std,
    _lag1_corr,
    _reblur_fit,
    _sigma_from_t,
    _to_gray,
)
from .spec import METHODS, ObfuscationSpec, apply_obfuscation

__all__ = [
    "FAMILIES",
    "MIN_RELIABLE_SIZE",
    "ObfuscationEstimate",
    "estimate_obfuscation",
]



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
        return _jsonable4(
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
    """Long: the estimator's decision sequence (mask, pixel grid, box kernel, noise, blur) in the order the module docstring gives; each test is its own function."""
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


def _jsonable4(obj: Any) -> Any:
    """JSON-safe, floats to 4 decimals (estimates are not more precise than that)."""
    return to_jsonable(obj, digits=4)
