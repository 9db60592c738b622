"""``audit_videos``: the clips of a release and a gallery -> scored video attacks (appearance, gait,
face.video, fused), the ``video`` section of results.json and the trajectories of the release
tracks. The conventions (manifest, gallery rule, attacks) are in :mod:`auditkit.video`."""
from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from ..attacks.base import FeatureSet
from ..config import VideoConfig
from ..data.inputs import Gallery, Release, ReleaseItem
from ..data.media import MediaError
from ..features.appearance_tracking import tracker_for
from ..features.cache import FeatureCache
from ..features.face_detectors import resolve_detector
from ..features.faces import FaceParams
from ..features.leaks import leak_rate
from ..result import AttackResult, Skipped, to_jsonable
from .clips import (
    VIDEO_FEATURE_VERSION,
    ClipFeatures,
    TrackFeatures,
    _frame_index,
    _LazyFaceModels,
    _manifest_boxes,
    majority_subject,
    process_clip,
    process_clip_or_skip,
)
from .cues import AppearanceCue, CueFeatures, FaceVideoCue, FusedCue, GaitCue
from .gallery import _gallery_samples, _obfuscation_choice

__all__ = ["VIDEO_FEATURE_VERSION", "ClipFeatures", "TrackFeatures", "VideoAudit", "audit_videos",
           "process_clip"]



@dataclass
class VideoAudit:
    """What :func:`audit_videos` returns.

    ``attacks`` are not risk-assessed yet (the caller runs :func:`auditkit.scoring.risk.assess`);
    ``section`` is results.json's ``video``; ``trajectories`` its ``trajectories`` (or None).
    """

    attacks: list[AttackResult]
    section: dict
    trajectories: dict | None



def _track_row(t: TrackFeatures, clip: dict) -> dict:
    return {"probe": t.probe_id, "clip": t.clip, "track": t.label, "camera": clip["camera"],
            "frames": len(t.frames), "first_frame": int(t.frames[0]), "last_frame": int(t.frames[-1]),
            "t_start_s": float(t.times[0]), "t_end_s": float(t.times[-1]),
            "leaked": bool(t.probe_id in clip["_leaked"]), "has": {
                "appearance": bool(len(t.appearance)), "gait": bool(len(t.gait)), "face": bool(len(t.faces))},
            "ground_truth": t.subject is not None, "truth": t.subject, "cues": {}}



def _leak_rate_row(leaks: list[dict], frames: int, mode: str, detector: str) -> dict:
    """A clip row's leak columns: detector, frames scanned, frames with a leaked face, rate and Wilson 95% CI."""
    if mode == "off":
        return {"leak_detector": None, "leak_frames_scanned": 0, "leak_frames": 0, "leak_rate": None,
                "leak_rate_ci": None}
    r = leak_rate(leaks, frames)
    return {"leak_detector": resolve_detector(detector), "leak_frames_scanned": r["frames_scanned"],
            "leak_frames": r["frames_with_leak"], "leak_rate": r["rate"], "leak_rate_ci": r["rate_ci"]}


def _camera_of(rel: str, rows: list[ReleaseItem]) -> str:
    cams = [it.camera for it in rows if it.camera]
    if cams:
        return Counter(cams).most_common(1)[0][0]
    parts = PurePosixPath(rel).parts
    return parts[-2] if len(parts) > 1 else PurePosixPath(rel).stem



