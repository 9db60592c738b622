"""k-map: how many people of the *population* share each released record's quasi-identifiers.

Definition (L. Sweeney, "Computational disclosure control: a primer on data privacy
protection", PhD thesis, MIT 2001, ch. on k-map; K. El Emam, F. Dankar, "Protecting privacy
using k-anonymity", JAMIA 15(5), 2008, where it is the criterion that bounds journalist risk):
a release satisfies **k-map** when every released record's combination of quasi-identifier values
occurs at least ``k`` times in the population the attacker identifies people from (a voter
register, a census). The release's k-map value is ``min_j F_j`` over its equivalence classes
``j``, ``F_j`` the size of class ``j`` in the population table; ``1 / k`` is then the highest
journalist risk (ARX's ``KMap`` criterion with a population table checks ``F_j >= k`` per class
the same way). k-anonymity is the special case where the population is the release itself.

A released class missing from the population table (or smaller there than in the release) takes
``F_j = f_j``: the population must contain at least the release's own records; such classes are
counted in ``classes_not_in_population`` because they mean the population table is not a
superset of the release (a different coding of a value, or the wrong register).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..scoring.table_measures import joint_class_ids

__all__ = ["k_map"]


def k_map(release: pd.DataFrame, population: pd.DataFrame, qi: Sequence[str]) -> dict[str, Any]:
    """The k-map value of ``release`` against ``population`` on ``qi`` (see the module docstring).

    Returns
    -------
    dict with ``k`` (``min F``), ``records_at_k`` (released records in classes with ``F = k``),
    ``population_unique_records`` (released records whose combination occurs once in the
    population), ``population_records``, ``classes`` and ``classes_not_in_population``.

    Examples
    --------
    >>> rel = pd.DataFrame({"zip": ["A", "A", "B"]})
    >>> pop = pd.DataFrame({"zip": ["A"] * 5 + ["B"] * 3 + ["C"]})
    >>> k_map(rel, pop, ["zip"])["k"]
    3
    """
    if len(release) == 0:
        raise ValueError("the release table has no records")
    if len(population) == 0:
        raise ValueError("the population table has no records")
    sid, pid = joint_class_ids([release, population], qi)
    size = int(max(sid.max(initial=-1), pid.max(initial=-1))) + 1
    f_all = np.bincount(sid, minlength=size)
    F_all = np.bincount(pid, minlength=size)
    present = f_all > 0
    f_cls, F_raw = f_all[present], F_all[present]
    F_cls = np.maximum(F_raw, f_cls)
    k = int(F_cls.min())
    return {"k": k, "records_at_k": int(f_cls[F_cls == k].sum()),
            "population_unique_records": int(f_cls[F_cls == 1].sum()),
            "population_records": int(len(population)), "classes": int(present.sum()),
            "classes_not_in_population": int(np.sum(F_raw < f_cls))}
