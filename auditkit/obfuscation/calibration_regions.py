"""Where the strength calibration reads the clear gallery (issue 13): which gallery images, and
which regions in them, stand for the release's face regions.

A release region keeps its size in pixels (the strength is in pixels, and what the estimator
reads depends on the region's pixel size): it is drawn on a gallery face when the gallery image
has a detected one (the image shrunk so that the face has the region's size, alternating a tight
and a 1.3x-grown framing), else at the same relative place of the gallery image
(:func:`map_region`). Used by :mod:`.calibrate` and :mod:`.none_limit`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["FRAMINGS", "N_IMAGES", "REGIONS_PER_IMAGE", "calibration_images", "map_region", "region_crops"]

#: calibration images (a seeded sample of the gallery)
N_IMAGES = 12
#: release regions drawn on each calibration image when the release obfuscated regions only
#: (faces in their boxes): the calibration then spans the release's box sizes, which decide
#: what the estimator reads on small faces (the cells across a 30-px mosaic, say)
REGIONS_PER_IMAGE = 8
#: a release box is as tall as the face, or grown about it (deface's default ``--mask-scale`` is
#: 1.3); which one is not known, so the regions drawn on gallery faces alternate between the two
FRAMINGS = (1.0, 1.3)


def calibration_images(gallery_info: Sequence[dict], regions: list, per: int, rng: np.random.Generator
                       ) -> list[tuple[np.ndarray, Any]]:
    """Up to :data:`N_IMAGES` clear gallery images (seeded sample; unreadable ones skipped), each
    with the region(s) to estimate in: ``per`` release regions drawn by :func:`map_region` (one
    box, or a list when ``per > 1``), else the gallery face box (``None`` for a whole image)."""
    from ..data.media import MediaError, load_image

    order = rng.permutation(len(gallery_info))[: N_IMAGES * 2]
    images: list[tuple[np.ndarray, Any]] = []
    for i in sorted(order.tolist()):
        inf = gallery_info[i]
        try:
            img = load_image(inf["path"])
        except (MediaError, OSError, KeyError):
            continue
        H, W = img.shape[:2]
        if regions:
            k = len(images) * per
            box: Any = [map_region(*regions[(k + j) % len(regions)], (W, H)) for j in range(per)]
            box = box[0] if per == 1 else box
            if per > 1 and inf.get("source") == "detector" and inf.get("box") is not None:
                # a face in the gallery image: each release region is drawn on it, at the region's size
                img = [_on_gallery_face(img, inf["box"], b, FRAMINGS[j % len(FRAMINGS)]) for j, b in enumerate(box)]
        else:
            box = None if inf.get("source") == "whole_image" else tuple(int(v) for v in inf["box"])
        images.append((img, box))
        if len(images) >= N_IMAGES:
            break
    return images


def region_crops(img: Any, boxes: list) -> list[np.ndarray]:
    """The clear pixels of each region: ``img`` itself when it is already the list of crops."""
    if isinstance(img, list):
        return img
    return [img if b is None else img[b[1]:b[1] + b[3], b[0]:b[0] + b[2]] for b in boxes]


def _on_gallery_face(img: np.ndarray, face: Sequence[int], box: Sequence[int], framing: float = 1.0) -> np.ndarray:
    """The clear crop of a release region of ``box``'s size drawn on the gallery face ``face``:
    the gallery image is first shrunk (pixel-area averaging, as a camera farther away records
    it) so that the face is ``1 / framing`` as tall as the region, when the face is taller."""
    import cv2

    w, h = int(box[2]), int(box[3])
    fx, fy, fw, fh = (float(v) for v in face)
    H0, W0 = img.shape[:2]
    f = min(1.0, h / framing / max(fh, 1.0))
    if f < 0.999:
        img = cv2.resize(img, (max(w, round(W0 * f)), max(h, round(H0 * f))), interpolation=cv2.INTER_AREA)
    H, W = img.shape[:2]
    cx, cy = (fx + fw / 2) * W / W0, (fy + fh / 2) * H / H0
    x0 = int(min(max(0, round(cx - w / 2)), max(0, W - w)))
    y0 = int(min(max(0, round(cy - h / 2)), max(0, H - h)))
    return img[y0:y0 + h, x0:x0 + w]


def map_region(box: Sequence[int], size: tuple[int, int], to: tuple[int, int]) -> tuple[int, int, int, int]:
    """A release region ``box`` of an image of ``size`` (W, H) drawn on an image of size ``to``:
    its centre at the same relative place, its width and height in *pixels* unchanged (the
    strength is in pixels, and what the estimator reads -- the cells across a mosaic, the detail
    a blur removes -- depends on the region's pixel size, not on the frame's: a 14-px face of a
    1024-px crowd photo stays 14 px on a gallery image of any size), shifted inside the image
    and clipped to it when larger (never below 8 px)."""
    (x, y, w, h), (rw, rh), (W, H) = box, size, to
    w, h = max(8, min(int(w), W)), max(8, min(int(h), H))
    cx, cy = (x + w / 2) * W / rw, (y + h / 2) * H / rh
    x0 = int(min(max(0, round(cx - w / 2)), max(0, W - w)))
    y0 = int(min(max(0, round(cy - h / 2)), max(0, H - h)))
    return x0, y0, w, h


def _release_regions(release_info: Sequence[dict], rng: np.random.Generator, k: int = N_IMAGES
                     ) -> list[tuple[tuple[int, int, int, int], tuple[int, int]]]:
    """Up to ``k`` release face boxes (seeded sample) with their image's size (read from the
    file's header, once per file); rows whose file cannot be read are left out."""
    from PIL import Image

    out, sizes = [], {}
    for i in rng.permutation(len(release_info))[: k * 2].tolist():
        inf = release_info[i]
        try:
            if inf["path"] not in sizes:
                with Image.open(inf["path"]) as im:
                    sizes[inf["path"]] = im.size
            size = sizes[inf["path"]]
            box = tuple(int(v) for v in inf["box"])
        except (OSError, KeyError, TypeError, ValueError):
            continue
        if len(box) == 4 and min(size) > 0:
            out.append((box, size))
        if len(out) >= k:
            break
    return out
