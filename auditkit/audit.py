"""``run_audit(config)``: the whole audit as data flowing through (see DESIGN.md).

load + hash -> faces (cached) -> attacks -> metrics -> risk -> results dict.
Writing results.json / CSVs / HTML is :mod:`auditkit.report`'s job.
"""
from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .attacks import face as _face_attacks  # noqa: F401  (registers face.naive, face.parrot)
from .attacks.base import FeatureSet
from .attacks.context import FACE_ATTACKS, FaceContext
from .data.inputs import Gallery, InputError, Release, custody_section, load_gallery, load_release
from .features.cache import FeatureCache, default_cache_dir
from .features.faces import FaceParams, Task, box_iou, encoder_info, extract_many, largest_face
from .result import AttackResult, Skipped, to_jsonable
from .risk import assess, verdict
from .stats import wilson_interval

__all__ = ["ATTACKS", "SCHEMA", "AuditConfig", "run_audit"]

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
    fail_on: str | None = None  # recorded only: the CLI turns it into exit code 1 (risk.level_at_least)
    show_examples: bool = False
    redact_examples: bool = True
    seed: int = 0
    progress: bool = True
    title: str | None = None
    fps: float | None = None  # frames sampled per second of video (None: every frame)
    people_detector: str = "mog2"  # video: "mog2" background subtraction (static cameras) | "hog"
    people_boxes: str = "manifest"  # video: person boxes from the manifest when given | "detect" always
    leak_scan: str = "frame"  # video face-leak scan: "frame" | "person" (inside person boxes) | "both" | "off"
    # tables (issue 5): the release's metadata table (else the manifest's columns), the attacker's
    # auxiliary table, quasi-identifiers / sensitive columns ("a,b,c"), control and population tables
    table: Path | None = None
    aux: Path | None = None
    qi: str | None = None
    sensitive: str | None = None
    control: Path | None = None
    population: Path | None = None
    id_col: str | None = None
    sightings: Path | None = None  # camera/timestamp per track or subject
    whereabouts: Path | None = None  # the attacker's known (camera, time) per identity
    sweep: tuple[str, ...] = ()  # obfuscation families for the strength sweep; "auto": the release's
    planted: Path | None = None  # planted volunteers' windows (subject, camera, start, end) for linkage.sightings
    linkage: bool = True  # run linkage.sightings on the release (issue 12); the strength sweep turns it off

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
        if self.scheduler is not None and self.executor != "dask":
            raise ValueError(f"a scheduler address ({self.scheduler}) needs executor 'dask', got {self.executor!r}")
        for name, allowed in (("people_detector", ("mog2", "hog")), ("people_boxes", ("manifest", "detect")),
                              ("leak_scan", ("frame", "person", "both", "off"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps!r}")
        if isinstance(self.sweep, str):
            self.sweep = tuple(f.strip() for f in self.sweep.split(",") if f.strip())
        from .obfuscation import METHODS

        bad = [f for f in self.sweep if f != "auto" and (f not in METHODS or f == "none")]
        if bad:
            raise ValueError(f"unknown sweep family {', '.join(bad)}; allowed: auto, "
                             f"{', '.join(m for m in METHODS if m != 'none')}")

    def face_params(self) -> FaceParams:
        return FaceParams(detector=self.detector, upsample=self.upsample, jitters=self.jitters,
                          encoder=self.encoder)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


def _matrix(rows: list[np.ndarray]) -> np.ndarray:
    """Encodings as an (n, 128) array; (0, 128) when there are none (a release of clips only)."""
    from .features.faces import ENCODING_DIM

    return np.vstack(rows) if rows else np.zeros((0, ENCODING_DIM))


def _gallery_features(gallery: Gallery, results: dict, skipped: list[Skipped]) -> tuple[FeatureSet, dict]:
    X, ids, labels, info = [], [], [], []
    n_img = n_det = 0
    for it in gallery.items:
        if it.file.kind != "image":
            continue  # clips feed the video cues (auditkit.video_audit)
        r = results[(str(it.file.path), None, None)]
        if isinstance(r, str):
            skipped.append(Skipped(f"gallery/{it.file.rel}", r, "decode"))
            continue
        n_img += 1
        n_det += r.n_detected > 0
        j = largest_face(r)
        X.append(r.encodings[j])
        ids.append(f"gallery/{it.file.rel}")
        labels.append(it.identity)
        info.append({"source": str(r.sources[j]), "box": r.boxes[j].tolist(), "path": str(it.file.path),
                     "sha256": it.file.sha256})
    stats = {"images": n_img, "detected": n_det,
             "rate": n_det / n_img if n_img else math.nan,
             "rate_ci": wilson_interval(n_det, n_img) if n_img else (math.nan, math.nan)}
    return FeatureSet(_matrix(X), ids, labels, info), stats


def _release_features(release: Release, results: dict, skipped: list[Skipped]) -> tuple[FeatureSet, dict]:
    X, ids, labels, info = [], [], [], []
    n_items = n_det = n_fallback = 0
    extra_faces = 0
    for it in release.items:
        if it.file.kind != "image":
            continue  # clips feed the video cues (auditkit.video_audit)
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
            chosen = [largest_face(r)]
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
                         "camera": it.camera, "timestamp": it.timestamp, "sha256": it.file.sha256})
    stats = {"items": n_items, "detected": n_det, "not_detected": n_fallback,
             "rate": n_det / n_items if n_items else math.nan,
             "rate_ci": wilson_interval(n_det, n_items) if n_items else (math.nan, math.nan),
             "other_faces_in_labelled_images": extra_faces}
    return FeatureSet(_matrix(X), ids, labels, info), stats


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
    if not by_file:
        return None

    def items():  # streamed: one decoded image at a time
        for rel, boxes in by_file.items():
            try:
                yield load_image(release.root / rel), boxes, rel
            except MediaError:
                continue

    try:
        return estimate_release(items()).to_dict()
    except Exception as e:  # noqa: BLE001  (an estimator failure must not abort the audit)
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


