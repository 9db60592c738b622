"""Load and validate a gallery (``gallery/<identity>/<media>``) and a release folder.

Every file is SHA-256 hashed here (chain of custody). Problems with individual files or
manifest rows become :class:`~auditkit.result.Skipped` records; problems that make the whole
audit meaningless (missing folder, no usable files, fewer than two identities) raise
:class:`InputError`, which the CLI turns into exit code 2.
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ..result import Skipped
from .media import is_image, is_video

__all__ = [
    "MANIFEST_COLUMNS",
    "Gallery",
    "GalleryItem",
    "InputError",
    "MediaFile",
    "Release",
    "ReleaseItem",
    "load_gallery",
    "load_release",
]

#: Manifest columns with a meaning; every other column is released metadata.
MANIFEST_COLUMNS = ("path", "subject", "camera", "timestamp", "x", "y", "w", "h", "track")


class InputError(Exception):
    """The inputs as a whole cannot be audited (exit code 2). The message says why."""


@dataclass
class MediaFile:
    path: Path  # absolute
    rel: str  # relative to its root folder, POSIX separators
    sha256: str
    size: int
    kind: str  # "image" | "video"
    origin: str | None = None  # for one frame of a multi-frame image: the file's rel
    page: int | None = None  # that frame's number, from 1


@dataclass
class GalleryItem:
    file: MediaFile
    identity: str


@dataclass
class ReleaseItem:
    file: MediaFile
    subject: str | None = None
    camera: str | None = None
    timestamp: str | None = None
    box: tuple[int, int, int, int] | None = None  # x, y, w, h in pixels
    track: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    row: int | None = None  # manifest line number (1 = header), None without manifest

    @property
    def probe_id(self) -> str:
        return self.file.rel if self.row is None else f"{self.file.rel}#row{self.row}"


@dataclass
class Gallery:
    root: Path
    items: list[GalleryItem]
    skipped: list[Skipped]
    notes: list[str]
    files: list[MediaFile] = field(default_factory=list)  # every hashed file (custody), frames not split
    workdir: Any = None  # keeps the split frames of multi-frame images alive

    @property
    def identities(self) -> list[str]:
        return sorted({it.identity for it in self.items})


@dataclass
class Release:
    root: Path
    items: list[ReleaseItem]
    files: list[MediaFile]
    skipped: list[Skipped]
    notes: list[str]
    manifest: Path | None = None
    metadata_columns: list[str] = field(default_factory=list)
    workdir: Any = None  # keeps the split frames of multi-frame images alive


def _media_kind(p: Path) -> str | None:
    if is_image(p):
        return "image"
    if is_video(p):
        return "video"
    return None


class _Scan:
    """What :func:`_scan` found: the files (custody), the units to audit (one per frame of a
    multi-frame image), the reason each refused file was refused, and the frames' folder."""

    def __init__(self) -> None:
        self.files: list[MediaFile] = []
        self.units: list[MediaFile] = []
        self.refused: dict[str, str] = {}
        self.workdir: Any = None  # tempfile.TemporaryDirectory holding split frames
        self.alpha: list[tuple[str, float]] = []


def _alpha_hidden(path: Path) -> float:
    """Share of pixels that transparency (alpha < 255) would hide; 0 when it cannot be read."""
    import os

    import numpy as np
    from PIL import Image

    from .safe_files import open_regular

    try:
        with os.fdopen(open_regular(path), "rb") as fh, Image.open(fh) as img:
            a = np.asarray(img.convert("RGBA"))[:, :, 3]
            return float((a < 255).mean()) if a.size else 0.0
    except Exception:  # noqa: BLE001  the decoder names undecodable files
        return 0.0


