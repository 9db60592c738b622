"""Video path speed and quality on PETS 2009 S2.L1 (issue 4).

One run measures, on the same frames:

- the auditkit pipeline per stage (decode, person detection, tracking, face-leak scan) in
  frames per second, for HOG and for background subtraction (MOG2), at 480x360 (the mp4, all
  795 frames or every k-th by ``--fps``) and at full resolution (the 100 768x576 JPEGs);
- the naive approach: ``face_recognition.face_locations`` + ``face_encodings`` on every frame;
- detection recall/precision and tracking MOTA / ID switches / fragmentations / IDF1 against
  the MOTChallenge ground truth (IoU >= 0.5), on the frames processed.

Real time means processing at least as many seconds of video as wall-clock seconds (the
clip's own rate: the mp4 is tagged 10 fps; PETS S2.L1 was shot at about 7 fps).

Usage::

    .venv/bin/python benchmarks/bench_video.py                 # everything (~10 min on 2 cores)
    .venv/bin/python benchmarks/bench_video.py --limit 200     # first 200 mp4 frames only
    .venv/bin/python benchmarks/bench_video.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
from _common import find_dataset  # benchmarks/_common.py (the script's own folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditkit.data.video import iter_frames, iter_image_frames, probe_video
from auditkit.features.appearance_tracking import AppearanceTracker, tracker_for
from auditkit.features.leaks import FaceLeakScanner, attribute_leaks, tracks_exposed
from auditkit.features.mot_eval import (
    detection_metrics,
    detections_to_table,
    mot_metrics,
    read_mot,
    tracks_to_table,
)
from auditkit.features.people import BackgroundSubtractionDetector, HogPeopleDetector
from auditkit.features.tracking import Tracker

#: the trackers compared side by side on the same detections (issue 17), built for a detector's boxes:
#: the motion-only one (old), the appearance tracker online only (previous), and with its offline pass
TRACKERS = {"motion": lambda det: Tracker(), "online": lambda det: AppearanceTracker(offline=False),
            "appearance": tracker_for}
#: the offline pass's parameters were chosen on frames 10-400 with HOG boxes; 401-794 is out of sample
SPLITS = {"tuning_10_400": (10, 400), "out_of_sample_401_794": (401, 794)}


def _shared() -> Path:
    return find_dataset("pets2009_s2l1_view001")


def _frames(src: str, root: Path, *, fps: float | None, limit: int | None):
    if src == "mp4":
        it = iter_frames(root / "video" / "vtest_480x360.mp4", fps=fps)
        for f in it:
            if limit is not None and f.index >= limit:
                it.close()
                return
            yield f
    else:
        paths = sorted((root / "frames_768x576").glob("frame_*.jpg"))
        step = 1 if fps is None else max(1, round(7.0 / fps))
        for f in iter_image_frames(paths, fps=7.0):
            if f.index % step == 0:
                yield f


def _leak_worker(src: str, root: Path, fps: float | None, limit: int | None, upsample: int):
    """The leak scan on its own (second) core: decodes the same frames itself."""
    scanner = FaceLeakScanner(upsample=upsample, mode="frame")
    leaks, dec, scan = [], 0.0, 0.0
    gen = _frames(src, root, fps=fps, limit=limit)
    while True:
        a = time.perf_counter()
        f = next(gen, None)
        b = time.perf_counter()
        dec += b - a
        if f is None:
            break
        leaks += scanner.scan_frame(f)
        scan += time.perf_counter() - b
    return leaks, dec, scan


def run_pipeline(src: str, root: Path, detector_name: str, *, fps: float | None, limit: int | None,
                 leak_upsample: int, gt_scale: float, jobs: int = 1, trackers: tuple[str, ...] = ("appearance",)) -> dict:
    """Decode -> detect -> track -> leak-scan, timing each stage; then score against gt.

    With ``jobs=2`` the leak scan runs in a second process on its own decode of the same
    frames (it needs no tracks: leaks are attributed to tracks afterwards by box overlap).
    """
    pool = None
    if jobs == 2:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(1)
    if detector_name == "hog":
        # same smallest-person size at both resolutions: a 64x128 window = 32x64 px at 480x360;
        # people up to 160 px tall at 768x576 (camera geometry; the tallest ground-truth box is 153)
        det = HogPeopleDetector(resize=2.0 if src == "mp4" else 1.25, max_height=160.0 * gt_scale)
    else:
        det = BackgroundSubtractionDetector(min_height=30.0 / gt_scale * 0.625)
    trk = {name: TRACKERS[name](detector_name) for name in trackers}  # each fed the same detections
    t_trk = dict.fromkeys(trackers, 0.0)
    scanner = FaceLeakScanner(upsample=max(leak_upsample, 0), mode="frame")
    t = {"decode": 0.0, "detect": 0.0, "track": 0.0, "leak_scan": 0.0}
    dets, frames, leaks = {}, [], []
    last_t = 0.0
    gen = _frames(src, root, fps=fps, limit=limit)
    t0 = time.perf_counter()
    job = pool.apply_async(_leak_worker, (src, root, fps, limit, leak_upsample)) if pool else None
    while True:
        a = time.perf_counter()
        f = next(gen, None)
        b = time.perf_counter()
        t["decode"] += b - a
        if f is None:
            break
        d = det.detect(f.image, scale=f.scale)
        c = time.perf_counter()
        for name, tr in trk.items():
            t1 = time.perf_counter()
            if name != "motion":
                tr.update(f.index, f.timestamp_s, d, f.image, scale=f.scale)
            else:
                tr.update(f.index, f.timestamp_s, d)
            t_trk[name] += time.perf_counter() - t1
        e = time.perf_counter()
        if job is None and leak_upsample >= 0:
            leaks += scanner.scan_frame(f)
        g = time.perf_counter()
        t["detect"] += c - b
        t["track"] += e - c
        t["leak_scan"] += g - e
        dets[f.index] = d
        frames.append(f.index)
        last_t = f.timestamp_s
    all_tracks = {}
    for name, tr in trk.items():
        t1 = time.perf_counter()
        all_tracks[name] = tr.finish()
        t_trk[name] += time.perf_counter() - t1
    tracks = all_tracks[trackers[-1]]  # the leak attribution and the pipeline line use the last tracker
    if job is not None:
        leaks, _, t["leak_scan"] = job.get()
        pool.close()
        pool.join()
        leaks = attribute_leaks(leaks, tracks)
    else:
        leaks = attribute_leaks(leaks, tracks)
    wall = time.perf_counter() - t0
    n = len(frames)
    clip_fps = 10.0 if src == "mp4" else 7.0
    video_s = (frames[-1] + 1) / clip_fps if frames else 0.0
    gt = read_mot(root / "gt" / "gt.txt", scale=gt_scale)
    ev = [x for x in frames if x >= 10]  # background model warm-up, same frames for both detectors
    dm = detection_metrics(gt, detections_to_table(dets), frames=ev)
    per_tracker = {}
    for name, tr_list in all_tracks.items():
        mm = mot_metrics(gt, tracks_to_table(tr_list), frames=ev)
        per_tracker[name] = {
            "params": trk[name].params(), "ms_per_frame": 1000 * t_trk[name] / max(n, 1),
            **{k: mm[k] for k in ("mota", "motp", "id_switches", "fragmentations", "idf1", "recall", "precision",
                                  "gt_ids", "hyp_ids", "mostly_tracked", "mostly_lost", "evaluator")},
            "purity": {k: mm["purity"][k] for k in ("box_weighted", "mean_over_tracks", "tracks_at_least_95")},
            "offline_counts": dict(getattr(trk[name], "offline_counts", {})), "splits": {}}
        for sname, (lo, hi) in SPLITS.items():
            sm = mot_metrics(gt, tracks_to_table(tr_list), frames=[x for x in ev if lo <= x <= hi])
            per_tracker[name]["splits"][sname] = {k: sm[k] for k in ("mota", "idf1", "id_switches", "hyp_ids")} | {
                "purity": sm["purity"]["box_weighted"]}
    mm = mot_metrics(gt, tracks_to_table(tracks), frames=ev)
    return {
        "source": src, "detector": detector_name, "jobs": jobs, "detector_params": det.params(),
        "tracker": trk[trackers[-1]].params(), "trackers": per_tracker,
        "sample_fps": fps, "frames": n, "video_seconds": video_s, "last_timestamp_s": last_t, "wall_s": wall,
        "fps_total": n / wall, "realtime_factor": video_s / wall,
        "stage_ms_per_frame": {k: 1000 * v / n for k, v in t.items()},
        "stage_fps": {k: (n / v if v > 0 else float("inf")) for k, v in t.items()},
        "leaks": len(leaks), "tracks": len(tracks), "tracks_exposed": tracks_exposed(leaks),
        "detection": {k: dm[k] for k in ("n_gt", "n_det", "tp", "recall", "recall_ci", "precision", "precision_ci")},
        "tracking": {k: mm[k] for k in ("mota", "motp", "id_switches", "fragmentations", "idf1", "recall",
                                        "precision", "gt_ids", "hyp_ids", "mostly_tracked", "mostly_lost")},
        "eval_frames": len(ev),
    }


def run_naive(src: str, root: Path, *, fps: float | None, limit: int | None) -> dict:
    """face_recognition.face_locations + face_encodings on every frame (the naive approach)."""
    import face_recognition

    t = {"decode": 0.0, "face_locations": 0.0, "face_encodings": 0.0}
    n = faces = 0
    gen = _frames(src, root, fps=fps, limit=limit)
    t0 = time.perf_counter()
    while True:
        a = time.perf_counter()
        f = next(gen, None)
        b = time.perf_counter()
        t["decode"] += b - a
        if f is None:
            break
        locs = face_recognition.face_locations(f.image)
        c = time.perf_counter()
        encs = face_recognition.face_encodings(f.image, locs)
        e = time.perf_counter()
        t["face_locations"] += c - b
        t["face_encodings"] += e - c
        n += 1
        faces += len(encs)
    wall = time.perf_counter() - t0
    return {"source": src, "frames": n, "faces": faces, "wall_s": wall, "fps_total": n / wall,
            "stage_ms_per_frame": {k: 1000 * v / n for k, v in t.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="only mp4 frames with index < LIMIT (default: all 795)")
    ap.add_argument("--fps", type=float, nargs="*", default=[None, 5.0],
                    help="sampling rates for the mp4 runs; 0 or omitted value = every frame (default: every frame, 5)")
    ap.add_argument("--leak-upsample", type=int, default=1,
                    help="dlib upsampling in the leak scan (default 1; -1 skips the leak scan, for tracking runs)")
    ap.add_argument("--no-naive", action="store_true", help="skip the face_recognition baseline")
    ap.add_argument("--jobs", type=int, nargs="*", default=[1, 2], choices=[1, 2],
                    help="processes: 1, or 2 (leak scan on the second core); default both")
    ap.add_argument("--trackers", nargs="+", default=["motion", "online", "appearance"], choices=sorted(TRACKERS),
                    help="trackers fed the same detections, side by side (default: motion online appearance; "
                         "the last one is the pipeline's)")
    ap.add_argument("--sources", nargs="+", default=["mp4", "jpg"], choices=["mp4", "jpg"],
                    help="the 480x360 mp4 and/or the 100 768x576 JPEGs (default both)")
    ap.add_argument("--detectors", nargs="+", default=["mog2", "hog"], choices=["mog2", "hog"],
                    help="person detectors (default both)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    root = _shared()
    rates = [None if (r is None or r == 0) else r for r in args.fps]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, OpenCV {cv2.__version__} "
          f"({cv2.getNumThreads()} threads), python {platform.python_version()}")
    print(f"# mp4: {probe_video(root / 'video' / 'vtest_480x360.mp4')}")
    results = {"pipeline": [], "naive": []}
    for src, scale, srates in [x for x in (("mp4", 0.625, rates), ("jpg", 1.0, [None])) if x[0] in args.sources]:
        for r in srates:
            for name, jobs in [(n, j) for n in args.detectors for j in args.jobs]:
                res = run_pipeline(src, root, name, fps=r, limit=args.limit if src == "mp4" else None,
                                   leak_upsample=args.leak_upsample, gt_scale=scale, jobs=jobs,
                                   trackers=tuple(args.trackers))
                results["pipeline"].append(res)
                s, dd, tt = res["stage_ms_per_frame"], res["detection"], res["tracking"]
                print(f"{src:4s} {name:4s} jobs={jobs} sample={r or 'all'}: {res['frames']} frames, {res['fps_total']:.1f} fps "
                      f"(x{res['realtime_factor']:.2f} real time); ms/frame decode {s['decode']:.1f} "
                      f"detect {s['detect']:.1f} track {s['track']:.2f} leak {s['leak_scan']:.1f} | "
                      f"det R {dd['recall']:.3f} P {dd['precision']:.3f} | MOTA {tt['mota']:.3f} "
                      f"IDSW {tt['id_switches']} FRAG {tt['fragmentations']} IDF1 {tt['idf1']:.3f} | "
                      f"leaks {res['leaks']} exposed {res['tracks_exposed']}", flush=True)
                for tname, tm in res["trackers"].items():
                    print(f"    tracker {tname:10s}: MOTA {tm['mota']:.3f} IDF1 {tm['idf1']:.3f} IDSW {tm['id_switches']} "
                          f"FRAG {tm['fragmentations']} tracks {tm['hyp_ids']} ({tm['gt_ids']} gt ids) purity "
                          f"{tm['purity']['box_weighted']:.3f} (>=95% pure: {tm['purity']['tracks_at_least_95']:.2f}) "
                          f"MT/ML {tm['mostly_tracked']}/{tm['mostly_lost']} | {tm['ms_per_frame']:.2f} ms/frame",
                          flush=True)
                    for sname, sm in tm["splits"].items():
                        print(f"        {sname:22s}: MOTA {sm['mota']:.3f} IDF1 {sm['idf1']:.3f} IDSW {sm['id_switches']} "
                              f"tracks {sm['hyp_ids']} purity {sm['purity']:.3f}", flush=True)
            if not args.no_naive:
                nv = run_naive(src, root, fps=r, limit=args.limit if src == "mp4" else None)
                results["naive"].append({**nv, "sample_fps": r})
                s = nv["stage_ms_per_frame"]
                print(f"{src:4s} naive sample={r or 'all'}: {nv['frames']} frames, {nv['fps_total']:.2f} fps; ms/frame "
                      f"decode {s['decode']:.1f} face_locations {s['face_locations']:.1f} "
                      f"face_encodings {s['face_encodings']:.1f}; faces {nv['faces']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
