"""Same-results harness (issue 11): four audits through the command line, their results.json
compared with golden copies written by the code before the refactor.

    python tests/same_results.py            # run the audits and compare with tests/golden/results/
    python tests/same_results.py --write    # (re)write the golden copies (only with a reason)

Compared: everything in results.json except the run's circumstances: ``created``, ``runtime``
(cache hits), every duration (keys ``seconds``, ``*_seconds``, ``runtime``: kept, value replaced), the tool's versions and model paths, and absolute paths (the run's
temporary folder and the feature cache are replaced by ``<ROOT>`` and ``<CACHE>``). Floats are
compared with an absolute tolerance of :data:`ABS_TOL` plus a relative one of :data:`REL_TOL`
(face encodings differ by ~1e-7 across BLAS thread counts; distances are rounded to 1e-9).
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "results"
ABS_TOL = 1e-6
REL_TOL = 1e-6
# The population projection (issue 14) fits a generalised Pareto tail by numerical optimisation and
# bootstraps it: a difference of ~1e-8 in the encodings (BLAS) moves its intervals by ~1e-6
# relative (seen: 0.95587180 vs 0.95587585 on the same code and inputs on two machines). Its
# figures are compared to 1e-4 relative, far below what the report prints (0.1 percentage point).
POPULATION_REL_TOL = 1e-4

#: keys dropped at the top level (the run's circumstances, not its result)
DROP_TOP = ("created", "runtime")
#: tool keys that are versions or installation paths
KEEP_TOOL = ("name", "encoder")


# ------------------------------------------------------------------------------- inputs

def _people_table(path: Path, n: int = 200, seed: int = 0) -> Path:
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = [{"subject": f"p{i:03d}", "zip": f"z{i % 20}", "sex": "fm"[(i // 20) % 2],
             "age": int(rng.integers(20, 70)), "dx": ["flu", "cold", "hiv", "flu"][i % 4]} for i in range(n)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _generated_faces(root: Path) -> tuple[Path, Path]:
    """Distinct synthetic patterns (no real face: the pipeline's whole-image fallback), plus bad
    files that must be listed, not abort (the same recipe as tests/test_audit.py)."""
    import csv

    from PIL import Image

    rng = np.random.default_rng(0)
    g, r = root / "gallery", root / "release"
    rows = []
    for i in range(4):
        base = rng.integers(0, 255, (12, 10, 3)).astype(np.uint8)
        for k in range(4):
            img = np.kron(base, np.ones((10, 10, 1), dtype=np.uint8))
            img = np.clip(img.astype(int) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
            if k < 3:
                (g / f"id_{i}").mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(g / f"id_{i}" / f"{k}.png")
            else:
                r.mkdir(exist_ok=True)
                Image.fromarray(img).save(r / f"probe{i}.png")
                rows.append({"path": f"probe{i}.png", "subject": f"id_{i}", "zip": f"z{i % 2}"})
    (r / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    rows.append({"path": "broken.jpg", "subject": "id_0", "zip": "z0"})
    with open(r / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "subject", "zip"])
        w.writeheader()
        w.writerows(rows)
    return g, r


def _video(root: Path) -> tuple[Path, Path]:
    """Synthetic walking figures (the clip writer of tests/test_video_audit.py)."""
    import cv2

    sys.path.insert(0, str(HERE))
    from test_video_audit import PEOPLE, _person_crop, _write_clip, _write_manifest

    rel, gal = root / "release", root / "gallery"
    rel.mkdir(parents=True)
    rows = [{"path": "cam1.avi", "camera": "cam1", **r}
            for r in _write_clip(rel / "cam1.avi", [("ann", 20, 4.0, 150), ("bob", 300, -3.5, 220)], 50, seed=1)]
    _write_clip(rel / "cam2.avi", [("cat", 300, -4.0, 180)], 40, seed=2)
    rows.append({"path": "cam2.avi", "camera": "cam2", "subject": "cat"})
    (rel / "garbage.mp4").write_bytes(b"not a video at all" * 100)
    _write_manifest(rel / "manifest.csv", ["path", "frame", "x", "y", "w", "h", "track", "subject", "camera"], rows)
    for k, who in enumerate(list(PEOPLE)[:3]):
        d = gal / who
        d.mkdir(parents=True)
        _write_clip(d / "walk.avi", [(who, 20, 4.5, 170)], 48, blur_heads=False, seed=10 + k)
        cv2.imwrite(str(d / "crop0.png"), cv2.cvtColor(_person_crop(who, 1, 20), cv2.COLOR_RGB2BGR))
    return rel, gal


def _att() -> Path | None:
    sys.path.insert(0, str(HERE))
    from conftest import SHARED

    p = SHARED / "datasets" / "att_orl_faces" if SHARED else None
    return p if p is not None and p.is_dir() else None


# ------------------------------------------------------------------------------- audits

def run_case(name: str, root: Path, cache: Path) -> dict[str, Any]:
    """Run one audit through ``auditkit.cli.main`` in ``root``; return its normalised results.json."""
    import contextlib
    import io

    from auditkit.cli import main

    root.mkdir(parents=True, exist_ok=True)
    out = root / "out"
    common = ["--out", str(out), "--cache-dir", str(cache), "--quiet", "--seed", "3"]
    if name == "demo_att":
        att = _att()
        if att is None:
            raise FileNotFoundError("../shared/datasets/att_orl_faces")
        argv = ["demo", "--faces", str(att), "--identities", "5", *common]
    elif name == "faces_generated":
        g, r = _generated_faces(root)
        argv = ["run", "--release", str(r), "--gallery", str(g), "--qi", "zip", *common]
    elif name == "table":
        rel = _people_table(root / "release.csv", seed=1)
        aux = _people_table(root / "register.csv", seed=1)
        ctl = _people_table(root / "control.csv", n=80, seed=2)
        argv = ["run", "--table", str(rel), "--aux", str(aux), "--control", str(ctl), "--qi", "zip,sex,age",
                "--sensitive", "dx", *common]
    elif name == "video":
        rel, gal = _video(root)
        argv = ["run", "--release", str(rel), "--gallery", str(gal), "--fps", "5", *common]
    else:
        raise ValueError(f"unknown case {name!r}; known: {', '.join(CASES)}")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rc = main(argv)
    (root / "stdout.txt").write_text(printed.getvalue(), encoding="utf-8")  # what the command printed
    if rc not in (0, 1):
        raise RuntimeError(f"case {name}: auditkit exited with {rc}")
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return normalise(data, {str(root.resolve()): "<ROOT>", str(root): "<ROOT>",
                            str(cache.resolve()): "<CACHE>", str(cache): "<CACHE>"})


CASES = ("faces_generated", "table", "video", "demo_att")


def _is_duration(key: str) -> bool:
    """Wall-clock figures anywhere in the tree (kept as keys, their values replaced)."""
    return key in ("seconds", "runtime") or key.endswith("_seconds")


def normalise(data: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """Drop the run's circumstances and replace absolute paths by placeholders."""
    data = {k: v for k, v in data.items() if k not in DROP_TOP}
    tool = data.get("tool") or {}
    data["tool"] = {k: v for k, v in tool.items() if k in KEEP_TOOL}
    order = sorted(paths, key=len, reverse=True)

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            # the feature cache is a circumstance of the run; the shareable results.json shows it
            # relative (issue 10), so its name, not only its absolute path, differs from run to run
            return {k: "<duration>" if _is_duration(k) else "<CACHE>" if k == "cache_dir" and v else walk(v)
                    for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, str):
            for p in order:
                x = x.replace(p, paths[p])
            return x
        return x

    return walk(data)


def differences(got: Any, want: Any, where: str = "$", *, limit: int = 20) -> list[str]:
    """Where ``got`` differs from ``want`` (floats within ABS_TOL + REL_TOL * |want|)."""
    out: list[str] = []

    def cmp(a: Any, b: Any, at: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(b, dict):
            if not isinstance(a, dict):
                out.append(f"{at}: {type(a).__name__} instead of an object")
                return
            for k in sorted(set(a) | set(b)):
                if k not in a:
                    out.append(f"{at}.{k}: missing")
                elif k not in b:
                    out.append(f"{at}.{k}: not in the golden copy")
                else:
                    cmp(a[k], b[k], f"{at}.{k}")
        elif isinstance(b, list):
            if not isinstance(a, list) or len(a) != len(b):
                out.append(f"{at}: list of {len(a) if isinstance(a, list) else type(a).__name__}, want {len(b)}")
                return
            for i, (u, v) in enumerate(zip(a, b)):
                cmp(u, v, f"{at}[{i}]")
        elif isinstance(b, float) and not isinstance(b, bool) or (isinstance(a, float) and isinstance(b, int)
                                                                   and not isinstance(b, bool)):
            rel = POPULATION_REL_TOL if ".population." in at else REL_TOL
            if not isinstance(a, (int, float)) or isinstance(a, bool) or \
                    not math.isclose(a, b, rel_tol=rel, abs_tol=ABS_TOL):
                out.append(f"{at}: {a!r} != {b!r}")
        elif a != b:
            out.append(f"{at}: {a!r} != {b!r}")

    cmp(got, want, where)
    return out


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}.json"


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="write the golden copies instead of comparing")
    ap.add_argument("cases", nargs="*", default=list(CASES), help=f"cases (default: {' '.join(CASES)})")
    args = ap.parse_args(argv)
    bad = 0
    with tempfile.TemporaryDirectory(prefix="auditkit-same-") as tmp:
        for name in args.cases:
            try:
                got = run_case(name, Path(tmp) / name, Path(tmp) / "cache")
            except FileNotFoundError as e:
                print(f"{name}: skipped ({e} not found)")
                continue
            if args.write:
                GOLDEN.mkdir(parents=True, exist_ok=True)
                golden_path(name).write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
                print(f"{name}: wrote {golden_path(name)}")
                continue
            diff = differences(got, json.loads(golden_path(name).read_text(encoding="utf-8")))
            bad += bool(diff)
            print(f"{name}: {'same' if not diff else 'DIFFERENT'}")
            for d in diff:
                print(f"  {d}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