def _file_entry(path: Path) -> dict[str, Any]:
    from .data.media import sha256_file

    return {"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}


#: manifest columns that describe the media rather than the people (left out of a table audit)
_MANIFEST_STRUCTURE = ("path", "x", "y", "w", "h", "track", "frame", "obfuscation")


def _table_part(config: AuditConfig, release: Release | None, results: dict, attacks: list[AttackResult],
                notes: list[str]) -> None:
    """Tables (issue 5): the release's metadata table and the attacker's auxiliary tables."""
    from .tables import TableError, run_table_audit

    table, ignore = config.table, ()
    if table is None:
        if release is None or release.manifest is None:
            raise TableError("--qi/--sensitive/--aux need a table: give --table RELEASE.csv, or a release "
                             "whose manifest.csv carries the metadata columns")
        table = release.manifest  # the manifest's metadata columns are the released table
        import pandas as pd

        cols = list(pd.read_csv(table, nrows=0).columns)
        # `subject` is the audit's ground truth, not released metadata: kept only to score linkage
        structure = _MANIFEST_STRUCTURE + (("subject",) if config.aux is None else ())
        ignore = tuple(c for c in cols if c.strip() in structure)
        notes.append(f"table audit of the release manifest's columns (left out: {', '.join(ignore)})")
    for label, p in (("table", table), ("aux", config.aux), ("control", config.control),
                     ("population", config.population)):
        if p is not None and not Path(p).is_file():
            raise TableError(f"--{label} {p}: file not found")
    ta = run_table_audit(table, aux=config.aux, qi=config.qi, sensitive=config.sensitive, control=config.control,
                         population=config.population, id_col=config.id_col, ignore=ignore,
                         random_state=config.seed)
    results["tables"] = ta.tables
    results["inputs"]["tables"] = {label: _file_entry(Path(p)) for label, p in
                                   (("release", table), ("aux", config.aux), ("control", config.control),
                                    ("population", config.population)) if p is not None}
    attacks += [assess(a) for a in ta.attacks]
    # ta.warnings / ta.skipped are in results["tables"] and shown in the report's tables section


def _trajectory_part(config: AuditConfig, results: dict, attacks: list[AttackResult], notes: list[str]) -> None:
    """Sightings (camera, time) per track or subject given as a table (issue 5)."""
    from .tables import trajectory_audit

    for label, p in (("sightings", config.sightings), ("whereabouts", config.whereabouts)):
        if p is not None and not Path(p).is_file():
            raise InputError(f"--{label} {p}: file not found")
    tr = trajectory_audit(config.sightings, aux=config.whereabouts, random_state=config.seed)
    results["trajectories"] = tr["trajectories"]
    results["inputs"].setdefault("tables", {})["sightings"] = _file_entry(Path(config.sightings))
    if config.whereabouts:
        results["inputs"]["tables"]["whereabouts"] = _file_entry(Path(config.whereabouts))
    attacks += [assess(a) for a in tr["attacks"]]
    notes += [f"trajectories: not run: {w}" for w in tr["skipped"]]


def _media_part(config: AuditConfig, gallery: Gallery, release: Release, results: dict,
                attacks: list[AttackResult], skipped: list[Skipped], notes: list[str]) -> str | None:
    """Faces in images (issues 2, 3) and every cue in clips (issue 4). Returns the obfuscation spec."""
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
    results["inputs"].update({
        "release": custody_section(release.root, release.files),
        "gallery": {**custody_section(gallery.root, [it.file for it in gallery.items]),
                    "identities": len(gallery.identities)},
        "manifest": str(release.manifest) if release.manifest else None,
        "ground_truth": bool(rel_subjects)})

    cache = FeatureCache((config.cache_dir or default_cache_dir()) if config.use_cache else None)
    params = config.face_params()
    enc_info = encoder_info(params)
    encoder_id = enc_info["id"]
    results["tool"].update({"encoder": encoder_id, "encoder_details": enc_info})
    tasks = [Task(str(it.file.path), it.file.sha256) for it in gallery.items if it.file.kind == "image"]
    tasks += [Task(str(it.file.path), it.file.sha256, it.box) for it in release.items if it.file.kind == "image"]
    t_feat = time.monotonic()
    faces = extract_many(tasks, params, cache, jobs=config.jobs, progress=config.progress,
                         executor=config.executor, scheduler=config.scheduler)
    results["runtime"]["feature_seconds"] = round(time.monotonic() - t_feat, 2)
    gfs, gstats = _gallery_features(gallery, faces, skipped)
    pfs, pstats = _release_features(release, faces, skipped)
    has_video = any(it.file.kind == "video" for it in release.items)
    spec, spec_src, scope, estimate = None, "", config.obfuscation_scope, None
    face_ok = len(set(gfs.labels)) >= 2 and len(pfs) > 0
    if not face_ok and not has_video:
        if len(set(gfs.labels)) < 2:
            raise InputError(f"gallery {gallery.root}: fewer than two identities have a usable image "
                             f"(see skipped files); identification cannot be scored")
        raise InputError(f"release {release.root}: no usable image (all {len(release.items)} items skipped)")
    if face_ok:
        spec, spec_src = _declared_obfuscation(config, release, notes)
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
        for name in config.attacks:
            res = FACE_ATTACKS[name](ctx)
            if res is not None:
                res.details.setdefault("encoder", encoder_id)
                attacks.append(assess(res))
        if pstats["items"]:
            finding = (f"A face detector still finds a face in {pstats['rate']:.0%} of release images "
                       f"({pstats['detected']}/{pstats['items']}); gallery (clear): "
                       f"{gstats['rate']:.0%}. A de-identified face that a detector still finds is weakly obscured.")
            results["detection"] = {"release": pstats, "gallery": gstats, "finding": finding}
    elif any(it.file.kind == "image" for it in release.items):
        notes.append("face attacks on release images not run: the gallery has fewer than two identities with a "
                     "usable face image, or no release image could be used")
    results["obfuscation"] = {"declared": spec, "source": spec_src, "scope": scope, "estimate": estimate}
    if has_video or any(it.file.kind == "video" for it in gallery.items):
        from .video_audit import audit_videos

        va = audit_videos(release, gallery, face_gallery=gfs if len(gfs) else None, face_params=params,
                          cache=cache, fps=config.fps, seed=config.seed, progress=config.progress,
                          skipped=skipped, notes=notes, detector=config.people_detector,
                          boxes=config.people_boxes, leak_mode=config.leak_scan,
                          gallery_obfuscation=config.obfuscation or "auto",
                          obfuscation_region="body" if config.obfuscation_scope == "frame" else "head")
        if va is not None:
            attacks += [assess(a) for a in va.attacks]
            results["video"] = va.section
            if va.trajectories:
                results["trajectories"] = va.trajectories
    results["runtime"]["cache"] = cache.stats()
    return spec


def run_audit(config: AuditConfig) -> dict[str, Any]:
    """Run the audit described by ``config`` and return the results.json dictionary.

    What runs depends on what is given: a release and a gallery (faces in images, and people,
    faces, clothing and gait in clips), a table (``config.table``, or the release manifest's
    metadata with ``config.qi``), sightings, and a strength sweep on the gallery. The verdict
    is the strongest attack's over all of them.
    """
    t0 = time.monotonic()
    if config.gallery is not None and config.release is None:
        raise InputError("--gallery needs a --release to audit (a table alone: --table)")
    has_media = config.release is not None and config.gallery is not None
    gallery_free = config.release is not None and config.gallery is None  # linkage.sightings only (issue 12)
    wants_table = config.table is not None or config.qi is not None or config.aux is not None
    if config.release is None and not wants_table and config.sightings is None:
        raise InputError("nothing to audit: give --release and --gallery, and/or --table (or --sightings)")
    import dlib

    skipped: list[Skipped] = []
    notes: list[str] = []
    attacks: list[AttackResult] = []
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "tool": {"name": "auditkit", "version": __version__, "python": platform.python_version(),
                 "dlib": getattr(dlib, "__version__", "?")},
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "title": config.title or "Re-identification audit",
        "parameters": {**config.to_dict(), "face": config.face_params().as_dict()},
        "seed": config.seed,
        "inputs": {"ground_truth": False},
        "skipped": [], "notes": [], "detection": None, "attacks": [], "obfuscation": None,
        "tables": None, "video": None, "trajectories": None, "sweep": None, "verdict": None, "linkage": None,
        "runtime": {"jobs": config.jobs},
        "options": {"show_examples": config.show_examples, "redact_examples": config.redact_examples},
    }
    gallery = load_gallery(config.gallery) if has_media else None
    release = load_release(config.release) if config.release is not None else None
    if gallery_free:
        skipped += release.skipped
        notes += list(release.notes)
    if has_media:
        skipped += [Skipped(f"gallery/{s.path}", s.reason, s.stage) for s in gallery.skipped]
        skipped += release.skipped
        notes += list(gallery.notes) + list(release.notes)
    # tables first: cheap, and a wrong column name should fail before a long media audit
    if wants_table:
        _table_part(config, release, results, attacks, notes)
    if config.sightings is not None:
        _trajectory_part(config, results, attacks, notes)
    spec = _media_part(config, gallery, release, results, attacks, skipped, notes) if has_media else None
    if release is not None and config.linkage:  # the release as its own gallery: gallery-free linkage (issue 12)
        from .sightings_audit import linkage_part

        linkage_part(config, release, results, attacks, skipped, notes)
    scope = (results["obfuscation"] or {}).get("scope") or config.obfuscation_scope
    if config.sweep:
        results["sweep"] = _sweep_part(config, gallery, spec, scope, notes)
    if has_media or gallery_free:
        what = _what(spec or config.obfuscation)
    else:
        what = "the released table" if results["tables"] else "the released trajectories"
    results.update({
        "skipped": [asdict(s) for s in skipped], "notes": notes,
        "attacks": [a.to_dict() for a in attacks], "verdict": _with_direct_identifiers(verdict(attacks, what=what),
                                                                                        results["tables"])})
    results["runtime"]["seconds"] = round(time.monotonic() - t0, 2)
    return to_jsonable(results)


