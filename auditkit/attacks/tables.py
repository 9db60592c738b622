"""Attacks on a released table, each scored beside a random baseline and, where the data allow,
a control set (records of the same population known not to be in the release).

The method follows anonymeter's evaluators (Giomi et al., PoPETs 2023; statice/anonymeter
``SinglingOutEvaluator``, ``LinkabilityEvaluator``, ``InferenceEvaluator``), re-implemented with
pandas / numpy / scikit-learn, with three deliberate differences:

* every random choice is seeded by ``random_state`` (anonymeter's module RNG is not);
* where a random guess or a tie among equally close records can be scored *in expectation*
  (a uniform pick among ``m`` tied records succeeds with probability ``#correct / m``), the
  expectation is used instead of a draw, so results do not depend on the seed;
* the control and the attacked set are subsampled to the same size instead of fitting
  anonymeter's size-correction model for singling out.

The residual risk ``(attack - reference) / (1 - reference)`` uses as reference the stronger of
the baseline and the control (:func:`auditkit.scoring.stats.residual_risk`). Its interval: when the
reference is exact (an analytic chance level) the attack's 95% Wilson interval is mapped through
the residual (:func:`auditkit.scoring.stats.advantage_interval`); when the reference is itself measured
(control), both rates get 97.5% Wilson intervals and the residual's interval is
``[res(att_lo, ref_hi), res(att_hi, ref_lo)]``, which covers with at least 95% (Bonferroni).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data.tables import TableError, numeric_view
from ..result import AttackResult
from ..scoring.stats import advantage_interval, residual_risk, wilson_interval
from ..scoring.table_measures import joint_class_ids
from .contract import Attack

__all__ = [
    "MixedEncoding",
    "encode_mixed",
    "exact_linkage",
    "gower_distance_rows",
    "gower_nearest",
    "inference",
    "nearest_linkage",
    "score_attack",
    "singling_out",
]

_EPS = 1e-9
NUMERIC_KINDS = ("numeric", "date")


# ---------------------------------------------------------------- scoring

def score_attack(*, name: str, criterion: str, successes: float, n: int, baseline: float,
                 control_successes: float | None = None, control_n: int | None = None,
                 n_identities: int, identification: bool = False, cue: str = "table",
                 notes: Sequence[str] = (), details: dict[str, Any] | None = None) -> AttackResult:
    """Wrap an attack's counts into an :class:`~auditkit.result.AttackResult` (see module doc).

    ``successes`` may be fractional (an expected count). ``baseline`` is an exact chance rate.
    """
    notes = list(notes)
    rate = successes / n if n else math.nan
    ci = wilson_interval(successes, n)
    control = control_ci = None
    if control_successes is not None and control_n:
        control = control_successes / control_n
    use_control = control is not None and control > baseline
    ref = control if use_control else baseline
    adv = adv_ci = None
    if n and ref is not None and ref < 1.0:
        adv = residual_risk(rate, ref)
        if use_control:
            a_lo, a_hi = wilson_interval(successes, n, confidence=0.975)
            c_lo, c_hi = wilson_interval(control_successes, control_n, confidence=0.975)
            adv_ci = (residual_risk(a_lo, c_hi) if c_hi < 1 else math.nan, residual_risk(a_hi, c_lo))
        else:
            adv_ci = advantage_interval(ci, ref)
    elif ref is not None and ref >= 1.0:
        notes.append("the reference success rate is 100%: no residual risk can be measured")
    if control is not None:
        control_ci = wilson_interval(control_successes, control_n)
    if n and not math.isnan(rate) and rate <= max(baseline, control or 0.0):
        notes.append("the attack does no better than its " + ("control" if use_control else "random baseline"))
    metrics: dict[str, Any] = {
        "success_rate": rate, "success_rate_ci": ci, "baseline": baseline, "control": control,
        "control_ci": control_ci, "control_n": control_n if control is not None else None,
        "reference": "control" if use_control else "baseline",
        "advantage": adv if adv is not None else math.nan,
        "advantage_ci": adv_ci if adv_ci is not None else (math.nan, math.nan), "n": int(n),
    }
    if identification:
        metrics.update({"rank1": rate, "rank1_ci": ci, "chance_rank1": baseline})
    return AttackResult(name=name, cue=cue, criterion=criterion, n_probes=int(n), n_identities=int(n_identities),
                        metrics=metrics, notes=notes, details=details or {})


# ---------------------------------------------------------------- mixed-type encoding and Gower NN

@dataclass
class MixedEncoding:
    """Rows of one table encoded for Gower distance.

    ``num``: numeric / date columns divided by their range over all tables encoded together
    (missing filled with 0); ``cat``: integer codes of categorical columns followed by one
    missing-flag per numeric column; ``key``: one id per distinct ``cat`` row, shared across tables.
    """

    num: np.ndarray
    cat: np.ndarray
    key: np.ndarray


def encode_mixed(frames: Sequence[pd.DataFrame], cols: Sequence[str], kinds: dict[str, str]
                 ) -> list[MixedEncoding]:
    """Encode the ``cols`` of several tables consistently (same scaling, same codes)."""
    num_cols = [c for c in cols if kinds.get(c) in NUMERIC_KINDS]
    cat_cols = [c for c in cols if c not in num_cols]
    nums = [np.column_stack([numeric_view(f[c]) for c in num_cols]) if num_cols else np.zeros((len(f), 0))
            for f in frames]
    allnum = np.vstack(nums) if nums else np.zeros((0, len(num_cols)))
    flags = [np.isnan(x).astype(np.int64) for x in nums]
    if num_cols and len(allnum):
        lo = np.nanmin(np.where(np.isnan(allnum), np.inf, allnum), axis=0)
        hi = np.nanmax(np.where(np.isnan(allnum), -np.inf, allnum), axis=0)
        lo = np.where(np.isfinite(lo), lo, 0.0)
        rng = np.where(np.isfinite(hi) & (hi > lo), hi - lo, 1.0)
        nums = [np.nan_to_num((x - lo) / rng, nan=0.0) for x in nums]
    codes_per_col = []
    for c in cat_cols:
        allv = pd.concat([f[c].astype(object) for f in frames], ignore_index=True)
        codes_per_col.append(pd.factorize(allv, use_na_sentinel=False)[0].astype(np.int64))
    out = []
    start = 0
    cat_frames = []
    for i, f in enumerate(frames):
        parts = [cc[start:start + len(f)] for cc in codes_per_col]
        cat = np.column_stack(parts + [flags[i]]) if (parts or num_cols) else np.zeros((len(f), 0), np.int64)
        cat_frames.append(pd.DataFrame(cat))
        out.append([nums[i], cat.astype(np.int64)])
        start += len(f)
    keys = joint_class_ids(cat_frames, list(range(cat_frames[0].shape[1]))) if cat_frames[0].shape[1] else \
        [np.zeros(len(f), dtype=np.int64) for f in frames]
    return [MixedEncoding(num=o[0].astype(float), cat=o[1], key=k) for o, k in zip(out, keys)]


def gower_distance_rows(a: MixedEncoding, ia: np.ndarray, b: MixedEncoding, ib: np.ndarray) -> np.ndarray:
    """Distance between rows ``a[ia[i]]`` and ``b[ib[i]]``: sum of scaled |numeric differences| plus
    the number of differing categorical values (missing numeric = a categorical flag)."""
    d = np.abs(a.num[ia] - b.num[ib]).sum(axis=1) if a.num.shape[1] else np.zeros(len(ia))
    if a.cat.shape[1]:
        d = d + (a.cat[ia] != b.cat[ib]).sum(axis=1)
    return d


def _brute(qn, qc, cn, cc) -> tuple[np.ndarray, list[np.ndarray]]:
    d = np.zeros((len(qn), len(cn)))
    if qn.shape[1]:
        d += np.abs(qn[:, None, :] - cn[None, :, :]).sum(axis=2)
    if qc.shape[1]:
        d += (qc[:, None, :] != cc[None, :, :]).sum(axis=2)
    dmin = d.min(axis=1)
    ties = [np.flatnonzero(row <= m + _EPS) for row, m in zip(d, dmin)]
    return dmin, ties


def gower_nearest(q: MixedEncoding, c: MixedEncoding, *, brute_cells: int = 4_000_000
                  ) -> tuple[np.ndarray, list[np.ndarray], int]:
    """All nearest candidates of each query under the Gower-type distance of :func:`gower_distance_rows`.

    Exact, and not quadratic where it need not be: queries are first searched within the
    block of candidates that share all their categorical values (a KD-tree with the L1 metric
    on the scaled numeric columns when the block is large). A block answer below 1 is final,
    since any candidate outside the block differs in a categorical value and is at least 1
    away; the remaining queries (no block, or block distance >= 1) are searched by brute force
    in memory-bounded chunks. Returns ``(dmin, ties, n_brute)``: the smallest distance, the
    indices of every candidate at that distance, and how many queries needed brute force.
    """
    from sklearn.neighbors import KDTree

    nq = len(q.key)
    dmin = np.full(nq, np.inf)
    ties: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * nq
    order = np.argsort(c.key, kind="stable")
    sorted_keys = c.key[order]
    qorder = np.argsort(q.key, kind="stable")
    qkeys_sorted = q.key[qorder]
    ukeys, qstarts = np.unique(qkeys_sorted, return_index=True)
    qends = np.append(qstarts[1:], nq)
    lefts = np.searchsorted(sorted_keys, ukeys, side="left")
    rights = np.searchsorted(sorted_keys, ukeys, side="right")
    p = q.num.shape[1]
    for k in range(len(ukeys)):
        if rights[k] == lefts[k]:
            continue
        qi = qorder[qstarts[k]:qends[k]]
        ci = order[lefts[k]:rights[k]]
        if p == 0:
            for j in qi:
                dmin[j] = 0.0
                ties[j] = ci
            continue
        qn, cn = q.num[qi], c.num[ci]
        if len(qi) * len(ci) <= 4096 or len(ci) <= 32:
            dm, tl = _brute(qn, np.zeros((len(qi), 0)), cn, np.zeros((len(ci), 0)))
        else:
            tree = KDTree(cn, metric="manhattan")
            dm = tree.query(qn, k=1, return_distance=True)[0][:, 0]
            tl = tree.query_radius(qn, r=dm + _EPS)
        for j, m, t in zip(qi, dm, tl):
            dmin[j] = m
            ties[j] = ci[np.asarray(t, dtype=np.int64)]
    todo = np.flatnonzero(~(dmin < 1.0 - _EPS))
    if len(todo):
        step = max(1, brute_cells // max(1, len(c.key) * max(1, p + c.cat.shape[1])))
        for s in range(0, len(todo), step):
            idx = todo[s:s + step]
            dm, tl = _brute(q.num[idx], q.cat[idx], c.num, c.cat)
            for j, m, t in zip(idx, dm, tl):
                dmin[j] = m
                ties[j] = t.astype(np.int64)
    return dmin, ties, len(todo)


# ---------------------------------------------------------------- linkage

def _truth_index(release: pd.DataFrame, aux: pd.DataFrame, id_col: str | None) -> np.ndarray | None:
    if id_col is None:
        return None
    dup = aux[id_col][aux[id_col].duplicated() & aux[id_col].notna()]
    if len(dup):
        raise TableError(f"identity column {id_col!r} of the auxiliary table has duplicated values "
                         f"(e.g. {str(dup.iloc[0])!r}); linkage needs one row per identity")
    pos = pd.Series(np.arange(len(aux)), index=aux[id_col].astype(object))
    pos = pos[pos.index.notna()]
    return release[id_col].astype(object).map(pos).fillna(-1).to_numpy(dtype=np.int64)


def _linkage_result(name: str, probs: np.ndarray, truth: np.ndarray | None, n_aux: int, notes: list[str],
                    details: dict[str, Any]) -> AttackResult:
    n = len(probs)
    if truth is None:
        baseline = 1.0 / n_aux
        notes = [*notes, ("no ground-truth identities: success is the expected rate of a uniform pick among "
                          "the closest auxiliary records, assuming each released person is among them "
                          "(the prosecutor scenario; an upper bound when that is not certain)")]
    else:
        present = float(np.mean(truth >= 0)) if n else 0.0
        baseline = present / n_aux
        details = {**details, "probes_with_identity_in_aux": int(np.sum(truth >= 0))}
    details = {**details, "unique_links": int(np.sum(probs == 1.0)) if truth is None else None}
    return score_attack(name=name, criterion="linkability", successes=float(probs.sum()), n=n,
                        baseline=baseline, n_identities=n_aux, identification=True, notes=notes,
                        details=details)


def _sample(n: int, n_attacks: int | None, rng: np.random.Generator) -> np.ndarray:
    if n_attacks is None or n_attacks >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=n_attacks, replace=False))


def exact_linkage(release: pd.DataFrame, aux: pd.DataFrame, qi: Sequence[str], *, id_col: str | None = None,
                  n_attacks: int | None = None, random_state: int = 0) -> AttackResult:
    """``linkage.exact``: link each release record to the auxiliary records with identical QIs.

    The attacker picks uniformly among the ``F`` auxiliary records that share the record's QI
    values; it succeeds with probability ``1/F`` when the true identity is among them (known
    from ``id_col`` present in both tables; without it, assumed), and 0 when no record matches.
    Baseline: a uniform pick among all auxiliary identities. Cost: one hash join, O(n + N).
    """
    rng = np.random.default_rng(random_state)
    rows = _sample(len(release), n_attacks, rng)
    rel = release.iloc[rows]
    truth = _truth_index(rel, aux, id_col)
    rk, ak = joint_class_ids([rel, aux], list(qi))
    size = int(max(rk.max(initial=-1), ak.max(initial=-1))) + 1
    F = np.bincount(ak, minlength=size)[rk]
    if truth is None:
        probs = np.where(F > 0, 1.0 / np.maximum(F, 1), 0.0)
    else:
        same = (truth >= 0) & (ak[np.maximum(truth, 0)] == rk)
        probs = np.where(same, 1.0 / np.maximum(F, 1), 0.0)
    notes = []
    unmatched = int(np.sum(F == 0))
    if unmatched:
        notes.append(f"{unmatched} release record(s) match no auxiliary record exactly on the QIs")
    return _linkage_result("linkage.exact", probs, truth, len(aux), notes,
                           {"qi": list(qi), "unmatched": unmatched,
                            "mean_candidates": float(np.mean(F[F > 0])) if np.any(F > 0) else None})


def nearest_linkage(release: pd.DataFrame, aux: pd.DataFrame, qi: Sequence[str], kinds: dict[str, str], *,
                    id_col: str | None = None, n_attacks: int | None = None, random_state: int = 0
                    ) -> AttackResult:
    """``linkage.nearest``: link each release record to its Gower-nearest auxiliary records.

    Distance: :func:`gower_distance_rows` on the QIs (numeric and dates scaled by their range
    across both tables, categorical values equal or not), searched by :func:`gower_nearest`. The
    attacker picks uniformly among the records tied at the smallest distance. Unlike the exact
    attack it survives generalised or perturbed numeric values.
    """
    rng = np.random.default_rng(random_state)
    rows = _sample(len(release), n_attacks, rng)
    rel = release.iloc[rows]
    truth = _truth_index(rel, aux, id_col)
    q, c = encode_mixed([rel, aux], qi, kinds)
    dmin, ties, n_brute = gower_nearest(q, c)
    n_ties = np.array([len(t) for t in ties], dtype=float)
    if truth is None:
        probs = np.where(n_ties > 0, 1.0 / np.maximum(n_ties, 1), 0.0)
    else:
        ok = truth >= 0
        dtrue = np.full(len(rel), np.inf)
        if ok.any():
            dtrue[ok] = gower_distance_rows(q, np.flatnonzero(ok), c, truth[ok])
        probs = np.where(ok & (dtrue <= dmin + _EPS), 1.0 / np.maximum(n_ties, 1), 0.0)
    details = {"qi": list(qi), "distance": "gower (sum over QIs; numeric scaled by range)",
               "median_nearest_distance": float(np.median(dmin)) if len(dmin) else None,
               "mean_tied_candidates": float(n_ties.mean()) if len(n_ties) else None,
               "queries_searched_by_brute_force": n_brute}
    return _linkage_result("linkage.nearest", probs, truth, len(aux), [], details)


# ---------------------------------------------------------------- singling out

class _Counter:
    """Counts the records a conjunctive predicate matches, fast.

    Equality and missing-value conditions select a block through a hash index built once per
    set of columns; the remaining conditions (inequalities, ``!=``) are tested on that block only.
    """

    def __init__(self, df: pd.DataFrame, cols: Sequence[str]):
        self.n = len(df)
        self.codes: dict[str, np.ndarray] = {}
        self.lookup: dict[str, dict] = {}
        self.values: dict[str, np.ndarray] = {}
        self.isna: dict[str, np.ndarray] = {}
        for c in cols:
            s = df[c]
            codes, uniq = pd.factorize(s, use_na_sentinel=True)
            self.codes[c] = codes.astype(np.int64)
            self.lookup[c] = {v: i for i, v in enumerate(uniq)}
            self.values[c] = s.to_numpy()
            self.isna[c] = s.isna().to_numpy()
        self._index: dict[tuple, dict] = {}

    def _block(self, eq: list[tuple[str, Any]]) -> np.ndarray | None:
        cols = tuple(c for c, _ in eq)
        key = []
        for c, v in eq:
            code = -1 if v is None else self.lookup[c].get(v)
            if code is None:
                return np.zeros(0, dtype=np.int64)
            key.append(code)
        if cols not in self._index:
            frame = pd.DataFrame({i: self.codes[c] for i, c in enumerate(cols)})
            self._index[cols] = frame.groupby(list(range(len(cols))), sort=False).indices
        idx = self._index[cols].get(key[0] if len(key) == 1 else tuple(key))
        return idx if idx is not None else np.zeros(0, dtype=np.int64)

    def count(self, query: list[tuple[str, str, Any]]) -> int:
        eq = [(c, v) for c, op, v in query if op == "=="] + [(c, None) for c, op, _ in query if op == "isna"]
        rest = [(c, op, v) for c, op, v in query if op not in ("==", "isna")]
        rows = self._block(eq) if eq else None
        if not rest:
            return self.n if rows is None else len(rows)
        mask = None
        for c, op, v in rest:
            vals = self.values[c] if rows is None else self.values[c][rows]
            na = self.isna[c] if rows is None else self.isna[c][rows]
            if op == "notna":
                m = ~na
            elif op == "!=":
                m = (vals != v) & ~na
            else:
                with np.errstate(invalid="ignore"):
                    m = np.asarray({"<=": vals <= v, ">=": vals >= v, "<": vals < v, ">": vals > v}[op], dtype=bool)
                m &= ~na
            mask = m if mask is None else (mask & m)
        return int(mask.sum())

    def counts(self, queries: list) -> np.ndarray:
        return np.array([self.count(q) for q in queries], dtype=np.int64)


def _counts(df: pd.DataFrame, queries: list, cols: Sequence[str] | None = None) -> np.ndarray:
    if not queries:
        return np.zeros(0, dtype=np.int64)
    used = sorted({c for q in queries for c, _, _ in q}) if cols is None else list(cols)
    return _Counter(df, used).counts(queries)


def _univariate_queries(rel: pd.DataFrame, cols: Sequence[str], kinds: dict[str, str]) -> list:
    qs = []
    for col in cols:
        s = rel[col]
        if int(s.isna().sum()) == 1:
            qs.append([(col, "isna", None)])
        nn = s.dropna()
        if len(nn) == 0:
            continue
        if kinds.get(col) in NUMERIC_KINDS:
            qs.append([(col, "<=", nn.min())])
            qs.append([(col, ">=", nn.max())])
        vc = nn.value_counts()
        qs += [[(col, "==", v)] for v in vc.index[vc.to_numpy() == 1]]
    return qs


def _multivariate_queries(rel: pd.DataFrame, cols: Sequence[str], kinds: dict[str, str], n_cols: int,
                          n_queries: int, max_attempts: int, rng: np.random.Generator) -> list:
    num = {c for c in cols if kinds.get(c) in NUMERIC_KINDS}
    arrays = {c: rel[c].to_numpy() for c in cols}
    nas = {c: rel[c].isna().to_numpy() for c in cols}
    medians = {c: float(np.nanmedian(arrays[c].astype(float))) for c in num if not nas[c].all()}
    counter = _Counter(rel, cols)
    found: dict[str, list] = {}
    attempts = 0
    k = min(n_cols, len(cols))
    while len(found) < n_queries and attempts < max_attempts:
        attempts += 1
        r = int(rng.integers(0, len(rel)))
        q = []
        for j in sorted(rng.choice(len(cols), size=k, replace=False)):
            col = cols[j]
            if nas[col][r]:
                q.append((col, "isna", None))
            elif col in num:
                v = arrays[col][r]
                q.append((col, ">=" if v > medians[col] else "<=", v))
            else:
                q.append((col, "==", arrays[col][r]))
        if counter.count(q) == 1:
            found.setdefault(repr(q), q)
    return list(found.values())


def _random_queries(rel: pd.DataFrame, cols: Sequence[str], kinds: dict[str, str], n_cols: int, n_queries: int,
                    rng: np.random.Generator) -> list:
    uniq = {c: rel[c].dropna().unique() for c in cols}
    qs = []
    k = min(n_cols, len(cols))
    for _ in range(n_queries):
        q = []
        for j in sorted(rng.choice(len(cols), size=k, replace=False)):
            col = cols[j]
            if len(uniq[col]) == 0:
                q.append((col, "isna", None))
                continue
            v = uniq[col][rng.integers(len(uniq[col]))]
            ops = ("==", "!=", "<", ">", "<=", ">=") if kinds.get(col) in NUMERIC_KINDS else ("==", "!=")
            q.append((col, ops[rng.integers(len(ops))], v))
        qs.append(q)
    return qs


def singling_out(release: pd.DataFrame, targets: pd.DataFrame, cols: Sequence[str], kinds: dict[str, str], *,
                 mode: str = "multivariate", n_attacks: int = 500, n_cols: int = 3,
                 control: pd.DataFrame | None = None, max_attempts: int = 20_000,
                 random_state: int = 0) -> AttackResult:
    """``singling_out.univariate`` / ``singling_out.multivariate`` (anonymeter's SinglingOutEvaluator).

    Predicates that isolate exactly one release record are built from the release (univariate:
    a value held by one record, the minimum or maximum of a numeric column, the only missing
    value; multivariate: ``n_cols`` values of a random release record, numeric ones turned into
    ``>=`` / ``<=`` away from the median). A predicate succeeds when it matches exactly one
    record of ``targets`` (the original records behind the release). Baseline: as many random
    predicates (random columns, values and operators). Control: the same predicates on
    ``control``; the targets and the control are then subsampled to the same size so that the
    chance of matching exactly one record is comparable.
    """
    if mode not in ("univariate", "multivariate"):
        raise ValueError(f"mode must be 'univariate' or 'multivariate', got {mode!r}")
    rng = np.random.default_rng(random_state)
    cols = list(cols)
    if mode == "univariate":
        qs = _univariate_queries(release, cols, kinds)
        rng.shuffle(qs)
        counts = _counts(release, qs)
        qs = [q for q, c in zip(qs, counts) if c == 1][:n_attacks]
        k = 1
    else:
        qs = _multivariate_queries(release, cols, kinds, n_cols, n_attacks, max_attempts, rng)
        k = n_cols
    name = f"singling_out.{mode}"
    notes = []
    if len(qs) < n_attacks:
        notes.append(f"only {len(qs)} singling-out predicates found in the release out of {n_attacks} sought")
    tgt = targets
    ctl = control
    if control is not None:
        m = min(len(targets), len(control))
        tgt = targets.iloc[np.sort(rng.choice(len(targets), size=m, replace=False))]
        ctl = control.iloc[np.sort(rng.choice(len(control), size=m, replace=False))]
        notes.append(f"targets and control subsampled to {m} records each")
    n = len(qs)
    succ = int(np.sum(_counts(tgt, qs) == 1)) if n else 0
    rand = _random_queries(release, cols, kinds, k, max(n, 1) if n else 0, rng)
    base = float(np.mean(_counts(tgt, rand) == 1)) if rand else 0.0
    csucc = int(np.sum(_counts(ctl, qs) == 1)) if (ctl is not None and n) else None
    return score_attack(name=name, criterion="singling_out", successes=succ, n=n, baseline=base,
                        control_successes=csucc, control_n=n if csucc is not None else None,
                        n_identities=len(tgt), notes=notes,
                        details={"columns": cols, "n_cols": k, "n_targets": len(tgt),
                                 "baseline_queries": len(rand),
                                 "baseline_note": "random predicates: a measured rate, used as exact"})


# ---------------------------------------------------------------- inference

def _guess(secrets: np.ndarray, ties: list[np.ndarray], numeric: bool, fallback: Any) -> np.ndarray:
    out = np.empty(len(ties), dtype=float if numeric else object)
    for i, t in enumerate(ties):
        if len(t) == 0:
            out[i] = fallback
        elif numeric:
            v = secrets[t].astype(float)
            v = v[~np.isnan(v)]
            out[i] = float(np.median(v)) if len(v) else fallback
        else:
            vals, cnt = np.unique(secrets[t].astype(str), return_counts=True)
            out[i] = vals[np.argmax(cnt)]
    return out


def _inference_rate(release: pd.DataFrame, tgt: pd.DataFrame, qi: Sequence[str], secret: str,
                    kinds: dict[str, str], numeric: bool, tolerance: float) -> tuple[float, float, int]:
    q, c = encode_mixed([tgt, release], qi, kinds)
    _, ties, _ = gower_nearest(q, c)
    rel_s = release[secret].to_numpy()
    true = tgt[secret].to_numpy()
    if numeric:
        rs = pd.to_numeric(release[secret], errors="coerce").to_numpy(float)
        fb = float(np.nanmedian(rs))
        g = _guess(rs, ties, True, fb)
        t = pd.to_numeric(tgt[secret], errors="coerce").to_numpy(float)
        ok = np.abs(g - t) <= tolerance * np.abs(t)
        rs_sorted = np.sort(rs[~np.isnan(rs)])
        lo = np.searchsorted(rs_sorted, t - tolerance * np.abs(t), side="left")
        hi = np.searchsorted(rs_sorted, t + tolerance * np.abs(t), side="right")
        base = float(np.mean((hi - lo) / len(rs_sorted))) if len(rs_sorted) else 0.0
        # the prior-only best guess (the release's median for everyone) is a baseline too
        base = max(base, float(np.mean(np.abs(fb - t) <= tolerance * np.abs(t)))) if len(t) else base
    else:
        rel_str = pd.Series(rel_s).astype(str).to_numpy()
        mode = pd.Series(rel_str).mode().iloc[0]
        g = _guess(rel_str, ties, False, mode)
        t = pd.Series(true).astype(str).to_numpy()
        ok = g == t
        freq = pd.Series(rel_str).value_counts(normalize=True)
        base = float(pd.Series(t).map(freq).fillna(0.0).mean())
        # the prior-only best guess (the release's most frequent value for everyone) is a baseline
        # too: an attack that beats a random draw but not the majority guess has learnt nothing
        base = max(base, float(np.mean(t == mode))) if len(t) else base
    return float(np.sum(ok)), base, len(t)


def inference(release: pd.DataFrame, targets: pd.DataFrame, qi: Sequence[str], secret: str,
              kinds: dict[str, str], *, control: pd.DataFrame | None = None, n_attacks: int | None = 2000,
              tolerance: float = 0.05, random_state: int = 0) -> AttackResult:
    """``inference.<secret>`` (anonymeter's InferenceEvaluator): guess a target's sensitive value
    from the release records nearest to its QIs.

    The attacker knows a target's QIs, finds the Gower-nearest release records and guesses their
    most frequent sensitive value (median for a numeric one; correct within ``tolerance`` of the
    true value, relatively). Baseline: the better of two guesses that ignore the target's QIs —
    the value of a release record drawn at random (anonymeter's baseline, scored in expectation)
    and the release's most frequent value (median for a numeric secret) guessed for everyone;
    anonymeter's random baseline alone overstates the risk of a skewed attribute. Control: the
    same attack on ``control`` targets (not in the release).
    """
    rng = np.random.default_rng(random_state)
    numeric = kinds.get(secret) in NUMERIC_KINDS
    tgt = targets.iloc[_sample(len(targets), n_attacks, rng)]
    succ, base, n = _inference_rate(release, tgt, qi, secret, kinds, numeric, tolerance)
    csucc = cn = None
    notes = []
    if control is not None:
        ctl = control.iloc[_sample(len(control), n_attacks, rng)]
        csucc, _, cn = _inference_rate(release, ctl, qi, secret, kinds, numeric, tolerance)
    return score_attack(name=f"inference.{secret}", criterion="inference", successes=succ, n=n, baseline=base,
                        control_successes=csucc, control_n=cn, n_identities=len(release), notes=notes,
                        details={"qi": list(qi), "secret": secret, "numeric": numeric,
                                 "tolerance": tolerance if numeric else None})


# ------------------------------------------------------------------------------- the attack contract

class _TableAttack(Attack):
    """A table attack under the attack contract (:mod:`auditkit.attacks.contract`): constructed with
    the release and the attacker's table (aux or targets) and the attack's own features (QIs,
    kinds, secret), keyword-only options, then ``evaluate()`` and ``result()``."""

    _fn: Any = None

    def __init__(self, release: pd.DataFrame, other: pd.DataFrame, /, *features: Any, **options: Any) -> None:
        super().__init__((release, other, *features), **options)

    def _evaluate(self) -> AttackResult:
        return type(self)._fn(*self.features, **self.options)


class ExactLinkage(_TableAttack):
    """``linkage.exact`` (:func:`exact_linkage`): ``ExactLinkage(release, aux, qi, **options)``."""

    name = "linkage.exact"
    _fn = staticmethod(exact_linkage)


class NearestLinkage(_TableAttack):
    """``linkage.nearest`` (:func:`nearest_linkage`): ``NearestLinkage(release, aux, qi, kinds, **options)``."""

    name = "linkage.nearest"
    _fn = staticmethod(nearest_linkage)


class SinglingOut(_TableAttack):
    """``singling_out.<mode>`` (:func:`singling_out`): ``SinglingOut(release, targets, cols, kinds, mode=...)``."""

    name = "singling_out"
    _fn = staticmethod(singling_out)


class Inference(_TableAttack):
    """``inference.<secret>`` (:func:`inference`): ``Inference(release, targets, qi, secret, kinds, **options)``."""

    name = "inference"
    _fn = staticmethod(inference)
