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

The raw estimate and its model interval stay in ``results.json`` (``calibration``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .estimate import estimate_obfuscation
from .spec import ObfuscationSpec, apply_obfuscation

__all__ = ["CALIBRATED", "calibrate_release_estimate", "calibrate_strength", "map_region", "strength_grid"]

#: families whose strength is calibrated (mask has no strength worth it; noise is not re-estimated)
CALIBRATED = ("blur", "box", "pixelate")
#: calibration images (a seeded sample of the gallery) and bootstrap draws
N_IMAGES = 12
#: release regions drawn on each calibration image when the release obfuscated regions only
#: (faces in their boxes): the calibration then spans the release's box sizes, which decide
#: what the estimator reads on small faces (the cells across a 30-px mosaic, say)
REGIONS_PER_IMAGE = 8
#: a release box is as tall as the face, or grown about it (deface's default ``--mask-scale`` is
#: 1.3); which one is not known, so the regions drawn on gallery faces alternate between the two
FRAMINGS = (1.0, 1.3)
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


def calibration_images(gallery_info: Sequence[dict], regions: list, per: int, rng: np.random.Generator
                       ) -> list[tuple[np.ndarray, Any]]:
    """Up to :data:`N_IMAGES` clear gallery images (seeded sample; unreadable ones skipped), each
    with the region(s) to estimate in: ``per`` release regions drawn by :func:`map_region` (one
    box, or a list when ``per > 1``), else the gallery face box (``None`` for a whole image)."""
    from ..data.media import MediaError, load_image

    order = rng.permutation(len(gallery_info))[: N_IMAGES * 2]
    images: list[tuple[np.ndarray, Any]] = []
    for i in sorted(order.tolist()):
        inf = gallery_info[i]
        try:
            img = load_image(inf["path"])
        except (MediaError, OSError, KeyError):
            continue
        H, W = img.shape[:2]
        if regions:
            k = len(images) * per
            box: Any = [map_region(*regions[(k + j) % len(regions)], (W, H)) for j in range(per)]
            box = box[0] if per == 1 else box
            if per > 1 and inf.get("source") == "detector" and inf.get("box") is not None:
                # a face in the gallery image: each release region is drawn on it, at the region's size
                img = [_on_gallery_face(img, inf["box"], b, FRAMINGS[j % len(FRAMINGS)]) for j, b in enumerate(box)]
        else:
            box = None if inf.get("source") == "whole_image" else tuple(int(v) for v in inf["box"])
        images.append((img, box))
        if len(images) >= N_IMAGES:
            break
    return images


def region_crops(img: Any, boxes: list) -> list[np.ndarray]:
    """The clear pixels of each region: ``img`` itself when it is already the list of crops."""
    if isinstance(img, list):
        return img
    return [img if b is None else img[b[1]:b[1] + b[3], b[0]:b[0] + b[2]] for b in boxes]


def _on_gallery_face(img: np.ndarray, face: Sequence[int], box: Sequence[int], framing: float = 1.0) -> np.ndarray:
    """The clear crop of a release region of ``box``'s size drawn on the gallery face ``face``:
    the gallery image is first shrunk (pixel-area averaging, as a camera farther away records
    it) so that the face is ``1 / framing`` as tall as the region, when the face is taller."""
    import cv2

    w, h = int(box[2]), int(box[3])
    fx, fy, fw, fh = (float(v) for v in face)
    H0, W0 = img.shape[:2]
    f = min(1.0, h / framing / max(fh, 1.0))
    if f < 0.999:
        img = cv2.resize(img, (max(w, round(W0 * f)), max(h, round(H0 * f))), interpolation=cv2.INTER_AREA)
    H, W = img.shape[:2]
    cx, cy = (fx + fw / 2) * W / W0, (fy + fh / 2) * H / H0
    x0 = int(min(max(0, round(cx - w / 2)), max(0, W - w)))
    y0 = int(min(max(0, round(cy - h / 2)), max(0, H - h)))
    return img[y0:y0 + h, x0:x0 + w]


def map_region(box: Sequence[int], size: tuple[int, int], to: tuple[int, int]) -> tuple[int, int, int, int]:
    """A release region ``box`` of an image of ``size`` (W, H) drawn on an image of size ``to``:
    its centre at the same relative place, its width and height in *pixels* unchanged (the
    strength is in pixels, and what the estimator reads -- the cells across a mosaic, the detail
    a blur removes -- depends on the region's pixel size, not on the frame's: a 14-px face of a
    1024-px crowd photo stays 14 px on a gallery image of any size), shifted inside the image
    and clipped to it when larger (never below 8 px)."""
    (x, y, w, h), (rw, rh), (W, H) = box, size, to
    w, h = max(8, min(int(w), W)), max(8, min(int(h), H))
    cx, cy = (x + w / 2) * W / rw, (y + h / 2) * H / rh
    x0 = int(min(max(0, round(cx - w / 2)), max(0, W - w)))
    y0 = int(min(max(0, round(cy - h / 2)), max(0, H - h)))
    return x0, y0, w, h


def _release_regions(release_info: Sequence[dict], rng: np.random.Generator, k: int = N_IMAGES
                     ) -> list[tuple[tuple[int, int, int, int], tuple[int, int]]]:
    """Up to ``k`` release face boxes (seeded sample) with their image's size (read from the
    file's header, once per file); rows whose file cannot be read are left out."""
    from PIL import Image

    out, sizes = [], {}
    for i in rng.permutation(len(release_info))[: k * 2].tolist():
        inf = release_info[i]
        try:
            if inf["path"] not in sizes:
                with Image.open(inf["path"]) as im:
                    sizes[inf["path"]] = im.size
            size = sizes[inf["path"]]
            box = tuple(int(v) for v in inf["box"])
        except (OSError, KeyError, TypeError, ValueError):
            continue
        if len(box) == 4 and min(size) > 0:
            out.append((box, size))
        if len(out) >= k:
            break
    return out
