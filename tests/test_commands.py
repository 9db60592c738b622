"""`auditkit sweep` and `auditkit evaluate reid|gait`: CLI runs, outputs, reports and error paths."""
from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image

from auditkit import cli
from auditkit.cli import run_command
from auditkit.cli.sweep import parse_strengths
from auditkit.report.figures import privacy_curve_uri
from auditkit.scoring.stats import advantage_interval, wilson_interval


def run_cli(argv: list[str]) -> int:
    """Run `auditkit argv` (cli.main: exit codes and error messages as a user sees them)."""
    return cli.main(argv)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _png_size(uri: str) -> tuple[int, int]:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size


# ------------------------------------------------------------------ parsing and dispatch

def test_run_command_ignores_other_commands(tmp_path):
    p = cli.build_parser()
    args = p.parse_args(["report", str(tmp_path / "results.json")])
    assert run_command(args) is None


def test_parse_strengths():
    assert parse_strengths("blur=2,4,8;pixelate=4,8", ["blur", "pixelate"]) == {"blur": [2, 4, 8], "pixelate": [4, 8]}
    assert parse_strengths("2, 4", ["blur"]) == {"blur": [2.0, 4.0]}
    assert parse_strengths(None, ["blur"]) is None
    with pytest.raises(ValueError, match="'x' for blur is not a number"):
        parse_strengths("blur=2,x", ["blur"])
    with pytest.raises(ValueError, match="several families"):
        parse_strengths("2,4", ["blur", "pixelate"])
    with pytest.raises(ValueError, match="no strengths for pixelate"):
        parse_strengths("blur=2", ["blur", "pixelate"])
    with pytest.raises(ValueError, match="family 'box', which is not in --families"):
        parse_strengths("box=5", ["blur"])


# ------------------------------------------------------------------ privacy-curve figure

def _hand_sweep(n_fams: int) -> dict:
    """A sweep result built by hand: blur falls to chance at 8, pixelate never does."""
    curve = {}
    for fam, hits in (("blur", [18, 9, 3]), ("pixelate", [19, 15, 12]))[:n_fams]:
        n, chance = 20, 0.1
        cis = [wilson_interval(k, n) for k in hits]
        curve[fam] = {"param": "sigma", "x": [2.0, 4.0, 8.0], "chance": [chance] * 3,
                      "series": {"face.naive": {"rank1": [k / n for k in hits], "lo": [c[0] for c in cis],
                                                "hi": [c[1] for c in cis]},
                                 "face.learned": {"rank1": [None, 0.5, 0.2], "lo": [None, 0.3, 0.08],
                                                  "hi": [None, 0.7, 0.42]}},
                      "recommended": 8.0 if fam == "blur" else None,
                      "x_label": f"{fam} (pixels)", "y_label": "rank-1"}
        assert advantage_interval(cis[-1], chance)[0] <= 0 or fam == "pixelate"
    return {"curve": curve}


def test_privacy_curve_is_an_inline_png_with_one_panel_per_family():
    w1, h1 = _png_size(privacy_curve_uri(_hand_sweep(1)))
    w2, h2 = _png_size(privacy_curve_uri(_hand_sweep(2)))
    assert w2 > 1.6 * w1 and abs(h2 - h1) < 0.2 * h1  # panels side by side
    with pytest.raises(ValueError, match="no privacy curve"):
        privacy_curve_uri({"curve": {}})


# ------------------------------------------------------------------ sweep on AT&T faces

