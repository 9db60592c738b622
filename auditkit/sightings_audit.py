"""The gallery-free linkage audit of a release (issue 12): release -> sightings -> ``linkage.sightings``.

:func:`release_sightings` turns a loaded release into a :class:`~auditkit.data.sightings.SightingSet`:

* **images**: every face the detector finds (128-d encoding), and, when the image (or its
  manifest box) is a full-body person crop (taller than wide by 1.5x or more), its appearance
  descriptor; a person crop with at most one face is one sighting carrying both cues, the faces
  of other images one sighting each, grouped by image (seen together, so different people).
  Camera: the manifest's ``camera``, else the image's folder; time: the manifest's ``timestamp``;
  track: the manifest's ``track``; ground truth: its ``subject``.
* **clips**: people tracked as in :mod:`auditkit.video_audit` (same options and feature cache);
  each track with enough material becomes two sightings, its first and second half, on one
  track (the within-track pairs of the label-free estimate); cues appearance (chunk means),
  gait (GEIs) and leaked faces.

When the release's obfuscation is declared (``--obfuscation``), the attacker re-applies it to
every person crop before the appearance descriptor (as the gallery attacks do): crops the
anonymizer missed or under-blurred then look like the others, and both sides of every
comparison are alike. Without a declaration nothing is re-applied (the note says so).

:func:`linkage_part` is the call site of :func:`auditkit.audit.run_audit`.
"""
from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from .attacks.sightings import LinkageParams, run_linkage
from .data.inputs import Release
from .data.sightings import SightingSet, apply_planted, epoch_seconds, load_planted
from .result import AttackResult, Skipped

__all__ = ["linkage_part", "release_sightings"]

_TALL = 1.5  # height/width of a full-body person crop


def _camera(rel: str, camera: str | None) -> str:
    if camera:
        return camera
    parts = PurePosixPath(rel).parts
    return parts[-2] if len(parts) > 1 else "camera"


def _obf_crop(crop: np.ndarray, spec: Any) -> np.ndarray:
    from .obfuscation.spec import apply_obfuscation

    return apply_obfuscation(crop, spec)


def release_sightings(release: Release, *, cache: Any, face_params: Any, jobs: int = 1, executor: str = "local",
                      scheduler: str | None = None, progress: bool = False, fps: float | None = None,
                      detector: str = "mog2", boxes: str = "manifest", leak_mode: str = "frame",
                      leak_detector: str = "auto", obfuscation: str | None = None, skipped: list[Skipped], notes: list[str],
                      leak_full_every: int = 1) -> SightingSet:
    """Every observed person of ``release`` as a sighting (see the module docstring)."""
    from .data.boxes import box_iou
    from .data.media import MediaError, load_image
    from .features.appearance import appearance_descriptor
    from .features.faces import ENCODING_DIM, Task, extract_many

    spec = None
    if obfuscation:
        from .obfuscation.spec import parse_spec

        spec = parse_spec(obfuscation)
    rows: list[dict[str, Any]] = []
    images = [it for it in release.items if it.file.kind == "image"]
    if images:
        tasks = [Task(str(it.file.path), it.file.sha256, it.box) for it in images]
        faces = extract_many(tasks, face_params, cache, jobs=jobs, progress=progress, executor=executor,
                             scheduler=scheduler)
        for it in images:
            r = faces[(str(it.file.path), it.box, None)]
            if isinstance(r, str):
                skipped.append(Skipped(it.file.rel, r, "decode"))
                continue
            det = [j for j in range(len(r.boxes)) if r.sources[j] == "detector"]
            if it.box is not None and det:
                det = [max(det, key=lambda j: box_iou(it.box, r.boxes[j]))]
            app = None
            try:
                img = load_image(it.file.path)
            except MediaError as e:
                skipped.append(Skipped(it.file.rel, str(e), "decode"))
                continue
            crop = img
            if it.box is not None:
                x, y, w, h = it.box
                crop = img[max(y, 0):y + h, max(x, 0):x + w]
            if crop.size and crop.shape[0] >= _TALL * crop.shape[1]:
                app = appearance_descriptor(_obf_crop(crop, spec) if spec is not None else crop)
            base = {"camera": _camera(it.file.rel, it.camera), "t": epoch_seconds(it.timestamp),
                    "track": it.track, "truth": it.subject, "file": it.file.rel}
            if app is not None and len(det) <= 1:
                rows.append({**base, "id": it.probe_id, "group": None, "appearance": app,
                             "face": r.encodings[det[0]] if det else None})
            else:
                for j in det:
                    rows.append({**base, "id": f"{it.probe_id}#face{j}", "group": it.probe_id, "appearance": None,
                                 "face": r.encodings[j], "track": it.track if len(det) == 1 else None,
                                 "truth": it.subject if len(det) == 1 else None})
    rows += _clip_rows(release, cache=cache, face_params=face_params, fps=fps, detector=detector, boxes=boxes,
                       leak_mode=leak_mode, leak_detector=leak_detector, leak_full_every=leak_full_every,
                       obfuscation=spec.label if spec is not None else None, progress=progress, skipped=skipped, notes=notes)
    if not rows:
        raise ValueError("no observed person in the release (no face detected, no full-body crop, no track)")
    feats: dict[str, np.ndarray] = {}
    dims = {"face": ENCODING_DIM}
    for cue in ("face", "appearance", "gait"):
        have = [r[cue] for r in rows if r.get(cue) is not None]
        if not have:
            continue
        d = dims.get(cue, len(have[0]))
        X = np.full((len(rows), d), np.nan)
        for i, r in enumerate(rows):
            if r.get(cue) is not None:
                X[i] = np.asarray(r[cue], dtype=np.float64).reshape(-1)
        feats[cue] = X
    t0 = np.array([r.get("t0", r["t"]) for r in rows], dtype=float)
    t1 = np.array([r.get("t1", r["t"]) for r in rows], dtype=float)
    truth = [r["truth"] for r in rows]
    return SightingSet([r["id"] for r in rows], [r["camera"] for r in rows], t0, t1,
                       [r["track"] for r in rows], [r["group"] for r in rows], feats, truth=truth,
                       truth_mode="subject" if any(t is not None for t in truth) else "none",
                       info=[{"file": r["file"]} for r in rows])


