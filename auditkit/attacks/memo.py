"""Warm re-runs: a face rung's result kept in the cache, keyed by everything it depends on (issue 15).

A rung's result is a function of its :class:`~auditkit.attacks.context.FaceContext` — the
gallery's and the release's feature rows (vectors, ids, labels, file hashes, boxes), the
obfuscation assumed, the scope, the seed, the face parameters and the encoder — and of the code
that computes it. :func:`run_face_attack` hashes all of these (the code as
:func:`auditkit.features.cache.code_fingerprint`), and when a result with that key is in the cache it is returned as stored, with the notes
and skipped files the rung reported when it ran; otherwise the rung runs and its result is
stored. Change one input file, one parameter or one line of code and the key changes, so the
rung runs again; what a rung depends on that is not in the context (the release images a rung
decodes itself) is identified by the file hashes the context carries.

Not part of the key, because results do not depend on them: where the files are (paths), the
number of workers, the executor, progress output. The stored form is the result's JSON (as
results.json holds it) and, for the population projection, its score matrix, in the feature
cache's checksummed ``.npz`` format under ``<cache dir>/stages``; a damaged entry is recomputed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..features.cache import FeatureCache, code_fingerprint
from ..result import AttackResult, Skipped, to_jsonable
from ..scoring.population import keep_scores, kept_scores
from ..scoring.scores import ScoreMatrix
from .base import FeatureSet

__all__ = ["STAGE_VERSION", "context_digest", "run_face_attack"]

STAGE_VERSION = "1"
#: FaceContext fields a result does not depend on (where files are, how work is spread, output)
_RUNTIME_FIELDS = {"cache", "jobs", "executor", "scheduler", "progress", "skipped", "notes", "release_root"}


def _features_digest(fs: FeatureSet, h: Any) -> None:
    X = np.ascontiguousarray(fs.X, dtype=np.float64)
    h.update(str(X.shape).encode())
    h.update(X.tobytes())
    info = [{k: v for k, v in inf.items() if k != "path"} for inf in fs.info]
    h.update(json.dumps(to_jsonable({"ids": fs.ids, "labels": fs.labels, "info": info}), sort_keys=True,
                        default=repr).encode())


def context_digest(ctx: Any) -> str:
    """SHA-256 of what a face rung's result depends on in ``ctx`` (see the module docstring): every
    field of the context except :data:`_RUNTIME_FIELDS`, feature sets by content."""
    h = hashlib.sha256()
    for f in dataclasses.fields(ctx):
        if f.name in _RUNTIME_FIELDS:
            continue
        v = getattr(ctx, f.name)
        h.update(f.name.encode() + b"=")
        if isinstance(v, FeatureSet):
            _features_digest(v, h)
        elif hasattr(v, "record"):  # the vendor anonymizer's run: what it produced, not how long it took
            rec = {k: x for k, x in v.record().items() if not k.endswith("seconds")}
            h.update(json.dumps(to_jsonable(rec), sort_keys=True, default=repr).encode())
        elif hasattr(v, "as_dict"):
            h.update(json.dumps(to_jsonable(v.as_dict()), sort_keys=True, default=repr).encode())
        else:
            h.update(json.dumps(to_jsonable(v), sort_keys=True, default=repr).encode())
        h.update(b"\0")
    return h.hexdigest()


def _key(name: str, ctx: Any) -> str:
    from ..features.cache import cache_key

    return cache_key(context_digest(ctx), f"stage:{name}", STAGE_VERSION, {"code": code_fingerprint()})


def _stored(res: AttackResult | None, notes: list[str], skipped: list[Skipped]) -> dict[str, np.ndarray]:
    out = {"result": np.array(json.dumps(res.to_dict() if res is not None else None)),
           "notes": np.array(json.dumps(notes)),
           "skipped": np.array(json.dumps([dataclasses.asdict(s) for s in skipped]))}
    sm = kept_scores(res) if res is not None else None
    if sm is not None:
        out["scores"] = sm.scores
        out["score_labels"] = np.array(json.dumps(to_jsonable({"probes": sm.probes, "identities": sm.identities,
                                                                 "truth": sm.truth, "meta": sm.meta})))
    return out


def _restored(arrays: dict[str, np.ndarray]) -> tuple[AttackResult | None, list[str], list[Skipped]]:
    d = json.loads(str(arrays["result"]))
    res = AttackResult.from_dict(d) if d is not None else None
    if res is not None and "scores" in arrays:
        lab = json.loads(str(arrays["score_labels"]))
        keep_scores(res, ScoreMatrix(arrays["scores"], lab["probes"], lab["identities"], lab["truth"], lab["meta"]))
    notes = list(json.loads(str(arrays["notes"])))
    skipped = [Skipped.from_dict(s) for s in json.loads(str(arrays["skipped"]))]
    return res, notes, skipped


def run_face_attack(name: str, fn: Callable[[Any], AttackResult | None], ctx: Any,
                    stats: dict[str, int] | None = None, *, reuse: bool = True) -> AttackResult | None:
    """``fn(ctx)``, or its stored result when the same rung already ran on the same context with
    the same code (the notes and skipped files it reported are reported again). Without a cache
    (``--no-cache``), or with ``reuse=False`` (``auditkit verify``: every figure recomputed), the
    rung simply runs. ``stats`` counts ``hits`` and ``misses``."""
    stats = stats if stats is not None else {}
    root = getattr(ctx.cache, "root", None)
    if root is None or not reuse:
        return fn(ctx)
    stages = FeatureCache(Path(root) / "stages")
    key = _key(name, ctx)
    got = stages.get(key)
    if got is not None:
        try:
            res, notes, skipped = _restored(got)
        except (KeyError, ValueError, TypeError):
            got = None  # an entry of another layout: recompute
        else:
            ctx.notes.extend(notes)
            ctx.skipped.extend(skipped)
            stats["hits"] = stats.get("hits", 0) + 1
            return res
    stats["misses"] = stats.get("misses", 0) + 1
    n0, s0 = len(ctx.notes), len(ctx.skipped)
    res = fn(ctx)
    stages.put(key, _stored(res, ctx.notes[n0:], ctx.skipped[s0:]))
    return res
