"""More of the peers' table measures (issue 14): recursive (c,l)-diversity, (alpha,k)-anonymity,
basic and enhanced beta-likeness, delta-disclosure privacy (as pycanon computes them) and ARX's
distinction and separation of each set of quasi-identifiers.

Each measure is computed per sensitive attribute on the equivalence classes of the
quasi-identifiers (``gen=True`` in pycanon with one sensitive attribute). Missing values are a
value of their own, as in :mod:`auditkit.scoring.table_measures` (pycanon's ``groupby`` drops a
record whose quasi-identifier is missing; on tables without missing values the two agree).

Where pycanon departs from the paper that defines a measure, both figures are given: the
paper's under the measure's name and pycanon's under ``*_pycanon`` (recursive (c,l)-diversity),
or the paper's condition beside pycanon's figure (enhanced beta-likeness, delta-disclosure).
``tests/test_peer_measures.py`` compares every figure with pycanon's own code and ARX's.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from ..scoring.table_measures import class_ids, k_anonymity

__all__ = [
    "alpha_k_anonymity",
    "beta_likeness",
    "delta_disclosure",
    "peer_measures",
    "qi_distinction_separation",
    "recursive_cl_diversity",
]


def _counts(df: pd.DataFrame, qi: Sequence[str], sensitive: str) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Class x sensitive-value counts (rows: classes, columns: values) and each value's share in
    the whole table."""
    if sensitive not in df.columns:
        raise KeyError(f"sensitive attribute {sensitive!r} is not a column (columns: {list(df.columns)})")
    if len(df) == 0:
        raise ValueError("the table has no records")
    ids = pd.factorize(class_ids(df, qi))[0]
    vcodes = pd.factorize(df[sensitive], use_na_sentinel=False)[0]
    m = sparse.csr_matrix((np.ones(len(ids)), (ids, vcodes)), shape=(int(ids.max()) + 1, int(vcodes.max()) + 1))
    m.sum_duplicates()
    p = np.asarray(m.sum(axis=0)).ravel() / len(df)
    return m, p


def _rows(m: sparse.csr_matrix) -> list[np.ndarray]:
    return np.split(m.data, m.indptr[1:-1])


def recursive_cl_diversity(df: pd.DataFrame, qi: Sequence[str], sensitive: str) -> dict[str, Any]:
    """Recursive (c,l)-diversity with ``l`` the table's distinct l-diversity, and the smallest
    integer ``c`` for which every class satisfies it.

    Machanavajjhala et al., "l-diversity: privacy beyond k-anonymity", TKDD 1(1), 2007, Def. 4.3:
    with a class's value counts sorted in decreasing order ``r_1 >= r_2 >= ... >= r_m``, the class
    is recursive (c,l)-diverse when ``r_1 < c * (r_l + r_{l+1} + ... + r_m)``; the smallest integer
    ``c`` is ``floor(r_1 / (r_l + ... + r_m)) + 1``, and the table's ``c`` is the largest over
    classes. ``None`` when ``l <= 1`` (some class holds one value: no ``c`` helps).

    pycanon's ``recursive_c_l_diversity`` (1.3.x) uses the same ``l`` and formula but sorts the
    counts in *increasing* order, so its ``r_1`` is the rarest value and its ``c`` is 1 or 2
    whatever the data: that figure is ``c_pycanon``, given to compare, not to rely on.
    """
    m, _ = _counts(df, qi, sensitive)
    rows = _rows(m)
    l_div = int(min(len(r) for r in rows))
    if l_div <= 1:
        return {"c": None, "l": l_div, "c_pycanon": None}
    c = c_py = 0
    for r in rows:
        desc = np.sort(r)[::-1]
        c = max(c, int(math.floor(desc[0] / desc[l_div - 1:].sum())) + 1)
        asc = desc[::-1]
        c_py = max(c_py, int(math.floor(asc[0] / asc[l_div - 1:].sum() + 1)))
    return {"c": c, "l": l_div, "c_pycanon": c_py}


