"""Exit codes and --out (issue 10): every path checked before any work, atomic output folders,
--force for foreign folders, exit code 3 with a log file for internal errors."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import auditkit.api as audit_mod
from auditkit.cli import main
from auditkit.outputs import MARKER


def _table(path, n=60):
    pd.DataFrame({"zip": [i // 5 for i in range(n)], "dx": ["a", "b"] * (n // 2)}).to_csv(path, index=False)
    return path


def _run(tmp_path, out, *extra):
    return main(["run", "--table", str(_table(tmp_path / "t.csv")), "--qi", "zip", "--out", str(out), "--quiet",
                 *extra])


@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if the audit starts: checks must come first."""
    def boom(*a, **k):
        raise AssertionError("the audit started before the paths were checked")

    monkeypatch.setattr(audit_mod, "run_audit", boom)
    from auditkit.cli import run as run_cmd

    monkeypatch.setattr(run_cmd, "finish_audit", boom)


def test_out_is_an_existing_file(tmp_path, capsys, no_work):
    f = tmp_path / "report.txt"
    f.write_text("x")
    assert _run(tmp_path, f) == 2
    err = capsys.readouterr().err
    assert f"--out {f} is a file" in err and "Traceback" not in err


def test_out_under_a_file(tmp_path, capsys, no_work):
    f = tmp_path / "file"
    f.write_text("x")
    assert _run(tmp_path, f / "sub" / "out") == 2
    assert f"{f} is a file, not a folder" in capsys.readouterr().err


def test_out_in_a_read_only_place(tmp_path, capsys, no_work):
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(dir="/sys"))
        pytest.skip("/sys is writable here")
    except OSError:
        pass
    assert _run(tmp_path, "/sys/auditkit-out") == 2
    assert "cannot write in /sys" in capsys.readouterr().err


def test_cache_dir_is_a_file(tmp_path, capsys, monkeypatch):
    f = tmp_path / "cache"
    f.write_text("x")
    from auditkit.data import inputs

    monkeypatch.setattr(inputs, "load_gallery", lambda *a: (_ for _ in ()).throw(AssertionError("work started")))
    rc = main(["run", "--release", str(tmp_path), "--gallery", str(tmp_path), "--cache-dir", str(f),
               "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and f"--cache-dir {f} is a file" in capsys.readouterr().err


def test_input_table_that_is_a_fifo_is_refused_unopened(tmp_path, capsys):
    fifo = tmp_path / "t.csv"
    os.mkfifo(fifo)
    rc = main(["run", "--table", str(fifo), "--qi", "zip", "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and "named pipe (FIFO), not a regular file" in capsys.readouterr().err


def test_out_that_holds_the_inputs_is_refused(tmp_path, capsys, no_work):
    data = tmp_path / "data"
    data.mkdir()
    t = _table(data / "t.csv")
    assert main(["run", "--table", str(t), "--qi", "zip", "--out", str(data), "--quiet", "--force"]) == 2
    assert "holds the input --table" in capsys.readouterr().err
    assert t.is_file()


def test_foreign_non_empty_folder_needs_force(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert _run(tmp_path, out) == 2
    assert "not an auditkit output" in capsys.readouterr().err and (out / "thesis.tex").is_file()
    assert _run(tmp_path, out, "--force") == 0
    assert not (out / "thesis.tex").exists() and (out / "results.json").is_file()


def test_finished_run_leaves_no_stale_file_and_no_staging(tmp_path):
    out = tmp_path / "out"
    assert _run(tmp_path, out) == 0
    (out / "stale-from-an-old-version.csv").write_text("old")
    assert _run(tmp_path, out) == 0  # an auditkit output: replaced without --force
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, "results.json", "matches.csv", "skipped.csv", "report.html", "SHA256SUMS"])  # no label: no private/
    assert [p.name for p in tmp_path.iterdir() if ".auditkit-tmp-" in p.name] == []
    r = json.loads((out / "results.json").read_text())
    assert ".auditkit-tmp-" not in json.dumps(r)  # the results name the final folder


def test_interrupted_run_keeps_previous_report(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _run(tmp_path, out) == 0
    before = (out / "results.json").read_text()
    from auditkit import report

    real = report.write_outputs

    def half_then_interrupt(results, folder, **kw):
        (folder / "results.json").write_text("{half")
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "write_outputs", half_then_interrupt)
    assert _run(tmp_path, out) == 130
    monkeypatch.setattr(report, "write_outputs", real)
    assert (out / "results.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if ".auditkit-tmp-" in p.name] == []


def test_killed_run_keeps_previous_report_and_next_run_cleans_up(tmp_path):
    out = tmp_path / "out"
    assert _run(tmp_path, out) == 0
    before = (out / "results.json").read_text()
    code = (
        "import os, sys, auditkit.report as r\n"
        "real = r.write_outputs\n"
        "def w(res, out, **k):\n"
        "    p = real(res, out, **k)\n"
        "    os.kill(os.getpid(), 9)\n"
        "r.write_outputs = w\n"
        "from auditkit.cli import main\n"
        f"main(['run', '--table', {str(tmp_path / 't.csv')!r}, '--qi', 'zip', '--out', {str(out)!r}, '--quiet'])\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == -9
    assert (out / "results.json").read_text() == before
    left = [q for q in tmp_path.iterdir() if ".auditkit-tmp-" in q.name]
    assert len(left) == 1  # the killed run's staging folder, beside the intact report
    old = time.time() - 3600
    os.utime(left[0], (old, old))
    assert _run(tmp_path, out) == 0
    assert not left[0].exists()


def test_internal_error_exit_3_with_log(tmp_path, capsys, monkeypatch):
    from auditkit import tables

    def bug(*a, **k):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(tables, "run_table_audit", bug)
    assert _run(tmp_path, tmp_path / "o") == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("auditkit: internal error (TypeError: unsupported operand")
    log = err.rsplit("traceback in ", 1)[1]
    text = Path(log).read_text()
    assert "Traceback" in text and "bug" in text
    os.unlink(log)
    assert not (tmp_path / "o").exists()  # nothing half-written is left as a report
