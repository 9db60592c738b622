"""Suppressed records: rows a de-identification tool blanked out rather than removed.

ARX (and most tools) write a suppressed record with every quasi-identifier replaced by a marker,
``*`` by default. Such records are not an equivalence class of their own: counting the block of
``*`` rows as one large class inflates k and deflates the risk measures, the error ARX fixed in
its issue 259 (``DataHandleOutput.internalIsOutlier``: a record is an outlier when all of the
quasi-identifiers asked about are suppressed, and the risk models then leave it out of every
class, ``RiskModelSampleSummary.getGroups``). auditkit does the same:

* a record is **suppressed** when *every* quasi-identifier holds the marker; it is left out of the
  equivalence classes, k, uniqueness, l-diversity, t-closeness, the re-identification risks and
  the population-uniqueness estimators, whose denominators count the released, unsuppressed
  records, and it is counted and reported as suppressed;
* a record with *some* quasi-identifiers at the marker keeps them as a value (a cell generalised
  to "any"), as ARX does for a value generalised to the top of its hierarchy.

The attacks (linkage, singling out, inference) still see every released row: a suppressed row
is what an attacker reads too.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data.tables import infer_column

__all__ = ["DEFAULT_MARKER", "split_suppressed", "suppressed_mask"]

#: ARX's suppression marker.
DEFAULT_MARKER = "*"


def suppressed_mask(df: pd.DataFrame, qi: Sequence[str], *, marker: str = DEFAULT_MARKER) -> np.ndarray:
    """Boolean mask of the records whose quasi-identifiers are all ``marker``.

    Values are compared as text after stripping surrounding blanks, so a numeric column read
    as text because of the marker, and a marker padded with spaces, are both recognised.

    Examples
    --------
    >>> df = pd.DataFrame({"age": ["*", "30", "*"], "zip": ["*", "*", "*"]})
    >>> suppressed_mask(df, ["age", "zip"]).tolist()
    [True, False, True]
    """
    if not isinstance(marker, str) or not marker.strip():
        raise ValueError(f"suppression marker must be a non-blank string, got {marker!r}")
    if not qi:
        return np.zeros(len(df), dtype=bool)
    mark = marker.strip()
    mask = np.ones(len(df), dtype=bool)
    for col in qi:
        s = df[col]
        mask &= s.map(lambda v: isinstance(v, str) and v.strip() == mark).to_numpy(dtype=bool)
    return mask


def split_suppressed(df: pd.DataFrame, qi: Sequence[str], *, marker: str = DEFAULT_MARKER
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The unsuppressed records (index reset) and a summary of the suppressed ones.

    Returns
    -------
    (kept, info) with ``info = {"marker", "records", "share", "partially_suppressed", "retyped"}``:
    the number and share of fully suppressed records, the number of records with some but not
    all quasi-identifiers at the marker (kept, the marker read as a value), and the columns
    typed again once the suppressed rows are gone (a numeric column read as text only because
    of the marker: ``{column: kind}``), so they match a population table's numbers.
    """
    mask = suppressed_mask(df, qi, marker=marker)
    mark = marker.strip()
    any_marked = np.zeros(len(df), dtype=bool)
    marked_cols = []
    for col in qi:
        hit = df[col].map(lambda v: isinstance(v, str) and v.strip() == mark).to_numpy(dtype=bool)
        any_marked |= hit
        if hit.any() and not (hit & ~mask).any():
            marked_cols.append(col)  # the marker occurs in this column only in suppressed records
    n_sup = int(mask.sum())
    info: dict[str, Any] = {"marker": marker, "records": n_sup, "share": float(n_sup / len(df)) if len(df) else 0.0,
                            "partially_suppressed": int((any_marked & ~mask).sum()), "retyped": {}}
    if not n_sup:
        return df, info
    kept = df.loc[~mask].reset_index(drop=True)
    for col in marked_cols:  # e.g. age read as text only because of the marker: numeric again
        series, col_info, _ = infer_column(kept[col], name=col)
        if col_info.kind != "categorical":
            kept[col] = series
            info["retyped"][col] = col_info.kind
    return kept, info
