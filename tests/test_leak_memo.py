"""The face-leak scan of a clip is cached on its own (issue 15): the linkage's pass over a release clip
(crops re-obfuscated, so other clip features) reuses the video audit's scan instead of running the
face detector over every frame again, and gets the same leaks and encodings."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_dataset

from auditkit.features.cache import FeatureCache
from auditkit.features.leaks import FaceLeakScanner
from auditkit.video.clips import process_clip


@pytest.fixture(scope="module")
def leaky_clip(tmp_path_factory):
    """12 frames, one person walking; a real face left clear in frames 4-7, blurred in the others."""
    from PIL import Image

    ex = shared_dataset("face_recognition_examples") / "examples"
    chip = np.asarray(Image.open(ex / "obama-240p.jpg").convert("RGB"))[10:130, 165:285]
    path = tmp_path_factory.mktemp("leakclip") / "cam.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (480, 360))
    boxes = {}
    for t in range(12):
        img = np.full((360, 480, 3), 100, np.uint8)
        x = 60 + 10 * t
        cv2.rectangle(img, (x - 10, 120), (x + 70, 270), (40, 40, 150), -1)
        face = cv2.resize(chip, (60, 60), interpolation=cv2.INTER_AREA)
        img[60:120, x:x + 60] = face if 4 <= t <= 7 else cv2.GaussianBlur(face, (0, 0), 8)
        boxes[t] = [(np.array([x - 10, 60, 80, 210], float), "a", "obama")]
        vw.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    vw.release()
    return path, boxes


def _leak_faces(cf):
    return [(lk["frame"], lk["track"]) for lk in cf.leaks], [t.faces for t in cf.tracks]


@pytest.mark.parametrize("mode", ["frame", "both"])
def test_second_pass_with_other_crops_reuses_the_scan(leaky_clip, tmp_path, monkeypatch, mode):
    path, boxes = leaky_clip
    cache = FeatureCache(tmp_path / "cache")
    first = process_clip(path, sha256="leakclip", cache=cache, boxes=boxes, leak_mode=mode, leak_detector="hog")
    lk_frames, _ = _leak_faces(first)
    assert {f for f, _ in lk_frames} <= {4, 5, 6, 7} and len(lk_frames) >= 2  # the clear frames leak
    assert all(t == "a" for _, t in lk_frames)
    calls = []
    real = FaceLeakScanner.scan_frame
    monkeypatch.setattr(FaceLeakScanner, "scan_frame", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    # the linkage's pass: the declared obfuscation re-applied to the crops -> other clip features, same scan
    second = process_clip(path, sha256="leakclip", cache=cache, boxes=boxes, leak_mode=mode, leak_detector="hog",
                          obfuscation="blur:sigma=4")
    assert calls == []
    assert not np.array_equal(first.tracks[0].appearance, second.tracks[0].appearance)
    assert first.leaks == second.leaks
    assert len(first.tracks[0].faces) == len(lk_frames)
    assert np.array_equal(first.tracks[0].faces, second.tracks[0].faces)
    # another scan option is another scan: the detector runs again, on every frame
    third = process_clip(path, sha256="leakclip", cache=cache, boxes=boxes, leak_mode=mode, leak_detector="hog",
                         leak_upsample=0, obfuscation="blur:sigma=4")
    assert len(calls) == 12 and third.report == first.report


def test_without_a_cache_every_pass_scans(leaky_clip, monkeypatch):
    path, boxes = leaky_clip
    calls = []
    real = FaceLeakScanner.scan_frame
    monkeypatch.setattr(FaceLeakScanner, "scan_frame", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    cache = FeatureCache(None)
    a = process_clip(path, sha256="leakclip", cache=cache, boxes=boxes, leak_detector="hog")
    b = process_clip(path, sha256="leakclip", cache=cache, boxes=boxes, leak_detector="hog", obfuscation="blur:sigma=4")
    assert len(calls) == 24 and a.leaks == b.leaks and a.leaks


def test_gated_scan_of_the_clip_says_what_it_scanned(leaky_clip, tmp_path):
    """--leak-full-every 10: the walking face is found in the same frames as by the full scan, and the clip's
    messages say how many frames were scanned whole and what share of the pixels was looked at."""
    path, boxes = leaky_clip
    cache = FeatureCache(tmp_path / "cache")
    full = process_clip(path, sha256="leakclip", cache=cache, boxes=boxes, leak_detector="hog")
    gated = process_clip(path, sha256="leakclip", cache=cache, boxes=boxes, leak_detector="hog", leak_full_every=10)
    assert [lk["frame"] for lk in gated.leaks] == [lk["frame"] for lk in full.leaks]
    (msg,) = [m for m in gated.messages if m.startswith("leak scan:")]
    assert msg.startswith("leak scan: 2 frame(s) scanned whole, 10 only where they changed")
    assert not any(m.startswith("leak scan:") for m in full.messages)
    # read back from the cache, the message is the same
    again = process_clip(path, sha256="leakclip", cache=cache, boxes=boxes, leak_detector="hog", leak_full_every=10,
                         obfuscation="blur:sigma=4")
    assert msg in again.messages
