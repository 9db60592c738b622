"""Gallery-free linkage (issue 12) on real multi-camera data: labelled score vs label-free estimate.

Each case is built as a *release* (a folder of copies of the shared images, or clips cut from the
PETS video, plus a ``manifest.csv``; never written into ../shared or the repository) and goes
through the audit's own pipeline, :func:`auditkit.sightings_audit.release_sightings` then
:func:`auditkit.attacks.sightings.run_linkage`. Labels are used only to score; the label-free
estimate is computed on the same run without looking at them.

Cases
-----
viper
    VIPeR, 632 people, one image per camera (cam_a, cam_b). Times (our choice, seeded): each
    person passes cam_a at a uniform time in one hour and cam_b 60-300 s later; no track has two
    images, so there are no within-track pairs.
cuhk01
    CUHK01 subset, two cameras, two shots per person and camera. Times as for VIPeR; the two shots
    of one camera are one track (1 s apart), as a video release's frames would be.
pets
    PETS 2009 S2.L1 view 001 cut into 100-frame clips (one camera, time windows), heads blurred as
    in ``pets_release.py``; the manifest gives the ground-truth boxes *without* track labels, so
    tracks come from auditkit's tracker, and each track's truth is its majority MOT id. Linkage =
    a track found again in another clip (a later time window), or after a break.
planted
    CUHK01 as above, but labelled only by planted volunteers: ``--volunteers`` people (seeded
    choice) with a window of a few seconds around each of their passes, everyone else unlabelled.

For every case and cue: labelled rank-1 (Wilson 95% CI, n, chance), the label-free estimate
(corrected variant, bootstrap 95% CI; the structural variant beside it) and the difference.

Usage::

    .venv/bin/python benchmarks/linkage_sightings.py --work /tmp/linkage --cases viper,cuhk01,pets,planted
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import find_dataset

START = datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC)


def _ts(sec: float) -> str:
    return (START + timedelta(seconds=float(sec))).isoformat(timespec="milliseconds")


def _link(src: Path, dst: Path) -> None:
    """A copy (the release scan ignores symlinks), under --work only."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        shutil.copyfile(src, dst)


def build_two_camera(work: Path, dataset: str, *, seed: int, hour: float = 3600.0) -> tuple[Path, list[dict]]:
    """A release of copies of a two-camera dataset, with times and (CUHK01) tracks."""
    src = find_dataset(dataset)
    rel = work / f"{dataset}_release"
    rng = np.random.default_rng(seed)
    with open(src / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    subjects = sorted({r["subject"] for r in rows})
    t_a = {s: rng.uniform(0, hour) for s in subjects}
    t_b = {s: t_a[s] + rng.uniform(60, 300) for s in subjects}
    out = []
    for r in rows:
        _link(src / r["path"], rel / r["path"])
        t = t_a[r["subject"]] if r["camera"] == "cam_a" else t_b[r["subject"]]
        shot = int(r.get("shot") or 1)
        row = {"path": r["path"], "camera": r["camera"], "timestamp": _ts(t + (shot - 1)), "subject": r["subject"]}
        if "shot" in r:  # CUHK01: the shots of one camera are frames of one track (a pseudonymous label)
            row["track"] = f"{r['camera']}-{subjects.index(r['subject']):04d}"
        out.append(row)
    with open(rel / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0]))
        w.writeheader()
        w.writerows(out)
    return rel, out


def build_pets(work: Path, *, block: int = 100) -> Path:
    """PETS 2009 cut into clips of ``block`` frames, heads blurred, GT boxes without track labels."""
    import cv2
    import pandas as pd

    from auditkit.features.mot_eval import read_mot
    from benchmarks.pets_release import SCALE, TRUE_FPS, _blur, _clip_box, _read_all

    pets = find_dataset("pets2009_s2l1_view001")
    frames = _read_all(pets / "video" / "vtest_480x360.mp4")
    H, W = frames.shape[1:3]
    gt = read_mot(pets / "gt" / "gt.txt", scale=SCALE)
    by_frame = {f: g for f, g in gt.groupby("frame")}
    rel = work / "pets_release"
    rel.mkdir(parents=True, exist_ok=True)
    rows = []
    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
    for s in range(0, len(frames), block):
        e = min(s + block, len(frames))
        name = f"pets_{s:04d}.mp4"
        vw = cv2.VideoWriter(str(rel / name), fourcc, 10.0, (W, H))
        for f in range(s, e):
            img = frames[f].copy()
            g = by_frame.get(f)
            if g is not None:
                for r in g.itertuples():
                    _blur(img, (r.x, r.y, r.w, r.h), "head")
                    cb = _clip_box((r.x, r.y, r.w, r.h), W, H)
                    if cb is None:
                        continue
                    rows.append({"path": name, "frame": f - s, "x": cb[0], "y": cb[1], "w": cb[2], "h": cb[3],
                                 "subject": f"p{int(r.id)}", "camera": "view001",
                                 "timestamp": _ts(f / TRUE_FPS)})
            vw.write(img)
        vw.release()
    pd.DataFrame(rows).to_csv(rel / "manifest.csv", index=False)
    return rel


