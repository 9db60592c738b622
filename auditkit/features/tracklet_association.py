"""The offline second pass of :class:`~auditkit.features.appearance_tracking.AppearanceTracker`.

An audit has the whole clip, so the tracks of the online pass can be corrected with hindsight,
in three steps (each one optional):

1. **Undo swaps.** Inside a group, boxes overlap and the online pass can exchange two people.
   A track's *clean* descriptors (from boxes that overlapped no other box) are compared before
   and after each stretch without clean sightings (an *ambiguous gap*: boxes overlapping
   others, or missed). Two tracks whose ambiguous gaps overlap in time, where each one's
   "before" looks more like the other's "after" than its own (by at least ``swap_margin``),
   exchange their tails at the frame inside both gaps where their boxes are closest (where
   the people crossed).
2. **Split at abrupt changes.** A track whose "after" differs from its "before" by more than
   ``split_distance`` (a track that lost its person and took over someone else's) is cut in
   the middle of that gap.
3. **Link tracklets** by one min-cost assignment of each tracklet's end to at most one later
   tracklet's start (``scipy.optimize.linear_sum_assignment``): a pair is allowed if the gap is
   at most ``max_gap_s``, the start lies within reach of the end's constant-velocity prediction,
   the sizes agree, and the appearance distance of the end's last and the start's first clean
   descriptors is at most ``max_link_distance``; its cost is that distance plus
   ``gap_cost`` per second of gap. A pair is only linked if that saves cost against not
   linking (the threshold), so every link is a gated choice, never a forced one.

This is the classic tracklet association of offline multi-object tracking (e.g. Zhang, Li and
Nevatia 2008, "Global data association for multi-object tracking using network flows"; the
appearance-change cut of "tracklet splitting" in e.g. Wang et al. 2019, TNT), reduced to
what auditkit's colour descriptor can support.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["Tracklet", "refine_tracklets"]


@dataclass
class Tracklet:
    """One track of the online pass: per sighting ``frames`` (int), ``boxes`` (x, y, w, h),
    ``times`` (s), ``scores``; ``feat_frames`` the frames of its clean sightings and ``feats``
    their unit descriptors (m, d)."""

    frames: np.ndarray
    boxes: np.ndarray
    times: np.ndarray
    scores: np.ndarray
    feat_frames: np.ndarray
    feats: np.ndarray

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, dtype=int).reshape(-1)
        self.boxes = np.asarray(self.boxes, dtype=float).reshape(-1, 4)
        self.times = np.asarray(self.times, dtype=float).reshape(-1)
        self.scores = np.asarray(self.scores, dtype=float).reshape(-1)
        self.feat_frames = np.asarray(self.feat_frames, dtype=int).reshape(-1)
        self.feats = np.asarray(self.feats, dtype=float)
        self.feats = self.feats.reshape(len(self.feat_frames), self.feats.shape[-1] if self.feats.ndim == 2 else 0)
        n = len(self.frames)
        if not (len(self.boxes) == len(self.times) == len(self.scores) == n):
            raise ValueError(f"tracklet arrays differ in length: {n} frames, {len(self.boxes)} boxes, "
                             f"{len(self.times)} times, {len(self.scores)} scores")

    def cut(self, frame: int) -> tuple[Tracklet, Tracklet]:
        """The sightings before ``frame`` and those from ``frame`` on."""
        a, fa = self.frames < frame, self.feat_frames < frame
        return (_sub(self, a, fa), _sub(self, ~a, ~fa))


def _sub(t: Tracklet, m: np.ndarray, fm: np.ndarray) -> Tracklet:
    return Tracklet(t.frames[m], t.boxes[m], t.times[m], t.scores[m], t.feat_frames[fm], t.feats[fm])


def _join(a: Tracklet, b: Tracklet) -> Tracklet:
    o, fo = np.argsort(np.r_[a.frames, b.frames], kind="stable"), np.argsort(np.r_[a.feat_frames, b.feat_frames],
                                                                                kind="stable")
    return Tracklet(np.r_[a.frames, b.frames][o], np.r_[a.boxes, b.boxes][o], np.r_[a.times, b.times][o],
                    np.r_[a.scores, b.scores][o], np.r_[a.feat_frames, b.feat_frames][fo],
                    np.r_[a.feats, b.feats][fo])


def _mean(f: np.ndarray) -> np.ndarray:
    v = f.mean(axis=0)
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(1.0 - np.clip(_mean(a) @ _mean(b), -1.0, 1.0))


def _gaps(t: Tracklet, window: int, min_gap: int) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Ambiguous gaps of a tracklet: (first, last frame strictly between two clean sightings at least
    ``min_gap`` frames apart, the ``window`` clean descriptors before, the ``window`` after)."""
    out = []
    ff = t.feat_frames
    for i in range(len(ff) - 1):
        if ff[i + 1] - ff[i] - 1 < min_gap or i + 1 < min(window, 3) or len(ff) - i - 1 < min(window, 3):
            continue
        out.append((int(ff[i]) + 1, int(ff[i + 1]) - 1, t.feats[max(0, i + 1 - window):i + 1],
                    t.feats[i + 1:i + 1 + window]))
    return out


