"""What a face attack receives: the extracted features and the means to extract more.

Attacks are functions ``attack(ctx: FaceContext) -> AttackResult | None`` registered in
:data:`FACE_ATTACKS` with :func:`register` by :mod:`auditkit.attacks.registry`; ``None`` means
"could not run here" and the attack adds a note saying why. Attacks never read files themselves:
the context supplies decoded images and hashes (``gallery_images``, ``release_image``,
``release_file``) and cached, parallel face extraction with an optional transform such as an
obfuscation (``encode``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.boxes import box_iou
from ..features.cache import FeatureCache
from ..features.faces import FaceParams, ImageFaces, Task, extract_many, largest_face
from ..result import AttackResult, Skipped
from .base import FeatureSet
from .contract import as_function

__all__ = ["FACE_ATTACKS", "FaceContext", "pick_face", "probe_like_hint", "register"]


@dataclass
class FaceContext:
    gallery: FeatureSet  # clear gallery encodings; info rows: path, sha256, box, source
    probes: FeatureSet  # release faces; info rows: file, box, source, detector_score, camera, timestamp
    release_root: Path
    params: FaceParams
    cache: FeatureCache
    spec: str | None = None  # obfuscation the attacker assumes (declared or estimated), e.g. "blur:sigma=6"
    spec_source: str = ""
    scope: str = "face"  # "face" regions or whole "frame"
    jobs: int = 1
    executor: str = "local"  # "local" process pool | "dask" (see auditkit.features.executors)
    scheduler: str | None = None  # Dask scheduler address; None: a local Dask cluster
    progress: bool = True
    seed: int = 0
    encoder_id: str = ""
    #: the vendor's anonymizer run over the clear gallery (an auditkit.obfuscation.vendor.VendorRun),
    #: whose output the parrot, pixels and learned attackers use instead of re-applying ``spec``
    vendor: Any = None
    #: the gallery rows already hold obfuscated images (a view on the vendor's output): ``spec`` is "none"
    obfuscated_gallery: bool = False
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def matching(self) -> dict[str, Any]:
        """Where identity matching runs: the same executor as extraction (see identity_scores)."""
        return {"executor": self.executor, "scheduler": self.scheduler, "jobs": max(self.jobs, 2)}

    # ---- the features stage's file access: attacks get arrays and hashes from here, never open files
    def gallery_images(self) -> list[np.ndarray | None]:
        """The decoded clear gallery image of each gallery row (None where it cannot be decoded)."""
        from ..data.media import MediaError, load_image

        imgs: list[np.ndarray | None] = []
        for gid, inf in zip(self.gallery.ids, self.gallery.info):
            try:
                imgs.append(load_image(inf["path"]))
            except MediaError as e:  # decoded once at load: a file changed since is listed, not fatal
                self.skipped.append(Skipped(gid, e.reason, "gallery re-read"))
                imgs.append(None)
        return imgs

    def release_image(self, rel: str, path: str | Path | None = None) -> np.ndarray:
        """The decoded release item ``rel`` (raises :class:`~auditkit.data.media.MediaError`).
        ``path``: the item's own file when it is not ``release_root / rel`` (one frame of a
        multi-page image, ``file#pageN``, is split into a file of its own: the info row's ``path``)."""
        from ..data.media import load_image

        return load_image(path or Path(self.release_root) / rel)

    def release_file(self, rel: str, sha256: str | None = None, path: str | Path | None = None) -> tuple[str, str]:
        """(path, SHA-256) of the release item ``rel`` (``path`` as in :meth:`release_image`), for
        an encoding task; hashed here when the release listing did not carry the hash (raises
        OSError when it cannot be read)."""
        from ..data.media import sha256_file

        p = Path(path) if path else Path(self.release_root) / rel
        return str(p), sha256 if sha256 is not None else sha256_file(p)

    def encode(self, tasks: list[Task], *, label: str = "faces") -> dict[tuple, ImageFaces | str]:
        """Cached, parallel face extraction (see :func:`auditkit.features.faces.extract_many`)."""
        return extract_many(tasks, self.params, self.cache, jobs=self.jobs, progress=self.progress, label=label,
                            executor=self.executor, scheduler=self.scheduler)


#: name -> attack function; insertion order is the ladder order in the report. Filled by
#: :mod:`auditkit.attacks.registry` (import that module, not this dict, to get the whole ladder).
FACE_ATTACKS: dict[str, Callable[[FaceContext], AttackResult | None]] = {}

FaceAttack = Callable[[FaceContext], "AttackResult | None"]


def register(name: str, fn: FaceAttack | None = None):
    """Register ``fn`` as the face attack ``name``: ``register(name, fn)``, or as a decorator
    ``@register(name)``. ``fn`` is an :class:`~auditkit.attacks.contract.Attack` subclass
    (constructed with the FaceContext) or a function of the FaceContext. Registering a name
    twice is an error (two rungs cannot share a name)."""
    def add(f: FaceAttack) -> FaceAttack:
        fn = as_function(f)
        if name in FACE_ATTACKS and FACE_ATTACKS[name] is not fn:
            raise ValueError(f"face attack {name!r} is registered twice")
        FACE_ATTACKS[name] = fn
        return f

    return add(fn) if fn is not None else add


def probe_like_hint(ctx: FaceContext) -> bool:
    """Whether the release faces were located without a manifest box (whole-image fallback or
    detection only): the obfuscated gallery is then extracted the same way (no hint box)."""
    return not any(inf.get("source") == "manifest_box" for inf in ctx.probes.info)


def pick_face(r: ImageFaces, hint: tuple[int, int, int, int] | None, fallback_box) -> int:
    """Which face of an extraction ``r`` is the one meant: the best overlap with ``hint`` (a
    manifest box), else the largest detection, else the best overlap with ``fallback_box``."""
    if hint is not None:
        return int(np.argmax([box_iou(hint, b) for b in r.boxes]))
    if (r.sources == "detector").any():  # the largest detection, as the audit picks release faces
        return largest_face(r)
    return int(np.argmax([box_iou(fallback_box, b) for b in r.boxes]))