@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory, feature_cache_dir):
    src = shared_dataset("att_orl_faces")
    base = tmp_path_factory.mktemp("cmd-sweep")
    faces = base / "faces"
    for s in range(1, 6):  # 5 identities x 4 images: 2 calibration + 2 probes each
        (faces / f"s{s}").mkdir(parents=True)
        for k in range(1, 5):
            shutil.copy(src / f"s{s}" / f"{k}.pgm", faces / f"s{s}" / f"{k}.pgm")
    out = base / "out"
    argv = ["sweep", "--gallery", str(faces), "--families", "blur", "--strengths", "blur=1,24",
            "--attacks", "face.naive,face.parrot", "--calibration", "2", "--scope", "frame",
            "--out", str(out), "--cache-dir", str(feature_cache_dir), "--quiet"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = run_cli(argv)
    return {"faces": faces, "out": out, "rc": rc, "stdout": buf.getvalue()}


def test_sweep_writes_json_and_report(sweep_run):
    assert sweep_run["rc"] == 0
    out, faces = sweep_run["out"], sweep_run["faces"]
    sw = json.loads((out / "sweep.json").read_text())
    assert sw["schema"] == "auditkit.sweep/1"
    assert sw["split"]["identities"] == 5 and sw["split"]["probe_images"] == 10
    assert sw["parameters"]["attacks"] == ["face.naive", "face.parrot"]
    pts = sw["families"]["blur"]["points"]
    assert [p["strength"] for p in pts] == [1.0, 24.0]
    # light blur: the naive attacker finds clearly more than chance (1/5)
    assert pts[0]["attacks"]["face.naive"]["rank1_ci"][0] > pts[0]["chance"] == pytest.approx(0.2)
    # chain of custody: every calibration file with its own hash
    files = {f["path"]: f["sha256"] for f in sw["inputs"]["gallery"]["files"]}
    # private by default (issue 10): identity folders are pseudonyms; the mapping is kept apart
    import csv

    ps = {r["identity"]: r["pseudonym"] for r in csv.DictReader((out / "private" / "labels.csv").open())}
    assert len(files) == 20 and files[f"{ps['s3']}/2.pgm"] == _sha(faces / "s3" / "2.pgm")
    assert not any(p.startswith("s3/") for p in files)
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 1  # the privacy curve, inline
    assert "Privacy curve" in html and sw["families"]["blur"]["recommendation"]["statement"][:40] in html
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"\bs[1-5]/", html)  # no identity folder name in the HTML


def test_sweep_prints_the_recommendation(sweep_run):
    sw = json.loads((sweep_run["out"] / "sweep.json").read_text())
    (rec,) = sw["recommendations"]
    assert f"recommendation: {rec}" in sweep_run["stdout"]
    assert rec.startswith(("blur at sigma", "None of the tested blur strengths (1, 24)"))
    assert str(sweep_run["out"] / "report.html") in sweep_run["stdout"]


# ------------------------------------------------------------------ evaluate reid

def _figure(colours: dict, rng: np.random.Generator, gain: np.ndarray) -> np.ndarray:
    """A 128x48 coloured figure: head, shirt with a band, trousers; shifted, lit, noisy."""
    img = np.zeros((128, 48, 3), np.float64)
    img[:] = rng.integers(40, 200, 3)
    img[4:22, 16:32] = colours["skin"]
    img[22:70, 10:38] = colours["shirt"]
    img[colours["band"]:colours["band"] + 6, 10:38] = colours["band_c"]
    img[70:124, 12:36] = colours["trousers"]
    img = np.roll(img, (int(rng.integers(-4, 5)), int(rng.integers(-4, 5))), axis=(0, 1))
    return np.clip(img * gain + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)


def _two_camera_manifest(root: Path, n: int, *, seed: int = 1, cameras=("cam_a", "cam_b")) -> Path:
    rng = np.random.default_rng(seed)
    gains = {"cam_a": np.ones(3), "cam_b": np.array([0.75, 0.85, 1.1]), "cam_c": np.ones(3)}
    rows = []
    (root / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        c = {"skin": rng.integers(120, 230, 3), "shirt": rng.integers(0, 256, 3), "band": int(rng.integers(30, 60)),
             "band_c": rng.integers(0, 256, 3), "trousers": rng.integers(0, 256, 3)}
        for cam in cameras:
            path = f"img/{i:03d}_{cam}.png"
            Image.fromarray(_figure(c, rng, gains[cam])).save(root / path)
            rows.append({"path": path, "subject": f"id{i:03d}", "camera": cam})
    with open(root / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "subject", "camera"])
        w.writeheader()
        w.writerows(rows)
    return root / "manifest.csv"


