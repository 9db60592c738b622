"""Real-time factor of a whole video audit, as a user runs it (issue 15).

Usage::

    .venv/bin/python benchmarks/bench_video_release.py [--work DIR] [--rounds 1] [--json OUT.json]

Builds the PETS 2009 S2.L1 release of ``benchmarks/pets_release.py`` (480x360, the even 100-frame
blocks as release clips with heads blurred, a gallery from the odd blocks) and runs, interleaved in one
process run, each as a child process with a fresh cache (wall and CPU seconds, ``getrusage``):

- ``auditkit run --jobs 1`` (every frame, the leak scan on every frame whole: the default);
- ``auditkit run --jobs 2`` (clips side by side on two workers);
- ``auditkit run --jobs 2 --leak-full-every 10`` (the change-gated leak scan, an approximation).

x real time = seconds of release video (frames / the clip's own frame rate) / wall seconds of the
whole audit (release clips, gallery clips, linkage inside the release, report). Issue 15's target:
at least 2x on 2 cores, every frame, with the leak scan.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_speed import _WARM_IMPORTS, _child

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "jobs2_gated": ["--jobs", "2", "--leak-full-every", "10"]}


def main(argv: list[str] | None = None) -> int:
    import bench_speed
    import pets_release

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None, help="where the release is built (default: a temp folder)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from auditkit.data.video import probe_video

    tmp = Path(tempfile.mkdtemp(prefix="bench-video-release-"))
    work = args.work or tmp / "pets"
    if not (work / "release").is_dir():
        pets_release.build(work)
    clips = sorted((work / "release").glob("*.mp4"))
    video_s = 0.0
    for c in clips:
        video_s += probe_video(c)["duration_s"]
    pyc = tempfile.mkdtemp(prefix="bench-pyc-")
    bench_speed._ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    bench_speed._ENV["PYTHONPYCACHEPREFIX"] = pyc
    _child([sys.executable, "-c", _WARM_IMPORTS])
    print(f"# {len(clips)} release clips, {video_s:.1f} s of video; load {os.getloadavg()[0]:.1f}", flush=True)
    got: dict[str, list[tuple[float, float]]] = {k: [] for k in args.runs}
    for r in range(args.rounds):
        for name in args.runs:
            out, cache, user = tmp / f"out_{name}_{r}", tmp / f"cache_{name}_{r}", tmp / f"user_{name}_{r}"
            cmd = [sys.executable, "-m", "auditkit", "run", "--release", str(work / "release"), "--gallery",
                   str(work / "gallery"), "--out", str(out), "--cache-dir", str(cache), "--quiet", "--force", *RUNS[name]]
            wall, cpu, _ = _child(cmd, user_cache=user)
            got[name].append((wall, cpu))
            print(f"round {r + 1} {name}: {wall:.1f} s wall, {cpu:.1f} s CPU, x{video_s / wall:.2f} real time", flush=True)
            shutil.rmtree(cache, ignore_errors=True)
    rows = {k: {"wall_s": statistics.median(w for w, _ in v), "cpu_s": statistics.median(c for _, c in v)}
            for k, v in got.items()}
    print(f"\n{len(clips)} release clips (480x360, every frame), {video_s:.1f} s of video, {args.rounds} round(s), "
          "medians\n")
    print("| run | wall s | CPU s | x real time |\n|---|---:|---:|---:|")
    for k, v in rows.items():
        print(f"| `{' '.join(RUNS[k])}` | {v['wall_s']:.1f} | {v['cpu_s']:.1f} | {video_s / v['wall_s']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"video_seconds": video_s, "clips": len(clips), "runs": rows}, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
