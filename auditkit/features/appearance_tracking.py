"""An appearance-aware multi-object tracker: motion and clothing colour, Hungarian association.

:class:`AppearanceTracker` has the interface of :class:`auditkit.features.tracking.Tracker`
(``update`` per frame, ``finish`` -> :class:`~auditkit.features.tracking.Track` list, ``params``)
and adds what that motion-only tracker lacks, in the manner of DeepSORT (Wojke et al. 2017) and
BoT-SORT (Aharon et al. 2022), with auditkit's own body descriptor in place of a CNN:

- **Appearance.** Every detected box is described by
  :func:`auditkit.features.appearance.colour_stripes_descriptor` (CIE-LAB histograms of 16
  horizontal stripes, head to feet: the colour part of the descriptor the appearance attack
  uses). A track keeps an exponential moving average of its boxes' descriptors, updated only
  from boxes that overlap no other box of the frame (a crop holding two people would teach the
  track the other person's clothes). The appearance distance is ``1 - cosine similarity``.
- **Association.** Cost of pairing a track with a box = motion cost (``1 - IoU`` with the
  constant-velocity prediction, or ``1 + centre distance`` in predicted box heights when they do
  not overlap enough) + ``appearance_weight`` x appearance distance; pairs whose appearance
  distance exceeds ``max_appearance_distance`` are forbidden unless the box overlaps the
  prediction (IoU >= ``min_iou``: during a crossing a box may show the other person's clothes, so
  there appearance only adds to the cost). Two people in different clothes who cross keep their
  identities. One Hungarian assignment
  (``scipy.optimize.linear_sum_assignment``) per frame.
- **Lost tracks come back.** A confirmed track that misses detections is kept for ``max_lost_s``
  seconds; its search radius grows with the time it has been unseen
  (``max_distance + reid_speed`` x seconds, in box heights) and it is matched by appearance
  (the same gate), so a person lost behind someone else or missed by the detector for a few
  frames resumes their track instead of starting a new one.
- **An offline second pass** in :meth:`finish` (an audit sees the whole clip;
  :mod:`auditkit.features.tracklet_association`): swaps inside groups are undone where two
  tracks' clean descriptors before and after an ambiguous stretch say so (``swap_margin``), a
  track whose clothes change abruptly is split (``split_distance``), tracklets are linked by one
  min-cost assignment (gap <= ``max_link_s``, appearance <= ``max_link_distance``, reachable by
  constant velocity), and tracks with fewer than ``min_sightings`` boxes are dropped (on PETS
  2009 these were mostly false detections or another person's box held for a few frames).
  ``offline=False`` turns the whole pass off (the online tracks as they were).

Why not a kept library: ``norfair`` 2.3 (the candidate on PyPI) requires ``numpy < 2`` (auditkit
is locked to numpy 2.x) and ``rich < 15``; its GUI OpenCV (``opencv-python``) is only in its
``video`` extra, so that collision could be avoided, the numpy one cannot. ``boxmot`` brings
torch. See ``benchmarks/README.md`` (hand-written vs kept libraries).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from auditkit.data.boxes import box_iou_matrix, clip_box
from auditkit.features.appearance import colour_stripes_descriptor
from auditkit.features.people import Detections
from auditkit.features.tracking import Track, advance_track
from auditkit.features.tracklet_association import Tracklet, refine_tracklets

__all__ = ["AppearanceTracker", "box_descriptors", "tracker_for"]

_INF = 1e6
_FEATURE_DIM = 768
#: the version of this tracker's behaviour (recorded in results.json and the clip cache key)
TRACKER_VERSION = "appearance-2"  # 2: the offline second pass (issue 17)


def box_descriptors(image: np.ndarray, boxes: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """:func:`~auditkit.features.appearance.colour_stripes_descriptor` of each box (n, 768).

    ``image`` is RGB uint8 at detection size, ``boxes`` ``(x, y, w, h)`` in original pixels
    (multiplied by ``scale`` to find them in ``image``). A box outside the image gets a zero
    vector (it then matches nothing by appearance).
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    out = np.zeros((len(boxes), _FEATURE_DIM))
    for i, b in enumerate(boxes):
        c = clip_box(b * scale, image.shape)
        if c is None:
            continue
        x0, y0 = int(c[0]), int(c[1])
        x1, y1 = int(np.ceil(c[0] + c[2])), int(np.ceil(c[1] + c[3]))
        crop = image[y0:y1, x0:x1]
        if crop.shape[0] >= 2 and crop.shape[1] >= 2:
            out[i] = colour_stripes_descriptor(np.ascontiguousarray(crop))
    return out


