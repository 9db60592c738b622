"""Issue 15's table in one run: every speed target measured back to back on this machine.

Usage::

    .venv/bin/python benchmarks/bench_issue15.py [--rounds 1] [--skip-suite] [--json OUT.json]

Runs, one after the other (each script's own runs are interleaved inside it, child processes, fresh caches):

- ``bench_speed.py --max-identities 20``: the plain ``face_recognition`` loop, ``--attacks face.naive``,
  the default ladder, a warm re-run, ``auditkit report results.json`` (AT&T demo split, ``--jobs 2``);
- ``bench_sweep_cost.py --max-identities 20``: what an extra sweep strength costs against one audit;
- ``bench_video_release.py --runs jobs2``: the PETS release audited every frame with the leak scan, real-time factor;
- the test suite (``python -m pytest -q``) and its fast tier (``-m "not slow"``), wall seconds, as CI runs it
  (a fresh ``AUDITKIT_CACHE_DIR``; ``AUDITKIT_DEMO_FACES`` from ../shared when present).

and prints one table: each figure, its target, met or not.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _script(name: str, *args: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench15-")) / "out.json"
    subprocess.run([sys.executable, str(HERE / name), *args, "--json", str(out)], check=True, cwd=ROOT)
    return json.loads(out.read_text())


def _suite(*marker: str) -> float:
    env = dict(os.environ, AUDITKIT_CACHE_DIR=tempfile.mkdtemp(prefix="bench15-cache-"))
    att = ROOT.parent / "shared" / "datasets" / "att_orl_faces"
    if att.is_dir():
        env["AUDITKIT_DEMO_FACES"] = str(att)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *marker], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    print(p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr[-500:], flush=True)
    return wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--skip-suite", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    r = str(args.rounds)
    t0 = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    speed = _script("bench_speed.py", "--max-identities", "20", "--rounds", r)
    sweep = _script("bench_sweep_cost.py", "--max-identities", "20", "--rounds", r)
    video = _script("bench_video_release.py", "--runs", "jobs2", "--rounds", r)
    suite = fast = None
    if not args.skip_suite:
        suite = _suite()
        fast = _suite("-m", "not slow")
    print(f"\nissue 15, measured {t0} - {time.strftime('%H:%M UTC', time.gmtime())} on {os.cpu_count()} cores\n")
    print("| figure | measured | target | met |\n|---|---:|---|---|")
    for line in _table(speed["median"], sweep["median"], video, suite, fast):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"speed": speed, "sweep": sweep, "video": video, "suite_s": suite,
                                         "fast_tier_s": fast}, indent=1, default=str))
    return 0


def _table(speed: dict, sweep: dict, video: dict, suite: float | None, fast: float | None) -> list[str]:
    def run(key: str) -> dict:  # bench_speed's medians: [wall s, CPU s]
        return {"wall_s": speed[key][0], "cpu_s": speed[key][1]}

    loop_cpu = run("a")["cpu_s"]
    out = []
    for key, name, target in (("b", "`--attacks face.naive` vs the plain loop (CPU)", 5.0),
                              ("c", "default ladder vs the plain loop (CPU)", 3.0)):
        x = loop_cpu / run(key)["cpu_s"]
        out.append(f"| {name} | {x:.2f}x | >= {target:g}x | {'yes' if x >= target else 'no'} |")
    warm = run("c")["wall_s"] / run("d")["wall_s"]
    out.append(f"| warm re-run vs cold (wall) | {warm:.1f}x | >= 20x | {'yes' if warm >= 20 else 'no'} |")
    rr = run("e")["wall_s"]
    out.append(f"| `auditkit report results.json` | {rr:.1f} s | < 2 s | {'yes' if rr < 2 else 'no'} |")
    a, s1, s3 = (sweep[k][1] for k in ("A", "S1", "S3"))  # bench_sweep_cost's medians: [wall s, CPU s]
    extra = (s3 - s1) / 2 / a
    out.append(f"| extra sweep strength / one audit (CPU) | {extra:.2f} | <= 0.5 | {'yes' if extra <= 0.5 else 'no'} |")
    rt = video["video_seconds"] / video["runs"]["jobs2"]["wall_s"]
    out.append(f"| video, 480x360 every frame, leak scan, `--jobs 2` | {rt:.2f}x real time | >= 2x | "
               f"{'yes' if rt >= 2 else 'no'} |")
    if suite is not None:
        out.append(f"| whole test suite | {suite / 60:.1f} min | < 10 min | {'yes' if suite < 600 else 'no'} |")
        out.append(f"| fast tier (`-m \"not slow\"`) | {fast / 60:.1f} min | < 3 min | {'yes' if fast < 180 else 'no'} |")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
