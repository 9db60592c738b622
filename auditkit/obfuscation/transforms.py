"""Image transforms an attacker applies before face extraction, named by a text so they can be
part of a cache key.

A transform text is one or more steps separated by ``|``, applied left to right:

``blur:sigma=6`` (any obfuscation spec, see :mod:`auditkit.obfuscation.spec`)
    apply that obfuscation (the parrot attacker's move);
``flip``
    mirror the image left-right (an augmentation for trained attackers);
``reconstruct:blur:sigma=6``
    invert that obfuscation as well as it can be inverted: Wiener deconvolution with the
    Gaussian or box kernel for ``blur``/``box``, smooth de-pixelation (block means resampled
    bicubically) for ``pixelate``, non-local-means denoising for ``noise``. ``mask`` and
    ``none`` cannot be reconstructed and raise ``ValueError``.

The ``region`` box ``(x, y, w, h)`` is given in the coordinates of the input image; a ``flip``
step mirrors it too, so later steps act on the same face.

>>> import numpy as np
>>> img = np.zeros((10, 20, 3), np.uint8); img[:, :5] = 255
>>> apply_transform(img, "flip")[:, -5:].min()
255
"""
from __future__ import annotations

import numpy as np

from .spec import ObfuscationSpec, apply_obfuscation, parse_spec

__all__ = [
    "RECONSTRUCTABLE",
    "WIENER_BALANCE",
    "apply_transform",
    "box_psf",
    "gaussian_psf",
    "parse_transform",
    "reconstruct",
]

#: obfuscation methods :func:`reconstruct` can (approximately) invert
RECONSTRUCTABLE = ("blur", "box", "pixelate", "noise")
#: Wiener regularisation (noise-to-signal power ratio) per kernel, for 8-bit images. Gaussian:
#: chosen on 12 AT&T faces by the encoding distance of reconstructed to clear images (0.003-0.01
#: best; see benchmarks/README.md). Box: its kernel's spectrum has zeros, so it needs more
#: regularisation (0.1 was best on generated images; 0.01 rings and is worse than no inversion).
WIENER_BALANCE = {"blur": 0.01, "box": 0.1}


def parse_transform(text: str) -> list[tuple[str, ObfuscationSpec | None]]:
    """Split a transform text into steps ``("flip", None)``, ``("obfuscate", spec)`` or
    ``("reconstruct", spec)``; raises ``ValueError`` naming the bad step."""
    steps: list[tuple[str, ObfuscationSpec | None]] = []
    if not text or not text.strip():
        raise ValueError("empty transform text; expected e.g. 'blur:sigma=6', 'flip|blur:sigma=6' "
                         "or 'reconstruct:blur:sigma=6'")
    for raw in text.split("|"):
        step = raw.strip()
        if step.lower() == "flip":
            steps.append(("flip", None))
        elif step.lower().startswith("reconstruct:"):
            spec = parse_spec(step.split(":", 1)[1])
            if spec.method not in RECONSTRUCTABLE:
                raise ValueError(f"cannot reconstruct {spec.label!r} (step {step!r} of {text!r}); "
                                 f"reconstructable methods: {', '.join(RECONSTRUCTABLE)}")
            steps.append(("reconstruct", spec))
        else:
            try:
                steps.append(("obfuscate", parse_spec(step)))
            except ValueError as e:
                raise ValueError(f"bad transform step {step!r} in {text!r}: {e}; steps are 'flip', "
                                 "an obfuscation spec, or 'reconstruct:<spec>'") from None
    return steps


