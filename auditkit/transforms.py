"""Image transforms an attacker applies before face extraction, named by a text so they can be
part of a cache key: an obfuscation spec (``blur:sigma=6``, see :mod:`auditkit.obfuscation`)."""
from __future__ import annotations

import numpy as np

from .obfuscation import apply_obfuscation, parse_spec

__all__ = ["apply_transform"]


def apply_transform(image: np.ndarray, text: str, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Apply the transform named ``text`` to ``region`` (x, y, w, h) of ``image`` (whole image if None)."""
    return apply_obfuscation(image, parse_spec(text), box=tuple(region) if region else None)
