"""Scores for the video cues learned on the gallery only: per-identity maxima, row z-scores,
grouped cross-validation, and the logistic weight of each cue in the fused attack."""
from __future__ import annotations

import warnings

import numpy as np

from ..attacks.base import identity_scores
from ..features.appearance import AppearanceMetric
from ..features.gait import GaitModel


def _per_identity_max(sim: np.ndarray, labels: list[str], identities: list[str]) -> np.ndarray:
    lab = np.asarray(labels)
    out = np.full((sim.shape[0], len(identities)), -np.inf)
    for j, ident in enumerate(identities):
        cols = lab == ident
        if cols.any():
            out[:, j] = sim[:, cols].max(axis=1)
    return out



def _finite(scores: np.ndarray) -> np.ndarray:
    """Replace -inf (identity without samples for this cue) by a value below every real score."""
    s = scores.copy()
    bad = ~np.isfinite(s)
    if bad.any():
        lo = np.nanmin(np.where(bad, np.nan, s)) if (~bad).any() else 0.0
        s[bad] = lo - 1.0
    return s



def _zrows(scores: np.ndarray) -> np.ndarray:
    """Per-probe z-scores over the identities that have a score (others get 0: no evidence)."""
    z = np.zeros_like(scores, dtype=float)
    for i, row in enumerate(scores):
        ok = np.isfinite(row)
        if ok.sum() < 2:
            continue
        v = row[ok]
        sd = v.std()
        z[i, ok] = (v - v.mean()) / sd if sd > 0 else 0.0
    return z



def _groups_folds(groups: list[str], k: int) -> list[np.ndarray]:
    g = np.asarray(groups)
    uniq = sorted(set(groups))
    fold_of = {u: i % k for i, u in enumerate(uniq)}
    f = np.array([fold_of[x] for x in g])
    return [np.flatnonzero(f == i) for i in range(k)]



def _cv_scores(X: np.ndarray, y: list[str], groups: list[str], fit_score, *, k: int = 3
               ) -> tuple[np.ndarray, np.ndarray, str]:
    """Gallery-only cross-validation: held-out gallery files scored against the rest; returns
    row-z scores of (genuine, impostor) pairs and the grouping used. When no identity has two
    files, samples are held out one fold at a time instead (chunks of one clip are correlated,
    so that estimate is optimistic, and the grouping says so)."""
    gen, imp = _cv_pairs(X, y, groups, fit_score, k=k)
    if len(gen) >= 2:
        return gen, imp, "by gallery file"
    gen, imp = _cv_pairs(X, y, [f"{g}:{i:06d}" for i, g in enumerate(groups)], fit_score, k=k)
    return gen, imp, "by sample (no identity has two gallery files: optimistic)"



def _cv_pairs(X: np.ndarray, y: list[str], groups: list[str], fit_score, *, k: int = 3
              ) -> tuple[np.ndarray, np.ndarray]:
    y_a = np.asarray(y)
    gen, imp = [], []
    for test in _groups_folds(groups, k):
        train = np.setdiff1d(np.arange(len(y_a)), test)
        ids = sorted(set(y_a[train]))
        if len(ids) < 2 or len(test) == 0:
            continue
        try:
            with warnings.catch_warnings():  # folds with one sample per class are expected here
                warnings.simplefilter("ignore", UserWarning)
                s = fit_score(X[train], list(y_a[train]), X[test], ids)
        except (ValueError, np.linalg.LinAlgError):
            continue
        z = _zrows(s)
        for i, t in enumerate(test):
            if y_a[t] not in ids:
                continue
            j = ids.index(y_a[t])
            gen.append(z[i, j])
            imp.extend(np.delete(z[i], j).tolist())
    return np.asarray(gen), np.asarray(imp)



def _logistic_weight(gen: np.ndarray, imp: np.ndarray) -> float | None:
    """Slope of a class-balanced logistic regression of genuine vs impostor on the z-score
    (the cue's log-likelihood-ratio scale); None without both kinds of pairs."""
    if len(gen) < 2 or len(imp) < 2:
        return None
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([gen, imp])[:, None]
    t = np.concatenate([np.ones(len(gen)), np.zeros(len(imp))])
    lr = LogisticRegression(class_weight="balanced", C=1.0).fit(x, t)
    return float(max(lr.coef_[0, 0], 0.0))



def _app_fit_score(Xtr, ytr, Xte, ids):
    m = AppearanceMetric().fit(Xtr, ytr)
    return _per_identity_max(m.similarity(Xte, Xtr), ytr, ids)



def _gait_fit_score(Xtr, ytr, Xte, ids):
    m = GaitModel().fit(Xtr, ytr)
    s = m.similarity(Xte)
    return s[:, [m.classes_.index(i) for i in ids]]



def _face_fit_score(Xtr, ytr, Xte, ids):
    s, idents = identity_scores(Xte, Xtr, ytr)
    return s[:, [idents.index(i) for i in ids]]
