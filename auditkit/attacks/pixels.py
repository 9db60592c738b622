"""Pixel-domain learned attacks (issue 18): classifiers on the obfuscated pixels themselves.

Every embedding rung (``face.naive``, ``face.parrot``, ``face.learned``'s encodings,
``face.reconstruct``) goes through dlib's 128-d face encoding of the obfuscated image, which
carries little under heavy blur or pixelation while the pixels still carry a lot (McPherson,
Shokri & Shmatikov 2016, "Defeating image obfuscation with deep learning"; Belhumeur et al.
1997, "fisherfaces").

``face.pixels``
    The attacker re-applies the release's obfuscation (declared or estimated) to each gallery
    image, with variants around it (grid offsets for pixelation, strength around the assumed
    one, small shifts and scales of the crop, mirror images), cuts grey crops at the box the
    release pipeline would find (the detector's box on the obfuscated image, the manifest box,
    or the whole image when nothing is detected) and fits scikit-learn classifiers on them:
    PCA + LDA, logistic regression and a linear SVM on pixels, LDA and a linear SVM on HOG
    gradients, and a small MLP. Which one to use is chosen like a real attacker would: by
    cross-validation over the gallery images alone (held-out images obfuscated exactly as the
    release). The release never trains anything: it is only cropped and scored.

Bodies: :func:`body_pixel_features` and :class:`BodyPixelMetric` (PCA + LDA on downsampled
colour pixels and HOG of person crops), and :func:`body_pixel_scores` (classifiers fitted on
gallery person crops, scoring release crops), used by ``auditkit evaluate reid``.

This module also holds the crop and pixel-model primitives ``face.learned`` uses
(:func:`aligned_crop`, :func:`crop_features`, :func:`pca_lda`, :func:`release_crops`).
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..obfuscation import parse_spec
from ..result import AttackResult, Skipped
from ..scores import ScoreMatrix
from ..stats import wilson_interval
from .base import attack_result
from .context import FaceContext, register

__all__ = [
    "BODY_SHAPE",
    "CANDIDATES",
    "CROP_PAD",
    "CROP_SHAPE",
    "BodyPixelMetric",
    "PixelAttacker",
    "aligned_crop",
    "augment_variants",
    "body_pixel_features",
    "body_pixel_scores",
    "box_crop",
    "crop_features",
    "face_pixels",
    "fit_pixel_attacker",
    "hog_features",
    "obfuscate_variant",
    "pca_lda",
    "reid_pixel_attack",
    "release_crops",
    "release_like_gallery_boxes",
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
    the region's corner; offset (0, 0) is exactly :func:`auditkit.transforms.apply_transform`."""
    from ..transforms import apply_transform

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


# ----------------------------------------------------------------------------- the audit's rung

def _gallery_images(ctx: FaceContext) -> list[np.ndarray | None]:
    from ..data.media import MediaError, load_image

    imgs: list[np.ndarray | None] = []
    for gid, inf in zip(ctx.gallery.ids, ctx.gallery.info):
        try:
            imgs.append(load_image(inf["path"]))
        except MediaError as e:
            ctx.skipped.append(Skipped(gid, e.reason, "pixels gallery"))
            imgs.append(None)
    return imgs


