"""``audit_videos``: the clips of a release and a gallery -> scored video attacks (appearance, gait,
face.video, fused), the ``video`` section of results.json and the trajectories of the release
tracks. The conventions (manifest, gallery rule, attacks) are in :mod:`auditkit.video`."""
from __future__ import annotations

import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from ..attacks.base import FeatureSet, attack_result, identity_scores
from ..config import VideoConfig
from ..data.inputs import Gallery, Release, ReleaseItem
from ..data.media import MediaError
from ..features.appearance import DESCRIPTOR_VERSION, AppearanceMetric
from ..features.cache import FeatureCache
from ..features.faces import FaceParams
from ..features.gait import GEI_SIZE, GaitModel
from ..features.people import (
    box_iou_matrix,
)
from ..result import AttackResult, Skipped, to_jsonable
from ..scoring.scores import ScoreMatrix
from .clips import (
    VIDEO_FEATURE_VERSION,
    ClipFeatures,
    TrackFeatures,
    _frame_index,
    _LazyFaceModels,
    _manifest_boxes,
    process_clip,
)
from .fusion import (
    _app_fit_score,
    _cv_scores,
    _face_fit_score,
    _finite,
    _gait_fit_score,
    _logistic_weight,
    _per_identity_max,
    _zrows,
)
from .gallery import _gallery_samples, _obfuscation_choice

__all__ = ["VIDEO_FEATURE_VERSION", "ClipFeatures", "TrackFeatures", "VideoAudit", "audit_videos",
           "process_clip"]


_CUES = ("appearance", "gait", "face")