def _epoch(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        d = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return d.timestamp() if d.tzinfo else (d - datetime(1970, 1, 1)).total_seconds()



def audit_videos(release: Release, gallery: Gallery, *, face_gallery: FeatureSet | None, face_params: FaceParams,
                 cache: FeatureCache, fps: float | None = VideoConfig.fps, max_side: int | None = 640, seed: int = 0,
                 progress: bool = False, skipped: list[Skipped], notes: list[str],
                 detector: str = VideoConfig.people_detector, boxes: str = VideoConfig.people_boxes,
                 leak_mode: str = VideoConfig.leak_scan, leak_upsample: int = 1,
                 leak_detector: str = VideoConfig.leak_detector, leak_full_every: int = 1, gait_frames: int = 20,
                 min_gait_fps: float = 5.0, trajectory_time_bin: str = "5s", gallery_obfuscation: str | None = "auto",
                 obfuscation_region: str = "body", jobs: int = 1, executor: str = "local",
                 scheduler: str | None = None) -> VideoAudit | None:
    """Audit the clips of a release against a gallery (see the module docstring for the rules).

    Parameters
    ----------
    release, gallery : loaded inputs (:func:`auditkit.data.inputs.load_release` / ``load_gallery``).
    face_gallery : 128-d face encodings of the gallery images (the caller's extraction), or None.
        Only rows whose ``info["source"]`` is ``"detector"`` are used (not whole-image fallbacks).
    face_params : encoder options, for faces leaked in the release.
    cache : per-clip features are cached under (clip sha256, every option below).
    fps : sample frames at this rate (None: every frame; gait needs >= ``min_gait_fps``).
    max_side : frames whose longer side exceeds this are downscaled for processing (scale recorded).
    seed : random state (trajectory sampling).
    progress : print one line per clip to stderr.
    skipped, notes : appended to (bad clips are listed, never abort the audit).
    detector : "mog2" (background subtraction, static cameras; default) or "hog", for clips
        without manifest boxes.
    boxes : "manifest" (use manifest boxes when a clip has them) or "detect" (always detect; the
        manifest boxes then only give ground truth, by IoU >= 0.5).
    leak_mode, leak_upsample : face-leak scan ("frame", "person", "both" or "off").
    leak_full_every : the whole-frame scan runs fully every this many sampled frames, in between only
        where the frame changed (:mod:`auditkit.features.leak_gate`; 1: every frame fully).
    leak_detector : its face detector ("auto": CenterFace when installed, else "hog"); each clip row
        gives the share of sampled frames with a leaked face and its Wilson 95% interval.
    gait_frames, min_gait_fps : frames per gait sample; lowest sampling rate for gait.
    trajectory_time_bin : time resolution of the trajectory points.
    jobs, executor, scheduler : release clips are processed side by side on these workers
        (:mod:`auditkit.video.clip_pool`; the same features as one by one).
    gallery_obfuscation, obfuscation_region : the release's de-identification, re-applied to the
        gallery's person crops on the "body" or the "head" (their top quarter) before the appearance
        descriptor, so the attacker compares like with like. A spec (e.g. ``"blur:sigma=6"``, in
        original release pixels) is used as declared; ``"auto"`` (default) estimates it on about 12
        person boxes per release clip and re-applies it to the whole body when a blur, box blur or
        pixelation dominates the confident estimates (head-only obfuscation of CCTV-sized people
        cannot be estimated reliably and is then not re-applied); None or ``"none"``: never.

    Returns
    -------
    VideoAudit, or None when neither the release nor the gallery holds a clip.

    Long: the video stage's sequence (release clips and their ground truth, gallery samples, the cue attacks of
    :mod:`auditkit.video.cues`, trajectories, the report section); the clip loop is still to split out.
    """
    if boxes not in ("manifest", "detect"):
        raise ValueError(f"boxes must be 'manifest' or 'detect', got {boxes!r}")
    rel_clips: dict[str, list[ReleaseItem]] = {}
    for it in release.items:
        if it.file.kind == "video":
            rel_clips.setdefault(it.file.rel, []).append(it)
    gal_clips = [it for it in gallery.items if it.file.kind == "video"]
    if not rel_clips and not gal_clips:
        return None
    t_start = time.monotonic()
    clip_opts = {"fps": fps, "max_side": max_side, "detector": detector, "face_params": face_params,
                     "gait_frames": gait_frames, "min_gait_fps": min_gait_fps}
    vnotes: list[str] = []
    if gallery_obfuscation == "none":
        gallery_obfuscation = None
    if obfuscation_region not in ("body", "head"):
        raise ValueError(f"obfuscation_region must be 'body' or 'head', got {obfuscation_region!r}")
    auto = gallery_obfuscation == "auto"
    if gallery_obfuscation is not None and not auto:
        from ..obfuscation.spec import parse_spec

        gallery_obfuscation = parse_spec(gallery_obfuscation).label  # ValueError names the bad spec
    region_estimates: list[dict] = []
    face_models = _LazyFaceModels(face_params or FaceParams())  # loaded once, on the first leak

    # ---- release clips
    clips: list[dict] = []
    tracks: list[TrackFeatures] = []
    leak_rows: list[dict] = []
    sight_rows: list[dict] = []
    abs_time = True
    from ..progress import Progress

    def use_of(rows: list[ReleaseItem]) -> Any:  # the manifest's boxes when the clip is to use them
        per, _ = _manifest_boxes(rows)
        return per if (per and boxes == "manifest") else None

    def clip_kwargs(sha256: str, use: Any) -> dict[str, Any]:  # process_clip's options for one release clip
        return {"sha256": sha256, "cache": cache, "boxes": use, "leak_mode": leak_mode, "leak_upsample": leak_upsample,
                "leak_detector": leak_detector, "leak_full_every": leak_full_every,
                "estimate_regions": 12 if auto else 0, **clip_opts}

    pre: dict[str, Any] = {}
    if len(rel_clips) > 1 and (jobs > 1 or executor != "local"):  # on the workers, in clip order
        from .clip_pool import process_clips

        pre = process_clips([(rel, rows[0].file.path, clip_kwargs(rows[0].file.sha256, use_of(rows)))
                             for rel, rows in sorted(rel_clips.items())],
                            jobs=jobs, executor=executor, scheduler=scheduler, notes=vnotes)
    clip_prog = Progress("video: release clips", len(rel_clips), enabled=progress, unit="clips")
    for k_clip, (rel, rows) in enumerate(sorted(rel_clips.items())):
        if k_clip:
            clip_prog.update()  # the previous clip is done (the loop body has several `continue`s)
        f = rows[0].file
        per, mnotes = _manifest_boxes(rows)
        vnotes.extend(mnotes)
        clip_subjects = {it.subject for it in rows if it.box is None and it.subject}
        use = per if (per and boxes == "manifest") else None
        if rel in pre:  # processed on the workers
            cf, clip_skipped, secs = pre.pop(rel)
            skipped.extend(clip_skipped)
        else:
            t0 = time.monotonic()
            cf = process_clip_or_skip(rel, f.path, skipped, face_models=face_models, **clip_kwargs(f.sha256, use))
            secs = time.monotonic() - t0
        if cf is None:
            continue
        camera = _camera_of(rel, rows)
        region_estimates.extend(cf.obfuscation)
        for t in cf.tracks:
            t.clip = rel
        # ground truth for detected tracks: manifest boxes by IoU, else a single clip-level subject
        if use is None:
            for t in cf.tracks:
                voted = majority_subject(t.frames, t.boxes, per)
                if voted is not None:
                    t.subject = voted
        if len(clip_subjects) == 1:
            s = next(iter(clip_subjects))
            for t in cf.tracks:
                t.subject = t.subject or s
        elif len(clip_subjects) > 1:
            vnotes.append(f"{rel}: {len(clip_subjects)} clip-level subjects in manifest.csv; a clip-level "
                          "subject only labels single-person clips, so none was used")
        # times: manifest wall-clock when given
        frame_ts = {}
        for it in rows:
            if it.box is not None and it.timestamp and (it.meta or {}).get("frame", "") not in ("", None):
                e = _epoch(it.timestamp)
                try:
                    fi = _frame_index(it.meta["frame"])
                except ValueError:
                    continue  # already in the notes (_manifest_boxes)
                if e is not None:
                    frame_ts[fi] = e
        start = next((_epoch(it.timestamp) for it in rows if it.box is None and it.timestamp), None)
        if not frame_ts and start is None:
            abs_time = False
        leaked = {lk["track"] for lk in cf.leaks if lk["track"] is not None}
        rep = cf.report
        clip = {"path": rel, "camera": camera, "sha256": f.sha256, "detection": cf.detection,
                "frames_decoded": rep.get("frames_decoded"), "frames_sampled": rep.get("frames_yielded"),
                "frames_expected": rep.get("frames_expected"), "fps_container": rep.get("fps_container"),
                "fps_measured": rep.get("fps_measured"), "variable_frame_rate": rep.get("variable_frame_rate"),
                "truncated": rep.get("truncated"), "decode_failures": rep.get("decode_failures"),
                "scale": rep.get("scale"), "downscaled": rep.get("downscaled"), "resolution": None,
                "tracks": len(cf.tracks), "tracks_exposed": len(leaked), "leaks": len(cf.leaks),
                **_leak_rate_row(cf.leaks, rep.get("frames_yielded") or 0, leak_mode, leak_detector),
                "messages": cf.messages, "seconds": round(secs, 2),
                "_leaked": {f"{rel}#track{x}" for x in leaked}}
        try:
            from ..data.video import probe_video

            pv = probe_video(f.path)
            clip["resolution"] = [pv["width"], pv["height"]]
        except MediaError:
            pass
        if rep.get("truncated") or rep.get("decode_failures"):
            why = "; ".join(m for m in cf.messages if "decod" in m) or "clip decoded only in part"
            if cf.tracks:  # audited: the frames that decoded are used, the clip table lists the problem
                vnotes.append(f"{rel}: decoded only in part; the {rep.get('frames_decoded')} frame(s) that decoded "
                              "were audited")
            else:  # nothing usable came out of it
                skipped.append(Skipped(rel, f"{why}; no person track found in the frames that decoded", "video"))
        if not cf.tracks:
            vnotes.append(f"{rel}: no person track found")
        clips.append(clip)
        tracks.extend(cf.tracks)
        for lk in cf.leaks:
            leak_rows.append({"clip": rel, "camera": camera, **lk,
                              "probe": f"{rel}#track{lk['track']}" if lk["track"] is not None else None})
        W, H = clip["resolution"] or (1, 1)
        for t in cf.tracks:
            for fr, b, ts in zip(t.frames, t.boxes, t.times):
                when = frame_ts.get(int(fr), (start + ts) if start is not None else ts)
                sight_rows.append({"track": t.probe_id, "frame": float(when), "x": b[0], "y": b[1], "w": b[2],
                                   "h": b[3], "cam": camera, "W": W, "H": H,
                                   **({"subject": t.subject} if t.subject is not None else {})})
        if progress:
            print(f"  release clip {rel}: {len(cf.tracks)} track(s), {len(cf.leaks)} leak(s) in "
                  f"{clip['seconds']:.1f} s", file=sys.stderr)

    if rel_clips:
        clip_prog.update()
    # ---- what the attacker re-applies to the gallery
    obf_section = _obfuscation_choice(gallery_obfuscation, obfuscation_region, region_estimates, auto)
    applied, applied_region = obf_section["applied"], obf_section["region"]
    if auto and applied is None:
        vnotes.append("appearance: no blur, box blur or pixelation of whole person boxes was detected in the release "
                      f"({obf_section['regions']} person regions estimated), so gallery crops are compared as they are")
    gal_opts = dict(clip_opts, obfuscation=applied, obfuscation_region=applied_region, gallery=True)

    # ---- gallery
    gs = _gallery_samples(gallery, cache=cache, clip_opts=gal_opts, skipped=skipped, notes=vnotes,
                          progress=progress)
    face_ok = []
    if face_gallery is not None and len(face_gallery):
        face_ok = [i for i, inf in enumerate(face_gallery.info or [{}] * len(face_gallery))
                   if (inf or {}).get("source", "detector") == "detector" and face_gallery.labels[i] is not None]
    identities = sorted(set(gallery.identities))

    # ---- the cue attacks (appearance, gait, face.video), each under the attack contract, then fused
    n = len(tracks)
    probes = [t.probe_id for t in tracks]
    truth = [t.subject for t in tracks]
    feats = CueFeatures(tracks, gs, identities, face_gallery=face_gallery, face_rows=face_ok)
    cues = [AppearanceCue(feats, applied=applied, applied_region=applied_region, source=obf_section["source"]),
            GaitCue(feats, seed=seed, gait_frames=gait_frames, min_gait_fps=min_gait_fps), FaceVideoCue(feats)]
    for c in cues:
        c.evaluate()
    scored = [c for c in cues if c.scores is not None]
    weights = {c.cue: c.weight for c in scored}
    cv_info = {c.cue: c.cv for c in scored}
    for c in scored:
        if not c.rows.any():
            notes.append(f"{c.name}: no release track has a {c.cue} sample; not run")
    attacks: list[AttackResult] = [c.result() for c in cues if c.result() is not None]
    for c in cues:
        if c.result() is None:
            notes.extend(c.cue_notes)
    unknown = sum(t is None for t in truth)
    used = [c for c in cues if c.result() is not None]
    if not n:
        vnotes.append("video: no person track in any release clip, so no video attack could be scored")
    elif not used:
        vnotes.append("fused: no cue (appearance, gait, face) could be scored, so there is nothing to fuse")
    else:
        fused = FusedCue(used, feats)
        attacks.append(fused.evaluate().result())
        vnotes.extend(fused.video_notes)
    if unknown:
        vnotes.append(f"{unknown} of {n} release track(s) have no ground truth (no manifest subject): their "
                      "candidates are listed but they are not scored")

    # ---- per-track exposure table
    by_clip = {c["path"]: c for c in clips}
    table = [_track_row(t, by_clip[t.clip]) for t in tracks]
    for a in attacks:
        for row in a.details.get("matches", []):
            k = probes.index(row["probe"])
            table[k]["cues"][a.name] = {"top": row["candidates"][0] if row["candidates"] else None,
                                        "rank": row.get("true_rank")}

    # ---- trajectories
    traj = None
    if sight_rows:
        from ..tables.trajectories import trajectory_audit, zone_maps

        sdf = pd.DataFrame(sight_rows)
        parts = []
        for (W, H), g in sdf.groupby(["W", "H"]):
            parts.append(_sightings(g, W, H))
        s = pd.concat(parts, ignore_index=True)
        try:
            ta = trajectory_audit(s, p_values=(1, 2, 3, 4), time_bin=trajectory_time_bin,
                                  bins=("1s", "5s", "15s", "1min", "5min", "15min", "1h", "1D"),
                                  camera_maps=zone_maps(s, (4, 3), [(2, 2), (1, 1)]), random_state=seed)
            traj = {**ta["trajectories"], "units": "release tracks", "n_tracks": int(s["track"].nunique()),
                    "zones": "4x3 grid over each camera view (foot point of the box)",
                    "absolute_time": abs_time, "skipped": ta["skipped"]}
            attacks.extend(ta["attacks"])
            if not abs_time:
                vnotes.append("trajectories: some clips have no manifest timestamp, so their times count from each "
                              "clip's first frame and clips are not aligned in time")
        except Exception as e:  # noqa: BLE001 (a trajectory failure must not abort the video audit)
            vnotes.append(f"trajectories not computed ({type(e).__name__}: {e})")

    notes.extend(vnotes)
    total_exposed = sum(c["tracks_exposed"] for c in clips)
    section = {
        "clips": [{k: v for k, v in c.items() if not k.startswith("_")} for c in clips],
        "detection": sorted({c["detection"] for c in clips}),
        "n_clips": len(clips), "n_tracks": n, "n_tracks_with_truth": n - unknown,
        "tracks_exposed": total_exposed, "leaks": leak_rows, "tracks": table,
        "gallery": {"clips": gs.clips, "person_images": gs.images_used, "face_only_images": gs.images_face_only,
                    "appearance_samples": len(gs.app_X), "gait_samples": len(gs.gait_X),
                    "face_encodings": len(face_ok), "identities": len(identities)},
        "parameters": {"fps": fps, "max_side": max_side, "detector": detector, "boxes": boxes,
                       "gallery_obfuscation": "auto" if auto else gallery_obfuscation,
                       "leak_mode": leak_mode, "leak_upsample": leak_upsample, "leak_full_every": leak_full_every,
                       "leak_detector": resolve_detector(leak_detector) if leak_mode != "off" else None,
                       "gait_frames": gait_frames,
                       "min_gait_fps": min_gait_fps, "trajectory_time_bin": trajectory_time_bin, "seed": seed,
                       # links detected boxes, and manifest boxes without a track label, into tracks (issue 17)
                       "tracker": tracker_for(detector).params()},
        "fusion": {"weights": weights, "gallery_cv": cv_info},
        "obfuscation": obf_section,
        "notes": vnotes,
        "seconds": round(time.monotonic() - t_start, 2),
    }
    return VideoAudit(attacks=attacks, section=to_jsonable(section), trajectories=to_jsonable(traj))



def _sightings(g: pd.DataFrame, W: float, H: float) -> pd.DataFrame:
    from ..tables.trajectories import sightings_from_boxes

    cols = ["track", "frame", "x", "y", "w", "h", "cam"] + (["subject"] if "subject" in g.columns else [])
    b = g[cols].copy()
    if "subject" in b.columns:
        b = b[b["subject"].notna()] if b["subject"].notna().all() else b.drop(columns="subject")
    return sightings_from_boxes(b, fps=1.0, frame_size=(int(W), int(H)), grid=(4, 3), unit_col="track",
                                frame_col="frame", camera_col="cam")
