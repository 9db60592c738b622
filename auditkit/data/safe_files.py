"""Hostile-input-safe folder walking and image probing (issue 10).

What a release or gallery folder may hold, and what happens to it here:

* **Only regular files are opened.** Every entry is ``lstat``-ed first. Named pipes (FIFOs),
  sockets and character/block devices are listed as skipped with their type and never opened
  (opening a FIFO blocks forever). Files are opened with ``O_NONBLOCK | O_NOFOLLOW`` and
  ``fstat``-checked again, so an entry swapped for a FIFO between the listing and the read
  cannot block the audit either.
* **Symbolic links** are followed only to a regular file inside the folder. Dangling links,
  link loops, links to folders (never followed: a loop in the tree cannot hang the walk) and
  links that leave the folder are listed as skipped with the reason. A folder reached twice
  (bind mounts, hard-linked folders) is walked once.
* **Any byte sequence is a file name.** Names are read with the file system encoding and
  ``surrogateescape`` (Python's default); the name written to results, CSVs and the report is
  :func:`display_name`: valid UTF-8 unchanged, every other byte as ``\\xNN`` (a backslash in a
  name is written ``\\\\``), so the listing is faithful and always encodable.
* **Images are probed from their header** (no full decode) by :func:`probe_image`: their size,
  their number of frames and whether they carry transparency. :data:`MIN_IMAGE_SIDE` is the
  smallest side an image must have to be audited; multi-frame images are split into one item
  per frame (``file#page2``) by :func:`auditkit.data.media.split_frames`, at most :data:`MAX_FRAMES` frames and
  :data:`~auditkit.data.media.MAX_PIXELS` pixels in all per file (the cap is stated).
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_FRAMES",
    "MIN_IMAGE_SIDE",
    "Entry",
    "ImageProbe",
    "display_name",
    "file_type_name",
    "open_regular",
    "probe_image",
    "sha256_regular",
    "walk",
]

#: Images whose shorter side is below this many pixels are skipped: they cannot hold a face
#: anyone could recognise. Humans still recognise familiar faces at about 7 x 10 pixels
#: (Sinha et al., "Face recognition by humans: nineteen results", Proc. IEEE 94(11), 2006),
#: so a limit of 6 never drops an image that could expose someone; 1x1 pixels, icons of a
#: few pixels and 1- to 5-pixel slivers (e.g. 4000 x 3) are what it removes.
MIN_IMAGE_SIDE = 6

#: At most this many frames of one multi-frame image (multi-page TIFF, animated GIF/WebP/PNG)
#: are audited; a note states when a file has more.
MAX_FRAMES = 100

_CHUNK = 1 << 20


def display_name(name: str) -> str:
    """A file name (or relative path) as it is written in outputs: faithful and always UTF-8.

    Names come from the file system as ``str`` with undecodable bytes as lone surrogates
    (``surrogateescape``). Valid UTF-8 is kept; each other byte becomes ``\\xNN`` and a literal
    backslash becomes ``\\\\``, so two different names never print the same.

    >>> display_name(os.fsdecode(b"caf\\xe9.png"))
    'caf\\\\xe9.png'
    """
    if "\\" not in name:
        try:
            name.encode("utf-8")
            return name
        except UnicodeEncodeError:
            pass
    raw = os.fsencode(name)
    out = []
    for ch in raw.decode("utf-8", errors="surrogateescape"):
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(ch)
    return "".join(out)


def file_type_name(mode: int) -> str:
    """Plain name of a non-regular file type, from ``st_mode``."""
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISDIR(mode):
        return "folder"
    return "special file"


@dataclass
class Entry:
    """One entry met by :func:`walk`: a regular file to use (``reason`` None) or a skip."""

    path: Path  # as on disk (may hold surrogate-escaped bytes)
    rel: str  # display_name of the path relative to the root, POSIX separators
    reason: str | None = None
    size: int = 0


def _err(e: OSError) -> str:
    return e.strerror or str(e)


def walk(root: Path, *, ignore: frozenset[Path] | set[Path] = frozenset()) -> Iterator[Entry]:
    """Every entry under ``root``, in sorted order: regular files and skips with their reason.

    Never follows a symbolic link to a folder, never opens anything, never raises for one
    entry: a folder that cannot be listed is itself a skip.
    """
    root = Path(root)
    real_root = os.path.realpath(root)
    seen_dirs: set[tuple[int, int]] = set()
    try:
        st = os.stat(root)
        seen_dirs.add((st.st_dev, st.st_ino))
    except OSError:
        pass
    ignore_s = {str(p) for p in ignore}

    def rel_of(p: str) -> str:
        return display_name(os.path.relpath(p, root).replace(os.sep, "/"))

    def visit(d: str) -> Iterator[Entry]:
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as e:
            yield Entry(Path(d), rel_of(d) + "/", f"folder cannot be listed ({_err(e)}); its files are not audited")
            return
        for e in entries:
            p = e.path
            if p in ignore_s:
                continue
            rel = rel_of(p)
            try:
                lst = os.lstat(p)
            except OSError as err:
                yield Entry(Path(p), rel, f"cannot read file information ({_err(err)})")
                continue
            if e.name.startswith("."):
                what = "hidden folder ignored" if stat.S_ISDIR(lst.st_mode) else "hidden file ignored"
                yield Entry(Path(p), rel + ("/" if stat.S_ISDIR(lst.st_mode) else ""), what)
                continue
            if stat.S_ISLNK(lst.st_mode):
                try:
                    tst = os.stat(p)
                except OSError as err:
                    if err.errno == errno.ELOOP:
                        yield Entry(Path(p), rel, "symbolic link loop (the link points back to itself); never opened")
                    elif err.errno in (errno.ENOENT, errno.ENOTDIR):
                        yield Entry(Path(p), rel, "dangling symbolic link (its target does not exist); never opened")
                    else:
                        yield Entry(Path(p), rel, f"symbolic link cannot be followed ({_err(err)}); never opened")
                    continue
                target = os.path.realpath(p)
                if os.path.commonpath([real_root, target]) != real_root:
                    yield Entry(Path(p), rel, "symbolic link pointing outside the folder ignored")
                    continue
                if stat.S_ISDIR(tst.st_mode):
                    yield Entry(Path(p), rel, "symbolic link to a folder not followed (a link can make the "
                                "folder tree loop); link the files, or copy the folder in")
                    continue
                if not stat.S_ISREG(tst.st_mode):
                    yield Entry(Path(p), rel, f"symbolic link to a {file_type_name(tst.st_mode)}, not a regular "
                                "file; never opened")
                    continue
                yield Entry(Path(p), rel, None, tst.st_size)
                continue
            if stat.S_ISDIR(lst.st_mode):
                key = (lst.st_dev, lst.st_ino)
                if key in seen_dirs:
                    yield Entry(Path(p), rel + "/", "folder already walked (the same folder reached twice); "
                                "skipped to avoid a loop")
                    continue
                seen_dirs.add(key)
                yield from visit(p)
                continue
            if not stat.S_ISREG(lst.st_mode):
                yield Entry(Path(p), rel, f"not a regular file ({file_type_name(lst.st_mode)}); never opened")
                continue
            yield Entry(Path(p), rel, None, lst.st_size)

    yield from visit(str(root))


def open_regular(path: str | Path) -> int:
    """Open ``path`` read-only without blocking and without following a final symlink swap:
    the descriptor of a regular file, else :class:`OSError` naming what it is."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({file_type_name(st.st_mode)})")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def sha256_regular(path: str | Path) -> tuple[str, int]:
    """SHA-256 and size of a regular file read through :func:`open_regular` (constant memory)."""
    fd = open_regular(path)
    h = hashlib.sha256()
    n = 0
    with os.fdopen(fd, "rb", buffering=0) as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            n += len(chunk)
            h.update(chunk)
    return h.hexdigest(), n


