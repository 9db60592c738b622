"""What each extra strength of the sweep costs, against one audit (issue 15).

Usage::

    .venv/bin/python benchmarks/bench_sweep_cost.py [--faces DIR] [--max-identities 20] [--jobs 2]
                                                    [--rounds 1] [--json OUT.json]

Builds the demo split (``auditkit.demo.build_demo``: 5 clear gallery images per identity, the
others blurred whole-frame with ``blur:sigma=6``; default faces: the shared AT&T set) and runs,
interleaved in one process run, each in its own child process with a fresh cache dir (CPU seconds
from ``getrusage(RUSAGE_CHILDREN)``, less disturbed by other load than wall time):

(A) ``auditkit run --jobs N`` on the release (the default ladder, no sweep);
(S1) ``auditkit sweep --families blur --strengths 4`` on the same identities' clear images (5 calibration
     images each, the other 5 obfuscated and attacked: as many probes as the release of (A));
(S3) ``auditkit sweep --families blur --strengths 2,4,8``.

An extra strength costs ``(S3 - S1) / 2``; issue 15's target is at most half of (A). The sweep's
fixed part (``S1`` minus one strength) is printed too: loading, clear extraction, report.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

from _common import find_dataset  # benchmarks/_common.py (the script's own folder is on sys.path)
from bench_speed import _WARM_IMPORTS, _child

ROOT = Path(__file__).resolve().parents[1]


def _subset(src: Path, dst: Path, n_ids: int) -> Path:
    """The first ``n_ids`` identities (sorted) of ``src``, copied into ``dst`` (a gallery's
    identity folders may not be symbolic links)."""
    import shutil

    dst.mkdir(parents=True)
    for d in sorted(p for p in src.iterdir() if p.is_dir())[:n_ids]:
        shutil.copytree(d, dst / d.name)
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=Path, default=None, help="<identity>/<images> (default: shared AT&T)")
    ap.add_argument("--max-identities", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="interleaved repetitions (median reported)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import bench_speed

    from auditkit.demo import build_demo
    from auditkit.obfuscation.spec import parse_spec

    faces = args.faces or find_dataset("att_orl_faces")
    with tempfile.TemporaryDirectory(prefix="bench-sweep-cost-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, PYTHONPYCACHEPREFIX=str(work / "pycache"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        bench_speed._ENV = env  # the children as after a normal install (byte code cached)
        _child([sys.executable, "-c", _WARM_IMPORTS])
        src = _subset(faces, work / "faces", args.max_identities)
        gallery, release = build_demo(work / "demo", faces=src, spec=parse_spec("blur:sigma=6"), seed=0)
        common = ["--jobs", str(args.jobs), "--quiet", "--force"]
        runs = {
            "A": lambda k: [sys.executable, "-m", "auditkit", "run", "--release", str(release), "--gallery",
                            str(gallery), "--out", str(work / f"outA{k}"), "--cache-dir", str(work / f"cA{k}"),
                            "--obfuscation-scope", "frame", *common],
            "S1": lambda k: [sys.executable, "-m", "auditkit", "sweep", "--gallery", str(src), "--families",
                             "blur", "--strengths", "4", "--out", str(work / f"outS1{k}"), "--cache-dir",
                             str(work / f"cS1{k}"), *common],
            "S3": lambda k: [sys.executable, "-m", "auditkit", "sweep", "--gallery", str(src), "--families",
                             "blur", "--strengths", "2,4,8", "--out", str(work / f"outS3{k}"), "--cache-dir",
                             str(work / f"cS3{k}"), *common],
        }
        got: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
        for rnd in range(args.rounds):
            for name, cmd in runs.items():
                wall, cpu, _ = _child(cmd(rnd))
                got[name].append((wall, cpu))
                print(f"round {rnd + 1} {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in got.items()}
    extra = ((med["S3"][0] - med["S1"][0]) / 2, (med["S3"][1] - med["S1"][1]) / 2)
    rows = [("(A) `auditkit run` (default ladder)", *med["A"]),
            ("(S1) `auditkit sweep`, 1 strength", *med["S1"]),
            ("(S3) `auditkit sweep`, 3 strengths", *med["S3"]),
            ("extra strength = (S3 - S1) / 2", *extra)]
    print(f"\n{args.max_identities} identities, --jobs {args.jobs}, {args.rounds} round(s), "
          f"load {os.getloadavg()[0]:.1f}\n")
    print("| run | wall s | CPU s | / (A), wall | / (A), CPU |\n|---|---:|---:|---:|---:|")
    for name, w, c in rows:
        print(f"| {name} | {w:.1f} | {c:.1f} | {w / med['A'][0]:.2f} | {c / med['A'][1]:.2f} |")
    ok = extra[1] <= 0.5 * med["A"][1]
    print(f"\ntarget (extra strength <= half an audit, CPU): {'met' if ok else 'not met'}")
    if args.json:
        args.json.write_text(json.dumps({"runs": got, "median": med, "extra_strength": extra,
                                         "identities": args.max_identities, "jobs": args.jobs,
                                         "platform": platform.platform()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
