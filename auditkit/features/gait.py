"""Gait: silhouettes -> normalised frames -> gait energy image (GEI) -> PCA + LDA matching.

A gait energy image (Han & Bhanu, "Individual Recognition Using Gait Energy Image", IEEE
TPAMI 28(2), 2006) is the mean of size-normalised, horizontally centred binary silhouettes
over whole gait cycles. Each silhouette is cropped to its bounding box, scaled to a fixed
height (keeping its aspect ratio) and centred horizontally on its centroid. The gait period
is found from the silhouette-width signal (the width peaks once per step, twice per cycle).
:class:`GaitModel` projects GEIs with PCA then LDA (fitted on gallery identities only) and
scores by cosine similarity to each gallery identity's mean.

Loaders
-------
- :func:`load_usf_strip`: one USF HumanID strip (``png/<set>/<subject>/*.png`` in
  ``../shared/datasets/usf_gait_silhouettes``: 10 frames of 22x32 side by side, person = 255)
  -> a (10, 32, 22) boolean silhouette sequence.
- :func:`load_sequences`: a folder ``<subject>/<sequence>/<frame>.png`` (one folder of
  frames per sequence) or ``<subject>/<strip>.png`` (strips as above), in sorted order.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from ..result import Skipped

__all__ = [
    "GEI_SIZE",
    "USF_FRAME_WIDTH",
    "GaitModel",
    "GaitSequence",
    "estimate_gait_period",
    "gait_cycles",
    "gait_energy_image",
    "load_sequences",
    "load_usf_strip",
    "normalise_silhouette",
    "width_signal",
]

#: (height, width) of a normalised silhouette and of a GEI.
GEI_SIZE = (64, 44)
#: Width in pixels of one frame inside a USF strip (the strips are 220 x 32: 10 frames).
USF_FRAME_WIDTH = 22
_IMAGE_EXTS = (".png", ".bmp", ".pgm", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass
class GaitSequence:
    """One walking sequence: its subject, an id, and its (T, H, W) boolean silhouettes."""

    subject: str
    sequence: str
    frames: np.ndarray


def _as_binary(sil: np.ndarray) -> np.ndarray:
    a = np.asarray(sil)
    if a.ndim != 2:
        raise ValueError(f"a silhouette must be a 2-D mask, got shape {a.shape}")
    if a.dtype == bool:
        return a
    return a > (127 if a.dtype == np.uint8 and a.max() > 1 else 0)


def normalise_silhouette(sil: np.ndarray, *, size: tuple[int, int] = GEI_SIZE) -> np.ndarray | None:
    """Crop to the bounding box, scale to ``size[0]`` rows, centre on the centroid column.

    Returns a float32 (H, W) image in [0, 1], or ``None`` for an empty silhouette.
    """
    m = _as_binary(sil)
    H, W = size
    rows = np.flatnonzero(m.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    box = m[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
    h, w = box.shape
    new_w = max(1, round(w * H / h))
    scaled = cv2.resize(box, (new_w, H), interpolation=cv2.INTER_LINEAR)
    mass = scaled.sum(axis=0)
    cx = float((mass * np.arange(new_w)).sum() / mass.sum()) if mass.sum() > 0 else new_w / 2
    out = np.zeros((H, W), dtype=np.float32)
    # place column j of `scaled` at column j - cx + W/2 of `out`
    shift = round(W / 2.0 - cx)
    src0, dst0 = max(0, -shift), max(0, shift)
    n = min(new_w - src0, W - dst0)
    if n > 0:
        out[:, dst0:dst0 + n] = scaled[:, src0:src0 + n]
    return np.clip(out, 0.0, 1.0)


def _normalise_all(frames: Sequence[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    norm = [normalise_silhouette(f, size=size) for f in frames]
    norm = [f for f in norm if f is not None]
    if not norm:
        raise ValueError(f"all {len(frames)} silhouettes are empty: no person pixels")
    return np.stack(norm)


def width_signal(normalised: np.ndarray) -> np.ndarray:
    """Per-frame width (in pixels) of the normalised silhouettes' lower half (the legs)."""
    a = np.asarray(normalised) > 0.5
    legs = a[:, a.shape[1] // 2:, :]
    colmask = legs.any(axis=1)
    widths = np.zeros(len(a))
    for t, c in enumerate(colmask):
        idx = np.flatnonzero(c)
        widths[t] = idx[-1] - idx[0] + 1 if len(idx) else 0.0
    return widths


def estimate_gait_period(widths: np.ndarray, *, min_step: int = 3,
                         min_correlation: float = 0.3) -> int | None:
    """Gait cycle length in frames from the width signal, or ``None`` if no period is clear.

    The width peaks once per step, so its period is half a cycle: the first autocorrelation
    peak at a lag ``>= min_step`` with correlation ``>= min_correlation`` gives the step
    length ``p`` and the cycle is ``2 p``. At least two steps must be observed.
    """
    w = np.asarray(widths, dtype=np.float64)
    w = w - w.mean()
    n = len(w)
    denom = float(np.dot(w, w))
    if n < 2 * min_step or denom <= 0:
        return None
    ac = np.array([np.dot(w[:n - k], w[k:]) / denom * n / (n - k) for k in range(n // 2 + 1)])
    for k in range(max(min_step, 1), len(ac) - 1):
        if ac[k] >= ac[k - 1] and ac[k] >= ac[k + 1] and ac[k] >= min_correlation:
            return 2 * k
    return None


def gait_cycles(normalised: np.ndarray, **kwargs) -> list[tuple[int, int]]:
    """(start, stop) frame ranges of the complete gait cycles in a normalised sequence.

    If no period can be estimated (e.g. a sequence that is one cycle already, like the USF
    strips) or the sequence is shorter than one estimated cycle, the whole sequence is one
    range. Keyword arguments go to :func:`estimate_gait_period`.
    """
    n = len(normalised)
    period = estimate_gait_period(width_signal(normalised), **kwargs)
    if period is None or period > n:
        return [(0, n)]
    return [(s, s + period) for s in range(0, n - period + 1, period)]


def gait_energy_image(silhouettes: Sequence[np.ndarray] | np.ndarray, *,
                      size: tuple[int, int] = GEI_SIZE, **kwargs) -> np.ndarray:
    """GEI: the mean normalised silhouette over the sequence's complete gait cycles.

    Parameters
    ----------
    silhouettes : (T, H, W) masks (bool, 0/1 or 0/255); empty frames are dropped.
    size : (height, width) of the normalised frames and of the GEI.

    Returns
    -------
    float32 (height, width) image in [0, 1].
    """
    norm = _normalise_all(list(silhouettes), size)
    cycles = gait_cycles(norm, **kwargs)
    start, stop = cycles[0][0], cycles[-1][1]
    return norm[start:stop].mean(axis=0)


def load_usf_strip(path: str | Path, *, frame_width: int = USF_FRAME_WIDTH) -> np.ndarray:
    """One strip image of side-by-side frames -> (T, H, frame_width) boolean silhouettes."""
    p = Path(path)
    try:
        with Image.open(p) as im:
            a = np.asarray(im.convert("L"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read silhouette strip {p}: {e}") from None
    h, w = a.shape
    if frame_width < 1 or w % frame_width:
        raise ValueError(f"strip {p} is {w} px wide, not a multiple of the frame width "
                         f"{frame_width}")
    t = w // frame_width
    return (a.reshape(h, t, frame_width).transpose(1, 0, 2) > 127)


def _read_mask(p: Path) -> np.ndarray:
    with Image.open(p) as im:
        return np.asarray(im.convert("L")) > 127


def load_sequences(root: str | Path, *, frame_width: int = USF_FRAME_WIDTH
                   ) -> tuple[list[GaitSequence], list[Skipped]]:
    """Load every gait sequence under ``root``.

    Layouts (both may be mixed): ``root/<subject>/<sequence>/<frame>.png`` (frames of one
    sequence, read in sorted file-name order) and ``root/<subject>/<strip>.png`` (a strip of
    side-by-side frames ``frame_width`` pixels wide, as in the USF release). Unreadable
    files and empty sequences are returned as :class:`~auditkit.result.Skipped` records.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"gait folder {root} does not exist or is not a directory")
    seqs: list[GaitSequence] = []
    skipped: list[Skipped] = []
    for subj_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for entry in sorted(subj_dir.iterdir()):
            rel = str(entry.relative_to(root))
            try:
                if entry.is_dir():
                    frames = sorted(f for f in entry.iterdir() if f.suffix.lower() in _IMAGE_EXTS)
                    if not frames:
                        skipped.append(Skipped(rel, "sequence folder holds no image frames", "gait"))
                        continue
                    masks = [_read_mask(f) for f in frames]
                    shapes = {m.shape for m in masks}
                    if len(shapes) != 1:
                        skipped.append(Skipped(rel, f"frames differ in size: {sorted(shapes)}", "gait"))
                        continue
                    arr = np.stack(masks)
                elif entry.suffix.lower() in _IMAGE_EXTS:
                    arr = load_usf_strip(entry, frame_width=frame_width)
                else:
                    continue
            except (OSError, ValueError) as e:
                skipped.append(Skipped(rel, f"unreadable: {e}", "gait"))
                continue
            if not arr.any():
                skipped.append(Skipped(rel, "no silhouette pixels in any frame", "gait"))
                continue
            seqs.append(GaitSequence(subj_dir.name, rel, arr))
    return seqs, skipped


def _pca(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, principal axes (rows, by decreasing variance, sign fixed) and their variances.

    Uses the smaller of the two Gram matrices (exact, and much faster than an SVD of a wide
    matrix when there are fewer samples than pixels).
    """
    mean = X.mean(axis=0)
    Xc = X - mean
    n, d = Xc.shape
    if n < d:
        lam, U = np.linalg.eigh(Xc @ Xc.T)
        keep = lam > max(lam.max(), 0) * 1e-10
        lam, U = lam[keep][::-1], U[:, keep][:, ::-1]
        comps = (Xc.T @ U / np.sqrt(lam)).T
    else:
        lam, V = np.linalg.eigh(Xc.T @ Xc)
        keep = lam > max(lam.max(), 0) * 1e-10
        lam, comps = lam[keep][::-1], V[:, keep][:, ::-1].T
    sign = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    comps = comps * sign[:, None]
    return mean, comps, lam / max(n - 1, 1)


class GaitModel:
    """PCA + LDA on flattened GEIs, fitted on gallery identities only.

    Parameters
    ----------
    pca_variance : fraction of variance PCA keeps (capped at ``n_samples - n_classes``
        components so that LDA's within-class scatter is non-singular).
    random_state : accepted for the common attack interface; PCA (exact, via the Gram
        matrix) and LDA are deterministic, so it never changes the result.
    """

    def __init__(self, *, pca_variance: float = 0.95, random_state: int | None = 0) -> None:
        if not 0 < pca_variance <= 1:
            raise ValueError(f"pca_variance must be in (0, 1], got {pca_variance!r}")
        self.pca_variance = pca_variance
        self.random_state = random_state
        self.components_: np.ndarray | None = None

    @staticmethod
    def _flat(geis: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        a = np.asarray(geis, dtype=np.float64)
        if a.ndim == 3:
            a = a.reshape(len(a), -1)
        if a.ndim != 2:
            raise ValueError(f"GEIs must be (n, H, W) or (n, H*W), got shape {a.shape}")
        return a

    def fit(self, geis: np.ndarray, labels: Sequence[str]) -> GaitModel:
        """Fit PCA then LDA on gallery GEIs and their identity labels."""
        X = self._flat(geis)
        y = np.asarray(labels)
        if len(y) != len(X):
            raise ValueError(f"{len(y)} labels for {len(X)} GEIs")
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"need at least 2 gallery identities, got {len(classes)}")
        # LDA needs a non-singular within-class scatter: at most n - c PCA components
        max_comp = max(1, min(X.shape[1], len(X) - len(classes) if len(X) > len(classes) else len(X) - 1))
        mean, comps, var = _pca(X)
        cum = np.cumsum(var) / var.sum()
        k = int(np.searchsorted(cum, self.pca_variance - 1e-12) + 1)
        k = max(1, min(k, max_comp, len(cum)))
        self.n_pca_ = k
        self.mean_, self.components_ = mean, comps[:k]
        Z = (X - mean) @ self.components_.T
        if len(X) > len(classes):
            self.lda_ = LinearDiscriminantAnalysis(solver="eigen", shrinkage=None).fit(Z, y)
        else:  # one sample per identity: no within-class scatter, keep the PCA space
            self.lda_ = None
        F = self._embed(Z)
        self.classes_ = [str(c) for c in classes]
        self.class_means_ = np.stack([F[y == c].mean(axis=0) for c in classes])
        self.class_means_ /= np.maximum(np.linalg.norm(self.class_means_, axis=1, keepdims=True), 1e-12)
        return self

    def _embed(self, Z: np.ndarray) -> np.ndarray:
        F = self.lda_.transform(Z) if self.lda_ is not None else Z
        return F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)

    def transform(self, geis: np.ndarray) -> np.ndarray:
        """Unit-norm embedding of GEIs in the PCA + LDA space."""
        if self.components_ is None:
            raise RuntimeError("GaitModel is not fitted: call fit(geis, labels) first")
        return self._embed((self._flat(geis) - self.mean_) @ self.components_.T)

    def similarity(self, probe_geis: np.ndarray, gallery_geis: np.ndarray | None = None) -> np.ndarray:
        """Cosine similarities in the embedding (higher = more similar).

        With ``gallery_geis``: (n_probe, n_gallery) against those samples. Without: against
        each fitted gallery identity's mean, columns in ``self.classes_`` order.
        """
        P = self.transform(probe_geis)
        G = self.class_means_ if gallery_geis is None else self.transform(gallery_geis)
        return P @ G.T