@dataclass
class ImageProbe:
    """What an image's header says. ``error`` is set when the header cannot be read (the file
    is then left to the decoder, which names the problem)."""

    width: int = 0
    height: int = 0
    frames: int = 1
    has_alpha: bool = False
    error: str | None = None

    def too_small(self, min_side: int = MIN_IMAGE_SIDE) -> str | None:
        """The skip reason when the image cannot hold a face, else None."""
        if self.error is None and min(self.width, self.height) < min_side:
            return (f"image too small to hold a face: {self.width}x{self.height} pixels (both sides must be at "
                    f"least {min_side} pixels)")
        return None


def _has_alpha(img) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def probe_image(path: str | Path) -> ImageProbe:
    """Read an image's header: size, frame count (counted up to ``MAX_FRAMES + 1``) and alpha."""
    from PIL import Image

    try:
        with os.fdopen(open_regular(path), "rb") as fh, Image.open(fh) as img:
            w, h = img.size
            alpha = _has_alpha(img)
            frames = 1
            if getattr(img, "is_animated", False) or getattr(img, "n_frames", 1) > 1:
                frames = int(getattr(img, "n_frames", 1))
            return ImageProbe(w, h, frames, alpha)
    except Exception as e:  # noqa: BLE001  the decoder reports undecodable files with a reason
        return ImageProbe(error=f"{type(e).__name__}: {e}")
