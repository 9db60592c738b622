"""CLI: exit codes and messages."""
import subprocess
import sys

import pytest

from auditkit.cli import main


def test_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--release", "x"])
    assert e.value.code == 2
    assert "--gallery" in capsys.readouterr().err


def test_unknown_choice_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--release", "a", "--gallery", "b", "--fail-on", "extreme"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_missing_folder_exit_2(tmp_path, capsys):
    rc = main(["run", "--release", str(tmp_path / "nope"), "--gallery", str(tmp_path), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "release folder not found" in err or "gallery" in err


def test_unknown_attack_exit_2(tmp_path, capsys):
    rc = main(["run", "--release", str(tmp_path), "--gallery", str(tmp_path), "--attacks", "face.magic"])
    assert rc == 2
    assert "unknown attack(s) face.magic" in capsys.readouterr().err


def test_demo_offline_message(tmp_path, capsys):
    rc = main(["demo", "--faces", str(tmp_path / "no-such-faces"), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "demo faces folder not found" in err and "--faces DIR" in err


def test_fail_on_exit_codes(tmp_path, feature_cache_dir, capsys):
    from test_audit import make_generated

    g, r = make_generated(tmp_path)
    args = ["run", "--release", str(r), "--gallery", str(g), "--out", str(tmp_path / "o"),
            "--cache-dir", str(feature_cache_dir), "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("verdict: ")
    import json

    risk = json.loads((tmp_path / "o" / "results.json").read_text())["verdict"]["risk"]
    assert main(args + ["--fail-on", "low"]) == 1  # any scored risk is >= low
    assert main(args + ["--fail-on", risk]) == 1
    higher = {"low": "medium", "medium": "high", "high": "critical"}.get(risk)
    if higher:
        assert main(args + ["--fail-on", higher]) == 0


def test_module_entry_point_help():
    p = subprocess.run([sys.executable, "-m", "auditkit", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "run" in p.stdout and "demo" in p.stdout


@pytest.mark.shared
def test_demo_on_att_faces(tmp_path, feature_cache_dir, shared_datasets, capsys):
    rc = main(["demo", "--faces", str(shared_datasets / "att_orl_faces"), "--identities", "8",
               "--out", str(tmp_path), "--cache-dir", str(feature_cache_dir), "--quiet"])
    assert rc == 0
    assert (tmp_path / "report.html").is_file()
    assert "verdict:" in capsys.readouterr().out


def test_demo_offline_without_faces_says_what_to_do(tmp_path, monkeypatch, capsys):
    import urllib.error

    import sklearn.datasets

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.delenv("AUDITKIT_DEMO_FACES", raising=False)
    monkeypatch.setattr(sklearn.datasets, "fetch_olivetti_faces", offline)
    rc = main(["demo", "--out", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "could not obtain scikit-learn's Olivetti faces" in err
    assert "--faces DIR" in err and "AUDITKIT_DEMO_FACES" in err
