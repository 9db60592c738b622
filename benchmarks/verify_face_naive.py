"""Independent re-computation of face.naive's rank-1 from a results.json, with
face_recognition's own API (same dlib models), for the "figures reproduce" check.

    .venv/bin/python benchmarks/verify_face_naive.py OUT/results.json

It re-reads the audited files (gallery/<identity>/..., release + manifest.csv), encodes each
image the way a face_recognition user would (HOG detector, 1x upsampling, largest face; the whole
image when no face is found — auditkit's fallback), takes each identity's best match by
face_distance and prints the rank-1 next to auditkit's, with the difference.
"""
from __future__ import annotations

import csv
import json
import sys
import warnings
from pathlib import Path

import numpy as np


def encode(face_recognition, path: Path) -> np.ndarray:
    img = face_recognition.load_image_file(path)
    locs = face_recognition.face_locations(img, number_of_times_to_upsample=1, model="hog")
    if locs:
        locs = [max(locs, key=lambda l: (l[2] - l[0]) * (l[1] - l[3]))]
    else:
        locs = [(0, img.shape[1], img.shape[0], 0)]
    return face_recognition.face_encodings(img, locs)[0]


def main(results_path: str) -> int:
    warnings.simplefilter("ignore")
    import face_recognition

    r = json.loads(Path(results_path).read_text())
    groot, rroot = Path(r["inputs"]["gallery"]["path"]), Path(r["inputs"]["release"]["path"])
    G, L = [], []
    for f in r["inputs"]["gallery"]["files"]:
        G.append(encode(face_recognition, groot / f["path"]))
        L.append(Path(f["path"]).parts[0])
    G = np.array(G)
    labels = sorted(set(L))
    rows = list(csv.DictReader((rroot / "manifest.csv").open()))
    hits = n = 0
    for row in rows:
        if row.get("subject") not in labels:
            continue
        d = face_recognition.face_distance(G, encode(face_recognition, rroot / row["path"]))
        best = {lab: min(d[i] for i in range(len(L)) if L[i] == lab) for lab in labels}
        hits += min(best, key=best.get) == row["subject"]
        n += 1
    naive = next(a for a in r["attacks"] if a["name"] == "face.naive")["metrics"]["rank1"]
    print(f"independent rank-1 {hits / n:.4f} (n={n})  auditkit face.naive rank-1 {naive:.4f}  "
          f"difference {abs(hits / n - naive):.4f}")
    return 0 if abs(hits / n - naive) <= 0.02 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
