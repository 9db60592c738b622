"""The offline second pass of the appearance tracker (issue 17): swaps undone, abrupt appearance
changes split, tracklets linked by one min-cost assignment, short tracks dropped; on generated
scenes and hand-made tracklets."""
from __future__ import annotations

import numpy as np
import pytest

from auditkit.features.appearance_tracking import AppearanceTracker, tracker_for
from auditkit.features.people import Detections
from auditkit.features.tracklet_association import Tracklet, refine_tracklets

D = 768


def _colour(dist: float) -> tuple[np.ndarray, np.ndarray]:
    """Two unit descriptors whose appearance distance (1 - cosine) is ``dist``."""
    u, w = np.zeros(D), np.zeros(D)
    u[0] = 1.0
    w[0], w[1] = 1.0 - dist, np.sqrt(1.0 - (1.0 - dist) ** 2)
    return u, w


def _turn_back(f, start, v, meet=12):
    return start + v * f if f <= meet else start + v * meet - v * (f - meet)


def _meet_and_turn_back(tracker, dist, n=26, v=6.0, seed=0):
    """Two people in similar clothes (descriptors ``dist`` apart) walk towards each other, stand
    together (boxes overlapping, frames 11-13), and walk back to where they came from."""
    rng = np.random.default_rng(seed)
    cols = _colour(dist)
    paths = [lambda f: _turn_back(f, 60.0, v), lambda f: _turn_back(f, 60.0 + 24 * v, -v)]
    for f in range(n):
        boxes = np.array([[p(f), 20.0, 24.0, 80.0] for p in paths])
        feats = np.array([c + rng.normal(0, 0.01, D) for c in cols])
        tracker.update(f, f / 10, Detections(boxes, np.ones(2)), features=feats)
    return tracker.finish(), paths


def test_a_swap_inside_a_group_is_undone_by_the_offline_pass():
    """Online, constant velocity says the two crossed and their clothes differ too little to
    overrule it: the tracks swap. The second pass sees each track's clothes change across the
    ambiguous stretch, in opposite directions, and exchanges the tails back."""
    online, paths = _meet_and_turn_back(AppearanceTracker(offline=False), 0.05)
    assert len(online) == 2
    assert online[0].boxes[0][0] == pytest.approx(60.0) and online[0].boxes[-1][0] > 150  # swapped
    tr = AppearanceTracker()
    fixed, paths = _meet_and_turn_back(tr, 0.05)
    assert tr.offline_counts["swaps_undone"] == 1
    assert len(fixed) == 2
    for t, p in zip(fixed, paths):
        assert t.frames.tolist() == list(range(26))
        np.testing.assert_allclose(t.boxes[:, 0], [p(f) for f in range(26)], atol=1e-9)


def test_people_in_distinct_clothes_are_not_swapped_online_so_nothing_is_undone():
    tr = AppearanceTracker()
    tracks, paths = _meet_and_turn_back(tr, 0.3)
    assert tr.offline_counts["swaps_undone"] == 0 and len(tracks) == 2
    for t, p in zip(tracks, paths):
        np.testing.assert_allclose(t.boxes[:, 0], [p(f) for f in range(26)], atol=1e-9)


def _tracklet(frames, x0, vx, feat, clean=None, noise=0.0, seed=0):
    """A tracklet walking from ``x0`` at ``vx`` px/frame (10 fps), descriptor ``feat`` (or a function
    of the frame) on the frames in ``clean`` (default all)."""
    rng = np.random.default_rng(seed)
    frames = np.asarray(list(frames))
    boxes = np.array([[x0 + vx * (f - frames[0]), 20.0, 24.0, 80.0] for f in frames])
    cf = frames if clean is None else np.asarray([f for f in frames if f in set(clean)])
    feats = np.array([(feat(f) if callable(feat) else feat) + rng.normal(0, noise, D) for f in cf]).reshape(len(cf), D)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    return Tracklet(frames, boxes, frames / 10.0, np.ones(len(frames)), cf, feats)


