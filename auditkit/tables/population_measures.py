"""The population-scale table measures of one audit (issue 14), gathered for ``run_table_audit``:
population uniqueness from a sample (:mod:`.population_uniqueness`), the journalist and marketer
risks under the population model when no population table is given, and k-map against a
population table (:mod:`.kmap`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..scoring.table_measures import class_ids
from .kmap import k_map
from .population_uniqueness import model_risks, population_uniqueness

__all__ = ["population_measures"]


def population_measures(df: pd.DataFrame, qi: Sequence[str], *, sampling_fraction: float | None,
                        population: pd.DataFrame | None, threshold: float,
                        risks_have_population: bool = False) -> dict[str, Any]:
    """``results.json`` entries ``population_uniqueness``, ``model_risks`` and ``k_map``.

    Parameters
    ----------
    df : the released records on which classes are formed (suppressed records already left out).
    sampling_fraction : the share of the population the release holds (``--sampling-fraction``),
        or ``None``: then no population-uniqueness estimate.
    population : the population table (``--population-table``), or ``None``: then no k-map.
    threshold : the records-at-risk threshold of the re-identification risks.
    risks_have_population : whether the journalist / marketer risks already have a population
        table (the population or the auxiliary table); when not, and a sampling fraction is given,
        they are also computed under the fitted Pitman model (``model_risks``).
    """
    out: dict[str, Any] = {"population_uniqueness": None, "model_risks": None, "k_map": None}
    if sampling_fraction is not None and len(df):
        sizes = np.bincount(class_ids(df, qi))
        sizes = sizes[sizes > 0]
        out["population_uniqueness"] = population_uniqueness(sizes, sampling_fraction=sampling_fraction)
        if not risks_have_population:
            out["model_risks"] = model_risks(sizes, sampling_fraction=sampling_fraction, threshold=threshold)
    if population is not None and len(df):
        out["k_map"] = k_map(df, population, qi)
    return out