def test_evaluate_reid_on_generated_two_camera_set(tmp_path, capsys):
    manifest = _two_camera_manifest(tmp_path / "data", 24)
    out = tmp_path / "out"
    rc = run_cli(["evaluate", "reid", str(manifest), "--repeats", "3", "--out", str(out), "--quiet"])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "rank-1:" in stdout and "sd" in stdout and "verdict:" in stdout
    r = json.loads((out / "results.json").read_text())
    assert r["schema"] == "auditkit.results/1"
    a, px = r["attacks"]
    m = a["metrics"]
    assert a["name"] == "appearance" and a["n_identities"] == 12
    # issue 18: the pixel-domain body rung, on the same splits
    assert px["name"] == "appearance.pixels" and px["n_identities"] == 12 and px["metrics"]["n_mated"] == 12
    assert [s["n_test_subjects"] for s in px["details"]["splits"]] == [s["n_test_subjects"]
                                                                      for s in a["details"]["splits"]]
    assert px["metrics"]["rank1_ci"][0] > px["metrics"]["chance_rank1"]
    assert any(n.startswith("Pixel-domain body rung (appearance.pixels") for n in r["notes"])
    assert m["chance_rank1"] == pytest.approx(1 / 12) and m["n_mated"] == 12
    assert m["rank1_ci"][0] > m["chance_rank1"]  # distinct clothes: far above chance
    assert a["risk"] in ("medium", "high", "critical") and r["verdict"]["risk"] == a["risk"]
    ev = r["evaluation"]
    assert ev["kind"] == "reid" and ev["repeats"] == 3 and len(ev["splits"]) == 3
    r1 = [s["rank1"] for s in ev["splits"]]
    assert ev["spread"]["rank1"]["mean"] == pytest.approx(np.mean(r1))
    assert ev["spread"]["rank1"]["std"] == pytest.approx(np.std(r1, ddof=1))
    assert [f["name"] for f in ev["figures"]][:3] == ["rank-1", "rank-5", "rank-10"]
    assert "rank-20" not in [f["name"] for f in ev["figures"]]  # 12 test identities: trivially 100%
    # chain of custody: cameras as release / gallery, every file hashed, the manifest too
    rel = {f["path"]: f["sha256"] for f in r["inputs"]["release"]["files"]}
    assert r["inputs"]["release"]["camera"] == "cam_a" and len(rel) == 24
    assert rel["img/005_cam_a.png"] == _sha(tmp_path / "data" / "img" / "005_cam_a.png")
    assert r["inputs"]["gallery"]["n_files"] == 24
    assert r["inputs"]["manifest"]["files"][0]["sha256"] == _sha(manifest)
    html = (out / "report.html").read_text()
    assert "Standard-protocol evaluation" in html and "Per-split figures (3 splits)" in html
    assert "id005" not in html.split('<section id="custody">')[0]  # no subject label
    # same seed, same numbers
    rc = run_cli(["evaluate", "reid", str(manifest), "--repeats", "3", "--out", str(tmp_path / "o2"), "--quiet"])
    r2 = json.loads((tmp_path / "o2" / "results.json").read_text())
    assert rc == 0 and r2["attacks"] == r["attacks"] and r2["evaluation"] == r["evaluation"]


def test_evaluation_partial_renders_alone(tmp_path):
    """The partial renders from results.json's `evaluation` with the report's filters."""
    from auditkit.report import ci, pct
    from auditkit.report.environment import environment

    manifest = _two_camera_manifest(tmp_path / "data", 12, seed=4)
    assert run_cli(["evaluate", "reid", str(manifest), "--repeats", "2", "--out", str(tmp_path / "o"),
                    "--quiet"]) == 0
    r = json.loads((tmp_path / "o" / "results.json").read_text())
    env = environment()
    html = env.get_template("partials/evaluation.html.j2").render(evaluation=r["evaluation"])
    s0 = r["evaluation"]["splits"][0]
    assert f"<td>{pct(s0['rank1'])} ({ci(s0['rank1_ci'])})</td>" in html
    assert pct(r["evaluation"]["spread"]["rank1"]["std"]) in html


def test_evaluate_reid_viper_subset(tmp_path):
    root = shared_dataset("viper")
    out = tmp_path / "out"
    rc = run_cli(["evaluate", "reid", str(root / "manifest.csv"), "--repeats", "2", "--max-subjects", "80",
                  "--out", str(out), "--quiet"])
    assert rc == 0
    r = json.loads((out / "results.json").read_text())
    m = r["attacks"][0]["metrics"]
    assert r["attacks"][0]["n_identities"] == 40
    px = r["attacks"][1]
    assert px["name"] == "appearance.pixels" and px["n_identities"] == 40
    assert px["metrics"]["rank1_ci"][0] > px["metrics"]["chance_rank1"]
    assert m["rank1_ci"][0] > 3 * m["chance_rank1"]  # published hand-crafted baselines: 20-40% of 316
    assert r["inputs"]["release"]["n_files"] + r["inputs"]["gallery"]["n_files"] == 1264


# ------------------------------------------------------------------ evaluate gait

