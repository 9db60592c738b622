"""The pixel-domain attacker's core (issue 18), on arrays only: grey face crops, pixel and HOG
features, the candidate classifiers, obfuscation variants of the gallery and the gallery
cross-validation that picks a model (:func:`fit_pixel_attacker`). The audit's rung that feeds
it (``face.pixels``) is :mod:`auditkit.attacks.pixels`; the body rung is
:mod:`auditkit.attacks.body_pixels`. ``face.learned`` shares the crop and PCA + LDA primitives
(:func:`aligned_crop`, :func:`crop_features`, :func:`pca_lda`).
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..obfuscation.spec import parse_spec
from ..scoring.stats import wilson_interval

__all__ = [
    "CANDIDATES",
    "CROP_PAD",
    "CROP_SHAPE",
    "PixelAttacker",
    "aligned_crop",
    "augment_variants",
    "box_crop",
    "crop_features",
    "fit_pixel_attacker",
    "hog_features",
    "obfuscate_variant",
    "pca_lda",
]

#: (width, height) of the grey crops the pixel attacker classifies (AT&T's 92x112 halved)
CROP_SHAPE = (46, 56)
#: fraction of a detected / manifest box added on each side of a crop (not for whole images)
CROP_PAD = 0.15
#: classifiers the attacker chooses among by gallery cross-validation, simplest first (ties
#: keep the earlier one); each is (features, description)
CANDIDATES: dict[str, tuple[str, str]] = {
    "pca_lda": ("pixels", "PCA + LDA (lsqr, Ledoit-Wolf shrinkage) on standardised pixels (fisherfaces)"),
    "pca_logreg": ("pixels", "PCA (whitened) + multinomial logistic regression (C=1) on standardised pixels"),
    "pca_linear_svm": ("pixels", "PCA (whitened) + linear SVM (C=0.05, one-vs-rest) on standardised pixels"),
    "hog_lda": ("hog", "HOG (9 orientations, 8x8 cells, 2x2 blocks) + PCA + LDA"),
    "hog_linear_svm": ("hog", "HOG + PCA (whitened) + linear SVM (C=0.05, one-vs-rest)"),
    "pca_mlp": ("pixels", "PCA (whitened) + MLP (one hidden layer of 256 ReLU units, L2 1e-2, adam, "
                          "300 epochs)"),
}
#: obfuscation variants per gallery image (the first is the release's exact obfuscation), each
#: also mirrored
N_VARIANTS = 5
#: relative strength range of the variants (x the assumed strength)
STRENGTH_RANGE = (0.8, 1.25)
#: crop jitter of the variants: shift (fraction of the box side) and scale
SHIFT_MAX, SCALE_RANGE = 0.04, (0.94, 1.06)
#: the attacker's cross-validation folds (at most; fewer when identities have fewer images)
CV_FOLDS = 3

_SHAPE5 = None


# ----------------------------------------------------------------------------- crops and features

def _shape_predictor():
    global _SHAPE5
    if _SHAPE5 is None:
        import dlib

        from ..features.faces import model_path

        _SHAPE5 = dlib.shape_predictor(str(model_path("shape_predictor_5_face_landmarks.dat")))
    return _SHAPE5


def aligned_crop(img: np.ndarray, box: tuple[int, int, int, int], *, size: int = 48) -> np.ndarray:
    """A ``size`` x ``size`` grey crop of the face in ``box`` (x, y, w, h), aligned with dlib's
    5-point landmarks (``dlib.get_face_chip``), as float32 in [0, 1] (``face.learned``'s crops)."""
    import dlib

    x, y, w, h = (int(v) for v in box)
    rgb = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
    rgb = np.ascontiguousarray(rgb[..., :3])
    shape = _shape_predictor()(rgb, dlib.rectangle(x, y, x + w, y + h))
    chip = np.asarray(dlib.get_face_chip(rgb, shape, size=size, padding=0.25), dtype=np.float32)
    return chip.mean(axis=2) / 255.0


def _grey(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=2)
    return a.astype(np.float32)


def box_crop(img: np.ndarray, box: Sequence[float] | None, *, shape: tuple[int, int] = CROP_SHAPE,
             pad: float = CROP_PAD, shift: tuple[float, float] = (0.0, 0.0), scale: float = 1.0,
             whole: bool = False) -> np.ndarray:
    """A grey crop of ``box`` (x, y, w, h) grown by ``pad`` on each side, moved by ``shift``
    (fractions of the box side) and scaled by ``scale``, resized to ``shape`` (width, height)
    by area averaging; float32 in [0, 1]. Parts outside the image repeat its border.

    ``box=None`` or ``whole=True``: the whole image (no padding), shifted and scaled alike.

    >>> box_crop(np.zeros((112, 92), np.uint8), None).shape
    (56, 46)
    """
    g = _grey(img)
    H, W = g.shape
    if box is None or whole:
        x, y, w, h, p = 0.0, 0.0, float(W), float(H), 0.0
    else:
        x, y, w, h = (float(v) for v in box)
        p = pad
    if not (w > 0 and h > 0):
        raise ValueError(f"empty crop box {tuple(box) if box is not None else None}")
    cx, cy = x + w / 2 + shift[0] * w, y + h / 2 + shift[1] * h
    hw, hh = w * (1 + 2 * p) * scale / 2, h * (1 + 2 * p) * scale / 2
    x0, y0 = int(round(cx - hw)), int(round(cy - hh))
    x1, y1 = max(x0 + 1, int(round(cx + hw))), max(y0 + 1, int(round(cy + hh)))
    bl, bt, br, bb = max(0, -x0), max(0, -y0), max(0, x1 - W), max(0, y1 - H)
    if bl or bt or br or bb:
        g = cv2.copyMakeBorder(g, bt, bb, bl, br, cv2.BORDER_REPLICATE)
    sub = g[y0 + bt:y1 + bt, x0 + bl:x1 + bl]
    out = cv2.resize(sub, tuple(int(v) for v in shape), interpolation=cv2.INTER_AREA)
    return out / 255.0


def crop_features(crops: np.ndarray) -> np.ndarray:
    """Flattened crops, each standardised to zero mean and unit variance (lighting-invariant)."""
    X = np.asarray(crops, dtype=np.float64).reshape(len(crops), -1)
    X = X - X.mean(axis=1, keepdims=True)
    return X / np.maximum(X.std(axis=1, keepdims=True), 1e-6)


def hog_features(crops: np.ndarray) -> np.ndarray:
    """HOG descriptors of grey crops (9 orientations, 8x8-pixel cells, 2x2-cell blocks, L2-Hys)."""
    from skimage.feature import hog

    return np.array([hog(np.asarray(c, dtype=np.float64), orientations=9, pixels_per_cell=(8, 8),
                         cells_per_block=(2, 2), block_norm="L2-Hys", feature_vector=True)
                     for c in crops]).reshape(len(crops), -1)


def _n_components(n_samples: int, n_classes: int, dim: int, cap: int = 150) -> int:
    return int(max(2, min(cap, n_samples - n_classes, n_samples - 1, dim)))


def pca_lda(seed: int, n_samples: int, n_classes: int, dim: int | None = None):
    """PCA (at most 150 components, fewer than samples - classes) + LDA with Ledoit-Wolf
    shrinkage: the fisherfaces pipeline (``face.learned``'s pixel model and ``face.pixels``'
    ``pca_lda`` candidate)."""
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    k = _n_components(n_samples, n_classes, dim or 10 ** 9)
    solver = "full" if n_samples <= 600 else "randomized"  # exact SVD is faster on small sets
    return make_pipeline(PCA(n_components=k, svd_solver=solver, random_state=seed),
                         LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))


