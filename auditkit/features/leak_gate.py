"""The whole-frame face-leak scan of a static camera, gated by change (issue 15).

A face detector is local: where a frame's pixels, and their surroundings, equal those of a frame
already scanned, it finds what it found there. CCTV cameras are mostly static, so most of each
frame equals the last fully scanned one. :class:`ChangeGate` scans a frame fully every
``full_every`` frames (the *reference*); in between it compares the frame with the reference (grey,
at a quarter of the size, a pixel changed when it differs by more than ``threshold`` grey levels),
and runs the detector only on the changed regions (each grown by ``pad`` pixels, for the detector's
context), and on the reference's faces that a change touches (grown by half their size, so that a
face whose change is partial is whole in its crop); overlapping crops are merged. The reference's other
faces are carried over. When the changed regions cover more than ``max_changed`` of the frame
(camera motion, a lighting change, a crowd), the frame is scanned fully and becomes the reference.

It is an approximation of scanning every frame fully: a change below the threshold is not looked
at, and a face read with little context around it scores lower (CenterFace, 24 px face, 16 px of
context: 0.59 instead of 0.71), so a face near the detector's threshold can be missed (or a weak one
found). benchmarks/bench_leak_gate.py measures how close it stays on real video; the audit scans every
frame fully unless asked (``--leak-full-every``). A detector with ``detect_regions`` (CenterFace) reads
the regions on its own input grid, at the scale and grid phase of a whole scan.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

__all__ = ["ChangeGate"]

Detect = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _grey_small(image: np.ndarray, f: int) -> np.ndarray:
    g = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = g.shape[:2]
    return cv2.resize(g, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)


def _merge(boxes: list[list[int]]) -> list[list[int]]:
    """Union of overlapping (x0, y0, x1, y1) boxes into their bounding boxes, until none overlap."""
    out = [list(b) for b in boxes]
    merged = True
    while merged and len(out) > 1:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    out[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return out


class ChangeGate:
    """Per clip state of the gated whole-frame scan (see the module docstring); one per clip, frames in order."""

    def __init__(self, *, full_every: int = 10, threshold: int = 12, factor: int = 4, pad: int = 16,
                 max_changed: float = 0.4):
        if not (isinstance(full_every, int) and full_every >= 1):
            raise ValueError(f"full_every must be an integer >= 1, got {full_every!r}")
        self.full_every, self.threshold, self.factor = full_every, int(threshold), int(factor)
        self.pad, self.max_changed = int(pad), float(max_changed)
        self._ref: np.ndarray | None = None
        self._ref_boxes = np.zeros((0, 4))
        self._ref_scores = np.zeros(0)
        self._since = 0
        self.counts = {"full": 0, "gated": 0, "pixels_scanned": 0, "pixels_total": 0}

    def params(self) -> dict[str, Any]:
        return {"full_every": self.full_every, "threshold": self.threshold, "factor": self.factor,
                "pad": self.pad, "max_changed": self.max_changed}

    def _full(self, image: np.ndarray, small: np.ndarray, detect: Detect) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = detect(image)
        self._ref, self._ref_boxes, self._ref_scores, self._since = small, boxes.reshape(-1, 4), scores, 1
        self.counts["full"] += 1
        self.counts["pixels_scanned"] += image.shape[0] * image.shape[1]
        return boxes, scores

    def detect(self, image: np.ndarray, detect: Detect,
               detect_regions: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Faces in ``image`` as ``detect(image)`` would give them: boxes (n, 4) ``(x, y, w, h)``, scores.
        ``detect_regions(image, regions)``, when the detector has one, reads the regions in place (e.g.
        CenterFace on its own input grid); else each region is cut out and given to ``detect``."""
        H, W = image.shape[:2]
        self.counts["pixels_total"] += H * W
        f = self.factor
        small = _grey_small(image, f)
        if self._ref is None or self._since >= self.full_every or self._ref.shape != small.shape:
            return self._full(image, small, detect)
        changed = (cv2.absdiff(small, self._ref) > self.threshold).astype(np.uint8)
        changed = cv2.dilate(changed, np.ones((3, 3), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
        regions = []
        for x, y, w, h, _area in stats[1:n]:
            pad = self.pad
            regions.append([x * f - pad, y * f - pad, (x + w) * f + pad, (y + h) * f + pad])
        # the reference's faces that a change touches are looked for again, whole
        keep = np.ones(len(self._ref_boxes), bool)
        for k, (bx, by, bw, bh) in enumerate(self._ref_boxes):
            sx0, sy0 = max(int(bx // f) - 1, 0), max(int(by // f) - 1, 0)
            sx1, sy1 = int(np.ceil((bx + bw) / f)) + 1, int(np.ceil((by + bh) / f)) + 1
            if changed[sy0:sy1, sx0:sx1].any():
                keep[k] = False
                pad = max(self.pad, int(max(bw, bh)) // 2)
                regions.append([int(bx) - pad, int(by) - pad, int(bx + bw) + pad, int(by + bh) + pad])
        regions = [[max(0, a), max(0, b), min(W, c), min(H, d)] for a, b, c, d in _merge(regions)]
        regions = [r for r in regions if r[2] - r[0] >= 2 and r[3] - r[1] >= 2]
        area = sum((c - a) * (d - b) for a, b, c, d in regions)
        if area > self.max_changed * H * W:
            return self._full(image, small, detect)
        self._since += 1
        self.counts["gated"] += 1
        self.counts["pixels_scanned"] += int(area)
        out_b, out_s = [self._ref_boxes[keep]], [self._ref_scores[keep]]
        if detect_regions is not None and regions:
            fb, fs = detect_regions(image, regions)
            out_b.append(fb.reshape(-1, 4))
            out_s.append(fs)
            regions = []
        for a, b, c, d in regions:
            fb, fs = detect(np.ascontiguousarray(image[b:d, a:c]))
            if len(fb):
                out_b.append(fb.reshape(-1, 4) + np.array([a, b, 0, 0], float))
                out_s.append(fs)
        return np.concatenate(out_b).reshape(-1, 4), np.concatenate(out_s)
