"""Custody hashes of unchanged files reused on a re-run (issue 15).

Every audit hashes every input file (SHA-256, the custody section of results.json), which on a
large release is most of a warm re-run. Within :func:`reuse_hashes` (``auditkit run`` with a
cache, the default), :func:`hash_index` gives, per input folder, an index kept in
``<cache dir>/hashes``: a file's digest is reused when its path, size, inode, device, modification
and change times (ns) are all those recorded when it was hashed, and it had not changed in the
2 s before it was hashed (as git treats "racily clean" files: a file rewritten within the file
system's timestamp granularity of its hashing is hashed again). Writing a file changes its change
time, which no tool can set back, so an edited file is hashed again; what this trusts is the file
system's metadata, not the bytes. ``auditkit verify`` (``reuse_results=False``) and ``--no-cache``
hash every file. A damaged or unreadable index is ignored and rewritten.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["HashIndex", "hash_index", "reuse_hashes"]

_ROOT: Path | None = None  # the cache root while reuse_hashes is active
#: a file changed less than this before it was hashed is hashed again next time
RACY_NS = 2_000_000_000


@contextlib.contextmanager
def reuse_hashes(cache_root: str | Path | None) -> Iterator[None]:
    """Within: :func:`hash_index` reuses and records digests under ``cache_root`` (None: off)."""
    global _ROOT
    before, _ROOT = _ROOT, Path(cache_root) if cache_root is not None else None
    try:
        yield
    finally:
        _ROOT = before


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_ino, st.st_dev, st.st_mtime_ns, st.st_ctime_ns]


class HashIndex:
    """Digests of one folder's files (see the module docstring); ``root=None``: every file hashed.
    ``hashed`` and ``reused`` count what was done."""

    def __init__(self, folder: Path, root: Path | None):
        self.file = None if root is None else root / "hashes" / (
            hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest() + ".json")
        self.entries: dict[str, list] = {}
        self.seen: dict[str, list] = {}  # what this scan hashed or reused: the index saved (no stale entries)
        self.hashed = self.reused = 0
        if self.file is not None:
            try:
                got = json.loads(self.file.read_text(encoding="utf-8"))
                self.entries = got if isinstance(got, dict) else {}
            except (OSError, ValueError):
                self.entries = {}

    def sha256_regular(self, path: str | Path) -> tuple[str, int]:
        """:func:`auditkit.data.safe_files.sha256_regular`, reused for an unchanged file."""
        from .safe_files import sha256_regular

        key, stamp = os.path.abspath(path), None
        if self.file is not None:
            try:
                stamp = _stamp(os.stat(key))
            except OSError:
                stamp = None
            e = self.entries.get(key)
            if stamp is not None and isinstance(e, list) and len(e) == 3 and e[0] == stamp:
                self.reused += 1
                self.seen[key] = e
                return str(e[1]), int(stamp[0])
        t0 = time.time_ns()
        digest, size = sha256_regular(path)
        self.hashed += 1
        if self.file is not None and stamp is not None and max(stamp[3], stamp[4]) < t0 - RACY_NS \
                and stamp[0] == size:
            self.seen[key] = [stamp, digest, t0]
        return digest, size

    def save(self) -> None:
        """Write the index (atomically; a read-only cache is left as it is)."""
        if self.file is None or (not self.hashed and self.seen.keys() == self.entries.keys()):
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.file.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.seen, f)
            os.replace(tmp, self.file)
        except OSError:
            pass


def hash_index(folder: str | Path) -> HashIndex:
    """The index of ``folder``'s files while :func:`reuse_hashes` is active, else one that hashes."""
    return HashIndex(Path(folder), _ROOT)
