"""Face-leak scan: faces a detector still finds in a "de-identified" video.

Video anonymisers miss faces in single frames (motion blur, profile views, detector misses);
one such frame exposes the whole track. :func:`scan_face_leaks` runs a face detector
(:mod:`auditkit.features.face_detectors`: ``"auto"`` = CenterFace when its extra is installed,
else dlib's HOG frontal detector; every hit carries the detector's score) on every sampled frame:

- ``mode="frame"``: on the whole frame, upsampled ``upsample`` times (each step doubles it:
  dlib HOG's smallest face is about 80 px, 40 px at ``upsample=1``; CenterFace's about 20 px,
  10 px at ``upsample=1``);
- ``mode="person"``: only on the upper part of each tracked person box, enlarged so the box
  is ``person_height`` px tall (faces in CCTV are a few pixels; this is where they are);
- ``mode="both"``: both, duplicates merged.

Each :class:`Leak` gives frame, time, box (original pixels), confidence and the track whose
box holds the face (largest share of the face box inside the person box, at least half).
:func:`leak_rate` turns a clip's leaks into the share of scanned frames that leak a face, with a
Wilson interval.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from auditkit.data.video import Frame
from auditkit.features.face_detectors import make_face_detector, resolve_detector
from auditkit.features.people import nms
from auditkit.features.tracking import Track

__all__ = ["FaceLeakScanner", "Leak", "attribute_leaks", "leak_rate", "scan_face_leaks", "tracks_exposed"]

MODES = ("frame", "person", "both")


@dataclass(frozen=True)
class Leak:
    """One face found in a released frame. ``box`` is ``(x, y, w, h)`` in original pixels."""

    frame: int
    timestamp_s: float
    box: tuple[float, float, float, float]
    confidence: float
    track_id: int | None
    source: str  # "frame" or "person"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tracks_exposed(leaks: Iterable[Leak]) -> int:
    """Number of distinct tracks with at least one leaked face (leaks outside tracks not counted)."""
    return len({lk.track_id for lk in leaks if lk.track_id is not None})


def leak_rate(leaks: Iterable[Leak | dict[str, Any]], frames_scanned: int, *,
              confidence: float = 0.95) -> dict[str, Any]:
    """Share of scanned frames in which at least one face leaked, with its Wilson interval.

    ``leaks`` are :class:`Leak` objects or their dicts (with a ``"frame"`` key); ``frames_scanned``
    is the number of frames the scan looked at (0: rate and interval are None, never made up).

    >>> leak_rate([Leak(3, 0.3, (0, 0, 9, 9), 0.8, None, "frame")], 10)["frames_with_leak"]
    1
    """
    from auditkit.scoring.stats import wilson_interval

    if frames_scanned < 0:
        raise ValueError(f"frames_scanned must be >= 0, got {frames_scanned!r}")
    frames = {lk["frame"] if isinstance(lk, dict) else lk.frame for lk in leaks}
    if len(frames) > frames_scanned:
        raise ValueError(f"{len(frames)} frames with a leak but only {frames_scanned} scanned")
    if frames_scanned == 0:
        return {"frames_scanned": 0, "frames_with_leak": 0, "rate": None, "rate_ci": None}
    lo, hi = wilson_interval(len(frames), frames_scanned, confidence=confidence)
    return {"frames_scanned": int(frames_scanned), "frames_with_leak": len(frames),
            "rate": len(frames) / frames_scanned, "rate_ci": [float(lo), float(hi)]}


def _inside_fraction(face: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Share of each face box's area inside each person box: (n_faces, n_persons)."""
    fx0, fy0 = face[:, 0:1], face[:, 1:2]
    fx1, fy1 = fx0 + face[:, 2:3], fy0 + face[:, 3:4]
    px0, py0 = person[:, 0], person[:, 1]
    px1, py1 = px0 + person[:, 2], py0 + person[:, 3]
    iw = np.clip(np.minimum(fx1, px1) - np.maximum(fx0, px0), 0, None)
    ih = np.clip(np.minimum(fy1, py1) - np.maximum(fy0, py0), 0, None)
    area = np.maximum(face[:, 2:3] * face[:, 3:4], 1e-9)
    return iw * ih / area