def _centre(t: Tracklet, frame: int) -> np.ndarray | None:
    k = np.searchsorted(t.frames, frame)
    if k >= len(t.frames) or t.frames[k] != frame:
        return None
    b = t.boxes[k]
    return np.array([b[0] + b[2] / 2, b[1] + b[3] / 2, b[3]])


def _undo_swaps(tls: list[Tracklet], window: int, margin: float, min_gap: int) -> tuple[list[Tracklet], int]:
    n_swaps = 0
    gaps = [_gaps(t, window, min_gap) for t in tls]
    for _ in range(50):  # each round undoes the most certain swap, then looks again
        best: tuple[float, int, int, int] | None = None
        for x in range(len(tls)):
            for y in range(x + 1, len(tls)):
                if not gaps[x] or not gaps[y] or tls[x].frames[-1] < tls[y].frames[0] \
                        or tls[y].frames[-1] < tls[x].frames[0]:
                    continue  # no ambiguous stretch, or never on screen together
                for g0, g1, xb, xa in gaps[x]:
                    for h0, h1, yb, ya in gaps[y]:
                        lo, hi = max(g0, h0), min(g1, h1)
                        if lo > hi:
                            continue
                        gain = _dist(xb, xa) + _dist(yb, ya) - _dist(xb, ya) - _dist(yb, xa)
                        if gain <= margin or (best is not None and gain <= best[0]):
                            continue
                        cands = []
                        for f in range(lo, hi + 1):
                            cx, cy = _centre(tls[x], f), _centre(tls[y], f)
                            if cx is not None and cy is not None:
                                cands.append((float(np.linalg.norm(cx[:2] - cy[:2]) / max(cx[2], 1.0)), f))
                        if cands:
                            best = (gain, x, y, min(cands)[1])
        if best is None:
            break
        _, x, y, f = best
        xa, xb = tls[x].cut(f)
        ya, yb = tls[y].cut(f)
        tls[x], tls[y] = _join(xa, yb), _join(ya, xb)
        gaps[x], gaps[y] = _gaps(tls[x], window, min_gap), _gaps(tls[y], window, min_gap)
        n_swaps += 1
    return tls, n_swaps


