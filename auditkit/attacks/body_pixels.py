"""The pixel-domain body rung (issue 18): PCA + LDA on downsampled colour pixels and HOG of
person crops (:func:`body_pixel_features`, :class:`BodyPixelMetric`), classifiers fitted on
gallery person crops scoring release crops (:func:`body_pixel_scores`), and the two-camera
protocol run by ``auditkit evaluate reid`` (:func:`reid_pixel_attack`).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..result import AttackResult
from .pixel_models import _load_blas, _pca, hog_features, pca_lda

__all__ = ["BODY_SHAPE", "BodyPixelMetric", "body_pixel_features", "body_pixel_scores", "reid_pixel_attack"]


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
                      probe_camera: str | None = None, max_subjects: int | None = None,
                      protocol: str = "published", distractor_subjects: int = 0) -> AttackResult:
    """The body pixel rung under ``auditkit evaluate reid``'s protocol: the same random half-identity
    splits as the appearance attack (same seed), :func:`body_pixel_features` and
    :class:`BodyPixelMetric` (PCA + LDA learned on the training half) instead of the appearance
    descriptor and XQDA. Returns the attack (name ``appearance.pixels``) with its notes."""
    from ..evaluate import evaluate_reid

    r = evaluate_reid(manifest_csv, repeats=repeats, random_state=random_state, probe_camera=probe_camera,
                      max_subjects=max_subjects, protocol=protocol, distractor_subjects=distractor_subjects,
                      metric_factory=lambda seed: BodyPixelMetric(random_state=seed),
                      descriptor=body_pixel_features, name="appearance.pixels")
    att = r["attack"]
    att.notes.append(f"Pixel-domain rung: person crops resized to {BODY_SHAPE[0]}x{BODY_SHAPE[1]} (CIE Lab, "
                     "standardised per crop) plus HOG of the grey crop; PCA + LDA (Ledoit-Wolf shrinkage) "
                     "learned on the training subjects; cosine similarity in the discriminant space.")
    att.details["protocol_result"] = {k: r[k] for k in ("protocol", "summary", "rank1_pooled", "rank1_ci_pooled")}
    return att
