"""Load and validate a gallery (``gallery/<identity>/<media>``) and a release folder.

Every file is SHA-256 hashed here (chain of custody). Problems with individual files or
manifest rows become :class:`~auditkit.result.Skipped` records; problems that make the whole
audit meaningless (missing folder, no usable files, fewer than two identities) raise
:class:`InputError`, which the CLI turns into exit code 2.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ..result import Skipped
from .media import is_image, is_video, sha256_file

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


def _media_kind(p: Path) -> str | None:
    if is_image(p):
        return "image"
    if is_video(p):
        return "video"
    return None


def _scan(root: Path, skipped: list[Skipped], *, ignore: set[Path] = frozenset()) -> list[MediaFile]:
    files: list[MediaFile] = []
    for p in sorted(root.rglob("*")):
        if p in ignore or p.is_dir():
            continue
        rel = p.relative_to(root).as_posix()
        if any(part.startswith(".") for part in PurePosixPath(rel).parts):
            skipped.append(Skipped(rel, "hidden file ignored", "scan"))
            continue
        if p.is_symlink() and not p.resolve().is_relative_to(root.resolve()):
            skipped.append(Skipped(rel, "symbolic link pointing outside the folder ignored", "scan"))
            continue
        kind = _media_kind(p)
        if kind is None:
            skipped.append(Skipped(rel, f"not an image or video file (extension {p.suffix or 'none'!r})", "scan"))
            continue
        try:
            size = p.stat().st_size
            digest = sha256_file(p)
        except OSError as e:
            skipped.append(Skipped(rel, f"cannot read file ({e.strerror or e})", "scan"))
            continue
        files.append(MediaFile(p.resolve(), rel, digest, size, kind))
    return files


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
    for f in _scan(root, skipped):
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
    for h, rels in _duplicates([it.file for it in items]).items():
        owners = sorted({PurePosixPath(r).parts[0] for r in rels})
        if len(owners) > 1:
            notes.append(f"the same file (sha256 {h[:12]}) is filed under several identities: {', '.join(rels)}")
        else:
            notes.append(f"duplicate gallery files (sha256 {h[:12]}), identical content: {', '.join(rels)}")
    return Gallery(root, items, skipped, notes)


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
    files = _scan(root, skipped, ignore={manifest})
    if not files:
        raise InputError(f"release {root} holds no image or video file")
    by_rel = {f.rel: f for f in files}
    items: list[ReleaseItem] = []
    meta_cols: list[str] = []
    if manifest.is_file():
        items, meta_cols = _read_manifest(manifest, root, by_rel, skipped, notes)
        listed = {it.file.rel for it in items}
        unlisted = [f for f in files if f.rel not in listed]
        if unlisted:
            notes.append(f"{len(unlisted)} release file(s) are not in manifest.csv; audited without ground truth")
            items += [ReleaseItem(f) for f in unlisted]
    else:
        items = [ReleaseItem(f) for f in files]
        notes.append("no manifest.csv: no ground truth, so accuracy cannot be scored; candidate matches are listed")
    for h, rels in _duplicates(files).items():
        notes.append(f"duplicate release files (sha256 {h[:12]}), identical content: {', '.join(rels)}")
    return Release(root, items, files, skipped, notes, manifest if manifest.is_file() else None, meta_cols)


def _read_manifest(manifest: Path, root: Path, by_rel: dict[str, MediaFile],
                   skipped: list[Skipped], notes: list[str]) -> tuple[list[ReleaseItem], list[str]]:
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{manifest}: not UTF-8 text ({e})") from None
    reader = csv.DictReader(text.splitlines())
    cols = [c.strip() for c in (reader.fieldnames or [])]
    if "path" not in cols:
        raise InputError(f"{manifest}: required column 'path' missing (columns found: {', '.join(cols) or 'none'})")
    reader.fieldnames = cols
    meta_cols = [c for c in cols if c not in MANIFEST_COLUMNS]
    items: list[ReleaseItem] = []
    root_resolved = root.resolve()
    for lineno, row in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k is not None}
        raw = row.get("path", "")
        where = f"manifest.csv line {lineno}"
        if not raw:
            skipped.append(Skipped(where, "empty path", "manifest"))
            continue
        pp = PurePosixPath(raw.replace("\\", "/"))
        target = (root / pp).resolve()
        if pp.is_absolute() or not target.is_relative_to(root_resolved):
            skipped.append(Skipped(raw, f"{where}: path points outside the release folder; refused", "manifest"))
            continue
        rel = target.relative_to(root_resolved).as_posix()
        f = by_rel.get(rel)
        if f is None:
            reason = "file not found" if not target.exists() else "not an image or video file"
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
        items.append(ReleaseItem(
            file=f, subject=row.get("subject") or None, camera=row.get("camera") or None,
            timestamp=ts, box=box, track=row.get("track") or None,
            meta={c: row.get(c, "") for c in meta_cols}, row=lineno,
        ))
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
