"""CLI: exit codes and messages."""
import re
import subprocess
import sys

import pytest

from auditkit.cli import main


def test_usage_error_exit_2(capsys):
    assert main(["run", "--gallery", "x"]) == 2
    assert "--gallery needs a --release" in capsys.readouterr().err
    assert main(["run", "--release", "x"]) == 2  # no gallery: the gallery-free linkage audit, of a missing folder
    assert "release folder not found: x" in capsys.readouterr().err
    assert main(["run"]) == 2
    assert "nothing to audit" in capsys.readouterr().err


def _people_table(path, n=200, seed=0):
    """A table with known answers: 'zip' x 'sex' makes 40 classes of 5; 'dx' follows 'zip'."""
    import pandas as pd

    rows = [{"subject": f"p{i:03d}", "zip": f"z{i % 20}", "sex": "fm"[(i // 20) % 2],
             "dx": ["flu", "cold", "hiv", "flu"][i % 4]} for i in range(n)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_table_only_run(tmp_path, capsys):
    import json

    rel = _people_table(tmp_path / "release.csv")
    aux = _people_table(tmp_path / "register.csv")
    code = main(["run", "--table", str(rel), "--aux", str(aux), "--qi", "zip,sex", "--sensitive", "dx",
                 "--out", str(tmp_path / "out"), "--quiet", "--fail-on", "critical"])
    out = capsys.readouterr().out
    r = json.loads((tmp_path / "out" / "results.json").read_text())
    t = r["tables"]
    assert t["k_anonymity"] == 5 and t["uniqueness"] == 0.0
    assert t["prosecutor"]["highest_risk"] == pytest.approx(1 / 5)
    for key in ("journalist", "marketer"):
        assert set(t[key]) >= {"records_at_risk", "highest_risk", "average_risk"}
    link = next(a for a in r["attacks"] if a["name"] == "linkage.exact")
    # every record shares its class with 4 others: an exact link is right 1 time in 5
    assert link["metrics"]["success_rate"] == pytest.approx(0.2, abs=0.02)
    inf = next(a for a in r["attacks"] if a["name"] == "inference.dx")
    assert inf["metrics"]["success_rate"] == 1.0  # dx is a function of zip
    assert inf["criterion"] == "inference" and inf["risk"] in ("high", "critical")
    assert r["inputs"]["tables"]["release"]["sha256"] and "gallery" not in r["inputs"]
    assert code == 1 and "CRITICAL" in out  # --fail-on critical: the inference is certain
    html = (tmp_path / "out" / "report.html").read_text()
    assert "linkage.exact" in html and "p000" not in html  # no identity value in the report
    # the tables section shows the measures (it once rendered "No table was audited")
    assert "No table was audited" not in html
    assert re.search(r"k-anonymity \(smallest group of identical records\)</th><td>5</td>", html)


def test_table_errors_exit_2(tmp_path, capsys):
    rel = _people_table(tmp_path / "release.csv")
    assert main(["run", "--table", str(rel), "--qi", "zip,postcode", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "postcode" in err
    assert main(["run", "--table", str(tmp_path / "missing.csv"), "--qi", "zip", "--quiet",
                 "--out", str(tmp_path / "o")]) == 2
    assert "missing.csv" in capsys.readouterr().err


def test_unknown_choice_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--release", "a", "--gallery", "b", "--fail-on", "extreme"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_missing_folder_exit_2(tmp_path, capsys):
    from test_audit import make_generated

    g, _ = make_generated(tmp_path / "data")
    rc = main(["run", "--release", str(tmp_path / "nope"), "--gallery", str(g), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert f"release folder not found: {tmp_path / 'nope'}" in err
    rc = main(["run", "--release", str(tmp_path / "data" / "release"), "--gallery", str(tmp_path / "empty"), "--quiet"])
    assert rc == 2
    assert f"gallery folder not found: {tmp_path / 'empty'}" in capsys.readouterr().err


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
def test_demo_on_att_faces(demo_att_case):
    """``auditkit demo --faces att_orl_faces --identities 5 --seed 3``, run once per session (conftest)."""
    import json

    _, root = demo_att_case
    out = root / "out"
    assert (out / "report.html").is_file()
    assert "verdict:" in (root / "stdout.txt").read_text()
    r = json.loads((out / "results.json").read_text())
    # the demo draws the privacy curve of its own obfuscation family and states the strength needed
    assert r["sweep"]["parameters"]["families"] == ["blur"] and len(r["sweep"]["recommendations"]) == 1
    html = (out / "report.html").read_text()
    assert 'id="sweep"' in html and 'alt="Privacy curve' in html
    assert r["sweep"]["recommendations"][0].split(":")[0][:40] in html.replace("&#39;", "'")


def test_demo_without_faces_audits_the_generated_scene_offline(tmp_path, feature_cache_dir, monkeypatch, capsys):
    """No faces given: the demo audits its generated street scene, and opens no network connection."""
    import json
    import socket

    def no_network(*a, **k):
        raise AssertionError("the demo tried to open a network connection")

    monkeypatch.delenv("AUDITKIT_DEMO_FACES", raising=False)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    rc = main(["demo", "--out", str(tmp_path), "--cache-dir", str(feature_cache_dir), "--quiet"])
    assert rc == 0
    r = json.loads((tmp_path / "results.json").read_text())
    by = {a["name"]: a for a in r["attacks"]}
    # clothing re-identifies the drawn people far above chance; the cross-camera linkage is scored too
    app = by["appearance"]["metrics"]
    assert app["rank1_ci"][0] > app["chance_rank1"]
    link = by["linkage.sightings.appearance"]["metrics"]
    assert link["n_probes"] >= 16 and link["rank1_ci"][0] > link["chance_rank1"]
    assert not any(a.startswith("face.") for a in by)
    assert r["verdict"]["risk"] in {"high", "critical"}
    assert (tmp_path / "report.html").is_file()


def test_demo_scene_layout(tmp_path):
    from auditkit.data.inputs import load_gallery, load_release
    from auditkit.demo_scene import SCENE_PEOPLE, build_scene

    g, r = build_scene(tmp_path, n_frames=12)
    assert sorted(p.name for p in g.iterdir()) == sorted(SCENE_PEOPLE)
    release = load_release(r)
    assert {it.camera for it in release.items} == {"cam1", "cam2"}
    # every person is seen by both cameras
    seen = {(it.subject, it.camera) for it in release.items if it.subject}
    assert seen == {(p, c) for p in SCENE_PEOPLE for c in ("cam1", "cam2")}
    assert all(it.timestamp for it in release.items)
    assert {it.identity for it in load_gallery(g).items} == set(SCENE_PEOPLE)


def test_direct_identifier_in_a_table_leads_the_verdict(tmp_path, capsys):
    import json

    import pandas as pd

    rel = _people_table(tmp_path / "release.csv")
    df = pd.read_csv(rel)
    df["email"] = [f"person{i}@example.org" for i in range(len(df))]
    df.drop(columns=["subject"]).to_csv(rel, index=False)
    assert main(["run", "--table", str(rel), "--qi", "zip,sex", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    v = json.loads((tmp_path / "o" / "results.json").read_text())["verdict"]
    assert v["direct_identifiers"] == ["email"] and v["anonymized"] is False
    assert v["summary"].startswith("The released table has direct identifier column(s) email")
    assert "direct identifier" in capsys.readouterr().out
