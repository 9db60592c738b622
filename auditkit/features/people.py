"""Person boxes in video frames: HOG people detector, background subtraction, or a manifest.

All three sources return :class:`Detections`: boxes ``(x, y, w, h)`` in pixels of the
**original** frame (detectors run on a resized copy and map their boxes back) and one score
per box (higher = more confident; the scales differ between sources).

- :class:`HogPeopleDetector`: OpenCV's Dalal-Triggs HOG + linear SVM
  (``cv2.HOGDescriptor_getDefaultPeopleDetector``), raw window hits merged by our own
  non-maximum suppression. Its 64x128 window sees people about 96 px tall; CCTV people are
  often smaller, so frames are *resized* by ``resize`` (``> 1`` upsamples) before detection.
  Stateless: frames can be processed in any order or in parallel.
- :class:`BackgroundSubtractionDetector`: OpenCV's MOG2 model of a static camera's
  background; foreground blobs (shadows dropped, morphologically cleaned) of person-like size
  and shape. Stateful: feed frames in time order. People walking together merge into one blob.
- :func:`boxes_from_manifest`: boxes given per frame in a table (columns ``frame``, ``x``,
  ``y``, ``w``, ``h`` and optionally ``score``, ``track``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..data.boxes import box_iou_matrix

__all__ = [
    "BackgroundSubtractionDetector",
    "Detections",
    "HogPeopleDetector",
    "box_iou_matrix",
    "boxes_from_manifest",
    "nms",
]


@dataclass
class Detections:
    """Boxes found in one frame: ``boxes`` (n, 4) float ``(x, y, w, h)`` in original pixels,
    ``scores`` (n,) float, optional ``labels`` (n,) e.g. manifest track ids."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: list[Any] | None = field(default=None)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=float).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=float).reshape(-1)
        if len(self.boxes) != len(self.scores):
            raise ValueError(f"{len(self.boxes)} boxes but {len(self.scores)} scores")
        if self.labels is not None and len(self.labels) != len(self.boxes):
            raise ValueError(f"{len(self.boxes)} boxes but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0))


def nms(boxes: np.ndarray, scores: np.ndarray, *, iou_threshold: float = 0.4) -> np.ndarray:
    """Greedy non-maximum suppression: indices of kept boxes, highest score first.

    A box is dropped when its IoU with an already kept, higher-scoring box exceeds
    ``iou_threshold``. Ties in score keep the earlier box.
    """
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold!r}")
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    iou = box_iou_matrix(boxes, boxes)
    keep: list[int] = []
    suppressed = np.zeros(len(boxes), dtype=bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= iou[i] > iou_threshold
    return np.asarray(keep, dtype=int)


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


class HogPeopleDetector:
    """OpenCV's HOG people detector with NMS, on a resized frame, boxes in original pixels.

    Parameters
    ----------
    resize : float
        Factor applied to the image given to :meth:`detect` before detection (2.0 makes the
        smallest detectable person 64 px tall instead of 128 px). Boxes are mapped back.
    hit_threshold : float
        SVM margin a window must exceed (OpenCV's ``hitThreshold``); raise it for precision.
        The default 0.5 was chosen after trying 0 (precision 0.58), 0.3 and 0.6 on PETS 2009
        S2.L1 frames 0-149 at 480x360 (precision 0.73 / 0.87 at recall 0.70 / 0.66), so PETS
        figures are not fully out-of-sample (benchmarks/README.md, "Video (issue 4)").
    win_stride : int
        Window step in pixels (on the resized image).
    pyramid_scale : float
        Scale step of the image pyramid (> 1; smaller is slower and finds more sizes).
    nms_iou : float
        IoU above which a lower-scoring window is suppressed.
    trim : bool
        Shrink each 64x128 window to the person inside it: Dalal & Triggs (2005) train with
        about 16 px of margin on every side, so the person is the central 32x96 (x + w/4,
        y + h/8, w/2, 3h/4). Ground-truth boxes (e.g. MOTChallenge) are tight, so this
        matters for IoU-based evaluation.
    max_height : float, optional
        Tallest person to look for, in original-frame pixels (a camera-geometry setting).
        Limits the image pyramid to the levels that can hold such a person, which saves about
        30% of the time on PETS; ``None`` searches every level (OpenCV's default 64).
    """

    name = "hog"

    def __init__(self, *, resize: float = 2.0, hit_threshold: float = 0.5, win_stride: int = 8,
                 pyramid_scale: float = 1.1, nms_iou: float = 0.4, trim: bool = True,
                 max_height: float | None = None):
        _check_positive("resize", resize)
        if not pyramid_scale > 1.0:
            raise ValueError(f"pyramid_scale must be > 1, got {pyramid_scale!r}")
        if not (isinstance(win_stride, int) and win_stride > 0):
            raise ValueError(f"win_stride must be a positive integer, got {win_stride!r}")
        self.resize = float(resize)
        self.hit_threshold = float(hit_threshold)
        self.win_stride = win_stride
        self.pyramid_scale = float(pyramid_scale)
        self.nms_iou = float(nms_iou)
        self.trim = bool(trim)
        if max_height is not None:
            _check_positive("max_height", max_height)
        self.max_height = max_height
        self._hogs: dict[int, cv2.HOGDescriptor] = {}

    def _descriptor(self, nlevels: int) -> cv2.HOGDescriptor:
        if nlevels not in self._hogs:
            hog = cv2.HOGDescriptor((64, 128), (16, 16), (8, 8), (8, 8), 9, 1, -1.0,
                                    cv2.HOGDescriptor_L2Hys, 0.2, False, nlevels)
            hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
            self._hogs[nlevels] = hog
        return self._hogs[nlevels]

    def _nlevels(self, scale: float) -> int:
        if self.max_height is None:
            return 64
        # window height (128 px at level 0) that holds a person max_height tall, after resizing
        window = self.max_height * scale * self.resize / (0.75 if self.trim else 1.0)
        if window <= 128:
            return 1
        return int(np.ceil(np.log(window / 128) / np.log(self.pyramid_scale))) + 1

    def params(self) -> dict[str, Any]:
        return {"detector": self.name, "resize": self.resize, "hit_threshold": self.hit_threshold,
                "win_stride": self.win_stride, "pyramid_scale": self.pyramid_scale,
                "nms_iou": self.nms_iou, "trim": self.trim, "max_height": self.max_height}

    def detect(self, image: np.ndarray, *, scale: float = 1.0) -> Detections:
        """Person boxes in ``image`` (RGB or grey uint8).

        ``scale`` is the factor ``image`` was already resized by from the original frame
        (``Frame.scale``); returned boxes are divided by it, i.e. in original pixels.
        """
        _check_positive("scale", scale)
        img = image
        if self.resize != 1.0:
            img = cv2.resize(image, None, fx=self.resize, fy=self.resize,
                             interpolation=cv2.INTER_LINEAR if self.resize > 1 else cv2.INTER_AREA)
        if img.shape[0] < 128 or img.shape[1] < 64:
            return Detections.empty()
        rects, weights = self._descriptor(self._nlevels(scale)).detectMultiScale(
            img, hitThreshold=self.hit_threshold, winStride=(self.win_stride, self.win_stride),
            padding=(8, 8), scale=self.pyramid_scale, groupThreshold=0)
        if len(rects) == 0:
            return Detections.empty()
        boxes = np.asarray(rects, dtype=float).reshape(-1, 4)
        scores = np.asarray(weights, dtype=float).reshape(-1)
        keep = nms(boxes, scores, iou_threshold=self.nms_iou)
        boxes, scores = boxes[keep], scores[keep]
        if self.trim:
            boxes = np.column_stack([boxes[:, 0] + boxes[:, 2] / 4, boxes[:, 1] + boxes[:, 3] / 8,
                                     boxes[:, 2] / 2, boxes[:, 3] * 0.75])
        return Detections(boxes / (self.resize * scale), scores)


class BackgroundSubtractionDetector:
    """Foreground blobs of a static camera (OpenCV MOG2) as person boxes.

    Feed frames in time order through :meth:`detect`; the background model learns online,
    so the first ``warmup`` frames return no boxes.

    Parameters
    ----------
    history, var_threshold : MOG2 parameters (frames of history, squared Mahalanobis
        distance to call a pixel foreground).
    min_height, max_height : float
        Blob height limits in *original* pixels.
    min_aspect, max_aspect : float
        Allowed height / width of a blob (people standing: about 1.5-5).
    min_fill : float
        Minimum fraction of foreground pixels inside the blob's box.
    warmup : int
        Frames used only to learn the background.
    kernel : int
        Side of the morphological open/close kernel (pixels of the processed image).
    """

    name = "mog2"

    def __init__(self, *, history: int = 200, var_threshold: float = 16.0, min_height: float = 30.0,
                 max_height: float = 1e9, min_aspect: float = 1.0, max_aspect: float = 6.0,
                 min_fill: float = 0.25, warmup: int = 10, kernel: int = 3, random_state: int = 0):
        if not (isinstance(history, int) and history > 0):
            raise ValueError(f"history must be a positive integer, got {history!r}")
        _check_positive("var_threshold", var_threshold)
        if not 0 < min_aspect <= max_aspect:
            raise ValueError(f"need 0 < min_aspect <= max_aspect, got {min_aspect!r}, {max_aspect!r}")
        self.history, self.var_threshold = history, float(var_threshold)
        self.min_height, self.max_height = float(min_height), float(max_height)
        self.min_aspect, self.max_aspect = float(min_aspect), float(max_aspect)
        self.min_fill, self.warmup, self.kernel = float(min_fill), int(warmup), int(kernel)
        cv2.setRNGSeed(int(random_state))
        self._mog = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=self.var_threshold,
                                                       detectShadows=True)
        self._k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (self.kernel, self.kernel))
        self.frames_seen = 0
        self.last_mask: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        return {"detector": self.name, "history": self.history, "var_threshold": self.var_threshold,
                "min_height": self.min_height, "max_height": self.max_height,
                "min_aspect": self.min_aspect, "max_aspect": self.max_aspect, "min_fill": self.min_fill,
                "warmup": self.warmup, "kernel": self.kernel}

    def foreground(self, image: np.ndarray) -> np.ndarray:
        """Update the model with ``image`` and return its cleaned foreground mask (bool)."""
        raw = self._mog.apply(image)
        self.frames_seen += 1
        fg = np.where(raw > 200, 255, 0).astype(np.uint8)  # 127 = shadow
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._k)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self._k, iterations=2)
        self.last_mask = fg > 0
        return self.last_mask

    def detect(self, image: np.ndarray, *, scale: float = 1.0) -> Detections:
        """Update the model and return person-like blobs (boxes in original pixels).

        Score = fraction of the box covered by foreground.
        """
        _check_positive("scale", scale)
        fg = self.foreground(image)
        if self.frames_seen <= self.warmup:
            return Detections.empty()
        n, _, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
        boxes, scores = [], []
        for i in range(1, n):
            x, y, w, h, area = (float(v) for v in stats[i])
            H = h / scale
            if not (self.min_height <= H <= self.max_height):
                continue
            if not (self.min_aspect <= h / max(w, 1.0) <= self.max_aspect):
                continue
            fill = area / (w * h)
            if fill < self.min_fill:
                continue
            boxes.append((x / scale, y / scale, w / scale, h / scale))
            scores.append(fill)
        return Detections(np.asarray(boxes).reshape(-1, 4), np.asarray(scores))


