"""Gait: silhouette normalisation, gait period, GEI, PCA + LDA model and the gallery/probe protocol."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image

from auditkit.evaluate import evaluate_gait
from auditkit.features.gait import (
    GaitModel,
    estimate_gait_period,
    gait_cycles,
    gait_energy_image,
    load_sequences,
    load_usf_strip,
    normalise_silhouette,
    width_signal,
)
from auditkit.result import AttackResult

# ------------------------------------------------------------------ synthetic walkers

def _walker_params(rng: np.random.Generator) -> dict:
    return {"height": rng.uniform(70, 95), "torso": rng.uniform(0.16, 0.30), "head": rng.uniform(0.08, 0.14),
            "leg_len": rng.uniform(0.42, 0.55), "swing": rng.uniform(0.25, 0.6),
            "thick": rng.uniform(0.05, 0.10), "arm": rng.uniform(0.0, 0.5),
            "period": int(rng.integers(14, 21)), "lean": rng.uniform(-0.08, 0.08)}


def _walk(p: dict, rng: np.random.Generator, n_frames: int = 40) -> np.ndarray:
    """A side-view stick walker on a 120x90 canvas, at a random place and scale, noisy edges."""
    scale = rng.uniform(0.8, 1.15)
    H = p["height"] * scale
    x0, y0 = rng.uniform(30, 60), rng.uniform(2, 110 - H)
    phase = rng.uniform(0, 2 * np.pi)
    frames = np.zeros((n_frames, 120, 90), np.uint8)
    for t in range(n_frames):
        f = frames[t]
        a = p["swing"] * np.sin(2 * np.pi * t / p["period"] + phase)
        hip = (x0 + p["lean"] * H, y0 + H * (1 - p["leg_len"]))
        head_r = H * p["head"] / 2
        cv2.circle(f, (int(x0 + 2 * p["lean"] * H), int(y0 + head_r)), max(1, int(head_r)), 1, -1)
        cv2.ellipse(f, (int(x0 + 1.5 * p["lean"] * H), int((y0 + 2 * head_r + hip[1]) / 2)),
                    (max(1, int(H * p["torso"] / 2)), max(1, int((hip[1] - y0 - 2 * head_r) / 2))), 0, 0, 360, 1, -1)
        th = max(1, int(H * p["thick"]))
        L = H * p["leg_len"]
        for s in (1, -1):
            foot = (hip[0] + s * L * np.sin(a), hip[1] + L * np.cos(a))
            cv2.line(f, (int(hip[0]), int(hip[1])), (int(foot[0]), int(foot[1])), 1, th)
            sh = (x0 + 1.5 * p["lean"] * H, y0 + 2.5 * head_r)
            hand = (sh[0] - s * 0.35 * H * np.sin(p["arm"] * a), sh[1] + 0.35 * H * np.cos(p["arm"] * a))
            cv2.line(f, (int(sh[0]), int(sh[1])), (int(hand[0]), int(hand[1])), 1, max(1, th // 2))
        if rng.random() < 0.5:  # ragged segmentation
            k = np.ones((2, 2), np.uint8)
            frames[t] = cv2.dilate(f, k) if rng.random() < 0.5 else cv2.erode(f, k)
    return frames.astype(bool)


def _write_sequences(root: Path, subjects: dict[str, dict], n_seq: int, rng: np.random.Generator,
                     labels: dict[str, str] | None = None) -> None:
    for name, p in subjects.items():
        for k in range(n_seq):
            d = root / (labels[name] if labels else name) / f"seq{k}"
            d.mkdir(parents=True)
            for t, f in enumerate(_walk(p, rng)):
                Image.fromarray(f.astype(np.uint8) * 255).save(d / f"{t:03d}.png")


# ------------------------------------------------------------------ normalisation, period, GEI

def test_normalisation_removes_position_and_scale():
    a = np.zeros((100, 80), bool)
    a[10:50, 20:30] = True  # 40 x 10 block
    b = np.zeros((300, 300), bool)
    b[150:270, 200:230] = True  # the same shape, 3x larger, elsewhere
    na, nb = normalise_silhouette(a, size=(64, 44)), normalise_silhouette(b, size=(64, 44))
    np.testing.assert_allclose(na, nb, atol=1e-6)
    cols = np.flatnonzero(na.sum(axis=0) > 0)
    assert na.shape == (64, 44) and na[0].max() == 1.0 and na[-1].max() == 1.0
    assert abs((cols[0] + cols[-1]) / 2 - 21.5) <= 1.0  # centred
    assert normalise_silhouette(np.zeros((5, 5), bool)) is None


def test_period_from_width_signal():
    t = np.arange(60)
    widths = 10 + 5 * np.abs(np.sin(np.pi * t / 8))  # one step every 8 frames: cycle 16
    assert estimate_gait_period(widths) == 16
    assert estimate_gait_period(np.full(30, 7.0)) is None  # no motion, no period


def test_synthetic_walker_cycle_and_gei():
    rng = np.random.default_rng(0)
    p = _walker_params(rng)
    p["period"] = 18
    seq = _walk(p, rng, n_frames=60)
    norm = np.stack([normalise_silhouette(f) for f in seq])
    assert estimate_gait_period(width_signal(norm)) in (17, 18, 19)
    cycles = gait_cycles(norm)
    assert len(cycles) >= 3 and all(b - a == cycles[0][1] - cycles[0][0] for a, b in cycles)
    gei = gait_energy_image(seq)
    start, stop = cycles[0][0], cycles[-1][1]
    np.testing.assert_allclose(gei, norm[start:stop].mean(axis=0), atol=1e-6)
    assert gei.min() >= 0 and gei.max() <= 1
    # a single cycle (no period detectable) is averaged whole
    one = seq[:10]
    np.testing.assert_allclose(gait_energy_image(one), np.stack([normalise_silhouette(f) for f in one]).mean(0),
                               atol=1e-6)


def test_usf_strip_loader_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    frames = rng.random((10, 32, 22)) > 0.5
    strip = np.concatenate(list(frames), axis=1).astype(np.uint8) * 255  # 32 x 220
    Image.fromarray(strip).save(tmp_path / "s.png")
    np.testing.assert_array_equal(load_usf_strip(tmp_path / "s.png"), frames)
    with pytest.raises(ValueError, match="not a multiple of the frame width 21"):
        load_usf_strip(tmp_path / "s.png", frame_width=21)


def test_loader_reports_bad_sequences(tmp_path):
    (tmp_path / "a" / "empty").mkdir(parents=True)
    (tmp_path / "a" / "blank").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "blank" / "0.png")
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    seqs, skipped = load_sequences(tmp_path)
    assert seqs == []
    reasons = {s.path: s.reason for s in skipped}
    assert "no image frames" in reasons[str(Path("a") / "empty")]
    assert "no silhouette pixels" in reasons[str(Path("a") / "blank")]
    assert "unreadable" in reasons[str(Path("a") / "broken.png")]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_sequences(tmp_path / "nope")


def test_gait_model_errors():
    with pytest.raises(RuntimeError, match="call fit"):
        GaitModel().transform(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="at least 2 gallery identities"):
        GaitModel().fit(np.zeros((3, 4, 4)), ["a", "a", "a"])


# ------------------------------------------------------------------ protocol on synthetic walkers

@pytest.fixture(scope="module")
def walkers(tmp_path_factory):
    rng = np.random.default_rng(7)
    subjects = {f"w{i:02d}": _walker_params(rng) for i in range(12)}
    root = tmp_path_factory.mktemp("walkers")
    _write_sequences(root / "gallery", subjects, 3, rng)
    probes = dict(subjects)
    probes["stranger"] = _walker_params(rng)  # not in the gallery
    _write_sequences(root / "probe", probes, 2, rng)
    names = sorted(subjects)
    derange = {n: names[(k + 1) % len(names)] for k, n in enumerate(names)}
    _write_sequences(root / "probe_mislabelled", subjects, 2, rng, labels=derange)
    return root


def test_gait_protocol_beats_chance_and_reports_impostors(walkers):
    r = evaluate_gait(walkers / "gallery", walkers / "probe")
    att = r["attack"]
    assert isinstance(att, AttackResult)
    assert (att.name, att.cue, att.criterion) == ("gait", "gait", "singling_out")
    m = att.metrics
    for key in ("rank1", "rank1_ci", "rank5", "chance_rank1", "advantage", "advantage_ci", "map"):
        assert key in m
    assert r["n_gallery_subjects"] == 12 and r["n_mated"] == 24
    assert r["open_set"]["n_impostor_probes"] == 2 and r["open_set"]["impostor_subjects"] == ["stranger"]
    assert m["chance_rank1"] == pytest.approx(1 / 12)
    assert m["rank1"] >= 0.6
    assert m["rank1_ci"][0] > m["chance_rank1"]
    assert r["rank5"] >= r["rank1"]


def test_gait_protocol_with_mismatched_labels_falls_to_chance(walkers):
    m = evaluate_gait(walkers / "gallery", walkers / "probe_mislabelled")["attack"].metrics
    assert m["rank1"] <= m["chance_rank1"] + 0.05
    assert m["advantage_ci"][0] <= 0.0


# ------------------------------------------------------------------ real data: USF HumanID

def test_usf_probe_a_and_open_set_probe_d():
    png = shared_dataset("usf_gait_silhouettes") / "png"
    r = evaluate_gait(png / "gallery", png / "probe_A")
    assert r["n_gallery_sequences"] == 731 and r["n_gallery_subjects"] == 71
    assert r["n_mated"] == 727 and r["open_set"]["n_impostor_probes"] == 0
    # nearest mean GEI reaches 0.45 here (SOURCE.md); PCA + LDA must do clearly better
    assert r["rank1_ci"][0] > 0.7
    assert r["chance_rank1"] == pytest.approx(1 / 71)
    if (png / "probe_D").is_dir():
        d = evaluate_gait(png / "gallery", png / "probe_D")
        assert d["open_set"]["impostor_subjects"] == ["usf000"]
        assert d["open_set"]["n_impostor_probes"] > 0
        assert d["n_mated"] + d["open_set"]["n_impostor_probes"] == d["n_probe_sequences"]