def _scan(root: Path, skipped: list[Skipped], *, ignore: set[Path] = frozenset(),
          notes: list[str] | None = None) -> _Scan:
    """Walk ``root`` (see :mod:`auditkit.data.safe_files`): hash every regular media file, list
    every other entry as skipped with its reason, split multi-frame images into frames, skip
    images too small to hold a face, and note transparency that would hide pixels."""
    import tempfile

    from ..progress import track
    from .hash_cache import hash_index
    from .media import split_frames
    from .safe_files import MAX_FRAMES, probe_image, walk

    res = _Scan()
    hashes = hash_index(root)  # issue 15: an unchanged file's digest reused, when the audit allows it
    notes = notes if notes is not None else []
    entries = list(walk(root, ignore=set(ignore)))
    for e in track(entries, f"hashing {root.name or root}", unit="files"):
        if e.reason is not None:
            skipped.append(Skipped(e.rel, e.reason, "scan"))
            res.refused[e.rel] = e.reason
            continue
        kind = _media_kind(e.path)
        if kind is None:
            reason = f"not an image or video file (extension {e.path.suffix or 'none'!r})"
            skipped.append(Skipped(e.rel, reason, "scan"))
            res.refused[e.rel] = reason
            continue
        try:
            digest, size = hashes.sha256_regular(e.path)
        except OSError as err:
            reason = f"cannot read file ({err.strerror or err})"
            skipped.append(Skipped(e.rel, reason, "scan"))
            res.refused[e.rel] = reason
            continue
        f = MediaFile(Path(os.path.abspath(e.path)), e.rel, digest, size, kind)
        if kind == "image" and size > 0:
            probe = probe_image(e.path)
            small = probe.too_small()
            if small:
                skipped.append(Skipped(e.rel, small, "scan"))
                res.refused[e.rel] = small
                res.files.append(f)  # hashed and listed in custody, not audited
                continue
            if probe.has_alpha:
                hidden = _alpha_hidden(e.path)
                if hidden > 0:
                    res.alpha.append((e.rel, hidden))
            if probe.frames > 1:
                if res.workdir is None:
                    res.workdir = tempfile.TemporaryDirectory(prefix="auditkit-frames-")
                dest = Path(res.workdir.name) / f"{len(res.files):06d}"
                try:
                    frames, n, note = split_frames(e.path, dest, max_frames=MAX_FRAMES)
                except Exception as err:  # noqa: BLE001  (MediaError and anything Pillow raises)
                    reason = f"multi-frame image cannot be read ({getattr(err, 'reason', err)})"
                    skipped.append(Skipped(e.rel, reason, "scan"))
                    res.refused[e.rel] = reason
                    res.files.append(f)
                    continue
                res.files.append(f)
                notes.append(f"{e.rel}: {n} frames (multi-page or animated image), each audited as its own item "
                             f"{e.rel}#page1 ... #page{len(frames)}" + (f"; {note}" if note else ""))
                for i, fp in enumerate(frames, start=1):
                    page_sha = hashlib.sha256(f"{digest}#page{i}".encode()).hexdigest()
                    res.units.append(MediaFile(fp, f"{e.rel}#page{i}", page_sha, fp.stat().st_size, "image",
                                               origin=e.rel, page=i))
                continue
        res.files.append(f)
        res.units.append(f)
    hashes.save()
    if res.alpha:
        shown = ", ".join(f"{rel} ({share:.0%})" for rel, share in res.alpha[:10])
        more = f" and {len(res.alpha) - 10} more" if len(res.alpha) > 10 else ""
        notes.append(f"{len(res.alpha)} image(s) carry transparency that would hide pixels in a viewer: {shown}{more}. "
                     "Their colour channels are audited as they are (an attacker simply drops the alpha channel), "
                     "so transparency does not count as obfuscation.")
    return res


def _check_dir(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} folder not found: {p}")
    if not p.is_dir():
        raise InputError(f"{what} must be a folder, got a file: {p}")
    return p.resolve()


def _duplicates(files: list[MediaFile]) -> dict[str, list[str]]:
    by_hash: dict[str, list[str]] = {}
    for f in files:
        by_hash.setdefault(f.sha256, []).append(f.rel)
    return {h: rels for h, rels in by_hash.items() if len(rels) > 1}