def boxes_from_manifest(rows: Iterable[Mapping[str, Any]], *, frame_key: str = "frame",
                        scale: float = 1.0) -> dict[int, Detections]:
    """Per-frame boxes from table rows (dicts or a ``DataFrame.to_dict("records")``).

    Each row needs ``frame`` (0-based index; another column via ``frame_key``) and ``x``,
    ``y``, ``w``, ``h``; optional ``score`` (default 1.0) and ``track`` (kept as labels).
    Coordinates are multiplied by ``scale`` (e.g. 0.625 for 768x576 boxes on a 480x360 clip).
    Rows with a missing or non-numeric value raise ``ValueError`` naming the row.
    """
    _check_positive("scale", scale)
    per: dict[int, list[tuple[list[float], float, Any]]] = {}
    for k, row in enumerate(rows):
        try:
            f = int(row[frame_key])
            box = [float(row[c]) * scale for c in ("x", "y", "w", "h")]
            score = float(row.get("score", 1.0) if row.get("score", "") not in ("", None) else 1.0)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"manifest row {k}: need {frame_key}, x, y, w, h as numbers ({e}); got {dict(row)!r}") from None
        if not all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"manifest row {k}: box must be finite with w, h > 0, got {box!r}")
        per.setdefault(f, []).append((box, score, row.get("track")))
    out = {}
    for f, items in sorted(per.items()):
        labels = [t for _, _, t in items]
        out[f] = Detections(np.asarray([b for b, _, _ in items]), np.asarray([s for _, s, _ in items]),
                            labels if any(lb not in (None, "") for lb in labels) else None)
    return out
