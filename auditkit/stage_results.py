"""Warm re-runs of the stages around the face ladder (issue 15): the release's obfuscation estimate
(with its calibration on the clear gallery), the image leak scan and ``linkage.sightings``.

The face rungs are kept by :mod:`auditkit.attacks.memo`; these stages were still recomputed on a
warm re-run (4 s of an 8 s warm run of the AT&T demo for the estimate alone, 1 s to load the leak
detector's runtime only to find every image in the per-image cache). Each one is a function of
input file *contents* (the SHA-256 that the custody section records), of its parameters and of the
code, and is kept under a key made of exactly these (:meth:`StageResults.key`; the code as
:func:`~auditkit.features.cache.code_fingerprint`): an unchanged re-run reads the stored result and
the notes and skipped files the stage reported, and any change to an input file, a parameter the
stage reads, or a line of code computes it again. Not part of a key: where files are (paths), the
number of workers, the executor, progress output.

Stored like the face rungs: JSON text (NaN kept) and, for attacks that keep their score matrix for
the population projection, that matrix, in the feature cache's checksummed ``.npz`` format under
``<cache dir>/stages``; a damaged entry is recomputed. ``reuse_results=False`` (``auditkit
verify``) and ``--no-cache`` turn it off: every stage is computed, nothing is stored.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .features.cache import FeatureCache, cache_key, code_fingerprint, default_cache_dir
from .result import AttackResult, Skipped

__all__ = ["STAGES_VERSION", "StageResults", "cached_leak_scan", "cached_linkage", "digest"]

STAGES_VERSION = "1"


def _plain(o: Any) -> Any:
    """``json.dumps`` default: numpy scalars and arrays as Python values (NaN kept as NaN)."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not stored by the stage cache")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=_plain)


