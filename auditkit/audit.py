"""``run_audit(config)``: the whole audit as data flowing through (see DESIGN.md).

load + hash -> faces (cached) -> attacks -> metrics -> risk -> results dict.
Writing results.json / CSVs / HTML is :mod:`auditkit.report`'s job.
"""
from __future__ import annotations

import hashlib
import math
import platform
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .attacks.base import FeatureSet
from .attacks import face as _face_attacks  # noqa: F401  (registers face.naive, face.parrot)
from .attacks.context import FACE_ATTACKS, FaceContext
from .data.inputs import Gallery, InputError, Release, load_gallery, load_release
from .features.cache import FeatureCache, default_cache_dir
from .features.faces import FaceParams, ImageFaces, Task, box_iou, encoder_info, extract_many
from .result import AttackResult, Skipped, to_jsonable
from .risk import assess, verdict
from .stats import wilson_interval

__all__ = ["AuditConfig", "run_audit", "SCHEMA", "ATTACKS"]

SCHEMA = "auditkit.results/1"
try:  # adaptive attacks (issue 3): registered when present
    from .attacks import adaptive as _adaptive  # noqa: F401
except ImportError:  # pragma: no cover
    pass
ATTACKS = tuple(FACE_ATTACKS)


@dataclass
class AuditConfig:
    """Everything that determines an audit's result (all of it is written to results.json)."""

    release: Path | None = None
    gallery: Path | None = None
    out: Path = Path("auditkit-out")
    attacks: tuple[str, ...] = ATTACKS
    jobs: int = 1
    executor: str = "local"  # "local" process pool | "dask" (issue 6)
    scheduler: str | None = None  # dask scheduler address; None: a local dask cluster
    cache_dir: Path | None = None  # None: default_cache_dir()
    use_cache: bool = True
    detector: str = "hog"
    upsample: int = 1
    jitters: int = 1
    encoder: str = "fast"
    obfuscation: str | None = None  # declared, e.g. "blur:sigma=6"; else from the manifest
    obfuscation_scope: str = "face"  # "face": the face region was obfuscated; "frame": whole image
    fail_on: str = "high"
    show_examples: bool = False
    redact_examples: bool = True
    seed: int = 0
    progress: bool = True
    title: str | None = None

    def __post_init__(self) -> None:
        bad = [a for a in self.attacks if a not in ATTACKS]
        if bad:
            raise ValueError(f"unknown attack(s) {', '.join(bad)}; available: {', '.join(ATTACKS)}")
        if self.obfuscation is not None:
            from .obfuscation import parse_spec

            self.obfuscation = parse_spec(self.obfuscation).label
        if self.obfuscation_scope not in ("face", "frame"):
            raise ValueError(f"obfuscation_scope must be 'face' or 'frame', got {self.obfuscation_scope!r}")
        if self.executor not in ("local", "dask"):
            raise ValueError(f"executor must be 'local' or 'dask', got {self.executor!r}")
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs!r}")

    def face_params(self) -> FaceParams:
        return FaceParams(detector=self.detector, upsample=self.upsample, jitters=self.jitters,
                          encoder=self.encoder)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


def _inputs_section(root: Path, files: list) -> dict[str, Any]:
    listing = [{"path": f.rel, "sha256": f.sha256, "bytes": f.size} for f in files]
    h = hashlib.sha256()
    for f in sorted(listing, key=lambda r: r["path"]):
        h.update(f"{f['path']}\0{f['sha256']}\n".encode())
    return {"path": str(root), "n_files": len(listing), "bytes": sum(f["bytes"] for f in listing),
            "sha256": h.hexdigest(), "files": listing}


def _pick_largest(faces: ImageFaces) -> int:
    areas = faces.boxes[:, 2] * faces.boxes[:, 3]
    det = faces.sources == "detector"
    if det.any():
        areas = np.where(det, areas, -1)
    return int(np.argmax(areas))


def _gallery_features(gallery: Gallery, results: dict, skipped: list[Skipped]) -> tuple[FeatureSet, dict]:
    X, ids, labels, info = [], [], [], []
    n_img = n_det = 0
    for it in gallery.items:
        if it.file.kind != "image":
            skipped.append(Skipped(f"gallery/{it.file.rel}", "video in the gallery: not used by face attacks yet", "faces"))
            continue
        r = results[(str(it.file.path), None, None)]
        if isinstance(r, str):
            skipped.append(Skipped(f"gallery/{it.file.rel}", r, "decode"))
            continue
        n_img += 1
        n_det += r.n_detected > 0
        j = _pick_largest(r)
        X.append(r.encodings[j])
        ids.append(f"gallery/{it.file.rel}")
        labels.append(it.identity)
        info.append({"source": str(r.sources[j]), "box": r.boxes[j].tolist(), "path": str(it.file.path),
                     "sha256": it.file.sha256})
    stats = {"images": n_img, "detected": n_det,
             "rate": n_det / n_img if n_img else math.nan,
             "rate_ci": wilson_interval(n_det, n_img) if n_img else (math.nan, math.nan)}
    return FeatureSet(np.array(X).reshape(len(X), -1), ids, labels, info), stats