def release_like_gallery_boxes(ctx: FaceContext, imgs: Sequence[np.ndarray | None]
                               ) -> tuple[list[tuple[int, int, int, int] | None], list[bool]]:
    """Per gallery image: the box the release pipeline finds on it once obfuscated as
    ``ctx.spec`` (detector box, else the clear box as a manifest box would be, else the whole
    image), and whether that is the whole image. The extraction tasks are ``face.learned``'s
    (same cache keys), so after it they cost nothing."""
    from ..features.faces import Task
    from .adaptive import _pick_face, _probe_like_hint
    from .face import expand_box

    no_hint = _probe_like_hint(ctx)
    tasks: dict[int, Task] = {}
    for i, (inf, img) in enumerate(zip(ctx.gallery.info, imgs)):
        if img is None:
            continue
        box = tuple(int(v) for v in inf["box"])
        region = None if ctx.scope == "frame" else expand_box(box)
        tasks[i] = Task(inf["path"], inf["sha256"], hint_box=None if no_hint else box, obfuscation=(ctx.spec, region))
    got = ctx.encode(list({t.key: t for t in tasks.values()}.values()), label="learned gallery")
    boxes: list[tuple[int, int, int, int] | None] = []
    whole: list[bool] = []
    for i, inf in enumerate(ctx.gallery.info):
        clear = tuple(int(v) for v in inf["box"])
        r = got.get(tasks[i].key) if i in tasks else None
        if r is None or isinstance(r, str):  # the clear box: where the face is
            boxes.append(clear)
            whole.append(inf.get("source") == "whole_image")
            continue
        j = _pick_face(r, tasks[i].hint_box, clear)
        boxes.append(tuple(int(v) for v in r.boxes[j]))
        whole.append(str(r.sources[j]) == "whole_image")
    return boxes, whole


def release_crops(ctx: FaceContext, crop: Callable[[np.ndarray, tuple[int, int, int, int], dict], np.ndarray],
                  shape: tuple[int, int], *, label: str) -> np.ndarray:
    """``crop(image, box, info)`` of every release face (each file decoded once), stacked as
    ``(n_probes, *shape)``; a file that cannot be re-read keeps zeros and a note in ``ctx.notes``."""
    from ..data.media import MediaError, load_image

    crops = np.zeros((len(ctx.probes), *shape), dtype=np.float32)
    by_file: dict[str, list[int]] = defaultdict(list)
    for i, inf in enumerate(ctx.probes.info):
        by_file[inf["file"]].append(i)
    for rel, rows in by_file.items():
        try:
            # a frame of a multi-page image has its own (split) file: the info's path, not the rel
            img = load_image(ctx.probes.info[rows[0]].get("path") or Path(ctx.release_root) / rel)
        except MediaError as e:  # the audit decoded it once already; keep the row, flag it
            ctx.notes.append(f"{label}: release file could not be re-read for pixel features ({e.reason})")
            continue
        for i in rows:
            inf = ctx.probes.info[i]
            crops[i] = crop(img, tuple(int(v) for v in inf["box"]), inf)
    return crops


