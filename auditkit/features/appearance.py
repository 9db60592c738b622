"""Clothing and body appearance descriptors for person crops, and a metric learned on them.

The descriptor follows LOMO (Liao, Hu, Zhu & Li, "Person Re-identification by Local Maximal
Occurrence Representation and Metric Learning", CVPR 2015):

1. the crop is resized to 128x48 (height x width) and its colours are normalised with a
   multi-scale Retinex (Gaussian surrounds of sigma 5 and 20), which removes much of the
   illumination difference between cameras;
2. in 10x10 windows sliding by 5 pixels, a joint HSV histogram (8x8x8 bins) and two Scale
   Invariant Local Ternary Pattern histograms (SILTP, tau 0.3, radii 3 and 5, 81 bins each)
   are counted; for each horizontal row of windows the **maximum** occurrence of every bin
   over the row is kept (robust to the horizontal viewpoint shift between cameras);
3. the same is repeated on two 2x2 average-pooled copies (64x24, 32x12);
4. to that LOMO core we add the CIE-LAB colour of each horizontal stripe, as in ELF (Gray &
   Tao 2008): per stripe of 8 rows, 16-bin histograms of L, a and b;
5. every histogram group is log-scaled (``log(1 + x)``) and L2-normalised.

:class:`AppearanceMetric` implements Cross-view Quadratic Discriminant Analysis (XQDA, same
paper): a low-dimensional subspace in which within-person differences are small and
between-person differences large, with the Mahalanobis-like distance
``(x - z)^T (Sigma_I^-1 - Sigma_E^-1) (x - z)``; similarity is its negation.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy import linalg

__all__ = [
    "CANONICAL_SIZE",
    "DESCRIPTOR_VERSION",
    "AppearanceMetric",
    "appearance_descriptor",
    "appearance_features",
    "colour_stripes_descriptor",
    "descriptor_layout",
]

#: (height, width) every crop is resized to.
CANONICAL_SIZE = (128, 48)
#: Bumped whenever the descriptor's numbers change (used as a cache key).
DESCRIPTOR_VERSION = "lomo-lab-1"

_WIN, _STEP = 10, 5
_HSV_BINS = 8
_SILTP_TAU = 0.3
_SILTP_RADII = (3, 5)
_RETINEX_SIGMAS = (5.0, 20.0)
_LAB_STRIPE, _LAB_BINS = 8, 16
_N_SCALES = 3


def _check_crop(crop: np.ndarray) -> np.ndarray:
    a = np.asarray(crop)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"crop must be an HxWx3 RGB array, got shape {a.shape}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"crop must be at least 2x2 pixels, got {a.shape[0]}x{a.shape[1]}")
    if a.dtype != np.uint8:
        raise ValueError(f"crop must be uint8 (0-255), got dtype {a.dtype}")
    return a


def _retinex(rgb: np.ndarray) -> np.ndarray:
    """Multi-scale Retinex with a per-channel 1%-99% stretch; float32 in [0, 1]."""
    img = rgb.astype(np.float32) + 1.0
    log_i = np.log(img)
    msr = np.zeros_like(img)
    for s in _RETINEX_SIGMAS:
        msr += log_i - np.log(cv2.GaussianBlur(img, (0, 0), s, borderType=cv2.BORDER_REFLECT))
    msr /= len(_RETINEX_SIGMAS)
    out = np.empty_like(msr)
    for c in range(3):
        lo, hi = np.percentile(msr[..., c], (1.0, 99.0))
        out[..., c] = np.clip((msr[..., c] - lo) / (hi - lo), 0, 1) if hi > lo else 0.5
    return out


def _pool2(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    a = a[:h, :w]
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


def _hsv_codes(rgb01: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb01.astype(np.float32), cv2.COLOR_RGB2HSV)  # H in [0, 360)
    h = np.minimum((hsv[..., 0] / 360.0 * _HSV_BINS).astype(np.int64), _HSV_BINS - 1)
    s = np.minimum((hsv[..., 1] * _HSV_BINS).astype(np.int64), _HSV_BINS - 1)
    v = np.minimum((hsv[..., 2] * _HSV_BINS).astype(np.int64), _HSV_BINS - 1)
    return (h * _HSV_BINS + s) * _HSV_BINS + v


def _siltp_codes(gray: np.ndarray, radius: int) -> np.ndarray:
    """SILTP with 4 neighbours at ``radius``: 3^4 = 81 codes (Liao et al. 2010)."""
    p = np.pad(gray, radius, mode="edge")
    h, w = gray.shape
    c = gray
    code = np.zeros((h, w), dtype=np.int64)
    for dy, dx in ((-radius, 0), (0, radius), (radius, 0), (0, -radius)):
        nb = p[radius + dy:radius + dy + h, radius + dx:radius + dx + w]
        t = np.where(nb > (1 + _SILTP_TAU) * c, 1, np.where(nb < (1 - _SILTP_TAU) * c, 2, 0))
        code = code * 3 + t
    return code


def _max_occurrence(codes: np.ndarray, weight: np.ndarray, n_bins: int) -> np.ndarray:
    """Per row of 10x10 windows (stride 5): the max over the row of each bin's count.

    A 10x10 window at stride 5 is exactly 2x2 non-overlapping 5x5 cells, so the cells are
    counted once (one ``bincount``) and windows are sums of neighbouring cells.
    """
    h, w = codes.shape
    ch, cw = h // _STEP, w // _STEP
    if ch < 2 or cw < 2:
        return np.zeros((0, n_bins), dtype=np.float64)
    codes = codes[:ch * _STEP, :cw * _STEP]
    weight = weight[:ch * _STEP, :cw * _STEP]
    cell = (np.arange(ch * _STEP)[:, None] // _STEP) * cw + (np.arange(cw * _STEP)[None, :] // _STEP)
    flat = (cell * n_bins + codes).ravel()
    cells = np.bincount(flat, weights=weight.ravel().astype(np.float64),
                        minlength=ch * cw * n_bins).reshape(ch, cw, n_bins)
    win = cells[:-1, :-1] + cells[1:, :-1] + cells[:-1, 1:] + cells[1:, 1:]
    return win.max(axis=1)  # (rows, bins)


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.log1p(v.ravel().astype(np.float64))
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def _lab_stripes(rgb: np.ndarray, weight: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.int64)  # 8-bit: each channel 0..255
    q = np.minimum(lab * _LAB_BINS // 256, _LAB_BINS - 1)
    h = rgb.shape[0]
    out = []
    for y in range(0, h - _LAB_STRIPE + 1, _LAB_STRIPE):
        wgt = weight[y:y + _LAB_STRIPE].ravel()
        for c in range(3):
            out.append(np.bincount(q[y:y + _LAB_STRIPE, :, c].ravel(), weights=wgt,
                                   minlength=_LAB_BINS))
    return np.concatenate(out)


def descriptor_layout() -> dict[str, int]:
    """Length of each normalised group in :func:`appearance_descriptor`, in order."""
    h, w = CANONICAL_SIZE
    rows = 0
    for _ in range(_N_SCALES):
        rows += (h - _WIN) // _STEP + 1
        h, w = h // 2, w // 2
    n_lab = (CANONICAL_SIZE[0] // _LAB_STRIPE) * 3 * _LAB_BINS
    return {"hsv": rows * _HSV_BINS ** 3, **{f"siltp_r{r}": rows * 81 for r in _SILTP_RADII},
            "lab_stripes": n_lab}


def appearance_descriptor(crop: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """LOMO-style max-occurrence colour/texture descriptor plus LAB stripe histograms.

    Parameters
    ----------
    crop : HxWx3 uint8 RGB person crop of any size (resized to :data:`CANONICAL_SIZE`).
    mask : optional HxW foreground mask (bool or 0/1, same size as ``crop``); pixels outside
        it are not counted in any histogram (the Retinex still sees the whole crop).

    Returns
    -------
    float64 vector of length ``sum(descriptor_layout().values())`` (26,960 + 768); each
    group is ``log(1+count)`` then L2-normalised.

    Examples
    --------
    >>> import numpy as np
    >>> d = appearance_descriptor(np.full((100, 40, 3), 128, np.uint8))
    >>> d.shape == (sum(descriptor_layout().values()),)
    True
    """
    a = _check_crop(crop)
    h, w = CANONICAL_SIZE
    weight = _canonical_weight(a, mask)
    rgb = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)
    ret = _retinex(rgb)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0 + 1e-3
    hsv_parts, siltp_parts = [], {r: [] for r in _SILTP_RADII}
    img, g, wt = ret, gray, weight
    for scale in range(_N_SCALES):
        if scale:
            img, g, wt = _pool2(img), _pool2(g), _pool2(wt)
        hsv_parts.append(_max_occurrence(_hsv_codes(img), wt, _HSV_BINS ** 3))
        for r in _SILTP_RADII:
            siltp_parts[r].append(_max_occurrence(_siltp_codes(g, r), wt, 81))
    groups = [_normalise(np.concatenate(hsv_parts))]
    groups += [_normalise(np.concatenate(siltp_parts[r])) for r in _SILTP_RADII]
    groups.append(_normalise(_lab_stripes(rgb, weight)))
    return np.concatenate(groups)


def _canonical_weight(a: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The person mask of crop ``a`` at the canonical size (1 inside, 0 outside; all ones without a mask).

    Raises ValueError when the mask's shape is not the crop's."""
    h, w = CANONICAL_SIZE
    if mask is None:
        return np.ones((h, w), dtype=np.float32)
    m = np.asarray(mask)
    if m.shape != a.shape[:2]:
        raise ValueError(f"mask shape {m.shape} does not match crop shape {a.shape[:2]}")
    return (cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST) > 0).astype(np.float32)