def _with_direct_identifiers(v: dict[str, Any], tables: dict[str, Any] | None) -> dict[str, Any]:
    """A released table with a column that names people is not de-identified, whatever the attacks
    measured: the verdict says so first (the risk level stays the attacks')."""
    t = tables or {}
    cols = [d["column"] for d in t.get("direct_identifiers") or [] if d["column"] != t.get("id_col")]
    if cols:
        v = {**v, "anonymized": False, "direct_identifiers": cols,
             "summary": (f"The released table has direct identifier column(s) {', '.join(cols)}: it names people "
                         f"outright and is not de-identified, whatever the other figures say. {v['summary']}")}
    return v


def _sweep_part(config: AuditConfig, gallery: Gallery | None, spec: str | None, scope: str,
                notes: list[str]) -> dict[str, Any] | None:
    """The privacy curve on the gallery (issue 3): how strong the obfuscation would need to be.

    Never aborts the audit it follows: when the gallery cannot be split, or the sweep fails on
    the inputs, a note says why and the audit's own results are kept."""
    from collections import Counter

    from .sweep import run_sweep

    if gallery is None:
        notes.append("strength sweep not run: it needs a gallery of clear images (--gallery)")
        return None
    per_id = Counter(it.identity for it in gallery.items if it.file.kind == "image")
    counts = sorted(c for c in per_id.values() if c >= 2)
    if len(counts) < 2:
        notes.append("strength sweep not run: it needs at least two gallery identities with two or more "
                     "images each (one clear, one to obfuscate and attack)")
        return None
    fams = tuple(f for f in config.sweep if f != "auto")
    if "auto" in config.sweep:
        fam = spec.split(":")[0] if spec else None
        if fam in (None, "none", "mask"):
            fam = "blur"
        fams = fams + ((fam,) if fam not in fams else ())
    face_attacks = tuple(a for a in config.attacks if a in FACE_ATTACKS)
    # half of each identity's gallery images stay clear (the attacker's), the rest are attacked
    n_cal = max(1, (counts[len(counts) // 2] + 1) // 2)
    notes.append(f"strength sweep: the gallery is split per identity into {n_cal} clear calibration image(s) and "
                 "obfuscated probes; no release image is used")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="auditkit-sweep-cache-") as tmp_cache:
        # --no-cache: a throw-away cache (the sweep re-uses features across strengths within the run)
        cache_dir = (config.cache_dir or default_cache_dir()) if config.use_cache else Path(tmp_cache)
        try:
            return run_sweep(gallery.root, families=fams, attacks=face_attacks or None, n_calibration=n_cal,
                             cache_dir=cache_dir, jobs=config.jobs, seed=config.seed, progress=config.progress,
                             encoder=config.encoder, scope=scope)
        except (InputError, ValueError) as e:
            notes.append(f"strength sweep not run: {e}")
            return None