@pytest.fixture(scope="module")
def walkers(tmp_path_factory):
    from test_gait import _walker_params, _write_sequences

    rng = np.random.default_rng(11)
    subjects = {f"w{i:02d}": _walker_params(rng) for i in range(8)}
    root = tmp_path_factory.mktemp("cmd-walkers")
    _write_sequences(root / "gallery", subjects, 2, rng)
    probes = dict(subjects)
    probes["stranger"] = _walker_params(rng)
    _write_sequences(root / "probe", probes, 1, rng)
    return root, subjects


def test_evaluate_gait_on_generated_silhouettes(walkers, tmp_path, capsys):
    root, _ = walkers
    out = tmp_path / "out"
    rc = run_cli(["evaluate", "gait", "--gallery", str(root / "gallery"), "--probe", str(root / "probe"),
                  "--out", str(out), "--quiet"])
    assert rc == 0
    r = json.loads((out / "results.json").read_text())
    (a,) = r["attacks"]
    m = a["metrics"]
    assert (a["name"], a["n_identities"], m["n_mated"], m["n_non_mated"]) == ("gait", 8, 8, 1)
    assert m["rank1_ci"][0] > m["chance_rank1"] == pytest.approx(1 / 8)
    ev = r["evaluation"]
    assert ev["kind"] == "gait" and ev["spread"] is None
    assert ev["open_set"]["n_impostor_probes"] == 1
    assert r["inputs"]["gallery"]["identities"] == 8
    assert r["inputs"]["release"]["n_files"] == 9 * 40  # every probe frame hashed
    html = (out / "report.html").read_text()
    assert "Probes of people not in the gallery" in html
    # no subject label outside the chain-of-custody file listing (which report.html.j2 prints raw)
    assert "stranger" not in html.split('<section id="custody">')[0]
    # `auditkit report results.json` re-renders the same page from the stored numbers alone
    from auditkit.report import load_results, render_html

    again = render_html(load_results(out / "results.json"))
    assert re.sub(r"created [^<]*", "", again) == re.sub(r"created [^<]*", "", html)
    # --fail-on as for run: the attack is at least medium on distinct walkers
    assert run_cli(["evaluate", "gait", "--gallery", str(root / "gallery"), "--probe", str(root / "probe"),
                    "--out", str(tmp_path / "o2"), "--quiet", "--fail-on", "low"]) == 1


def _write_clip(path: Path, frames: np.ndarray, rng: np.random.Generator, *, speed: int = 3) -> np.ndarray:
    """Silhouettes walking across a static textured background (``speed`` px per frame), as an
    MJPG .avi clip; returns the true masks on the wider canvas."""
    t, h, w = frames.shape
    W = w + speed * t
    bg = cv2.GaussianBlur(rng.integers(0, 256, (h, W, 3)).astype(np.uint8), (0, 0), 3)
    truth = np.zeros((t, h, W), bool)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (W, h))
    assert vw.isOpened()
    for i, f in enumerate(frames):
        truth[i, :, speed * i:speed * i + w] = f
        img = bg.copy()
        img[truth[i]] = (20, 20, 200)
        vw.write(img)
    vw.release()
    return truth


def test_clip_silhouettes_recover_the_walker(walkers, tmp_path):
    from test_gait import _walk

    from auditkit.cli.evaluate import clip_silhouettes

    rng = np.random.default_rng(2)
    p = next(iter(walkers[1].values()))
    truth = _write_clip(tmp_path / "c.avi", _walk(p, rng), rng)
    masks, report = clip_silhouettes(tmp_path / "c.avi")
    assert report["frames_decoded"] == len(truth) == len(masks)
    iou = [(m & t).sum() / (m | t).sum() for m, t in zip(masks, truth)]
    assert np.median(iou) > 0.8 and min(iou) > 0.5


