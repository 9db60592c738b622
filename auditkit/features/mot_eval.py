"""Detection and multi-object tracking quality against ground truth (MOTChallenge style).

Detection quality is written here from its definition; tracking quality (CLEAR MOT, IDF1) is
computed by the reference implementation, py-motmetrics (issue 17), the former hand-written
version being kept in ``tests/mot_oracle.py`` as the oracle the tests compare it with:

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


def _accumulate(gt: pd.DataFrame, hyp: pd.DataFrame, iou_threshold: float):
    """A py-motmetrics accumulator fed frame by frame (distances ``1 - IoU``, NaN below the threshold).

    The distance matrix is computed with auditkit's :func:`~auditkit.data.boxes.box_iou_matrix`:
    motmetrics 1.4's own ``distances.iou_matrix`` calls ``np.asfarray``, which numpy 2 removed.
    """
    import motmetrics

    acc = motmetrics.MOTAccumulator(auto_id=False)
    g, h = _by_frame(gt), _by_frame(hyp)
    empty = (np.zeros(0, int), np.zeros((0, 4)))
    for f in sorted(set(g) | set(h)):
        gid, gb = g.get(f, empty)
        hid, hb = h.get(f, empty)
        iou = box_iou_matrix(gb, hb)
        dist = np.where(iou >= iou_threshold, 1.0 - iou, np.nan)
        acc.update([int(x) for x in gid], [int(x) for x in hid], dist, frameid=int(f))
    return acc


def track_purity(events: pd.DataFrame) -> dict[str, Any]:
    """Per hypothesis track: the share of its matched boxes that belong to its majority person.

    ``events`` are motmetrics' ``mot_events`` (MATCH and SWITCH rows pair a ground-truth object
    with a hypothesis box). A track's boxes that match no person (false positives) are not
    counted. Returns the box-weighted mean purity, the mean over tracks, the share of tracks at
    least 95% pure, and ``per_track`` ``{track id: [purity, matched boxes]}``.
    """
    m = events[events["Type"].isin(["MATCH", "SWITCH"])]
    per: dict[int, list[float]] = {}
    total = majority = 0
    for hid, grp in m.groupby("HId"):
        counts = grp["OId"].value_counts()
        n, top = int(counts.sum()), int(counts.iloc[0])
        per[int(hid)] = [top / n, n]
        total += n
        majority += top
    vals = [v[0] for v in per.values()]
    return {"box_weighted": majority / total if total else float("nan"),
            "mean_over_tracks": float(np.mean(vals)) if vals else float("nan"),
            "tracks_at_least_95": float(np.mean([v >= 0.95 for v in vals])) if vals else float("nan"),
            "n_tracks": len(per), "per_track": per}


def mot_metrics(gt: pd.DataFrame, hyp: pd.DataFrame, *, iou_threshold: float = 0.5,
                frames: Iterable[int] | None = None) -> dict[str, Any]:
    """CLEAR MOT and identity metrics of hypothesis tracks ``hyp`` against ``gt``, by py-motmetrics.

    The reference implementation (``motmetrics``, as used by MOTChallenge's devkit in Python)
    computes everything; this function feeds it and names the figures the way auditkit always
    has. Returns a dict with ``n_gt``, ``n_hyp``, ``tp``, ``fp``, ``fn``, ``id_switches``,
    ``fragmentations``, ``recall``, ``recall_ci``, ``precision``, ``mota``, ``motp`` (mean
    **IoU** of matches: motmetrics reports the mean distance ``1 - IoU``), ``idtp``, ``idf1``,
    ``idp``, ``idr``, ``gt_ids``, ``hyp_ids``, ``mostly_tracked`` (gt ids matched in >= 80% of
    their frames), ``mostly_lost`` (< 20%), and ``purity`` (:func:`track_purity`).
    ``tests/mot_oracle.py`` holds the former hand-written evaluation; the tests compare the two.
    """
    import motmetrics

    _check(gt, "ground-truth")
    _check(hyp, "hypothesis")
    gt, hyp = _restrict(gt, frames), _restrict(hyp, frames)
    acc = _accumulate(gt, hyp, iou_threshold)
    names = ["num_objects", "num_predictions", "num_matches", "num_switches", "num_false_positives", "num_misses",
             "num_fragmentations", "mota", "motp", "idtp", "idf1", "idp", "idr", "num_unique_objects",
             "mostly_tracked", "mostly_lost"]
    r = motmetrics.metrics.create().compute(acc, metrics=names, name="all").iloc[0]
    n_gt, n_hyp = int(r["num_objects"]), int(r["num_predictions"])
    tp, idsw = int(r["num_matches"]) + int(r["num_switches"]), int(r["num_switches"])
    events = acc.mot_events
    return {
        "iou_threshold": iou_threshold, "n_gt": n_gt, "n_hyp": n_hyp, "tp": tp, "fp": int(r["num_false_positives"]),
        "fn": int(r["num_misses"]), "id_switches": idsw, "fragmentations": int(r["num_fragmentations"]),
        "recall": _rate(tp, n_gt), "recall_ci": list(wilson_interval(tp, n_gt)), "precision": _rate(tp, n_hyp),
        "mota": float(r["mota"]) if n_gt else float("nan"),
        "motp": 1.0 - float(r["motp"]) if tp else float("nan"),
        "idtp": int(round(float(r["idtp"]))), "idf1": float(r["idf1"]), "idp": float(r["idp"]),
        "idr": float(r["idr"]), "gt_ids": int(r["num_unique_objects"]), "hyp_ids": int(hyp["id"].nunique()),
        "mostly_tracked": int(r["mostly_tracked"]), "mostly_lost": int(r["mostly_lost"]),
        "purity": track_purity(events), "evaluator": f"motmetrics {motmetrics.__version__}",
    }
