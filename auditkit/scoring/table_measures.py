"""Disclosure-risk measures on quasi-identifiers: equivalence classes, k-anonymity, uniqueness,
l-diversity, t-closeness, and the prosecutor / journalist / marketer re-identification risks.

Missing values are a value of their own: two records both missing ``occupation`` fall in the
same class (the attacker sees the same blank), as ARX and pycanon treat them.
Suppressed records (every quasi-identifier ``*``) are not a class: these functions take the
records that form classes; :func:`auditkit.tables.run_table_audit` leaves the suppressed ones out
first and counts them (:mod:`auditkit.tables.suppression`, ARX issue 259).

References
----------
- L. Sweeney, "k-anonymity: a model for protecting privacy", IJUFKS 10(5), 2002.
- A. Machanavajjhala et al., "l-diversity: privacy beyond k-anonymity", TKDD 1(1), 2007
  (distinct and entropy l-diversity).
- N. Li, T. Li, S. Venkatasubramanian, "t-closeness: privacy beyond k-anonymity and
  l-diversity", ICDE 2007 (Earth Mover's Distance: equal ground distance for categorical
  values, ordered distance ``|i - j| / (m - 1)`` for numeric ones).
- K. El Emam, "Guide to the De-Identification of Personal Health Information", 2013, and ARX's
  ``org.deidentifier.arx.risk.RiskModelSampleSummary`` (prosecutor, journalist, marketer risk:
  records at risk, highest risk, success rate), whose definitions are followed exactly below.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from ..data.tables import LoadedTable

__all__ = [
    "class_ids",
    "class_size_summary",
    "class_sizes",
    "explain_uniqueness",
    "joint_class_ids",
    "k_anonymity",
    "l_diversity",
    "reidentification_risks",
    "suggest_qi",
    "t_closeness",
    "uniqueness",
]


def _codes(frames: Sequence[pd.DataFrame], col: str) -> list[np.ndarray]:
    """Codes of ``col`` consistent across ``frames``; missing is a code of its own."""
    allv = pd.concat([f[col] for f in frames], ignore_index=True)
    codes, _ = pd.factorize(allv, use_na_sentinel=False)
    out, start = [], 0
    for f in frames:
        out.append(codes[start:start + len(f)].astype(np.int64))
        start += len(f)
    return out


def joint_class_ids(frames: Sequence[pd.DataFrame], qi: Sequence[str]) -> list[np.ndarray]:
    """Equivalence-class ids on ``qi`` that agree across several tables (same values, same id)."""
    if not qi:
        return [np.zeros(len(f), dtype=np.int64) for f in frames]
    keys = [np.zeros(len(f), dtype=np.int64) for f in frames]
    for col in qi:
        codes = _codes(frames, col)
        width = int(max((c.max() for c in codes if len(c)), default=0)) + 1
        combined = np.concatenate([k * width + c for k, c in zip(keys, codes)])
        new, _ = pd.factorize(combined)
        start = 0
        for i, f in enumerate(frames):
            keys[i] = new[start:start + len(f)].astype(np.int64)
            start += len(f)
    return keys


def class_ids(df: pd.DataFrame, qi: Sequence[str]) -> np.ndarray:
    """Equivalence-class id of each record on ``qi``."""
    return joint_class_ids([df], qi)[0]


def class_sizes(df: pd.DataFrame, qi: Sequence[str]) -> np.ndarray:
    """Size of each record's equivalence class (the number of records sharing its QI values)."""
    ids = class_ids(df, qi)
    return np.bincount(ids)[ids]


def k_anonymity(df: pd.DataFrame, qi: Sequence[str]) -> int:
    """The table's k: the size of its smallest equivalence class on ``qi`` (0 for an empty table)."""
    if len(df) == 0:
        return 0
    return int(np.bincount(class_ids(df, qi)).min())


def uniqueness(df: pd.DataFrame, qi: Sequence[str]) -> float:
    """Fraction of records that are alone in their equivalence class (sample uniques)."""
    if len(df) == 0:
        return math.nan
    return float(np.mean(class_sizes(df, qi) == 1))


