"""Obfuscations: how de-identification is applied, so the attacker can re-apply it.

``ObfuscationSpec`` is the parsed form of a user declaration such as ``blur:sigma=6`` or
``pixelate:block=8``; :func:`apply_obfuscation` applies it to a whole image or to a box.
Estimation of what a release applied lives beside this (issue 3).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["METHODS", "ObfuscationSpec", "apply_obfuscation", "parse_spec"]

#: method -> (parameter name, default value)
METHODS: dict[str, tuple[str, float]] = {
    "none": ("", 0.0),
    "blur": ("sigma", 4.0),  # Gaussian blur, sigma in pixels
    "box": ("size", 9.0),  # box (mean) blur, kernel side in pixels
    "pixelate": ("block", 8.0),  # mosaic, block side in pixels
    "mask": ("value", 0.0),  # solid fill with this grey value
    "noise": ("std", 25.0),  # additive Gaussian noise, std in grey levels
}


@dataclass(frozen=True)
class ObfuscationSpec:
    """One obfuscation: a method and its strength (see :data:`METHODS`)."""

    method: str
    strength: float = 0.0
    params: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"unknown obfuscation method {self.method!r}; allowed: {', '.join(METHODS)}"
            )
        if self.method != "none" and not (self.strength >= 0):
            raise ValueError(f"obfuscation strength must be >= 0, got {self.strength!r}")

    @property
    def label(self) -> str:
        if self.method == "none":
            return "none"
        name = METHODS[self.method][0]
        return f"{self.method}:{name}={self.strength:g}"


def parse_spec(text: str) -> ObfuscationSpec:
    """Parse ``method[:param=value]``, e.g. ``blur:sigma=6``, ``pixelate:block=10``, ``mask``.

    >>> parse_spec("blur:sigma=6").strength
    6.0
    """
    text = text.strip()
    method, _, rest = text.partition(":")
    method = method.strip().lower()
    if method not in METHODS:
        raise ValueError(f"unknown obfuscation {text!r}; allowed methods: {', '.join(METHODS)}")
    pname, default = METHODS[method]
    strength = default
    if rest:
        key, eq, value = rest.partition("=")
        if not eq:
            raise ValueError(f"obfuscation parameter must be name=value, got {rest!r} in {text!r}")
        if key.strip() != pname:
            raise ValueError(f"{method} takes parameter {pname!r}, got {key.strip()!r} in {text!r}")
        try:
            strength = float(value)
        except ValueError:
            raise ValueError(f"obfuscation parameter {pname} must be a number, got {value!r}") from None
    return ObfuscationSpec(method, strength)


def _apply_region(region: np.ndarray, spec: ObfuscationSpec, rng: np.random.Generator) -> np.ndarray:
    m, s = spec.method, spec.strength
    if m == "none" or region.size == 0:
        return region
    if m == "blur":
        if s <= 0:
            return region
        k = int(2 * np.ceil(3 * s) + 1)
        return cv2.GaussianBlur(region, (k, k), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REFLECT)
    if m == "box":
        k = max(1, int(round(s)))
        return cv2.blur(region, (k, k), borderType=cv2.BORDER_REFLECT)
    if m == "pixelate":
        b = max(1, int(round(s)))
        h, w = region.shape[:2]
        small = cv2.resize(region, (max(1, w // b), max(1, h // b)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    if m == "mask":
        return np.full_like(region, int(np.clip(s, 0, 255)))
    if m == "noise":
        noisy = region.astype(np.float32) + rng.normal(0.0, s, size=region.shape)
        return np.clip(np.rint(noisy), 0, 255).astype(region.dtype)
    raise AssertionError(m)


def apply_obfuscation(
    image: np.ndarray,
    spec: ObfuscationSpec,
    box: tuple[int, int, int, int] | None = None,
    *,
    seed: int = 0,
) -> np.ndarray:
    """Return a copy of ``image`` (uint8, HxW or HxWxC) with ``spec`` applied.

    ``box`` is ``(x, y, w, h)`` in pixels; ``None`` obfuscates the whole image. The box is
    clipped to the image. ``seed`` makes the noise method deterministic.
    """
    img = np.array(image, copy=True)
    rng = np.random.default_rng(seed)
    if box is None:
        return _apply_region(img, spec, rng)
    x, y, w, h = (int(round(v)) for v in box)
    H, W = img.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return img
    img[y0:y1, x0:x1] = _apply_region(np.ascontiguousarray(img[y0:y1, x0:x1]), spec, rng)
    return img
