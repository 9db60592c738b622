"""A CCTV video release built from PETS 2009 S2.L1 view 001, audited end to end (issue 4, 5).

What it builds (into ``--work``, never into ../shared or the repository):

- **release/**: the 795-frame mp4 (480x360; SOURCE.md) cut into blocks of ``--block`` frames;
  the even blocks (0-99, 200-299, ...) become release clips ``pets_<first frame>.mp4`` with
  every ground-truth person's **head region blurred** (``--blur head``: the top 22% of the box,
  widened by 30%, Gaussian sigma = box width / 3; the release most CCTV publishers make) or the
  **whole body** (``--blur body``: the whole box, widened by 10%). ``manifest.csv`` has one row
  per ground-truth box: ``path, frame`` (0-based in the clip), ``x, y, w, h`` (mp4 pixels:
  MOT boxes x 0.625), ``track`` (1, 2, ... per clip), ``subject`` (``p<MOT id>``), ``camera`` (view001),
  ``timestamp`` (ISO 8601: a fixed start plus the mp4 frame index / 7 s, PETS S2.L1 being shot at
  about 7 frames/s).
- **gallery/p<id>/**: from the odd blocks only (other frames): up to ``--crops`` unblurred person
  crops (PNG, the box with a 10% margin) per identity, and for every odd block in which the
  identity has at least ``--min-clip`` frames, a short clip (``walk_<block>.mp4``, at most 60
  frames) in which everything but that person is replaced by the scene's median background
  (the median of 60 frames spread over the video), after 12 frames of background alone (so the
  background subtractor has learnt the scene): the gallery clip shows its identity alone.

MOT track ids are per track, not per person: someone who leaves and comes back may have two
ids; then the "other" id counts as a wrong identity, which can only lower the figures.

Then it runs the audit: ``auditkit.run_audit`` when that wires the video path
(``results["video"]``), else :func:`auditkit.video.audit.audit_videos` directly (with no face
gallery: PETS faces are a few pixels tall), and prints per-cue and fused figures.

Usage::

    .venv/bin/python benchmarks/pets_release.py --work /tmp/pets_audit            # head blur
    .venv/bin/python benchmarks/pets_release.py --work /tmp/pets_body --blur body
    .venv/bin/python benchmarks/pets_release.py --work /tmp/pets_audit --json out.json
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from _common import find_dataset  # benchmarks/_common.py (the script's own folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditkit.features.mot_eval import read_mot

SCALE = 0.625  # 768x576 ground truth -> 480x360 mp4
TRUE_FPS = 7.0  # PETS S2.L1 frame rate (the mp4's 10 fps tag is the re-encoder's)
START = datetime(2009, 3, 1, 12, 0, 0)


def find_pets() -> Path:
    return find_dataset("pets2009_s2l1_view001")


def _read_all(mp4: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(mp4))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    return np.stack(frames)


def _clip_box(b, W: int, H: int) -> tuple[int, int, int, int] | None:
    x, y, w, h = b
    x0, y0, x1, y1 = max(0, int(np.floor(x))), max(0, int(np.floor(y))), min(W, int(np.ceil(x + w))), \
        min(H, int(np.ceil(y + h)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _blur(img: np.ndarray, b, mode: str) -> None:
    x, y, w, h = b
    if mode == "head":
        region = (x - 0.15 * w, y - 0.05 * h, 1.3 * w, 0.27 * h)
    else:
        region = (x - 0.05 * w, y - 0.05 * h, 1.1 * w, 1.1 * h)
    H, W = img.shape[:2]
    r = _clip_box(region, W, H)
    if r is None:
        return
    rx, ry, rw, rh = r
    sigma = max(2.0, w / 3.0)
    img[ry:ry + rh, rx:rx + rw] = cv2.GaussianBlur(img[ry:ry + rh, rx:rx + rw], (0, 0), sigma)


def build(work: Path, *, block: int = 100, blur: str = "head", crops: int = 6, min_clip: int = 30,
          limit: int | None = None) -> dict:
    """Write ``work/release`` and ``work/gallery``; returns a summary of what was built."""
    pets = find_pets()
    frames = _read_all(pets / "video" / "vtest_480x360.mp4")
    n_frames = len(frames) if limit is None else min(limit, len(frames))
    H, W = frames.shape[1:3]
    gt = read_mot(pets / "gt" / "gt.txt", scale=SCALE)  # 0-based mp4 frame indices
    gt = gt[gt["frame"] < n_frames]
    by_frame = {f: g for f, g in gt.groupby("frame")}
    bg = np.median(frames[np.linspace(0, len(frames) - 1, 60).astype(int)], axis=0).astype(np.uint8)
    rel, gal = work / "release", work / "gallery"
    rel.mkdir(parents=True, exist_ok=True)
    gal.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
    rows = []
    blocks = [(s, min(s + block, n_frames)) for s in range(0, n_frames, block)]
    release_blocks = blocks[0::2]
    gallery_blocks = blocks[1::2]
    for s, e in release_blocks:
        name = f"pets_{s:04d}.mp4"
        # published track labels: 1, 2, ... per clip in order of first appearance (not the MOT id,
        # which would give away the subject label p<id>)
        ids_in = gt[(gt["frame"] >= s) & (gt["frame"] < e)].sort_values(["frame", "id"])["id"]
        label = {pid: k + 1 for k, pid in enumerate(pd.unique(ids_in))}
        vw = cv2.VideoWriter(str(rel / name), fourcc, 10.0, (W, H))
        for f in range(s, e):
            img = frames[f].copy()
            g = by_frame.get(f)
            if g is not None:
                for r in g.itertuples():
                    _blur(img, (r.x, r.y, r.w, r.h), blur)
                    cb = _clip_box((r.x, r.y, r.w, r.h), W, H)
                    if cb is None:
                        continue
                    rows.append({"path": name, "frame": f - s, "x": cb[0], "y": cb[1], "w": cb[2], "h": cb[3],
                                 "track": label[r.id], "subject": f"p{int(r.id)}", "camera": "view001",
                                 "timestamp": (START + timedelta(seconds=f / TRUE_FPS)).isoformat(
                                     timespec="milliseconds")})
            vw.write(img)
        vw.release()
    with open(rel / "manifest.csv", "w", newline="") as fh:
        wr = csv.DictWriter(fh, ["path", "frame", "x", "y", "w", "h", "track", "subject", "camera", "timestamp"])
        wr.writeheader()
        wr.writerows(rows)
    # gallery: other frames only
    gal_frames = gt[np.zeros(len(gt), bool) | np.any([(gt["frame"] >= s) & (gt["frame"] < e)
                                                      for s, e in gallery_blocks], axis=0)]
    n_crops = n_clips = 0
    for pid, g in gal_frames.groupby("id"):
        d = gal / f"p{pid}"
        g = g.sort_values("frame")
        pick = g.iloc[np.unique(np.linspace(0, len(g) - 1, min(crops, len(g))).round().astype(int))]
        made = 0
        for r in pick.itertuples():
            cb = _clip_box((r.x - 0.1 * r.w, r.y - 0.1 * r.h, 1.2 * r.w, 1.2 * r.h), W, H)
            if cb is None or cb[3] < 1.5 * cb[2]:
                continue
            x, y, w, h = cb
            d.mkdir(exist_ok=True)
            cv2.imwrite(str(d / f"crop_{r.frame:04d}.png"), frames[r.frame][y:y + h, x:x + w])
            made += 1
        n_crops += made
        for s, e in gallery_blocks:
            gb = g[(g["frame"] >= s) & (g["frame"] < e)]
            if len(gb) < min_clip:
                continue
            gb = gb.iloc[:60]
            d.mkdir(exist_ok=True)
            vw = cv2.VideoWriter(str(d / f"walk_{s:04d}.mp4"), fourcc, 10.0, (W, H))
            for _ in range(12):
                vw.write(bg)
            for r in gb.itertuples():
                img = bg.copy()
                cb = _clip_box((r.x - 0.1 * r.w, r.y - 0.05 * r.h, 1.2 * r.w, 1.1 * r.h), W, H)
                if cb is not None:
                    x, y, w, h = cb
                    img[y:y + h, x:x + w] = frames[r.frame][y:y + h, x:x + w]
                vw.write(img)
            vw.release()
            n_clips += 1
    rel_ids = {int(r["subject"][1:]) for r in rows}
    gal_ids = {int(p.name[1:]) for p in gal.iterdir() if p.is_dir()}
    return {"release_clips": [f"pets_{s:04d}.mp4" for s, _ in release_blocks], "release_boxes": len(rows),
            "release_ids": sorted(rel_ids), "gallery_ids": sorted(gal_ids), "gallery_crops": n_crops,
            "gallery_clips": n_clips, "open_set_ids": sorted(rel_ids - gal_ids), "blur": blur, "block": block,
            "frames": n_frames}


def run(work: Path, *, fps: float | None, seed: int, cache_dir: Path | None, direct: bool,
        boxes: str = "manifest", attacker_blur: str = "auto", region: str = "body") -> dict:
    """The audit of the built release: run_audit when it has the video path, else audit_videos."""
    from auditkit import AuditConfig, run_audit
    from auditkit.data.inputs import InputError, load_gallery, load_release
    from auditkit.features.cache import FeatureCache
    from auditkit.features.faces import FaceParams
    from auditkit.scoring.risk import assess
    from auditkit.video.audit import audit_videos

    cache = cache_dir or (work / "cache")
    if not direct and boxes == "manifest" and attacker_blur == "auto":
        cfg = AuditConfig.from_flat(release=work / "release", gallery=work / "gallery", out=work / "out", cache_dir=cache,
                          seed=seed, progress=True)
        try:
            res = run_audit(cfg).to_dict()
            if res.get("video"):
                return {"via": "run_audit", "attacks": res["attacks"], "video": res["video"],
                        "trajectories": res.get("trajectories"), "notes": res["notes"], "skipped": res["skipped"]}
            print("run_audit has no video section yet: calling audit_videos directly", file=sys.stderr)
        except (InputError, ValueError) as e:
            print(f"run_audit refused the video release ({e}): calling audit_videos directly", file=sys.stderr)
    skipped, notes = [], []
    va = audit_videos(load_release(work / "release"), load_gallery(work / "gallery"), face_gallery=None,
                      face_params=FaceParams(), cache=FeatureCache(cache), fps=fps, seed=seed, progress=True,
                      skipped=skipped, notes=notes, boxes=boxes,
                      gallery_obfuscation=attacker_blur, obfuscation_region=region)
    return {"via": "audit_videos", "attacks": [assess(a).to_dict() for a in va.attacks], "video": va.section,
            "trajectories": va.trajectories, "notes": notes, "skipped": [s.__dict__ for s in skipped]}


def _use_motion_tracker() -> None:
    """Make the video pipeline link boxes with the former motion-only tracker (benchmark only)."""
    from auditkit.features.tracking import Tracker
    from auditkit.video import audit, clips

    class MotionOnly(Tracker):
        def update(self, frame, timestamp_s, detections, image=None, *, scale=1.0, features=None):
            return super().update(frame, timestamp_s, detections)

    # its params() differ, so the clip cache keys differ too, and results.json names it
    clips.AppearanceTracker = MotionOnly
    clips.tracker_for = audit.tracker_for = lambda detector, gallery=False: MotionOnly()


def _use_online_tracker() -> None:
    """The appearance tracker without its offline second pass (as before issue 17's second round)."""
    from auditkit.features.appearance_tracking import AppearanceTracker
    from auditkit.video import audit, clips

    clips.tracker_for = audit.tracker_for = lambda detector, gallery=False: AppearanceTracker(offline=False)


def _fmt_ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci and ci[0] is not None else "[n/a]"


def summary(out: dict) -> str:
    v = out["video"]
    lines = [(f"audit via {out['via']}: {v['n_clips']} release clips, {v['n_tracks']} tracks "
             f"({v['n_tracks_with_truth']} with ground truth), tracks exposed by face leaks: {v['tracks_exposed']} "
             f"({len(v['leaks'])} leaks)")]
    lines.append("| attack | cue | probes | mated | identities | rank-1 [95% CI] | chance | rank-5 | risk |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for a in out["attacks"]:
        m = a["metrics"]
        if "rank1" in m:
            lines.append(f"| {a['name']} | {a['cue']} | {a['n_probes']} | {m['n_mated']} | {a['n_identities']} | "
                         f"{m['rank1']:.3f} {_fmt_ci(m['rank1_ci'])} | {m['chance_rank1']:.3f} | {m['rank5']:.3f} | "
                         f"{a.get('risk')} |")
        else:
            lines.append(f"| {a['name']} | {a['cue']} | {a['n_probes']} | | {a['n_identities']} | "
                         f"{m.get('success_rate', float('nan')):.3f} {_fmt_ci(m.get('success_rate_ci'))} | "
                         f"{m.get('baseline', float('nan')):.3f} | | {a.get('risk')} |")
    fused = next((a for a in out["attacks"] if a["name"] == "fused"), None)
    if fused:
        lines.append(f"fusion weights (gallery CV): {fused['details']['weights']}")
    t = out.get("trajectories")
    if t:
        lines.append(f"trajectory uniqueness ({t['n_tracks']} release tracks, zones 4x3, time bin "
                     f"{t['uniqueness']['time_bin']}):")
        for r in t["uniqueness"]["by_p"]:
            lines.append(f"  p={r['p']}: unique {r['unique']}/{r['n']} = {r['rate']:.3f} {_fmt_ci(r['ci'])}; "
                         f"random-points baseline {r['baseline']:.3f}; top locations "
                         f"{r['top_locations']['unique']}/{r['top_locations']['n']}")
        for c in t["coarsening"]["curves"]:
            pts = ", ".join(f"{p['time_bin']}: {p['rate']:.2f}" for p in c["points"])
            lines.append(f"  coarsening, {c['space']}: {pts}; strength needed: {c['strength_needed']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for release/, gallery/, cache/ (created)")
    ap.add_argument("--blur", choices=("head", "body"), default="head", help="region blurred (default head)")
    ap.add_argument("--block", type=int, default=100, help="frames per release/gallery block (default 100)")
    ap.add_argument("--crops", type=int, default=6, help="gallery person crops per identity (default 6)")
    ap.add_argument("--min-clip", type=int, default=30, help="frames an identity needs in a gallery block for a "
                    "gallery clip (default 30)")
    ap.add_argument("--fps", type=float, default=None, help="sampling rate of the audit (default every frame)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N mp4 frames (default all 795)")
    ap.add_argument("--seed", type=int, default=0, help="random state (default 0)")
    ap.add_argument("--direct", action="store_true", help="call audit_videos directly, not run_audit")
    ap.add_argument("--boxes", choices=("manifest", "detect"), default="manifest",
                    help="people from the manifest boxes (default) or detected (MOG2; the manifest then only gives "
                         "ground truth by IoU >= 0.5); detect implies --direct")
    ap.add_argument("--attacker-blur", default="auto", metavar="SPEC",
                    help="what the attacker re-applies to the gallery person crops: 'auto' (estimated on the release, "
                         "default), 'none', or a spec such as blur:sigma=6 on the region given by --blur (a spec or "
                         "'none' implies --direct)")
    ap.add_argument("--tracker", choices=("appearance", "online", "motion"), default="appearance",
                    help="tracker linking detected boxes (--boxes detect): the appearance-aware one auditkit uses "
                         "(default), the same without its offline second pass (online), or the former motion-only one, "
                         "for a side-by-side comparison (issue 17)")
    ap.add_argument("--reuse", action="store_true", help="audit the release/gallery already built in --work")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    if (args.work / "release").exists() or (args.work / "gallery").exists():
        if not args.reuse:
            sys.exit(f"{args.work} already holds release/ or gallery/: give an empty --work folder (or --reuse)")
        built = json.loads((args.work / "built.json").read_text())
    else:
        built = build(args.work, block=args.block, blur=args.blur, crops=args.crops, min_clip=args.min_clip,
                      limit=args.limit)
        (args.work / "built.json").write_text(json.dumps(built))
    t_build = time.monotonic() - t0
    print(f"built in {t_build:.1f} s: {json.dumps(built)}")
    if args.tracker == "motion":
        _use_motion_tracker()
    elif args.tracker == "online":
        _use_online_tracker()
    out = run(args.work, fps=args.fps, seed=args.seed, cache_dir=None, direct=args.direct, boxes=args.boxes,
              attacker_blur=args.attacker_blur, region=args.blur if args.attacker_blur != "auto" else "body")
    t_all = time.monotonic() - t0
    print(summary(out))
    print(f"total {t_all:.1f} s (build {t_build:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps({"built": built, **out, "seconds": t_all}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