def colour_stripes_descriptor(crop: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """The CIE-LAB stripe group of :func:`appearance_descriptor` alone (768 values, L2-normalised).

    The cheap part of the body descriptor (about 0.3 ms a crop against 25 ms for the whole):
    the tracker (:mod:`auditkit.features.appearance_tracking`) computes it for every detected
    box in every frame. Equal to ``appearance_descriptor(crop, mask=mask)[-768:]``.
    """
    a = _check_crop(crop)
    h, w = CANONICAL_SIZE
    weight = _canonical_weight(a, mask)
    rgb = a if a.shape[:2] == (h, w) else cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)
    return _normalise(_lab_stripes(rgb, weight))


def appearance_features(crops: Sequence[np.ndarray], *,
                        masks: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
    """Stack :func:`appearance_descriptor` over a sequence of crops: (n, d) float64."""
    if masks is not None and len(masks) != len(crops):
        raise ValueError(f"{len(masks)} masks for {len(crops)} crops")
    d = sum(descriptor_layout().values())
    out = np.empty((len(crops), d), dtype=np.float64)
    for i, c in enumerate(crops):
        out[i] = appearance_descriptor(c, mask=None if masks is None else masks[i])
    return out


class AppearanceMetric:
    """XQDA metric learning (Liao et al. 2015), fitted on gallery identities only.

    Parameters
    ----------
    reg : ridge added to the within-class covariance (the paper's lambda = 0.001, in the units
        of the L2-normalised descriptor).
    n_components : subspace dimension; ``None`` keeps every direction whose between/within
        variance ratio exceeds 1 (the paper's rule), at least 1.
    random_state : accepted for the common attack interface; XQDA itself is deterministic,
        so the value never changes the result.

    Notes
    -----
    Training pairs are all ordered pairs of training samples: same label = within-person
    ("intra"), different label = between-person ("extra"). With two cameras and one image
    per person per camera this is the paper's cross-view XQDA plus the same-camera
    between-person pairs. When the dimension exceeds the number of samples, the data are
    first projected onto their span (QR), as in the authors' code, which is exact.
    """

    def __init__(self, *, reg: float = 1e-3, n_components: int | None = None,
                 random_state: int | None = None) -> None:
        if reg < 0:
            raise ValueError(f"reg must be >= 0, got {reg!r}")
        if n_components is not None and n_components < 1:
            raise ValueError(f"n_components must be >= 1 or None, got {n_components!r}")
        self.reg = reg
        self.n_components = n_components
        self.random_state = random_state
        self.projection_: np.ndarray | None = None
        self.kernel_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y: Sequence) -> AppearanceMetric:
        """Learn the subspace and kernel from gallery descriptors ``X`` (n, d) and labels ``y``."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (samples x features), got shape {X.shape}")
        if len(y) != len(X):
            raise ValueError(f"{len(y)} labels for {len(X)} samples")
        labels, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
        if len(labels) < 2:
            raise ValueError(f"need at least 2 identities to learn a metric, got {len(labels)}")
        if not np.any(counts > 1):
            raise ValueError("need at least one identity with 2 or more samples (no within-person pairs)")
        n, d = X.shape
        if d > n:
            # orthonormal basis of the samples' span from the Gram matrix (exact, and far
            # cheaper than a QR of the d x n matrix when d >> n)
            gram = X @ X.T
            lam, U = np.linalg.eigh(gram)
            keep = lam > lam.max() * 1e-10
            lam, U = lam[keep], U[:, keep]
            Z = U * np.sqrt(lam)
            basis = (X.T @ U) / np.sqrt(lam)
        else:
            Z, basis = X, None
        k = Z.shape[1]
        S = Z.T @ Z
        s = Z.sum(axis=0)
        class_sum = np.zeros((len(labels), k))
        np.add.at(class_sum, inv, Z)
        Zw = Z * np.sqrt(counts[inv])[:, None]
        # sum over ordered pairs (i, j) in a class of (z_i - z_j)(z_i - z_j)^T
        intra = 2.0 * (Zw.T @ Zw) - 2.0 * (class_sum.T @ class_sum)
        total = 2.0 * n * S - 2.0 * np.outer(s, s)
        extra = total - intra
        n_intra = float(np.sum(counts * (counts - 1)))
        n_extra = float(n * n - np.sum(counts ** 2))
        intra /= n_intra
        extra /= n_extra
        intra = 0.5 * (intra + intra.T)
        extra = 0.5 * (extra + extra.T)
        ridge = self.reg
        intra_r = intra + ridge * np.eye(k)
        evals, evecs = linalg.eigh(extra, intra_r)
        order = np.argsort(evals)[::-1]
        evals, evecs = evals[order], evecs[:, order]
        if self.n_components is None:
            m = max(1, int(np.sum(evals > 1.0)))
        else:
            m = min(self.n_components, k)
        V = evecs[:, :m]
        V /= np.linalg.norm(V, axis=0, keepdims=True)
        ci = V.T @ intra_r @ V
        ce = V.T @ extra @ V + ridge * np.eye(m)
        self.intra_cov_, self.extra_cov_ = intra, extra  # in the working space (see basis_)
        self.basis_ = basis
        self.kernel_ = np.linalg.inv(ci) - np.linalg.inv(ce)
        self.kernel_ = 0.5 * (self.kernel_ + self.kernel_.T)
        self.projection_ = V if basis is None else basis @ V
        self.eigenvalues_ = evals[:m]
        self.n_identities_ = len(labels)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Project descriptors into the learned subspace."""
        if self.projection_ is None:
            raise RuntimeError("AppearanceMetric is not fitted: call fit(X, y) first")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.projection_.shape[0]:
            raise ValueError(f"X must have shape (n, {self.projection_.shape[0]}), got {X.shape}")
        return X @ self.projection_

    def similarity(self, probe_X: np.ndarray, gallery_X: np.ndarray) -> np.ndarray:
        """(n_probe, n_gallery) similarities: minus the XQDA distance (higher = more similar)."""
        P, G = self.transform(probe_X), self.transform(gallery_X)
        M = self.kernel_
        pp = np.einsum("ij,jk,ik->i", P, M, P)
        gg = np.einsum("ij,jk,ik->i", G, M, G)
        dist = pp[:, None] + gg[None, :] - 2.0 * (P @ M @ G.T)
        return -dist
