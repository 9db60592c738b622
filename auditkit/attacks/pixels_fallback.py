"""``face.pixels``' fallback to the parrot's matching (issue 13: a ladder that never steps down).

The pixel classifiers of :mod:`auditkit.attacks.pixel_models` can lose to plain nearest-encoding
matching on the obfuscated gallery (the parrot's method) — e.g. on LFW crops with three gallery
images per person in varied poses, where a linear model on pixels does not generalise. A real
attacker would notice that on its own gallery, so ``face.pixels`` does: it cross-validates the
parrot's matching on the same folds of gallery images as its pixel classifiers (held-out images
obfuscated exactly as the release), keeps the stronger, and says which and why. Release labels
are never used for the choice.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..scoring.stats import wilson_interval
from .pixel_models import CV_FOLDS, _folds

__all__ = ["nearest_cv", "nearest_scores", "parrot_cv", "prefer_parrot"]


def nearest_scores(X: np.ndarray, G: np.ndarray, gy: np.ndarray, identities: Sequence[str]) -> np.ndarray:
    """The parrot's matching: minus the Euclidean distance to each identity's nearest row of ``G``
    (``-inf`` for an identity without a row)."""
    X = np.asarray(X, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    out = np.full((len(X), len(identities)), -np.inf)
    if len(X) == 0 or len(G) == 0:
        return out
    d = np.sqrt(np.maximum(((X[:, None, :] - G[None, :, :]) ** 2).sum(axis=2), 0.0))
    for j, ident in enumerate(identities):
        m = gy == ident
        if m.any():
            out[:, j] = -d[:, m].min(axis=1)
    return out


def nearest_cv(test: Sequence[np.ndarray | None], reference: Sequence[np.ndarray | None], labels: Sequence[str],
               *, cv_folds: int = CV_FOLDS, seed: int = 0) -> dict[str, Any]:
    """Held-out rank-1 of nearest-encoding matching: each held-out gallery row's ``test``
    encoding against the other folds' ``reference`` encodings (the same rows, another form), on
    the folds of :func:`auditkit.attacks.pixel_models._folds`. A held-out row without a test
    encoding counts as a miss; rows without a reference encoding are left out of the reference;
    a row whose identity has no row in the other folds is not held out. Returns ``rank1``,
    ``hits``, ``n``, ``rank1_ci``, ``folds`` and ``without_encoding``, or a ``note``.
    :func:`parrot_cv` is this with ``test`` = ``reference``."""
    y = np.asarray(list(labels))
    idx = np.arange(len(y))
    if len(y) == 0:
        return {"folds": 0, "note": "no gallery image"}
    fold, k = _folds(idx, y, cv_folds, seed)
    if k < 2:
        return {"folds": k, "note": "fewer than two gallery images for most identities: no cross-validation"}
    has_t = np.array([e is not None for e in test])
    has_r = np.array([e is not None for e in reference])
    hits = n = 0
    for f in range(k):
        tr = fold != f
        te = (fold == f) & np.isin(y, np.unique(y[tr]))
        if len(set(y[tr])) < 2 or not te.any():
            continue
        n += int(te.sum())
        te_enc, trg = te & has_t, tr & has_r
        if not te_enc.any() or not trg.any():
            continue
        identities = sorted(set(y[tr]))
        s = nearest_scores(np.array([test[i] for i in idx[te_enc]]), np.array([reference[i] for i in idx[trg]]),
                           y[trg], identities)
        truth = np.array([identities.index(t) for t in y[te_enc]])
        hits += int((np.argmax(s, axis=1) == truth).sum())
    if n == 0:
        return {"folds": k, "note": "no held-out gallery image could be scored"}
    return {"folds": k, "rank1": hits / n, "hits": hits, "n": n, "rank1_ci": list(wilson_interval(hits, n)),
            "without_encoding": int((~has_t).sum())}


def parrot_cv(encodings: Sequence[np.ndarray | None], labels: Sequence[str], usable: Sequence[bool], *,
              cv_folds: int, seed: int) -> dict[str, Any]:
    """Rank-1 of the parrot's matching on held-out gallery images, on the folds the pixel
    attacker uses (:func:`auditkit.attacks.pixel_models._folds` over the usable images, same
    seed): each held-out image's obfuscated encoding against the other folds' obfuscated
    encodings (:func:`nearest_cv` with one form on both
    sides). A held-out image without an encoding counts as a miss (the parrot could not match
    it); one whose identity has no image in the other folds is not held out, as in the pixel
    attacker's cross-validation."""
    keep = [i for i, u in enumerate(usable) if u]
    if not keep:
        return {"folds": 0, "note": "no usable gallery image"}
    enc = [encodings[i] for i in keep]
    return nearest_cv(enc, enc, [labels[i] for i in keep], cv_folds=cv_folds, seed=seed)


def prefer_parrot(pixel_cv: dict[str, Any] | None, parrot: dict[str, Any]) -> bool:
    """Whether the parrot's matching is kept: strictly better than the chosen pixel classifier on
    held-out gallery images (ties keep the pixel classifier). Without a pixel cross-validation
    figure the parrot is kept when it has one (a measured method beats an unmeasured one)."""
    if "rank1" not in parrot:
        return False
    if not pixel_cv or "rank1" not in pixel_cv:
        return True
    return float(parrot["rank1"]) > float(pixel_cv["rank1"])
