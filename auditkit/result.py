"""Result objects: what attacks produce and what results.json serialises.

``AttackResult`` is one attack's outcome (``results.json["attacks"][i]``); ``AuditResult`` is
the whole audit. Templates only read the dict form; a report can be re-rendered from
results.json alone.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["CRITERIA", "AttackResult", "Skipped", "to_jsonable"]

#: WP29 Opinion 05/2014 criteria an attack can be tagged with.
CRITERIA = ("singling_out", "linkability", "inference")


@dataclass
class Skipped:
    """An input that could not be used, and why. Never silently dropped."""

    path: str
    reason: str
    stage: str = "load"


@dataclass
class AttackResult:
    """One attack, scored against its baseline.

    ``metrics`` holds at least ``rank1``, ``rank1_ci``, ``chance_rank1``, ``advantage`` and
    ``advantage_ci`` for identification attacks (see :func:`auditkit.metrics.identification_metrics`);
    table attacks hold the same keys with their own rate in ``rank1``'s place is *not*
    required: they fill ``success_rate``, ``success_rate_ci``, ``baseline``, ``advantage`` and
    ``advantage_ci``. ``risk`` is filled by :func:`auditkit.risk.assess`.
    """

    name: str
    cue: str
    criterion: str
    n_probes: int
    n_identities: int
    metrics: dict[str, Any]
    cmc: list[float] = field(default_factory=list)
    risk: str | None = None
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {self.criterion!r}")

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats into JSON-safe values.

    NaN and infinities become ``None`` (JSON has no NaN; ``null`` means "not computable").
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj
