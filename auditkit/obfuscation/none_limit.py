"""Is a release read as "not obfuscated" really clear, or are its faces too small to tell? (issue 13)

On small faces the per-region estimator cannot see a light obfuscation: WIDER FACE faces of
20-39 px blurred with sigma 2 inside their boxes read "none" on more than half of them (the faces
are soft already), so the release is reported as not obfuscated -- a confident wrong answer.
This check asks the clear gallery the same question the release answered, label-free: the
release's own face boxes (their size in pixels kept, :func:`auditkit.obfuscation.calibrate.map_region`)
are drawn on clear gallery images, obfuscated at increasing strengths, and estimated. A strength
whose share of "none" readings (Wilson 95% upper bound, counted over *images*: regions of one
image are not independent) reaches the release's own share is not excluded by the release's
reading. When a strength that matters at that face size is not excluded -- a blur of sigma at
least :data:`BLUR_SHARE` of the median box side, or a mosaic block of at least
:data:`BLOCK_SHARE` of it -- the release's method becomes ``unknown``, with the reason and the
strengths that read like the release in ``none_check``.

Run only where faces are small (median box side below :data:`SMALL_SIDE` px): that is where the
WIDER cases read a blur as "none"; on larger faces the estimator sees such blurs, and the check
(about a hundred region estimates per strength) would only cost time.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..scoring.stats import wilson_interval
from .estimate import estimate_obfuscation
from .spec import ObfuscationSpec, apply_obfuscation

__all__ = ["BLOCK_SHARE", "BLUR_SHARE", "SMALL_SIDE", "check_none_reading", "none_shares"]

SMALL_SIDE = 64
#: a blur sigma (mosaic block) of at least this share of the face box's side changes what a face shows
BLUR_SHARE = 0.05
BLOCK_SHARE = 0.1
SIGMAS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
BLOCKS = (2.0, 3.0, 4.0, 6.0, 8.0)


def none_shares(images: Sequence[tuple[Any, list]], side: float, *, seed: int = 0) -> list[dict[str, Any]]:
    """For each blur sigma and mosaic block tried (at most a third, resp. half, of ``side``), the
    share of regions read as ``none`` when each region of ``images`` (clear image, list of boxes)
    is obfuscated alone, with its Wilson 95% interval over the number of images."""
    from .calibration_regions import region_crops

    trials = [ObfuscationSpec("blur", s) for s in SIGMAS if s <= side / 3] + \
             [ObfuscationSpec("pixelate", b) for b in BLOCKS if b <= side / 2]
    rows = []
    for spec in trials:
        reads = []
        for img, boxes in images:
            for crop in region_crops(img, boxes):
                reads.append(estimate_obfuscation(apply_obfuscation(crop, spec, seed=seed)).method)
        q = float(np.mean([m == "none" for m in reads])) if reads else 0.0
        lo, hi = wilson_interval(q * len(images), len(images)) if images else (0.0, 1.0)
        rows.append({"method": spec.method, "strength": spec.strength, "regions": len(reads),
                     "none_share": round(q, 4), "none_share_ci": [round(lo, 4), round(hi, 4)]})
    return rows


def check_none_reading(estimate: dict[str, Any], gallery_info: Sequence[dict], release_info: Sequence[dict],
                       notes: list[str], *, seed: int = 0) -> None:
    """Check a release estimate read as ``none`` (the ``obfuscation.estimate`` section, changed in
    place: ``none_check`` added; ``method`` and ``coverage`` set to ``unknown`` when a strength
    that matters is not excluded). ``gallery_info``/``release_info``: as for
    :func:`auditkit.obfuscation.calibrate.calibrate_release_estimate`."""
    from .calibration_regions import N_IMAGES, REGIONS_PER_IMAGE, _release_regions, calibration_images

    boxed = [r for r in release_info if r.get("source") != "whole_image" and r.get("box") is not None]
    n = int(estimate.get("n_regions") or 0)
    if not boxed or not n:
        return
    side = float(np.median([min(int(r["box"][2]), int(r["box"][3])) for r in boxed]))
    if side >= SMALL_SIDE:
        return
    rng = np.random.default_rng(seed)
    regions = _release_regions(boxed, rng, N_IMAGES * REGIONS_PER_IMAGE)
    if not regions:
        return
    images = calibration_images(gallery_info, regions, REGIONS_PER_IMAGE, rng)
    if len(images) < 3:
        return
    rows = none_shares(images, side, seed=seed)
    r = (estimate.get("counts") or {}).get("none", 0) / n
    for row in rows:
        row["not_excluded"] = row["none_share_ci"][1] >= r
    share = {"blur": BLUR_SHARE, "pixelate": BLOCK_SHARE}
    worst = {}
    for row in rows:
        if row["not_excluded"] and row["strength"] >= share[row["method"]] * side:
            worst[row["method"]] = max(worst.get(row["method"], 0.0), row["strength"])
    estimate["none_check"] = {"release_none_share": round(r, 4), "box_side_median": side, "images": len(images),
                              "rows": rows, "not_excluded": worst}
    if not worst:
        return
    what = " or ".join(f"a {'blur of sigma' if m == 'blur' else 'mosaic of block'} {v:g} px" for m, v in worst.items())
    msg = (f"the release reads as not obfuscated on {r:.0%} of its {n} face regions, but its faces are small "
           f"(median box side {side:g} px): on the clear gallery, {what} in the same boxes reads as not obfuscated "
           "as often. Release method unknown, not 'none'")
    estimate["method"] = "unknown"
    estimate["coverage"] = "unknown"
    estimate.setdefault("notes", []).append(msg)
    notes.append(msg)
