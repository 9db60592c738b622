"""Reading tables as people publish them: CSV with any common delimiter and encoding, Excel,
Parquet.

A statistics office publishes ``;``-separated CSV in Windows-1252 (a decimal comma makes the
comma unusable as the separator); ARX's own example ``adult.csv`` is ``;``-separated. The
delimiter and the encoding are detected, never assumed, and what was chosen is returned so the
audit can report it (``results.json`` ``tables.release.reading``):

* **encoding**: UTF-8 (a byte-order mark makes it ``utf-8-sig``) when the whole file decodes as
  UTF-8; otherwise Windows-1252 (``cp1252``, the superset of Latin-1 that spreadsheet software
  writes) when it decodes as that; otherwise ``latin-1``, which decodes any byte.
* **delimiter**: among ``,`` ``;`` tab ``|``, the one that splits the first lines (outside
  quotes, by :mod:`csv`'s reader) into the same number (> 1) of fields on the most lines, the
  larger field count breaking ties; a one-column file keeps ``,``.

``.xlsx`` needs ``openpyxl`` and ``.parquet`` needs ``pyarrow`` (the optional extra
``auditkit[spreadsheets]``); without them the error names the file and the package.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["DELIMITERS", "detect_delimiter", "detect_encoding", "read_raw_table"]

#: Delimiters tried, in order of preference on a tie.
DELIMITERS = (",", ";", "\t", "|")
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: Lines looked at to choose the delimiter.
SNIFF_LINES = 200


def detect_encoding(data: bytes) -> str:
    """``utf-8-sig``, ``utf-8``, ``cp1252`` or ``latin-1`` (see the module docstring)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for enc in ("utf-8", "cp1252"):
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the first lines most consistently (see the module docstring).

    Examples
    --------
    >>> detect_delimiter("a;b;c\\n1,5;2;3\\n4;5,5;6\\n")
    ';'
    """
    lines = text.splitlines()[:SNIFF_LINES]
    lines = [ln for ln in lines if ln.strip()]
    best, best_key = ",", (0, 0)
    for d in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=d)]
        if not counts:
            continue
        header = counts[0]
        if header < 2:
            continue
        agree = sum(1 for c in counts if c == header)
        key = (agree, header)
        if key > best_key:
            best, best_key = d, key
    return best


def read_raw_table(path: Path, label: str, *, error: type[Exception] = ValueError) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``path`` as text cells (no typing) and say how it was read.

    Returns
    -------
    (df, reading) where ``reading`` holds ``format`` and, for CSV, ``delimiter`` (its name),
    ``encoding`` and ``detected`` (True: both chosen by sniffing; a ``.tsv`` is tab by name).
    """
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        _need("pyarrow", path, label, "Parquet", error)
        df = pd.read_parquet(path)
        df = df.astype(object).where(df.notna(), None)
        df = df.apply(lambda s: s.map(lambda v: str(v).strip() if v is not None else None))
        return df, {"format": "parquet"}
    if suffix in (".xlsx", ".xlsm"):
        _need("openpyxl", path, label, "Excel (.xlsx)", error)
        try:
            sheets = pd.read_excel(path, sheet_name=None, dtype=str, engine="openpyxl")
        except Exception as exc:  # openpyxl raises several types for a damaged workbook
            raise error(f"table {label!r}: cannot read {path.name} as an Excel workbook: {exc}") from exc
        if not sheets:
            raise error(f"table {label!r}: {path.name} has no worksheet")
        first = next(iter(sheets))
        df = sheets[first]
        df = df.astype(object).where(df.notna(), None)
        return df, {"format": "xlsx", "sheet": str(first), "sheets": len(sheets)}
    if suffix not in (".csv", ".tsv", ".txt"):
        raise error(f"table {label!r}: unsupported file type {suffix!r}; allowed: .csv, .tsv, .txt, .xlsx, .parquet")
    data = path.read_bytes()
    if not data.strip():
        raise error(f"table {label!r}: {path.name} is empty")
    enc = detect_encoding(data)
    text = data.decode(enc)
    delim = "\t" if suffix == ".tsv" else detect_delimiter(text)
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, skipinitialspace=True,
                         keep_default_na=False, na_values=[])
    except pd.errors.ParserError as exc:
        raise error(f"table {label!r}: cannot parse {path.name} as CSV ({_NAMES[delim]}-separated, "
                    f"{enc}): {exc}") from exc
    except pd.errors.EmptyDataError as exc:
        raise error(f"table {label!r}: {path.name} is empty") from exc
    return df, {"format": "csv", "delimiter": _NAMES[delim], "encoding": enc, "detected": suffix != ".tsv"}


def _need(module: str, path: Path, label: str, what: str, error: type[Exception]) -> None:
    try:
        __import__(module)
    except ImportError as exc:
        raise error(f"table {label!r}: {path.name} is {what}, which needs the {module!r} package (not "
                    f"installed; pip install 'auditkit[spreadsheets]'), or convert it to CSV") from exc
