"""Attacker-ladder cost benchmark (issue 3): the whole ladder vs the naive attack alone.

Usage::

    .venv/bin/python benchmarks/bench_ladder.py [--faces DIR] [--spec blur:sigma=6]
                                                [--jobs 1] [--encoder dlib] [--json OUT.json]

Builds the demo release (``auditkit.demo.build_demo``: per identity 5 clear gallery images,
the other 5 obfuscated whole-frame with ``--spec``; default faces: the shared AT&T set, 40
identities, 400 images) and runs ``auditkit.run_audit`` twice in one process, each with
a fresh, empty temporary feature cache (cold):

* naive: ``attacks=("face.naive",)``;
* ladder: every registered face attack (``auditkit.config.default_attacks()``).

Both runs include loading, hashing, the clear extraction and the obfuscation estimate, as an
audit does. It prints the wall times, the ratio ladder / naive (issue 3's target: <= about 3)
and each attack's rank-1, as a Markdown table.

With ``--cases`` (issue 13) it runs the ladder on the cases where it stepped down: LFW grey crops
blurred (sigma 8) and pixelated (block 16), Yale faces pixelated (block 16) and AT&T blurred
(sigma 6), each on the whole frame, the obfuscation *estimated* from the release as an auditor
would; plus the parrot with the true obfuscation declared (what the estimate costs). It prints
every rung's rank-1 (Wilson 95% CI) per case, whether the estimate's interval covers the truth,
and flags a rung whose upper bound is below face.naive's or face.parrot's rank-1 (a step down).

With ``--table`` it instead runs the strength sweep (``auditkit.sweep.run_sweep``: blur sigma
2, 4, 6, 8, 12 and pixelate block 4, 8, 12, 16; 5 calibration images per identity, the other 5
attacked) and prints the ladder table: each attack's rank-1 with its Wilson 95% interval, per
strength (``--cache-dir`` keeps the features; ``--json`` writes the whole sweep result).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from _common import find_dataset  # benchmarks/_common.py (the script's own folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _default_faces() -> Path:
    return find_dataset("att_orl_faces")


def _timed_audit(gallery: Path, release: Path, attacks: tuple[str, ...], *, jobs: int, encoder: str,
                 work: Path, cache_dir: Path | None = None) -> tuple[float, dict]:
    from auditkit import AuditConfig, run_audit

    with tempfile.TemporaryDirectory(prefix="ladder-cache-", dir=work) as cache:
        cfg = AuditConfig.from_flat(release=release, gallery=gallery, out=work / "out", attacks=attacks,
                                    cache_dir=cache_dir or Path(cache), jobs=jobs, encoder=encoder, progress=False,
                                    obfuscation_scope="frame")
        t0 = time.perf_counter()
        res = run_audit(cfg).to_dict()
        return time.perf_counter() - t0, res


def _subset(faces: Path, dest: Path, *, min_images: int, per_identity: int | None,
            max_identities: int | None) -> Path:
    """Symlinks to the identities of ``faces`` with at least ``min_images`` images, the first
    ``per_identity`` images of each (sorted by name), the first ``max_identities`` identities."""
    from auditkit.data.media import is_image

    dest.mkdir(parents=True)
    n = 0
    for d in sorted(p for p in faces.iterdir() if p.is_dir() and not p.name.startswith(".")):
        imgs = sorted(p for p in d.iterdir() if p.is_file() and is_image(p))
        if len(imgs) < min_images:
            continue
        (dest / d.name).mkdir()
        for p in imgs[:per_identity]:
            (dest / d.name / p.name).symlink_to(p.resolve())
        n += 1
        if max_identities and n >= max_identities:
            break
    return dest


def _strongest(attacks: list[dict], *, without: str | None = None) -> dict | None:
    pool = [a for a in attacks if a["name"] != without]
    return max(pool, key=lambda a: a["metrics"]["rank1"]) if pool else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=Path, default=None, help="<identity>/<images> folder (default: shared AT&T)")
    ap.add_argument("--spec", default="blur:sigma=6", help="obfuscation of the release (default: blur:sigma=6)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes for extraction (default: 1)")
    ap.add_argument("--encoder", choices=("dlib", "fast"), default="dlib", help="face encoder (default: dlib)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--table", action="store_true", help="run the strength sweep and print the ladder table")
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="feature cache (default: a temporary one per run, removed)")
    ap.add_argument("--n-gallery", type=int, default=5, help="clear gallery images per identity (default: 5)")
    ap.add_argument("--per-identity", type=int, default=None,
                    help="use only the first N images of each identity (sorted by name; the rest of them go to "
                         "the release)")
    ap.add_argument("--min-images", type=int, default=2, help="leave out identities with fewer images")
    ap.add_argument("--max-identities", type=int, default=None, help="only the first N identities (sorted)")
    ap.add_argument("--ladder-only", action="store_true",
                    help="skip the naive-only timing run: one ladder run, rank-1 of every rung")
    ap.add_argument("--cases", action="store_true", help="the step-down cases of issue 13 (see above)")
    ap.add_argument("--estimate-only", action="store_true",
                    help="with --cases: only the obfuscation estimate (face.naive runs), and the coverage table")
    ap.add_argument("--coverage-from", type=Path, nargs="+", default=None,
                    help="print the cases and coverage tables from these --cases --json files")
    ap.add_argument("--only", default=None,
                    help="with --cases: only the cases whose name contains one of these comma-separated words")
    args = ap.parse_args(argv)
    if args.coverage_from:  # the tables again from --cases --json files (several runs side by side)
        rows = [r for p in args.coverage_from for r in json.loads(p.read_text())]
        if rows and "rungs" not in rows[0]:  # --estimate-only files: the coverage rows themselves
            from small_face_cases import small_face_table

            small = [r for r in rows if "faces" in r]
            print("\n\n".join(([small_face_table(small)] if small else [])
                              + ([coverage_table([r for r in rows if "faces" not in r])] if len(small) < len(rows) else [])))
            return 0
        print(cases_table(rows) + "\n\n" + coverage_table([_coverage_row(r["case"], r["true"], r["estimate"],
                                                                           r["seconds"]) for r in rows]))
        return 0
    if args.cases:
        return _cases(args)
    if args.table:
        return _table(args)

    from auditkit.config import default_attacks

    ATTACKS = default_attacks()
    from auditkit.demo import build_demo
    from auditkit.obfuscation.spec import parse_spec

    faces = args.faces or _default_faces()
    with tempfile.TemporaryDirectory(prefix="bench-ladder-") as tmp:
        work = Path(tmp)
        src = faces
        if args.per_identity or args.max_identities or args.min_images > 2:
            src = _subset(faces, work / "faces", min_images=args.min_images, per_identity=args.per_identity,
                          max_identities=args.max_identities)
        gallery, release = build_demo(work / "demo", faces=src, spec=parse_spec(args.spec),
                                      n_gallery=args.n_gallery, seed=0)
        if args.ladder_only:
            t_naive, r_naive = float("nan"), {"runtime": {"cache": {"misses": None}}}
        else:
            t_naive, r_naive = _timed_audit(gallery, release, ("face.naive",), jobs=args.jobs,
                                            encoder=args.encoder, work=work, cache_dir=args.cache_dir)
        t_ladder, r_ladder = _timed_audit(gallery, release, ATTACKS, jobs=args.jobs,
                                          encoder=args.encoder, work=work, cache_dir=args.cache_dir)
    n_g = r_ladder["inputs"]["gallery"]["n_files"]
    n_r = r_ladder["detection"]["release"]["items"]
    out = {"faces": str(faces), "spec": args.spec, "jobs": args.jobs, "encoder": args.encoder,
           "gallery_images": n_g, "release_images": n_r,
           "identities": r_ladder["inputs"]["gallery"]["identities"],
           "naive_seconds": round(t_naive, 1), "ladder_seconds": round(t_ladder, 1),
           "ratio": round(t_ladder / t_naive, 2),
           "attacks": [{"name": a["name"], "rank1": a["metrics"]["rank1"], "rank1_ci": a["metrics"]["rank1_ci"],
                        "n": a["metrics"]["n_mated"], "chance": a["metrics"]["chance_rank1"]}
                       for a in r_ladder["attacks"]],
           "pixels": next((a["details"]["pixels"] for a in r_ladder["attacks"] if a["name"] == "face.pixels"), None),
           "strongest_without_pixels": (_strongest(r_ladder["attacks"], without="face.pixels") or {}).get("name"),
           "strongest": (_strongest(r_ladder["attacks"]) or {}).get("name"),
           "obfuscation": r_ladder["obfuscation"],
           "cache_misses": {"naive": r_naive["runtime"]["cache"]["misses"],
                            "ladder": r_ladder["runtime"]["cache"]["misses"]},
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"}
    print(f"{out['identities']} identities, {n_g} gallery + {n_r} release images, release {args.spec}, "
          f"jobs {args.jobs}, encoder {args.encoder}; cold cache each run")
    print("| run | attacks | wall s | face extractions (cache misses) |")
    print("|---|---|---:|---:|")
    if not args.ladder_only:
        print(f"| naive only | face.naive | {out['naive_seconds']} | {out['cache_misses']['naive']} |")
    print(f"| whole ladder | {', '.join(ATTACKS)} | {out['ladder_seconds']} | {out['cache_misses']['ladder']} |")
    if not args.ladder_only:
        print(f"\nratio ladder / naive: **{out['ratio']}x** (issue 3 target: <= ~3x)")
    for a in out["attacks"]:
        print(f"  {a['name']}: rank-1 {a['rank1']:.1%} (95% CI {a['rank1_ci'][0]:.1%}-{a['rank1_ci'][1]:.1%}; "
              f"n = {a['n']}, chance {a['chance']:.1%})")
    print(f"strongest rung: {out['strongest']}; strongest without face.pixels: {out['strongest_without_pixels']}")
    px = out["pixels"]
    if px:
        c = px["cv"]["candidates"].get(px["chosen"])
        cv = (f"{c['rank1']:.1%} (95% CI {c['rank1_ci'][0]:.1%}-{c['rank1_ci'][1]:.1%}, n = {c['n']})" if c
              else px["cv"].get("note"))
        print(f"face.pixels: chose {px['chosen']} by gallery cross-validation, CV rank-1 {cv}; "
              f"fit {px['fit_seconds']} s wall, {px.get('fit_cpu_seconds')} s CPU; whole-image crops: release {px['crop']['release_whole_image']}, "
              f"gallery {px['crop']['gallery_whole_image']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


def ladder_table(res: dict) -> str:
    """Markdown: one row per family and strength, one column per attack (rank-1 and 95% CI)."""
    names = res["parameters"]["attacks"]
    lines = ["| obfuscation | " + " | ".join(names) + " | chance | strongest: advantage (95% CI) |",
             "|---|" + "---:|" * (len(names) + 2)]
    for d in res["families"].values():
        for p in d["points"]:
            cells = []
            for n in names:
                a = p["attacks"].get(n)
                cells.append(f"{a['rank1']:.1%} ({a['rank1_ci'][0]:.1%}-{a['rank1_ci'][1]:.1%})" if a else "not run")
            s = p["strongest"]
            cells.append(f"{p['chance']:.1%}")
            cells.append(f"{s['name']} {s['advantage']:.2f} ({s['advantage_ci'][0]:.2f} to {s['advantage_ci'][1]:.2f})")
            lines.append(f"| {p['spec']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _table(args) -> int:
    from auditkit.sweep import run_sweep

    faces = args.faces or _default_faces()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-cache-") as tmp:
        t0 = time.perf_counter()
        res = run_sweep(faces, families=("blur", "pixelate"),
                        strengths={"blur": [2, 4, 6, 8, 12], "pixelate": [4, 8, 12, 16]}, n_calibration=5,
                        cache_dir=args.cache_dir or Path(tmp), jobs=args.jobs, encoder=args.encoder,
                        seed=0, progress=False)
        secs = time.perf_counter() - t0
    sp = res["split"]
    print(f"{sp['identities']} identities; {sp['calibration_images']} clear gallery images, "
          f"{sp['probe_images']} obfuscated probes per strength (whole frame); seed 0; {secs:.0f} s\n")
    print(ladder_table(res))
    print()
    for r in res["recommendations"]:
        print(f"* {r}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


#: (name, dataset, images folder inside it, true obfuscation, identities, gallery images per identity)
CASES = (
    ("LFW blur 8", "lfw_gray_crops_dev", "", "blur:sigma=8", 40, 3),
    ("LFW pixel 16", "lfw_gray_crops_dev", "", "pixelate:block=16", 40, 3),
    ("Yale pixel 16", "yalefaces", "by_subject", "pixelate:block=16", 15, 5),
    ("AT&T blur 6", "att_orl_faces", "", "blur:sigma=6", 40, 5),
)
LADDER = ("face.naive", "face.parrot", "face.pixels", "face.learned", "face.reconstruct")


def _case_row(name: str, true: str, est: dict, declared: dict) -> dict:
    from auditkit.obfuscation.spec import parse_spec

    e = est["obfuscation"].get("estimate") or {}
    t = parse_spec(true)
    u = e.get("uncertainty")
    covers = bool(u and e.get("method") == t.method and u[0] <= t.strength <= u[1])
    by = {a["name"]: a["metrics"] for a in est["attacks"]}
    dec = {a["name"]: a["metrics"] for a in declared["attacks"]}.get("face.parrot")
    steps = []
    for r in LADDER[1:]:
        m = by.get(r)
        if m is None:
            continue
        beneath = [b for b in ("face.naive", "face.parrot") if b != r and b in by and LADDER.index(b) < LADDER.index(r)]
        for b in beneath:
            if m["rank1_ci"][1] < by[b]["rank1"]:
                steps.append(f"{r} < {b}")
    learned = next((a for a in est["attacks"] if a["name"] == "face.learned"), None)
    pixels = next((a for a in est["attacks"] if a["name"] == "face.pixels"), None)
    px = (pixels or {}).get("details", {}).get("pixels", {})
    return {"case": name, "true": true, "estimate": e, "covers": covers, "rungs": by, "parrot_true": dec,
            "step_downs": steps, "learned_method": (learned or {}).get("details", {}).get("learned", {}).get("method"),
            "pixels_method": px.get("method", px.get("chosen")),
            "reconstruct_method": next((a.get("details", {}).get("reconstruct", {}).get("matched")
                                        for a in est["attacks"] if a["name"] == "face.reconstruct"), None),
            "n": next(iter(by.values()))["n_mated"] if by else 0}


def _cases(args) -> int:
    from auditkit import AuditConfig, run_audit
    from auditkit.demo import build_demo
    from auditkit.obfuscation.spec import parse_spec

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ladder-cases-") as tmp:
        work = Path(tmp)
        cache = args.cache_dir or work / "cache"
        only = [w.strip().lower() for w in (args.only or "").split(",") if w.strip()]
        if args.estimate_only and any("wider" in w for w in only):  # small faces boxed in real crowds
            rows += _small_face_rows(args, work, cache, only)
        for name, ds, sub, true, n_ids, n_gal in CASES:
            if only and not any(w in name.lower() for w in only):
                continue
            faces = find_dataset(ds) / sub if sub else find_dataset(ds)
            d = work / name.replace(" ", "_").replace("&", "")
            src = _subset(faces, d / "faces", min_images=n_gal + 1, per_identity=n_gal + 4, max_identities=n_ids)
            gal, rel = build_demo(d / "demo", faces=src, spec=parse_spec(true), n_gallery=n_gal, seed=0)
            import csv

            with open(rel / "manifest.csv", newline="") as f:  # the auditor is not told the obfuscation
                mrows = [{"path": r["path"], "subject": r["subject"]} for r in csv.DictReader(f)]
            with open(rel / "manifest.csv", "w", newline="") as f:
                w = csv.DictWriter(f, ["path", "subject"])
                w.writeheader()
                w.writerows(mrows)
            common = {"release": rel, "gallery": gal, "cache_dir": cache, "jobs": args.jobs, "encoder": args.encoder,
                      "progress": False, "population_sizes": (), "linkage": False}
            t0 = time.perf_counter()
            if args.estimate_only:
                est = run_audit(AuditConfig.from_flat(**common, out=d / "out1", attacks="face.naive")).to_dict()
                rows.append(_coverage_row(name, true, est["obfuscation"]["estimate"] or {}, round(time.perf_counter() - t0, 1)))
                print(f"{name}: done in {rows[-1]['seconds']} s", file=sys.stderr, flush=True)
                continue
            est = run_audit(AuditConfig.from_flat(**common, out=d / "out1")).to_dict()
            declared = run_audit(AuditConfig.from_flat(**common, out=d / "out2", attacks="face.parrot",
                                                       obfuscation=true, obfuscation_scope="frame")).to_dict()
            row = _case_row(name, true, est, declared)
            row["seconds"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            print(f"{name}: done in {row['seconds']} s", file=sys.stderr, flush=True)
    if args.estimate_only:
        from small_face_cases import small_face_table

        small = [r for r in rows if "faces" in r]
        if small:
            print(small_face_table(small) + "\n")
        if len(small) < len(rows):
            print(coverage_table([r for r in rows if "faces" not in r]))
    else:
        print(cases_table(rows))
        print()
        print(coverage_table([_coverage_row(r["case"], r["true"], r["estimate"], r["seconds"]) for r in rows]))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


def _small_face_rows(args, work: Path, cache: Path, only: list[str]) -> list[dict]:
    """The WIDER small-face cases (``small_face_cases.py``) named by ``--only``: face.naive runs
    (the estimate and its calibration are what is measured), one row per case."""
    from small_face_cases import SMALL_FACE_CASES, _words, build_small_face_case

    from auditkit import AuditConfig, run_audit

    ds = find_dataset("wider_face_val_subset")
    rows = []
    for name, true, band in SMALL_FACE_CASES:
        if not any(set(w.split()) <= _words(name) for w in only):
            continue
        d = work / name.replace(" ", "_").replace("+", "p")
        gal, rel, info = build_small_face_case(ds, d, true, band, seed=0)
        t0 = time.perf_counter()
        res = run_audit(AuditConfig.from_flat(release=rel, gallery=gal, out=d / "out", attacks="face.naive",
                                              cache_dir=cache, jobs=args.jobs, encoder=args.encoder,
                                              progress=False, population_sizes=(), linkage=False,
                                              leak_scan="off")).to_dict()  # not measured here
        row = _coverage_row(name, true, res["obfuscation"]["estimate"] or {}, round(time.perf_counter() - t0, 1))
        row.update(info, coverage_kind=res["obfuscation"]["estimate"] and res["obfuscation"]["estimate"].get("coverage"),
                   n_regions=(res["obfuscation"]["estimate"] or {}).get("n_regions"),
                   counts=(res["obfuscation"]["estimate"] or {}).get("counts"))
        rows.append(row)
        print(f"{name}: done in {row['seconds']} s", file=sys.stderr, flush=True)
    return rows


def _coverage_row(name: str, true: str, obf: dict, seconds: float) -> dict:
    from auditkit.obfuscation.spec import parse_spec

    t = parse_spec(true)
    cal = obf.get("calibration") or {}
    raw_u = cal.get("raw_uncertainty", obf.get("uncertainty"))
    u = obf.get("uncertainty")

    def inside(iv):
        return bool(iv and obf.get("method") == t.method and iv[0] <= t.strength <= iv[1])

    return {"case": name, "true": true, "method": obf.get("method"), "raw": cal.get("raw_strength", obf.get("strength")),
            "raw_interval": raw_u, "strength": obf.get("strength"), "interval": u, "covers_raw": inside(raw_u),
            "covers": inside(u), "calibrated": bool(cal), "seconds": seconds}


def coverage_table(rows: list[dict]) -> str:
    """Markdown: per case the raw estimate and its model interval, the calibrated one, coverage."""
    def iv(x):
        return f"[{x[0]:.3g}, {x[1]:.3g}]" if x else "none"

    def num(x):
        return "none" if x is None else f"{x:.3g}"

    lines = ["| case (whole frame) | truth | raw estimate [model interval] | covers | calibrated [interval] | covers |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['true']} | {r['method']} {num(r['raw'])} {iv(r['raw_interval'])} | "
                     f"{'yes' if r['covers_raw'] else 'no'} | "
                     + (f"{num(r['strength'])} {iv(r['interval'])} | {'yes' if r['covers'] else 'no'} |"
                        if r["calibrated"] else "not calibrated | |"))
    n = len(rows)
    lines.append(f"\ncoverage: model interval {sum(r['covers_raw'] for r in rows)}/{n}, "
                 f"calibrated interval {sum(r['covers'] for r in rows)}/{n}")
    return "\n".join(lines)


def cases_table(rows: list[dict]) -> str:
    """Markdown: one row per case, every rung's rank-1 (95% CI), the estimate and the step-downs."""
    def cell(m):
        return f"{m['rank1']:.0%} ({m['rank1_ci'][0]:.0%}-{m['rank1_ci'][1]:.0%})" if m else "not run"

    lines = ["| case (whole frame) | n | estimate [interval] | covers truth | " + " | ".join(LADDER)
             + " | face.parrot, truth declared | face.learned kept | face.pixels kept | face.reconstruct kept "
             "| step-downs |",
             "|---|---:|---|---|" + "---:|" * (len(LADDER) + 1) + "---|---|---|---|"]
    for r in rows:
        e = r["estimate"]
        u = e.get("uncertainty")
        est = f"{e.get('method')} {e.get('strength', float('nan')):.3g}" + (f" [{u[0]:.3g}, {u[1]:.3g}]" if u else "")
        lines.append(f"| {r['case']} ({r['true']}) | {r['n']} | {est} | {'yes' if r['covers'] else 'no'} | "
                     + " | ".join(cell(r["rungs"].get(n)) for n in LADDER)
                     + f" | {cell(r['parrot_true'])} | {r['learned_method']} | {r.get('pixels_method')} | "
                     f"{r.get('reconstruct_method')} | "
                     f"{', '.join(r['step_downs']) or 'none'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
