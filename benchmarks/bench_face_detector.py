"""Face detectors side by side on small real faces: recall at fixed precision, and time per frame.

    .venv/bin/python benchmarks/bench_face_detector.py [--images 60] [--pets-frames 20]

Detectors (one process, the same images, interleaved per image; CenterFace on one onnxruntime thread,
as dlib's detectors run on one core): dlib HOG at ``upsample`` 1 and 2 (run with ``adjust_threshold``
-0.5 so the curve extends below its default operating point, score >= 0) and CenterFace (score
threshold 0.05 for the curve; its default operating point is 0.5) on the image as it is (x1) and
enlarged twice (x2, auditkit's default: ``upsample=1`` doubles the image for every detector; the
network input is capped at 2048 px on its longer side, so images taller than 1024 px get less). dlib's CNN is left out: on these
1024-px images at upsample 1 it takes tens of seconds per image on this CPU.

WIDER FACE (``wider_face_val_subset``, its SOURCE.md): the first ``--images`` images of the
183 in manifest order spread over the events (every ``183 // images``-th). Matching as in the
WIDER evaluation: detections sorted by score over all images, each matched to the unmatched
ground-truth face of the same image with the highest IoU >= 0.5; a detection whose best match
is a face marked invalid is ignored (neither true nor false). Precision at a threshold counts all
valid faces; recall is given per group (valid faces of the Easy / Medium / Hard settings, and by
box height). "recall @ P" is the highest recall over thresholds whose precision is at least P.

PETS 2009 S2.L1 (768x576 frames): no face boxes exist, so only detections per frame and the share of
them whose centre lies in the top quarter of a ground-truth person box (where a head would be)
are reported, with time per frame.
"""
from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from auditkit.features.centerface import CenterFaceDetector
from auditkit.features.face_detectors import DlibHogDetector
from auditkit.features.people import box_iou_matrix
from benchmarks._common import find_dataset

GROUPS = {"all valid": lambda r: True, "easy": lambda r: r["in_easy"] == "1", "medium": lambda r: r["in_medium"] == "1",
          "hard": lambda r: r["in_hard"] == "1", "h < 10": lambda r: float(r["h"]) < 10,
          "h 10-19": lambda r: 10 <= float(r["h"]) < 20, "h 20-39": lambda r: 20 <= float(r["h"]) < 40,
          "h >= 40": lambda r: float(r["h"]) >= 40}


def _detectors() -> dict[str, tuple[object, float]]:
    """name -> (detector, default operating threshold on its score)."""
    return {"hog up1": (DlibHogDetector(upsample=1, adjust_threshold=-0.5), 0.0),
            "hog up2": (DlibHogDetector(upsample=2, adjust_threshold=-0.5), 0.0),
            "centerface x1": (CenterFaceDetector(threshold=0.05, upscale=1.0, threads=1), 0.5),
            "centerface x2": (CenterFaceDetector(threshold=0.05, upscale=2.0, threads=1), 0.5)}


def match(dets: dict[str, tuple[np.ndarray, np.ndarray]], gt: dict[str, list[dict]], *, iou: float = 0.5):
    """Greedy score-ordered matching over all images -> (scores, label 1 TP / 0 FP / -1 ignored, matched gt rows)."""
    allv = [(s, p, k) for p, (b, sc) in dets.items() for k, s in enumerate(sc)]
    allv.sort(key=lambda t: -t[0])
    used: dict[str, np.ndarray] = {p: np.zeros(len(g), bool) for p, g in gt.items()}
    ious = {p: (box_iou_matrix(dets[p][0], np.array([[float(r[c]) for c in "xywh"] for r in gt[p]]).reshape(-1, 4))
                if len(dets[p][0]) and gt[p] else np.zeros((len(dets[p][0]), len(gt[p]))))
            for p in dets}
    scores, labels, hit_rows = [], [], []
    for s, p, k in allv:
        row = ious[p][k].copy() if ious[p].shape[1] else np.zeros(0)
        lab, hit = 0, None
        if row.size:
            row[used[p]] = -1
            j = int(np.argmax(row))
            if row[j] >= iou:
                used[p][j] = True
                if gt[p][j]["invalid"] == "1":
                    lab = -1
                else:
                    lab, hit = 1, gt[p][j]
        scores.append(s)
        labels.append(lab)
        hit_rows.append(hit)
    return np.array(scores), np.array(labels), hit_rows


def curve(scores, labels, hits, group, n_group):
    """(thresholds, precision, recall in group) at every distinct score (descending)."""
    keep = labels >= 0
    s, lab = scores[keep], labels[keep]
    in_g = np.array([h is not None and group(h) for h, k in zip(hits, keep) if k], bool)
    tp, n = np.cumsum(lab == 1), np.arange(1, len(s) + 1)
    rec = np.cumsum(in_g) / max(n_group, 1)
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, bool)  # one point per distinct threshold
    return s[last], (tp / n)[last], rec[last]


def at_threshold(th, prec, rec, t):
    k = np.nonzero(th >= t)[0]
    return (float(prec[k[-1]]), float(rec[k[-1]])) if len(k) else (float("nan"), 0.0)


def recall_at_precision(prec, rec, p):
    ok = prec >= p
    return float(rec[ok].max()) if ok.any() else 0.0


