"""Linking per-frame person boxes into tracks (IoU + constant-velocity motion, Hungarian).

A SORT-style tracker without a Kalman filter: each track keeps its last box and a velocity
(pixels per second, exponentially smoothed, for the box centre and size); in each new frame
every live track's box is predicted forward by the elapsed time, the cost of pairing a
prediction with a detection is ``1 - IoU`` (or, when the boxes do not overlap enough, a
penalised centre distance relative to the box height, which keeps small fast people linked
at low sampling rates), and pairs are chosen by ``scipy.optimize.linear_sum_assignment``.

Track life: a new track is *tentative* until it has ``min_hits`` matched frames, and dies
after ``max_age`` processed frames without a match. Only tracks that were ever confirmed are
returned; a confirmed track includes its tentative frames (so early frames are not lost).
Track ids are 1, 2, ... in order of confirmation (deterministic).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from auditkit.data.boxes import box_iou_matrix
from auditkit.features.people import Detections

__all__ = ["Track", "Tracker", "advance_track", "track_detections"]

_INF = 1e6


def advance_track(tr: Any, new: np.ndarray, timestamp_s: float, alpha: float) -> None:
    """Move a live track to its matched box ``new`` (centre form) at ``timestamp_s``: velocity
    smoothed exponentially with weight ``alpha`` on the newest step (the first step taken as is)."""
    dt = timestamp_s - tr.t
    if dt > 0:
        v = (new - tr.box) / dt
        tr.vel = v if tr.hits == 1 else alpha * v + (1 - alpha) * tr.vel
    tr.box, tr.t = new, timestamp_s
    tr.hits += 1
    tr.misses = 0


@dataclass
class Track:
    """One tracked person.

    ``frames`` (n,) frame indices where the track was matched to a box, ``boxes`` (n, 4)
    ``(x, y, w, h)`` original pixels, ``timestamps`` (n,) seconds, ``scores`` (n,) detector
    scores of the matched boxes.
    """

    track_id: int
    frames: np.ndarray
    boxes: np.ndarray
    timestamps: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)

    def box_at(self, frame: int) -> np.ndarray | None:
        """The box in ``frame``, or None if the track was not matched there."""
        i = np.searchsorted(self.frames, frame)
        if i < len(self.frames) and self.frames[i] == frame:
            return self.boxes[i]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "frames": self.frames.tolist(), "boxes": self.boxes.tolist(),
                "timestamps": self.timestamps.tolist(), "scores": self.scores.tolist()}


@dataclass
class _Live:
    uid: int
    box: np.ndarray  # cx, cy, w, h
    t: float
    vel: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    misses: int = 0
    track_id: int | None = None
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


def _to_c(b: np.ndarray) -> np.ndarray:
    return np.array([b[0] + b[2] / 2, b[1] + b[3] / 2, b[2], b[3]], dtype=float)


def _to_xywh(c: np.ndarray) -> np.ndarray:
    return np.array([c[0] - c[2] / 2, c[1] - c[3] / 2, c[2], c[3]], dtype=float)


class Tracker:
    """Online multi-object tracker.

    Parameters
    ----------
    min_hits : int
        Matched frames before a track is confirmed (and gets an id).
    max_age : int
        Processed frames a track may go unmatched before it ends.
    min_iou : float
        Minimum IoU between prediction and detection for an overlap match.
    max_distance : float
        Otherwise, maximum centre distance in units of the predicted box height for a
        distance match (cost ``1 + distance``, so overlap matches are always preferred);
        ``0`` disables distance matches.
    velocity_smoothing : float
        Weight of the newest velocity estimate (0..1) in the exponential average.
    max_gap_s : float, optional
        Also end a track whose last match is older than this many seconds.
    """

    def __init__(self, *, min_hits: int = 3, max_age: int = 5, min_iou: float = 0.2,
                 max_distance: float = 0.5, velocity_smoothing: float = 0.5, max_gap_s: float | None = None):
        if not (isinstance(min_hits, int) and min_hits >= 1):
            raise ValueError(f"min_hits must be an integer >= 1, got {min_hits!r}")
        if not (isinstance(max_age, int) and max_age >= 0):
            raise ValueError(f"max_age must be an integer >= 0, got {max_age!r}")
        if not 0.0 < min_iou <= 1.0:
            raise ValueError(f"min_iou must be in (0, 1], got {min_iou!r}")
        if not max_distance >= 0:
            raise ValueError(f"max_distance must be >= 0, got {max_distance!r}")
        if not 0.0 <= velocity_smoothing <= 1.0:
            raise ValueError(f"velocity_smoothing must be in [0, 1], got {velocity_smoothing!r}")
        self.min_hits, self.max_age, self.min_iou = min_hits, max_age, float(min_iou)
        self.max_distance, self.alpha, self.max_gap_s = float(max_distance), float(velocity_smoothing), max_gap_s
        self._live: list[_Live] = []
        self._done: list[_Live] = []
        self._next_uid = 0
        self._next_id = 1
        self._last_frame: int | None = None

    def params(self) -> dict[str, Any]:
        return {"min_hits": self.min_hits, "max_age": self.max_age, "min_iou": self.min_iou,
                "max_distance": self.max_distance, "velocity_smoothing": self.alpha, "max_gap_s": self.max_gap_s}

    def _cost(self, preds: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        iou = box_iou_matrix(preds, boxes)
        cost = np.where(iou >= self.min_iou, 1.0 - iou, _INF)
        if self.max_distance > 0 and len(preds) and len(boxes):
            pc = preds[:, :2] + preds[:, 2:] / 2
            bc = boxes[:, :2] + boxes[:, 2:] / 2
            d = np.linalg.norm(pc[:, None, :] - bc[None, :, :], axis=2) / np.maximum(preds[:, 3:4], 1.0)
            # similar size required for a distance match
            ratio = boxes[None, :, 3] / np.maximum(preds[:, 3:4], 1.0)
            ok = (d <= self.max_distance) & (ratio > 0.67) & (ratio < 1.5) & (cost >= _INF)
            cost = np.where(ok, 1.0 + d, cost)
        return cost

    def update(self, frame: int, timestamp_s: float, detections: Detections) -> list[tuple[int | None, np.ndarray]]:
        """Process one frame's boxes (frames in increasing order).

        Returns
        -------
        list of (track_id or None, box)
            For each detection, the id of the track it joined (``None`` while tentative).
        """
        if self._last_frame is not None and frame <= self._last_frame:
            raise ValueError(f"frames must increase: got {frame} after {self._last_frame}")
        self._last_frame = frame
        boxes = detections.boxes
        scores = detections.scores
        preds = np.array([_to_xywh(tr.box + tr.vel * (timestamp_s - tr.t)) for tr in self._live]).reshape(-1, 4)
        cost = self._cost(preds, boxes)
        assigned: dict[int, int] = {}
        if cost.size:
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < _INF:
                    assigned[int(c)] = int(r)
        out: list[tuple[int | None, np.ndarray]] = []
        matched_tracks = set(assigned.values())
        for j in range(len(boxes)):
            b = boxes[j]
            if j in assigned:
                tr = self._live[assigned[j]]
                advance_track(tr, _to_c(b), timestamp_s, self.alpha)
            else:
                tr = _Live(self._next_uid, _to_c(b), timestamp_s)
                self._next_uid += 1
                self._live.append(tr)
            tr.frames.append(frame)
            tr.boxes.append(np.asarray(b, dtype=float))
            tr.times.append(float(timestamp_s))
            tr.scores.append(float(scores[j]))
            if tr.track_id is None and tr.hits >= self.min_hits:
                tr.track_id = self._next_id
                self._next_id += 1
            out.append((tr.track_id, np.asarray(b, dtype=float)))
        n_before = len(self._live) - (len(boxes) - len(assigned))
        keep: list[_Live] = []
        for i, tr in enumerate(self._live):
            if i < n_before and i not in matched_tracks:
                tr.misses += 1
            dead = tr.misses > self.max_age or (
                self.max_gap_s is not None and timestamp_s - tr.t > self.max_gap_s)
            (self._done if dead else keep).append(tr)
        self._live = keep
        return out

    def finish(self) -> list[Track]:
        """End every live track and return all confirmed tracks, ordered by id."""
        self._done.extend(self._live)
        self._live = []
        out = []
        for tr in self._done:
            if tr.track_id is None:
                continue
            out.append(Track(tr.track_id, np.asarray(tr.frames, dtype=int), np.asarray(tr.boxes).reshape(-1, 4),
                             np.asarray(tr.times, dtype=float), np.asarray(tr.scores, dtype=float)))
        return sorted(out, key=lambda t: t.track_id)


def track_detections(detections: Mapping[int, Detections] | Iterable[tuple[int, float, Detections]], *,
                     fps: float | None = None, **tracker_options: Any) -> list[Track]:
    """Track a whole sequence at once.

    ``detections`` is either ``{frame: Detections}`` (times are ``frame / fps``; ``fps``
    required) or an iterable of ``(frame, timestamp_s, Detections)``. Frames with no
    detections should still be present (as empty) so tracks age; in the mapping form every
    frame between the first and last key that is missing is treated as empty.
    """
    tracker = Tracker(**tracker_options)
    if isinstance(detections, Mapping):
        if fps is None or not fps > 0:
            raise ValueError(f"fps (> 0) is required to time frames given as a mapping, got {fps!r}")
        if detections:
            lo, hi = min(detections), max(detections)
            for f in range(lo, hi + 1):
                tracker.update(f, f / fps, detections.get(f, Detections.empty()))
    else:
        for f, t, d in detections:
            tracker.update(f, t, d)
    return tracker.finish()