def _class_value_matrix(df: pd.DataFrame, qi: Sequence[str], sensitive: str, *, sort_values: bool
                        ) -> tuple[sparse.csr_matrix, np.ndarray]:
    ids = class_ids(df, qi)
    vals = df[sensitive]
    if sort_values:
        keep = vals.notna().to_numpy()
        ids, vals = ids[keep], vals[keep]
        uniq, vcodes = np.unique(vals.to_numpy(dtype=float), return_inverse=True)
    else:
        vcodes, uniq = pd.factorize(vals, use_na_sentinel=False)
    ids2, _ = pd.factorize(ids)
    m = sparse.csr_matrix((np.ones(len(ids2)), (ids2, vcodes)),
                          shape=(int(ids2.max()) + 1 if len(ids2) else 0, len(uniq)))
    m.sum_duplicates()
    return m, np.asarray(uniq)


def l_diversity(df: pd.DataFrame, qi: Sequence[str], sensitive: str) -> dict[str, Any]:
    """Distinct and entropy l-diversity of ``sensitive`` over the classes on ``qi``.

    ``distinct``: the fewest distinct sensitive values in any class. ``entropy``: ``exp`` of the
    smallest within-class entropy (natural log), so a class with ``l`` equally frequent values
    scores ``l``. Missing sensitive values count as one value.
    """
    m, _ = _class_value_matrix(df, qi, sensitive, sort_values=False)
    nnz = np.diff(m.indptr)
    totals = np.asarray(m.sum(axis=1)).ravel()
    p = m.data / np.repeat(totals, nnz)
    h = -np.add.reduceat(p * np.log(p), m.indptr[:-1]) if len(p) else np.zeros(0)
    return {"distinct": int(nnz.min()), "entropy": float(np.exp(h.min())),
            "classes_with_one_value": int(np.sum(nnz == 1)),
            "records_in_classes_with_one_value": int(totals[nnz == 1].sum())}


