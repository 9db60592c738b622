"""The hand-written CLEAR-MOT / IDF1 evaluation auditkit used before issue 17, kept as a test oracle.

Production evaluation goes through the reference implementation (py-motmetrics, in
:func:`auditkit.features.mot_eval.mot_metrics`); ``tests/test_mot_reference.py`` checks that both
give the same figures on generated data. Written from the definitions (Bernardin & Stiefelhagen
2008; Ristani et al. 2016); the only intended difference is documented there.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from auditkit.data.boxes import box_iou_matrix
from auditkit.features.mot_eval import _by_frame, _check, _match, _rate, _restrict
from auditkit.scoring.stats import wilson_interval


def mot_metrics_by_hand(gt: pd.DataFrame, hyp: pd.DataFrame, *, iou_threshold: float = 0.5,
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
