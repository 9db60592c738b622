"""Calibrate the release's strength estimate on obfuscations applied to the clear gallery (issue 13).

The per-region strength estimator (:mod:`auditkit.obfuscation.estimate`) is biased in ways that
depend on the faces: on 350-px LFW crops blurred with sigma 8 it reads about 10, on 92x112 AT&T
faces blurred with sigma 6 about 5.2, and its model-based interval (spectral slope, camera blur)
misses the truth. The auditor holds clear images like the release's own (the gallery), so the
estimator can be run on obfuscations it applies itself, at known strengths, on those images —
a parametric bootstrap, label-free (no release label is read, and the release is only
summarised by its estimate):

1. a seeded sample of clear gallery images is obfuscated with the estimated family at each
   strength of a grid around the release's estimate (the whole frame or the face box, as the
   release's coverage says), and each is estimated in the region the release was estimated in
   (the face box, or the whole image where the release faces were not detected);
2. for each strength ``s``, the distribution of the *release-level* statistic (the median over
   as many regions as the release had, resampled from the calibration estimates; at most as many
   as there are calibration images, so the band is never narrower than the sample supports) gives
   a central 95% band;
3. the interval is every grid strength whose band contains the release's estimate (a Neyman
   confidence set), widened to the next grid points; the calibrated point is the strength
   whose median estimate equals the release's (interpolated on the grid).

The raw estimate and its model interval stay in ``results.json`` (``calibration``). Where the
release obfuscated faces in their boxes, each calibration image carries several release regions,
their size in pixels kept (:mod:`.calibration_regions`). No interval is given when the release's
reading lies outside every strength's reading (a guess is not an interval); a release read as
not obfuscated is checked instead (:mod:`.none_limit`: small faces can hide a blur).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .calibration_regions import (
    N_IMAGES,
    REGIONS_PER_IMAGE,
    _release_regions,
    calibration_images,
    map_region,
    region_crops,
)
from .estimate import estimate_obfuscation
from .spec import ObfuscationSpec, apply_obfuscation

__all__ = ["CALIBRATED", "calibrate_release_estimate", "calibrate_strength", "map_region", "strength_grid"]

#: families whose strength is calibrated (mask has no strength worth it; noise is not re-estimated)
CALIBRATED = ("blur", "box", "pixelate")
#: bootstrap draws (the calibration images and regions: :mod:`.calibration_regions`)
N_BOOT = 400
LEVEL = 0.95


def strength_grid(method: str, observed: float, max_side: int) -> list[float]:
    """Strengths tried: around the estimate for the blurs (x0.5 to x1.6), and the usual block
    sizes for pixelation (a grid finder can lock onto a fraction of the true period, so the
    grid is not centred on the estimate), at most a third of the region's side -- or 1.5 times
    the estimate when that is larger: on a 16-px face a block of 8 leaves two cells, and a grid
    stopping at 5 would put the truth outside every interval it can give."""
    if method == "pixelate":
        blocks = [2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 32]
        return [float(b) for b in blocks if b <= max(2, max_side // 3, 1.5 * observed)]
    factors = (0.5, 0.6, 0.7, 0.78, 0.86, 0.93, 1.0, 1.08, 1.17, 1.27, 1.4, 1.6)
    return sorted({round(max(0.3, observed * f), 3) for f in factors})


def _beyond(method: str, observed: float, grid: list[float]) -> list[float]:
    """Strengths above ``grid``, tried in order when no grid strength reads as high as the release."""
    if method == "pixelate":
        return [float(b) for b in (6, 8, 10, 12, 14, 16, 20, 24, 32, 40, 48) if b > max(grid)]
    return [round(observed * f, 3) for f in (1.8, 2.0, 2.3, 2.6, 3.0) if observed * f > max(grid)]


def _median_band(vals: np.ndarray, n: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """Median of ``vals`` and the central :data:`LEVEL` band of the median of ``n`` draws."""
    draws = rng.choice(vals, size=(N_BOOT, n), replace=True)
    meds = np.median(draws, axis=1)
    a = (1 - LEVEL) / 2
    return float(np.median(vals)), float(np.quantile(meds, a)), float(np.quantile(meds, 1 - a))


def calibrate_strength(images: Sequence[tuple[np.ndarray, Any]], method: str,
                       observed: float, n_regions: int, *, frame: bool, seed: int = 0) -> dict[str, Any] | None:
    """The calibrated strength and interval for a release estimated as ``method`` at ``observed``
    from ``n_regions`` regions.

    ``images``: clear images like the release's, each with the region to estimate in (``None``:
    the whole image) or a list of regions (each obfuscated and estimated on its own; with
    ``frame`` false the image may instead be the list of the regions' clear crops); ``frame``:
    the release obfuscated whole frames (else the region only). The band is that of the median
    over at most as many regions as there are *images* (regions of one image are not
    independent), so more regions per image widen the sample, never narrow the band.
    Returns None when the family is not calibrated or nothing could be estimated.

    Long: one loop over grid strengths and images, then the band inversion; kept together so the
    construction reads in one place.
    """
    if method not in CALIBRATED or observed is None or not images:
        return None
    rng = np.random.default_rng(seed)
    if len(images) > N_IMAGES:
        pick = sorted(rng.choice(len(images), size=N_IMAGES, replace=False).tolist())
        images = [images[i] for i in pick]
    images = [(img, b if isinstance(b, list) else [b]) for img, b in images]
    if frame:
        sides = [min(b[2], b[3]) if b is not None else min(img.shape[:2]) for img, bs in images for b in bs]
    else:  # the regions alone, as crops (the same pixels as in the image, less copying)
        crops = [region_crops(img, bs) for img, bs in images]
        sides = [min(c.shape[:2]) for cs in crops for c in cs]
    n_items = len(sides)
    grid = strength_grid(method, float(observed), int(np.median(sides)))
    n = max(1, min(int(n_regions), len(images)))

    def row(s: float) -> dict[str, Any]:
        spec = ObfuscationSpec(method, s)
        vals = []
        for i, (img, boxes) in enumerate(images):
            whole = apply_obfuscation(img, spec, seed=seed) if frame else None
            for j, box in enumerate(boxes):
                e = (estimate_obfuscation(apply_obfuscation(crops[i][j], spec, seed=seed)) if whole is None
                     else estimate_obfuscation(whole, box))
                # a region read as another family counts as a strength the release's estimate cannot
                # match: it is kept out of the median (the family decision is not recalibrated here)
                if e.method == method and e.strength is not None:
                    vals.append(float(e.strength))
        # at least half as many readings as images (not regions: on 16-px faces a block of 8
        # reads as a mosaic on a third of them, as on the release itself; the rest read as masks)
        if len(vals) < max(3, len(images) // 2):
            return {"strength": s, "n": len(vals), "median": None, "band": None}
        med, lo, hi = _median_band(np.array(vals), n, rng)
        return {"strength": s, "n": len(vals), "median": med, "band": [lo, hi]}

    rows = [row(s) for s in grid]
    # every strength of the grid reads below the release (the estimator under-reads small faces
    # more than the grid expects): strengths further up are tried until one reads above it
    for s in _beyond(method, float(observed), grid):
        meds = [r["median"] for r in rows if r["median"] is not None]
        if meds and max(meds) >= observed:
            break
        rows.append(row(s))
        grid = grid + [s]
    ok = [r for r in rows if r["median"] is not None]
    if not ok:
        return None
    inside = [i for i, r in enumerate(rows) if r["band"] and r["band"][0] <= observed <= r["band"][1]]
    # the calibrated point: where the median estimate crosses the release's (interpolated)
    point = None
    for a, b in zip(ok, ok[1:]):
        if (a["median"] - observed) * (b["median"] - observed) <= 0 and a["median"] != b["median"]:
            t = (observed - a["median"]) / (b["median"] - a["median"])
            point = a["strength"] + t * (b["strength"] - a["strength"])
            break
    if point is None:
        point = min(ok, key=lambda r: abs(r["median"] - observed))["strength"]
    if inside:
        lo_i, hi_i = max(0, min(inside) - 1), min(len(rows) - 1, max(inside) + 1)
        covered = True
    else:  # no grid strength reproduces the estimate: the neighbours of the nearest one
        j = min(range(len(rows)), key=lambda i: abs(rows[i]["strength"] - point))
        lo_i, hi_i = max(0, j - 1), min(len(rows) - 1, j + 1)
        covered = False
    lo, hi = rows[lo_i]["strength"], rows[hi_i]["strength"]
    point = float(min(max(point, lo), hi))
    return {"strength": round(point, 3), "uncertainty": [lo, hi], "raw_strength": float(observed),
            "level": LEVEL, "images": len(images), "regions": n_items, "regions_per_draw": n, "frame": frame,
            "grid": rows, "reproduced": covered,
            # the release's reading lies between two strengths' median readings (in a gap of the grid)
            "bracketed": min(r["median"] for r in ok) <= observed <= max(r["median"] for r in ok),
            "method": (f"parametric bootstrap: {len(images)} clear gallery images ({n_items} regions) obfuscated "
                       f"with {method} at "
                       f"{len(grid)} strengths and re-estimated; interval = strengths whose {LEVEL:.0%} band of "
                       f"the median over {n} regions contains the release's estimate, widened to the next grid "
                       "strengths")}


def calibrate_release_estimate(estimate: dict[str, Any] | None, gallery_info: Sequence[dict],
                               release_info: Sequence[dict], notes: list[str], *, seed: int = 0) -> None:
    """Replace the release estimate's strength and interval (``estimate``, the ``obfuscation``
    section of ``results.json``, changed in place) with :func:`calibrate_strength`'s, run on the
    clear gallery images (``gallery_info`` rows: path, box, source); the raw figures are kept
    under ``calibration``. Each gallery image is estimated in a region drawn like the release's
    own (``release_info`` rows: path, box): a release face's box, placed at the same relative
    place on the gallery image with its size in pixels kept (:func:`map_region`; where the release pipeline found its faces on the *obfuscated*
    images, which a clear face box would not reproduce: on a frame pixelated with a fractional
    grid, the detection box cuts the grid elsewhere). The whole frame is obfuscated unless the
    release's coverage is ``regions``. A release read as not obfuscated (``none``) is checked
    instead (:func:`auditkit.obfuscation.none_limit.check_none_reading`)."""
    if estimate and estimate.get("method") == "none":  # issue 13: small faces read as clear when blurred
        from .none_limit import check_none_reading

        check_none_reading(estimate, gallery_info, release_info, notes, seed=seed)
        return
    if not estimate or estimate.get("method") not in CALIBRATED or estimate.get("strength") is None:
        return
    rng = np.random.default_rng(seed)
    per = REGIONS_PER_IMAGE if estimate.get("coverage") == "regions" else 1
    images = calibration_images(gallery_info, _release_regions(release_info, rng, N_IMAGES * per), per, rng)
    cal = calibrate_strength(images, estimate["method"], float(estimate["strength"]),
                             int(estimate.get("n_regions") or 1),
                             frame=estimate.get("coverage") != "regions", seed=seed)
    if cal is None:
        notes.append("obfuscation strength not calibrated: no calibration image gave an estimate of "
                     f"{estimate['method']}")
        return
    cal["raw_uncertainty"] = estimate.get("uncertainty")
    estimate["calibration"] = cal
    estimate["strength"] = cal["strength"]
    # no strength tried reads like the release, nor do two strengths read on either side of it: the
    # neighbours of the nearest are a guess, and an audit must not print a guess as an interval
    # (issue 13); the strength stays as the best guess
    estimable = cal["reproduced"] or cal["bracketed"]
    estimate["uncertainty"] = cal["uncertainty"] if estimable else None
    notes.append(f"obfuscation strength calibrated on the clear gallery (label-free): {estimate['method']} "
                 f"{cal['raw_strength']:.3g} as read on the release -> {cal['strength']:.3g}"
                 + (f" [{cal['uncertainty'][0]:.3g}, {cal['uncertainty'][1]:.3g}]" if estimable else " (no interval)")
                 + ("" if cal["reproduced"] else "; no calibrated strength reproduced the release's reading"
                    + (" (it lies between two strengths' readings)" if estimable else
                       ": the strength is not estimable (no interval given; the nearest strength is a guess)")))