_ATTACK_OF = {"appearance": "appearance", "gait": "gait", "face": "face.video"}



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
                 leak_mode: str = VideoConfig.leak_scan, leak_upsample: int = 1, gait_frames: int = 20,
                 min_gait_fps: float = 5.0, trajectory_time_bin: str = "5s", gallery_obfuscation: str | None = "auto",
                 obfuscation_region: str = "body") -> VideoAudit | None:
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
    gait_frames, min_gait_fps : frames per gait sample; lowest sampling rate for gait.
    trajectory_time_bin : time resolution of the trajectory points.
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

    Long: the video pipeline's whole sequence (clips, gallery samples, four cue attacks, fusion, trajectories, report section); still to split into stages (issue 11 note).
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
    for rel, rows in sorted(rel_clips.items()):
        f = rows[0].file
        per, mnotes = _manifest_boxes(rows)
        vnotes.extend(mnotes)
        clip_subjects = {it.subject for it in rows if it.box is None and it.subject}
        use = per if (per and boxes == "manifest") else None
        t0 = time.monotonic()
        try:
            cf = process_clip(f.path, sha256=f.sha256, cache=cache, boxes=use, leak_mode=leak_mode,
                              leak_upsample=leak_upsample, estimate_regions=12 if auto else 0,
                              face_models=face_models, **clip_opts)
        except MediaError as e:
            skipped.append(Skipped(rel, str(e), "video"))
            continue
        except Exception as e:  # noqa: BLE001 (one bad clip never aborts the audit)
            skipped.append(Skipped(rel, f"clip processing failed ({type(e).__name__}: {e})", "video"))
            continue
        camera = _camera_of(rel, rows)
        region_estimates.extend(cf.obfuscation)
        for t in cf.tracks:
            t.clip = rel
        # ground truth for detected tracks: manifest boxes by IoU, else a single clip-level subject
        if use is None:
            for t in cf.tracks:
                votes = []
                for fr, b in zip(t.frames, t.boxes):
                    cand = per.get(int(fr), [])
                    if cand:
                        iou = box_iou_matrix(b[None], np.asarray([c[0] for c in cand]))[0]
                        j = int(np.argmax(iou))
                        if iou[j] >= 0.5 and cand[j][2]:
                            votes.append(cand[j][2])
                if votes:
                    t.subject = Counter(votes).most_common(1)[0][0]
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
                "messages": cf.messages, "seconds": round(time.monotonic() - t0, 2),
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

    # ---- what the attacker re-applies to the gallery
    obf_section = _obfuscation_choice(gallery_obfuscation, obfuscation_region, region_estimates, auto)
    applied, applied_region = obf_section["applied"], obf_section["region"]
    if auto and applied is None:
        vnotes.append("appearance: no blur, box blur or pixelation of whole person boxes was detected in the release "
                      f"({obf_section['regions']} person regions estimated), so gallery crops are compared as they are")
    gal_opts = dict(clip_opts, obfuscation=applied, obfuscation_region=applied_region)

    # ---- gallery
    gs = _gallery_samples(gallery, cache=cache, clip_opts=gal_opts, skipped=skipped, notes=vnotes,
                          progress=progress)
    face_ok = []
    if face_gallery is not None and len(face_gallery):
        face_ok = [i for i, inf in enumerate(face_gallery.info or [{}] * len(face_gallery))
                   if (inf or {}).get("source", "detector") == "detector" and face_gallery.labels[i] is not None]
    identities = sorted(set(gallery.identities))

    # ---- per-cue score matrices over all release tracks (rows without the cue stay -inf)
    n = len(tracks)
    probes = [t.probe_id for t in tracks]
    truth = [t.subject for t in tracks]
    cue_scores: dict[str, np.ndarray] = {}
    cue_rows: dict[str, np.ndarray] = {}
    cue_notes: dict[str, list[str]] = {c: [] for c in _CUES}
    weights: dict[str, float | None] = {}
    cv_info: dict[str, dict] = {}
    # appearance
    if len(set(gs.app_y)) >= 2 and any(c > 1 for c in Counter(gs.app_y).values()):
        Xg = np.stack(gs.app_X).astype(np.float64)
        rows = np.array([len(t.appearance) > 0 for t in tracks], bool)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            metric = AppearanceMetric().fit(Xg, gs.app_y)
        S = np.full((n, len(identities)), -np.inf)
        if rows.any():
            P = np.stack([t.appearance.astype(np.float64).mean(axis=0) for t in tracks if len(t.appearance)])
            S[rows] = _per_identity_max(metric.similarity(P, Xg), gs.app_y, identities)
        cue_scores["appearance"], cue_rows["appearance"] = S, rows
        gen, imp, how = _cv_scores(Xg, gs.app_y, gs.app_g, _app_fit_score)
        weights["appearance"] = _logistic_weight(gen, imp)
        cv_info["appearance"] = {"genuine": len(gen), "impostor": len(imp), "grouping": how}
        cue_notes["appearance"].append(
            f"Descriptor {DESCRIPTOR_VERSION} (LOMO HSV+SILTP max-occurrence, LAB stripes) per track: mean of the "
            f"chunk means of up to 16 crops; XQDA learned on {len(gs.app_X)} gallery samples of "
            f"{len(set(gs.app_y))} identities ({gs.images_used} person-crop images, "
            f"{len(gs.app_X) - gs.images_used} clip chunks); score = best gallery sample per identity.")
        if applied:
            cue_notes["appearance"].append(f"The attacker re-applied {applied} ({obf_section['source']}) to the "
                                           f"{applied_region} of every gallery person crop, as the release did.")
    else:
        cue_notes["appearance"].append("appearance: the gallery has no two identities with person crops or clip tracks "
                                       "(and one with two samples) to learn the metric; not run")
    # gait
    if len(set(gs.gait_y)) >= 2:
        G = np.stack(gs.gait_X).astype(np.float64)
        rows = np.array([len(t.gait) > 0 for t in tracks], bool)
        with warnings.catch_warnings():  # sklearn warns about identities with one gait sample
            warnings.simplefilter("ignore", UserWarning)
            model = GaitModel(random_state=seed).fit(G, gs.gait_y)
        S = np.full((n, len(identities)), -np.inf)
        cols = [model.classes_.index(i) if i in model.classes_ else -1 for i in identities]
        for i, t in enumerate(tracks):
            if len(t.gait):
                s = model.similarity(t.gait.astype(np.float64)).mean(axis=0)
                S[i] = [s[c] if c >= 0 else -np.inf for c in cols]
        cue_scores["gait"], cue_rows["gait"] = S, rows
        gen, imp, how = _cv_scores(G, gs.gait_y, gs.gait_g, _gait_fit_score)
        weights["gait"] = _logistic_weight(gen, imp)
        cv_info["gait"] = {"genuine": len(gen), "impostor": len(imp), "grouping": how}
        cue_notes["gait"].append(
            f"GEI {GEI_SIZE[0]}x{GEI_SIZE[1]} per chunk of {gait_frames} frames (MOG2 silhouettes inside the "
            f"track boxes); PCA+LDA learned on {len(G)} gallery GEIs of {len(set(gs.gait_y))} identities; "
            "a track's score is its chunks' mean cosine similarity to each identity's mean.")
    else:
        cue_notes["gait"].append(f"gait: fewer than two gallery identities have a gait sample (a clip track with "
                                 f"{gait_frames} consecutive frames at >= {min_gait_fps:g} frames/s); not run")
    # face
    rows = np.array([len(t.faces) > 0 for t in tracks], bool)
    if face_ok and len({face_gallery.labels[i] for i in face_ok}) >= 2 and rows.any():
        FX = face_gallery.X[face_ok]
        FY = [face_gallery.labels[i] for i in face_ok]
        S = np.full((n, len(identities)), -np.inf)
        for i, t in enumerate(tracks):
            if len(t.faces):
                s, idents = identity_scores(t.faces, FX, FY)
                best = s.max(axis=0)
                S[i] = [best[idents.index(x)] if x in idents else -np.inf for x in identities]
        cue_scores["face"], cue_rows["face"] = S, rows
        g = [f"{FY[k]}:{k}" for k in range(len(FY))]
        gen, imp, how = _cv_scores(FX, FY, g, _face_fit_score, k=min(3, len(FY)))
        weights["face"] = _logistic_weight(gen, imp)
        cv_info["face"] = {"genuine": len(gen), "impostor": len(imp), "grouping": how}
        cue_notes["face"].append(f"Faces leaked in {int(rows.sum())} release track(s), encoded and matched to "
                                 f"{len(FX)} detected gallery faces of {len(set(FY))} identities (best leak per "
                                 "identity).")
    elif not rows.any():
        cue_notes["face"].append("face.video: no face found in any release track; not run (see the leak list)")
    else:
        cue_notes["face"].append("face.video: the gallery has no detected face photos of two identities or more; "
                                 "not run")

    attacks: list[AttackResult] = []
    cue_attack: dict[str, AttackResult] = {}
    unknown = sum(t is None for t in truth)
    for cue, S in list(cue_scores.items()):
        r = cue_rows[cue]
        if not r.any():
            notes.append(f"{_ATTACK_OF[cue]}: no release track has a {cue} sample; not run")
            del cue_scores[cue]
            continue
        # columns: the identities the gallery holds samples of for this cue; a track whose person
        # has none is scored open-set (non-mated), not as a certain miss
        cols = np.flatnonzero(np.isfinite(S[r]).any(axis=0)) if r.any() else np.arange(len(identities))
        sm = ScoreMatrix(_finite(S[r][:, cols]), [p for p, k in zip(probes, r) if k],
                         [identities[j] for j in cols], [t for t, k in zip(truth, r) if k])
        nn = list(cue_notes[cue])
        if len(cols) < len(identities):
            nn.append(f"{len(identities) - len(cols)} of {len(identities)} gallery identities have no {cue} sample; "
                      f"the {len(cols)} that do are the candidates")
        if int(r.sum()) < n:
            nn.append(f"{n - int(r.sum())} of {n} release tracks have no {cue} sample and are not probes of this cue")
        attacks.append(attack_result(_ATTACK_OF[cue], cue, sm, notes=nn,
                                     details={"video": True, "gallery_cv": cv_info.get(cue)}))
        cue_attack[cue] = attacks[-1]
    for cue in _CUES:
        if cue not in cue_scores:
            notes.extend(cue_notes[cue])
    # fused
    used = [c for c in cue_scores]
    if not n:
        vnotes.append("video: no person track in any release clip, so no video attack could be scored")
    elif not used:
        vnotes.append("fused: no cue (appearance, gait, face) could be scored, so there is nothing to fuse")
    else:
        w = {c: weights.get(c) for c in used}
        missing = [c for c, v in w.items() if v is None]
        if missing:
            if len(missing) == len(w):
                vnotes.append("fused: the gallery gives no cross-validation pairs for any cue; the cues are summed "
                              "with equal weights (1)")
                w = {c: 1.0 for c in w}
            else:
                vnotes.append(f"fused: the gallery gives no cross-validation pairs for {', '.join(missing)}, so its "
                              "reliability cannot be learned; it gets weight 0 in the fusion")
                w = {c: (v if v is not None else 0.0) for c, v in w.items()}
        F = np.zeros((n, len(identities)))
        anyrow = np.zeros(n, bool)
        for c in used:
            z = _zrows(cue_scores[c])
            F += w[c] * z
            anyrow |= cue_rows[c]
        sm = ScoreMatrix(F[anyrow], [p for p, k in zip(probes, anyrow) if k], identities,
                         [t for t, k in zip(truth, anyrow) if k])
        # each cue as its own attack scored it (same probes, same candidate identities, open set)
        per_cue = {}
        for c in used:
            ca = cue_attack[c]
            per_cue[c] = {"attack": ca.name, "n_probes": ca.n_probes, "n_mated": ca.metrics.get("n_mated"),
                          "rank1": ca.metrics.get("rank1"), "rank1_ci": ca.metrics.get("rank1_ci"),
                          "chance_rank1": ca.metrics.get("chance_rank1")}
        fn = [f"Score-level fusion of {', '.join(used)}: each cue's scores z-normalised over the identities per "
              "track, weighted by the slope of a logistic regression of genuine vs impostor gallery pairs "
              "(gallery-only cross-validation: " + "; ".join(f"{c} {cv_info[c]['grouping']}" for c in used if c in cv_info)
              + "), summed over the cues a track has.",
              "Weights: " + ", ".join(f"{c} {w[c]:.3f}" for c in used) + "."]
        if len(used) == 1:
            fn.append(f"Only one cue ({used[0]}) is available: the fused ranking equals it.")
        attacks.append(attack_result("fused", "fused", sm, notes=fn,
                                     details={"video": True, "weights": w, "cues": used, "single_cues": per_cue}))
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
                       "leak_mode": leak_mode, "leak_upsample": leak_upsample, "gait_frames": gait_frames,
                       "min_gait_fps": min_gait_fps, "trajectory_time_bin": trajectory_time_bin, "seed": seed},
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
