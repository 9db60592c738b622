"""Detection and multi-object tracking quality against ground truth (MOTChallenge style).

Written from the definitions, no third-party MOT package:

- **Detection** (:func:`detection_metrics`): per frame, ground-truth and detected boxes are
  paired one-to-one maximising total IoU among pairs with IoU >= ``iou_threshold`` (Hungarian);
  recall = TP / #gt, precision = TP / #detections, with Wilson 95% intervals.
- **CLEAR MOT** (Bernardin & Stiefelhagen 2008, as in MOTChallenge / py-motmetrics): per frame,
  a ground-truth object keeps the hypothesis it was matched to last time if their IoU is still
  >= threshold; the remaining objects are paired by Hungarian on IoU. An **ID switch** is a
  matched object whose hypothesis differs from the one it was last matched to; a
  **fragmentation** is a ground-truth trajectory resuming being tracked after an untracked
  stretch (counted once per interruption). MOTA = 1 - (FN + FP + IDSW) / #gt; MOTP = mean IoU
  of matched pairs.
- **IDF1** (Ristani et al. 2016): ground-truth ids and hypothesis ids are paired one-to-one
  maximising the number of frames in which the pair overlaps with IoU >= threshold (IDTP);
  IDF1 = 2 IDTP / (#gt boxes + #hypothesis boxes).

Boxes are ``(x, y, w, h)``; tables are pandas DataFrames with columns ``frame``, ``id``,
``x``, ``y``, ``w``, ``h``.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from auditkit.data.boxes import box_iou_matrix
from auditkit.features.tracking import Track
from auditkit.scoring.stats import wilson_interval

__all__ = ["detection_metrics", "detections_to_table", "mot_metrics", "read_mot", "tracks_to_table"]

COLUMNS = ["frame", "id", "x", "y", "w", "h"]


def read_mot(path: str | Path, *, scale: float = 1.0, frame_offset: int = -1,
             drop_zero_conf: bool = True) -> pd.DataFrame:
    """Read a MOTChallenge ``gt.txt``/``det.txt`` (``frame, id, left, top, w, h, conf, ...``).

    ``frame_offset`` is added to the frame numbers (MOT counts from 1; -1 gives 0-based video
    frame indices); boxes are multiplied by ``scale``. With ``drop_zero_conf`` (ground truth),
    rows whose 7th column is 0 (objects to ignore, MOT16+) are dropped; MOT15 ground truth
    (PETS) has 1 throughout. Pass ``False`` for detection files, where that column is a score.
    """
    raw = pd.read_csv(path, header=None)
    if raw.shape[1] < 6:
        raise ValueError(f"{path}: MOT format needs at least 6 columns (frame, id, x, y, w, h), got {raw.shape[1]}")
    if drop_zero_conf and raw.shape[1] >= 7:
        raw = raw[raw[6] != 0]
    df = pd.DataFrame({
        "frame": raw[0].astype(int) + frame_offset,
        "id": raw[1].astype(int),
        "x": raw[2].astype(float) * scale, "y": raw[3].astype(float) * scale,
        "w": raw[4].astype(float) * scale, "h": raw[5].astype(float) * scale,
    })
    return df.sort_values(["frame", "id"], kind="stable").reset_index(drop=True)


def tracks_to_table(tracks: Iterable[Track]) -> pd.DataFrame:
    """One row per (track, frame): ``frame, id, x, y, w, h, score``."""
    rows = []
    for tr in tracks:
        for f, b, s in zip(tr.frames, tr.boxes, tr.scores):
            rows.append((int(f), tr.track_id, *map(float, b), float(s)))
    return pd.DataFrame(rows, columns=COLUMNS + ["score"]).sort_values(["frame", "id"], kind="stable").reset_index(drop=True)


def detections_to_table(detections: dict[int, Any]) -> pd.DataFrame:
    """``{frame: Detections}`` -> table with ``id`` = -1 (no identity)."""
    rows = []
    for f, d in sorted(detections.items()):
        for b, s in zip(d.boxes, d.scores):
            rows.append((int(f), -1, *map(float, b), float(s)))
    return pd.DataFrame(rows, columns=COLUMNS + ["score"])


def _check(df: pd.DataFrame, what: str) -> None:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{what} table lacks columns {missing}; need {COLUMNS}")


def _by_frame(df: pd.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for f, g in df.groupby("frame", sort=True):
        out[int(f)] = (g["id"].to_numpy(), g[["x", "y", "w", "h"]].to_numpy(dtype=float))
    return out


def _restrict(df: pd.DataFrame, frames: Iterable[int] | None) -> pd.DataFrame:
    if frames is None:
        return df
    return df[df["frame"].isin({int(f) for f in frames})]


def _match(iou: np.ndarray, thr: float) -> list[tuple[int, int]]:
    if iou.size == 0:
        return []
    cost = np.where(iou >= thr, 1.0 - iou, 1e6)
    r, c = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(r, c) if iou[i, j] >= thr]


def _rate(k: int, n: int) -> float:
    return k / n if n else float("nan")


def detection_metrics(gt: pd.DataFrame, det: pd.DataFrame, *, iou_threshold: float = 0.5,
                      frames: Iterable[int] | None = None) -> dict[str, Any]:
    """Per-frame detection recall and precision (identities ignored).

    ``frames`` restricts both tables to those frame indices (e.g. the sampled frames);
    by default every frame present in either table counts.
    """
    _check(gt, "ground-truth")
    _check(det, "detection")
    gt, det = _restrict(gt, frames), _restrict(det, frames)
    g, d = _by_frame(gt), _by_frame(det)
    tp = 0
    for f in set(g) | set(d):
        gb = g.get(f, (None, np.zeros((0, 4))))[1]
        db = d.get(f, (None, np.zeros((0, 4))))[1]
        tp += len(_match(box_iou_matrix(gb, db), iou_threshold))
    n_gt, n_det = len(gt), len(det)
    return {
        "iou_threshold": iou_threshold, "frames": len(set(g) | set(d)), "n_gt": n_gt, "n_det": n_det,
        "tp": tp, "fp": n_det - tp, "fn": n_gt - tp,
        "recall": _rate(tp, n_gt), "recall_ci": list(wilson_interval(tp, n_gt)),
        "precision": _rate(tp, n_det), "precision_ci": list(wilson_interval(tp, n_det)),
    }


def mot_metrics(gt: pd.DataFrame, hyp: pd.DataFrame, *, iou_threshold: float = 0.5,
                frames: Iterable[int] | None = None) -> dict[str, Any]:
    """CLEAR MOT and identity metrics of hypothesis tracks ``hyp`` against ``gt``.

    Returns a dict with ``n_gt``, ``n_hyp``, ``tp``, ``fp``, ``fn``, ``id_switches``,
    ``fragmentations``, ``recall``, ``precision``, ``mota``, ``motp`` (mean IoU of matches),
    ``idtp``, ``idf1``, ``idp``, ``idr``, ``gt_ids``, ``hyp_ids``, ``mostly_tracked`` (gt ids
    matched in >= 80% of their frames), ``mostly_lost`` (< 20%).

    Long: the CLEAR-MOT accounting loop (matches carried over, switches, fragmentations) follows the paper's definition step by step.
    """
    _check(gt, "ground-truth")
    _check(hyp, "hypothesis")
    gt, hyp = _restrict(gt, frames), _restrict(hyp, frames)
    g, h = _by_frame(gt), _by_frame(hyp)
    last_match: dict[int, int] = {}  # gt id -> hyp id last matched
    tracked_prev: dict[int, bool] = {}  # gt id -> matched in its previous present frame
    ever_tracked: set[int] = set()
    matched_frames: dict[int, int] = {}
    tp = idsw = frag = 0
    iou_sum = 0.0
    pair_hits: dict[tuple[int, int], int] = {}
    for f in sorted(set(g) | set(h)):
        gid, gb = g.get(f, (np.zeros(0, int), np.zeros((0, 4))))
        hid, hb = h.get(f, (np.zeros(0, int), np.zeros((0, 4))))
        iou = box_iou_matrix(gb, hb)
        # identity overlaps for IDF1 (independent of the CLEAR matching)
        for i, j in zip(*np.nonzero(iou >= iou_threshold)):
            key = (int(gid[i]), int(hid[j]))
            pair_hits[key] = pair_hits.get(key, 0) + 1
        pairs: list[tuple[int, int]] = []
        used_g, used_h = set(), set()
        hpos = {int(x): j for j, x in enumerate(hid)}
        for i, x in enumerate(gid):
            x = int(x)
            if x in last_match and last_match[x] in hpos:
                j = hpos[last_match[x]]
                if j not in used_h and iou[i, j] >= iou_threshold:
                    pairs.append((i, j))
                    used_g.add(i)
                    used_h.add(j)
        rest_g = [i for i in range(len(gid)) if i not in used_g]
        rest_h = [j for j in range(len(hid)) if j not in used_h]
        if rest_g and rest_h:
            sub = iou[np.ix_(rest_g, rest_h)]
            pairs += [(rest_g[a], rest_h[b]) for a, b in _match(sub, iou_threshold)]
        matched = set()
        for i, j in pairs:
            x, y = int(gid[i]), int(hid[j])
            if x in last_match and last_match[x] != y:
                idsw += 1
            last_match[x] = y
            matched.add(x)
            iou_sum += float(iou[i, j])
            matched_frames[x] = matched_frames.get(x, 0) + 1
        tp += len(pairs)
        for x in map(int, gid):
            now = x in matched
            if now and x in ever_tracked and not tracked_prev.get(x, False):
                frag += 1
            if now:
                ever_tracked.add(x)
            tracked_prev[x] = now
    n_gt, n_hyp = len(gt), len(hyp)
    fp, fn = n_hyp - tp, n_gt - tp
    # IDF1: one-to-one id assignment maximising co-occurring matched frames
    gids = sorted(set(gt["id"].astype(int)))
    hids = sorted(set(hyp["id"].astype(int)))
    idtp = 0
    if gids and hids and pair_hits:
        gi = {x: k for k, x in enumerate(gids)}
        hi = {x: k for k, x in enumerate(hids)}
        w = np.zeros((len(gids), len(hids)))
        for (x, y), n in pair_hits.items():
            w[gi[x], hi[y]] = n
        r, c = linear_sum_assignment(-w)
        idtp = int(w[r, c].sum())
    gt_len = gt.groupby("id").size()
    frac = pd.Series({x: matched_frames.get(int(x), 0) for x in gt_len.index}, dtype=float) / gt_len
    return {
        "iou_threshold": iou_threshold, "n_gt": n_gt, "n_hyp": n_hyp, "tp": tp, "fp": fp, "fn": fn,
        "id_switches": idsw, "fragmentations": frag,
        "recall": _rate(tp, n_gt), "recall_ci": list(wilson_interval(tp, n_gt)),
        "precision": _rate(tp, n_hyp),
        "mota": 1.0 - (fn + fp + idsw) / n_gt if n_gt else float("nan"),
        "motp": iou_sum / tp if tp else float("nan"),
        "idtp": idtp, "idf1": 2 * idtp / (n_gt + n_hyp) if (n_gt + n_hyp) else float("nan"),
        "idp": _rate(idtp, n_hyp), "idr": _rate(idtp, n_gt),
        "gt_ids": len(gids), "hyp_ids": len(hids),
        "mostly_tracked": int((frac >= 0.8).sum()), "mostly_lost": int((frac < 0.2).sum()),
    }