def _halves(a: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Means of the first and second half of a track's samples (one sample: the first half only)."""
    if len(a) == 0:
        return None, None
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    if len(a) == 1:
        return a[0], None
    h = len(a) // 2
    return a[:h].mean(axis=0), a[h:].mean(axis=0)


def _clip_rows(release: Release, *, cache: Any, face_params: Any, fps: float | None, detector: str, boxes: str,
               leak_mode: str, obfuscation: str | None, progress: bool, skipped: list[Skipped],
               notes: list[str], leak_detector: str = "auto", leak_full_every: int = 1) -> list[dict[str, Any]]:
    clips: dict[str, list] = {}
    for it in release.items:
        if it.file.kind == "video":
            clips.setdefault(it.file.rel, []).append(it)
    if not clips:
        return []  # no video: the clip machinery (gait, scipy: ~2 s of imports) is not loaded
    from .video.clips import process_clip_or_skip
    from .video.manifest_boxes import _manifest_boxes, majority_subject

    rows: list[dict[str, Any]] = []
    no_time = []
    offset = 0.0
    for rel, items in sorted(clips.items()):
        f = items[0].file
        per, mnotes = _manifest_boxes(items)
        notes.extend(mnotes)
        use = per if (per and boxes == "manifest") else None
        # the same options as the gallery audit, so its cached clip features are reused
        cf = process_clip_or_skip(rel, f.path, skipped, sha256=f.sha256, cache=cache, fps=fps, max_side=640,
                                  boxes=use, detector=detector, leak_mode=leak_mode, leak_detector=leak_detector,
                                  leak_full_every=leak_full_every,
                                  face_params=face_params,
                                  gait_frames=20, min_gait_fps=5.0, obfuscation=obfuscation,
                                  estimate_regions=0 if obfuscation else 12)
        if cf is None:
            continue
        cams = [it.camera for it in items if it.camera]
        camera = Counter(cams).most_common(1)[0][0] if cams else _camera(rel, None)
        start = next((epoch_seconds(it.timestamp) for it in items if it.box is None and it.timestamp), math.nan)
        if not math.isfinite(start):
            stamps = [epoch_seconds(it.timestamp) for it in items if it.timestamp]
            stamps = [s for s in stamps if math.isfinite(s)]
            start = min(stamps) if stamps else math.nan
        if not math.isfinite(start):
            no_time.append(rel)
            start = offset  # clips without a clock: placed far apart, so never co-present
        clip_subject = {it.subject for it in items if it.box is None and it.subject}
        dur = 0.0
        for t in cf.tracks:
            subj = t.subject
            if use is None and per:  # detected tracks: majority subject of the manifest boxes they overlap
                subj = majority_subject(t.frames, t.boxes, per)
            if subj is None and len(clip_subject) == 1:
                subj = next(iter(clip_subject))
            times = np.asarray(t.times, dtype=float)
            dur = max(dur, float(times[-1]) if len(times) else 0.0)
            parts = {c: _halves(x) for c, x in (("appearance", t.appearance), ("gait", t.gait), ("face", t.faces))}
            n_half = 2 if any(p[1] is not None for p in parts.values()) else 1
            mid = len(times) // 2 if n_half == 2 else len(times)
            spans = [(times[0], times[max(mid - 1, 0)]), (times[min(mid, len(times) - 1)], times[-1])][:n_half]
            for h, (a, b) in enumerate(spans):
                cue = {c: p[h] for c, p in parts.items()}
                if all(v is None for v in cue.values()):
                    continue
                rows.append({"id": f"{rel}#track{t.label}/{h + 1}", "camera": camera, "t": start + a,
                             "t0": start + a, "t1": start + b, "track": f"{rel}#track{t.label}", "group": None,
                             "truth": subj, "file": rel, **cue})
        offset = max(offset, start if math.isfinite(start) else 0.0) + dur + 1e7
        if progress:
            print(f"  linkage: clip {rel}: {len(cf.tracks)} track(s)", file=sys.stderr)
    if no_time:
        notes.append(f"linkage: {len(no_time)} clip(s) have no timestamp in manifest.csv; their tracks are linked "
                     "without a time window and with no cross-camera timing constraint")
    return rows


def linkage_part(config: Any, release: Release, skipped: list[Skipped], notes: list[str]
                 ) -> tuple[list[AttackResult], dict[str, Any] | None, dict[str, Any] | None]:
    """Run ``linkage.sightings`` on ``release`` (with ``config.inputs.planted`` when given): its
    attacks (risk-assessed), results.json's ``linkage`` section, and the planted file's custody
    entry (or None). A failure becomes a note: it never aborts the audit."""
    from .features.cache import FeatureCache, default_cache_dir
    from .scoring.risk import assess

    run, faces, video = config.run, config.faces, config.video
    lnotes: list[str] = []
    planted, planted_entry = None, None
    if config.inputs.planted is not None:
        planted = load_planted(config.inputs.planted)  # ValueError names the file: a usage error
    cache = FeatureCache((run.cache_dir or default_cache_dir()) if run.use_cache else None)
    try:
        s = release_sightings(release, cache=cache, face_params=config.face_params(), jobs=run.jobs,
                              executor=run.executor, scheduler=run.scheduler, progress=run.progress,
                              fps=video.fps, detector=video.people_detector, boxes=video.people_boxes,
                              leak_mode=video.leak_scan, leak_detector=video.leak_detector,
                              leak_full_every=video.leak_full_every,
                              obfuscation=faces.obfuscation, skipped=skipped,
                              notes=lnotes)
    except ValueError as e:
        notes.append(f"linkage.sightings not run: {e}")
        return [], None, None
    if planted is not None:
        apply_planted(s, planted, lnotes)
        planted_entry = {"path": str(config.inputs.planted), "windows": len(planted)}
    if not faces.obfuscation:
        lnotes.append("linkage: no obfuscation declared (--obfuscation), so none was re-applied to the release's "
                      "person crops")
    params = LinkageParams(seed=run.seed)
    try:
        res, section = run_linkage(s, params, notes=lnotes)
    except ValueError as e:
        notes.append(f"linkage.sightings not run: {e}")
        return [], None, planted_entry
    section["notes"] = lnotes
    notes.extend(lnotes)
    return [assess(a) for a in res], section, planted_entry