def t_closeness(df: pd.DataFrame, qi: Sequence[str], sensitive: str, *, ordered: bool | None = None,
                chunk_cells: int = 20_000_000) -> dict[str, Any]:
    """t-closeness: the largest Earth Mover's Distance between a class's distribution of
    ``sensitive`` and the whole table's (Li et al. 2007).

    Categorical (``ordered=False``, equal ground distance): ``EMD = 1/2 * sum_i |p_i - q_i|``.
    Numeric (``ordered=True``, ordered distance over the ``m`` distinct values sorted):
    ``EMD = 1/(m-1) * sum_{i<m} |sum_{j<=i} (p_j - q_j)|``; records with a missing numeric
    value are left out. ``ordered`` defaults to whether the column is numeric.
    """
    if ordered is None:
        ordered = bool(pd.api.types.is_numeric_dtype(df[sensitive]))
    m, _ = _class_value_matrix(df, qi, sensitive, sort_values=ordered)
    n_vals = m.shape[1]
    totals = np.asarray(m.sum(axis=1)).ravel()
    q = np.asarray(m.sum(axis=0)).ravel() / totals.sum()
    if n_vals <= 1:
        return {"t": 0.0, "ordered": ordered, "worst_class_size": int(totals.max(initial=0))}
    if not ordered:
        nnz = np.diff(m.indptr)
        p = m.data / np.repeat(totals, nnz)
        qv = q[m.indices]
        # sum over all values |p - q| = sum over the class's values (|p - q| - q) + sum(q)
        emd = 0.5 * (np.add.reduceat(np.abs(p - qv) - qv, m.indptr[:-1]) + 1.0)
    else:
        emd = np.empty(m.shape[0])
        cq = np.cumsum(q)[:-1]
        step = max(1, chunk_cells // n_vals)
        for s in range(0, m.shape[0], step):
            block = m[s:s + step].toarray() / totals[s:s + step, None]
            emd[s:s + step] = np.abs(np.cumsum(block, axis=1)[:, :-1] - cq).sum(axis=1) / (n_vals - 1)
    worst = int(np.argmax(emd))
    return {"t": float(emd.max()), "ordered": ordered, "worst_class_size": int(totals[worst]),
            "mean_class_distance": float(np.average(emd, weights=totals))}


def reidentification_risks(sample: pd.DataFrame, qi: Sequence[str], *, population: pd.DataFrame | None = None,
                           threshold: float = 0.2) -> dict[str, Any]:
    """Prosecutor, journalist and marketer risks exactly as ARX's ``RiskModelSampleSummary``.

    With ``f`` the size of a record's class in the sample (the release) and ``F`` the size of
    that class in the population, over the ``n`` sample records and ``c`` sample classes:

    * prosecutor (the attacker knows the target is in the release): records at risk = fraction
      of records with ``1/f > threshold``; highest risk = ``1/min f``; average risk (ARX's
      success rate) = ``c / n``.
    * journalist (the target is someone in the population): records at risk = fraction of
      sample records with ``1/F > threshold``; highest risk = ``1/min F``; average risk =
      ``max(c / sum_classes F, (1/n) * sum_classes f/F)``.
    * marketer (re-identify as many as possible): average risk = ``(1/n) * sum_classes f/F``;
      ARX defines no records-at-risk or highest risk for it, so those are ``None``.

    Without a population table, ``F = f`` (the release is its own population), as in ARX.
    A release class absent from the population (the population is not a superset of the
    release) takes ``F = f``: the population must contain at least the release's own records.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    n = len(sample)
    if n == 0:
        raise ValueError("the release table has no records")
    if population is None:
        ids = class_ids(sample, qi)
        f_cls = np.bincount(ids)
        F_cls = f_cls.astype(float)
        note = "no population table: the release is its own population (journalist = prosecutor)"
    else:
        sid, pid = joint_class_ids([sample, population], qi)
        size = int(max(sid.max(initial=-1), pid.max(initial=-1))) + 1
        f_all = np.bincount(sid, minlength=size)
        F_all = np.bincount(pid, minlength=size)
        present = f_all > 0
        f_cls = f_all[present]
        F_cls = np.maximum(F_all[present], f_cls).astype(float)
        absent = int(np.sum(F_all[present] < f_cls))
        note = (f"population: {len(population)} records" +
                (f"; {absent} release class(es) larger than in the population (F set to f)" if absent else ""))
    c = len(f_cls)
    pros = {"records_at_risk": float(f_cls[1.0 / f_cls > threshold].sum() / n),
            "highest_risk": float(1.0 / f_cls.min()), "average_risk": float(c / n)}
    sum_f_over_F = float(np.sum(f_cls / F_cls))
    jour = {"records_at_risk": float(f_cls[1.0 / F_cls > threshold].sum() / n),
            "highest_risk": float(1.0 / F_cls.min()),
            "average_risk": float(max(c / F_cls.sum(), sum_f_over_F / n))}
    mark = {"records_at_risk": None, "highest_risk": None, "average_risk": sum_f_over_F / n}
    return {"threshold": threshold, "prosecutor": pros, "journalist": jour, "marketer": mark, "note": note}


def class_size_summary(sizes_per_record: np.ndarray) -> dict[str, Any]:
    """Summary of equivalence classes from per-record class sizes: counts and a size histogram."""
    sizes = np.asarray(sizes_per_record)
    if len(sizes) == 0:
        return {"n_records": 0, "n_classes": 0}
    cls = np.bincount(sizes)  # cls[s] = number of records in classes of size s
    s_vals = np.nonzero(cls)[0]
    n_classes_by_size = cls[s_vals] // s_vals
    n_classes = int(n_classes_by_size.sum())
    bins = [(1, 1), (2, 2), (3, 4), (5, 9), (10, 19), (20, 49), (50, None)]
    hist = []
    for lo, hi in bins:
        sel = (s_vals >= lo) & ((s_vals <= hi) if hi is not None else True)
        hist.append({"size": f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi else f"{lo}+"),
                     "classes": int(n_classes_by_size[sel].sum()), "records": int(cls[s_vals[sel]].sum())})
    median_class = float(np.median(np.repeat(s_vals, n_classes_by_size)))
    return {"n_records": len(sizes), "n_classes": n_classes, "min": int(s_vals.min()),
            "median": median_class, "mean": float(len(sizes) / n_classes), "max": int(s_vals.max()),
            "histogram": hist}


def _uniq_from_ids(ids: np.ndarray) -> float:
    counts = np.bincount(ids)
    return float(np.sum(counts == 1) / len(ids))


def suggest_qi(table: LoadedTable, *, exclude: Sequence[str] = (), max_qi: int = 6, min_gain: float = 0.005,
               max_distinct_fraction: float = 0.5) -> tuple[list[str], dict[str, str]]:
    """Suggest quasi-identifiers by greedy forward selection on uniqueness, with the reason.

    Candidates are the numeric, categorical and date columns that are not direct identifiers,
    not in ``exclude`` (sensitive attribute, identity column) and whose distinct values are at
    most ``max_distinct_fraction`` of the rows (a column that nearly names each record, such as
    a sampling weight, is reported but not suggested: declare it with ``--qi`` if the attacker
    can know it). At each step the column that raises the fraction of unique records most is
    added; selection stops when the gain is below ``min_gain`` or ``max_qi`` columns are chosen.
    """
    df = table.df
    n = len(df)
    direct = {d["column"] for d in table.direct_identifiers}
    reasons: dict[str, str] = {}
    cands = []
    for col, info in table.columns.items():
        if col in exclude:
            continue
        if col in direct:
            reasons[col] = "not suggested: direct identifier (remove it from the release)"
        elif info.kind == "text":
            reasons[col] = "not suggested: free text cannot be a quasi-identifier (review it by hand)"
        elif info.distinct <= 1:
            reasons[col] = "not suggested: a single value"
        elif info.distinct > max_distinct_fraction * n:
            u = _uniq_from_ids(pd.factorize(df[col], use_na_sentinel=False)[0])
            reasons[col] = (f"not suggested: {info.distinct} distinct values for {n} records "
                            f"(alone it makes {u:.1%} of records unique); declare it if the attacker knows it")
        else:
            cands.append(col)
    codes = {c: pd.factorize(df[c], use_na_sentinel=False)[0].astype(np.int64) for c in cands}
    chosen: list[str] = []
    key = np.zeros(n, dtype=np.int64)
    current = 0.0 if n > 1 else 1.0
    n_cls = 1
    while len(chosen) < max_qi:
        best, best_score, best_key = None, (current, n_cls), None
        for c in cands:
            if c in chosen:
                continue
            k2, uniq_keys = pd.factorize(key * (codes[c].max() + 1) + codes[c])
            score = (_uniq_from_ids(k2), len(uniq_keys))
            if score > best_score:
                best, best_score, best_key = c, score, k2
        if best is None:
            break
        best_u = best_score[0]
        # while no record is unique yet, columns are added for the classes they split
        if best_u - current < min_gain and current > 0:
            break
        alone = _uniq_from_ids(codes[best])
        reasons[best] = (f"raises the fraction of unique records from {current:.1%} to {best_u:.1%} "
                         f"and the classes from {n_cls} to {best_score[1]} (alone: {alone:.1%} unique)")
        n_cls = best_score[1]
        chosen.append(best)
        key, current = best_key.astype(np.int64), best_u
    for c in cands:
        if c not in chosen and c not in reasons:
            reasons[c] = f"not suggested: adds less than {min_gain:.1%} uniqueness to the chosen set"
    return chosen, reasons


def explain_uniqueness(df: pd.DataFrame, qi: Sequence[str]) -> dict[str, Any]:
    """Which attributes make people unique, in numbers and in plain words.

    For each quasi-identifier: the fraction unique on it alone, and the fraction unique on the
    other quasi-identifiers without it (the drop shows how much it contributes).
    """
    n = len(df)
    total = uniqueness(df, qi)
    rows = []
    for col in qi:
        others = [c for c in qi if c != col]
        without = uniqueness(df, others) if others else 0.0
        rows.append({"attribute": col, "unique_alone": uniqueness(df, [col]), "unique_without": without,
                     "contribution": total - without})
    rows.sort(key=lambda r: -r["contribution"])
    n_unique = round(total * n)
    words = [(f"{total:.1%} of records ({n_unique} of {n}) are unique on the {len(qi)} quasi-identifier(s) "
              f"{', '.join(qi)}: anyone who knows these values about such a person finds their record.")]
    if n_unique == 0:
        words.append("No record is unique on them.")
    else:
        top = [r for r in rows if r["contribution"] > 0][:3]
        for r in top:
            words.append(f"Without {r['attribute']}, {r['unique_without']:.1%} would be unique "
                         f"({r['unique_alone']:.1%} are unique on {r['attribute']} alone).")
        flat = [r["attribute"] for r in rows if r["contribution"] <= 0]
        if flat:
            words.append(f"Removing {', '.join(flat)} alone would not lower uniqueness: the others already "
                         "separate those records.")
    return {"uniqueness": total, "attributes": rows, "text": " ".join(words)}