def run_wider(n_images: int, dets_by_name) -> None:
    root = find_dataset("wider_face_val_subset")
    with open(root / "manifest.csv", newline="") as f:
        paths = [r["path"] for r in csv.DictReader(f)]
    step = max(1, len(paths) // n_images)
    paths = paths[::step][:n_images]
    gt: dict[str, list[dict]] = defaultdict(list)
    with open(root / "annotations.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["path"] in paths:
                gt[r["path"]].append(r)
    dets = {name: {} for name in dets_by_name}
    secs = {name: [] for name in dets_by_name}
    for i, p in enumerate(paths):
        img = np.asarray(Image.open(root / p).convert("RGB"))
        for name, (det, _) in dets_by_name.items():
            t0 = time.perf_counter()
            dets[name][p] = det.detect(img)
            secs[name].append(time.perf_counter() - t0)
        print(f"  wider {i + 1}/{len(paths)} {p}", file=sys.stderr)
    valid = [r for p in paths for r in gt[p] if r["invalid"] == "0"]
    sizes = {g: sum(fn(r) for r in valid) for g, fn in GROUPS.items()}
    print(f"\n### WIDER FACE val subset: {len(paths)} of 183 images (every {step}th in manifest order), "
          f"{len(valid)} valid faces (median height {np.median([float(r['h']) for r in valid]):.0f} px), IoU 0.5\n")
    res = {name: match(d, gt) for name, d in dets.items()}
    curves = {name: curve(*res[name], lambda r: True, sizes["all valid"]) for name in dets}
    hog_p, _ = at_threshold(*curves["hog up1"], dets_by_name["hog up1"][1])
    targets = [("at default threshold", None), (f"@ P >= {hog_p:.2f} (HOG up1's)", hog_p), ("@ P >= 0.9", 0.9),
               ("@ P >= 0.5", 0.5)]
    print("| detector | ms/image (median) | precision at default | " + " | ".join(
        f"recall {t}" for t, _ in targets) + " |")
    print("|---|---:|---:|" + "---:|" * len(targets))
    for name in dets:
        th, pr, rc = curves[name]
        p0, r0 = at_threshold(th, pr, rc, dets_by_name[name][1])
        cells = [f"{r0:.3f}"] + [f"{recall_at_precision(pr, rc, p):.3f}" for _, p in targets[1:]]
        print(f"| {name} | {1000 * np.median(secs[name]):.0f} | {p0:.3f} | " + " | ".join(cells) + " |")
    print(f"\nRecall by group at P >= {hog_p:.2f} (HOG up1's precision at its default threshold) and at each "
          "detector's default threshold:\n")
    print("| group | faces | " + " | ".join(f"{n} @P | {n} @default" for n in dets) + " |")
    print("|---|---:|" + "---:|---:|" * len(dets))
    for g, fn in GROUPS.items():
        cells = []
        for name in dets:
            th, pr, _ = curves[name]
            _, _, rc = curve(*res[name], fn, sizes[g])
            cells += [f"{recall_at_precision(pr, rc, hog_p):.3f}", f"{at_threshold(th, pr, rc, dets_by_name[name][1])[1]:.3f}"]
        print(f"| {g} | {sizes[g]} | " + " | ".join(cells) + " |")
    base = np.median(secs["hog up1"])
    print("\nTime per image relative to HOG up1 (same images, same run): " +
          ", ".join(f"{n} {np.median(s) / base:.2f}x" for n, s in secs.items()))


def run_pets(n_frames: int, dets_by_name) -> None:
    root = find_dataset("pets2009_s2l1_view001")
    frames = sorted((root / "frames_768x576").glob("frame_*.jpg"))
    step = max(1, len(frames) // n_frames)
    frames = frames[::step][:n_frames]
    heads: dict[int, np.ndarray] = defaultdict(lambda: np.zeros((0, 4)))
    rows = np.loadtxt(root / "gt" / "gt.txt", delimiter=",", ndmin=2)
    for fr, _tid, x, y, w, h, *_ in rows:
        heads[int(fr) - 1] = np.vstack([heads[int(fr) - 1], [[x, y, w, h / 4]]])  # top quarter of the person
    print(f"\n### PETS 2009 S2.L1 view 001: {len(frames)} full-resolution frames (768x576, every {step}th of 100); "
          "no face ground truth\n")
    print("| detector | ms/frame (median) | detections/frame at default | share in a person's top quarter |")
    print("|---|---:|---:|---:|")
    for name, (det, thr) in dets_by_name.items():
        secs, n, inside = [], 0, 0
        for f in frames:
            img = np.asarray(Image.open(f).convert("RGB"))
            t0 = time.perf_counter()
            b, s = det.detect(img)
            secs.append(time.perf_counter() - t0)
            b = b[s >= thr]
            n += len(b)
            hb = heads[int(f.stem.split("_")[1])]
            for x, y, w, h in b:
                cx, cy = x + w / 2, y + h / 2
                inside += bool(((hb[:, 0] <= cx) & (cx <= hb[:, 0] + hb[:, 2]) & (hb[:, 1] <= cy)
                                & (cy <= hb[:, 1] + hb[:, 3])).any())
        share = f"{inside / n:.2f} ({inside}/{n})" if n else "–"
        print(f"| {name} | {1000 * np.median(secs):.0f} | {n / len(frames):.2f} | {share} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=60, help="WIDER images (of 183; default: 60)")
    ap.add_argument("--pets-frames", type=int, default=20, help="PETS frames (of 100; default: 20)")
    a = ap.parse_args(argv)
    import os

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), "
          f"load average at start {os.getloadavg()[0]:.2f}")
    dets = _detectors()
    print("CenterFace: " + ", ".join(f"{k}={v}" for k, v in dets["centerface x2"][0].params().items()))
    run_wider(a.images, dets)
    run_pets(a.pets_frames, dets)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
