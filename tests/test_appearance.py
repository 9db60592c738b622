"""Appearance (clothing/body) descriptor, XQDA metric and the two-camera re-id protocol."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image

from auditkit.evaluate import evaluate_reid
from auditkit.features import appearance as app
from auditkit.features.appearance import (
    AppearanceMetric,
    appearance_descriptor,
    descriptor_layout,
)
from auditkit.result import AttackResult

# ------------------------------------------------------------------ synthetic pedestrians

def _subject_colours(rng: np.random.Generator) -> dict:
    return {"shirt": rng.integers(0, 256, 3), "trousers": rng.integers(0, 256, 3),
            "band": rng.integers(0, 256, 3), "band_y": int(rng.integers(35, 65)),
            "skin": rng.integers(120, 230, 3), "split": int(rng.integers(60, 80))}


def _render(subj: dict, rng: np.random.Generator, *, gain: np.ndarray) -> np.ndarray:
    """A 128x48 pedestrian: head, shirt with a band, trousers; shifted, lit, noisy."""
    img = np.zeros((128, 48, 3), np.float64)
    img[:] = rng.integers(40, 200, 3)  # background
    img[4:22, 16:32] = subj["skin"]
    img[22:subj["split"], 10:38] = subj["shirt"]
    img[subj["band_y"]:subj["band_y"] + 6, 10:38] = subj["band"]
    img[subj["split"]:124, 12:36] = subj["trousers"]
    img = np.roll(img, (int(rng.integers(-4, 5)), int(rng.integers(-4, 5))), axis=(0, 1))
    img = img * gain + rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _write_two_camera_set(root: Path, n: int, *, seed: int, relabel_b: dict | None = None) -> Path:
    rng = np.random.default_rng(seed)
    gains = {"cam_a": np.array([1.0, 1.0, 1.0]), "cam_b": np.array([0.7, 0.8, 1.1])}
    rows = []
    (root / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        subj = _subject_colours(rng)
        for cam in ("cam_a", "cam_b"):
            path = f"img/{i:03d}_{cam}.png"
            Image.fromarray(_render(subj, rng, gain=gains[cam])).save(root / path)
            label = f"p{i:03d}"
            if cam == "cam_b" and relabel_b is not None:
                label = relabel_b[label]
            rows.append({"path": path, "subject": label, "camera": cam})
    with open(root / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "subject", "camera"])
        w.writeheader()
        w.writerows(rows)
    return root / "manifest.csv"


# ------------------------------------------------------------------ descriptor

def test_descriptor_shape_determinism_and_groups_normalised():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (97, 41, 3), dtype=np.uint8)  # any size
    d1, d2 = appearance_descriptor(crop), appearance_descriptor(crop.copy())
    lay = descriptor_layout()
    assert d1.shape == (sum(lay.values()),)
    assert lay["hsv"] == 40 * 512 and lay["siltp_r3"] == 40 * 81  # 24 + 11 + 5 window rows
    np.testing.assert_array_equal(d1, d2)
    start = 0
    for name, size in lay.items():
        assert np.linalg.norm(d1[start:start + size]) == pytest.approx(1.0), name
        start += size


def test_max_occurrence_matches_brute_force_windows():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 7, (32, 22))
    weight = (rng.random((32, 22)) > 0.2).astype(np.float32)
    got = app._max_occurrence(codes, weight, 7)
    rows = []
    for y in range(0, 32 - 10 + 1, 5):
        per_x = []
        for x in range(0, 22 - 10 + 1, 5):
            h = np.zeros(7)
            for yy in range(y, y + 10):
                for xx in range(x, x + 10):
                    h[codes[yy, xx]] += weight[yy, xx]
            per_x.append(h)
        rows.append(np.max(per_x, axis=0))
    np.testing.assert_allclose(got, np.array(rows))


def test_siltp_codes_hand_computed():
    g = np.full((7, 7), 1.0)
    g[3, 6] = 2.0  # right neighbour at radius 3 of the centre is much brighter -> state 1
    g[6, 3] = 0.5  # bottom neighbour much darker -> state 2
    code = app._siltp_codes(g, 3)[3, 3]
    # neighbours in order up, right, down, left: digits (0, 1, 2, 0) in base 3
    assert code == ((0 * 3 + 1) * 3 + 2) * 3 + 0


def test_mask_excludes_background_from_lab_stripes():
    rng = np.random.default_rng(2)
    crop = rng.integers(0, 256, (128, 48, 3), dtype=np.uint8)
    other = crop.copy()
    other[:, :10] = 255 - other[:, :10]  # change only the left margin
    mask = np.zeros((128, 48), bool)
    mask[:, 12:] = True
    lab = descriptor_layout()["lab_stripes"]
    a = appearance_descriptor(crop, mask=mask)[-lab:]
    b = appearance_descriptor(other, mask=mask)[-lab:]
    np.testing.assert_allclose(a, b)
    assert not np.allclose(appearance_descriptor(crop)[-lab:], appearance_descriptor(other)[-lab:])


@pytest.mark.parametrize("bad, msg", [(np.zeros((10, 10)), "HxWx3"),
                                      (np.zeros((10, 10, 3), np.float32), "uint8"),
                                      (np.zeros((1, 10, 3), np.uint8), "2x2")])
def test_descriptor_rejects_bad_crops(bad, msg):
    with pytest.raises(ValueError, match=msg):
        appearance_descriptor(bad)


# ------------------------------------------------------------------ XQDA

def test_xqda_covariances_match_brute_force_pairs():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 5))
    y = np.repeat(np.arange(10), 3)
    m = AppearanceMetric(reg=0.0).fit(X, y)
    intra, extra, ni, ne = np.zeros((5, 5)), np.zeros((5, 5)), 0, 0
    for i in range(30):
        for j in range(30):
            if i == j:
                continue
            d = np.outer(X[i] - X[j], X[i] - X[j])
            if y[i] == y[j]:
                intra += d
                ni += 1
            else:
                extra += d
                ne += 1
    np.testing.assert_allclose(m.intra_cov_, intra / ni, atol=1e-10)
    np.testing.assert_allclose(m.extra_cov_, extra / ne, atol=1e-10)


def test_xqda_high_dimension_path_equals_low_dimension_path():
    """Rotating data into 500 dims (d > n: Gram-matrix span basis) leaves similarities unchanged."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 6)) + np.repeat(rng.normal(size=(20, 6)) * 2, 2, axis=0)
    y = np.repeat(np.arange(20), 2)
    Q, _ = np.linalg.qr(rng.normal(size=(500, 6)))
    low = AppearanceMetric().fit(X, y)
    high = AppearanceMetric().fit(X @ Q.T, y)
    P, G = rng.normal(size=(7, 6)), rng.normal(size=(9, 6))
    np.testing.assert_allclose(high.similarity(P @ Q.T, G @ Q.T), low.similarity(P, G),
                               rtol=1e-6, atol=1e-6)