def digest(parts: Any) -> str:
    """SHA-256 of ``parts``'s canonical JSON (what a stage's result depends on)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()


class StageResults:
    """The stored stage results one audit may reuse (``root``: the cache root; None: none).

    ``record`` tells, per stage that ran, ``"reused"`` or ``"computed"`` (results.json
    ``runtime.stages``)."""

    def __init__(self, root: str | Path | None):
        self.store = FeatureCache(Path(root) / "stages") if root is not None else None
        self.record: dict[str, str] = {}

    @classmethod
    def for_config(cls, config: Any) -> StageResults:
        """Reuse only with a cache and ``reuse_results`` (off under ``auditkit verify``)."""
        ok = config.run.use_cache and config.run.reuse_results
        return cls(Path(config.run.cache_dir or default_cache_dir()) if ok else None)

    @staticmethod
    def key(name: str, parts: Any) -> str:
        return cache_key(digest(parts), f"stage:{name}", STAGES_VERSION, {"code": code_fingerprint()})

    def lookup(self, name: str, parts: Any) -> tuple[Any, list[str], list[Skipped], dict[str, np.ndarray]] | None:
        """(value, notes, skipped, extra arrays) stored for ``name`` on ``parts``, or None."""
        if self.store is None:
            return None
        got = self.store.get(self.key(name, parts))
        if got is None:
            return None
        try:
            value = json.loads(str(got.pop("value")))
            notes = [str(n) for n in json.loads(str(got.pop("notes")))]
            skipped = [Skipped.from_dict(s) for s in json.loads(str(got.pop("skipped")))]
        except (KeyError, ValueError, TypeError):
            return None  # an entry of another layout: recompute
        self.record[name] = "reused"
        return value, notes, skipped, got

    def put(self, name: str, parts: Any, value: Any, notes: list[str], skipped: list[Skipped] = (),
            arrays: dict[str, np.ndarray] | None = None) -> None:
        self.record[name] = "computed"
        if self.store is None:
            return
        payload = {"value": np.array(_dumps(value)), "notes": np.array(json.dumps(list(notes))),
                   "skipped": np.array(json.dumps([dataclasses.asdict(s) for s in skipped])), **(arrays or {})}
        try:
            self.store.put(self.key(name, parts), payload)
        except OSError:  # a read-only cache never stops an audit
            pass

    def run(self, name: str, parts: Any, compute: Callable[[], Any], *, notes: list[str],
            skipped: list[Skipped] | None = None) -> Any:
        """``compute()`` (a JSON-able value), or its stored value, the notes and skipped files it
        appended to ``notes`` / ``skipped`` appended again."""
        skipped = skipped if skipped is not None else []
        hit = self.lookup(name, parts)
        if hit is not None:
            notes.extend(hit[1])
            skipped.extend(hit[2])
            return hit[0]
        n0, s0 = len(notes), len(skipped)
        value = compute()
        self.put(name, parts, value, notes[n0:], skipped[s0:])
        return self.as_read(value)

    def as_read(self, value: Any) -> Any:
        """``value`` as a re-run reads it back (JSON: tuples as lists, numpy scalars as Python's),
        so that a cold run and its warm re-run carry the same objects on."""
        return json.loads(_dumps(value)) if self.store is not None else value


def _file_sha256(path: str | Path | None) -> str | None:
    if path is None:
        return None
    from .data.media import sha256_file

    return sha256_file(Path(path))


def cached_leak_scan(stages: StageResults, images: list[tuple[str, Path, str]], *, detector: str,
                     cache: FeatureCache) -> dict[str, Any]:
    """:func:`~auditkit.features.image_leaks.scan_image_leaks` of ``images`` (name, path, sha256),
    reused when the same contents were scanned by the same detector (CenterFace: the same model
    file): a warm re-run does not load the detector's runtime at all."""
    from .features.face_detectors import resolve_detector

    name = resolve_detector(detector)
    model = None
    if name == "centerface":
        from .features.centerface import find_centerface_model

        model = _file_sha256(find_centerface_model())
    parts = {"images": [(n, sha) for n, _, sha in images], "detector": name, "model": model}

    def compute() -> dict[str, Any]:
        from .features.image_leaks import scan_image_leaks

        return scan_image_leaks(images, detector=detector, cache=cache)

    return stages.run("leak_scan", parts, compute, notes=[])


def _linkage_parts(config: Any, release: Any) -> dict[str, Any]:
    """What ``linkage.sightings`` depends on: the release's files and manifest rows by content,
    the face and video parameters, the declared obfuscation, the seed, the planted file."""
    items = [{"file": it.file.rel, "sha256": it.file.sha256, "subject": it.subject, "camera": it.camera,
              "timestamp": it.timestamp, "box": it.box, "track": it.track, "meta": it.meta, "row": it.row,
              "kind": it.file.kind, "origin": it.file.origin, "page": it.file.page} for it in release.items]
    return {"files": [(f.rel, f.sha256) for f in release.files], "items": items,
            "video": dataclasses.asdict(config.video), "obfuscation": config.faces.obfuscation,
            "scope": config.faces.obfuscation_scope, "face": config.face_params().as_dict(),
            "seed": config.run.seed, "planted": _file_sha256(config.inputs.planted)}


def cached_linkage(stages: StageResults, config: Any, release: Any, skipped: list[Skipped], notes: list[str]
                   ) -> tuple[list[AttackResult], Any, Any]:
    """:func:`auditkit.sightings_audit.linkage_part` ``(config, release, skipped, notes)``, reused on
    an unchanged release with the same parameters (without importing it: it imports pandas); each
    attack's kept score matrix (the population projection's input) is stored with it."""
    from .scoring.population import keep_scores, kept_scores
    from .scoring.scores import ScoreMatrix

    parts = _linkage_parts(config, release)
    hit = stages.lookup("linkage", parts)
    if hit is not None:
        value, hit_notes, hit_skipped, arrays = hit
        attacks = [AttackResult.from_dict(d) for d in value["attacks"]]
        for i, a in enumerate(attacks):
            if f"scores{i}" in arrays:
                lab = json.loads(str(arrays[f"score_labels{i}"]))
                keep_scores(a, ScoreMatrix(arrays[f"scores{i}"], lab["probes"], lab["identities"], lab["truth"],
                                           lab["meta"]))
        notes.extend(hit_notes)
        skipped.extend(hit_skipped)
        return attacks, value["section"], value["planted"]
    from .sightings_audit import linkage_part

    n0, s0 = len(notes), len(skipped)
    attacks, section, planted = linkage_part(config, release, skipped, notes)
    arrays: dict[str, np.ndarray] = {}
    for i, a in enumerate(attacks):
        sm = kept_scores(a)
        if sm is not None:
            arrays[f"scores{i}"] = sm.scores
            arrays[f"score_labels{i}"] = np.array(_dumps({"probes": sm.probes, "identities": sm.identities,
                                                           "truth": sm.truth, "meta": sm.meta}))
    stages.put("linkage", parts, {"attacks": [a.to_dict() for a in attacks], "section": section, "planted": planted},
               notes[n0:], skipped[s0:], arrays)
    return attacks, section, planted
