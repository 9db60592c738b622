"""Tracker, NMS and MOT metrics: hand-computed toy cases and brute-force oracles."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from auditkit.data.boxes import box_iou_matrix
from auditkit.features.mot_eval import detection_metrics, mot_metrics, read_mot, tracks_to_table
from auditkit.features.people import Detections, boxes_from_manifest, nms
from auditkit.features.tracking import Tracker, track_detections


def _iou_plain(a, b):
    ax0, ay0, ax1, ay1 = a[0], a[1], a[0] + a[2], a[1] + a[3]
    bx0, by0, bx1, by1 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    u = a[2] * a[3] + b[2] * b[3] - inter
    return inter / u if u > 0 else 0.0


def test_iou_matrix_matches_plain_loop():
    rng = np.random.default_rng(0)
    a = np.column_stack([rng.uniform(0, 50, 7), rng.uniform(0, 50, 7), rng.uniform(1, 30, 7), rng.uniform(1, 30, 7)])
    b = np.column_stack([rng.uniform(0, 50, 5), rng.uniform(0, 50, 5), rng.uniform(1, 30, 5), rng.uniform(1, 30, 5)])
    m = box_iou_matrix(a, b)
    for i, j in itertools.product(range(7), range(5)):
        assert m[i, j] == pytest.approx(_iou_plain(a[i], b[j]))
    assert box_iou_matrix(np.zeros((0, 4)), b).shape == (0, 5)


def test_nms_keeps_best_of_overlapping_and_separate_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10], [0, 0, 10, 10.5]])
    scores = np.array([0.5, 0.9, 0.3, 0.1])
    keep = nms(boxes, scores, iou_threshold=0.4)
    assert keep.tolist() == [1, 2]  # box 1 suppresses 0 and 3 (IoU 0.68, ~0.65); box 2 is alone
    assert nms(boxes, scores, iou_threshold=1.0).tolist() == [1, 0, 2, 3]
    with pytest.raises(ValueError, match="iou_threshold"):
        nms(boxes, scores, iou_threshold=1.5)


def _table(rows):
    return pd.DataFrame(rows, columns=["frame", "id", "x", "y", "w", "h"])


def test_mot_metrics_hand_computed_toy():
    # Two ground-truth people over 4 frames; boxes 10x10. IoU of a box shifted by 1 px in x is 90/110 = 0.818.
    gt = _table([
        (0, 1, 0, 0, 10, 10), (0, 2, 100, 0, 10, 10),
        (1, 1, 2, 0, 10, 10), (1, 2, 100, 0, 10, 10),
        (2, 1, 4, 0, 10, 10), (2, 2, 100, 0, 10, 10),
        (3, 1, 6, 0, 10, 10), (3, 2, 100, 0, 10, 10),
    ])
    hyp = _table([
        (0, 10, 1, 0, 10, 10), (0, 20, 100, 0, 10, 10),
        (1, 10, 3, 0, 10, 10), (1, 20, 100, 0, 10, 10), (1, 99, 300, 300, 10, 10),  # a false positive
        # frame 2: gt 1 missed (hyp box far away -> FP too), gt 2 matched by 20
        (2, 10, 40, 0, 10, 10), (2, 20, 100, 0, 10, 10),
        # frame 3: gt 1 picked up by a new hypothesis 11 -> ID switch and a fragmentation
        (3, 11, 6, 0, 10, 10), (3, 20, 100, 0, 10, 10),
    ])
    m = mot_metrics(gt, hyp)
    # matches: f0 2, f1 2, f2 1, f3 2 = 7; n_gt = 8, n_hyp = 9
    assert (m["tp"], m["fn"], m["fp"]) == (7, 1, 2)
    assert m["id_switches"] == 1
    assert m["fragmentations"] == 1
    assert m["mota"] == pytest.approx(1 - (1 + 2 + 1) / 8)
    # MOTP: 3 matches of gt 1 at IoU 90/110 (frames 0, 1) and 1.0 (frame 3), 4 of gt 2 at 1.0
    assert m["motp"] == pytest.approx((2 * 90 / 110 + 5 * 1.0) / 7)
    # IDF1: best pairing 1<->10 (2 frames), 2<->20 (4 frames) -> IDTP 6; 2*6/(8+9)
    assert m["idtp"] == 6
    assert m["idf1"] == pytest.approx(12 / 17)
    assert m["recall"] == pytest.approx(7 / 8) and m["precision"] == pytest.approx(7 / 9)
    # gt 2 matched in 4/4 frames (mostly tracked), gt 1 in 3/4 = 75% (neither)
    assert (m["mostly_tracked"], m["mostly_lost"]) == (1, 0)


def test_mot_metrics_mostly_tracked_counts():
    gt = _table([(f, 1, 0, 0, 10, 10) for f in range(10)] + [(f, 2, 50, 0, 10, 10) for f in range(10)])
    hyp = _table([(f, 5, 0, 0, 10, 10) for f in range(8)] + [(f, 6, 50, 0, 10, 10) for f in range(1)])
    m = mot_metrics(gt, hyp)
    assert (m["mostly_tracked"], m["mostly_lost"]) == (1, 1)  # 8/10 and 1/10
    assert m["id_switches"] == 0 and m["fragmentations"] == 0


def test_clear_mot_keeps_previous_correspondence():
    # Two hypotheses both overlap gt 1 in frame 1; the one it was matched to before (10) is kept
    # even though 11 overlaps more -> no ID switch.
    gt = _table([(0, 1, 0, 0, 10, 10), (1, 1, 0, 0, 10, 10)])
    hyp = _table([(0, 10, 0, 0, 10, 10), (1, 10, 2, 0, 10, 10), (1, 11, 0, 0, 10, 10)])
    m = mot_metrics(gt, hyp)
    assert m["id_switches"] == 0 and m["tp"] == 2 and m["fp"] == 1


def _detection_oracle(gt, det, thr):
    """Brute force: best one-to-one pairing per frame over all permutations."""
    tp = 0
    for f in sorted(set(gt["frame"]) | set(det["frame"])):
        g = gt[gt["frame"] == f][["x", "y", "w", "h"]].to_numpy()
        d = det[det["frame"] == f][["x", "y", "w", "h"]].to_numpy()
        best = 0
        if len(g) and len(d):
            small, big, flip = (g, d, False) if len(g) <= len(d) else (d, g, True)
            for perm in itertools.permutations(range(len(big)), len(small)):
                n = sum(1 for i, j in enumerate(perm)
                        if (_iou_plain(small[i], big[j]) if not flip else _iou_plain(big[j], small[i])) >= thr)
                best = max(best, n)
        tp += best
    return tp


def test_detection_metrics_against_brute_force():
    rng = np.random.default_rng(3)
    gt_rows, det_rows = [], []
    for f in range(6):
        for k in range(rng.integers(0, 5)):
            x, y = rng.uniform(0, 40, 2)
            gt_rows.append((f, k, x, y, 10, 20))
            if rng.random() < 0.7:
                det_rows.append((f, -1, x + rng.normal(0, 3), y + rng.normal(0, 3), 10, 20))
        for _ in range(rng.integers(0, 3)):
            det_rows.append((f, -1, *rng.uniform(0, 40, 2), 10, 20))
    gt, det = _table(gt_rows), _table(det_rows)
    m = detection_metrics(gt, det)
    assert m["tp"] == _detection_oracle(gt, det, 0.5)
    assert m["recall"] == pytest.approx(m["tp"] / len(gt))
    assert m["precision"] == pytest.approx(m["tp"] / len(det))
    lo, hi = m["recall_ci"]
    assert lo <= m["recall"] <= hi


def test_detection_metrics_frame_restriction_and_missing_columns():
    gt = _table([(0, 1, 0, 0, 10, 10), (1, 1, 0, 0, 10, 10)])
    det = _table([(0, -1, 0, 0, 10, 10)])
    assert detection_metrics(gt, det)["recall"] == 0.5
    assert detection_metrics(gt, det, frames=[0])["recall"] == 1.0
    with pytest.raises(ValueError, match="lacks columns"):
        detection_metrics(gt.drop(columns=["w"]), det)


def test_read_mot_scales_and_shifts(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("1,3,100,200,40,80,1,-1,-1,0\n2,3,104,200,40,80,1,-1,-1,0\n")
    df = read_mot(p, scale=0.5)
    assert df["frame"].tolist() == [0, 1]
    assert df.loc[0, ["x", "y", "w", "h"]].tolist() == [50.0, 100.0, 20.0, 40.0]


def _moving(n_frames, starts, vel, size=(20, 50), drop=()):
    """{frame: Detections} of people moving at constant velocity; (frame, k) in drop are missed."""
    out = {}
    for f in range(n_frames):
        boxes = [(sx + vx * f, sy + vy * f, *size) for k, ((sx, sy), (vx, vy)) in enumerate(zip(starts, vel))
                 if (f, k) not in drop]
        out[f] = Detections(np.asarray(boxes, float).reshape(-1, 4), np.ones(len(boxes)))
    return out


def test_tracker_follows_crossing_people_through_a_gap():
    # two people walking towards each other on the same row, 6 px per frame; person 0 missed in frames 8-9
    dets = _moving(30, [(0, 100), (300, 100)], [(6, 0), (-6, 0)], drop={(8, 0), (9, 0)})
    tracks = track_detections(dets, fps=10, min_hits=3, max_age=3)
    assert len(tracks) == 2
    gt = _table([(f, k, 0 + 6 * f if k == 0 else 300 - 6 * f, 100, 20, 50) for f in range(30) for k in (0, 1)])
    m = mot_metrics(gt, tracks_to_table(tracks))
    assert m["id_switches"] == 0
    assert m["fn"] == 2  # the two dropped boxes
    assert m["fp"] == 0


def test_tracker_birth_needs_min_hits_and_death_after_max_age():
    dets = {0: Detections([[0, 0, 10, 30]], [1.0]), 1: Detections.empty(), 2: Detections.empty()}
    assert track_detections(dets, fps=10, min_hits=2) == []  # one-frame blip never confirmed
    # a person seen 3 frames, gone 5 frames (> max_age 2), back in the same place: two tracks
    seq = {f: Detections([[0, 0, 10, 30]], [1.0]) for f in (0, 1, 2, 8, 9, 10)}
    tracks = track_detections(seq, fps=10, min_hits=2, max_age=2)
    assert [t.track_id for t in tracks] == [1, 2]
    assert tracks[0].frames.tolist() == [0, 1, 2] and tracks[1].frames.tolist() == [8, 9, 10]
    # with max_age 6 the gap is bridged
    assert len(track_detections(seq, fps=10, min_hits=2, max_age=6)) == 1


def test_tracker_uses_timestamps_for_motion_at_low_sampling():
    # fast small person sampled every 3rd frame: 15 px per step, boxes 10 px wide -> consecutive boxes
    # never overlap. IoU alone links nothing (each box is a new tentative track, never confirmed).
    tr = Tracker(min_hits=2, max_age=1, max_distance=0.0)
    for k in range(6):
        tr.update(k * 3, k * 0.3, Detections([[15 * k, 0, 10, 30]], [1.0]))
    assert tr.finish() == []
    # the distance gate links the first pair (centres 0.5 box heights apart); after that the
    # constant-velocity prediction (50 px/s over 0.3 s) lands exactly on the next box
    tr2 = Tracker(min_hits=2, max_age=1, max_distance=2.0)
    for k in range(6):
        tr2.update(k * 3, k * 0.3, Detections([[15 * k, 0, 10, 30]], [1.0]))
    (t,) = tr2.finish()
    assert t.frames.tolist() == [0, 3, 6, 9, 12, 15]
    assert t.box_at(6).tolist() == [30, 0, 10, 30] and t.box_at(7) is None


def test_tracker_rejects_bad_options_and_order():
    with pytest.raises(ValueError, match="min_hits"):
        Tracker(min_hits=0)
    with pytest.raises(ValueError, match="min_iou"):
        Tracker(min_iou=0)
    tr = Tracker()
    tr.update(5, 0.5, Detections.empty())
    with pytest.raises(ValueError, match="frames must increase"):
        tr.update(5, 0.5, Detections.empty())
    with pytest.raises(ValueError, match="fps"):
        track_detections({0: Detections.empty()})


def test_boxes_from_manifest():
    rows = [{"frame": "2", "x": "10", "y": "20", "w": "30", "h": "60", "track": "a"},
            {"frame": "2", "x": "100", "y": "20", "w": "30", "h": "60", "track": "b"},
            {"frame": "5", "x": "0", "y": "0", "w": "8", "h": "16", "score": "0.5"}]
    d = boxes_from_manifest(rows, scale=0.5)
    assert sorted(d) == [2, 5]
    assert d[2].boxes.tolist() == [[5, 10, 15, 30], [50, 10, 15, 30]] and d[2].labels == ["a", "b"]
    assert d[5].scores.tolist() == [0.5] and d[5].labels is None
    with pytest.raises(ValueError, match="row 0"):
        boxes_from_manifest([{"frame": 1, "x": "a", "y": 0, "w": 1, "h": 1}])
    with pytest.raises(ValueError, match="w, h > 0"):
        boxes_from_manifest([{"frame": 1, "x": 0, "y": 0, "w": 0, "h": 1}])