def alpha_k_anonymity(df: pd.DataFrame, qi: Sequence[str], sensitive: str) -> dict[str, Any]:
    """(alpha,k)-anonymity: ``k`` is the table's k-anonymity and ``alpha`` the largest share any
    one sensitive value takes in any class.

    Wong, Li, Fu, Wang, "(alpha,k)-anonymity: an enhanced k-anonymity model for privacy-preserving
    data publishing", KDD 2006, bound the share of one chosen sensitive value by ``alpha``; like
    pycanon's ``alpha_k_anonymity`` the smallest ``alpha`` that holds for *every* value is given.
    """
    m, _ = _counts(df, qi, sensitive)
    sizes = np.asarray(m.sum(axis=1)).ravel()
    top = m.max(axis=1).toarray().ravel()
    return {"alpha": float(np.max(top / sizes)), "k": k_anonymity(df, qi)}


def beta_likeness(df: pd.DataFrame, qi: Sequence[str], sensitive: str) -> dict[str, Any]:
    """Basic and enhanced beta-likeness.

    Cao & Karras, "Publishing microdata with a robust privacy guarantee", PVLDB 5(11), 2012: with
    ``p_s`` the share of value ``s`` in the table and ``q_s`` in a class, the relative gain is
    ``D_s = (q_s - p_s) / p_s``. Basic: ``beta = max`` over classes and values of ``D_s`` (the
    smallest beta the table satisfies). Enhanced requires ``D_s <= min(beta, -ln p_s)`` for every
    value with ``q_s > p_s``; pycanon's ``enhanced_beta_likeness`` reports
    ``max_s min(beta_basic, -ln p_s) = min(beta_basic, -ln min_s p_s)`` (``enhanced``). The
    paper's condition can fail for every beta when a class raises a value's share above
    ``-ln p_s``: those (class, value) pairs are counted in ``enhanced_violations``.
    """
    m, p = _counts(df, qi, sensitive)
    sizes = np.asarray(m.sum(axis=1)).ravel()
    coo = m.tocoo()
    q = coo.data / sizes[coo.row]
    gain = (q - p[coo.col]) / p[coo.col]
    # a value absent from a class has gain -1; every class holds some value with gain >= 0
    basic = float(gain.max())
    enhanced = float(min(basic, -math.log(p.min())))
    violations = int(np.sum((gain > 0) & (gain > -np.log(p[coo.col]) + 1e-12)))
    return {"basic": basic, "enhanced": enhanced, "enhanced_violations": violations}


def delta_disclosure(df: pd.DataFrame, qi: Sequence[str], sensitive: str) -> dict[str, Any]:
    """delta-disclosure privacy: ``delta = max`` over classes and values of ``|ln(q_s / p_s)|``.

    Brickell & Shmatikov, "The cost of privacy: destruction of data-mining utility in
    anonymization", KDD 2008, Def. 4: a table is delta-disclosure private when
    ``|ln(q_s / p_s)| < delta`` for every class and value. A class without some value has
    ``q_s = 0`` and no finite delta; pycanon's ``delta_disclosure`` leaves such values out, and
    so does ``delta`` here; ``classes_missing_a_value`` counts the classes for which the paper's
    delta is infinite.
    """
    m, p = _counts(df, qi, sensitive)
    sizes = np.asarray(m.sum(axis=1)).ravel()
    coo = m.tocoo()
    q = coo.data / sizes[coo.row]
    delta = float(np.max(np.abs(np.log(q / p[coo.col]))))
    missing = int(np.sum(np.diff(m.indptr) < m.shape[1]))
    return {"delta": delta, "classes_missing_a_value": missing}


def _distinction_separation(key: np.ndarray) -> tuple[float, float]:
    n = len(key)
    f = np.bincount(key)
    f = f[f > 0]
    distinction = len(f) / n
    pairs = n * (n - 1)
    separation = float(1.0 - np.sum(f * (f - 1.0)) / pairs) if pairs else 0.0
    return float(distinction), separation


