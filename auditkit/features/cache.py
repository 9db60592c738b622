"""On-disk feature cache keyed by file content, extractor, its version and its parameters.

Entries are ``.npz`` files written atomically (temp file + rename) with a SHA-256 of their
payload inside; an entry that fails to load or whose checksum does not match is deleted and
recomputed, never trusted. A killed audit therefore resumes from whatever was finished.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FeatureCache", "cache_key", "code_fingerprint", "default_cache_dir", "no_user_cache",
           "user_cache_allowed"]


#: set under ``--no-cache`` (:func:`no_user_cache`): the user's cache is neither read nor written,
#: not even by the report's figure and compiled-template caches
_NO_USER_CACHE: contextvars.ContextVar[bool] = contextvars.ContextVar("auditkit_no_user_cache", default=False)


@contextlib.contextmanager
def no_user_cache() -> Iterator[None]:
    """Within this block :func:`user_cache_allowed` is False (``--no-cache``)."""
    token = _NO_USER_CACHE.set(True)
    try:
        yield
    finally:
        _NO_USER_CACHE.reset(token)


def user_cache_allowed() -> bool:
    """False under ``--no-cache`` (:func:`no_user_cache`)."""
    return not _NO_USER_CACHE.get()


def default_cache_dir() -> Path:
    """``$AUDITKIT_CACHE_DIR``, else the user's cache directory (platformdirs)."""
    env = os.environ.get("AUDITKIT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("auditkit")) / "features"


def cache_key(content_sha256: str, extractor: str, version: str, params: dict[str, Any]) -> str:
    blob = json.dumps({"sha": content_sha256, "x": extractor, "v": version, "p": params},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _payload_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class FeatureCache:
    """A directory of cached feature arrays. ``FeatureCache(None)`` is a disabled cache.

    Counters ``hits``, ``misses`` and ``corrupt`` are kept for the report.
    """

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root is not None else None
        self.hits = self.misses = self.corrupt = 0
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        if self.root is None:
            return None
        p = self._path(key)
        if not p.exists():
            self.misses += 1
            return None
        try:
            from .npz_fast import load_npz  # one read, no per-array ast parsing (issue 10)

            arrays = load_npz(p)
            stored = str(arrays.pop("__digest__"))
            if stored != _payload_digest(arrays):
                raise ValueError("checksum mismatch")
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            self.corrupt += 1
            self.misses += 1
            try:
                p.unlink()
            except OSError:
                pass
            return None
        self.hits += 1
        return arrays

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        if self.root is None:
            return
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, __digest__=np.array(_payload_digest(arrays)), **arrays)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
            os.replace(tmp, p)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def stats(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "dir": str(self.root) if self.root else None,
                "hits": self.hits, "misses": self.misses, "corrupt_recomputed": self.corrupt}


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 over every ``.py`` file of the auditkit package (path and bytes) and the versions
    of the libraries the attacks compute with (read from their metadata: importing scikit-learn
    costs seconds, and a fully cached re-run needs none of it; issue 15)."""
    from importlib.metadata import PackageNotFoundError, version

    import scipy  # its top-level package is small

    try:
        sklearn_v = version("scikit-learn")
    except PackageNotFoundError:  # pragma: no cover - scikit-learn is a dependency
        sklearn_v = "-"
    root = Path(__file__).resolve().parents[1]  # the auditkit package
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    try:
        import dlib

        dlib_v = getattr(dlib, "__version__", "?")
    except ImportError:  # pragma: no cover - dlib is a dependency
        dlib_v = "-"
    h.update(json.dumps({"numpy": np.__version__, "sklearn": sklearn_v, "scipy": scipy.__version__,
                         "dlib": dlib_v}).encode())
    return h.hexdigest()
