"""``auditkit demo``: blur real faces into a "de-identified" release and audit it.

Faces come from ``--faces DIR`` / ``$AUDITKIT_DEMO_FACES`` (any ``<identity>/<images>``
folder, e.g. the AT&T faces) or else scikit-learn's Olivetti faces (``fetch_olivetti_faces``,
its standard data home and cache). Offline with neither, it stops and says what to do.
"""
from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np

from .data.inputs import InputError
from .data.media import MediaError, is_image, load_image
from .obfuscation.spec import ObfuscationSpec, apply_obfuscation

__all__ = ["build_demo", "olivetti_to_folder"]

OFFLINE_HELP = (
    "The demo needs real faces. Either:\n"
    "  * run it once with network access, so scikit-learn downloads the Olivetti faces into its data home; or\n"
    "  * point it at a folder of <identity>/<image> faces: auditkit demo --faces DIR "
    "(or set AUDITKIT_DEMO_FACES=DIR), e.g. the AT&T faces (see datasets/README.md)."
)


def olivetti_to_folder(dest: Path) -> Path:
    """Write scikit-learn's Olivetti faces (40 people x 10) as ``dest/sNN/k.png``."""
    from PIL import Image
    from sklearn.datasets import fetch_olivetti_faces

    try:
        data = fetch_olivetti_faces()
    except Exception as e:  # noqa: BLE001  URLError, OSError, HTTPError...: all mean "could not get it"
        raise InputError(f"could not obtain scikit-learn's Olivetti faces ({type(e).__name__}: {e}).\n{OFFLINE_HELP}") from None
    dest.mkdir(parents=True, exist_ok=True)
    counts: dict[int, int] = {}
    for img, target in zip(data.images, data.target):
        k = counts.get(int(target), 0) + 1
        counts[int(target)] = k
        d = dest / f"s{int(target) + 1:02d}"
        d.mkdir(exist_ok=True)
        arr = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
        Image.fromarray(arr).resize((128, 128), Image.BICUBIC).save(d / f"{k}.png")
    return dest


def build_demo(out: Path, *, faces: Path | None = None, spec: ObfuscationSpec | None = None,
               n_gallery: int = 5, max_identities: int | None = None, seed: int = 0) -> tuple[Path, Path]:
    """Create ``out/gallery`` (clear) and ``out/release`` (obfuscated, with manifest.csv).

    Per identity, ``n_gallery`` images (chosen with ``seed``) go to the gallery; the others are
    obfuscated whole-image (the faces fill these images) and go to the release.
    """
    spec = spec or ObfuscationSpec("blur", 6.0)
    faces = faces or (Path(os.environ["AUDITKIT_DEMO_FACES"]) if os.environ.get("AUDITKIT_DEMO_FACES") else None)
    if faces is None:
        faces = olivetti_to_folder(out / "olivetti")
    faces = Path(faces)
    if not faces.is_dir():
        raise InputError(f"demo faces folder not found: {faces}\n{OFFLINE_HELP}")
    gallery, release = out / "gallery", out / "release"
    for d in (gallery, release):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    ids = sorted(p for p in faces.iterdir() if p.is_dir() and not p.name.startswith("."))
    if max_identities:
        ids = ids[:max_identities]
    rows = []
    from PIL import Image

    for ident in ids:
        imgs = sorted(p for p in ident.rglob("*") if p.is_file() and is_image(p))
        if len(imgs) < 2:
            continue
        order = rng.permutation(len(imgs))
        k = min(n_gallery, len(imgs) - 1)
        for i in order[:k]:
            (gallery / ident.name).mkdir(exist_ok=True)
            shutil.copy2(imgs[i], gallery / ident.name / imgs[i].name)
        for n, i in enumerate(order[k:]):
            try:
                img = load_image(imgs[i])
            except MediaError:
                continue
            name = f"{ident.name}_{n:03d}.png"  # keeps the subject in the manifest, not in pixels
            Image.fromarray(apply_obfuscation(img, spec, seed=seed)).save(release / name)
            rows.append({"path": name, "subject": ident.name, "obfuscation": spec.label})
    if len({r["subject"] for r in rows}) < 2:
        raise InputError(f"{faces}: need at least two identity folders with two or more images each")
    with open(release / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["path", "subject", "obfuscation"])
        w.writeheader()
        w.writerows(rows)
    return gallery, release
