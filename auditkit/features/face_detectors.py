"""The face detectors auditkit can run, by name: ``hog``, ``cnn`` (dlib) and ``centerface`` (ONNX).

Every detector has ``name``, ``detect(image) -> (boxes (n, 4) x, y, w, h in image pixels, scores)``
and ``params()`` (what enters cache keys and results.json). Scores are each detector's own:
dlib HOG's SVM margin (0 at its default threshold), dlib CNN's MMOD confidence, CenterFace's
heatmap probability; compare detections within one detector only.

``"auto"`` (the face-leak scan's default) is CenterFace when it can run here (the ``centerface``
extra and its model, see :mod:`auditkit.features.centerface`), else HOG: on small faces CenterFace
finds many more at the same precision (``benchmarks/bench_face_detector.py``).
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

__all__ = ["DETECTORS", "LEAK_DETECTORS", "DlibCnnDetector", "DlibHogDetector", "FaceDetector", "detector_available",
           "make_face_detector", "resolve_detector"]

DETECTORS = ("hog", "cnn", "centerface")
LEAK_DETECTORS = ("auto", *DETECTORS)


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def params(self) -> dict[str, Any]: ...


def _rects_to_boxes(pairs, shape) -> tuple[np.ndarray, np.ndarray]:
    H, W = shape[:2]
    boxes, scores = [], []
    for r, s in pairs:
        x0, y0 = max(0, r.left()), max(0, r.top())
        x1, y1 = min(W, r.right() + 1), min(H, r.bottom() + 1)
        if x1 - x0 >= 1 and y1 - y0 >= 1:
            boxes.append([x0, y0, x1 - x0, y1 - y0])
            scores.append(float(s))
    return np.asarray(boxes, dtype=float).reshape(-1, 4), np.asarray(scores, dtype=float)


class DlibHogDetector:
    """dlib's HOG frontal face detector, ``run(img, upsample, adjust_threshold)`` (faces >= ~80 px / 2**upsample)."""

    name = "hog"

    def __init__(self, *, upsample: int = 1, adjust_threshold: float = 0.0):
        if not (isinstance(upsample, int) and 0 <= upsample <= 4):
            raise ValueError(f"upsample must be an integer in 0..4, got {upsample!r}")
        import dlib  # deferred: no model at import time

        self._det = dlib.get_frontal_face_detector()
        self.upsample, self.adjust_threshold = upsample, float(adjust_threshold)

    def params(self) -> dict[str, Any]:
        return {"detector": "dlib.hog_frontal", "upsample": self.upsample, "adjust_threshold": self.adjust_threshold}

    def detect(self, image: np.ndarray, *, upsample: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        img = np.ascontiguousarray(image)
        rects, scores, _ = self._det.run(img, self.upsample if upsample is None else upsample, self.adjust_threshold)
        return _rects_to_boxes(zip(rects, scores), img.shape)


class DlibCnnDetector:
    """dlib's MMOD CNN face detector (``mmod_human_face_detector.dat`` from face_recognition_models)."""

    name = "cnn"

    def __init__(self, *, upsample: int = 1):
        if not (isinstance(upsample, int) and 0 <= upsample <= 4):
            raise ValueError(f"upsample must be an integer in 0..4, got {upsample!r}")
        import dlib

        from .faces import model_path

        self._det = dlib.cnn_face_detection_model_v1(str(model_path("mmod_human_face_detector.dat")))
        self.upsample = upsample

    def params(self) -> dict[str, Any]:
        return {"detector": "dlib.mmod_cnn", "upsample": self.upsample}

    def detect(self, image: np.ndarray, *, upsample: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        img = np.ascontiguousarray(image)
        dets = self._det(img, self.upsample if upsample is None else upsample)
        return _rects_to_boxes(((d.rect, d.confidence) for d in dets), img.shape)


def detector_available(name: str) -> bool:
    """Whether ``name`` can run here (dlib's are always installed; CenterFace needs its extra)."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; allowed: {', '.join(DETECTORS)}")
    if name == "centerface":
        from .centerface import centerface_available

        return centerface_available()
    return True


def resolve_detector(name: str) -> str:
    """``"auto"`` -> ``"centerface"`` when available, else ``"hog"``; other names unchanged (checked)."""
    if name == "auto":
        return "centerface" if detector_available("centerface") else "hog"
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; allowed: {', '.join(LEAK_DETECTORS)}")
    return name


def make_face_detector(name: str, *, upsample: int = 1, threshold: float | None = None) -> FaceDetector:
    """A detector by name (``"auto"`` resolved by :func:`resolve_detector`).

    ``upsample`` is dlib's pyramid upsampling (hog, cnn: each step doubles the image) and, alike,
    CenterFace's ``upscale = 2 ** upsample`` (the default 1 runs it at twice the image size, where it finds
    faces of 10-19 px about 2.5x as often as at the image's own size); ``threshold`` is HOG's
    ``adjust_threshold`` or CenterFace's score threshold (cnn: ignored, default None = each one's own).

    Raises
    ------
    CenterFaceUnavailable
        ``"centerface"`` asked for explicitly but onnxruntime, onnx or the model is missing.
    """
    name = resolve_detector(name)
    if name == "hog":
        return DlibHogDetector(upsample=upsample, adjust_threshold=0.0 if threshold is None else threshold)
    if name == "cnn":
        return DlibCnnDetector(upsample=upsample)
    from .centerface import CenterFaceDetector

    kw = {} if threshold is None else {"threshold": threshold}
    return CenterFaceDetector(upscale=2.0 ** upsample, **kw)
