"""Which fixed obfuscation reproduces the vendor's anonymizer best, fitted on (clear, output) pairs.

With ``--anonymizer`` the audit holds the clear gallery *and* what the vendor's tool made of it,
so it need not guess the obfuscation from the release alone: :func:`fit_to_outputs` tries every
family and strength of a grid (Gaussian blur, box blur, pixelation with its grid anchored at the
changed region's corner) on the region the tool changed, and keeps the one whose output is
closest to the tool's (median RMS over images, grey levels). ``face.reconstruct`` inverts that fit
when the release gives no estimate it can invert (a tool cannot be inverted by running it; see
:func:`auditkit.attacks.vendor_gallery.reconstruct_with_fit`); the fit and its residual are in results.json, so a
reader sees how well a fixed family describes the tool (deface's ellipse-masked box blur, for
instance, is close to ``box`` but not equal to it).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .spec import ObfuscationSpec, apply_obfuscation

__all__ = ["CANDIDATES", "fit_to_outputs"]

#: the grid of fixed obfuscations tried
CANDIDATES: tuple[ObfuscationSpec, ...] = (
    *(ObfuscationSpec("blur", s) for s in (1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)),
    *(ObfuscationSpec("box", s) for s in (3, 5, 7, 9, 13, 17, 21, 27, 35, 45, 61)),
    *(ObfuscationSpec("pixelate", s) for s in (2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32)),
)
#: a pixel counts as changed by the tool when it differs by more than this (grey levels)
CHANGED_LEVEL = 8
#: at most this many image pairs are fitted (a seeded sample)
MAX_PAIRS = 24


def _grey(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32).mean(axis=2) if img.ndim == 3 else img.astype(np.float32)


def fit_to_outputs(pairs: Sequence[tuple[np.ndarray, np.ndarray]], *, seed: int = 0,
                   max_pairs: int = MAX_PAIRS) -> dict[str, Any] | None:
    """Fit a fixed obfuscation to (clear image, tool output) pairs of the same size.

    Returns None when the tool changed no pair; else ``{"spec", "scope", "rms", "rms_unobfuscated",
    "n_pairs", "region_share", "ranking"}``: the best spec label, ``"frame"`` when the changed
    region covers at least 90% of the images (median) else ``"face"``, the median RMS (grey
    levels) of the best fit and of leaving the region as it was, and the five best candidates.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))[:max_pairs]
    rows, shares, n = [], [], 0
    for i in order:
        clear, out = pairs[int(i)]
        if clear.shape[:2] != out.shape[:2]:
            continue
        diff = np.abs(_grey(out) - _grey(clear)) > CHANGED_LEVEL
        if diff.mean() < 1e-3:
            continue
        ys, xs = np.nonzero(diff)
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        shares.append((x1 - x0) * (y1 - y0) / diff.size)  # the changed region's bounding box
        box = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        target = _grey(out)[y0:y1, x0:x1]
        mask = diff[y0:y1, x0:x1]
        errs = [float(np.sqrt(np.mean((_grey(apply_obfuscation(clear, c, box=box))[y0:y1, x0:x1] - target)[mask] ** 2)))
                for c in CANDIDATES]
        errs.append(float(np.sqrt(np.mean((_grey(clear)[y0:y1, x0:x1] - target)[mask] ** 2))))
        rows.append(errs)
        n += 1
    if not rows:
        return None
    med = np.median(np.array(rows), axis=0)
    best = int(np.argmin(med[:-1]))
    rank = np.argsort(med[:-1])[:5]
    return {"spec": CANDIDATES[best].label, "scope": "frame" if float(np.median(shares)) >= 0.9 else "face",
            "rms": round(float(med[best]), 2), "rms_unobfuscated": round(float(med[-1]), 2), "n_pairs": n,
            "region_share": round(float(np.median(shares)), 3),
            "ranking": [{"spec": CANDIDATES[int(j)].label, "rms": round(float(med[int(j)]), 2)} for j in rank]}
