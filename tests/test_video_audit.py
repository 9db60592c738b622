"""Video release audit end to end (issue 4, trajectories of issue 5): clips the test draws itself
(coloured walking figures on a static background), and a PETS 2009 subset when ../shared is present."""
from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_dataset

from auditkit.data.inputs import load_gallery, load_release
from auditkit.demo_scene import FPS, PEOPLE, H, W
from auditkit.demo_scene import background as _background
from auditkit.demo_scene import draw_person as _draw
from auditkit.demo_scene import person_crop as _person_crop
from auditkit.demo_scene import write_clip as _write_clip
from auditkit.demo_scene import write_manifest as _write_manifest
from auditkit.features.cache import FeatureCache
from auditkit.features.faces import FaceParams
from auditkit.result import Skipped
from auditkit.video.audit import audit_videos


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    base = tmp_path_factory.mktemp("video")
    rel, gal = base / "release", base / "gallery"
    rel.mkdir()
    rows = []
    for r in _write_clip(rel / "cam1.avi", [("ann", 20, 4.0, 150), ("bob", 300, -3.5, 220),
                                            ("cat", 40, 3.0, 100)], 70, seed=1):
        rows.append({"path": "cam1.avi", "camera": "cam1", **r})
    # a second clip with no boxes: people are detected; a clip-level subject (one person)
    _write_clip(rel / "cam2.avi", [("dan", 300, -4.0, 180)], 60, seed=2)
    rows.append({"path": "cam2.avi", "camera": "cam2", "subject": "dan"})
    # a truncated clip: the header says more frames than the file holds
    _write_clip(base / "full.avi", [("ann", 30, 4.0, 150)], 40, seed=3)
    data = (base / "full.avi").read_bytes()
    (rel / "broken.avi").write_bytes(data[: len(data) // 3])
    # garbage with a video extension
    (rel / "garbage.mp4").write_bytes(b"not a video at all" * 100)
    _write_manifest(rel / "manifest.csv", ["path", "frame", "x", "y", "w", "h", "track", "subject", "camera"], rows)
    for k, who in enumerate(PEOPLE):
        d = gal / who
        d.mkdir(parents=True)
        _write_clip(d / "walk.avi", [(who, 20, 4.5, 170)], 64, blur_heads=False, seed=10 + k)
        for j in range(2):
            cv2.imwrite(str(d / f"crop{j}.png"), cv2.cvtColor(_person_crop(who, 3 * j + 1, 20 + j), cv2.COLOR_RGB2BGR))
    release, gallery = load_release(rel), load_gallery(gal)
    cache = FeatureCache(base / "cache")
    skipped: list[Skipped] = []
    notes: list[str] = []
    va = audit_videos(release, gallery, face_gallery=None, face_params=FaceParams(), cache=cache, fps=None,
                      skipped=skipped, notes=notes)
    return {"va": va, "skipped": skipped, "notes": notes, "release": release, "gallery": gallery, "cache": cache}


def test_tracks_and_ground_truth(synthetic):
    va = synthetic["va"]
    sec = va.section
    by = {c["path"]: c for c in sec["clips"]}
    assert set(by) >= {"cam1.avi", "cam2.avi"}
    assert by["cam1.avi"]["detection"] == "manifest" and by["cam1.avi"]["tracks"] == 3
    assert by["cam2.avi"]["detection"] == "mog2" and by["cam2.avi"]["tracks"] >= 1
    truth = {t["probe"]: t["truth"] for t in sec["tracks"]}
    assert truth["cam1.avi#track1"] == "ann" and truth["cam1.avi#track2"] == "bob"
    assert truth["cam1.avi#track3"] == "cat"
    assert all(v == "dan" for k, v in truth.items() if k.startswith("cam2.avi"))
    json.dumps(sec)
    json.dumps(va.trajectories)


def test_bad_clips_listed_not_aborting(synthetic):
    paths = {s.path: s.reason for s in synthetic["skipped"]}
    assert "garbage.mp4" in paths
    assert "broken.avi" in paths  # decoded in part (or not at all): listed either way


def test_appearance_far_above_chance_and_fused_reported(synthetic):
    att = {a.name: a for a in synthetic["va"].attacks}
    app = att["appearance"]
    m = app.metrics
    assert m["n_mated"] >= 4 and m["chance_rank1"] == pytest.approx(0.25)
    assert m["rank1"] == 1.0 and m["rank1_ci"][0] > m["chance_rank1"]
    assert "fused" in att and att["fused"].cue == "fused"
    assert set(att["fused"].details["single_cues"]) >= {"appearance"}
    # the fused attack's per-cue figures are the cue attacks' own (same probes, candidates, open set)
    for cue, a in (("appearance", app), ("gait", att.get("gait"))):
        if a is None:
            continue
        single = att["fused"].details["single_cues"][cue]
        assert single["rank1"] == a.metrics["rank1"] and single["n_probes"] == a.n_probes
        assert single["n_mated"] == a.metrics["n_mated"] and single["rank1_ci"] == a.metrics["rank1_ci"]
        assert single["chance_rank1"] == a.metrics["chance_rank1"]
    assert all(w is not None and w >= 0 for w in att["fused"].details["weights"].values())
    assert "face.video" not in att  # no face gallery: skipped with a note, not faked
    assert any("face" in n for n in synthetic["notes"])


def test_trajectories_and_cache(synthetic):
    tr = synthetic["va"].trajectories
    assert tr["units"] == "release tracks" and tr["n_tracks"] == synthetic["va"].section["n_tracks"]
    assert [r["p"] for r in tr["uniqueness"]["by_p"]] == [1, 2, 3, 4]
    # a re-run reads every clip from the cache
    cache = synthetic["cache"]
    hits = cache.hits
    again = audit_videos(synthetic["release"], synthetic["gallery"], face_gallery=None, face_params=FaceParams(),
                         cache=cache, skipped=[], notes=[])
    assert cache.hits >= hits + 2 + 4
    assert again.section["tracks"] == synthetic["va"].section["tracks"]


def test_no_video_returns_none(tmp_path):
    rel, gal = tmp_path / "r", tmp_path / "g"
    rel.mkdir()
    cv2.imwrite(str(rel / "a.png"), np.zeros((20, 20, 3), np.uint8))
    for who in ("a", "b"):
        (gal / who).mkdir(parents=True)
        cv2.imwrite(str(gal / who / "x.png"), np.full((20, 20, 3), 9, np.uint8))
    assert audit_videos(load_release(rel), load_gallery(gal), face_gallery=None, face_params=FaceParams(),
                        cache=FeatureCache(None), skipped=[], notes=[]) is None


def test_face_leak_exposes_track_and_face_video_scores_it(tmp_path):
    """A real face left unblurred in a few frames of one person's track (face_recognition examples)."""
    from PIL import Image

    from auditkit.attacks.base import FeatureSet
    from auditkit.features.faces import FaceModels

    ex = shared_dataset("face_recognition_examples") / "examples"
    chip = np.asarray(Image.open(ex / "obama-240p.jpg").convert("RGB"))[10:130, 165:285]
    rel, gal = tmp_path / "release", tmp_path / "gallery"
    rel.mkdir()
    bg = np.full((360, 480, 3), 100, np.uint8)
    vw = cv2.VideoWriter(str(rel / "cam.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (480, 360))
    rows = []
    for t in range(12):
        img = bg.copy()
        x = 60 + 10 * t
        person = (x - 10, 60, 80, 210)
        cv2.rectangle(img, (x - 10, 120), (x + 70, 270), (40, 40, 150), -1)
        face = cv2.resize(chip, (60, 60), interpolation=cv2.INTER_AREA)
        img[60:120, x:x + 60] = face if 4 <= t <= 7 else cv2.GaussianBlur(face, (0, 0), 8)
        other = (360, 100, 40, 120)
        cv2.rectangle(img, (360, 100), (400, 220), (150, 60, 40), -1)
        rows += [{"path": "cam.avi", "frame": t, "x": person[0], "y": person[1], "w": person[2], "h": person[3],
                  "track": "a", "subject": "obama"},
                 {"path": "cam.avi", "frame": t, "x": other[0], "y": other[1], "w": other[2], "h": other[3],
                  "track": "b", "subject": "biden"}]
        vw.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    vw.release()
    _write_manifest(rel / "manifest.csv", ["path", "frame", "x", "y", "w", "h", "track", "subject"], rows)
    models = FaceModels(FaceParams())
    X, labels, info = [], [], []
    for who, name in (("obama", "obama.jpg"), ("obama", "obama2.jpg"), ("biden", "biden.jpg"),
                      ("alex", "alex-lacamoire.png")):
        (gal / who).mkdir(parents=True, exist_ok=True)
        img = np.asarray(Image.open(ex / name).convert("RGB"))
        Image.fromarray(img).save(gal / who / f"{Path(name).stem}.png")
        boxes, _ = models.detect(img)
        X.append(models.encode(img, boxes[:1])[0])
        labels.append(who)
        info.append({"source": "detector"})
    fs = FeatureSet(np.stack(X), [f"g{i}" for i in range(len(X))], labels, info)
    notes: list[str] = []
    va = audit_videos(load_release(rel), load_gallery(gal), face_gallery=fs, face_params=FaceParams(),
                      cache=FeatureCache(None), skipped=[], notes=notes)
    sec = va.section
    assert sec["tracks_exposed"] == 1
    assert sec["leaks"] and all(lk["track"] == "a" and 4 <= lk["frame"] <= 7 for lk in sec["leaks"])
    assert all(lk["confidence"] > 0 and lk["time_s"] == pytest.approx(lk["frame"] / 10.0, abs=0.01)
               for lk in sec["leaks"])
    # issue 13: the clip's leak rate = frames with a leaked face / frames scanned, with its Wilson interval
    from auditkit.features.face_detectors import resolve_detector
    from auditkit.scoring.stats import wilson_interval

    (clip,) = sec["clips"]
    k = len({lk["frame"] for lk in sec["leaks"]})
    assert clip["leak_frames_scanned"] == 12 and clip["leak_frames"] == k and k >= 3
    assert clip["leak_rate"] == pytest.approx(k / 12)
    np.testing.assert_allclose(clip["leak_rate_ci"], wilson_interval(k, 12), atol=1e-12)
    assert clip["leak_detector"] == resolve_detector("auto") == sec["parameters"]["leak_detector"]
    assert all(lk["detector"] == clip["leak_detector"] for lk in sec["leaks"])
    exposed = {t["probe"]: t["leaked"] for t in sec["tracks"]}
    assert exposed == {"cam.avi#tracka": True, "cam.avi#trackb": False}
    att = {a.name: a for a in va.attacks}
    fv = att["face.video"]
    assert fv.n_probes == 1 and fv.metrics["rank1"] == 1.0 and fv.n_identities == 3
    assert att["fused"].details["cues"] == ["face"]
    assert "appearance" not in att and any("appearance" in n for n in notes)


def test_pets_release_subset(tmp_path):
    """PETS 2009 S2.L1: head-blurred release clips of frames 0-99 and 200-299, gallery from frames 100-199
    (benchmarks/pets_release.py builds both; the full run is in benchmarks/README.md)."""
    import sys

    shared_dataset("pets2009_s2l1_view001")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import pets_release

    built = pets_release.build(tmp_path, limit=300, block=100, crops=4)
    assert built["release_clips"] == ["pets_0000.mp4", "pets_0200.mp4"]
    release, gallery = load_release(tmp_path / "release"), load_gallery(tmp_path / "gallery")
    pairs = {(it.file.rel, it.track) for it in release.items}
    skipped: list[Skipped] = []
    notes: list[str] = []
    va = audit_videos(release, gallery, face_gallery=None, face_params=FaceParams(), cache=FeatureCache(None),
                      fps=5.0, skipped=skipped, notes=notes)
    sec = va.section
    assert sec["n_tracks"] == len(pairs) and sec["n_tracks_with_truth"] == len(pairs)
    assert skipped == [] and all(c["frames_decoded"] == 100 and c["frames_sampled"] == 50 for c in sec["clips"])
    att = {a.name: a for a in va.attacks}
    app = att["appearance"].metrics
    n_open = sum(1 for t in sec["tracks"] if int(t["truth"][1:]) in built["open_set_ids"])
    assert app["n_mated"] == len(pairs) - n_open and app["n_non_mated"] == n_open
    # clothing alone names most head-blurred people, far above chance (1 in 8 gallery identities)
    assert app["chance_rank1"] == pytest.approx(1 / len(built["gallery_ids"]))
    assert app["rank1_ci"][0] > 3 * app["chance_rank1"]
    assert va.trajectories["n_tracks"] == len(pairs) and va.trajectories["absolute_time"] is True
    # gait: tracks with a 20-frame run at 5 frames/s are probes; each gallery identity has a single gait
    # sample here, so its fusion weight cannot be learned on the gallery: weight 0, said in a note
    gait = att["gait"]
    assert 0 < gait.n_probes < len(pairs)
    assert att["fused"].details["weights"]["gait"] == 0.0 and any("gait" in n and "weight 0" in n for n in notes)
    assert att["fused"].metrics["rank1"] == app["rank1"]


def test_huge_frames_downscaled_with_scale_and_empty_clip_noted(synthetic, tmp_path):
    rel = tmp_path / "release"
    rel.mkdir()
    big_w, big_h = 1280, 960  # downscaled to 640x480 for processing: scale 0.5
    vw = cv2.VideoWriter(str(rel / "big.avi"), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (big_w, big_h))
    rows = []
    for t in range(16):
        img = cv2.resize(_background(5), (big_w, big_h), interpolation=cv2.INTER_NEAREST)
        small = np.zeros((H, W, 3), np.uint8)
        box = _draw(small, "cat", 60 + 6 * t, t, 200)  # drawn at 320x240, then scaled 4x into place
        x, y, w, h = box
        patch = cv2.resize(small[y:y + h, x:x + w], (4 * w, 4 * h), interpolation=cv2.INTER_NEAREST)
        mask = patch.any(axis=2)
        img[4 * y:4 * y + 4 * h, 4 * x:4 * x + 4 * w][mask] = patch[mask]
        rows.append({"path": "big.avi", "frame": t, "x": 4 * x, "y": 4 * y, "w": 4 * w, "h": 4 * h, "track": 1,
                     "subject": "cat"})
        vw.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    vw.release()
    _write_clip(rel / "empty.avi", [], 15, seed=6)  # nobody walks by
    _write_manifest(rel / "manifest.csv", ["path", "frame", "x", "y", "w", "h", "track", "subject"], rows)
    notes: list[str] = []
    va = audit_videos(load_release(rel), synthetic["gallery"], face_gallery=None, face_params=FaceParams(),
                      cache=FeatureCache(None), max_side=640, skipped=[], notes=notes, leak_mode="off")
    clips = {c["path"]: c for c in va.section["clips"]}
    assert clips["big.avi"]["downscaled"] and clips["big.avi"]["scale"] == pytest.approx(0.5)
    assert clips["big.avi"]["resolution"] == [big_w, big_h]
    (track,) = va.section["tracks"]
    assert track["truth"] == "cat" and track["cues"]["appearance"]["rank"] == 1
    assert clips["empty.avi"]["tracks"] == 0 and any("empty.avi: no person track" in n for n in notes)


def test_gallery_clips_but_no_release_clip(synthetic, tmp_path):
    rel = tmp_path / "r"
    rel.mkdir()
    cv2.imwrite(str(rel / "a.png"), np.zeros((20, 20, 3), np.uint8))
    notes: list[str] = []
    va = audit_videos(load_release(rel), synthetic["gallery"], face_gallery=None, face_params=FaceParams(),
                      cache=synthetic["cache"], skipped=[], notes=notes)
    assert va is not None and va.section["n_tracks"] == 0 and va.trajectories is None
    assert [a.name for a in va.attacks] == []
    assert any("no person track in any release clip" in n for n in notes)


def test_video_partial_renders_without_identity_labels(synthetic):
    """The report partial: clips, tracks, leaks; identity labels pseudonymised (private by default)."""
    from auditkit.report import Pseudonyms
    from auditkit.report.environment import environment

    va = synthetic["va"]
    sec = json.loads(json.dumps(va.section))
    pseudo = Pseudonyms(sorted(PEOPLE), reveal=False)
    env = environment(pseudo)
    html = env.get_template("partials/video.html.j2").render(video=sec, trajectories=va.trajectories)
    assert "cam1.avi#track1" in html and "Exposure per track" in html and "No leak found" in html
    assert "person 0" in html and "compared as they are" in html
    for label in PEOPLE:
        assert not re.search(rf"\b{label}\b", html), label
    # leaks render as a table, with a track or "outside every track"
    sec["leaks"] = [{"clip": "cam1.avi", "camera": "cam1", "frame": 3, "time_s": 0.3, "box": [1, 2, 3, 4],
                     "confidence": 0.5, "track": None, "source": "frame", "probe": None}]
    html = env.get_template("partials/video.html.j2").render(video=sec, trajectories=None)
    assert "outside every track" in html and "<script" not in html
    # a face outside every track is a leak: the summary must not claim that no face was found
    assert sec["tracks_exposed"] == 0 and "No face was found" not in html
    assert "1 face(s) found outside every track" in html and "track(s) exposed" not in html
    # exposed tracks and faces outside tracks are worded separately
    sec["leaks"].append({"clip": "cam1.avi", "camera": "cam1", "frame": 4, "time_s": 0.4, "box": [1, 2, 3, 4],
                         "confidence": 0.6, "track": "1", "source": "frame", "probe": "cam1.avi#track1"})
    sec["tracks_exposed"] = 1
    html = env.get_template("partials/video.html.j2").render(video=sec, trajectories=None)
    assert "1 track(s) exposed</strong> by 1 face(s)" in html and "1 face(s) found outside every track" in html
    sec["leaks"], sec["tracks_exposed"] = [], 0
    html = env.get_template("partials/video.html.j2").render(video=sec, trajectories=None)
    assert "No face was found by the face detector" in html
    # issue 15: a change-gated leak scan is said; the default full scan needs no sentence
    assert sec["parameters"]["leak_full_every"] == 1 and "scanned fully every" not in html
    sec["parameters"]["leak_full_every"] = 10
    html = env.get_template("partials/video.html.j2").render(video=sec, trajectories=None)
    assert "Whole frames were scanned fully every 10 sampled frames" in html


def test_body_blur_estimated_and_reapplied_to_gallery(synthetic, tmp_path):
    """A release with whole bodies blurred: 'auto' estimates the blur on release person boxes and blurs the
    gallery crops alike; a declared spec is used as given; 'none' compares clear gallery crops."""
    rel = tmp_path / "release"
    rel.mkdir()
    bg = _background(7)
    # 1/f texture (natural images have one; on flat cartoon colours a blur leaves nothing to estimate)
    spec = np.fft.fft2(np.random.default_rng(7).normal(0, 1, (128, 128)))
    f = np.hypot(np.fft.fftfreq(128)[:, None], np.fft.fftfreq(128)[None])
    f[0, 0] = 1.0
    texture = np.real(np.fft.ifft2(spec / f ** 1.3)).astype(np.float32)
    texture *= 25.0 / texture.std()
    vw = cv2.VideoWriter(str(rel / "blurred.avi"), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    rows = []
    walkers = [("ann", 20, 4.0, 150), ("bob", 300, -3.5, 220), ("cat", 40, 3.0, 100), ("dan", 280, -3.0, 200)]
    for t in range(40):
        img = bg.copy()
        for k, (who, x0, v, ground) in enumerate(walkers):
            box = _draw(img, who, x0 + v * t, t, ground)
            x, y, w, h = box
            region = img[y:y + h, x:x + w].astype(np.float32) + texture[:h, :w, None]
            img[y:y + h, x:x + w] = cv2.GaussianBlur(np.clip(region, 0, 255).astype(np.uint8), (0, 0), 3.0)
            rows.append({"path": "blurred.avi", "frame": t, "x": x, "y": y, "w": w, "h": h, "track": k + 1,
                         "subject": who})
        vw.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    vw.release()
    _write_manifest(rel / "manifest.csv", ["path", "frame", "x", "y", "w", "h", "track", "subject"], rows)
    release = load_release(rel)
    kw = {"face_gallery": None, "face_params": FaceParams(), "cache": synthetic["cache"], "leak_mode": "off"}
    auto = audit_videos(release, synthetic["gallery"], skipped=[], notes=[], **kw)
    ob = auto.section["obfuscation"]
    assert ob["applied"] is not None and ob["applied"].startswith("blur:") and ob["source"].startswith("estimated")
    assert 1.0 <= ob["strength_median"] <= 6.0
    declared = audit_videos(release, synthetic["gallery"], skipped=[], notes=[], gallery_obfuscation="blur:sigma=3",
                            **kw)
    assert declared.section["obfuscation"]["applied"] == "blur:sigma=3"
    assert declared.section["obfuscation"]["source"] == "declared"
    plain = audit_videos(release, synthetic["gallery"], skipped=[], notes=[], gallery_obfuscation="none", **kw)
    assert plain.section["obfuscation"]["applied"] is None
    r1 = {name: next(a.metrics["rank1"] for a in va.attacks if a.name == "appearance")
          for name, va in (("auto", auto), ("declared", declared), ("plain", plain))}
    assert r1["auto"] >= 0.75 and r1["declared"] >= 0.75
    with pytest.raises(ValueError, match="unknown obfuscation"):
        audit_videos(release, synthetic["gallery"], skipped=[], notes=[], gallery_obfuscation="smudge", **kw)


def test_cli_run_on_a_video_release_end_to_end(synthetic, tmp_path, capsys):
    """`auditkit run` on a release of clips only: the video cues, the trajectories, the verdict,
    the outputs and the report, through the same path as an image release."""
    from auditkit.cli import main

    rel, gal = synthetic["release"].root, synthetic["gallery"].root
    code = main(["run", "--release", str(rel), "--gallery", str(gal), "--out", str(tmp_path / "out"),
                 "--cache-dir", str(synthetic["cache"].root), "--quiet", "--fail-on", "high"])
    out = capsys.readouterr().out
    r = json.loads((tmp_path / "out" / "results.json").read_text())
    names = [a["name"] for a in r["attacks"]]
    assert {"appearance", "fused"} <= set(names) and not any(n.startswith("face.") for n in names)
    app = next(a for a in r["attacks"] if a["name"] == "appearance")
    assert app["metrics"]["rank1"] == 1.0 and app["risk"] in ("high", "critical")
    assert r["verdict"]["strongest_attack"] in ("appearance", "fused") and code == 1 and "HIGH" in out.upper()
    assert r["video"]["n_tracks"] >= 4 and r["trajectories"]["n_tracks"] == r["video"]["n_tracks"]
    assert {"garbage.mp4", "broken.avi"} <= {s["path"] for s in r["skipped"]}
    assert r["detection"] is None  # no release image: no face-detection finding
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'id="video"' in html and 'id="trajectories"' in html and 'id="attack-appearance"' in html
    for who in PEOPLE:  # private by default: no identity label in the report
        assert not re.search(rf"\b{who}\b", html), who


# ------------------------------------------------------------------------------ review fixes

@pytest.fixture(scope="module")
def messy(synthetic, tmp_path_factory):
    """A release with bad manifest rows (frame "x", "inf", "-3", "nan", "1.5", with timestamps), boxes
    written for another resolution (first in each frame, so the obfuscation estimate would meet them), a
    clip truncated after its people were tracked, and a clip whose processing crashes."""
    import auditkit.features.faces as faces_mod

    base = tmp_path_factory.mktemp("messy")
    rel = base / "release"
    rel.mkdir()
    rows = []
    for r in _write_clip(rel / "good.avi", [("ann", 20, 4.0, 150), ("bob", 300, -3.5, 220)], 30, seed=11):
        if r["track"] == 1:  # one box per frame, for another resolution
            rows.append({"path": "good.avi", "frame": r["frame"], "x": 5000, "y": 4000, "w": 40, "h": 90,
                         "track": "far", "subject": "cat", "timestamp": "2024-05-01T10:00:00"})
        rows.append({"path": "good.avi", **r, "timestamp": f"2024-05-01T10:00:{r['frame'] // 10:02d}"})
    for bad in ("x", "inf", "-3", "nan", "1.5"):
        rows.append({"path": "good.avi", "frame": bad, "x": 10, "y": 10, "w": 20, "h": 60, "track": "9",
                     "subject": "ann", "timestamp": "2024-05-01T10:00:00"})
    part_rows = _write_clip(base / "part_full.avi", [("cat", 40, 3.0, 120)], 60, seed=12)
    data = (base / "part_full.avi").read_bytes()
    (rel / "part.avi").write_bytes(data[: 2 * len(data) // 3])
    rows += [{"path": "part.avi", **r, "timestamp": "2024-05-01T11:00:00"} for r in part_rows]
    _write_clip(rel / "crash.avi", [("dan", 300, -4.0, 180)], 12, seed=13)
    _write_manifest(rel / "manifest.csv", ["path", "frame", "x", "y", "w", "h", "track", "subject", "timestamp"], rows)
    import auditkit.video.clips as clips_mod  # process_clip_or_skip looks process_clip up there

    real = clips_mod.process_clip
    loads: list[int] = []

    def flaky(path, **kw):
        if Path(path).name == "crash.avi":
            raise RuntimeError("boom")
        return real(path, **kw)

    class CountingModels:
        def __init__(self, params):
            loads.append(1)

    skipped: list[Skipped] = []
    notes: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clips_mod, "process_clip", flaky)
        mp.setattr(faces_mod, "FaceModels", CountingModels)
        va = audit_videos(load_release(rel), synthetic["gallery"], face_gallery=None, face_params=FaceParams(),
                          cache=FeatureCache(None), skipped=skipped, notes=notes)
    return {"va": va, "skipped": skipped, "notes": notes, "face_model_loads": len(loads)}


def test_frame_index_parsing_rejects_bad_values():
    from auditkit.video.clips import _frame_index

    assert _frame_index("12") == 12 and _frame_index("3.0") == 3 and _frame_index(0) == 0
    for bad in ("x", "inf", "-inf", "nan", "-3", "1.5", None, ""):
        with pytest.raises(ValueError):
            _frame_index(bad)


def test_bad_manifest_frames_become_notes_not_errors(messy):
    notes = messy["notes"]
    for bad in ("x", "inf", "-3", "nan", "1.5"):
        assert any(f"frame {bad!r}" in n and "row ignored" in n for n in notes), bad
    clips = {c["path"]: c for c in messy["va"].section["clips"]}
    assert clips["good.avi"]["tracks"] == 2  # the bad rows' track 9 never existed, the good ones are intact
    assert messy["va"].trajectories["absolute_time"] is True


def test_boxes_outside_the_frame_ignored_and_crashing_clip_skipped(messy):
    from auditkit.data.boxes import clip_box as _clip_box

    assert _clip_box((5000, 4000, 40, 90), (240, 320)) is None
    assert _clip_box((-10, -5, 30, 40), (240, 320)) == (0.0, 0.0, 20.0, 35.0)
    assert _clip_box((float("nan"), 0, 10, 10), (240, 320)) is None
    clips = {c["path"]: c for c in messy["va"].section["clips"]}
    assert any("30 manifest box(es) outside the frame ignored" in m for m in clips["good.avi"]["messages"])
    assert not any(t["probe"] == "good.avi#trackfar" for t in messy["va"].section["tracks"])
    sk = {s.path: s.reason for s in messy["skipped"]}
    assert sk["crash.avi"] == "clip processing failed (RuntimeError: boom)" and "crash.avi" not in clips
    assert any(a.name == "appearance" for a in messy["va"].attacks)  # the audit went on


def test_partly_decoded_clip_with_tracks_is_audited_not_skipped(messy):
    clips = {c["path"]: c for c in messy["va"].section["clips"]}
    part = clips["part.avi"]
    assert part["truncated"] and 0 < part["frames_decoded"] < 60 and part["tracks"] == 1
    assert "part.avi" not in {s.path for s in messy["skipped"]}
    assert any(n.startswith("part.avi: decoded only in part") for n in messy["va"].section["notes"])
    assert any(t["probe"] == "part.avi#track1" for t in messy["va"].section["tracks"])


def test_face_models_loaded_lazily_once_per_audit(messy, monkeypatch):
    import auditkit.features.faces as faces_mod
    from auditkit.video.clips import _LazyFaceModels

    assert messy["face_model_loads"] == 0  # no leak in the messy release: never loaded
    made = []
    monkeypatch.setattr(faces_mod, "FaceModels", lambda p: made.append(p) or object())
    lazy = _LazyFaceModels(FaceParams())
    assert made == []
    first = lazy.get()
    assert lazy.get() is first and len(made) == 1 and lazy.loads == 1


def test_clips_on_two_workers_give_the_same_audit(synthetic, tmp_path):
    """Issue 15: release clips processed side by side (--jobs 2) give the audit of one by one; a bad clip is
    still listed as skipped, once."""
    skipped: list[Skipped] = []
    va = audit_videos(synthetic["release"], synthetic["gallery"], face_gallery=None, face_params=FaceParams(),
                      cache=FeatureCache(tmp_path / "fresh"), fps=None, skipped=skipped, notes=[], jobs=2)

    def same(sec):
        return json.loads(json.dumps({k: v for k, v in sec.items() if k not in ("seconds", "clips")}))

    assert same(va.section) == same(synthetic["va"].section)
    drop = ("seconds",)
    assert ([{k: v for k, v in c.items() if k not in drop} for c in va.section["clips"]]
            == [{k: v for k, v in c.items() if k not in drop} for c in synthetic["va"].section["clips"]])
    assert sorted(s.path for s in skipped) == sorted(s.path for s in synthetic["skipped"])
    assert [a.metrics for a in va.attacks] == [a.metrics for a in synthetic["va"].attacks]
