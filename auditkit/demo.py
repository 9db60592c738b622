"""``auditkit demo``: blur real faces into a "de-identified" release and audit it.

Faces come from ``--faces DIR`` / ``$AUDITKIT_DEMO_FACES`` (any ``<identity>/<images>``
folder, e.g. the AT&T faces). With neither, ``auditkit demo`` audits a generated street scene
instead (:mod:`auditkit.demo_scene`): nothing is ever downloaded.
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

__all__ = ["build_demo", "demo_faces"]

FACES_HELP = (
    "point the demo at a folder of <identity>/<image> faces: auditkit demo --faces DIR "
    "(or set AUDITKIT_DEMO_FACES=DIR), e.g. the AT&T faces (see datasets/README.md)"
)


def demo_faces(faces: Path | None) -> Path | None:
    """The demo's faces folder: ``faces``, else ``$AUDITKIT_DEMO_FACES``, else None (the generated
    scene demo, :mod:`auditkit.demo_scene`). Nothing is downloaded."""
    if faces is None and os.environ.get("AUDITKIT_DEMO_FACES"):
        faces = Path(os.environ["AUDITKIT_DEMO_FACES"])
    if faces is not None and not Path(faces).is_dir():
        raise InputError(f"demo faces folder not found: {faces}\nEither {FACES_HELP}, or leave both unset for "
                         "the generated street-scene demo.")
    return Path(faces) if faces is not None else None


def build_demo(out: Path, *, faces: Path | None = None, spec: ObfuscationSpec | None = None,
               n_gallery: int = 5, max_identities: int | None = None, seed: int = 0) -> tuple[Path, Path]:
    """Create ``out/gallery`` (clear) and ``out/release`` (obfuscated, with manifest.csv).

    Per identity, ``n_gallery`` images (chosen with ``seed``) go to the gallery; the others are
    obfuscated whole-image (the faces fill these images) and go to the release.
    """
    spec = spec or ObfuscationSpec("blur", 6.0)
    faces = demo_faces(faces)
    if faces is None:
        raise InputError(f"the face demo needs real faces: {FACES_HELP}")
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
