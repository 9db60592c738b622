#!/usr/bin/env python3
"""Bootstrap and run auditkit from a fresh clone with nothing but Python >= 3.11 and pip.

    python3 dev.py demo [auditkit demo options]   # run the demo audit
    python3 dev.py test [pytest options]          # run the test suite
    python3 dev.py run ...                        # any other auditkit command

On first use it installs uv (from PyPI, into ./.tools) and the locked dependencies (uv.lock,
with dlib from the prebuilt dlib-bin wheel: nothing is compiled) into ./.venv.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
UV_VERSION = "0.13.8"
VENV = ROOT / ".venv"


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    target = ROOT / ".tools" / "uv"
    exe = target / "bin" / ("uv.exe" if os.name == "nt" else "uv")
    if not exe.exists():
        print(f"dev.py: installing uv {UV_VERSION} into {target}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(target), f"uv=={UV_VERSION}"], check=True)
    return str(exe)


def _sync(extras: tuple[str, ...] = ("dev",)) -> None:
    cmd = [_uv(), "sync", "--locked", "--python", sys.executable]
    for extra in extras:
        cmd += ["--extra", extra]
    if not sys.stderr.isatty():
        cmd.append("--quiet")
    subprocess.run(cmd, cwd=ROOT, check=True)


def _bin(name: str) -> str:
    return str(VENV / ("Scripts" if os.name == "nt" else "bin") / name)


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036  (dev.py runs before anything checks the version)
        print("dev.py: auditkit needs Python >= 3.11", file=sys.stderr)
        return 2
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    # the tests also exercise the optional Dask executor, so they get the `dask` extra too
    _sync(("dev", "dask") if cmd == "test" else ("dev",))
    if cmd == "test":
        return subprocess.call([_bin("python"), "-m", "pytest", *rest], cwd=ROOT)
    return subprocess.call([_bin("auditkit"), *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