def test_metric_errors_name_what_to_do():
    with pytest.raises(RuntimeError, match="call fit"):
        AppearanceMetric().similarity(np.zeros((1, 3)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="2 identities"):
        AppearanceMetric().fit(np.zeros((3, 2)), [1, 1, 1])
    with pytest.raises(ValueError, match="within-person"):
        AppearanceMetric().fit(np.zeros((3, 2)), [1, 2, 3])
    with pytest.raises(ValueError, match="3 labels for 2"):
        AppearanceMetric().fit(np.zeros((2, 2)), [1, 2, 3])


# ------------------------------------------------------------------ protocol on synthetic data

def test_reid_protocol_beats_chance_on_synthetic_pedestrians(tmp_path):
    manifest = _write_two_camera_set(tmp_path, 40, seed=5)
    r = evaluate_reid(manifest, repeats=3, random_state=0)
    att = r["attack"]
    assert isinstance(att, AttackResult)
    assert (att.name, att.cue, att.criterion) == ("appearance", "appearance", "singling_out")
    m = att.metrics
    for key in ("rank1", "rank1_ci", "rank5", "chance_rank1", "advantage", "advantage_ci", "map"):
        assert key in m
    assert r["protocol"]["n_train_subjects"] == 20 and att.n_identities == 20
    assert m["chance_rank1"] == pytest.approx(1 / 20)
    assert m["rank1"] >= 0.6  # chance is 0.05
    assert m["rank1_ci"][0] > m["chance_rank1"]
    assert len(r["splits"]) == 3 and len(att.cmc) == 20
    assert att.cmc[-1] == pytest.approx(1.0)
    # figures agree with the splits they summarise
    assert m["rank1"] == pytest.approx(np.mean([s["rank1"] for s in r["splits"]]))
    assert r["summary"]["rank1"]["min"] <= m["rank1"] <= r["summary"]["rank1"]["max"]
    # same seed, same numbers (the first split does not depend on the number of repeats)
    again = evaluate_reid(manifest, repeats=1, random_state=0)
    assert again["splits"][0] == r["splits"][0]


def test_reid_protocol_with_mismatched_labels_falls_to_chance(tmp_path):
    """cam_b labels deranged (nobody's gallery image carries their name): no signal can remain."""
    names = [f"p{i:03d}" for i in range(40)]
    relabel = {n: names[(k + 1) % 40] for k, n in enumerate(names)}
    manifest = _write_two_camera_set(tmp_path, 40, seed=5, relabel_b=relabel)
    m = evaluate_reid(manifest, repeats=3, random_state=0)["attack"].metrics
    assert m["rank1"] <= m["chance_rank1"] + 0.05
    assert m["advantage_ci"][0] <= 0.0


def test_reid_manifest_errors(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("path,subject\na.png,x\n")
    with pytest.raises(ValueError, match="camera"):
        evaluate_reid(p)
    p.write_text("path,subject,camera\na.png,x,c1\nb.png,x,c2\nc.png,y,c3\n")
    with pytest.raises(ValueError, match="exactly two cameras"):
        evaluate_reid(p)


# ------------------------------------------------------------------ real data: VIPeR

def test_viper_reduced_protocol_in_published_range():
    root = shared_dataset("viper")
    r = evaluate_reid(root / "manifest.csv", repeats=2, random_state=0, max_subjects=120)
    m = r["attack"].metrics
    assert r["attack"].n_identities == 60
    assert m["rank1"] > 0.15  # chance 1/60
    assert m["rank1_ci"][0] > 5 * m["chance_rank1"]
    assert m["rank20"] > m["rank10"] > m["rank5"] > m["rank1"]
