"""What a face attack receives: the extracted features and the means to extract more.

Attacks are functions ``attack(ctx: FaceContext) -> AttackResult | None`` registered in
:data:`FACE_ATTACKS` with :func:`register` by :mod:`auditkit.attacks.registry`; ``None`` means
"could not run here" and the attack adds a note saying why. Attacks never read files themselves
except through ``ctx.encode`` (cached, parallel face extraction with an optional transform such
as an obfuscation).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..features.cache import FeatureCache
from ..features.faces import FaceParams, ImageFaces, Task, extract_many
from ..result import AttackResult, Skipped
from .base import FeatureSet

__all__ = ["FACE_ATTACKS", "FaceContext", "register"]


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
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def matching(self) -> dict[str, Any]:
        """Where identity matching runs: the same executor as extraction (see identity_scores)."""
        return {"executor": self.executor, "scheduler": self.scheduler, "jobs": max(self.jobs, 2)}

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
    ``@register(name)``. Registering a name twice is an error (two rungs cannot share a name)."""
    def add(f: FaceAttack) -> FaceAttack:
        if name in FACE_ATTACKS and FACE_ATTACKS[name] is not f:
            raise ValueError(f"face attack {name!r} is registered twice")
        FACE_ATTACKS[name] = f
        return f

    return add(fn) if fn is not None else add
