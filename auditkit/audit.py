"""``run_pipeline(config)``: the whole audit as data flowing through (see DESIGN.md).

load + hash -> faces (cached) -> attacks -> metrics -> risk -> results dict.
Writing results.json / CSVs / HTML is :mod:`auditkit.report`'s job.
"""
from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .attacks.base import FeatureSet
from .attacks.context import FaceContext
from .attacks.memo import run_face_attack
from .attacks.registry import FACE_ATTACKS
from .config import AuditConfig
from .data.boxes import box_iou
from .data.hash_cache import reuse_hashes
from .data.inputs import Gallery, InputError, Release, custody_section, load_gallery, load_release
from .estimate_pool import ReleaseEstimate
from .features.cache import FeatureCache, default_cache_dir
from .features.faces import Task, encoder_info, extract_many, largest_face
from .obfuscation.vendor import anonymize_gallery
from .result import SCHEMA, AttackResult, AuditResult, Inputs, Skipped, Verdict
from .scoring.population import add_population
from .scoring.risk import assess, verdict, with_table_measures
from .scoring.stats import wilson_interval
from .stage_results import StageResults, cached_leak_scan, cached_linkage

__all__ = ["SCHEMA", "run_pipeline"]


def _matrix(rows: list[np.ndarray]) -> np.ndarray:
    """Encodings as an (n, 128) array; (0, 128) when there are none (a release of clips only)."""
    from .features.faces import ENCODING_DIM

    return np.vstack(rows) if rows else np.zeros((0, ENCODING_DIM))