def gaussian_psf(sigma: float) -> np.ndarray:
    """The normalised Gaussian kernel :func:`auditkit.obfuscation.spec.apply_obfuscation` blurs with
    (side ``2 * ceil(3 sigma) + 1``, as OpenCV's)."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    k = int(2 * np.ceil(3 * sigma) + 1)
    x = np.arange(k) - (k - 1) / 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    g /= g.sum()
    return np.outer(g, g)


def box_psf(size: float) -> np.ndarray:
    """The normalised ``size`` x ``size`` mean kernel (rounded as the box obfuscation rounds)."""
    k = max(1, round(size))
    return np.full((k, k), 1.0 / (k * k))


def _wiener(region: np.ndarray, psf: np.ndarray, balance: float) -> np.ndarray:
    from skimage.restoration import wiener

    pad = psf.shape[0]
    f = region.astype(np.float64) / 255.0
    chans = f[..., None] if f.ndim == 2 else f
    out = np.empty_like(chans)
    for c in range(chans.shape[2]):
        # reflect padding: the obfuscation blurred with reflected borders, and the FFT-based
        # deconvolution would otherwise wrap the opposite edge into the face
        p = np.pad(chans[..., c], pad, mode="reflect")
        r = wiener(p, psf, balance, clip=False)
        out[..., c] = r[pad:-pad, pad:-pad]
    out = out[..., 0] if f.ndim == 2 else out
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def _depixelate(region: np.ndarray, block: float) -> np.ndarray:
    import cv2

    b = max(1, round(block))
    h, w = region.shape[:2]
    # the mosaic's cells: the same grid apply_obfuscation used (w // b x h // b cells)
    small = cv2.resize(region, (max(1, w // b), max(1, h // b)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def reconstruct(region: np.ndarray, spec: ObfuscationSpec, *, balance: float | None = None) -> np.ndarray:
    """Approximately invert ``spec`` on ``region`` (uint8, HxW or HxWxC); returns a uint8 copy.

    Parameters
    ----------
    region : the obfuscated pixels.
    spec : the obfuscation that was applied (declared or estimated).
    balance : Wiener regularisation for ``blur``/``box`` (higher = smoother, less ringing);
        default :data:`WIENER_BALANCE` of the method.
    """
    m, s = spec.method, spec.strength
    if balance is None:
        balance = WIENER_BALANCE.get(m, 0.0)
    if m not in RECONSTRUCTABLE:
        raise ValueError(f"cannot reconstruct {spec.label!r}; reconstructable methods: {', '.join(RECONSTRUCTABLE)}")
    if region.size == 0:
        return region.copy()
    if m == "blur":
        return region.copy() if s <= 0 else _wiener(region, gaussian_psf(s), balance)
    if m == "box":
        return region.copy() if round(s) <= 1 else _wiener(region, box_psf(s), balance)
    if m == "pixelate":
        return region.copy() if round(s) <= 1 else _depixelate(region, s)
    import cv2  # noise: non-local means with a filter strength matched to the noise std

    h = float(max(1.0, 0.8 * s))
    if region.ndim == 3 and region.shape[2] == 3:
        return cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(region), None, h, h, 7, 21)
    return cv2.fastNlMeansDenoising(np.ascontiguousarray(region), None, h, 7, 21)


def apply_transform(image: np.ndarray, text: str, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Apply the transform named ``text`` to ``region`` (x, y, w, h) of ``image`` (whole image if None).

    Returns a new array; ``image`` is not modified.
    """
    img = np.array(image, copy=True)
    box = tuple(round(v) for v in region) if region is not None else None
    for kind, spec in parse_transform(text):
        if kind == "flip":
            img = np.ascontiguousarray(img[:, ::-1])
            if box is not None:
                x, y, w, h = box
                box = (img.shape[1] - x - w, y, w, h)
        elif kind == "obfuscate":
            img = apply_obfuscation(img, spec, box=box)
        else:
            if box is None:
                img = reconstruct(img, spec)
            else:
                x, y, w, h = box
                H, W = img.shape[:2]
                x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
                if x1 > x0 and y1 > y0:
                    img[y0:y1, x0:x1] = reconstruct(np.ascontiguousarray(img[y0:y1, x0:x1]), spec)
    return img