def qi_distinction_separation(df: pd.DataFrame, qi: Sequence[str], *, max_qi: int = 12) -> list[dict[str, Any]]:
    """ARX's distinction and separation of every non-empty subset of the quasi-identifiers.

    Motwani & Xu, "Efficient algorithms for masking and finding quasi-identifiers", VLDB 2007, as
    computed by ARX's ``org.deidentifier.arx.risk.RiskModelAttributes`` (Prasser, Zitzmann):
    *distinction* = number of equivalence classes / number of records (the set becomes a key
    after removing a fraction ``1 - distinction`` of the records); *separation* = the fraction of
    the ``n(n-1)/2`` record pairs that differ on at least one attribute of the set,
    ``1 - sum_classes f(f-1) / (n(n-1))``. Rows are sorted as ARX sorts them: by the number of
    attributes, then distinction, then separation. ``max_qi`` bounds the ``2^|qi| - 1`` subsets.
    """
    qi = list(qi)
    if len(qi) > max_qi:
        raise ValueError(f"{len(qi)} quasi-identifiers make {2 ** len(qi) - 1} subsets; at most max_qi={max_qi} "
                         "are analysed (declare fewer with --qi)")
    if len(df) == 0:
        raise ValueError("the table has no records")
    codes = [pd.factorize(df[c], use_na_sentinel=False)[0].astype(np.int64) for c in qi]
    keys: dict[tuple[int, ...], np.ndarray] = {(): np.zeros(len(df), dtype=np.int64)}
    rows = []
    for size in range(1, len(qi) + 1):
        for combo in combinations(range(len(qi)), size):
            parent = keys[combo[:-1]]
            c = codes[combo[-1]]
            key = pd.factorize(parent * (int(c.max()) + 1) + c)[0].astype(np.int64)
            if size < len(qi):
                keys[combo] = key
            d, s = _distinction_separation(key)
            rows.append({"qi": [qi[i] for i in combo], "distinction": d, "separation": s})
    rows.sort(key=lambda r: (len(r["qi"]), r["distinction"], r["separation"], str(r["qi"])))
    return rows


def _summary_rows(rows: list[dict[str, Any]], n_qi: int) -> list[dict[str, Any]]:
    """All subsets for up to 4 QIs; otherwise each single QI, each size's most distinguishing
    subset and the full set (results.json stays small)."""
    if n_qi <= 4:
        return rows
    keep = [r for r in rows if len(r["qi"]) == 1]
    for size in range(2, n_qi + 1):
        keep.append(max((r for r in rows if len(r["qi"]) == size),
                        key=lambda r: (r["distinction"], r["separation"])))
    return keep


def peer_measures(df: pd.DataFrame, qi: Sequence[str], sensitive: Sequence[str] = (), *,
                  max_qi_subsets: int = 10) -> dict[str, Any]:
    """The measures above for ``results.json["tables"]["peer_measures"]``.

    ``per_sensitive[s]``: (c,l)-diversity, (alpha,k)-anonymity, beta-likeness and
    delta-disclosure of ``s``. ``qi_subsets``: ARX's distinction and separation (see
    :func:`_summary_rows` for which subsets are kept; ``qi_subsets_computed`` says how many were
    computed), or a note when there are more than ``max_qi_subsets`` quasi-identifiers.
    """
    out: dict[str, Any] = {"per_sensitive": {}}
    for s in sensitive:
        out["per_sensitive"][s] = {"recursive_cl_diversity": recursive_cl_diversity(df, qi, s),
                                   "alpha_k_anonymity": alpha_k_anonymity(df, qi, s),
                                   "beta_likeness": beta_likeness(df, qi, s),
                                   "delta_disclosure": delta_disclosure(df, qi, s)}
    if len(qi) <= max_qi_subsets:
        rows = qi_distinction_separation(df, qi, max_qi=max_qi_subsets)
        full = rows[-1]
        out.update({"qi_distinction": full["distinction"], "qi_separation": full["separation"],
                    "qi_subsets": _summary_rows(rows, len(qi)), "qi_subsets_computed": len(rows)})
    else:
        d, sep = _distinction_separation(class_ids(df, qi))
        out.update({"qi_distinction": d, "qi_separation": sep, "qi_subsets": [],
                    "qi_subsets_computed": 0,
                    "qi_subsets_note": f"{len(qi)} quasi-identifiers: subsets not analysed (limit {max_qi_subsets})"})
    out["source"] = ("recursive (c,l)-diversity, (alpha,k)-anonymity, beta-likeness, delta-disclosure: as pycanon "
                     "computes them (paper figures beside where pycanon departs); distinction and separation: "
                     "ARX's RiskModelAttributes")
    return out