class FaceLeakScanner:
    """A face detector with the scan options (see :func:`scan_face_leaks`)."""

    def __init__(self, *, upsample: int = 1, adjust_threshold: float = 0.0, min_confidence: float = 0.0,
                 mode: str = "frame", upper_fraction: float = 0.5, person_height: int = 400,
                 max_person_upscale: float = 8.0, margin: float = 0.25, detector: str = "auto",
                 full_every: int = 1):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not (isinstance(upsample, int) and 0 <= upsample <= 4):
            raise ValueError(f"upsample must be an integer in 0..4, got {upsample!r}")
        if not 0.0 < upper_fraction <= 1.0:
            raise ValueError(f"upper_fraction must be in (0, 1], got {upper_fraction!r}")
        if not person_height >= 40:
            raise ValueError(f"person_height must be >= 40 px, got {person_height!r}")
        # HOG's adjust_threshold shifts its SVM threshold; CenterFace keeps its own score threshold (0.5)
        name = resolve_detector(detector)
        self._det = make_face_detector(name, upsample=upsample, threshold=adjust_threshold if name == "hog" else None)
        self.detector = self._det.name
        self.upsample, self.adjust_threshold = upsample, float(adjust_threshold)
        self.min_confidence, self.mode = float(min_confidence), mode
        self.upper_fraction, self.person_height = float(upper_fraction), int(person_height)
        self.max_person_upscale, self.margin = float(max_person_upscale), float(margin)
        # whole frames of one clip (in order) scanned fully every `full_every`, changed regions in between
        self.gate = None
        if full_every != 1:
            from .leak_gate import ChangeGate

            self.gate = ChangeGate(full_every=full_every)

    def params(self) -> dict[str, Any]:
        return {**self._det.params(), "upsample": self.upsample,
                "adjust_threshold": self.adjust_threshold, "min_confidence": self.min_confidence,
                "mode": self.mode, "upper_fraction": self.upper_fraction,
                "person_height": self.person_height, "max_person_upscale": self.max_person_upscale,
                **({"gate": self.gate.params()} if self.gate is not None else {})}

    def detect(self, image: np.ndarray, *, upsample: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Faces in ``image`` (RGB/grey uint8): boxes (n, 4) ``(x, y, w, h)`` of ``image``, confidences.

        ``upsample`` overrides the scanner's for this call (dlib's pyramid; CenterFace's ``2 ** upsample``)."""
        img = np.ascontiguousarray(image)
        if upsample is None or upsample == self.upsample:
            boxes, sc = self._det.detect(img)
        elif self.detector == "centerface":
            boxes, sc = self._det.detect(img, upscale=2.0 ** upsample)
        else:
            boxes, sc = self._det.detect(img, upsample=upsample)
        keep = sc >= self.min_confidence
        return boxes[keep], sc[keep]

    def _regions(self, image: np.ndarray, regions: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        boxes, sc = self._det.detect_regions(np.ascontiguousarray(image), regions)
        keep = sc >= self.min_confidence
        return boxes[keep], sc[keep]

    def _person_crops(self, frame: Frame, person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        img, s = frame.image, frame.scale
        H, W = img.shape[:2]
        out_b, out_s = [], []
        for b in person:
            x, y, w, h = (b * s)  # box on frame.image
            mx = w * self.margin
            x0, x1 = int(max(0, np.floor(x - mx))), int(min(W, np.ceil(x + w + mx)))
            y0 = int(max(0, np.floor(y - h * self.margin * 0.5)))
            y1 = int(min(H, np.ceil(y + h * self.upper_fraction)))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            up = min(self.max_person_upscale, max(1.0, self.person_height / max(h, 1.0)))
            crop = img[y0:y1, x0:x1]
            if up > 1.0:
                crop = cv2.resize(crop, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
            fb, fs = self.detect(crop)
            for bb, sc in zip(fb, fs):
                out_b.append([(bb[0] / up + x0) / s, (bb[1] / up + y0) / s, bb[2] / up / s, bb[3] / up / s])
                out_s.append(sc)
        return np.asarray(out_b, dtype=float).reshape(-1, 4), np.asarray(out_s, dtype=float)

    def scan_frame(self, frame: Frame, persons: Sequence[tuple[int, np.ndarray]] = ()) -> list[Leak]:
        """Leaks in one frame; ``persons`` are ``(track_id, box)`` present in it (original pixels)."""
        pboxes = np.asarray([b for _, b in persons], dtype=float).reshape(-1, 4)
        pids = [t for t, _ in persons]
        boxes, scores, sources = [], [], []
        if self.mode in ("frame", "both"):
            fb, fs = self.detect(frame.image) if self.gate is None else self.gate.detect(
                frame.image, self.detect, self._regions if hasattr(self._det, "detect_regions") else None)
            boxes.append(frame.to_original(fb).reshape(-1, 4))
            scores.append(fs)
            sources += ["frame"] * len(fs)
        if self.mode in ("person", "both") and len(pboxes):
            cb, cs = self._person_crops(frame, pboxes)
            boxes.append(cb)
            scores.append(cs)
            sources += ["person"] * len(cs)
        if not sources:
            return []
        B, S = np.concatenate(boxes), np.concatenate(scores)
        keep = nms(B, S, iou_threshold=0.3) if len(B) > 1 else np.arange(len(B))
        inside = _inside_fraction(B, pboxes) if len(pboxes) else np.zeros((len(B), 0))
        leaks = []
        for k in sorted(keep, key=lambda i: (B[i][0], B[i][1])):
            tid = None
            if inside.shape[1]:
                j = int(np.argmax(inside[k]))
                if inside[k, j] >= 0.5:
                    tid = pids[j]
            leaks.append(Leak(frame.index, float(frame.timestamp_s), tuple(float(v) for v in B[k]),
                              float(S[k]), tid, sources[k]))
        return leaks


def attribute_leaks(leaks: Iterable[Leak], tracks: Iterable[Track], *, min_inside: float = 0.5) -> list[Leak]:
    """Re-attribute leaks to tracks after the fact (e.g. when the leak scan ran apart from tracking).

    A leak joins the track whose box in the same frame holds the largest share of the face
    box, if that share is at least ``min_inside``; otherwise its ``track_id`` is None.
    """
    from dataclasses import replace

    persons = _persons_by_frame(tracks)
    out = []
    for lk in leaks:
        ps = persons.get(lk.frame, [])
        tid = None
        if ps:
            inside = _inside_fraction(np.asarray([lk.box], float), np.asarray([b for _, b in ps], float))[0]
            j = int(np.argmax(inside))
            if inside[j] >= min_inside:
                tid = ps[j][0]
        out.append(replace(lk, track_id=tid))
    return out


def _persons_by_frame(tracks: Iterable[Track]) -> dict[int, list[tuple[int, np.ndarray]]]:
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    for tr in tracks:
        for f, b in zip(tr.frames, tr.boxes):
            out.setdefault(int(f), []).append((tr.track_id, np.asarray(b, dtype=float)))
    return out


def scan_face_leaks(frames: Iterable[Frame], tracks: Iterable[Track] = (), *, upsample: int = 1,
                    adjust_threshold: float = 0.0, min_confidence: float = 0.0, mode: str = "frame",
                    upper_fraction: float = 0.5, person_height: int = 400, detector: str = "auto",
                    scanner: FaceLeakScanner | None = None) -> list[Leak]:
    """Scan sampled frames for faces still detectable.

    Parameters
    ----------
    frames : iterable of Frame
        The sampled frames of the released clip (e.g. from ``iter_frames(path, fps=...)``).
    tracks : iterable of Track
        Person tracks in original pixels; used to attribute leaks and, in ``"person"`` /
        ``"both"`` mode, to choose where to look.
    upsample : int
        Upsampling for whole-frame scans (each step doubles the size, at 4x the cost: dlib HOG
        finds faces down to about 40 px at 1, 20 px at 2; CenterFace about 10 px at 1).
    adjust_threshold : float
        Added to dlib HOG's detection threshold (negative finds more, weaker faces).
    min_confidence : float
        Leaks below this detector score are dropped.
    mode : {"frame", "person", "both"}
        Where to look (see the module docstring).
    upper_fraction : float
        Part of the person box (from the top) searched in person mode.
    person_height : int
        Person crops are enlarged (cubic) to about this height, at most 8x.
    detector : {"auto", "hog", "cnn", "centerface"}
        The face detector (:mod:`auditkit.features.face_detectors`; "auto": CenterFace when installed).
    scanner : FaceLeakScanner, optional
        Reuse a configured scanner (its options win over the keyword options).

    Returns
    -------
    list of Leak
        Sorted by frame, then position. :func:`tracks_exposed` counts the tracks they touch.
    """
    sc = scanner or FaceLeakScanner(upsample=upsample, adjust_threshold=adjust_threshold,
                                    min_confidence=min_confidence, mode=mode,
                                    upper_fraction=upper_fraction, person_height=person_height,
                                    detector=detector)
    persons = _persons_by_frame(tracks)
    leaks: list[Leak] = []
    for fr in frames:
        leaks.extend(sc.scan_frame(fr, persons.get(fr.index, ())))
    return leaks