def _gallery_features(gallery: Gallery, results: dict, skipped: list[Skipped]) -> tuple[FeatureSet, dict]:
    X, ids, labels, info = [], [], [], []
    n_img = n_det = 0
    for it in gallery.items:
        if it.file.kind != "image":
            continue  # clips feed the video cues (auditkit.video.audit)
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
            continue  # clips feed the video cues (auditkit.video.audit)
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
            info.append({"file": it.file.rel, "path": str(it.file.path), "source": str(r.sources[j]), "box": r.boxes[j].tolist(),
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
    from .obfuscation.spec import parse_spec

    if config.faces.obfuscation:
        return config.faces.obfuscation, "declared (--obfuscation)"
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


#: the obfuscation estimate reads at most this many release images (a seeded random sample)
ESTIMATE_SAMPLE = 400


def _estimate_obfuscation(pfs: FeatureSet, release: Release, notes: list[str], config_seed: int = 0) -> dict | None:
    """Estimate what obfuscation the release applied, on each release face region (issue 3)."""
    from .data.media import MediaError, load_image
    from .obfuscation.release import estimate_release

    by_file: dict[str, list[tuple[int, int, int, int]]] = {}
    paths: dict[str, str] = {}
    for inf in pfs.info:
        whole = inf.get("source") == "whole_image"  # no face found: the whole frame tells the scope (issue 13)
        by_file.setdefault(inf["file"], []).extend([] if whole else [tuple(inf["box"])])
        paths[inf["file"]] = inf.get("path") or str(release.root / inf["file"])
    if not by_file:
        return None

    files = list(by_file)
    if len(files) > ESTIMATE_SAMPLE:  # a seeded random sample: the share of each method, not every file
        rng = np.random.default_rng(config_seed)
        files = sorted(rng.choice(files, size=ESTIMATE_SAMPLE, replace=False).tolist())
        notes.append(f"obfuscation estimated on a random sample of {ESTIMATE_SAMPLE} of the {len(by_file):,} release "
                     f"images with a face region (seed {config_seed}): the estimate is the share of each method")

    def items():  # streamed: one decoded image at a time
        from .progress import track

        for rel in track(files, "estimating the obfuscation", unit="images"):
            boxes = by_file[rel]
            try:
                yield load_image(paths[rel]), boxes, rel
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
    from .obfuscation.spec import ObfuscationSpec

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


@dataclass
class Part:
    """What one stage adds to the result: its section, its input files, its attacks."""

    section: dict[str, Any] | None = None
    files: dict[str, Any] = field(default_factory=dict)  # role -> file entry (results.json inputs.tables)
    attacks: list[AttackResult] = field(default_factory=list)


def _table_part(config: AuditConfig, release: Release | None, notes: list[str]) -> Part:
    """Tables (issue 5): the release's metadata table and the attacker's auxiliary tables."""
    from .tables import TableError, run_table_audit

    t = config.tables
    table, ignore = t.table, ()
    if table is None:
        if release is None or release.manifest is None:
            raise TableError("--qi/--sensitive/--aux need a table: give --table RELEASE.csv, or a release "
                             "whose manifest.csv carries the metadata columns")
        table = release.manifest  # the manifest's metadata columns are the released table
        import pandas as pd

        cols = list(pd.read_csv(table, nrows=0).columns)
        # `subject` is the audit's ground truth, not released metadata: kept only to score linkage
        structure = _MANIFEST_STRUCTURE + (("subject",) if t.aux is None else ())
        ignore = tuple(c for c in cols if c.strip() in structure)
        notes.append(f"table audit of the release manifest's columns (left out: {', '.join(ignore)})")
    roles = (("release", table), ("aux", t.aux), ("control", t.control), ("population", t.population))
    for (label, p), flag in zip(roles, ("table", "aux", "control", "population")):
        if p is not None and not Path(p).is_file():
            raise TableError(f"--{flag} {p}: file not found")
    ta = run_table_audit(table, aux=t.aux, qi=t.qi, sensitive=t.sensitive, control=t.control,
                         population=t.population, id_col=t.id_col, ignore=ignore, random_state=config.run.seed,
                         sampling_fraction=t.sampling_fraction, suppressed_marker=t.suppressed_marker,
                         linkability_columns=t.linkability_columns, linkability_neighbors=t.linkability_neighbors)
    # ta.warnings / ta.skipped are in the tables section and shown in the report's tables section
    return Part(ta.tables, {label: _file_entry(Path(p)) for label, p in roles if p is not None},
                [assess(a) for a in ta.attacks])


def _trajectory_part(config: AuditConfig, notes: list[str]) -> Part:
    """Sightings (camera, time) per track or subject given as a table (issue 5)."""
    from .tables import trajectory_audit

    t = config.tables
    for label, p in (("sightings", t.sightings), ("whereabouts", t.whereabouts)):
        if p is not None and not Path(p).is_file():
            raise InputError(f"--{label} {p}: file not found")
    tr = trajectory_audit(t.sightings, aux=t.whereabouts, random_state=config.run.seed)
    files = {"sightings": _file_entry(Path(t.sightings))}
    if t.whereabouts:
        files["whereabouts"] = _file_entry(Path(t.whereabouts))
    notes += [f"trajectories: not run: {w}" for w in tr["skipped"]]
    return Part(tr["trajectories"], files, [assess(a) for a in tr["attacks"]])


@dataclass
class MediaPart:
    """What the media stage (faces in images, every cue in clips) adds to the result."""

    inputs: Inputs
    tool: dict[str, Any]
    runtime: dict[str, Any]
    attacks: list[AttackResult]
    obfuscation: dict[str, Any]
    detection: dict[str, Any] | None = None
    video: dict[str, Any] | None = None
    trajectories: dict[str, Any] | None = None
    spec: str | None = None


def _media_part(config: AuditConfig, gallery: Gallery, release: Release, skipped: list[Skipped],
                notes: list[str], stages: StageResults) -> MediaPart:
    """Faces in images (issues 2, 3) and every cue in clips (issue 4).

    Long: it is the media stage's whole sequence (custody, features,
    obfuscation, the face ladder, video), each step a call; splitting it would only pass its
    dozen locals around."""
    attacks: list[AttackResult] = []
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
    inputs = Inputs(ground_truth=bool(rel_subjects), release=custody_section(release.root, release.files),
                    gallery={**custody_section(gallery.root, gallery.files or [it.file for it in gallery.items]),
                             "identities": len(gallery.identities)},
                    manifest=str(release.manifest) if release.manifest else None)

    cache = FeatureCache((config.run.cache_dir or default_cache_dir()) if config.run.use_cache else None)
    params = config.face_params()
    enc_info = encoder_info(params)
    encoder_id = enc_info["id"]
    tool = {"encoder": encoder_id, "encoder_details": enc_info}
    tasks = [Task(str(it.file.path), it.file.sha256) for it in gallery.items if it.file.kind == "image"]
    tasks += [Task(str(it.file.path), it.file.sha256, it.box) for it in release.items if it.file.kind == "image"]
    t_feat = time.monotonic()
    faces = extract_many(tasks, params, cache, jobs=config.run.jobs, progress=config.run.progress,
                         executor=config.run.executor, scheduler=config.run.scheduler)
    runtime: dict[str, Any] = {"feature_seconds": round(time.monotonic() - t_feat, 2)}
    gfs, gstats = _gallery_features(gallery, faces, skipped)
    pfs, pstats = _release_features(release, faces, skipped)
    has_video = any(it.file.kind == "video" for it in release.items)
    spec, spec_src, scope, estimate, vendor = None, "", config.faces.obfuscation_scope, None, None
    detection = video = trajectories = None
    face_ok = len(set(gfs.labels)) >= 2 and len(pfs) > 0
    if not face_ok and not has_video:
        if len(set(gfs.labels)) < 2:
            raise InputError(f"gallery {gallery.root}: fewer than two identities have a usable image "
                             f"(see skipped files); identification cannot be scored")
        raise InputError(f"release {release.root}: no usable image (all {len(release.items)} items skipped)")
    if face_ok:
        spec, spec_src = _declared_obfuscation(config, release, notes)
        # calibrated on the clear gallery (issue 13); stored, in a worker, or here (issue 15)
        est = ReleaseEstimate(_estimate_obfuscation, config, params, gfs, pfs, release, stages)
        est_at, est_job = len(notes), est.start() if spec else None
        estimate = None if est_job else est.now(notes)
        if estimate and estimate.get("method") not in (None, "none", "unknown", "mixed"):
            est_label = _spec_label(estimate)
            if spec is None and est_label:
                spec, spec_src = est_label, "estimated from the release"
                scope = "frame" if estimate.get("coverage") == "whole_frame" else "face"
            elif spec and est_label and spec.split(":")[0] != est_label.split(":")[0]:
                notes.append(f"declared obfuscation {spec} differs from the estimated {est_label}")
        vendor = anonymize_gallery(config, gfs, skipped) if config.faces.anonymizer else None
        ctx = FaceContext(gallery=gfs, probes=pfs, release_root=release.root, params=params, cache=cache,
                          spec=spec, spec_source=spec_src, scope=scope, jobs=config.run.jobs,
                          executor=config.run.executor, scheduler=config.run.scheduler,
                          progress=config.run.progress, seed=config.run.seed, encoder_id=encoder_id,
                          skipped=skipped, notes=notes, vendor=vendor)
        stage_stats: dict[str, int] = {"hits": 0, "misses": 0}
        try:
            for name in config.faces.attacks:
                res = run_face_attack(name, FACE_ATTACKS[name], ctx, stage_stats,
                                      reuse=config.run.reuse_results)  # stored result on a warm re-run
                if res is not None:
                    res.details.setdefault("encoder", encoder_id)
                    attacks.append(assess(res))
        finally:
            if vendor is not None:
                vendor.cleanup()
        if est_job is not None:  # estimated in a worker meanwhile; its notes go where they were
            estimate, est_notes = est.finish(est_job)
            est_label = _spec_label(estimate) if estimate and estimate.get("method") not in (
                None, "none", "unknown", "mixed") else None
            if est_label and spec.split(":")[0] != est_label.split(":")[0]:
                est_notes.append(f"declared obfuscation {spec} differs from the estimated {est_label}")
            notes[est_at:est_at] = est_notes
        if pstats["items"]:
            finding = (f"A face detector still finds a face in {pstats['rate']:.0%} of release images "
                       f"({pstats['detected']}/{pstats['items']}); gallery (clear): "
                       f"{gstats['rate']:.0%}. A de-identified face that a detector still finds is weakly obscured.")
            detection = {"release": pstats, "gallery": gstats, "finding": finding}
            if config.video.leak_scan != "off":  # issue 13: faces still detectable, by the (small-face) leak detector
                detection["leak_scan"] = cached_leak_scan(
                    stages, list({it.file.rel: (it.file.rel, it.file.path, it.file.sha256) for it in release.items
                                  if it.file.kind == "image"}.values()),
                    detector=config.video.leak_detector, cache=cache)
    elif any(it.file.kind == "image" for it in release.items):
        notes.append("face attacks on release images not run: the gallery has fewer than two identities with a "
                     "usable face image, or no release image could be used")
    obfuscation = {"declared": spec, "source": spec_src, "scope": scope, "estimate": estimate}
    if face_ok and vendor is not None:
        obfuscation["anonymizer"] = vendor.record()
    if has_video or any(it.file.kind == "video" for it in gallery.items):
        from .video.audit import audit_videos

        va = audit_videos(release, gallery, face_gallery=gfs if len(gfs) else None, face_params=params,
                          cache=cache, fps=config.video.fps, seed=config.run.seed, progress=config.run.progress,
                          skipped=skipped, notes=notes, detector=config.video.people_detector,
                          boxes=config.video.people_boxes, leak_mode=config.video.leak_scan,
                          leak_detector=config.video.leak_detector, leak_full_every=config.video.leak_full_every,
                          gallery_obfuscation=config.faces.obfuscation or "auto",
                          obfuscation_region="body" if config.faces.obfuscation_scope == "frame" else "head",
                          jobs=config.run.jobs, executor=config.run.executor, scheduler=config.run.scheduler)
        if va is not None:
            attacks += [assess(a) for a in va.attacks]
            video = va.section
            if va.trajectories:
                trajectories = va.trajectories
    runtime["cache"] = cache.stats()
    if face_ok:
        runtime["stage_cache"] = stage_stats
    return MediaPart(inputs=inputs, tool=tool, runtime=runtime, attacks=attacks, obfuscation=obfuscation,
                     detection=detection, video=video, trajectories=trajectories, spec=spec)


SweepStage = Callable[[AuditConfig, "Gallery | None", "str | None", str, list[str]], "dict[str, Any] | None"]


def run_pipeline(config: AuditConfig, *, sweep_stage: SweepStage | None = None) -> AuditResult:
    """Run the audit described by ``config`` and return its :class:`~auditkit.result.AuditResult`
    (:func:`auditkit.report.write_outputs` writes its shareable form, pseudonymised unless labels
    are revealed). Use :func:`auditkit.run_audit`, which adds the strength sweep (``sweep_stage``:
    :func:`auditkit.sweep.sweep_stage`, which runs this pipeline once per strength).

    What runs depends on what is given: a release and a gallery (faces in images; people, faces,
    clothing and gait in clips), a release alone (its own gallery: ``linkage.sightings``), a
    table (or the manifest's metadata with ``qi``), sightings, and a strength sweep on the
    gallery. The verdict is the strongest attack's over all of them. Long: the stages in their
    order, each one call; split, their shared inputs and the stage cache would be passed around.

    Raises
    ------
    InputError
        When there is nothing to audit, or an input cannot be used at all.
    """
    t0 = time.monotonic()
    inp, tab = config.inputs, config.tables
    if inp.gallery is not None and inp.release is None:
        raise InputError("--gallery needs a --release to audit (a table alone: --table)")
    has_media = inp.release is not None and inp.gallery is not None
    gallery_free = inp.release is not None and inp.gallery is None  # linkage.sightings only (issue 12)
    wants_table = tab.table is not None or tab.qi is not None or tab.aux is not None
    if inp.release is None and not wants_table and tab.sightings is None:
        raise InputError("nothing to audit: give --release (with or without --gallery), and/or --table (or --sightings)")
    import dlib

    skipped: list[Skipped] = []
    notes: list[str] = []
    tool = {"name": "auditkit", "version": __version__, "python": platform.python_version(),
            "dlib": getattr(dlib, "__version__", "?")}
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    with reuse_hashes(_results_cache(config)):  # unchanged files' digests reused; verify re-hashes (issue 15)
        gallery = load_gallery(inp.gallery) if has_media else None
        release = load_release(inp.release) if inp.release is not None else None
    if has_media:
        skipped += [Skipped(f"gallery/{s.path}", s.reason, s.stage) for s in gallery.skipped]
        notes += list(gallery.notes)
    if release is not None:
        skipped += release.skipped
        notes += list(release.notes)
    if has_media and inp.distractors is not None:
        gallery = _with_distractors(gallery, release, inp.distractors, notes)
    # tables first: cheap, and a wrong column name should fail before a long media audit
    table = _table_part(config, release, notes) if wants_table else Part()
    sightings = _trajectory_part(config, notes) if tab.sightings is not None else Part()
    stages = StageResults.for_config(config)  # stored stage results (issue 15)
    media = _media_part(config, gallery, release, skipped, notes, stages) if has_media else None
    files = {**table.files, **sightings.files}
    inputs = media.inputs if media else Inputs()
    linkage_attacks, linkage = _linkage_stage(config, release, inputs, files, skipped, notes, stages)
    inputs.tables = files or None
    scope = (media.obfuscation or {}).get("scope") if media else None
    sweep = None
    if config.sweep.families and sweep_stage is None:
        notes.append("strength sweep not run: this pipeline was run without its sweep stage (use auditkit.run_audit)")
    elif config.sweep.families:
        sweep = sweep_stage(config, gallery, media.spec if media else None,
                            scope or config.faces.obfuscation_scope, notes)
    attacks = table.attacks + sightings.attacks + (media.attacks if media else []) + linkage_attacks
    add_population(attacks, config.faces.population_sizes, seed=config.run.seed, cache_dir=_results_cache(config))
    if has_media or gallery_free:
        what = _what((media.spec if media else None) or config.faces.obfuscation)
    else:
        what = "the released table" if table.section else "the released trajectories"
    runtime = {"jobs": config.run.jobs, **(media.runtime if media else {}), "stages": stages.record}
    runtime["seconds"] = round(time.monotonic() - t0, 2)
    result = AuditResult(
        tool={**tool, **(media.tool if media else {})}, created=created,
        title=config.report.title or "Re-identification audit",
        parameters={**config.to_dict(), "face": config.face_params().as_dict()}, seed=config.run.seed,
        inputs=inputs, skipped=skipped, notes=notes, attacks=attacks,
        verdict=_with_direct_identifiers(with_table_measures(verdict(attacks, what=what), table.section),
                                          table.section),
        detection=media.detection if media else None, obfuscation=media.obfuscation if media else None,
        tables=table.section, video=media.video if media else None,
        trajectories=(media.trajectories if media and media.trajectories else None) or sightings.section,
        linkage=linkage, sweep=sweep, runtime=runtime,
        options={"show_examples": config.report.show_examples, "redact_examples": config.report.redact_examples,
                 "reveal_labels": config.report.reveal_labels}, extra={"signoff": config.signoff()})
    # the typed result holds exactly what results.json holds (NaN as None, tuples as lists)
    return AuditResult.from_dict(result.to_dict())


def _results_cache(config: AuditConfig) -> Path | None:
    """Where stored stage results may be reused (issue 15); None without a cache or under ``verify``."""
    ok = config.run.use_cache and config.run.reuse_results
    return Path(config.run.cache_dir or default_cache_dir()) if ok else None


def _with_distractors(gallery: Gallery, release: Release, folder: Path, notes: list[str]) -> Gallery:
    """Issue 14: identities that are not in the release join the gallery (``--distractors``)."""
    from .data.distractors import add_distractors

    return add_distractors(gallery, folder, notes=notes,
                           release_subjects={it.subject for it in release.items if it.subject})


def _linkage_stage(config: AuditConfig, release: Release | None, inputs: Inputs, files: dict[str, Any],
                   skipped: list[Skipped], notes: list[str], stages: StageResults
                   ) -> tuple[list[AttackResult], dict[str, Any] | None]:
    """The release as its own gallery: gallery-free linkage (issue 12), with or without a gallery.
    Adds the release's custody (when no media stage did) and the planted file's to ``inputs``/``files``."""
    if release is None or not config.inputs.linkage:
        return [], None
    attacks, section, planted = cached_linkage(stages, config, release, skipped, notes)  # linkage_part, stored
    if inputs.release is None:
        inputs.release = custody_section(release.root, release.files)
    if planted:  # custody of the planted volunteers' file like every other input table
        files["planted"] = {**_file_entry(Path(config.inputs.planted)), "windows": planted["windows"]}
    return attacks, section


def _with_direct_identifiers(v: dict[str, Any], tables: dict[str, Any] | None) -> Verdict:
    """A released table with a column that names people is not de-identified, whatever the attacks
    measured: the verdict says so first (the risk level stays the attacks')."""
    t = tables or {}
    cols = [d["column"] for d in t.get("direct_identifiers") or [] if d["column"] != t.get("id_col")]
    if cols:
        v = {**v, "anonymized": False, "direct_identifiers": cols,
             "summary": (f"The released table has direct identifier column(s) {', '.join(cols)}: it names people "
                         f"outright and is not de-identified, whatever the other figures say. {v['summary']}")}
    return Verdict.from_dict(v)
