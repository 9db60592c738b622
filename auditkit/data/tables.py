"""Loading release / auxiliary tables: parsing, type inference, direct-identifier flags.

Every problem with an input table is reported by a :class:`TableError` that names the table,
the column and what was allowed, or recorded in ``LoadedTable.warnings`` when the audit can
go on (a date column read with one of several possible formats, for instance).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DATE_FORMATS",
    "MISSING_VALUES",
    "ColumnInfo",
    "LoadedTable",
    "TableError",
    "detect_direct_identifiers",
    "infer_column",
    "load_table",
    "prepare_table",
    "require_columns",
]

#: Cell values read as missing (after stripping surrounding blanks).
MISSING_VALUES = ("?", "", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")

#: Date / time formats tried, in this order; the first that parses every non-missing value wins.
DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
    "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d %b %Y", "%b %d %Y",
    "%Y%m%d",
)

#: A date format is used for a column when it parses at least this share of its non-missing values;
#: the cells it does not parse are read as missing (with a table warning giving the count).
DATE_FIT = 0.99

#: Column names that announce a direct identifier (matched on the name with non-letters removed).
_ID_NAME = re.compile(
    r"^(full|first|last|given|family|sur|user|nick|display)?name$|^surname$|^names?$|forename|"
    r"phone|mobile|telephone|^tel$|^fax$|e?mail|^ssn$|socialsecurity|passport|nationalid|"
    r"^nin$|^nino$|^bsn$|^iban$|creditcard|cardnumber|licenseplate|numberplate|"
    r"^address$|streetaddress|^street$|^ip$|ipaddress|^mrn$|medicalrecord|patientid|^dni$"
)
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
_SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")

#: Free text: mean length above this many characters, or mostly multi-word values of high cardinality.
TEXT_MEAN_LENGTH = 40
#: A string column whose values are at least this fraction distinct (with >= 20 rows) identifies people.
NEAR_UNIQUE = 0.95


class TableError(ValueError):
    """A table cannot be used as given; the message names the table, column and what is allowed."""


@dataclass
class ColumnInfo:
    """What a column holds: ``kind`` in {'numeric', 'categorical', 'date', 'text'}.

    ``date_format`` records the format a date column was parsed with; ``distinct`` and
    ``missing`` are counts over the table's rows.
    """

    name: str
    kind: str
    distinct: int
    missing: int
    date_format: str | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "distinct": self.distinct, "missing": self.missing,
                "date_format": self.date_format, "note": self.note}


@dataclass
class LoadedTable:
    """A parsed table: values typed (dates as datetime64), per-column info, and warnings."""

    name: str
    df: pd.DataFrame
    columns: dict[str, ColumnInfo]
    direct_identifiers: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    path: str | None = None
    reading: dict[str, Any] | None = None  # how the file was read: format, delimiter, encoding

    def kinds(self) -> dict[str, str]:
        return {c: info.kind for c, info in self.columns.items()}


def load_table(path: str | Path, *, name: str | None = None) -> LoadedTable:
    """Read a CSV, Excel or Parquet table and type its columns.

    The CSV delimiter and encoding are detected (:mod:`auditkit.data.table_formats`) and recorded
    in ``LoadedTable.reading``. CSV values are stripped of surrounding blanks (``skipinitialspace``
    plus a right strip), and ``?``, empty cells, ``NA`` and the other :data:`MISSING_VALUES` are
    missing. Excel needs openpyxl, Parquet pyarrow; without them the error names the file.

    Parameters
    ----------
    path : path of a ``.csv`` / ``.tsv`` / ``.txt`` / ``.xlsx`` / ``.parquet`` file.
    name : how messages call the table (default: the file name).
    """
    p = Path(path)
    label = name or p.name
    if not p.is_file():
        raise TableError(f"table {label!r}: file not found: {str(p)!r}")
    from .table_formats import read_raw_table

    df, reading = read_raw_table(p, label, error=TableError)
    out = prepare_table(df, name=label)
    out.path = str(p)
    out.reading = reading
    return out


def prepare_table(df: pd.DataFrame, *, name: str = "table") -> LoadedTable:
    """Type an in-memory table the way :func:`load_table` types a file.

    String cells are stripped and :data:`MISSING_VALUES` become missing; each column is then
    inferred as numeric, date, categorical or free text (see :func:`infer_column`).
    """
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise TableError(f"table {name!r} has no {'columns' if df.shape[1] == 0 else 'rows'}")
    dup = [c for c in df.columns[df.columns.duplicated()]]
    if dup:
        raise TableError(f"table {name!r}: duplicated column names {dup}")
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    typed: dict[str, pd.Series] = {}
    infos: dict[str, ColumnInfo] = {}
    warnings: list[str] = []
    missing = set(MISSING_VALUES)
    from ..progress import track

    for col in track(list(df.columns), f"reading table {name!r}: typing columns ({len(df):,} rows)", unit="columns"):
        s = df[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            # clean each distinct value once, not each cell (2M-row tables: issue 10)
            codes, uniq = pd.factorize(s, use_na_sentinel=True)
            clean = np.array([(None if v.strip() in missing else v.strip()) if isinstance(v, str) else v
                              for v in uniq] + [None], dtype=object)
            s = pd.Series(clean[codes], index=s.index, dtype=object)  # code -1 (missing) -> the last: None
            s = s.where(s.notna(), None)
        series, info, warn = infer_column(s, name=col)
        typed[col] = series
        infos[col] = info
        warnings += [f"table {name!r}: {w}" for w in warn]
    out = pd.DataFrame(typed, index=pd.RangeIndex(len(df)))
    table = LoadedTable(name=name, df=out, columns=infos, warnings=warnings)
    table.direct_identifiers = detect_direct_identifiers(table)
    return table


def infer_column(s: pd.Series, *, name: str) -> tuple[pd.Series, ColumnInfo, list[str]]:
    """Infer one column's kind and return it typed.

    numeric: every non-missing value parses as a number. date: at least :data:`DATE_FIT` of the
    non-missing values (of a sample of at most 5000) parse with one format of :data:`DATE_FORMATS`
    (or ISO 8601 with a time zone), and so do at least that share of the whole column; the format
    parsing the most values wins, the first in order on a tie; when two formats both parse
    (``03/04/2020``), the first is used and a warning says so. Cells the chosen format does not parse
    become missing and a warning gives their count and an example (never an error, whatever the
    table size). text: strings whose mean
    length exceeds :data:`TEXT_MEAN_LENGTH`, or multi-word strings that are mostly distinct.
    Anything else is categorical.
    """
    warn: list[str] = []
    nonnull = s.dropna()
    n_missing = int(len(s) - len(nonnull))
    if pd.api.types.is_datetime64_any_dtype(s):
        return s, ColumnInfo(name, "date", int(nonnull.nunique()), n_missing, "datetime"), warn
    if pd.api.types.is_bool_dtype(s):
        s = s.astype(object)
        nonnull = s.dropna()
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float), ColumnInfo(name, "numeric", int(nonnull.nunique()), n_missing), warn
    if len(nonnull) == 0:
        return s, ColumnInfo(name, "categorical", 0, n_missing, note="all values missing"), warn
    strs = nonnull.astype(str)
    # every test below runs on the distinct values (weighted by their counts where a share is
    # needed): the same answers as cell by cell, at the cost of one hashing pass (issue 10)
    codes, uniq = pd.factorize(strs)
    counts = np.bincount(codes, minlength=len(uniq))
    ustr = pd.Series(uniq, dtype=object).astype(str)
    num_u = pd.to_numeric(ustr, errors="coerce")
    if num_u.notna().all() and not ustr.str.match(r"^0\d").any():
        full_codes, full_uniq = pd.factorize(s, use_na_sentinel=True)
        vals = np.append(pd.to_numeric(pd.Series(full_uniq, dtype=object).astype(str), errors="coerce")
                         .to_numpy(dtype=float), np.nan)
        typed = pd.Series(vals[full_codes], index=s.index, dtype=float)
        return typed, ColumnInfo(name, "numeric", int(num_u.nunique()), n_missing), warn
    sample = strs if len(strs) <= 5000 else strs.sample(5000, random_state=0)
    if sample.str.contains(r"\d").mean() > 0.99 and sample.str.len().between(6, 35).mean() >= DATE_FIT:
        chosen = None
        share = {f: float(pd.to_datetime(sample, format=f, errors="coerce").notna().mean())
                 for f in DATE_FORMATS}
        best = max(share.values())
        if best >= DATE_FIT:
            fits = [f for f in DATE_FORMATS if share[f] == best]
            chosen = fits[0]
            if len(fits) > 1 and {"%d/%m/%Y", "%m/%d/%Y"} <= set(fits):
                warn.append(f"column {name!r}: dates fit both day/month and month/day order; read as {chosen}")
        elif pd.to_datetime(sample, format="ISO8601", errors="coerce", utc=True).notna().mean() >= DATE_FIT:
            chosen = "ISO8601"
        if chosen is not None:
            if chosen == "ISO8601":
                parsed = pd.to_datetime(s, format="ISO8601", errors="coerce", utc=True).dt.tz_localize(None)
            else:
                parsed = pd.to_datetime(s, format=chosen, errors="coerce")
            bad_cells = strs[parsed[nonnull.index].isna().to_numpy()]
            if len(bad_cells) <= (1 - DATE_FIT) * len(strs):
                if len(bad_cells):
                    warn.append(f"column {name!r}: {len(bad_cells)} value(s) do not parse with the date "
                                f"format {chosen!r} that fits the rest and are read as missing, "
                                f"e.g. {bad_cells.iloc[0]!r}")
                n_missing += len(bad_cells)
                return parsed, ColumnInfo(name, "date", int(parsed.nunique()), n_missing, chosen), warn
    distinct = len(uniq)
    w = counts / counts.sum()
    mean_len = float(np.dot(ustr.str.len().to_numpy(dtype=float), w))
    multiword = float(np.dot((ustr.str.count(r"[^\W\d_]{2,}") >= 3).to_numpy(dtype=float), w))
    if mean_len > TEXT_MEAN_LENGTH or (multiword > 0.5 and distinct / len(strs) > 0.5 and len(strs) >= 20):
        info = ColumnInfo(name, "text", distinct, n_missing,
                          note=f"mean length {mean_len:.0f} characters, {distinct} distinct values")
        return s.astype(object), info, warn
    return s.astype(object), ColumnInfo(name, "categorical", distinct, n_missing), warn


def detect_direct_identifiers(table: LoadedTable) -> list[dict[str, str]]:
    """Columns that name people outright: by column name, by value pattern, or near-unique strings.

    Returns ``[{"column", "reason"}]``. Value patterns: e-mail addresses, phone numbers, US SSNs,
    each when more than half the non-missing values match. Near-unique: a string column with at
    least 20 values of which :data:`NEAR_UNIQUE` or more are distinct.
    """
    found: list[dict[str, str]] = []
    df = table.df
    for col, info in table.columns.items():
        key = re.sub(r"[^a-z]", "", col.lower())
        reasons = []
        if _ID_NAME.search(key):
            reasons.append(f"its name {col!r} denotes a direct identifier")
        s = df[col].dropna()
        if info.kind in ("categorical", "text") and len(s):
            strs = s.astype(str)
            if len(strs) > 2000:
                strs = strs.sample(2000, random_state=0)
            for label, rx in (("e-mail addresses", _EMAIL), ("US social security numbers", _SSN)):
                frac = float(strs.str.match(rx).mean())
                if frac > 0.5:
                    reasons.append(f"{frac:.0%} of its values are {label}")
            phone = strs.str.match(_PHONE) & (strs.str.count(r"\d") >= 7)
            if float(phone.mean()) > 0.5 and not any("social security" in r for r in reasons):
                reasons.append(f"{float(phone.mean()):.0%} of its values look like phone numbers")
            if len(s) >= 20 and info.distinct / len(s) >= NEAR_UNIQUE and info.kind == "categorical":
                reasons.append(f"{info.distinct / len(s):.0%} of its values are distinct (it names each record)")
        if reasons:
            found.append({"column": col, "reason": "; ".join(reasons)})
    return found


def require_columns(table: LoadedTable | pd.DataFrame, columns: Iterable[str], *, role: str,
                    name: str | None = None) -> None:
    """Raise :class:`TableError` naming each column of ``columns`` absent from the table."""
    df = table.df if isinstance(table, LoadedTable) else table
    label = name or (table.name if isinstance(table, LoadedTable) else "table")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise TableError(f"{role} column(s) {missing} not found in table {label!r}; "
                         f"its columns are {list(map(str, df.columns))}")


def numeric_view(s: pd.Series) -> np.ndarray:
    """A float view of a numeric or date column (dates as days since the epoch); NaN for missing."""
    if pd.api.types.is_datetime64_any_dtype(s):
        v = s.astype("datetime64[ns]").to_numpy()
        out = (v - np.datetime64(0, "ns")).astype("timedelta64[s]").astype(float) / 86400.0
        out[np.isnat(v)] = np.nan
        return out
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
