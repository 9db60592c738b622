"""AuditConfig: typed sections, one validation pass, flat / argparse / TOML constructors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditkit import AuditConfig
from auditkit.cli import build_parser


def test_sections_and_flat_names_round_trip():
    cfg = AuditConfig.from_flat(release="r", gallery="g", seed=7, sweep="auto, blur", fps=2.0, qi="a,b")
    assert cfg.inputs.release == Path("r") and cfg.run.seed == 7 and cfg.video.fps == 2.0
    assert cfg.sweep.families == ("auto", "blur") and cfg.tables.qi == "a,b"
    assert cfg.faces.attacks[0] == "face.naive"  # the whole ladder by default
    flat = cfg.to_dict()
    assert flat["sweep"] == ["auto", "blur"] and flat["release"] == "r"
    assert AuditConfig.from_flat(flat) == cfg
    assert cfg.replace(seed=8).run.seed == 8 and cfg.run.seed == 7


@pytest.mark.parametrize(("flat", "message"), [
    ({"detector": "dnn"}, "detector must be one of hog, cnn, centerface, got 'dnn'"),
    ({"leak_scan": "all"}, "leak_scan must be one of frame, person, both, off"),
    ({"fail_on": "severe"}, "fail_on must be one of low, medium, high, critical"),
    ({"jobs": 0}, "jobs must be >= 1, got 0"),
    ({"fps": 0}, "fps must be > 0"),
    ({"scheduler": "tcp://x:1"}, "needs executor 'dask'"),
    ({"attacks": "face.naive,face.magic"}, "unknown attack(s) face.magic"),
    ({"sweep": "blur,smudge"}, "unknown sweep family smudge"),
    ({"colour": "red"}, "unknown option(s) colour"),
])
def test_validation_names_the_option_and_the_bad_value(flat, message):
    with pytest.raises(ValueError) as e:
        AuditConfig.from_flat(flat)
    assert message in str(e.value)


def test_from_args_matches_the_flags():
    args = build_parser().parse_args(["run", "--release", "r", "--gallery", "g", "--attacks", "face.naive",
                                      "--no-cache", "--quiet", "--seed", "4", "--leak-scan", "off",
                                      "--sweep", "--fail-on", "high"])
    cfg = AuditConfig.from_args(args, out=Path("o"))
    assert cfg.faces.attacks == ("face.naive",) and cfg.run.use_cache is False and cfg.run.progress is False
    assert cfg.run.seed == 4 and cfg.video.leak_scan == "off" and cfg.sweep.families == ("auto",)
    assert cfg.run.fail_on == "high" and cfg.run.out == Path("o") and cfg.report.redact_examples is True


def test_from_toml_paths_relative_to_the_file_and_errors_name_it(tmp_path):
    p = tmp_path / "audit.toml"
    p.write_text('[inputs]\nrelease = "release"\ngallery = "/abs/gallery"\n[faces]\nattacks = ["face.naive"]\n'
                 'obfuscation = "blur:sigma=6"\n[run]\nseed = 3\n[sweep]\nfamilies = ["blur"]\n')
    cfg = AuditConfig.from_toml(p, jobs=2)
    assert cfg.inputs.release == tmp_path / "release" and cfg.inputs.gallery == Path("/abs/gallery")
    assert cfg.faces.attacks == ("face.naive",) and cfg.faces.obfuscation == "blur:sigma=6"
    assert cfg.run.seed == 3 and cfg.run.jobs == 2 and cfg.sweep.families == ("blur",)
    p.write_text('[faces]\ndetector = "dnn"\n')
    with pytest.raises(ValueError, match=r"audit.toml: detector must be one of hog, cnn"):
        AuditConfig.from_toml(p)
    p.write_text('[face]\ndetector = "hog"\n')
    with pytest.raises(ValueError, match=r"audit.toml: unknown section \[face\]"):
        AuditConfig.from_toml(p)
    p.write_text("[faces\n")
    with pytest.raises(ValueError, match="audit.toml: not valid TOML"):
        AuditConfig.from_toml(p)


def test_import_auditkit_is_cheap_and_exposes_the_api():
    code = ("import sys, auditkit; assert 'auditkit.audit' not in sys.modules and 'numpy' not in sys.modules; "
            "from auditkit import run_audit, AuditConfig, AuditResult, load_release, load_gallery, __version__; "
            "print(__version__)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().count(".") == 2


def test_readme_api_example_runs(tmp_path, monkeypatch, feature_cache_dir, capsys):
    """The README's Python example, run as written (faces from ../shared: AT&T)."""
    import re

    from conftest import ROOT, shared_dataset

    monkeypatch.setenv("AUDITKIT_DEMO_FACES", str(shared_dataset("att_orl_faces")))
    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(feature_cache_dir))
    monkeypatch.chdir(tmp_path)
    code = re.search(r"## Python API\n\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL).group(1)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102  (the README example, as a user runs it)
    out = capsys.readouterr().out
    assert re.search(r"face\.naive: \d+% of \d+ \(95% CI", out) and "face.parrot" in out
    assert (tmp_path / "api-demo" / "out" / "report.html").is_file()
