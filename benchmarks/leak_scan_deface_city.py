"""The image leak scan on deface's own example: faces still detectable after deface anonymized a street photo.

    .venv/bin/python benchmarks/leak_scan_deface_city.py

``deface_city_example`` (its SOURCE.md): ``city.jpg`` (clear, ~20 people) and deface's outputs for it. With
``--thresh 0.7`` deface blurs only the faces its own detector scores above 0.7, so the others stay clear and
should show as leaks; its default (0.2) blurs more of them. Each detector scans every image
(:func:`auditkit.features.image_leaks.scan_image_leaks`, no cache); a found face is counted as a leak of
a face of the clear photo when it overlaps one of the faces found in ``city.jpg`` by IoU >= 0.3.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from auditkit.data.media import sha256_file
from auditkit.features.image_leaks import scan_image_leaks
from auditkit.features.leaks import FaceLeakScanner
from auditkit.features.people import box_iou_matrix
from benchmarks._common import find_dataset

IMAGES = ["city.jpg", "city_anonymized_thresh0.7.jpg", "city_anonymized.jpg", "city_anonymized_thresh0.02.jpg",
          "city_anonymized_mosaic.jpg", "city_anonymized_boxes.jpg"]


def main() -> int:
    root = find_dataset("deface_city_example")
    print("| image | " + " | ".join(f"{d}: faces (of clear) | {d}: max score" for d in ("hog", "centerface")) + " |")
    print("|---|" + "---:|---:|" * 2)
    rows: dict[str, list[str]] = {name: [] for name in IMAGES}
    secs = {}
    for det in ("hog", "centerface"):
        scanner = FaceLeakScanner(detector=det, upsample=1)
        t0 = time.perf_counter()
        res = scan_image_leaks([(n, root / n, sha256_file(root / n)) for n in IMAGES], scanner=scanner)
        secs[det] = (time.perf_counter() - t0) / len(IMAGES)
        by = {n: np.array([lk["box"] for lk in res["leaks"] if lk["image"] == n]).reshape(-1, 4) for n in IMAGES}
        sc = {n: [lk["confidence"] for lk in res["leaks"] if lk["image"] == n] for n in IMAGES}
        clear = by["city.jpg"]
        for n in IMAGES:
            of_clear = int((box_iou_matrix(by[n], clear).max(axis=1) >= 0.3).sum()) if len(by[n]) and len(clear) else 0
            rows[n] += [f"{len(by[n])} ({of_clear})", f"{max(sc[n]):.2f}" if sc[n] else "–"]
        ci = res["rate_ci"]
        print(f"<!-- {det}: {res['images_with_leak']}/{res['images_scanned']} images with a face, "
              f"rate {res['rate']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}] -->", file=sys.stderr)
    for n in IMAGES:
        print(f"| {n} | " + " | ".join(rows[n]) + " |")
    print("\nseconds per image (800x564, upsample 1, one core): " + ", ".join(f"{d} {s:.2f}" for d, s in secs.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
