"""Speed of a cold audit against the plain ``face_recognition`` loop (issue 15).

Usage::

    .venv/bin/python benchmarks/bench_speed.py [--faces DIR] [--max-identities 40] [--jobs 2] [--only abcde]
                                               [--rounds 1] [--json OUT.json]

Builds the demo split (``auditkit.demo.build_demo``: per identity 5 clear gallery images, the
others blurred whole-frame with ``blur:sigma=6``; default faces: the shared AT&T set) and runs,
**interleaved in one process run** (each in its own child process, so that
``resource.getrusage(RUSAGE_CHILDREN)`` gives its CPU seconds, which are less noisy than wall
time on a loaded machine):

(a) the plain ``face_recognition`` loop a user would write: load, ``face_locations`` (HOG,
    upsample 1), ``face_encodings`` of the first face, nearest gallery encoding's identity;
(b) ``auditkit run --attacks face.naive --jobs N`` with a fresh, empty cache dir (cold);
(c) ``auditkit run --jobs N`` (the default ladder), fresh cache dir (cold);
(d) the same command as (c) again on (c)'s cache (warm re-run; prints whether its results.json
    equals (c)'s but for ``created`` and ``runtime``);
(e) ``auditkit report results.json`` on (c)'s output.

Each (c) gets a fresh ``AUDITKIT_CACHE_DIR`` too (the figure and template caches do not follow
``--cache-dir``), kept by its (d) and (e). ``--only cde`` makes only those runs.

With ``--baseline DIR`` (another checkout, e.g. the code before a change) (b)-(e) also run with
that code, interleaved with the others, as rows (b0)-(e0): before and after in one run.

With ``--rounds R`` the five runs are repeated R times in the order a, b, c, d, e, a, b, ...
and the median of each is reported. The children run with Python's byte-code cache (in a
temporary ``PYTHONPYCACHEPREFIX``, filled by an untimed import first), as after a normal install. It prints wall and CPU seconds, the ratios to (a) (issue
15 targets: ladder >= 3x and naive-only >= 5x faster than (a); warm >= 20x faster than (c);
re-render < 2 s), and the "physical floor": 3 ms HOG detection + 12 ms encoding per image per
core (every file detected and encoded once, on ``--jobs`` cores).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import find_dataset  # benchmarks/_common.py (the script's own folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
FLOOR_DETECT_S, FLOOR_ENCODE_S = 0.003, 0.012
#: the children's environment: byte-code cached as after a normal install (here the environment
#: sets PYTHONDONTWRITEBYTECODE, and every process would compile scipy, sklearn and matplotlib
#: from source: seconds of CPU per process); set in main()
_ENV: dict[str, str] | None = None
_WARM_IMPORTS = ("import auditkit.cli, auditkit.audit, auditkit.report, auditkit.attacks.registry, sklearn, "
                 "sklearn.discriminant_analysis, sklearn.neural_network, sklearn.svm, sklearn.linear_model, "
                 "matplotlib.pyplot, scipy.ndimage, scipy.signal, face_recognition")


def naive_loop(gallery: Path, release: Path) -> dict:
    """The loop a face_recognition user writes; returns rank-1 on the release (from manifest.csv)."""
    import csv

    import face_recognition
    import numpy as np

    g_enc, g_lab = [], []
    for d in sorted(p for p in gallery.iterdir() if p.is_dir()):
        for f in sorted(d.iterdir()):
            img = face_recognition.load_image_file(f)
            locs = face_recognition.face_locations(img)
            if not locs:
                continue
            g_enc.append(face_recognition.face_encodings(img, locs[:1])[0])
            g_lab.append(d.name)
    G = np.array(g_enc)
    with open(release / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    hits = found = 0
    for r in rows:
        img = face_recognition.load_image_file(release / r["path"])
        locs = face_recognition.face_locations(img)
        if not locs:
            continue
        found += 1
        e = face_recognition.face_encodings(img, locs[:1])[0]
        hits += g_lab[int(np.argmin(np.linalg.norm(G - e, axis=1)))] == r["subject"]
    return {"gallery_encoded": len(g_enc), "release": len(rows), "release_detected": found,
            "rank1": hits / max(1, len(rows))}


def _child(cmd: list[str], cwd: Path = ROOT, user_cache: Path | None = None) -> tuple[float, float, str]:
    """Run ``cmd`` in ``cwd`` (``python -m auditkit`` imports the checkout there); (wall s, CPU s
    of it and its children, stdout). ``user_cache``: its ``AUDITKIT_CACHE_DIR`` (the figure and
    template caches, which do not follow ``--cache-dir``): fresh for a cold run, kept for its re-runs."""
    env = dict(_ENV or os.environ, **({"AUDITKIT_CACHE_DIR": str(user_cache)} if user_cache else {}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0 or "auditkit: error" in p.stderr:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.stdout


def _audit(gallery: Path, release: Path, out: Path, cache: Path, jobs: int, attacks: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "auditkit", "run", "--release", str(release), "--gallery", str(gallery),
           "--out", str(out), "--cache-dir", str(cache), "--jobs", str(jobs), "--obfuscation-scope", "frame",
           "--quiet", "--force"]
    return cmd + (["--attacks", attacks] if attacks else [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=Path, default=None, help="<identity>/<images> (default: shared AT&T)")
    ap.add_argument("--max-identities", type=int, default=40, help="first N identities (default: 40, all of AT&T)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="interleaved repetitions (median reported)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout (e.g. `git archive BASE | tar -x -C DIR`): runs (b)-(e) also with its "
                         "code, interleaved, as rows b0-e0")
    ap.add_argument("--only", default="abcde",
                    help="the runs to make, e.g. `cde` (default: abcde; d and e need c, and run it)")
    ap.add_argument("--naive-loop", nargs=2, type=Path, metavar=("GALLERY", "RELEASE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.naive_loop:  # the child process of run (a)
        print(json.dumps(naive_loop(*args.naive_loop)))
        return 0
    from auditkit.demo import build_demo

    faces = args.faces or find_dataset("att_orl_faces")
    global _ENV
    tmp_pyc = tempfile.mkdtemp(prefix="bench-speed-pyc-")
    _ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    _ENV["PYTHONPYCACHEPREFIX"] = tmp_pyc  # neither the checkout nor the venv is written
    codes = [("", ROOT)] + ([("0", args.baseline.resolve())] if args.baseline else [])
    only = set(args.only) | ({"c"} if set(args.only) & {"d", "e"} else set())
    keys = [k for k in ["a"] + [k + c for c, _ in codes for k in "bcde"] if k[0] in only]
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in keys}
    info: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        work = Path(tmp)
        gallery, release = build_demo(work / "demo", faces=faces, max_identities=args.max_identities)
        n_g = sum(1 for p in gallery.rglob("*") if p.is_file())
        n_r = sum(1 for p in release.iterdir() if p.suffix == ".png")
        for _, code in codes:  # fill the byte-code cache (not timed), as a user's install has it
            _child([sys.executable, "-c", _WARM_IMPORTS], code)
        for r in range(args.rounds):
            if "a" in only:
                w, c, o = _child([sys.executable, __file__, "--naive-loop", str(gallery), str(release)])
                runs["a"].append((w, c))
                info["naive_loop"] = json.loads(o.strip().splitlines()[-1])
            for tag, code in codes:
                if "b" in only:
                    cache_b = work / f"cache-b{tag}{r}"
                    w, c, _ = _child(_audit(gallery, release, work / f"b{tag}{r}", cache_b, args.jobs, "face.naive"),
                                     code, cache_b / "user")
                    runs["b" + tag].append((w, c))
                if "c" not in only:
                    continue
                out_c, cache_c = work / f"c{tag}{r}", work / f"cache-c{tag}{r}"
                w, c, _ = _child(_audit(gallery, release, out_c, cache_c, args.jobs, None), code, cache_c / "user")
                runs["c" + tag].append((w, c))
                cold = json.loads((out_c / "results.json").read_text())
                info["ladder_rank1" + (" [baseline]" if tag else "")] = {a["name"]: round(a["metrics"]["rank1"], 4) for a in cold["attacks"]}
                if "d" in only:
                    w, c, _ = _child(_audit(gallery, release, out_c, cache_c, args.jobs, None), code, cache_c / "user")
                    runs["d" + tag].append((w, c))
                    warm = json.loads((out_c / "results.json").read_text())
                    info["warm_same_as_cold" + (" [baseline]" if tag else "")] = all(
                        json.dumps(warm[k], sort_keys=True) == json.dumps(cold[k], sort_keys=True)
                        for k in cold if k not in ("created", "runtime"))
                if "e" in only:
                    w, c, _ = _child([sys.executable, "-m", "auditkit", "report", str(out_c / "results.json")], code,
                                     cache_c / "user")
                    runs["e" + tag].append((w, c))
    shutil.rmtree(tmp_pyc, ignore_errors=True)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in runs.items()}
    floor = (n_g + n_r) * (FLOOR_DETECT_S + FLOOR_ENCODE_S) / args.jobs
    names = {"a": "plain face_recognition loop", "b": f"auditkit run --attacks face.naive --jobs {args.jobs}, cold",
             "c": f"auditkit run (default ladder) --jobs {args.jobs}, cold", "d": "(c) again, warm",
             "e": "auditkit report results.json"}
    names.update({k + "0": f"{names[k]} [baseline {args.baseline}]" for k in "bcde"})
    print(f"{n_g} clear gallery + {n_r} blurred release images ({faces.name}, {args.max_identities} identities); "
          f"{args.rounds} interleaved round(s), median; load avg before: {os.getloadavg()[0]:.1f}; "
          f"{os.cpu_count()} cores, python {platform.python_version()}")
    ref = med.get("a")
    print("| run | wall s | CPU s | (a) / run, wall | (a) / run, CPU | run / floor (wall) |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in keys:
        w, c = med[k]
        vs_a = f"{ref[0] / w:.2f}x | {ref[1] / c:.2f}x" if ref else "- | -"
        print(f"| ({k}) {names[k]} | {w:.1f} | {c:.1f} | {vs_a} | {w / floor:.1f}x |")
    print(f"physical floor: {n_g + n_r} images x (3 ms detect + 12 ms encode) / {args.jobs} cores = {floor:.1f} s")
    for tag, _ in codes:  # issue 15 target: warm >= 20x faster than cold
        if "d" + tag in med:
            (cw, cc), (dw, dc) = med["c" + tag], med["d" + tag]
            print(f"warm re-run{' [baseline]' if tag else ''}: cold / warm = {cw / dw:.1f}x wall, {cc / dc:.1f}x CPU")
    for k in sorted(info):
        print(f"{k}: {info[k]}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": med, "floor_s": floor, "n_gallery": n_g,
                                         "n_release": n_r, **info}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
