"""A release made by a real anonymizer (deface), audited with and without ``--anonymizer`` (issue 13).

Usage::

    .venv/bin/python benchmarks/bench_vendor_anonymizer.py --deface /tmp/uvtools/bin/deface \\
        [--dataset att|lfw] [--ids 20] [--gallery 3] [--release 2] [--modes blur,mosaic] \\
        [--mosaicsize 8] [--jobs 2] [--json OUT.json] [--cache-dir DIR]

deface (ORB-HD, MIT; CenterFace detector, then a box blur or a mosaic inside an ellipse around
each face it finds) is installed as its own tool so its OpenCV does not collide with ours:
``UV_TOOL_DIR=/tmp/uvtools UV_TOOL_BIN_DIR=/tmp/uvtools/bin uv tool install deface``.

Per dataset (``att``: AT&T 92x112 grey faces; ``lfw``: LFW 350x350 grey news-photo crops), the
first ``--ids`` identities (sorted) with enough images give ``--gallery`` clear images each (the
auditor's gallery) and ``--release`` more, which deface anonymizes into the release (``manifest.csv``
with the subject, no obfuscation declared). Images are stored as 3-channel PNG: deface's mosaic
crashes on single-channel images (``IndexError`` in ``draw_det``), which the runner lists as a
failure per image. Then, per mode, two audits of the same release with the whole ladder:

* **estimated**: no ``--anonymizer``; the obfuscation is estimated from the release (method,
  strength, interval, face or frame) and re-applied by the parrot, pixel and learned attackers;
* **vendor**: ``--anonymizer "deface {input} -o {output} --replacewith MODE"``: those attackers use
  deface's own output of the clear gallery.

Printed: how many release and gallery images deface changed (the rest it returned unchanged: no
face found), the estimate, and every rung's rank-1 with its Wilson 95% interval in both audits.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import find_dataset  # benchmarks/_common.py (the script's own folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATASETS = {"att": "att_orl_faces", "lfw": "lfw_gray_crops_dev"}


def build(dataset: str, dest: Path, *, ids: int, n_gallery: int, n_release: int) -> tuple[Path, Path, dict]:
    """Clear gallery and clear release (3-channel PNG) of the first ``ids`` identities with enough images."""
    import numpy as np
    from PIL import Image

    from auditkit.data.media import is_image, load_image

    src = find_dataset(DATASETS[dataset])
    gal, clear = dest / "gallery", dest / "clear_release"
    clear.mkdir(parents=True)
    rows, n = [], 0
    for d in sorted(p for p in src.iterdir() if p.is_dir()):
        imgs = sorted(p for p in d.iterdir() if p.is_file() and is_image(p))
        if len(imgs) < n_gallery + n_release:
            continue
        (gal / d.name).mkdir(parents=True)
        for k, p in enumerate(imgs[: n_gallery + n_release]):
            img = np.ascontiguousarray(load_image(p))  # HxWx3 RGB (grey replicated)
            if k < n_gallery:
                Image.fromarray(img).save(gal / d.name / f"{p.stem}.png")
            else:
                name = f"r{n:03d}_{k}.png"  # no identity in the release file name
                Image.fromarray(img).save(clear / name)
                rows.append({"path": name, "subject": d.name})
        n += 1
        if n >= ids:
            break
    with open(clear / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "subject"])
        w.writeheader()
        w.writerows(rows)
    return gal, clear, {"dataset": DATASETS[dataset], "identities": n, "gallery_images": n * n_gallery,
                        "release_images": len(rows)}


def vendor_release(template: str, clear: Path, dest: Path, *, jobs: int) -> dict:
    """Run the anonymizer over the clear release into ``dest`` (what the vendor would hand over)."""
    import shutil

    from auditkit.obfuscation.vendor import run_anonymizer

    with open(clear / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    run = run_anonymizer(template, [(r["path"], clear / r["path"]) for r in rows], jobs=jobs)
    dest.mkdir(parents=True)
    kept = [r for r in rows if r["path"] in run.outputs]
    for r in kept:
        shutil.copyfile(run.outputs[r["path"]][0], dest / r["path"])
    with open(dest / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "subject"])
        w.writeheader()
        w.writerows(kept)
    rec = run.record()
    rec["failure_reasons"] = sorted({reason for _, reason in run.failures})[:3]
    run.cleanup()
    return rec


def audit(gallery: Path, release: Path, out: Path, *, cache_dir: Path, jobs: int, anonymizer: str | None) -> dict:
    from auditkit import AuditConfig, run_audit

    cfg = AuditConfig.from_flat(release=release, gallery=gallery, out=out, cache_dir=cache_dir, jobs=jobs,
                                progress=False, population_sizes=(), linkage=False, anonymizer=anonymizer)
    t0 = time.perf_counter()
    res = run_audit(cfg).to_dict()
    res["_seconds"] = round(time.perf_counter() - t0, 1)
    return res


def _est(res: dict) -> str:
    e = (res.get("obfuscation") or {}).get("estimate") or {}
    if not e:
        return "none"
    u = e.get("uncertainty")
    s = f"{e.get('method')}"
    if e.get("strength") is not None:
        s += f" {e.get('strength_param') or 'strength'} {e['strength']:.3g}"
    if u:
        s += f" [{u[0]:.3g}, {u[1]:.3g}]"
    return s + f" ({e.get('coverage')})"


def _cell(a: dict | None) -> str:
    if a is None:
        return "not run"
    m = a["metrics"]
    return f"{m['rank1']:.1%} ({m['rank1_ci'][0]:.1%}-{m['rank1_ci'][1]:.1%})"


def table(rows: list[dict]) -> str:
    rungs = []
    for r in rows:
        for k in ("estimated", "vendor"):
            for a in r[k]["attacks"]:
                if a["name"] not in rungs:
                    rungs.append(a["name"])
    lines = ["| dataset | deface mode | deface changed (release / gallery) | estimate from the release | audit | "
             + " | ".join(rungs) + " | chance |", "|---|---|---|---|---|" + "---:|" * (len(rungs) + 1)]
    for r in rows:
        for k in ("estimated", "vendor"):
            res = r[k]
            by = {a["name"]: a for a in res["attacks"]}
            an = (res.get("obfuscation") or {}).get("anonymizer")
            gal = f"{an['passed'] - an['unchanged']}/{an['inputs']}" if an else "–"
            rel = r["release_run"]
            chance = next(iter(by.values()))["metrics"]["chance_rank1"] if by else float("nan")
            lines.append(f"| {r['dataset']} | {r['mode']} | {rel['passed'] - rel['unchanged']}/{rel['inputs']} / {gal} "
                         f"| {_est(res)} | {'--anonymizer' if k == 'vendor' else 'estimated'} | "
                         + " | ".join(_cell(by.get(n)) for n in rungs) + f" | {chance:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deface", required=True, help="the deface executable (installed as its own tool)")
    ap.add_argument("--dataset", choices=tuple(DATASETS), action="append", default=None,
                    help="att and/or lfw (repeat; default: both)")
    ap.add_argument("--ids", type=int, default=20, help="identities (default: 20)")
    ap.add_argument("--gallery", type=int, default=3, help="clear gallery images per identity (default: 3)")
    ap.add_argument("--release", type=int, default=2, help="release images per identity (default: 2)")
    ap.add_argument("--modes", default="blur,mosaic", help="deface --replacewith modes (default: blur,mosaic)")
    ap.add_argument("--mosaicsize", type=int, default=None, help="deface --mosaicsize (default: deface's, 20)")
    ap.add_argument("--jobs", type=int, default=2, help="images run at once and extraction processes (default: 2)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="feature cache (default: a temporary one)")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-vendor-") as tmp:
        work = Path(tmp)
        cache = args.cache_dir or work / "cache"
        for ds in args.dataset or list(DATASETS):
            gal, clear, info = build(ds, work / ds, ids=args.ids, n_gallery=args.gallery, n_release=args.release)
            for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
                template = f"{args.deface} {{input}} -o {{output}} --replacewith {mode}"
                if mode == "mosaic" and args.mosaicsize:
                    template += f" --mosaicsize {args.mosaicsize}"
                rel = work / ds / f"release_{mode}"
                t0 = time.perf_counter()
                rel_run = vendor_release(template, clear, rel, jobs=args.jobs)
                rel_run["seconds_wall"] = round(time.perf_counter() - t0, 1)
                est = audit(gal, rel, work / ds / f"out_est_{mode}", cache_dir=cache, jobs=args.jobs, anonymizer=None)
                ven = audit(gal, rel, work / ds / f"out_vendor_{mode}", cache_dir=cache, jobs=args.jobs,
                            anonymizer=template)
                rows.append({"dataset": ds, "mode": mode, "template": template.replace(args.deface, "deface"),
                             "info": info, "release_run": rel_run, "estimated": est, "vendor": ven})
                print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(f"deface {rows[0]['release_run']['version'] if rows else '?'}; per dataset the first {args.ids} identities "
          f"with {args.gallery + args.release}+ images: {args.gallery} clear gallery + {args.release} release images "
          "each (3-channel PNG); whole ladder; seed 0\n")
    print(table(rows))
    for r in rows:
        rr = r["release_run"]
        if rr["failed"]:
            print(f"* {r['dataset']} {r['mode']}: deface failed on {rr['failed']} release image(s): {rr['failure_reasons']}")
    if args.json:
        slim = [{k: v for k, v in r.items() if k not in ("estimated", "vendor")} |
                {k: {"attacks": [{"name": a["name"], "metrics": {m: a["metrics"][m] for m in
                                                                  ("rank1", "rank1_ci", "chance_rank1", "n_mated")},
                                  "notes": a["notes"]} for a in r[k]["attacks"]],
                     "obfuscation": r[k]["obfuscation"], "seconds": r[k]["_seconds"], "notes": r[k]["notes"]}
                 for k in ("estimated", "vendor")} for r in rows]
        args.json.write_text(json.dumps(slim, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
