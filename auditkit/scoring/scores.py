"""ScoreMatrix: what every identification attack produces.

Rows are probes (observed people in the release: a face, a track, a table record), columns
are candidate identities; entries are similarities, **higher = more similar**. Attacks that
compute distances negate them. The gallery may be the release itself (linkability within a
release): nothing here assumes the two differ.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ScoreMatrix"]


@dataclass
class ScoreMatrix:
    """Probe x identity similarity scores with the ground truth needed to score them.

    Parameters
    ----------
    scores : (n_probes, n_identities) float array, higher = more similar. NaN is not allowed.
    probes : one id per row (e.g. the release file's relative path, or ``path#face0``).
    identities : one label per column (gallery identity names).
    truth : ground-truth identity of each probe, or ``None`` where unknown (no manifest
        subject). A truth absent from ``identities`` marks an open-set probe (a person
        the attacker has no reference for).
    """

    scores: np.ndarray
    probes: list[str]
    identities: list[str]
    truth: list[str | None]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if self.scores.ndim != 2:
            raise ValueError(f"scores must be 2-D (probes x identities), got shape {self.scores.shape}")
        n, m = self.scores.shape
        if len(self.probes) != n:
            raise ValueError(f"{len(self.probes)} probe ids for {n} score rows")
        if len(self.identities) != m:
            raise ValueError(f"{len(self.identities)} identities for {m} score columns")
        if len(self.truth) != n:
            raise ValueError(f"{len(self.truth)} truth labels for {n} score rows")
        if len(set(self.identities)) != m:
            raise ValueError("identity labels must be unique")
        if np.isnan(self.scores).any():
            raise ValueError("scores contain NaN")

    @property
    def n_probes(self) -> int:
        return self.scores.shape[0]

    @property
    def n_identities(self) -> int:
        return self.scores.shape[1]

    def truth_index(self) -> np.ndarray:
        """Column index of each probe's true identity; -1 if unknown or not in the gallery."""
        col = {name: j for j, name in enumerate(self.identities)}
        return np.array([col.get(t, -1) if t is not None else -1 for t in self.truth], dtype=np.int64)

    def known_mask(self) -> np.ndarray:
        """Probes whose ground truth is known (mated or not)."""
        return np.array([t is not None for t in self.truth], dtype=bool)

    def mated_mask(self) -> np.ndarray:
        """Probes whose true identity is among the columns (closed-set probes)."""
        return self.truth_index() >= 0

    def subset(self, rows: np.ndarray) -> ScoreMatrix:
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return ScoreMatrix(
            scores=self.scores[rows],
            probes=[self.probes[i] for i in rows],
            identities=list(self.identities),
            truth=[self.truth[i] for i in rows],
            meta=dict(self.meta),
        )