def sightings_of(rel: Path, cache_dir: Path):
    from auditkit.data.inputs import load_release
    from auditkit.features.cache import FeatureCache
    from auditkit.features.faces import FaceParams
    from auditkit.sightings_audit import release_sightings

    release = load_release(rel)
    skipped, notes = [], []
    s = release_sightings(release, cache=FeatureCache(cache_dir), face_params=FaceParams(), progress=False,
                          leak_mode="off", skipped=skipped, notes=notes)
    return s, skipped, notes


def planted_windows(s, *, n: int, seed: int, pad: float = 0.25) -> list:
    """Windows of ``n`` volunteers (seeded choice among the labelled people): each pass, +-pad s (an
    auditor noting a time to the second)."""
    from auditkit.data.sightings import PlantedWindow

    people = sorted({t for t in s.truth if t is not None})
    vols = set(np.random.default_rng(seed).choice(people, size=min(n, len(people)), replace=False).tolist())
    seen = {}
    for i, t in enumerate(s.truth):
        if t in vols:
            key = (t, s.camera[i])
            a, b = seen.get(key, (np.inf, -np.inf))
            seen[key] = (min(a, s.t0[i]), max(b, s.t1[i]))
    names = {t: f"vol_{k:02d}" for k, t in enumerate(sorted(vols))}  # the auditor's own volunteer names
    return [PlantedWindow(names[t], cam, a - pad, b + pad, 0) for (t, cam), (a, b) in sorted(seen.items())]


def scale_case(n: int, *, seed: int, window: float) -> dict:
    """Synthetic release of ``n`` sightings (20 cameras, one day, two 64-d cues, tracks of two
    halves, people seen 3 times): time and peak memory of the whole linkage audit."""
    import resource

    from auditkit.attacks.sightings import LinkageParams, run_linkage
    from auditkit.data.sightings import SightingSet

    rng = np.random.default_rng(seed)
    people = n // 6
    base = rng.normal(size=(people, 2, 64))
    pid = np.repeat(np.arange(people), 6)
    visit = np.repeat(np.arange(people * 3), 2)
    t_visit = rng.uniform(0, 86400, people * 3)
    cam_visit = rng.integers(0, 20, people * 3)
    t0 = t_visit[visit] + 5 * (np.arange(len(pid)) % 2)
    feats = {c: base[pid, k] + 0.8 * rng.normal(size=(len(pid), 64)) for k, c in enumerate(("face", "appearance"))}
    s = SightingSet([f"s{i}" for i in range(len(pid))], [f"c{c}" for c in cam_visit[visit]], t0, t0 + 4,
                    [f"v{v}" for v in visit], [None] * len(pid), feats, truth=[f"p{p}" for p in pid],
                    truth_mode="subject")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.monotonic()
    _res, section = run_linkage(s, LinkageParams(window_s=window, min_travel_s=60, seed=seed,
                                                 memory_bytes=256 * 2**20))
    secs = time.monotonic() - t
    lab = section["attacks"]["fused"]["labelled"]
    return {"sightings": len(pid), "candidate_pairs": section["candidate_pairs"], "seconds": round(secs, 1),
            "peak_rss_mib_before": round(rss0 / 1024), "peak_rss_mib": round(resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024), "rank1_fused": lab["rank1"], "rank1_ci": lab["rank1_ci"],
            "chance": lab["chance_rank1"], "candidates_median": lab["candidates_median"]}


def run_case(name: str, s, params) -> dict:
    from auditkit.attacks.sightings import run_linkage

    t0 = time.monotonic()
    notes: list[str] = []
    _res, section = run_linkage(s, params, notes=notes)
    out = {"case": name, "sightings": len(s), "cameras": len(set(s.camera)), "truth_mode": s.truth_mode,
           "seconds": round(time.monotonic() - t0, 1), "cues": section["cues"], "attacks": {}, "routes": None}
    for a, e in section["attacks"].items():
        lab = e.get("labelled") or {}
        v = e["estimate"]["variants"]
        out["attacks"][a] = {
            "labelled": {k: lab.get(k) for k in ("rank1", "rank1_ci", "n_mated", "chance_rank1", "auc", "eer",
                                                  "candidates_median", "rank1_all", "rank1_all_ci", "n_all")},
            "main": e["estimate"]["main"],
            "estimate": {vn: {k: vv.get(k) for k in ("rank1_all", "rank1_all_ci", "n_mated_est", "reliable",
                                                       "genuine_mean", "true_candidates_per_probe", "decoys",
                                                       "probes_with_decoys", "decoys_above_best", "decoy_source",
                                                       "strata", "probes")}
                         for vn, vv in v.items()},
            "comparison": e.get("comparison"), "constraints": e["estimate"]["constraints"],
            "assumptions": e["estimate"]["assumptions"], "candidates": e["candidates"]}
    rt = section["routes"] or {}
    out["routes"] = {k: rt.get(k) for k in ("links", "persons_rebuilt", "min_cameras", "routes_at_min_cameras",
                                            "people_eligible", "people_followed", "followed_rate", "followed_ci")}
    return out


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"


def _ci(c) -> str:
    return "–" if not c or c[0] is None or np.isnan(c[0]) else f"{100 * c[0]:.1f}-{100 * c[1]:.1f}%"


def table(results: list[dict]) -> str:
    """One line per case and cue. Every rank-1 here is over all scored sightings (a sighting without
    a true candidate counts as a miss), the basis on which a label-free estimate is possible."""
    lines = ["| case | cue | sightings | candidates (median) | labelled rank-1 (95% CI, n) | chance | label-free "
             "estimate (method, 95% CI) | difference | estimate inside labelled CI? | labelled inside estimate CI? "
             "| structural mixture | corrected mixture |",
             "|---|---|---:|---:|---|---:|---|---:|---|---|---:|---:|"]
    for r in results:
        for a, e in r["attacks"].items():
            lab, est = e["labelled"], e["estimate"]
            mv = est[e["main"]]
            st, co = est.get("structural", {}), est["corrected"]
            cmp = (e["comparison"] or {}).get(e["main"], {})
            diff = cmp.get("difference")
            lines.append(
                f"| {r['case']} | {a} | {r['sightings']} | {e['candidates']['candidates_median']:.0f} | "
                f"{_pct(lab['rank1_all'])} ({_ci(lab['rank1_all_ci'])}, {lab['n_all']}) | {_pct(lab['chance_rank1'])} | "
                f"{_pct(mv['rank1_all'])} ({e['main']}, {_ci(mv['rank1_all_ci'])}) | "
                f"{'–' if diff is None else f'{100 * diff:+.1f} pts'} | "
                f"{'yes' if cmp.get('inside_labelled_interval') else 'no'} | "
                f"{'yes' if cmp.get('labelled_inside_estimate_interval') else 'no'} | "
                f"{_pct(st.get('rank1_all'))} | {_pct(co['rank1_all'])}{'' if co['reliable'] else ' (unreliable)'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from auditkit.attacks.sightings import LinkageParams
    from auditkit.data.sightings import apply_planted

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--cases", default="viper,cuhk01,pets,planted")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--volunteers", type=int, default=20)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--scale", type=int, default=0, help="instead: a synthetic release of this many sightings "
                    "(time and peak memory)")
    ap.add_argument("--window", type=float, default=300.0,
                    help="two-camera cases: candidate time window, s (transits are 60-300 s by construction)")
    ap.add_argument("--min-travel", type=float, default=60.0,
                    help="two-camera cases: cameras closer in time than this are different people (true here)")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.scale:
        print(json.dumps(scale_case(args.scale, seed=args.seed, window=args.window)))
        return 0
    cache = args.work / "cache"
    results = []
    two_cam = LinkageParams(window_s=args.window, min_travel_s=args.min_travel, seed=args.seed)
    for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
        t = time.monotonic()
        if case in ("viper", "cuhk01", "planted"):
            ds = "viper" if case == "viper" else "cuhk01_subset"
            rel, _ = build_two_camera(args.work, ds, seed=args.seed)
            s, skipped, notes = sightings_of(rel, cache)
            if case == "planted":
                wins = planted_windows(s, n=args.volunteers, seed=args.seed)
                s.truth, s.truth_mode = [None] * len(s), "none"
                apply_planted(s, wins, notes)
            r = run_case(case, s, two_cam)
        elif case == "pets":
            rel = build_pets(args.work)
            s, skipped, notes = sightings_of(rel, cache)
            r = run_case(case, s, LinkageParams(window_s=None, min_travel_s=0.0, seed=args.seed))
        else:
            raise SystemExit(f"unknown case {case!r}")
        r["build_and_features_seconds"] = round(time.monotonic() - t - r["seconds"], 1)
        r["notes"] = notes[:10]
        r["skipped"] = len(skipped)
        results.append(r)
        print(table([r]), flush=True)
        print(json.dumps(r["routes"]), flush=True)
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