def _release_features(release: Release, results: dict, skipped: list[Skipped]) -> tuple[FeatureSet, dict]:
    X, ids, labels, info = [], [], [], []
    n_items = n_det = n_fallback = 0
    extra_faces = 0
    for it in release.items:
        if it.file.kind != "image":
            skipped.append(Skipped(it.file.rel, "video in the release: not used by face attacks yet", "faces"))
            continue
        r = results[(str(it.file.path), it.box, None)]
        if isinstance(r, str):
            skipped.append(Skipped(it.file.rel, r, "decode"))
            continue
        n_items += 1
        if it.box is not None:
            overl = [box_iou(it.box, b) for b in r.boxes]
            chosen = [int(np.argmax(overl))]
            detected = r.sources[chosen[0]] == "detector"
        elif it.subject is not None:
            chosen = [_pick_largest(r)]
            detected = r.n_detected > 0
            extra_faces += max(0, r.n_detected - 1)
        else:
            chosen = list(range(len(r.boxes)))
            detected = r.n_detected > 0
        n_det += bool(detected)
        n_fallback += not detected
        for j in chosen:
            ids.append(it.probe_id if len(chosen) == 1 else f"{it.probe_id}#face{j}")
            X.append(r.encodings[j])
            labels.append(it.subject)
            info.append({"file": it.file.rel, "source": str(r.sources[j]), "box": r.boxes[j].tolist(),
                         "detector_score": None if math.isnan(r.scores[j]) else float(r.scores[j]),
                         "camera": it.camera, "timestamp": it.timestamp})
    stats = {"items": n_items, "detected": n_det, "not_detected": n_fallback,
             "rate": n_det / n_items if n_items else math.nan,
             "rate_ci": wilson_interval(n_det, n_items) if n_items else (math.nan, math.nan),
             "other_faces_in_labelled_images": extra_faces}
    return FeatureSet(np.array(X).reshape(len(X), -1), ids, labels, info), stats


def _declared_obfuscation(config: AuditConfig, release: Release, notes: list[str]) -> tuple[str | None, str]:
    """The obfuscation the attacker re-applies: declared by the user, else a single value of the
    manifest's ``obfuscation`` column. Returns (spec label or None, where it came from)."""
    from .obfuscation import parse_spec

    if config.obfuscation:
        return config.obfuscation, "declared (--obfuscation)"
    vals = {it.meta.get("obfuscation", "").strip() for it in release.items} - {""}
    if len(vals) == 1:
        try:
            return parse_spec(vals.pop()).label, "declared in manifest.csv (obfuscation column)"
        except ValueError as e:
            notes.append(f"manifest obfuscation column not understood ({e}); face.parrot not run")
    elif len(vals) > 1:
        notes.append(f"manifest declares {len(vals)} different obfuscations; face.parrot needs one "
                     "(declare it with --obfuscation)")
    return None, ""


def _estimate_obfuscation(pfs: FeatureSet, release: Release, notes: list[str]) -> dict | None:
    """Estimate what obfuscation the release applied, on each release face region (issue 3)."""
    from .data.media import MediaError, load_image
    from .obfuscation_estimate import estimate_release

    by_file: dict[str, list[tuple[int, int, int, int]]] = {}
    for inf in pfs.info:
        by_file.setdefault(inf["file"], []).append(tuple(inf["box"]))
    items = []
    for rel, boxes in by_file.items():
        try:
            img = load_image(release.root / rel)
        except MediaError:
            continue
        items.append((img, boxes, rel))
    if not items:
        return None
    try:
        return estimate_release(items).to_dict()
    except Exception as e:  # an estimator failure must not abort the audit
        notes.append(f"obfuscation estimate failed ({type(e).__name__}: {e})")
        return None


def _what(spec: str | None) -> str:
    """Name the de-identification in the verdict ("blurring (blur:sigma=6)")."""
    if not spec:
        return "the de-identification"
    noun = {"blur": "blurring", "box": "box blurring", "pixelate": "pixelation", "mask": "masking",
            "noise": "adding noise", "none": "the de-identification"}.get(spec.split(":")[0], "the de-identification")
    return f"{noun} ({spec})"


def _spec_label(estimate: dict) -> str | None:
    from .obfuscation import ObfuscationSpec

    method, strength = estimate.get("method"), estimate.get("strength")
    try:
        return ObfuscationSpec(method, float(strength) if strength is not None else 0.0).label
    except (ValueError, TypeError):
        return None


