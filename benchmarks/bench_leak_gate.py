"""The change-gated face-leak scan against scanning every frame fully (issue 15).

Usage::

    .venv/bin/python benchmarks/bench_leak_gate.py [--limit 795] [--full-every 10] [--detector auto]
                                                  [--json OUT.json]

On the same frames, side by side in one process (CPU seconds from ``time.process_time``), the
whole-frame leak scan (``FaceLeakScanner(mode="frame", upsample=1)``, the audit's default) runs
(a) on every frame fully and (b) gated (:class:`auditkit.features.leak_gate.ChangeGate`, a full scan
every ``--full-every`` frames, changed regions in between). Sources:

- ``pets``: PETS 2009 S2.L1 view 1, the 480x360 mp4 (10 fps tag), every frame;
- ``pets+faces``: the same frames with real faces pasted in: one LFW face (80 px) walking across the
  frame at 4 px per frame, one (48 px) standing still, one (32 px) appearing at frame 200 and leaving
  at frame 400 — leaks a gate must not lose;
- ``jpeg``: the 100 PETS JPEGs at 768x576 (7 fps).

Agreement, per frame, after the scanner's NMS: a full-scan face is *found* by the gated scan when a
gated box overlaps it with IoU >= 0.5; recall = found / full-scan faces; extra = gated boxes matching
no full-scan face; frames with a leak (the audit's leak rate) in both.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from _common import find_dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditkit.data.boxes import box_iou
from auditkit.data.video import iter_frames, iter_image_frames
from auditkit.features.leaks import FaceLeakScanner


def _faces(n: int) -> list[np.ndarray]:
    from PIL import Image

    root = find_dataset("lfw_gray_crops_dev")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".pgm"))[:n]
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def _paste(img: np.ndarray, face: np.ndarray, x: int, y: int, size: int) -> None:
    import cv2

    chip = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    H, W = img.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + size, W), min(y + size, H)
    if x1 > x0 and y1 > y0:
        img[y0:y1, x0:x1] = chip[y0 - y:y1 - y, x0 - x:x1 - x]


def frames(source: str, limit: int | None):
    root = find_dataset("pets2009_s2l1_view001")
    if source == "jpeg":
        yield from iter_image_frames(sorted((root / "frames_768x576").glob("frame_*.jpg")), fps=7.0)
        return
    faces = _faces(3) if source == "pets+faces" else None
    for f in iter_frames(root / "video" / "vtest_480x360.mp4"):
        if limit is not None and f.index >= limit:
            return
        if faces is not None:
            img = f.image.copy()
            _paste(img, faces[0], -80 + 4 * (f.index % 140), 40, 80)  # walks across, again every 140 frames
            _paste(img, faces[1], 400, 250, 48)  # stands still
            if 200 <= f.index < 400:
                _paste(img, faces[2], 60, 280, 32)  # appears, stays, leaves
            f.image = img
        yield f


def scan(source: str, limit: int | None, full_every: int, detector: str) -> tuple[list, float, dict]:
    sc = FaceLeakScanner(mode="frame", upsample=1, detector=detector, full_every=full_every)
    out, cpu = [], 0.0
    for f in frames(source, limit):
        t = time.process_time()
        leaks = sc.scan_frame(f)
        cpu += time.process_time() - t
        out.append([lk.box for lk in leaks])
    return out, cpu, dict(sc.gate.counts) if sc.gate is not None else {}


def agreement(full: list, gated: list) -> dict:
    n_full = found = extra = 0
    for a, b in zip(full, gated):
        used = set()
        for fb in a:
            n_full += 1
            j = next((j for j, gb in enumerate(b) if j not in used and box_iou(fb, gb) >= 0.5), None)
            if j is not None:
                used.add(j)
                found += 1
        extra += len(b) - len(used)
    fr_full = sum(1 for a in full if a)
    fr_gated = sum(1 for b in gated if b)
    return {"frames": len(full), "faces_full": n_full, "found": found, "recall": found / n_full if n_full else None,
            "extra": extra, "frames_with_leak_full": fr_full, "frames_with_leak_gated": fr_gated}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="mp4 frames with index < LIMIT (default all 795)")
    ap.add_argument("--full-every", type=int, default=10)
    ap.add_argument("--detector", default="auto")
    ap.add_argument("--sources", nargs="+", default=["pets", "pets+faces", "jpeg"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    print(f"# {platform.node()} {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} load {os.getloadavg()[0]:.1f}")
    rows = []
    for src in args.sources:
        full, cpu_full, _ = scan(src, args.limit, 1, args.detector)
        gated, cpu_gated, counts = scan(src, args.limit, args.full_every, args.detector)
        ag = agreement(full, gated)
        row = {"source": src, **ag, "cpu_full_s": round(cpu_full, 2), "cpu_gated_s": round(cpu_gated, 2),
               "ms_per_frame_full": round(1000 * cpu_full / max(ag["frames"], 1), 1),
               "ms_per_frame_gated": round(1000 * cpu_gated / max(ag["frames"], 1), 1),
               "speedup": round(cpu_full / cpu_gated, 2) if cpu_gated else None,
               "pixels_scanned_share": round(counts["pixels_scanned"] / counts["pixels_total"], 3),
               "full_scans": counts["full"], "gated_scans": counts["gated"]}
        rows.append(row)
        print(json.dumps(row))
    print("\n| source | frames | faces (full scan) | found by gated | recall | extra | frames with a leak, full / gated "
          "| ms/frame full | ms/frame gated | speed-up | pixels scanned | full scans |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        rec = "-" if r["recall"] is None else f"{r['recall']:.3f}"
        print(f"| {r['source']} | {r['frames']} | {r['faces_full']} | {r['found']} | {rec} | {r['extra']} | "
              f"{r['frames_with_leak_full']} / {r['frames_with_leak_gated']} | {r['ms_per_frame_full']} | "
              f"{r['ms_per_frame_gated']} | {r['speedup']}x | {r['pixels_scanned_share']:.1%} | {r['full_scans']} |")
    if args.json:
        args.json.write_text(json.dumps({"full_every": args.full_every, "detector": args.detector, "rows": rows},
                                        indent=1))


if __name__ == "__main__":
    main()
