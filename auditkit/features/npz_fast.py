"""Read a small uncompressed ``.npz`` (what :class:`~auditkit.features.cache.FeatureCache`
writes) in one read, without numpy's per-array ``ast`` header parsing (issue 10).

``np.load(...)[name]`` parses each member's header with ``ast.literal_eval`` and opens the
zip member through several layers; for a cache entry of seven tiny arrays that was ~9 ms per
file, which dominated a warm audit of 10,000 small files. This reader takes the whole file in
one ``read``, walks the zip's central directory with :mod:`zipfile` on the in-memory bytes and
reads the simple NPY 1.0/2.0 headers numpy writes with a regular expression. Anything it does
not recognise (compression, Fortran order, object or structured dtypes, another header form)
makes it fall back to ``np.load``, so the result is always what ``np.load`` would give.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["load_npz"]

_HEADER = re.compile(r"^\{'descr': '([<>|=][a-zA-Z]\d*)', 'fortran_order': False, 'shape': \(([\d, ]*)\), \}\s*$")


class _Unsupported(Exception):
    pass


def _read_npy(buf: bytes) -> np.ndarray:
    if buf[:6] != b"\x93NUMPY":
        raise _Unsupported("not NPY")
    major = buf[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", buf[8:10])
        start = 10
    elif major in (2, 3):
        (hlen,) = struct.unpack("<I", buf[8:12])
        start = 12
    else:
        raise _Unsupported(f"NPY version {major}")
    header = buf[start:start + hlen].decode("latin1")
    m = _HEADER.match(header)
    if m is None:
        raise _Unsupported(header)
    dtype = np.dtype(m.group(1))
    if dtype.hasobject:
        raise _Unsupported("object dtype")
    shape = tuple(int(x) for x in m.group(2).replace(" ", "").split(",") if x)
    data = buf[start + hlen:]
    count = int(np.prod(shape)) if shape else 1
    if len(data) != count * dtype.itemsize:
        raise _Unsupported("size mismatch")
    return np.frombuffer(data, dtype=dtype, count=count).reshape(shape).copy()


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file as a dict, equal to ``{k: np.load(path)[k]}``.

    Raises what ``np.load`` raises for a damaged file (``OSError``, ``ValueError``,
    ``zipfile.BadZipFile``, ``EOFError``)."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        out = {}
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            for info in z.infolist():
                if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                    raise _Unsupported(info.filename)
                try:
                    out[info.filename[:-4]] = _read_npy(z.read(info))
                except (struct.error, UnicodeDecodeError, ValueError, TypeError) as e:
                    raise _Unsupported(str(e)) from None
        return out
    except _Unsupported:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
