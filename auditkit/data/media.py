"""Safe decoding and hashing of media files.

Every decoding problem becomes a :class:`MediaError` naming the file and the problem; callers
turn it into a ``Skipped`` record so one bad file never aborts an audit.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .safe_files import MAX_FRAMES, _has_alpha, open_regular

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "VIDEO_EXTENSIONS",
    "MediaError",
    "is_image",
    "is_video",
    "load_image",
    "sha256_file",
    "split_frames",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".pgm", ".ppm",
                              ".webp", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv"})

#: Images above this many pixels are refused as possible decompression bombs (about 8K x 8K).
MAX_PIXELS = 64_000_000

_CHUNK = 1 << 20


class MediaError(Exception):
    """A file that cannot be used, with the reason. ``str()`` names the file."""

    def __init__(self, path: str | Path, reason: str):
        from .safe_files import display_name

        self.path = display_name(str(path))
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, streamed (constant memory)."""
    from .safe_files import sha256_regular

    return sha256_regular(path)[0]  # regular files only: a FIFO would block a plain open()


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _to_rgb8(img: Image.Image, path: Path) -> np.ndarray:
    """Any PIL mode -> HxWx3 uint8 RGB. 16-bit and float images are rescaled, not clipped."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 65535.0 * 255.0
        else:  # 32-bit int or float: use the observed range
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        # Transparency never hides pixels from the attacker (issue 10): the colour channels are
        # audited as they are, since anyone holding the file simply drops the alpha channel.
        # (Compositing on a background would let a face hidden by alpha=0 pass as blank.)
        arr = np.asarray(img.convert("RGBA"), dtype=np.uint8)[:, :, :3]
        return np.ascontiguousarray(arr)
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(arr)


def load_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image to HxWx3 uint8 RGB with its EXIF orientation applied.

    Raises :class:`MediaError` (naming the file) for missing, empty, truncated, non-image,
    oversized (decompression bomb) or undecodable files.
    """
    p = Path(path)
    try:
        fd = open_regular(p)  # a FIFO or device is refused here, never read (it could block)
    except OSError as e:
        raise MediaError(p, f"cannot read file ({e.strerror or e})") from None
    fh = os.fdopen(fd, "rb")
    try:
        return _decode(p, fh, max_pixels)
    finally:
        fh.close()


def _decode(p: Path, fh, max_pixels: int) -> np.ndarray:
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        raise MediaError(p, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fh) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise MediaError(
                        p, f"image too large: {w}x{h} = {w * h:,} pixels (limit {max_pixels:,}); "
                        "possible decompression bomb"
                    )
                # face_recognition sets ImageFile.LOAD_TRUNCATED_IMAGES = True when it is
                # imported, which would make a half-written file decode silently with grey
                # padding. An audit must refuse it instead, whatever was imported before.
                ImageFile.LOAD_TRUNCATED_IMAGES = False
                img.load()  # full decode: truncated data fails here
                img = ImageOps.exif_transpose(img)
                return _to_rgb8(img, p)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise MediaError(p, f"refused as a possible decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise MediaError(p, "not a readable image (unknown or corrupt format)") from None
    except OSError as e:
        msg = str(e)
        if "truncated" in msg.lower():
            raise MediaError(p, f"truncated image ({msg})") from None
        raise MediaError(p, f"cannot decode image ({msg})") from None
    except (ValueError, SyntaxError, MemoryError) as e:
        raise MediaError(p, f"cannot decode image ({type(e).__name__}: {e})") from None


def split_frames(path: str | Path, dest: Path, *, max_frames: int = MAX_FRAMES,
                 max_pixels: int | None = None) -> tuple[list[Path], int, str | None]:
    """Write each frame of a multi-frame image to ``dest/NNNNN.png`` (lossless).

    Returns (frame files, number of frames in the file, note or None). Frames are composited as
    a viewer shows them (GIF/APNG/WebP disposal) and EXIF orientation is applied. At most
    ``max_frames`` frames and ``max_pixels`` pixels in all are written; the note says so when
    the file has more. Raises :class:`~auditkit.data.media.MediaError` when it cannot be read.
    """
    import warnings

    from PIL import Image, ImageFile, ImageOps

    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    dest.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    note = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with os.fdopen(open_regular(path), "rb") as fh, Image.open(fh) as img:
                n = int(getattr(img, "n_frames", 1))
                budget = max_pixels
                ImageFile.LOAD_TRUNCATED_IMAGES = False
                for i in range(n):
                    if i >= max_frames:
                        note = (f"{n} frames: only the first {max_frames} are audited (cap MAX_FRAMES = "
                                f"{max_frames}); frames {max_frames + 1}-{n} are not")
                        break
                    img.seek(i)
                    w, h = img.size
                    if w * h > budget:
                        note = (f"{n} frames: only the first {i} are audited; the pixel budget of "
                                f"{max_pixels:,} pixels per file (decompression-bomb guard) was reached")
                        break
                    budget -= w * h
                    img.load()
                    frame = ImageOps.exif_transpose(img.copy())
                    mode = "RGBA" if _has_alpha(frame) else ("RGB" if frame.mode not in ("L", "I;16", "I", "F")
                                                             else frame.mode)
                    frame = frame.convert(mode) if frame.mode != mode else frame
                    p = dest / f"{i + 1:05d}.png"
                    frame.save(p, format="PNG")
                    out.append(p)
    except MediaError:
        raise
    except Exception as e:  # noqa: BLE001
        if out:  # a truncated later frame: keep the frames read, say where it stopped
            return out, len(out), (f"frame {len(out) + 1} cannot be decoded ({type(e).__name__}: {e}); "
                                   f"the first {len(out)} frame(s) are audited")
        raise MediaError(path, f"cannot decode the frames of this multi-frame image ({type(e).__name__}: {e})") from None
    return out, n, note