def _pca(seed: int, n_samples: int, n_classes: int, dim: int):
    from sklearn.decomposition import PCA

    k = _n_components(n_samples, n_classes, dim)
    # two power iterations instead of sklearn's 4: on AT&T pixelate 16 the gallery cross-validation
    # figures moved by at most 4 points (0 to 1.5 for the pixel models) at 80% of the fit time
    return PCA(n_components=k, svd_solver="full" if n_samples <= 600 else "randomized", iterated_power=2,
               random_state=seed)


def _make_head(name: str, seed: int):
    """The classifier that follows the (shared) PCA of candidate ``name``."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if name in ("pca_lda", "hog_lda"):
        return make_pipeline(LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))
    if name == "pca_logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300))
    if name in ("pca_linear_svm", "hog_linear_svm"):
        return make_pipeline(StandardScaler(), LinearSVC(C=0.05, max_iter=5000, random_state=seed))
    if name == "pca_mlp":
        return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(256,), alpha=1e-2, max_iter=300,
                                                             random_state=seed))
    raise ValueError(f"unknown pixel model {name!r}; candidates: {', '.join(CANDIDATES)}")


def _fit_candidates(feats: dict[str, np.ndarray], y: np.ndarray, rows: np.ndarray, cands: Sequence[str],
                    seed: int) -> dict[str, Any]:
    """Fit each candidate on ``rows``: one PCA per feature kind, shared by its candidates; each
    result is a pipeline PCA -> (standardisation) -> classifier."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import Pipeline

    n_cls = len(set(y[rows].tolist()))
    pcas, Z = {}, {}
    for kind in sorted({CANDIDATES[c][0] for c in cands}):
        X = feats[kind][rows]
        pcas[kind] = _pca(seed, len(X), n_cls, X.shape[1]).fit(X)
        Z[kind] = pcas[kind].transform(X)
    out = {}
    for c in cands:
        kind = CANDIDATES[c][0]
        with warnings.catch_warnings():  # a capped iteration count is part of the model's definition
            warnings.simplefilter("ignore", ConvergenceWarning)
            head = _make_head(c, seed).fit(Z[kind], y[rows])
        out[c] = Pipeline([("pca", pcas[kind])] + list(head.steps))
    return out