def test_evaluate_gait_on_video_clips(walkers, tmp_path):
    from test_gait import _walk

    _, subjects = walkers
    rng = np.random.default_rng(5)
    for side, n in (("gallery", 2), ("probe", 1)):
        for name, p in list(subjects.items())[:6]:
            d = tmp_path / side / name
            d.mkdir(parents=True)
            for k in range(n):
                _write_clip(d / f"clip{k}.avi", _walk(p, rng), rng)
    (tmp_path / "probe" / "w00" / "broken.avi").write_bytes(b"not a video")
    out = tmp_path / "out"
    rc = run_cli(["evaluate", "gait", "--gallery", str(tmp_path / "gallery"), "--probe",
                  str(tmp_path / "probe"), "--out", str(out), "--quiet"])
    assert rc == 0
    r = json.loads((out / "results.json").read_text())
    m = r["attacks"][0]["metrics"]
    assert m["n_mated"] == 6 and r["inputs"]["gallery"]["n_files"] == 12
    assert m["rank1"] >= 4 / 6 and m["rank1_ci"][0] > m["chance_rank1"] == pytest.approx(1 / 6)
    import csv  # private by default (issue 10): the subject folder is a pseudonym, mapped in private/

    ps = {row["identity"]: row["pseudonym"] for row in csv.DictReader((out / "private" / "labels.csv").open())}
    assert any(s["path"] == f"{ps['w00']}/broken.avi" for s in r["skipped"])
    assert any("median-background subtraction" in n for n in r["notes"])


# ------------------------------------------------------------------ errors: exit 2, the file named

def test_errors_exit_2_naming_the_input(tmp_path, capsys):
    def err(argv):
        rc = run_cli(argv + ["--quiet", "--out", str(tmp_path / "o")])
        return rc, capsys.readouterr().err

    rc, e = err(["evaluate", "reid", str(tmp_path / "missing.csv")])
    assert rc == 2 and "missing.csv" in e and "not found" in e
    bad = tmp_path / "bad.csv"
    bad.write_text("path,subject\na.png,x\n")
    rc, e = err(["evaluate", "reid", str(bad)])
    assert rc == 2 and "bad.csv" in e and "camera" in e
    one = _two_camera_manifest(tmp_path / "one", 5, cameras=("cam_a",))
    rc, e = err(["evaluate", "reid", str(one)])
    assert rc == 2 and str(one) in e and "exactly two cameras" in e
    three = _two_camera_manifest(tmp_path / "three", 5, cameras=("cam_a", "cam_b", "cam_c"))
    rc, e = err(["evaluate", "reid", str(three)])
    assert rc == 2 and "exactly two cameras" in e
    rc, e = err(["evaluate", "reid", str(bad), "--jobs", "4"])
    assert rc == 2 and "--jobs does not apply to `auditkit evaluate reid`" in e
    rc, e = err(["evaluate", "gait", "--gallery", str(tmp_path / "nogal"), "--probe", str(tmp_path)])
    assert rc == 2 and "gait gallery folder not found" in e and "nogal" in e
    (tmp_path / "flat").mkdir()
    rc, e = err(["evaluate", "gait", "--gallery", str(tmp_path / "flat"), "--probe", str(tmp_path / "flat")])
    assert rc == 2 and "no <subject>/ sub-folder" in e
    rc, e = err(["sweep", "--gallery", str(tmp_path / "nofaces")])
    assert rc == 2 and "gallery folder not found" in e and "nofaces" in e
    rc, e = err(["sweep", "--gallery", str(tmp_path), "--families", "blur", "--strengths", "blur=2,x"])
    assert rc == 2 and "'x' for blur is not a number" in e
    rc, e = err(["sweep", "--gallery", str(tmp_path), "--families", "swirl"])
    assert rc == 2 and "unknown obfuscation family 'swirl'" in e
    rc, e = err(["sweep", "--gallery", str(tmp_path), "--fail-on", "high"])
    assert rc == 2 and "--fail-on does not apply to `auditkit sweep`" in e
    rc, e = err(["sweep", "--gallery", str(tmp_path), "--attacks", "face.magic"])
    assert rc == 2 and "unknown attack(s) face.magic" in e


def test_sweep_no_cache_face_scope_leaves_no_cache(sweep_run, tmp_path, monkeypatch):
    user_cache = tmp_path / "user-cache"
    user_cache.mkdir()
    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(user_cache))
    out = tmp_path / "out"
    rc = run_cli(["sweep", "--gallery", str(sweep_run["faces"]), "--families", "pixelate", "--strengths", "6",
                  "--attacks", "face.naive", "--calibration", "3", "--scope", "face", "--no-cache",
                  "--out", str(out), "--quiet"])
    assert rc == 0
    sw = json.loads((out / "sweep.json").read_text())
    assert sw["parameters"]["no_cache"] is True and sw["parameters"]["scope"] == "face"
    assert sw["split"]["probe_images"] == 5 and "no_face_detected" in sw["split"]
    assert list(user_cache.iterdir()) == []  # nothing read from or written to the user's cache
