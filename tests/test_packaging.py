"""Every auditkit subpackage and the report templates are shipped in the wheel."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_all_subpackages_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "auditkit").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert cfg["package-dir"]["auditkit._templates"] == "reports/templates"


def test_templates_found():
    from auditkit.report import template_dir

    assert (template_dir() / "report.html.j2").is_file()


def test_wheel_ships_templates_and_every_module(tmp_path):
    """Build the wheel (setuptools, no network) and check an installed auditkit finds everything."""
    import subprocess
    import sys
    import zipfile

    code = f"from setuptools import build_meta; print(build_meta.build_wheel({str(tmp_path)!r}))"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    wheel = tmp_path / p.stdout.strip().splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "auditkit/_templates/report.html.j2" in names
    templates = {f"auditkit/_templates/{q.relative_to(ROOT / 'reports' / 'templates').as_posix()}"
                 for q in (ROOT / "reports" / "templates").rglob("*.j2")}
    assert templates <= names, sorted(templates - names)
    modules = {f"{q.relative_to(ROOT).as_posix()}" for q in (ROOT / "auditkit").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