def test_a_track_whose_clothes_change_abruptly_is_split_in_its_ambiguous_stretch():
    u, w = _colour(0.4)
    t = _tracklet(range(30), 10.0, 3.0, lambda f: u if f < 15 else w, clean=[*range(12), *range(18, 30)])
    out, counts = refine_tracklets([t], max_gap_s=0)
    assert counts["splits"] == 1 and len(out) == 2
    a, b = sorted(out, key=lambda x: x.frames[0])
    assert a.frames.tolist() == list(range(15)) and b.frames.tolist() == list(range(15, 30))  # cut mid-stretch
    # the same change without an ambiguous stretch (all sightings clean) is left alone: no gap to cut in
    same, counts = refine_tracklets([_tracklet(range(30), 10.0, 3.0, lambda f: u if f < 15 else w)], max_gap_s=0)
    assert counts["splits"] == 0 and len(same) == 1
    # and a small change is not a split
    v, x = _colour(0.05)
    _, counts = refine_tracklets([_tracklet(range(30), 10.0, 3.0, lambda f: v if f < 15 else x,
                                            clean=[*range(12), *range(18, 30)])], max_gap_s=0)
    assert counts["splits"] == 0


def test_linking_is_one_assignment_on_appearance_within_reach_and_gap():
    """Two people lost at the same time come back 1 s later; the nearer start (by motion) belongs to
    the other person: the assignment follows appearance. A third start, too late, stays alone."""
    red, blue = _colour(0.5)
    a = _tracklet(range(20), 10.0, 3.0, red, noise=0.005, seed=1)     # ends at x=67, frame 19
    b = _tracklet(range(20), 30.0, 3.0, blue, noise=0.005, seed=2)    # ends at x=87
    # after 1 s (10 frames) a would be near x=97, b near 117: starts swapped in position
    a2 = _tracklet(range(30, 50), 117.0, 3.0, red, noise=0.005, seed=3)
    b2 = _tracklet(range(30, 50), 97.0, 3.0, blue, noise=0.005, seed=4)
    late = _tracklet(range(75, 95), 250.0, 3.0, red, noise=0.005, seed=5)  # 2.6 s after a2 ended
    out, counts = refine_tracklets([a, b, a2, b2, late], swap_margin=0, split_distance=9)
    assert counts["links"] == 2 and len(out) == 3
    by_start = {round(t.boxes[0][0]): t for t in out}
    assert by_start[10].frames.tolist() == [*range(20), *range(30, 50)]
    np.testing.assert_allclose(by_start[10].boxes[20][0], 117.0)  # red went on with red
    np.testing.assert_allclose(by_start[30].boxes[20][0], 97.0)
    # with max_gap_s = 0.5 s nothing is linked
    _, counts = refine_tracklets([a, b, a2, b2, late], swap_margin=0, split_distance=9, max_gap_s=0.5)
    assert counts["links"] == 0
    # a start that does not look like the end is not linked, however close
    _, counts = refine_tracklets([a, _tracklet(range(25, 45), 82.0, 3.0, blue)], swap_margin=0, split_distance=9)
    assert counts["links"] == 0


def test_short_tracks_are_dropped_and_detectors_get_their_defaults():
    red, _ = _colour(0.5)
    out, counts = refine_tracklets([_tracklet(range(7), 0.0, 1.0, red), _tracklet(range(8), 50.0, 1.0, red)],
                                   min_sightings=8)
    assert counts["dropped_short"] == 1 and [len(t.frames) for t in out] == [8]
    assert tracker_for("hog").params()["max_link_s"] > 0 and tracker_for("mog2").params()["max_link_s"] == 0
    assert tracker_for("hog").params()["offline"] is True and tracker_for("hog").params()["min_sightings"] == 8
    assert tracker_for("hog", gallery=True).params()["min_sightings"] == 1  # a gallery clip keeps its short tracks
    assert tracker_for("mog2", gallery=True).params()["min_sightings"] == 1
    with pytest.raises(ValueError, match="detector"):
        tracker_for("yolo")
    with pytest.raises(ValueError, match="min_sightings"):
        AppearanceTracker(min_sightings=0)
    with pytest.raises(ValueError, match="swap_margin"):
        AppearanceTracker(swap_margin=-0.1)
    with pytest.raises(ValueError, match="differ in length"):
        Tracklet([0, 1], np.zeros((1, 4)), [0.0, 0.1], [1.0, 1.0], [], np.zeros((0, D)))
