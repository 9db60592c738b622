"""``auditkit verify OUT`` (issue 16): SHA256SUMS over the outputs, inputs hashed again, the audit
re-run and compared. One generated face audit and one table audit are run per module; each test
works on its own copy."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from auditkit.bundle import read_checksums, write_checksums
from auditkit.cli import main
from auditkit.verify import Tolerance, compare_results


def _people(path, seed):
    rng = np.random.default_rng(seed)
    rows = [{"subject": f"p{i:03d}", "zip": f"z{i % 20}", "sex": "fm"[(i // 20) % 2],
             "age": int(rng.integers(20, 70)), "dx": ["flu", "cold", "hiv", "flu"][i % 4]} for i in range(200)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def verify_audits(tmp_path_factory, feature_cache_dir):
    """A generated face audit (release + gallery) and a table audit, through the command line."""
    from test_audit import make_generated

    base = tmp_path_factory.mktemp("verify")
    g, r = make_generated(base / "faces")
    assert main(["run", "--release", str(r), "--gallery", str(g), "--out", str(base / "faces" / "out"),
                 "--cache-dir", str(feature_cache_dir), "--quiet"]) in (0, 1)
    t = base / "table"
    t.mkdir()
    rel, aux = _people(t / "release.csv", 1), _people(t / "register.csv", 1)
    assert main(["run", "--table", str(rel), "--aux", str(aux), "--qi", "zip,sex,age", "--sensitive", "dx",
                 "--out", str(t / "out"), "--quiet"]) in (0, 1)
    return base


@pytest.fixture
def faces(verify_audits, tmp_path):
    """A copy of the face audit: inputs and output folder."""
    dst = tmp_path / "faces"
    shutil.copytree(verify_audits / "faces", dst)
    return dst


def _verify(capsys, out, *flags):
    rc = main(["verify", str(out), "--quiet", *map(str, flags)])
    return rc, capsys.readouterr().out


def _inputs(d):
    return ["--release", d / "release", "--gallery", d / "gallery"]


def test_sha256sums_covers_every_output_and_is_sha256sum_compatible(verify_audits):
    out = verify_audits / "faces" / "out"
    listed = read_checksums(out / "SHA256SUMS")
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(listed) == {f for f in files if not f.startswith("private/")} - {"SHA256SUMS"}
    assert {"report.html", "results.json", "matches.csv", "skipped.csv"} <= set(listed)
    for rel, digest in listed.items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    priv = read_checksums(out / "private" / "SHA256SUMS")
    assert {"labels.csv", "inputs.json"} <= set(priv)  # the auditor's private files have their own list
    if shutil.which("sha256sum"):
        for d in (out, out / "private"):
            done = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=d, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr


def test_checksum_file_names_with_newline_and_backslash(tmp_path):
    (tmp_path / "a\nb.txt").write_text("x")
    (tmp_path / "c\\d.txt").write_text("y")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.txt").write_text("z")
    listed = read_checksums(write_checksums(tmp_path))
    assert set(listed) == {"a\nb.txt", "c\\d.txt", "sub/e.txt"}
    if shutil.which("sha256sum"):
        done = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tmp_path, capture_output=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_results_json_holds_what_a_rerun_needs(verify_audits):
    r = json.loads((verify_audits / "faces" / "out" / "results.json").read_text())
    assert r["seed"] == 0 and r["parameters"]["detector"] == "hog"
    assert {"numpy", "scikit-learn"} <= set(r["tool"]["libraries"]) and r["tool"]["encoder_details"]["weights_sha256"]
    rep = r["reproduce"]
    man = (verify_audits / "faces" / "release" / "manifest.csv").read_bytes()
    assert rep["manifest"] == {"path": "manifest.csv", "sha256": hashlib.sha256(man).hexdigest(), "bytes": len(man)}
    assert rep["obfuscation"] == {"obfuscation": None, "obfuscation_scope": "face", "anonymizer": None,
                                  "anonymizer_timeout": 120.0}
    assert all(f["sha256"] for side in ("release", "gallery") for f in r["inputs"][side]["files"])
    paths = json.loads((verify_audits / "faces" / "out" / "private" / "inputs.json").read_text())["inputs"]
    assert paths == {side: str(verify_audits / "faces" / side) for side in ("release", "gallery")}


def test_verify_passes_on_an_untouched_face_audit(verify_audits, feature_cache_dir, capsys):
    # the auditor's own check: the inputs are found through OUT/private/inputs.json
    rc, out = _verify(capsys, verify_audits / "faces" / "out", "--cache-dir", feature_cache_dir)
    assert rc == 0, out
    assert "verified: outputs, inputs and figures agree" in out and "re-run:" in out


def test_verify_names_the_changed_release_image(faces, feature_cache_dir, capsys):
    p = faces / "release" / "probe1.png"
    img = np.array(Image.open(p))
    img[0, 0] = 255 - img[0, 0]
    Image.fromarray(img).save(p)
    rc, out = _verify(capsys, faces / "out", *_inputs(faces), "--cache-dir", feature_cache_dir)
    assert rc == 1
    assert f"input changed: {p.resolve()} (--release; sha256 recorded" in out
    assert "output changed" not in out  # the outputs themselves are untouched


def test_verify_names_an_edited_report_and_a_changed_gallery_image(faces, capsys):
    (faces / "out" / "report.html").write_text((faces / "out" / "report.html").read_text() + "<p>all fine</p>")
    g = faces / "gallery" / "id_2" / "1.png"
    img = np.array(Image.open(g))
    img[0, 0] = 255 - img[0, 0]
    Image.fromarray(img).save(g)
    rc, out = _verify(capsys, faces / "out", *_inputs(faces), "--no-rerun")
    assert rc == 1
    assert "output changed after the audit: report.html (sha256 in SHA256SUMS" in out
    # the gallery file's identity folder is a pseudonym in results.json: mapped back through private/labels.csv
    assert f"input changed: {g.resolve()} (--gallery" in out
    assert "results.json" not in out.split("NOT VERIFIED")[1]  # only what was changed is named


def test_verify_names_a_moved_figure_even_when_the_checksums_were_rewritten(faces, feature_cache_dir, capsys):
    out_dir = faces / "out"
    shutil.rmtree(out_dir / "private")  # a second party holds the shareable set only
    r = json.loads((out_dir / "results.json").read_text())
    naive = next(a for a in r["attacks"] if a["name"] == "face.naive")
    true_rank1 = naive["metrics"]["rank1"]
    naive["metrics"]["rank1"] = 0.125
    (out_dir / "results.json").write_text(json.dumps(r, indent=2))
    write_checksums(out_dir)  # a careful forger: SHA256SUMS agrees with the edited results.json
    rc, out = _verify(capsys, out_dir, *_inputs(faces), "--cache-dir", feature_cache_dir)
    assert rc == 1
    assert f"figure moved: attacks[face.naive].metrics.rank1: recorded 0.125, re-run {true_rank1!r}" in out
    assert "output changed" not in out and "input" not in out.split("NOT VERIFIED")[1]
    assert out.count("\n  - ") == 1  # nothing else differs: the re-run's pseudonyms were drawn again identically


def test_verify_table_audit_passes_and_names_a_changed_table(verify_audits, tmp_path, capsys):
    t = tmp_path / "table"
    shutil.copytree(verify_audits / "table", t)
    flags = ["--table", t / "release.csv", "--aux", t / "register.csv"]
    rc, out = _verify(capsys, t / "out", *flags)
    assert rc == 0, out
    df = pd.read_csv(t / "register.csv")
    df.loc[3, "zip"] = "z99"
    df.to_csv(t / "register.csv", index=False)
    rc, out = _verify(capsys, t / "out", *flags, "--no-rerun")
    assert rc == 1 and f"input changed: {(t / 'register.csv').resolve()} (--aux; sha256 recorded" in out


def test_verify_usage_errors_exit_2(verify_audits, tmp_path, capsys):
    assert main(["verify", str(tmp_path), "--quiet"]) == 2
    assert "no results.json" in capsys.readouterr().err
    out = tmp_path / "out"
    shutil.copytree(verify_audits / "faces" / "out", out)
    shutil.rmtree(out / "private")
    moved = tmp_path / "elsewhere"
    assert main(["verify", str(out), "--release", str(moved), "--gallery", str(moved), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--release" in err and "not found" in err
    assert main(["verify", str(verify_audits / "faces" / "out"), "--aux", str(tmp_path / "a.csv"), "--quiet"]) == 2
    assert "--aux given, but the audit" in capsys.readouterr().err


def test_compare_results_tolerances_counts_and_named_lists():
    old = {"created": "x", "runtime": {"seconds": 3}, "attacks": [
        {"name": "a", "n_probes": 10, "risk": "high", "metrics": {"rank1": 0.5, "feature_seconds": 1.0}},
        {"name": "b", "n_probes": 4, "metrics": {"rank1": 0.25}}], "verdict": {"risk": "high"}}
    new = json.loads(json.dumps(old))
    new["created"], new["runtime"]["seconds"] = "y", 9  # circumstances, never compared
    new["attacks"].reverse()  # attacks are matched by name, not position
    new["attacks"][1]["metrics"]["rank1"] = 0.5 + 5e-7  # within 1e-6
    new["attacks"][1]["metrics"]["feature_seconds"] = 7.0
    old["sweep"] = {"parameters": {"cache_dir": "cache", "jobs": 1, "families": ["blur"]}}
    new["sweep"] = {"parameters": {"cache_dir": "auditkit-sweep-cache-x1", "jobs": 2, "families": ["blur"]}}
    diffs, n = compare_results(old, new)
    assert diffs == [] and n == 9  # the sweep's cache folder and jobs are circumstances, never compared
    new["attacks"][1]["metrics"]["rank1"] = 0.5 + 2e-6
    new["attacks"][1]["n_probes"] = 11
    new["attacks"][0]["name"] = "c"
    new["verdict"]["risk"] = "medium"
    diffs, _ = compare_results(old, new)
    assert "figure moved: attacks[a].metrics.rank1: recorded 0.5, re-run 0.500002 (tolerance ±1e-06)" in diffs
    assert "count changed: attacks[a].n_probes: recorded 10, re-run 11 (exact)" in diffs
    assert "only in the recorded results: attacks[b]" in diffs and "only in the re-run: attacks[c]" in diffs
    assert 'result changed: verdict.risk: recorded "high", re-run "medium" (exact)' in diffs
    assert compare_results(old, new, tolerance=Tolerance(1e-5, 0))[0].count(
        "figure moved: attacks[a].metrics.rank1: recorded 0.5, re-run 0.500002 (tolerance ±1e-06)") == 0


def test_verify_names_an_unreadable_results_json(faces, capsys):
    (faces / "out" / "results.json").write_text("{ truncated")
    rc, out = _verify(capsys, faces / "out", *_inputs(faces))
    assert rc == 1
    assert "output changed after the audit: results.json" in out and "results.json cannot be read" in out


def test_input_paths_recorded_relative_or_absolute_compare_equal():
    """Regression (a video audit run with relative paths failed verify): the audit given `vid/release`
    records that parameter but shows absolute paths as `release/...`; the re-run reads the inputs from
    an absolute path, shown as `release`. Neither is a difference."""
    from auditkit.verify import _neutral_paths

    def res(param):
        return {"parameters": {"release": param, "gallery": param.replace("release", "gallery")},
                "skipped": [{"path": "garbage.mp4", "reason": "release/garbage.mp4: not a video"}],
                "video": {"gallery": {"clips": [{"path": "gallery/person 03/walk.avi"}]}}}

    assert compare_results(_neutral_paths(res("vid/release")), _neutral_paths(res("release")))[0] == []
    moved = res("release")
    moved["video"]["gallery"]["clips"][0]["path"] = "gallery/person 02/walk.avi"
    assert compare_results(_neutral_paths(res("vid/release")), _neutral_paths(moved))[0] == [
        'result changed: video.gallery.clips[0].path: recorded "<gallery>/person 03/walk.avi", '
        're-run "<gallery>/person 02/walk.avi" (exact)']
