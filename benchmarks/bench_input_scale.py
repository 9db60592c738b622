"""Scale of input (issue 10): many small files, and a multi-million-row table.

Usage::

    .venv/bin/python benchmarks/bench_input_scale.py [--files 10000] [--rows 2000000] [--jobs 1]
                                                     [--work /tmp/auditkit-bench-scale]

Each measured command runs in a fresh process (``python -m auditkit run ...``, exactly as a user
runs it); its wall time and peak resident memory (``ru_maxrss`` of the child) are printed, with
the rate per file or row. Generated data only, seeded:

* ``files``: a release of N small images (48 x 36 pixels, 20 identities, manifest with ground
  truth) against a gallery of 20 identities x 3 images; ``--attacks face.naive`` with a fresh
  (empty) feature cache, so every file is decoded, hashed, detected and encoded once. The
  same command is run a second time on the warm cache: what is left is the audit's own
  per-file overhead (scan, hash, matching, estimate, report), not the face work.
* ``scan``: only loading the release folder (walk, lstat, hash, image header) in-process.
* ``table``: a table of R rows (age, sex, race, marital, zip, income) audited on five
  quasi-identifiers with ``income`` sensitive, no auxiliary table (the release's own measures).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def make_files(root: Path, n: int) -> tuple[Path, Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    bases = [rng.integers(0, 255, (8, 6, 3)) for _ in range(20)]
    g, r = root / "gallery", root / "release"
    for i in range(20):
        (g / f"id{i:02d}").mkdir(parents=True, exist_ok=True)
        for k in range(3):
            img = np.kron(bases[i], np.ones((6, 6, 1))) + rng.normal(0, 8, (48, 36, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(g / f"id{i:02d}" / f"{k}.png")
    r.mkdir(parents=True, exist_ok=True)
    rows = ["path,subject"]
    for j in range(n):
        i = j % 20
        img = np.kron(bases[i], np.ones((6, 6, 1))) + rng.normal(0, 8, (48, 36, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(r / f"p{j:05d}.png")
        rows.append(f"p{j:05d}.png,id{i:02d}")
    (r / "manifest.csv").write_text("\n".join(rows) + "\n")
    return g, r


def make_table(path: Path, n: int) -> Path:
    import pandas as pd

    rng = np.random.default_rng(0)
    pd.DataFrame({"age": rng.integers(17, 90, n), "sex": rng.choice(["F", "M"], n),
                  "race": rng.choice(list("abcde"), n), "marital": rng.choice(list("msdwx"), n),
                  "zip": rng.integers(10000, 10999, n).astype(str),
                  "income": rng.choice(["<=50K", ">50K"], n)}).to_csv(path, index=False)
    return path


def timed_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB of the child, exit code) of one fresh process."""
    code = ("import resource, subprocess, sys, time, json\n"
            "t = time.monotonic()\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "print(json.dumps([time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
            "p.returncode]))\n")
    out = subprocess.run([PY, "-c", code, *argv], capture_output=True, text=True, env=env, check=True)
    import json

    wall, rss_kib, rc = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, rss_kib / 1024, rc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/auditkit-bench-scale"))
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: files,scan,table")
    ap.add_argument("--warm-only", action="store_true",
                    help="keep the feature cache of an earlier run and time the warm audit only")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    a.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared); "
          f"python {platform.python_version()}")
    if not {"files", "scan"} <= skip:
        data = a.work / f"files{a.files}"
        if not (data / "release" / "manifest.csv").is_file():
            t = time.monotonic()
            make_files(data, a.files)
            print(f"generated {a.files} files in {time.monotonic() - t:.0f}s")
        g, r = data / "gallery", data / "release"
    if "scan" not in skip:
        sys.path.insert(0, str(ROOT))
        from auditkit.data.inputs import load_release

        t = time.monotonic()
        rel = load_release(r)
        dt = time.monotonic() - t
        print(f"| scan + hash of {len(rel.items):,} release files (in-process) | {dt:.1f} s | "
              f"{len(rel.items) / dt:,.0f} files/s | peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (this process) |")
    if "files" not in skip:
        cache = a.work / "cache"
        if not a.warm_only:
            shutil.rmtree(cache, ignore_errors=True)
        base = [PY, "-m", "auditkit", "run", "--release", str(r), "--gallery", str(g), "--attacks", "face.naive",
                "--cache-dir", str(cache), "--jobs", str(a.jobs), "--quiet", "--force"]
        n = a.files + 60
        for label in (("warm cache",) if a.warm_only else ("cold cache", "warm cache")):
            wall, rss, rc = timed_child([*base, "--out", str(a.work / "out-files")], env)
            print(f"| audit of {a.files:,} release + 60 gallery files, {label}, --jobs {a.jobs} | {wall:.0f} s | "
                  f"{n / wall:,.1f} files/s | peak RSS {rss:.0f} MiB | exit {rc} |")
    if "table" not in skip:
        t_path = a.work / f"table{a.rows}.csv"
        if not t_path.is_file():
            make_table(t_path, a.rows)
        argv = [PY, "-m", "auditkit", "run", "--table", str(t_path), "--qi", "age,sex,race,marital,zip",
                "--sensitive", "income", "--quiet", "--force", "--out", str(a.work / "out-table")]
        wall, rss, rc = timed_child(argv, env)
        print(f"| table audit of {a.rows:,} rows (5 QIs, 1 sensitive, no aux) | {wall:.0f} s | "
              f"{a.rows / wall:,.0f} rows/s | peak RSS {rss:.0f} MiB | exit {rc} |")


if __name__ == "__main__":
    main()