def _split(tls: list[Tracklet], window: int, threshold: float, min_gap: int) -> tuple[list[Tracklet], int]:
    out, n = [], 0
    for t in tls:
        rest = t
        for g0, g1, before, after in _gaps(t, window, min_gap):
            if _dist(before, after) > threshold:
                a, rest = rest.cut((g0 + g1 + 1) // 2)
                if len(a.frames):
                    out.append(a)
                    n += 1
        if len(rest.frames):
            out.append(rest)
    return out, n


def _end_state(t: Tracklet, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Centre-form box (cx, cy, w, h) at the end and velocity over the last ``k`` sightings."""
    c = np.column_stack([t.boxes[:, 0] + t.boxes[:, 2] / 2, t.boxes[:, 1] + t.boxes[:, 3] / 2, t.boxes[:, 2:]])
    j = max(0, len(c) - k)
    dt = t.times[-1] - t.times[j]
    return c[-1], (c[-1] - c[j]) / dt if dt > 0 else np.zeros(4)


def _link(tls: list[Tracklet], *, window: int, max_gap_s: float, max_link_distance: float, gap_cost: float,
          max_distance: float, reid_speed: float) -> tuple[list[list[int]], int]:
    n = len(tls)
    gain = np.zeros((n, n))
    for a, ta in enumerate(tls):
        end, vel = _end_state(ta)
        for b, tb in enumerate(tls):
            gap = tb.times[0] - ta.times[-1]
            if a == b or tb.frames[0] <= ta.frames[-1] or gap > max_gap_s:
                continue
            pred = end + vel * min(gap, 1.0)
            s = tb.boxes[0]
            d = np.hypot(s[0] + s[2] / 2 - pred[0], s[1] + s[3] / 2 - pred[1]) / max(end[3], 1.0)
            ratio = s[3] / max(end[3], 1.0)
            if d > max_distance + reid_speed * gap or not 0.67 < ratio < 1.5:
                continue
            if len(ta.feats) and len(tb.feats):
                app = _dist(ta.feats[-window:], tb.feats[:window])
            else:
                app = max_link_distance  # nothing clean to compare: motion alone, at the gate
            cost = app + gap_cost * gap
            if app <= max_link_distance and cost < max_link_distance:
                gain[a, b] = max_link_distance - cost
    rows, cols = linear_sum_assignment(-gain)
    nxt = {int(r): int(c) for r, c in zip(rows, cols) if gain[r, c] > 0}
    prv = {c: r for r, c in nxt.items()}
    chains = []
    for a in range(n):
        if a in prv:
            continue
        chain = [a]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        chains.append(chain)
    return chains, len(nxt)


def refine_tracklets(tracklets: list[Tracklet], *, window: int = 5, min_gap: int = 1, swap_margin: float = 0.05,
                     split_distance: float = 0.2, max_gap_s: float = 1.5, max_link_distance: float = 0.2,
                     gap_cost: float = 0.02, max_distance: float = 0.5, reid_speed: float = 0.6,
                     min_sightings: int = 0) -> tuple[list[Tracklet], dict[str, Any]]:
    """Undo swaps, split at abrupt appearance changes, link tracklets (module docstring).

    ``swap_margin <= 0`` / ``split_distance >= 2`` / ``max_gap_s <= 0`` turn a step off.
    Returns the new tracklets (in no particular order) and counts of what each step did.
    """
    tls = [t for t in tracklets if len(t.frames)]
    n_swaps = n_splits = n_links = 0
    if swap_margin > 0:
        tls, n_swaps = _undo_swaps(tls, window, swap_margin, min_gap)
    if split_distance < 2:
        tls, n_splits = _split(tls, window, split_distance, min_gap)
    if max_gap_s > 0 and len(tls) > 1:
        chains, n_links = _link(tls, window=window, max_gap_s=max_gap_s, max_link_distance=max_link_distance,
                                gap_cost=gap_cost, max_distance=max_distance, reid_speed=reid_speed)
        merged = []
        for chain in chains:
            t = tls[chain[0]]
            for k in chain[1:]:
                t = _join(t, tls[k])
            merged.append(t)
        tls = merged
    short = [len(t.frames) < min_sightings for t in tls]
    n_short = int(sum(short))
    tls = [t for t, s in zip(tls, short) if not s]
    return tls, {"swaps_undone": n_swaps, "splits": n_splits, "links": n_links, "dropped_short": n_short}
