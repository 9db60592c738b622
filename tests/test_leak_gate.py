"""The change-gated whole-frame leak scan (issue 15): the same faces as a full scan of every frame on
a static camera, for a fraction of the detector's work; a global change falls back to a full scan."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from auditkit.config import AuditConfig
from auditkit.features.leak_gate import ChangeGate
from auditkit.features.leaks import FaceLeakScanner


def bright_squares(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stand-in face detector: every connected blob brighter than 200 is a "face"."""
    g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    n, _, st, _ = cv2.connectedComponentsWithStats((g > 200).astype(np.uint8))
    boxes = np.array([[x, y, w, h] for x, y, w, h, a in st[1:n] if a >= 50], float).reshape(-1, 4)
    return boxes, np.full(len(boxes), 0.9)


def scene(t: int, *, light: int = 0) -> np.ndarray:
    rng = np.random.default_rng(t)  # sensor noise of +-3 grey levels, below the gate's threshold
    img = np.clip(90 + light + rng.integers(-3, 4, (240, 320)), 0, 255).astype(np.uint8)
    img[40:64, 30:54] = 230  # a face that stays where it is
    x = 10 + 4 * t
    img[150:178, x:x + 28] = 240  # a face walking across
    if 13 <= t < 18:  # both changes fall between full scans (frames 0, 10, 20)
        img[100:120, 250:270] = 235  # a face that appears, stays a while and leaves
    return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)


def _sorted(boxes: np.ndarray) -> list[tuple]:
    return sorted(tuple(b) for b in np.asarray(boxes).reshape(-1, 4).tolist())


def test_gated_scan_finds_what_the_full_scan_finds_for_less_work():
    gate = ChangeGate(full_every=10)
    calls = []

    def detect(img):
        calls.append(img.shape[0] * img.shape[1])
        return bright_squares(img)

    for t in range(30):
        img = scene(t)
        got, scores = gate.detect(img, detect)
        assert _sorted(got) == _sorted(bright_squares(img)[0]), f"frame {t}"
        assert len(scores) == len(got)
    c = gate.counts
    assert c["full"] == 3 and c["gated"] == 27
    assert sum(calls) == c["pixels_scanned"] < 0.5 * c["pixels_total"]


def test_a_change_over_much_of_the_frame_is_scanned_whole():
    gate = ChangeGate(full_every=10)
    gate.detect(scene(0), bright_squares)
    got, _ = gate.detect(scene(1, light=40), bright_squares)  # the lights go up: every pixel changes
    assert gate.counts["full"] == 2 and gate.counts["gated"] == 0
    assert _sorted(got) == _sorted(bright_squares(scene(1, light=40))[0])
    gate.detect(scene(2, light=40), bright_squares)  # the new reference: this frame is gated again
    assert gate.counts["gated"] == 1


def test_options_checked_and_in_the_scanner_params():
    with pytest.raises(ValueError, match="full_every"):
        ChangeGate(full_every=0)
    plain = FaceLeakScanner(detector="hog")
    gated = FaceLeakScanner(detector="hog", full_every=10)
    assert plain.gate is None and "gate" not in plain.params()
    assert gated.params()["gate"]["full_every"] == 10  # another cache key for the clip's scan
    with pytest.raises(ValueError, match="leak_full_every"):
        AuditConfig.from_flat(leak_full_every=0)
    assert AuditConfig.from_flat().video.leak_full_every == 1  # exact by default: the gate is asked for