def load_gallery(path: str | Path) -> Gallery:
    """Scan ``path/<identity>/...``; the first folder level is the identity label."""
    root = _check_dir(path, "gallery")
    skipped: list[Skipped] = []
    notes: list[str] = []
    items: list[GalleryItem] = []
    scan = _scan(root, skipped, notes=notes)
    for f in scan.units:
        parts = PurePosixPath(f.rel).parts
        if len(parts) < 2:
            skipped.append(Skipped(f.rel, "file directly in the gallery folder: put it in gallery/<identity>/ so it has an identity", "scan"))
            continue
        items.append(GalleryItem(f, parts[0]))
    if not items:
        raise InputError(f"gallery {root} holds no image or video in gallery/<identity>/ folders")
    idents = sorted({it.identity for it in items})
    if len(idents) < 2:
        raise InputError(
            f"gallery {root} has only one identity ({idents[0]!r}): identification needs at least two "
            "(with one, every guess is right by construction and nothing can be scored)"
        )
    for h, rels in _duplicates([f for f in scan.files if f.rel not in scan.refused]).items():
        owners = sorted({PurePosixPath(r).parts[0] for r in rels})
        if len(owners) > 1:
            notes.append(f"the same file (sha256 {h[:12]}) is filed under several identities: {', '.join(rels)}")
        else:
            notes.append(f"duplicate gallery files (sha256 {h[:12]}), identical content: {', '.join(rels)}")
    return Gallery(root, items, skipped, notes, files=scan.files, workdir=scan.workdir)


def _parse_box(row: dict[str, str]) -> tuple[tuple[int, int, int, int] | None, str | None]:
    vals = [row.get(k, "") for k in ("x", "y", "w", "h")]
    if all(v in ("", None) for v in vals):
        return None, None
    try:
        x, y, w, h = (float(v) for v in vals)
    except (TypeError, ValueError):
        return None, f"box x,y,w,h is not numeric ({','.join(str(v) for v in vals)!s}); box ignored"
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        return None, f"box x,y,w,h must be finite with w,h > 0, got {x},{y},{w},{h}; box ignored"
    return (int(round(x)), int(round(y)), int(round(w)), int(round(h))), None


def _parse_time(value: str) -> str | None:
    try:
        return datetime.fromisoformat(value.strip()).isoformat()  # Python >= 3.11 reads "Z"
    except ValueError:
        return None


def load_release(path: str | Path) -> Release:
    """Scan a release folder and read its optional ``manifest.csv`` (see DESIGN.md)."""
    root = _check_dir(path, "release")
    skipped: list[Skipped] = []
    notes: list[str] = []
    manifest = root / "manifest.csv"
    if os.path.lexists(manifest) and not (manifest.is_file() and not manifest.is_symlink()):
        from .safe_files import file_type_name

        kind = "symbolic link" if manifest.is_symlink() else file_type_name(os.lstat(manifest).st_mode)
        skipped.append(Skipped("manifest.csv", f"manifest.csv is a {kind}, not a regular file; never opened, "
                               "so the release is audited without a manifest", "manifest"))
        manifest = root / ".auditkit-no-manifest"  # nothing there: no manifest is read
    scan = _scan(root, skipped, ignore={manifest}, notes=notes)
    files, units = scan.files, scan.units
    if not units:
        raise InputError(f"release {root} holds no image or video file that can be audited"
                         + (f" ({len(skipped)} entries skipped: see the reasons listed)" if skipped else ""))
    by_rel: dict[str, list[MediaFile]] = {}
    for f in units:
        by_rel.setdefault(f.origin or f.rel, []).append(f)
    items: list[ReleaseItem] = []
    meta_cols: list[str] = []
    if manifest.is_file():
        items, meta_cols = _read_manifest(manifest, root, by_rel, skipped, notes, refused=scan.refused)
        listed = {it.file.rel for it in items}
        unlisted = [f for f in units if f.rel not in listed]
        if unlisted:
            notes.append(f"{len(unlisted)} release file(s) are not in manifest.csv; audited without ground truth")
            items += [ReleaseItem(f) for f in unlisted]
    else:
        items = [ReleaseItem(f) for f in units]
        notes.append("no manifest.csv: no ground truth, so accuracy cannot be scored; candidate matches are listed")
    for h, rels in _duplicates([f for f in files if f.rel not in scan.refused]).items():
        notes.append(f"duplicate release files (sha256 {h[:12]}), identical content: {', '.join(rels)}")
    return Release(root, items, files, skipped, notes, manifest if manifest.is_file() else None, meta_cols,
                   workdir=scan.workdir)


