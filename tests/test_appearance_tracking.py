"""The appearance-aware tracker on generated scenes with crossings, and the reference MOT
evaluation (py-motmetrics) against the former hand-written one (issue 17)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mot_oracle import mot_metrics_by_hand

from auditkit.features.appearance import appearance_descriptor, colour_stripes_descriptor
from auditkit.features.appearance_tracking import AppearanceTracker, box_descriptors, tracker_for
from auditkit.features.mot_eval import mot_metrics, tracks_to_table
from auditkit.features.people import Detections
from auditkit.features.tracking import Tracker

H, W = 120, 260
COLOURS = {0: (200, 40, 40), 1: (40, 60, 200)}  # person 0 red, person 1 blue


def _scene(paths, hidden=(), n_frames=24, size=(24, 80), seed=0):
    """Frames (RGB) and true boxes of people on a grey textured ground; ``paths[k](f)`` is person k's x.

    A person's box is drawn in their colour (a darker band for the legs); frames in ``hidden``
    have no detection (both people behind an obstacle)."""
    rng = np.random.default_rng(seed)
    frames, truth = [], []
    for f in range(n_frames):
        img = np.clip(rng.normal(128, 6, (H, W, 3)), 0, 255).astype(np.uint8)
        boxes = []
        for k, path in paths.items():
            x, y, (w, h) = float(path(f)), 20.0, size
            x0, x1 = int(round(x)), int(round(x + w))
            img[20:20 + h, max(0, x0):max(0, x1)] = COLOURS[k]
            img[20 + 2 * h // 3:20 + h, max(0, x0):max(0, x1)] = np.array(COLOURS[k]) // 2
            boxes.append((k, x, y, w, h))
        frames.append(img)
        truth.append([] if f in hidden else boxes)
    return frames, truth


def _gt(truth):
    return pd.DataFrame([(f, k, x, y, w, h) for f, bs in enumerate(truth) for k, x, y, w, h in bs],
                        columns=["frame", "id", "x", "y", "w", "h"])


def _run(tracker, frames, truth, fps=10.0, with_image=True):
    for f, (img, bs) in enumerate(zip(frames, truth)):
        d = Detections(np.asarray([b[1:] for b in bs], float).reshape(-1, 4), np.ones(len(bs)))
        if with_image:
            tracker.update(f, f / fps, d, img)
        else:
            tracker.update(f, f / fps, d)
    return tracker.finish()


def _turn_back(f, start, v, meet=12):
    """Walk at v px/frame until frame ``meet``, then turn round and walk back."""
    return start + v * f if f <= meet else start + v * meet - v * (f - meet)


def test_people_who_meet_behind_an_obstacle_and_turn_back_keep_their_identities():
    """Red and blue walk towards each other, both are hidden for frames 11-14, then reappear on their
    own side walking back. Constant velocity predicts they crossed: the motion-only tracker swaps
    them; the appearance tracker does not (red never matches blue)."""
    paths = {0: lambda f: _turn_back(f, 0.0, 8.0), 1: lambda f: _turn_back(f, 200.0, -8.0)}
    frames, truth = _scene(paths, hidden=range(11, 15))
    gt = _gt(truth)
    new = _run(AppearanceTracker(), frames, truth)
    m = mot_metrics(gt, tracks_to_table(new))
    assert len(new) == 2 and m["id_switches"] == 0 and m["fn"] == 0 and m["fp"] == 0, m
    assert m["purity"]["box_weighted"] == 1.0
    old = _run(Tracker(), frames, truth, with_image=False)
    m_old = mot_metrics(gt, tracks_to_table(old))
    assert m_old["id_switches"] == 2 and m_old["purity"]["box_weighted"] < 0.75, m_old


def test_crossing_people_in_different_colours_keep_their_identities():
    """Red and blue pass through each other (their boxes overlap for several frames); red, hidden
    behind blue (drawn in front), is missed by the detector for the two frames when they coincide."""
    paths = {0: lambda f: 10.0 + 9.0 * f, 1: lambda f: 226.0 - 9.0 * f}
    frames, truth = _scene(paths, n_frames=26)
    truth = [[b for b in bs if not (f in (12, 13) and b[0] == 0)] for f, bs in enumerate(truth)]
    tracks = _run(AppearanceTracker(), frames, truth)
    m = mot_metrics(_gt(truth), tracks_to_table(tracks))
    assert len(tracks) == 2 and m["id_switches"] == 0 and m["fp"] == 0 and m["fn"] == 0, m
    # each track holds one person: its first and last boxes are on the person's own path
    for t in tracks:
        k = 0 if t.boxes[0][0] < 100 else 1
        assert t.boxes[-1][0] == pytest.approx(paths[k](int(t.frames[-1])))


def test_lost_track_is_refound_by_appearance_within_max_lost_s_only():
    paths = {0: lambda f: 10.0 + 4.0 * f}
    frames, truth = _scene(paths, hidden=range(6, 16), n_frames=22)  # unseen for 1 s at 10 fps
    assert len(_run(AppearanceTracker(max_lost_s=2.0, offline=False), frames, truth)) == 1
    assert len(_run(AppearanceTracker(max_lost_s=0.5, offline=False), frames, truth)) == 2
    # the offline pass links the two pieces (1 s gap <= max_link_s, same clothes, reachable)
    assert len(_run(AppearanceTracker(max_lost_s=0.5), frames, truth)) == 1


def test_tracklet_linking_joins_a_person_seen_again_after_a_long_gap():
    paths = {0: lambda f: 10.0 + 2.0 * f}
    frames, truth = _scene(paths, hidden=range(6, 26), n_frames=32)  # 2 s unseen
    # 2.1 s unseen > max_link_s (1.5 s): two tracks of 6 sightings, dropped as too short unless min_sightings <= 6
    assert len(_run(AppearanceTracker(max_lost_s=0.5, min_sightings=6), frames, truth)) == 2
    assert _run(AppearanceTracker(max_lost_s=0.5), frames, truth) == []
    assert len(_run(AppearanceTracker(max_lost_s=0.5, offline=False, max_link_s=3.0), frames, truth)) == 2
    (t,) = _run(AppearanceTracker(max_lost_s=0.5, max_link_s=3.0), frames, truth)
    assert t.frames.tolist() == [*range(6), *range(26, 32)]


def test_box_descriptors_and_colour_stripes_are_the_lab_part_of_the_body_descriptor():
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 256, (90, 34, 3), dtype=np.uint8)
    np.testing.assert_allclose(colour_stripes_descriptor(crop), appearance_descriptor(crop)[-768:], atol=1e-12)
    img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    # boxes in original pixels, image at half size; a box outside the image gets zeros
    d = box_descriptors(img, np.array([[20, 10, 40, 80], [500, 500, 10, 10]]), scale=0.5)
    np.testing.assert_allclose(d[0], colour_stripes_descriptor(img[5:45, 10:30]), atol=1e-12)
    assert not d[1].any()


def test_tracker_rejects_bad_options_and_inputs():
    with pytest.raises(ValueError, match="max_appearance_distance"):
        AppearanceTracker(max_appearance_distance=2.0)
    with pytest.raises(ValueError, match="max_lost_s"):
        AppearanceTracker(max_lost_s=-1)
    tr = AppearanceTracker()
    with pytest.raises(ValueError, match="image="):
        tr.update(0, 0.0, Detections([[0, 0, 10, 20]], [1.0]))
    with pytest.raises(ValueError, match="features must be"):
        tr.update(0, 0.0, Detections([[0, 0, 10, 20]], [1.0]), features=np.zeros((2, 768)))
    tr.update(0, 0.0, Detections.empty(), features=np.zeros((0, 768)))
    with pytest.raises(ValueError, match="frames must increase"):
        tr.update(0, 0.1, Detections.empty(), features=np.zeros((0, 768)))
    p = AppearanceTracker().params()
    assert p["kind"] == "appearance" and p["appearance_weight"] == 8.0


# ---------------------------------------------------------------- reference evaluation

def _random_case(seed):
    """Ground truth of people walking, and a tracker output with misses, jitter, false positives,
    identity swaps and track breaks."""
    rng = np.random.default_rng(seed)
    gt_rows, hyp_rows = [], []
    n_people, n_frames = 6, 40
    start = rng.integers(0, 15, n_people)
    length = rng.integers(10, 30, n_people)
    pos = rng.uniform(0, 200, (n_people, 2))
    vel = rng.normal(0, 3, (n_people, 2))
    hid = {k: k + 1 for k in range(n_people)}
    next_id = n_people + 1
    for f in range(n_frames):
        if rng.random() < 0.1:  # two people's hypotheses swap labels
            a, b = rng.choice(n_people, 2, replace=False)
            hid[a], hid[b] = hid[b], hid[a]
        if rng.random() < 0.08:  # a track breaks: a new hypothesis id from here on
            k = int(rng.integers(n_people))
            hid[k], next_id = next_id, next_id + 1
        for k in range(n_people):
            if not start[k] <= f < start[k] + length[k]:
                continue
            x, y = pos[k] + vel[k] * f
            gt_rows.append((f, k + 1, x, y, 20, 50))
            if rng.random() < 0.85:
                jx, jy = rng.normal(0, 4, 2)
                hyp_rows.append((f, hid[k], x + jx, y + jy, 20, 50))
        for _ in range(rng.poisson(0.3)):
            hyp_rows.append((f, 100 + int(rng.integers(3)), *rng.uniform(0, 200, 2), 20, 50))
    cols = ["frame", "id", "x", "y", "w", "h"]
    hyp = pd.DataFrame(hyp_rows, columns=cols).drop_duplicates(["frame", "id"])
    return pd.DataFrame(gt_rows, columns=cols), hyp


@pytest.mark.parametrize("seed", range(8))
def test_motmetrics_equals_the_former_hand_written_evaluation(seed):
    gt, hyp = _random_case(seed)
    ref = mot_metrics(gt, hyp)
    mine = mot_metrics_by_hand(gt, hyp)
    assert ref["id_switches"] > 0 or seed  # the generator does make switches
    for k, v in mine.items():
        if isinstance(v, float) and np.isnan(v):
            assert np.isnan(ref[k]), k
        elif k in ("motp", "mota", "idf1", "idp", "idr", "recall", "precision") or k.endswith("_ci"):
            assert ref[k] == pytest.approx(v, abs=1e-12), k
        else:
            assert ref[k] == v, k
    frames = sorted(set(gt["frame"]))[::3]
    assert mot_metrics(gt, hyp, frames=frames)["id_switches"] == mot_metrics_by_hand(gt, hyp, frames=frames)[
        "id_switches"]


def test_track_purity_hand_computed():
    cols = ["frame", "id", "x", "y", "w", "h"]
    gt = pd.DataFrame([(f, 1, 0, 0, 10, 20) for f in range(4)] + [(f, 2, 50, 0, 10, 20) for f in range(4)], columns=cols)
    # hypothesis 7 follows person 1 for 3 frames then jumps to person 2; hypothesis 8 is a false positive
    hyp = pd.DataFrame([(0, 7, 0, 0, 10, 20), (1, 7, 0, 0, 10, 20), (2, 7, 0, 0, 10, 20), (3, 7, 50, 0, 10, 20),
                        (3, 8, 200, 0, 10, 20)], columns=cols)
    p = mot_metrics(gt, hyp)["purity"]
    assert p["per_track"] == {7: [0.75, 4]}
    assert p["box_weighted"] == 0.75 and p["tracks_at_least_95"] == 0.0 and p["n_tracks"] == 1


def test_pets_appearance_tracker_beats_motion_only_on_the_same_mog2_detections():
    """PETS 2009 S2.L1 view 1, the whole mp4 (795 frames), MOG2 boxes: both trackers on the same boxes.

    Measured (benchmarks/README.md): motion-only MOTA 0.470, IDF1 0.375, 70 switches, purity 0.894;
    appearance online MOTA 0.474, IDF1 0.436, 54 switches, purity 0.892; with the offline pass as
    set for MOG2 boxes (``tracker_for("mog2")``: no linking) MOTA 0.476, IDF1 0.437, 52 switches,
    purity 0.892. Floors a little below."""
    from conftest import shared_dataset

    from auditkit.data.video import iter_frames
    from auditkit.features.mot_eval import read_mot
    from auditkit.features.people import BackgroundSubtractionDetector

    root = shared_dataset("pets2009_s2l1_view001")
    gt = read_mot(root / "gt" / "gt.txt", scale=0.625)
    det, old, new = BackgroundSubtractionDetector(), Tracker(), tracker_for("mog2")
    frames = []
    for f in iter_frames(root / "video" / "vtest_480x360.mp4"):
        d = det.detect(f.image, scale=f.scale)
        old.update(f.index, f.timestamp_s, d)
        new.update(f.index, f.timestamp_s, d, f.image, scale=f.scale)
        frames.append(f.index)
    ev = [f for f in frames if f >= 10]
    m_old = mot_metrics(gt, tracks_to_table(old.finish()), frames=ev)
    m_new = mot_metrics(gt, tracks_to_table(new.finish()), frames=ev)
    assert m_new["id_switches"] <= 56 < m_old["id_switches"], (m_new, m_old)
    assert m_new["idf1"] >= 0.41 > m_old["idf1"], (m_new, m_old)
    assert m_new["mota"] >= m_old["mota"] - 0.005, (m_new, m_old)
    assert m_new["purity"]["box_weighted"] >= 0.87, m_new["purity"]
