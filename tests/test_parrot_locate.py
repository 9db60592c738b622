"""face.parrot locates the obfuscated gallery faces the way the release's faces were located
(issue 13): without manifest boxes, by the detector on the obfuscated image, not at the clear box."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from auditkit.attacks.base import FeatureSet
from auditkit.attacks.face import transformed_gallery
from auditkit.features.faces import ImageFaces

CLEAR = (10, 10, 40, 40)


def _faces(rows):
    """An extraction with one row per (box, source, encoding value)."""
    return ImageFaces(width=100, height=100, boxes=np.array([r[0] for r in rows]),
                      scores=np.array([np.nan] * len(rows)), sources=np.array([r[1] for r in rows]),
                      encodings=np.array([np.full(4, r[2], float) for r in rows]),
                      n_detected=sum(r[1] == "detector" for r in rows))


def _ctx(release_source: str):
    seen = []

    def encode(tasks, label):
        seen.extend(tasks)
        # near the clear box: a manifest-box-like region (1.0); the detector found a bigger face
        # elsewhere on the obfuscated image (2.0); the smaller detection (3.0)
        return {t.key: _faces([(CLEAR, "manifest_box" if t.hint_box else "whole_image", 1.0),
                               ((40, 40, 50, 50), "detector", 2.0), ((0, 0, 12, 12), "detector", 3.0)])
                for t in tasks}

    gallery = FeatureSet(np.zeros((2, 4)), ["g0", "g1"], ["a", "b"],
                         [{"path": f"/g{i}.png", "sha256": str(i), "box": list(CLEAR)} for i in range(2)])
    probes = FeatureSet(np.zeros((1, 4)), ["p0"], ["a"], [{"file": "r.png", "box": list(CLEAR),
                                                           "source": release_source}])
    return SimpleNamespace(gallery=gallery, probes=probes, scope="frame", encode=encode, skipped=[]), seen


def test_without_manifest_boxes_the_detector_box_on_the_obfuscated_gallery_is_used():
    ctx, seen = _ctx("detector")
    fs = transformed_gallery(ctx, "blur:sigma=6", label="parrot gallery", probe_like=True)
    assert all(t.hint_box is None for t in seen)
    assert np.allclose(fs.X, 2.0)  # the largest detection, as the audit picks release faces


def test_with_manifest_boxes_and_by_default_the_clear_box_is_used():
    for src, probe_like in (("manifest_box", True), ("detector", False)):
        ctx, seen = _ctx(src)
        fs = transformed_gallery(ctx, "blur:sigma=6", label="parrot gallery", probe_like=probe_like)
        assert all(t.hint_box == CLEAR for t in seen)
        assert np.allclose(fs.X, 1.0)
