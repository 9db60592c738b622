"""Shared pieces of identification attacks: encodings -> identity scores -> AttackResult."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..result import AttackResult
from ..scoring.metrics import genuine_impostor_scores, identification_metrics, per_subject_exposure
from ..scoring.population import keep_scores
from ..scoring.scores import ScoreMatrix

__all__ = ["FeatureSet", "attack_result", "identity_scores", "top_matches"]


@dataclass
class FeatureSet:
    """Feature vectors with one id and one label per row (label = identity, or None)."""

    X: np.ndarray
    ids: list[str]
    labels: list[str | None]
    info: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X, dtype=np.float64).reshape(len(self.ids), -1) if len(self.ids) else \
            np.zeros((0, self.X.shape[1] if np.ndim(self.X) == 2 else 0))
        if len(self.labels) != len(self.ids):
            raise ValueError(f"{len(self.labels)} labels for {len(self.ids)} feature rows")

    def __len__(self) -> int:
        return len(self.ids)


#: decimals kept in face-distance scores (see identity_scores)
SCORE_DECIMALS = 9


def identity_scores(probes: np.ndarray, gallery: np.ndarray, gallery_labels: list[str], *,
                    block: int = 4096, executor: str = "local", scheduler: str | None = None,
                    jobs: int = 1) -> tuple[np.ndarray, list[str]]:
    """Similarity of each probe to each identity: minus the smallest Euclidean distance to any of
    that identity's gallery vectors (the attacker's best match). Computed in blocks with bounded
    memory by :func:`auditkit.scoring.matching.topk_identity_search` (probe blocks of ``block``); the best
    identity's score is the exact float64 distance, the others float64 to ~1e-8. With
    ``executor="dask"`` the probe blocks run on a Dask cluster (``scheduler``, or a local cluster
    of ``jobs`` workers) with identical results (:func:`auditkit.scoring.matching.topk_identity_search_dask`)."""
    from ..scoring.matching import topk_identity_search, topk_identity_search_dask

    identities = sorted(set(gallery_labels))
    P = np.asarray(probes, dtype=np.float64).reshape(len(probes), -1)
    if len(P) == 0:
        return np.empty((0, len(identities))), identities
    if executor == "dask":
        res = topk_identity_search_dask(P, gallery, list(gallery_labels), scheduler=scheduler, jobs=jobs,
                                        chunk_probes=block, block_probes=block, k=1, return_best=True)
    elif executor == "local":
        res = topk_identity_search(P, gallery, list(gallery_labels), k=1, block_probes=block, return_best=True)
    else:
        raise ValueError(f"executor must be 'local' or 'dask', got {executor!r}")
    assert res.identities == identities and res.best is not None
    # Distances are rounded to 1e-9. The encodings themselves carry ~1e-7 (a float32 network), and
    # the blocked product leaves ~1e-15 of summation noise that depends on block sizes, memory
    # alignment and process; unrounded, equal gallery vectors would not tie and a rank could
    # change between a local and a Dask run. Rounded, they tie exactly (and ranks are tie-aware).
    return np.round(res.best, SCORE_DECIMALS), identities


def top_matches(sm: ScoreMatrix, *, k: int = 5) -> list[dict[str, Any]]:
    """Per probe: its top-k candidates and scores, and the true identity's rank if known."""
    order = np.argsort(-sm.scores, axis=1, kind="stable")[:, :k]
    idx = sm.truth_index()
    rows = []
    for i in range(sm.n_probes):
        cand = [sm.identities[j] for j in order[i]]
        row = {"probe": sm.probes[i], "truth": sm.truth[i],
               "candidates": cand, "scores": [float(sm.scores[i, j]) for j in order[i]]}
        if idx[i] >= 0:
            true = sm.scores[i, idx[i]]
            row["true_rank"] = int((sm.scores[i] > true).sum() + 1)
            row["true_score"] = float(true)
        rows.append(row)
    return rows


def _hist(values: np.ndarray, edges: np.ndarray) -> list[float]:
    if values.size == 0:
        return [0.0] * (len(edges) - 1)
    h, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    return (h / values.size).tolist()


def attack_result(name: str, cue: str, sm: ScoreMatrix, *, criterion: str = "singling_out",
                  notes: list[str] | None = None, details: dict[str, Any] | None = None) -> AttackResult:
    """Score a ScoreMatrix and package it (risk is filled by :func:`auditkit.scoring.risk.assess`)."""
    m = identification_metrics(sm)
    cmc = m.pop("cmc")
    gen, imp = genuine_impostor_scores(sm)
    allv = np.concatenate([gen, imp]) if gen.size + imp.size else np.array([0.0, 1.0])
    lo, hi = float(np.min(allv)), float(np.max(allv))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, 41)
    d = {"per_subject": per_subject_exposure(sm),
         "score_hist": {"edges": edges.tolist(), "genuine": _hist(gen, edges), "impostor": _hist(imp, edges)},
         "matches": top_matches(sm)}
    d.update(details or {})
    res = AttackResult(name=name, cue=cue, criterion=criterion, n_probes=sm.n_probes,
                       n_identities=sm.n_identities, metrics=m, cmc=cmc, notes=list(notes or []), details=d)
    keep_scores(res, sm)  # for the population projection (auditkit.scoring.population.add_population)
    return res