def _read_manifest(manifest: Path, root: Path, by_rel: dict[str, list[MediaFile]],
                   skipped: list[Skipped], notes: list[str], *,
                   refused: dict[str, str] | None = None) -> tuple[list[ReleaseItem], list[str]]:
    from .safe_files import open_regular

    refused = refused or {}
    try:
        with os.fdopen(open_regular(manifest), "rb") as fh:  # a FIFO named manifest.csv never blocks
            raw = fh.read()
    except OSError as e:
        raise InputError(f"{manifest}: cannot be read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if b"\0" in raw:
            raise InputError(f"{manifest}: not a text file (it holds NUL bytes; {e})") from None
        # a spreadsheet export in Latin-1 / Windows-1252: read it, and say so (issue 10)
        text = raw.decode("cp1252", errors="replace")
        notes.append(f"manifest.csv is not UTF-8 ({e.reason} at byte {e.start}); read as Windows-1252/Latin-1. "
                     "Rows whose path does not match a file are listed as skipped.")
    reader = csv.DictReader(text.splitlines())
    cols = [c.strip() for c in (reader.fieldnames or [])]
    if "path" not in cols:
        raise InputError(f"{manifest}: required column 'path' missing (columns found: {', '.join(cols) or 'none'})")
    reader.fieldnames = cols
    meta_cols = [c for c in cols if c not in MANIFEST_COLUMNS]
    items: list[ReleaseItem] = []
    for lineno, row in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k is not None}
        raw = row.get("path", "")
        where = f"manifest.csv line {lineno}"
        if not raw:
            skipped.append(Skipped(where, "empty path", "manifest"))
            continue
        pp = PurePosixPath(raw.replace("\\", "/")) if "\\x" not in raw else PurePosixPath(raw)
        if pp.is_absolute() or ".." in pp.parts:
            skipped.append(Skipped(raw, f"{where}: path points outside the release folder; refused", "manifest"))
            continue
        rel = pp.as_posix()
        if rel in refused:
            continue  # listed once already, with the reason, by the folder scan
        fs = by_rel.get(rel)
        if fs is None:
            target = os.path.join(root, *pp.parts)
            reason = "file not found" if not os.path.lexists(target) else "not an image or video file"
            skipped.append(Skipped(raw, f"{where}: {reason}", "manifest"))
            continue
        box, box_note = _parse_box(row)
        if box_note:
            notes.append(f"{where} ({raw}): {box_note}")
        ts = row.get("timestamp") or None
        if ts is not None:
            parsed = _parse_time(ts)
            if parsed is None:
                notes.append(f"{where} ({raw}): timestamp {ts!r} is not ISO 8601; ignored")
            ts = parsed
        items += [ReleaseItem(
            file=f, subject=row.get("subject") or None, camera=row.get("camera") or None,
            timestamp=ts, box=box, track=row.get("track") or None,
            meta={c: row.get(c, "") for c in meta_cols}, row=lineno,
        ) for f in fs]
    return items, meta_cols


def custody_section(root: Path, files: list[MediaFile] | list[dict[str, Any]]) -> dict[str, Any]:
    """Chain-of-custody section of results.json: every file's path, SHA-256 and size, and one
    SHA-256 over the sorted (path, hash) listing, so a reader can tell exactly what was audited.

    ``files``: :class:`MediaFile` (hashed when loaded) or ``{"path", "sha256", "bytes"}`` dicts."""
    import hashlib

    listing = [f if isinstance(f, dict) else {"path": f.rel, "sha256": f.sha256, "bytes": f.size} for f in files]
    h = hashlib.sha256()
    for f in sorted(listing, key=lambda r: r["path"]):
        h.update(f"{f['path']}\0{f['sha256']}\n".encode())
    return {"path": str(root), "n_files": len(listing), "bytes": sum(f["bytes"] for f in listing),
            "sha256": h.hexdigest(), "files": listing}