def run_audit(config: AuditConfig) -> dict[str, Any]:
    """Run the audit described by ``config`` and return the results.json dictionary."""
    t0 = time.monotonic()
    if config.release is None or config.gallery is None:
        raise InputError("a face audit needs both --release and --gallery")
    gallery = load_gallery(config.gallery)
    release = load_release(config.release)
    skipped: list[Skipped] = [Skipped(f"gallery/{s.path}", s.reason, s.stage) for s in gallery.skipped]
    skipped += release.skipped
    notes = list(gallery.notes) + list(release.notes)
    g_hashes = {it.file.sha256: it.file.rel for it in gallery.items}
    for f in release.files:
        if f.sha256 in g_hashes:
            notes.append(f"release file {f.rel} is byte-identical to gallery file {g_hashes[f.sha256]}: "
                         "it is trivially re-identifiable and makes the test easier than reality")
    gal_subjects = set(gallery.identities)
    rel_subjects = {it.subject for it in release.items if it.subject is not None}
    absent = sorted(rel_subjects - gal_subjects)
    if absent:
        notes.append(f"{len(absent)} release subject(s) are not in the gallery: their probes are scored "
                     "open-set (an attacker without a reference should not name them)")

    cache = FeatureCache((config.cache_dir or default_cache_dir()) if config.use_cache else None)
    params = config.face_params()
    tasks = [Task(str(it.file.path), it.file.sha256) for it in gallery.items if it.file.kind == "image"]
    tasks += [Task(str(it.file.path), it.file.sha256, it.box) for it in release.items if it.file.kind == "image"]
    t_feat = time.monotonic()
    faces = extract_many(tasks, params, cache, jobs=config.jobs, progress=config.progress,
                         executor=config.executor, scheduler=config.scheduler)
    t_feat = time.monotonic() - t_feat
    gfs, gstats = _gallery_features(gallery, faces, skipped)
    pfs, pstats = _release_features(release, faces, skipped)
    if len({l for l in gfs.labels}) < 2:
        raise InputError(f"gallery {gallery.root}: fewer than two identities have a usable image "
                         f"(see skipped files); identification cannot be scored")
    if len(pfs) == 0:
        raise InputError(f"release {release.root}: no usable image (all {len(release.items)} items skipped)")
    enc_info = encoder_info(params)
    encoder_id = enc_info["id"]

    spec, spec_src = _declared_obfuscation(config, release, notes)
    scope = config.obfuscation_scope
    estimate = _estimate_obfuscation(pfs, release, notes)
    if estimate and estimate.get("method") not in (None, "none", "unknown", "mixed"):
        est_label = _spec_label(estimate)
        if spec is None and est_label:
            spec, spec_src = est_label, "estimated from the release"
            scope = "frame" if estimate.get("coverage") == "whole_frame" else "face"
        elif spec and est_label and spec.split(":")[0] != est_label.split(":")[0]:
            notes.append(f"declared obfuscation {spec} differs from the estimated {est_label}")
    ctx = FaceContext(gallery=gfs, probes=pfs, release_root=release.root, params=params, cache=cache,
                      spec=spec, spec_source=spec_src, scope=scope, jobs=config.jobs,
                      executor=config.executor, scheduler=config.scheduler,
                      progress=config.progress, seed=config.seed, encoder_id=encoder_id,
                      skipped=skipped, notes=notes)
    attacks: list[AttackResult] = []
    for name in config.attacks:
        res = FACE_ATTACKS[name](ctx)
        if res is not None:
            res.details.setdefault("encoder", encoder_id)
            attacks.append(assess(res))
    v = verdict(attacks, what=_what(spec))
    if pstats["items"]:
        det = pstats["rate"]
        finding = (f"A face detector still finds a face in {det:.0%} of release images "
                   f"({pstats['detected']}/{pstats['items']}); gallery (clear): "
                   f"{gstats['rate']:.0%}. A de-identified face that a detector still finds is weakly obscured.")
    else:
        finding = None
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    import dlib

    results = {
        "schema": SCHEMA,
        "tool": {"name": "auditkit", "version": __version__, "python": platform.python_version(),
                 "dlib": getattr(dlib, "__version__", "?"), "encoder": encoder_id,
                 "encoder_details": enc_info},
        "created": created,
        "title": config.title or "Re-identification audit",
        "parameters": {**config.to_dict(), "face": params.as_dict()},
        "seed": config.seed,
        "inputs": {"release": _inputs_section(release.root, release.files),
                   "gallery": {**_inputs_section(gallery.root, [it.file for it in gallery.items]),
                               "identities": len(gallery.identities)},
                   "manifest": str(release.manifest) if release.manifest else None,
                   "ground_truth": bool(rel_subjects)},
        "skipped": [asdict(s) for s in skipped],
        "notes": notes,
        "detection": {"release": pstats, "gallery": gstats, "finding": finding},
        "attacks": [a.to_dict() for a in attacks],
        "obfuscation": {"declared": spec, "source": spec_src, "scope": scope, "estimate": estimate},
        "tables": None,
        "verdict": v,
        "runtime": {"seconds": round(time.monotonic() - t0, 2), "feature_seconds": round(t_feat, 2),
                    "cache": cache.stats(), "jobs": config.jobs},
        "options": {"show_examples": config.show_examples, "redact_examples": config.redact_examples},
    }
    return to_jsonable(results)