def face_pixels(ctx: FaceContext, *, candidates: Sequence[str] | None = None, n_variants: int = N_VARIANTS,
                cv_folds: int = CV_FOLDS) -> AttackResult | None:
    """The pixel-domain learned attacker: :func:`fit_pixel_attacker` on the gallery obfuscated
    as ``ctx.spec``, then classify grey crops of the release faces."""
    if ctx.spec is None:
        ctx.notes.append("face.pixels not run: the obfuscation is unknown (declare it with --obfuscation, "
                         "e.g. pixelate:block=16)")
        return None
    imgs = _gallery_images(ctx)
    boxes, whole = release_like_gallery_boxes(ctx, imgs)
    from .face import expand_box

    regions = [None if ctx.scope == "frame" else expand_box(inf["box"]) for inf in ctx.gallery.info]
    att = fit_pixel_attacker(imgs, boxes, list(ctx.gallery.labels), ctx.spec, regions=regions, whole=whole,
                             candidates=candidates, n_variants=n_variants, cv_folds=cv_folds, seed=ctx.seed)
    shape = (att.crop_shape[1], att.crop_shape[0])
    crops = release_crops(ctx, lambda img, box, inf: box_crop(img, box, shape=att.crop_shape, pad=att.pad,
                                                              whole=inf.get("source") == "whole_image"),
                          shape, label="face.pixels")
    scores = att.score(crops)
    sm = ScoreMatrix(scores, list(ctx.probes.ids), list(att.identities), list(ctx.probes.labels))
    cv = att.cv
    chosen_cv = cv["candidates"].get(att.chosen)
    if chosen_cv:
        lo, hi = chosen_cv["rank1_ci"]
        cv_txt = (f"gallery cross-validation rank-1 {chosen_cv['rank1']:.1%} (95% CI {lo:.1%}-{hi:.1%}, "
                  f"n = {chosen_cv['n']} held-out gallery images, {cv['folds']} folds); other candidates: "
                  + ", ".join(f"{c} {d['rank1']:.0%}" for c, d in cv["candidates"].items() if c != att.chosen))
    else:
        cv_txt = cv.get("note", "")
    n_whole = sum(1 for inf in ctx.probes.info if inf.get("source") == "whole_image")
    notes = [(f"pixel attacker: classifiers on grey {att.crop_shape[0]}x{att.crop_shape[1]} crops of the gallery "
              f"obfuscated with {ctx.spec} ({ctx.spec_source or 'assumed'}; region: {ctx.scope}) and "
              f"{att.variants - 1} variants around it per image (strength x{STRENGTH_RANGE[0]}-{STRENGTH_RANGE[1]}, "
              f"grid offsets, small shifts and scales), each mirrored; model chosen on the gallery alone: "
              f"{att.chosen} ({CANDIDATES[att.chosen][1]}); {cv_txt}; the release was not used to train")]
    if n_whole:
        notes.append(f"{n_whole} of {len(ctx.probes)} release face(s) were not detected: cropped as whole images, "
                     "and the gallery the same way where the obfuscated gallery image gave no detection")
    details = {"obfuscation": {"spec": ctx.spec, "source": ctx.spec_source, "scope": ctx.scope},
               "pixels": {"chosen": att.chosen, "description": CANDIDATES[att.chosen][1], "params": att.params,
                          "cv": cv, "n_train": att.n_train,
                          "gallery_images": sum(img is not None for img in imgs),
                          "augmentation": {"variants_per_image": att.variants, "mirrored": True,
                                           "strength_range": list(STRENGTH_RANGE), "shift_max": SHIFT_MAX,
                                           "scale_range": list(SCALE_RANGE)},
                          "crop": {"shape": list(att.crop_shape), "pad": att.pad,
                                   "release_whole_image": n_whole,
                                   "gallery_whole_image": int(sum(whole))},
                          "fit_seconds": att.fit_seconds, "fit_cpu_seconds": att.fit_cpu_seconds,
                          "seed": ctx.seed}}
    res = attack_result("face.pixels", "face", sm, notes=notes, details=details)
    if chosen_cv:
        res.metrics["cv_rank1"] = chosen_cv["rank1"]
        res.metrics["cv_rank1_ci"] = tuple(chosen_cv["rank1_ci"])
        res.metrics["cv_n"] = chosen_cv["n"]
    return res


@register("face.pixels")
def _pixels(ctx: FaceContext) -> AttackResult | None:
    try:
        return face_pixels(ctx)
    except ValueError as e:  # e.g. fewer than two gallery identities: skip, say why
        ctx.notes.append(f"face.pixels not run: {e}")
        return None


# ----------------------------------------------------------------------------- bodies

#: (width, height) of the person crops the body pixel rung reads
BODY_SHAPE = (24, 64)


def body_pixel_features(crop: np.ndarray, *, shape: tuple[int, int] = BODY_SHAPE) -> np.ndarray:
    """Pixel-domain features of a person crop (HxWx3 uint8 RGB): the crop resized to ``shape``
    (width, height) in CIE Lab, each channel standardised over the crop (colour layout), then
    HOG of its grey image (shape); one float64 vector, each part L2-normalised."""
    a = np.asarray(crop)
    if a.ndim != 3 or a.shape[2] < 3 or a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"person crop must be HxWx3 with H, W >= 2, got shape {a.shape}")
    small = cv2.resize(np.ascontiguousarray(a[..., :3]), tuple(shape), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float64)
    col = (lab - lab.mean(axis=(0, 1))) / 64.0 + lab.mean(axis=(0, 1)) / 128.0  # layout and mean colour
    col = col.ravel()
    grey = small.mean(axis=2) / 255.0
    hg = hog_features(grey[None])[0]
    return np.concatenate([col / max(np.linalg.norm(col), 1e-9), hg / max(np.linalg.norm(hg), 1e-9)])


