"""Face-leak scan of a release's still images: faces a detector still finds through the anonymization.

The image counterpart of :mod:`auditkit.features.leaks` (which scans video frames): every release image
is scanned once with the leak detector (``"auto"``: CenterFace when installed, else dlib HOG; see
:mod:`auditkit.features.face_detectors`), each found face is listed with its box and the detector's
score, and the share of images with at least one face gets a Wilson 95% interval. Results are cached
per image content and detector parameters.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .cache import FeatureCache, cache_key
from .leaks import FaceLeakScanner, leak_rate

__all__ = ["scan_image_leaks"]

VERSION = "1"


def scan_image_leaks(images: Iterable[tuple[str, str | Path, str]], *, detector: str = "auto", upsample: int = 1,
                     cache: FeatureCache | None = None, scanner: FaceLeakScanner | None = None) -> dict[str, Any]:
    """Scan still images for faces still detectable.

    Parameters
    ----------
    images : (name, path, sha256) per image; ``name`` is how the image is listed (e.g. its release path).
    detector, upsample : the face detector and its upsampling (ignored when ``scanner`` is given).
    cache : per-image cache (None: no cache).
    scanner : a configured :class:`~auditkit.features.leaks.FaceLeakScanner` (its ``mode`` is not used:
        whole images are scanned).

    Returns
    -------
    dict
        ``detector`` (resolved name), ``params``, ``images_scanned``, ``images_with_leak``, ``rate``,
        ``rate_ci`` (Wilson 95%; None without images), ``leaks`` (``image``, ``box`` x, y, w, h,
        ``confidence``; by image, highest score first) and ``unreadable`` (names of images that did not
        decode; the audit's skipped list says why).
    """
    from ..data.media import MediaError, load_image

    sc = scanner or FaceLeakScanner(detector=detector, upsample=upsample)
    params = sc.params()
    cache = cache or FeatureCache(None)
    leaks: list[dict[str, Any]] = []
    unreadable: list[str] = []
    n = 0
    for k, (name, path, sha) in enumerate(images):
        key = cache_key(sha, "face_leaks_image", VERSION, params)
        hit = cache.get(key)
        if hit is None:
            try:
                img = load_image(path)
            except MediaError:
                unreadable.append(name)
                continue
            boxes, scores = sc.detect(img)
            hit = {"boxes": np.asarray(boxes, float).reshape(-1, 4), "scores": np.asarray(scores, float)}
            cache.put(key, hit)
        n += 1
        for j in np.argsort(-hit["scores"], kind="stable"):
            leaks.append({"image": name, "frame": k, "box": [round(float(v), 1) for v in hit["boxes"][j]],
                          "confidence": round(float(hit["scores"][j]), 4)})
    r = leak_rate(leaks, n)
    for lk in leaks:
        del lk["frame"]
    return {"detector": sc.detector, "params": params, "images_scanned": n,
            "images_with_leak": r["frames_with_leak"], "rate": r["rate"], "rate_ci": r["rate_ci"],
            "leaks": leaks, "unreadable": unreadable}
