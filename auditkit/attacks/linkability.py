"""``linkability.split``: anonymeter's linkability framing (issue 14).

The attacker holds two tables about the same people with disjoint columns: one with the
columns ``cols_a`` (say, from a hospital register), one with ``cols_b`` (from a marketing list).
The release lets them join the two: for each target person, the ``n_neighbors`` release records
nearest on ``cols_a`` and the ``n_neighbors`` nearest on ``cols_b`` are found; the two halves of the
person are linked when the two sets share a release record. Definitions follow anonymeter's
``LinkabilityEvaluator`` (Giomi et al., PoPETs 2023; statice/anonymeter
``src/anonymeter/evaluators/linkability_evaluator.py``):

* targets: ``n_attacks`` records of the people behind the release (the attacker's records);
* distance: Gower-type, numeric columns scaled by their range over both tables (L1), categorical
  columns 0 when equal and 1 otherwise (:func:`auditkit.attacks.tables.gower_distance_rows`);
* baseline: two random sets of ``n_neighbors`` release records intersect. anonymeter draws them;
  here the exact probability ``1 - C(N-k, k) / C(N, k)`` is used;
* control: the same attack on records of the same population that are not in the release;
* risk: the residual ``(attack - control) / (1 - control)`` (or over the baseline without a control).

Differences, on purpose: a tie at the ``n_neighbors``-th distance is broken at random with
``random_state`` (anonymeter keeps the order ``argsort`` leaves, which favours early rows); the
residual's 95% interval is the Bonferroni one of :func:`auditkit.attacks.tables.score_attack`,
bounded to ``[0, 1]``, and anonymeter's own (Wilson centre, error propagated, bounded) is given
beside it in ``details["anonymeter_risk"]``. A missing numeric value is a category of its own
(anonymeter counts two missing values as 1 apart).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data.tables import TableError
from ..result import AttackResult
from ..scoring.stats import z_value
from .contract import Attack
from .tables import MixedEncoding, encode_mixed, score_attack

__all__ = ["SplitLinkability", "anonymeter_risk", "parse_column_sets", "split_linkability"]


def parse_column_sets(spec: str | Sequence[Sequence[str]]) -> tuple[list[str], list[str]]:
    """``"a,b|c,d"`` (or two lists) -> ``(["a", "b"], ["c", "d"])``; the sets must be disjoint."""
    if isinstance(spec, str):
        parts = spec.split("|")
        if len(parts) != 2:
            raise ValueError(f"linkability columns must be two column sets separated by '|', e.g. 'age,sex|zip,job'; "
                             f"got {spec!r}")
        sets = [[c.strip() for c in p.split(",") if c.strip()] for p in parts]
    else:
        sets = [list(s) for s in spec]
        if len(sets) != 2:
            raise ValueError(f"linkability needs exactly two column sets, got {len(sets)}")
    a, b = sets
    if not a or not b:
        raise ValueError(f"each linkability column set needs at least one column, got {a!r} and {b!r}")
    both = sorted(set(a) & set(b))
    if both:
        raise ValueError(f"the two linkability column sets must be disjoint; both hold {both}")
    return a, b


def _knn_sets(q: MixedEncoding, c: MixedEncoding, k: int, rng: np.random.Generator,
              chunk_cells: int = 4_000_000) -> list[np.ndarray]:
    """The ``k`` nearest candidates of each query, ties at the ``k``-th distance broken at random."""
    n_c = len(c.key)
    out: list[np.ndarray] = []
    step = max(1, chunk_cells // max(1, n_c * max(1, q.num.shape[1] + q.cat.shape[1])))
    for s in range(0, len(q.key), step):
        sl = slice(s, s + step)
        d = np.zeros((len(q.key[sl]), n_c))
        if q.num.shape[1]:
            d += np.abs(q.num[sl, None, :] - c.num[None, :, :]).sum(axis=2)
        if q.cat.shape[1]:
            d += (q.cat[sl, None, :] != c.cat[None, :, :]).sum(axis=2)
        kth = np.partition(d, k - 1, axis=1)[:, k - 1]
        for row, t in zip(d, kth):
            inside = np.flatnonzero(row < t - 1e-12)
            tied = np.flatnonzero(np.abs(row - t) <= 1e-12)
            out.append(np.concatenate([inside, rng.choice(tied, size=k - len(inside), replace=False)]))
    return out


def _links(targets: pd.DataFrame, release: pd.DataFrame, cols: tuple[list[str], list[str]],
           kinds: dict[str, str], k: int, rng: np.random.Generator) -> int:
    sides = []
    for side in cols:
        q, c = encode_mixed([targets, release], side, kinds)
        sides.append(_knn_sets(q, c, k, rng))
    return int(sum(bool(np.intersect1d(a, b).size) for a, b in zip(*sides)))


def anonymeter_risk(n: int, n_success: int, n_reference: int, *, confidence: float = 0.95) -> dict[str, Any]:
    """anonymeter's risk and interval from counts (``stats/confidence.py``): Wilson centres
    ``(x + z^2/2) / (n + z^2)`` with errors ``z / (n + z^2) * sqrt(x (n - x) / n + z^2 / 4)``; the
    residual ``(a - r) / (1 - r)`` with its error propagated to first order; value and interval
    bounded to [0, 1]. ``n_reference``: control successes (or baseline successes without a control)."""
    z = z_value(confidence)

    def rate(x: float) -> tuple[float, float]:
        den = n + z * z
        return (x + 0.5 * z * z) / den, z / den * math.sqrt(x * (n - x) / n + 0.25 * z * z)

    (a, ea), (r, er) = rate(n_success), rate(n_reference)
    value = (a - r) / (1.0 - r)
    err = math.sqrt((ea / abs(1 - r)) ** 2 + (er * (a - 1) / (1 - r) ** 2) ** 2)

    def clip(x: float) -> float:
        return min(max(x, 0.0), 1.0)
    return {"value": clip(value), "ci": (clip(value - err), clip(value + err)), "attack_rate": a, "reference_rate": r}


def split_linkability(release: pd.DataFrame, targets: pd.DataFrame, cols: Any, kinds: dict[str, str], *,
                      n_neighbors: int = 1, n_attacks: int | None = 500, control: pd.DataFrame | None = None,
                      random_state: int = 0) -> AttackResult:
    """``linkability.split`` (see the module doc): link the two column halves of each target
    through its ``n_neighbors`` nearest release records on each half.

    ``cols``: two disjoint column sets (``"a,b|c,d"`` or two lists), present in the release, the
    targets and the control. ``targets``: the people behind the release (``n_attacks`` of them
    are drawn, all when ``None``). ``control``: people of the same population not in the release.
    """
    a, b = parse_column_sets(cols)
    for label, t in (("release", release), ("targets (aux)", targets), ("control", control)):
        if t is None:
            continue
        missing = [col for col in a + b if col not in t.columns]
        if missing:
            raise TableError(f"linkability columns {missing} are not in the {label} table "
                             f"(columns: {list(t.columns)})")
    n_rel = len(release)
    if n_rel == 0:
        raise TableError("the release table has no records: nothing to link through")
    if not 1 <= n_neighbors <= n_rel:
        raise ValueError(f"n_neighbors must be in [1, {n_rel}] (the release size), got {n_neighbors}")
    rng = np.random.default_rng(random_state)

    def draw(t: pd.DataFrame) -> pd.DataFrame:
        if n_attacks is None or n_attacks >= len(t):
            return t
        return t.iloc[np.sort(rng.choice(len(t), size=n_attacks, replace=False))]

    tgt = draw(targets)
    succ = _links(tgt, release, (a, b), kinds, n_neighbors, rng)
    csucc = cn = None
    if control is not None:
        ctl = draw(control)
        cn = len(ctl)
        csucc = _links(ctl, release, (a, b), kinds, n_neighbors, rng)
    k = n_neighbors
    # two independent uniform k-subsets of the N release records intersect
    baseline = 1.0 - math.prod((n_rel - k - i) / (n_rel - i) for i in range(k)) if 2 * k <= n_rel else 1.0
    res = score_attack(name="linkability.split", criterion="linkability", successes=succ, n=len(tgt),
                       baseline=baseline, control_successes=csucc, control_n=cn, n_identities=n_rel,
                       details={"columns_a": a, "columns_b": b, "n_neighbors": k, "n_targets": len(tgt),
                                "n_control": cn, "links": succ, "control_links": csucc})
    m = res.metrics
    lo, hi = m["advantage_ci"]
    m["advantage_ci"] = (max(0.0, lo) if not math.isnan(lo) else lo, min(1.0, hi) if not math.isnan(hi) else hi)
    if not math.isnan(m["advantage"]):
        m["advantage"] = min(max(m["advantage"], 0.0), 1.0)
    ref = csucc if csucc is not None else baseline * len(tgt)
    if len(tgt):
        res.details["anonymeter_risk"] = anonymeter_risk(len(tgt), succ, ref)
    res.notes.append("residual risk and its interval bounded to [0, 1], as anonymeter bounds them")
    return res


class SplitLinkability(Attack):
    """``linkability.split`` under the attack contract: ``SplitLinkability(release, targets, cols, kinds, **options)``."""

    name = "linkability.split"

    def __init__(self, release: pd.DataFrame, targets: pd.DataFrame, /, *features: Any, **options: Any) -> None:
        super().__init__((release, targets, *features), **options)

    def _evaluate(self) -> AttackResult:
        return split_linkability(*self.features, **self.options)