def _to_c(b: np.ndarray) -> np.ndarray:
    return np.array([b[0] + b[2] / 2, b[1] + b[3] / 2, b[2], b[3]], dtype=float)


def _to_xywh(c: np.ndarray) -> np.ndarray:
    return np.array([c[0] - c[2] / 2, c[1] - c[3] / 2, c[2], c[3]], dtype=float)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


@dataclass
class _Live:
    uid: int
    box: np.ndarray  # cx, cy, w, h
    t: float
    feat: np.ndarray
    vel: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    misses: int = 0
    track_id: int | None = None
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    feats: list[np.ndarray] = field(default_factory=list)  # clean descriptors, for linking
    feat_frames: list[int] = field(default_factory=list)  # the frames of those descriptors


class AppearanceTracker:
    """Online tracker with an appearance model, plus offline tracklet linking in :meth:`finish`.

    Parameters
    ----------
    min_hits, min_iou, max_distance, velocity_smoothing : as in
        :class:`~auditkit.features.tracking.Tracker`.
    max_age : int
        Processed frames an unconfirmed (tentative) track may go unmatched before it ends.
    max_lost_s : float
        Seconds a confirmed track may go unmatched before it ends (re-found by appearance).
    appearance_weight : float
        Weight of the appearance distance (0..1) added to the motion cost.
    max_appearance_distance : float
        Pairs whose appearance distance (``1 - cosine``) is larger are never matched.
    feature_momentum : float
        Weight of the old track descriptor in its moving average (0..1).
    reid_speed : float
        How fast the search radius of an unseen track grows, in box heights per second.
    offline : bool
        Run the second pass in :meth:`finish` (the options below); ``False``: online only.
    max_link_s, max_link_distance : float
        Tracklet linking: largest gap in seconds and largest appearance distance between the
        last clean descriptors of one tracklet and the first of the next; ``max_link_s=0`` disables it.
    swap_margin : float
        Undo a swap of two tracks when the exchanged appearance fits better by this much
        (sum of two distances); 0 disables it.
    split_distance : float
        Split a track whose clean appearance before and after an ambiguous stretch differs by
        more than this; >= 2 disables it.
    min_sightings : int
        Tracks with fewer boxes are dropped at the end (1 keeps all).
    Parameters of the second pass were chosen on PETS 2009 S2.L1 frames 10-400 and reported on
    frames 401-794 as out of sample (benchmarks/README.md).
    """

    def __init__(self, *, min_hits: int = 3, max_age: int = 2, max_lost_s: float = 1.0, min_iou: float = 0.2,
                 max_distance: float = 0.5, velocity_smoothing: float = 0.5, appearance_weight: float = 8.0,
                 max_appearance_distance: float = 0.35, feature_momentum: float = 0.9, reid_speed: float = 0.6,
                 offline: bool = True, max_link_s: float = 1.5, max_link_distance: float = 0.2,
                 swap_margin: float = 0.05, split_distance: float = 0.2, min_sightings: int = 8):
        if not (isinstance(min_hits, int) and min_hits >= 1):
            raise ValueError(f"min_hits must be an integer >= 1, got {min_hits!r}")
        if not (isinstance(max_age, int) and max_age >= 0):
            raise ValueError(f"max_age must be an integer >= 0, got {max_age!r}")
        for name, v, lo, hi in (("min_iou", min_iou, 1e-9, 1.0), ("velocity_smoothing", velocity_smoothing, 0.0, 1.0),
                                ("appearance_weight", appearance_weight, 0.0, 10.0),
                                ("max_appearance_distance", max_appearance_distance, 0.0, 1.0),
                                ("feature_momentum", feature_momentum, 0.0, 1.0)):
            if not lo <= v <= hi:
                raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {v!r}")
        for name, v in (("max_lost_s", max_lost_s), ("max_distance", max_distance), ("reid_speed", reid_speed),
                        ("max_link_s", max_link_s), ("max_link_distance", max_link_distance),
                        ("swap_margin", swap_margin), ("split_distance", split_distance)):
            if not v >= 0:
                raise ValueError(f"{name} must be >= 0, got {v!r}")
        self.min_hits, self.max_age, self.max_lost_s = min_hits, max_age, float(max_lost_s)
        self.min_iou, self.max_distance, self.alpha = float(min_iou), float(max_distance), float(velocity_smoothing)
        self.appearance_weight, self.max_app = float(appearance_weight), float(max_appearance_distance)
        self.momentum, self.reid_speed = float(feature_momentum), float(reid_speed)
        if not (isinstance(min_sightings, int) and min_sightings >= 1):
            raise ValueError(f"min_sightings must be an integer >= 1, got {min_sightings!r}")
        self.max_link_s, self.max_link_distance = float(max_link_s), float(max_link_distance)
        self.offline, self.swap_margin, self.split_distance = bool(offline), float(swap_margin), float(split_distance)
        self.min_sightings = min_sightings
        self.offline_counts: dict[str, int] = {}
        self._live: list[_Live] = []
        self._done: list[_Live] = []
        self._next_uid = 0
        self._last_frame: int | None = None

    def params(self) -> dict[str, Any]:
        return {"kind": "appearance", "version": TRACKER_VERSION,
                "library": "none (auditkit's own; norfair 2.3 requires numpy<2, boxmot torch: benchmarks/README.md)",
                "association": "scipy.optimize.linear_sum_assignment on motion + appearance cost",
                "descriptor": "colour_stripes_descriptor (CIE-LAB, 16 stripes x 3 x 16 bins)",
                "min_hits": self.min_hits, "max_age": self.max_age, "max_lost_s": self.max_lost_s,
                "min_iou": self.min_iou, "max_distance": self.max_distance, "velocity_smoothing": self.alpha,
                "appearance_weight": self.appearance_weight, "max_appearance_distance": self.max_app,
                "feature_momentum": self.momentum, "reid_speed": self.reid_speed,
                "offline": self.offline, "max_link_s": self.max_link_s, "max_link_distance": self.max_link_distance,
                "swap_margin": self.swap_margin, "split_distance": self.split_distance,
                "min_sightings": self.min_sightings}

    def _cost(self, t: float, boxes: np.ndarray, feats: np.ndarray, clean: np.ndarray) -> np.ndarray:
        live = self._live
        if not live or not len(boxes):
            return np.zeros((len(live), len(boxes)))
        gap = np.array([t - tr.t for tr in live])
        # extrapolate at most 1 s of motion: beyond that a walker's velocity says little
        preds = np.array([_to_xywh(tr.box + tr.vel * min(t - tr.t, 1.0)) for tr in live]).reshape(-1, 4)
        iou = box_iou_matrix(preds, boxes)
        motion = np.where(iou >= self.min_iou, 1.0 - iou, _INF)
        pc = preds[:, :2] + preds[:, 2:] / 2
        bc = boxes[:, :2] + boxes[:, 2:] / 2
        h = np.maximum(preds[:, 3:4], 1.0)
        d = np.linalg.norm(pc[:, None, :] - bc[None, :, :], axis=2) / h
        ratio = boxes[None, :, 3] / h
        lost = np.array([tr.misses > 0 for tr in live])
        radius = self.max_distance + np.where(lost, self.reid_speed * np.maximum(gap - 0.0, 0.0), 0.0)
        ok = (d <= radius[:, None]) & (ratio > 0.67) & (ratio < 1.5) & (motion >= _INF)
        motion = np.where(ok, 1.0 + d, motion)
        tfeat = np.array([tr.feat for tr in live])
        app = 1.0 - np.clip(tfeat @ feats.T, -1.0, 1.0)
        cost = motion + self.appearance_weight * app
        # the gate: a pair without overlap (a lost track, a fast or missed person) must also look alike;
        # an overlapping pair only pays for its appearance distance (its crop may show the other person)
        return np.where((motion >= _INF) | ((iou < self.min_iou) & (app > self.max_app)), _INF, cost)

    def update(self, frame: int, timestamp_s: float, detections: Detections, image: np.ndarray | None = None, *,
               scale: float = 1.0, features: np.ndarray | None = None) -> list[tuple[int | None, np.ndarray]]:
        """Process one frame's boxes (frames in increasing order).

        Give the frame (``image``, RGB at detection size, ``scale`` = its size / original size)
        so that each box is described, or the descriptors themselves (``features``, (n, d),
        e.g. from :func:`box_descriptors`). Returns, for each detection, the id of the track it
        joined (``None`` while that track is tentative).
        """
        if self._last_frame is not None and frame <= self._last_frame:
            raise ValueError(f"frames must increase: got {frame} after {self._last_frame}")
        boxes, scores = detections.boxes, detections.scores
        if features is None:
            if image is None:
                raise ValueError("AppearanceTracker.update needs the frame (image=) or the box descriptors (features=)")
            features = box_descriptors(image, boxes, scale=scale)
        feats = np.asarray(features, dtype=float)
        if feats.ndim != 2 or len(feats) != len(boxes):
            raise ValueError(f"features must be (n boxes, d): got shape {feats.shape} for {len(boxes)} boxes")
        feats = np.array([_unit(f) for f in feats]).reshape(feats.shape)
        self._last_frame = frame
        # boxes overlapping another box of this frame: their crop may hold two people
        ov = box_iou_matrix(boxes, boxes)
        np.fill_diagonal(ov, 0.0)
        clean = ov.max(axis=1, initial=0.0) < 0.1 if len(boxes) else np.zeros(0, bool)
        cost = self._cost(timestamp_s, boxes, feats, clean)
        assigned: dict[int, int] = {}
        if cost.size:
            rows, cols = linear_sum_assignment(cost)
            assigned = {int(c): int(r) for r, c in zip(rows, cols) if cost[r, c] < _INF}
        n_old = len(self._live)
        out: list[tuple[int | None, np.ndarray]] = []
        for j in range(len(boxes)):
            b = np.asarray(boxes[j], dtype=float)
            if j in assigned:
                tr = self._live[assigned[j]]
                advance_track(tr, _to_c(b), timestamp_s, self.alpha)
                if clean[j]:
                    tr.feat = _unit(self.momentum * tr.feat + (1 - self.momentum) * feats[j])
            else:
                tr = _Live(self._next_uid, _to_c(b), timestamp_s, feats[j].copy())
                self._next_uid += 1
                self._live.append(tr)
            tr.frames.append(frame)
            tr.boxes.append(b)
            tr.times.append(float(timestamp_s))
            tr.scores.append(float(scores[j]))
            if clean[j]:
                tr.feats.append(feats[j].astype(np.float32))
                tr.feat_frames.append(frame)
            if tr.track_id is None and tr.hits >= self.min_hits:
                tr.track_id = -1  # confirmed; final ids are given in finish()
            out.append((None if tr.track_id is None else tr.uid, b))
        matched = set(assigned.values())
        keep: list[_Live] = []
        for i, tr in enumerate(self._live):
            if i < n_old and i not in matched:
                tr.misses += 1
            if tr.track_id is None:
                dead = tr.misses > self.max_age
            else:
                dead = tr.misses > 0 and timestamp_s - tr.t > self.max_lost_s
            (self._done if dead else keep).append(tr)
        self._live = keep
        return out

    def finish(self) -> list[Track]:
        """End every live track, run the offline second pass, and return the confirmed tracks.

        Track ids are 1, 2, ... in order of each track's first frame; what the second pass did
        (swaps undone, splits, links, short tracks dropped) is left in ``offline_counts``.
        """
        self._done.extend(self._live)
        self._live = []
        confirmed = [tr for tr in self._done if tr.track_id is not None]
        tls = [Tracklet(tr.frames, np.asarray(tr.boxes).reshape(-1, 4), tr.times, tr.scores, tr.feat_frames,
                        np.asarray(tr.feats, dtype=float).reshape(len(tr.feats), _FEATURE_DIM if not tr.feats
                                                                   else len(tr.feats[0])))
               for tr in confirmed]
        if self.offline:
            tls, self.offline_counts = refine_tracklets(
                tls, swap_margin=self.swap_margin, split_distance=self.split_distance, max_gap_s=self.max_link_s,
                max_link_distance=self.max_link_distance, max_distance=self.max_distance,
                reid_speed=self.reid_speed, min_sightings=self.min_sightings)
        tls.sort(key=lambda t: (int(t.frames[0]), float(t.boxes[0, 0])))
        return [Track(k, t.frames, t.boxes, t.times, t.scores) for k, t in enumerate(tls, start=1)]


def tracker_for(detector: str, *, gallery: bool = False) -> AppearanceTracker:
    """The tracker with the defaults measured for boxes from ``detector`` ("hog", "mog2", "manifest").

    For a ``gallery`` clip no track is dropped as short (``min_sightings=1``): a short gallery clip
    at a low sampling rate may show its person in fewer than 8 boxes, and the attacker needs them.

    Background-subtraction ("mog2") boxes often hold two people walking together in one blob,
    so their clean descriptors mislead tracklet linking: on PETS 2009 S2.L1 linking them cut
    identity switches 52 -> 44 but lowered purity 0.892 -> 0.845, so for "mog2" linking is off
    (``max_link_s=0``) and the rest of the second pass stays on (benchmarks/README.md).
    """
    if detector not in ("hog", "mog2", "manifest"):
        raise ValueError(f"detector must be 'hog', 'mog2' or 'manifest', got {detector!r}")
    kw: dict[str, Any] = {"min_sightings": 1} if gallery else {}
    return AppearanceTracker(max_link_s=0.0, **kw) if detector == "mog2" else AppearanceTracker(**kw)