def _model_scores(model, X: np.ndarray) -> np.ndarray:
    """Per sample and class (``model.classes_`` order): log-probabilities, or the SVM's margins."""
    from sklearn.svm import LinearSVC

    if not isinstance(model[-1], LinearSVC):
        return np.maximum(model.predict_log_proba(X), -1e4)
    s = model.decision_function(X)
    return s if s.ndim == 2 else np.stack([-s, s], axis=1)


def _model_params(model) -> dict[str, Any]:
    """The fitted pipeline's steps and their scalar parameters (for results.json)."""
    out = {}
    for name, step in model.steps:
        out[name] = {k: v for k, v in step.get_params(deep=False).items()
                     if isinstance(v, str | int | float | bool | tuple) or v is None}
    return out


# ----------------------------------------------------------------------------- obfuscation variants

def obfuscate_variant(img: np.ndarray, spec: str, region: tuple[int, int, int, int] | None,
                      offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Apply ``spec`` to ``region`` of ``img`` (the whole image when None) with the pixelation
    grid (or any block-aligned obfuscation) started ``offset`` = (dx, dy) pixels earlier than
    the region's corner; offset (0, 0) is exactly :func:`auditkit.obfuscation.transforms.apply_transform`."""
    from ..obfuscation.transforms import apply_transform

    dx, dy = (int(v) for v in offset)
    if dx == 0 and dy == 0:
        return apply_transform(img, spec, region)
    pad = ((dy, 0), (dx, 0)) + (((0, 0),) if img.ndim == 3 else ())
    padded = np.pad(img, pad, mode="edge")
    if region is None:
        out = apply_transform(padded, spec, None)
    else:
        x, y, w, h = (int(round(v)) for v in region)
        # in padded coordinates the region starts at (x + dx, y + dy); the grid starts dx, dy before it
        out = apply_transform(padded, spec, (x, y, w + dx, h + dy))
    return np.ascontiguousarray(out[dy:, dx:])


def augment_variants(spec: str, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` obfuscation variants around ``spec``: the first is ``spec`` itself (offset 0, no crop
    jitter); the others draw the strength in :data:`STRENGTH_RANGE` x the assumed one, a grid
    offset (pixelation), a crop shift and a crop scale."""
    base = parse_spec(spec)
    out = [{"spec": base.label, "offset": (0, 0), "shift": (0.0, 0.0), "scale": 1.0}]
    for _ in range(max(0, n - 1)):
        f = float(rng.uniform(*STRENGTH_RANGE))
        if base.method in ("pixelate", "box"):
            s = float(max(1, round(base.strength * f)))
        elif base.method in ("blur", "noise"):
            s = round(base.strength * f, 2)
        else:
            s = base.strength
        lab = type(base)(base.method, s).label
        block = int(max(1, round(s))) if base.method == "pixelate" else 1
        offset = (int(rng.integers(block)), int(rng.integers(block)))
        shift = (float(rng.uniform(-SHIFT_MAX, SHIFT_MAX)), float(rng.uniform(-SHIFT_MAX, SHIFT_MAX)))
        out.append({"spec": lab, "offset": offset, "shift": shift, "scale": float(rng.uniform(*SCALE_RANGE))})
    return out


# ----------------------------------------------------------------------------- the face attacker

@dataclass
class PixelAttacker:
    """What :func:`fit_pixel_attacker` fitted on the obfuscated gallery (and only on it)."""

    identities: list[str]
    chosen: str
    model: Any
    cv: dict[str, Any]
    n_train: int
    variants: int
    crop_shape: tuple[int, int] = CROP_SHAPE
    pad: float = CROP_PAD
    fit_seconds: float = 0.0  # wall clock
    fit_cpu_seconds: float = 0.0  # CPU time of this process (does not depend on other jobs' load)
    params: dict[str, Any] = field(default_factory=dict)

    def features(self, crops: np.ndarray) -> np.ndarray:
        kind = CANDIDATES[self.chosen][0]
        return hog_features(crops) if kind == "hog" else crop_features(crops)

    def score(self, crops: np.ndarray) -> np.ndarray:
        """Per crop and identity (columns in :attr:`identities` order): the chosen classifier's
        log-probabilities (or an SVM's margins)."""
        from threadpoolctl import threadpool_limits

        _load_blas()
        if len(crops) == 0:
            return np.zeros((0, len(self.identities)))
        with threadpool_limits(1):
            s = _model_scores(self.model, self.features(np.asarray(crops)))
        assert list(self.model.classes_) == self.identities
        return s


def _folds(groups: np.ndarray, labels: np.ndarray, k_max: int, seed: int) -> tuple[np.ndarray, int]:
    """Fold of each row: gallery images of one identity spread over folds (seeded shuffle)."""
    by_id: dict[str, list[int]] = defaultdict(list)
    for g, y in sorted(set(zip(groups.tolist(), labels.tolist()))):
        by_id[y].append(g)
    k = min(k_max, max(len(v) for v in by_id.values()))
    k = min(k, sorted(len(v) for v in by_id.values())[len(by_id) // 2])  # the median identity's images
    if k < 2:
        return np.zeros(len(groups), int), k
    rng = np.random.default_rng(seed)
    fold_of: dict[int, int] = {}
    for v in by_id.values():
        for n, p in enumerate(rng.permutation(len(v))):
            fold_of[v[p]] = n % k if len(v) >= 2 else -1  # an identity's only image is never held out
    return np.array([fold_of[g] for g in groups.tolist()]), k


def fit_pixel_attacker(images: Sequence[np.ndarray | None], boxes: Sequence[Sequence[float] | None],
                       labels: Sequence[str], spec: str, *, regions: Sequence[Sequence[int] | None] | None = None,
                       whole: Sequence[bool] | None = None, candidates: Sequence[str] | None = None,
                       n_variants: int = N_VARIANTS, flips: bool = True, cv_folds: int = CV_FOLDS,
                       crop_shape: tuple[int, int] = CROP_SHAPE, pad: float = CROP_PAD,
                       seed: int = 0) -> PixelAttacker:
    """Fit the pixel attacker on gallery images obfuscated as ``spec`` (and around it).

    Parameters
    ----------
    images : clear gallery images (``None`` entries are left out).
    boxes : per image, the box (x, y, w, h) a crop is cut at, as the release pipeline would
        find it on the obfuscated image; ``None``: the whole image.
    labels : identity per image.
    spec : obfuscation label the release applied (declared or estimated), e.g. ``pixelate:block=16``.
    regions : per image, the region obfuscated (None: the whole image, frame scope).
    whole : per image, crop the whole image (the release faces were not detected).
    candidates : classifier names from :data:`CANDIDATES` (default: all of them).
    n_variants, flips : obfuscation variants per image (see :func:`augment_variants`) and mirrors.
    cv_folds : at most this many folds over each identity's gallery images.
    crop_shape, pad, seed : crop size (width, height), box padding and the seed of everything.

    Returns
    -------
    PixelAttacker with the model chosen by gallery cross-validation (rank-1 on held-out gallery
    images obfuscated exactly as ``spec``), refitted on all gallery images and their variants.
    """
    _load_blas()
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    # one BLAS thread: these fits are small, and on a shared machine multi-threaded BLAS spinning
    # against other processes made them many times slower (measured: PCA of 96x480, 4.4 s with 2
    # threads on a loaded machine, 0.07 s with one)
    with threadpool_limits(1):
        return _fit_pixel_attacker(images, boxes, labels, spec, regions=regions, whole=whole, candidates=candidates,
                                   n_variants=n_variants, flips=flips, cv_folds=cv_folds, crop_shape=crop_shape,
                                   pad=pad, seed=seed)


def _load_blas() -> None:
    """Import the libraries whose BLAS the fits use, so that a thread limit entered afterwards
    reaches them (threadpoolctl only limits libraries already loaded)."""
    import scipy.linalg  # noqa: F401
    import sklearn.decomposition
    import sklearn.discriminant_analysis
    import sklearn.linear_model
    import sklearn.neural_network
    import sklearn.svm  # noqa: F401


def _fit_pixel_attacker(images, boxes, labels, spec, *, regions, whole, candidates, n_variants, flips, cv_folds,
                        crop_shape, pad, seed) -> PixelAttacker:
    t0, c0 = time.monotonic(), time.process_time()
    cands = list(candidates or CANDIDATES)
    bad = [c for c in cands if c not in CANDIDATES]
    if bad:
        raise ValueError(f"unknown pixel model(s) {', '.join(bad)}; candidates: {', '.join(CANDIDATES)}")
    n = len(images)
    if not (len(boxes) == len(labels) == n):
        raise ValueError(f"{n} images, {len(boxes)} boxes and {len(labels)} labels: one of each per image")
    regions = list(regions) if regions is not None else [None] * n
    whole = list(whole) if whole is not None else [b is None for b in boxes]
    rng = np.random.default_rng(seed)
    crops, ys, groups, is_exact = [], [], [], []
    for i, (img, box, lab) in enumerate(zip(images, boxes, labels)):
        if img is None:
            continue
        for v in augment_variants(spec, n_variants, rng):
            obf = obfuscate_variant(img, v["spec"], None if regions[i] is None else tuple(regions[i]), v["offset"])
            c = box_crop(obf, box, shape=crop_shape, pad=pad, shift=v["shift"], scale=v["scale"], whole=whole[i])
            exact = v["offset"] == (0, 0) and v["spec"] == parse_spec(spec).label and v["scale"] == 1.0
            for cc, ex in ((c, exact), (c[:, ::-1], False)) if flips else ((c, exact),):
                crops.append(cc)
                ys.append(lab)
                groups.append(i)
                is_exact.append(ex)
    y = np.array(ys)
    identities = sorted(set(ys))
    if len(identities) < 2:
        raise ValueError("fewer than two gallery identities with a usable image: nothing to tell apart")
    C = np.array(crops, dtype=np.float32)
    feats = {"pixels": crop_features(C)}
    if any(CANDIDATES[c][0] == "hog" for c in cands):
        feats["hog"] = hog_features(C)
    g, ex = np.array(groups), np.array(is_exact, dtype=bool)
    fold, k = _folds(g, y, cv_folds, seed)
    cv: dict[str, Any] = {"folds": k, "candidates": {}}
    if k >= 2:
        hits = dict.fromkeys(cands, 0)
        n_held = 0
        for f in range(k):
            tr, te = fold != f, (fold == f) & ex
            te &= np.isin(y, np.unique(y[tr]))
            if len(set(y[tr])) < 2 or not te.any():
                continue
            truth = None
            for c, m in _fit_candidates(feats, y, np.flatnonzero(tr), cands, seed).items():
                s = _model_scores(m, feats[CANDIDATES[c][0]][te])
                if truth is None:
                    classes = list(m.classes_)
                    truth = np.array([classes.index(t) for t in y[te]])
                hits[c] += int((np.argmax(s, axis=1) == truth).sum())
            n_held += int(te.sum())
        if n_held:
            for c in cands:
                cv["candidates"][c] = {"rank1": hits[c] / n_held, "hits": hits[c], "n": n_held,
                                       "rank1_ci": list(wilson_interval(hits[c], n_held))}
            cv["n_held_out"] = n_held
            chosen = max(cands, key=lambda c: (hits[c], -cands.index(c)))  # ties: the simpler model
        else:
            chosen = cands[0]
            cv["note"] = "no held-out gallery image could be scored; the first candidate is used"
    else:
        chosen = cands[0]
        cv["note"] = ("fewer than two gallery images for most identities: no cross-validation, "
                      f"{chosen} is used")
    cv["chosen"] = chosen
    model = _fit_candidates(feats, y, np.arange(len(y)), [chosen], seed)[chosen]
    assert list(model.classes_) == identities
    return PixelAttacker(identities=identities, chosen=chosen, model=model, cv=cv, n_train=len(y),
                         variants=n_variants, crop_shape=tuple(crop_shape), pad=pad,
                         fit_seconds=round(time.monotonic() - t0, 2),
                         fit_cpu_seconds=round(time.process_time() - c0, 2), params=_model_params(model))