class BodyPixelMetric:
    """PCA + LDA learned on labelled person crops' :func:`body_pixel_features` (the identities
    of a training split); similarity = cosine in the discriminant space. Same interface as
    :class:`~auditkit.features.appearance.AppearanceMetric`: ``fit(X, y)``, ``similarity(P, G)``."""

    def __init__(self, *, random_state: int = 0, n_components: int = 150):
        self.random_state = random_state
        self.n_components = n_components
        self._model = None

    def fit(self, X: np.ndarray, y: Sequence) -> BodyPixelMetric:
        X = np.asarray(X, dtype=np.float64)
        yy = np.asarray(list(y))
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
        from sklearn.pipeline import make_pipeline

        pca = _pca(self.random_state, len(X), len(set(yy.tolist())), X.shape[1])
        pca.n_components = min(pca.n_components, self.n_components)
        # the eigen solver (same shrunk LDA as lsqr) gives the projection used for the similarity
        from threadpoolctl import threadpool_limits

        _load_blas()
        with threadpool_limits(1):
            self._model = make_pipeline(pca, LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto")).fit(X, yy)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise ValueError("BodyPixelMetric: call fit() first")
        Z = self._model.transform(np.asarray(X, dtype=np.float64))
        return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)

    def similarity(self, P: np.ndarray, G: np.ndarray) -> np.ndarray:
        return self.transform(P) @ self.transform(G).T


def body_pixel_scores(gallery_crops: Sequence[np.ndarray], gallery_labels: Sequence[str],
                      release_crops_: Sequence[np.ndarray], *, seed: int = 0,
                      flips: bool = True) -> tuple[np.ndarray, list[str]]:
    """Fit a PCA + LDA classifier on the gallery's person crops (each also mirrored) and score
    the release's crops: ``(scores (n_release, n_identities), identities)``, log-probabilities
    with identities in sorted order. The release is only scored."""
    X, y = [], []
    for c, lab in zip(gallery_crops, gallery_labels):
        a = np.asarray(c)
        X.append(body_pixel_features(a))
        y.append(lab)
        if flips:
            X.append(body_pixel_features(np.ascontiguousarray(a[:, ::-1])))
            y.append(lab)
    identities = sorted(set(y))
    if len(identities) < 2:
        raise ValueError("body pixel rung: fewer than two gallery identities")
    from threadpoolctl import threadpool_limits

    Xa = np.array(X)
    R = np.array([body_pixel_features(np.asarray(c)) for c in release_crops_]).reshape(len(release_crops_), -1)
    _load_blas()
    with threadpool_limits(1):
        model = pca_lda(seed, len(Xa), len(identities), Xa.shape[1]).fit(Xa, np.array(y))
        scores = np.maximum(model.predict_log_proba(R), -1e4) if len(R) else np.zeros((0, len(identities)))
    return scores, identities


def reid_pixel_attack(manifest_csv: str | Path, *, repeats: int = 10, random_state: int = 0,
                      probe_camera: str | None = None, max_subjects: int | None = None) -> AttackResult:
    """The body pixel rung under ``auditkit evaluate reid``'s protocol: the same random half-identity
    splits as the appearance attack (same seed), :func:`body_pixel_features` and
    :class:`BodyPixelMetric` (PCA + LDA learned on the training half) instead of the appearance
    descriptor and XQDA. Returns the attack (name ``appearance.pixels``) with its notes."""
    from ..evaluate import evaluate_reid

    r = evaluate_reid(manifest_csv, repeats=repeats, random_state=random_state, probe_camera=probe_camera,
                      max_subjects=max_subjects, metric_factory=lambda seed: BodyPixelMetric(random_state=seed),
                      descriptor=body_pixel_features, name="appearance.pixels")
    att = r["attack"]
    att.notes.append(f"Pixel-domain rung: person crops resized to {BODY_SHAPE[0]}x{BODY_SHAPE[1]} (CIE Lab, "
                     "standardised per crop) plus HOG of the grey crop; PCA + LDA (Ledoit-Wolf shrinkage) "
                     "learned on the training subjects; cosine similarity in the discriminant space.")
    att.details["protocol_result"] = {k: r[k] for k in ("protocol", "summary", "rank1_pooled", "rank1_ci_pooled")}
    return att
