"""``auditkit verify`` against the run it checks (issue 16), side by side in one run.

Each line is a fresh ``auditkit`` process: the demo audit (cold feature cache), then ``verify``
of its output folder with the warm cache (the auditor's check), with ``--no-cache`` (every feature
re-extracted: a second party's check), and with ``--no-rerun`` (checksums and input hashes only).
Wall seconds and CPU seconds (user + system of the process and its children) per line.

    .venv/bin/python benchmarks/bench_verify.py --faces ../shared/datasets/att_orl_faces
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    rc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, required=True, help="<identity>/<images> folder for the demo")
    ap.add_argument("--identities", type=int, default=None, help="demo identities (default: the demo's default)")
    args = ap.parse_args()
    exe = [sys.executable, "-m", "auditkit"]
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        out, cache = Path(tmp) / "demo", Path(tmp) / "cache"
        env = {**os.environ, "AUDITKIT_CACHE_DIR": str(cache)}
        demo = [*exe, "demo", "--faces", str(args.faces), "--out", str(out), "--quiet"]
        if args.identities:
            demo += ["--identities", str(args.identities)]
        lines = [("auditkit demo (the audit, cold feature cache)", demo),
                 ("auditkit verify OUT (warm cache)", [*exe, "verify", str(out), "--quiet"]),
                 ("auditkit verify OUT --no-cache", [*exe, "verify", str(out), "--quiet", "--no-cache"]),
                 ("auditkit verify OUT --no-rerun", [*exe, "verify", str(out), "--quiet", "--no-rerun"])]
        load0 = os.getloadavg()[0]
        rows = []
        for name, argv in lines:
            wall, cpu, rc = _timed(argv, env)
            rows.append((name, wall, cpu, rc))
        load1 = os.getloadavg()[0]
    base = rows[0][1]
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {load0:.2f} at start, {load1:.2f} at the end.\n")
    print("| command | exit | wall s | CPU s | wall vs the audit |")
    print("|---|---:|---:|---:|---:|")
    for name, wall, cpu, rc in rows:
        print(f"| {name} | {rc} | {wall:.1f} | {cpu:.1f} | {wall / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
