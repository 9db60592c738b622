"""Video releases: clips -> people -> tracks -> per-track cues -> scored attacks (issue 4, 5).

:func:`audit_videos` turns the clips of a release and of a gallery into
:class:`~auditkit.result.AttackResult` objects (not yet risk-assessed), a JSON-ready ``video``
section for results.json, and the trajectory audit of the release tracks.

Video manifest convention
-------------------------
``manifest.csv`` rows whose ``path`` is a clip (``.mp4 .avi .mov .mkv``) come in two kinds:

- **box rows**: ``path=clip, frame=<0-based decode index>, x, y, w, h`` (pixels of the
  original frame), optional ``track`` (a label, unique within the clip), ``subject`` (ground
  truth), ``camera``, ``timestamp`` (ISO 8601 wall-clock time *of that frame*). When a clip has
  box rows they are the people (no detector runs); with ``track`` labels they are the tracks,
  without, the boxes are linked by the tracker. A track's ground truth is the majority
  ``subject`` over its boxes.
- **clip rows** (no ``frame``, no box): ``subject`` (everyone tracked in the clip is this
  person: a single-person clip), ``camera``, ``timestamp`` (ISO 8601 time of the clip's first
  frame). When a clip also has box rows but detection is forced (``boxes="detect"``), detected
  tracks take the majority subject of the manifest boxes they overlap (IoU >= 0.5).

The camera is the manifest's ``camera`` (majority over the clip's rows), else the clip's
folder name, else its file stem. Times are the manifest's timestamps when given, else seconds
from the clip's first frame (then trajectories of different clips are not aligned in time, and
the notes say so).

Gallery rule
------------
``gallery/<identity>/`` may hold **clips** and **images**. In a clip, people are detected
(background subtraction by default) and tracked; the **longest track is the identity** and the
other tracks are ignored (counted in the notes). It gives appearance samples (chunk means of
crop descriptors) and, when long and dense enough, gait samples (GEIs of ``gait_frames``-frame
chunks). An **image** taller than wide by 1.5x or more is a full-body person crop and gives an
appearance sample; other images are face photos, used only by the face cue (the face gallery the
caller extracted).

The attacker compares like with like: the release's person-wide de-identification (declared,
or estimated on release person boxes with :mod:`auditkit.obfuscation.estimate`, the default
``gallery_obfuscation="auto"``) is re-applied to every gallery person crop before the appearance
descriptor. On PETS 2009 with whole bodies blurred this took appearance rank-1 from 14% to 48%.

Attacks
-------
``appearance`` (LOMO+LAB descriptors, XQDA learned on the gallery), ``gait`` (GEI, PCA+LDA
learned on the gallery), ``face.video`` (faces leaked in release tracks vs the face gallery),
``fused`` (per-cue row z-scores, each multiplied by a weight learned by logistic regression on
*gallery* cross-validation scores only, summed over the cues a track has), plus the trajectory
singling-out attacks of :func:`auditkit.tables.trajectories.trajectory_audit`.
"""
from __future__ import annotations

import json
import math
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
import pandas as pd

from ..attacks.base import FeatureSet, attack_result, identity_scores
from ..data.inputs import Gallery, Release, ReleaseItem
from ..data.media import MediaError, load_image
from ..data.video import iter_frames
from ..features.appearance import CANONICAL_SIZE, DESCRIPTOR_VERSION, AppearanceMetric, appearance_descriptor
from ..features.cache import FeatureCache, cache_key
from ..features.faces import FaceParams
from ..features.gait import GEI_SIZE, GaitModel, gait_energy_image
from ..features.leaks import FaceLeakScanner, Leak, attribute_leaks
from ..features.people import (
    BackgroundSubtractionDetector,
    Detections,
    HogPeopleDetector,
    box_iou_matrix,
)
from ..features.tracking import Track, Tracker
from ..result import AttackResult, Skipped, to_jsonable
from ..scoring.scores import ScoreMatrix

__all__ = ["VIDEO_FEATURE_VERSION", "ClipFeatures", "TrackFeatures", "VideoAudit", "audit_videos",
           "process_clip"]

#: bumped whenever the per-clip features change (cache key).
VIDEO_FEATURE_VERSION = "2"
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


@dataclass
class TrackFeatures:
    """One person track of one clip and its cue features (computed once per track)."""

    clip: str
    label: str  # manifest track label or tracker id, as text
    frames: np.ndarray
    boxes: np.ndarray
    times: np.ndarray  # seconds from the clip's first frame
    appearance: np.ndarray  # (k, d) chunk means of crop descriptors (k may be 0)
    gait: np.ndarray  # (m, H, W) chunk GEIs (m may be 0)
    faces: np.ndarray  # (f, 128) encodings of leaked faces
    subject: str | None = None
    n_crops: int = 0

    @property
    def probe_id(self) -> str:
        return f"{self.clip}#track{self.label}"


@dataclass
class ClipFeatures:
    """Everything extracted from one clip (cached as a whole)."""

    report: dict
    tracks: list[TrackFeatures]
    leaks: list[dict]
    detection: str
    messages: list[str] = field(default_factory=list)
    obfuscation: list[dict] = field(default_factory=list)  # per sampled person region: method, strength, confidence


# ------------------------------------------------------------------------------ clip pass

def _clip_box(box_scaled: Any, shape: tuple) -> tuple[float, float, float, float] | None:
    """``box_scaled`` (x, y, w, h in processing pixels) clipped to an image of ``shape``; None when the
    box does not overlap the image (zero area, e.g. a box written for another resolution)."""
    H, W = shape[:2]
    x, y, w, h = (float(v) for v in box_scaled)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return None
    x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(W), x + w), min(float(H), y + h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _crop(img: np.ndarray, box_scaled: np.ndarray) -> tuple[slice, slice] | None:
    H, W = img.shape[:2]
    x, y, w, h = box_scaled
    x0, y0 = int(max(0, math.floor(x))), int(max(0, math.floor(y)))
    x1, y1 = int(min(W, math.ceil(x + w))), int(min(H, math.ceil(y + h)))
    if x1 - x0 < 4 or y1 - y0 < 8:
        return None
    return slice(y0, y1), slice(x0, x1)


def _obfuscate_crop(crop: np.ndarray, spec: Any, region: str, scale: float) -> np.ndarray:
    """Re-apply the release's de-identification to a gallery person crop (the attacker's best move):
    ``region`` "body" (the whole crop) or "head" (its top quarter); spatial strengths (blur sigma,
    box and pixel sizes, in original pixels) are multiplied by the frame's processing ``scale``."""
    from ..obfuscation.spec import ObfuscationSpec, apply_obfuscation

    strength = spec.strength * scale if spec.method in ("blur", "box", "pixelate") else spec.strength
    sp = ObfuscationSpec(spec.method, strength)
    if region == "body":
        return apply_obfuscation(crop, sp)
    h, w = crop.shape[:2]
    return apply_obfuscation(crop, sp, (0, 0, w, max(1, math.ceil(0.25 * h))))


class _PackedMask:
    """A boolean mask stored as bits (8x smaller while a clip is decoded)."""

    __slots__ = ("bits", "shape")

    def __init__(self, m: np.ndarray):
        self.shape = m.shape
        self.bits = np.packbits(m.astype(bool), axis=None)

    def unpack(self) -> np.ndarray:
        n = self.shape[0] * self.shape[1]
        return np.unpackbits(self.bits, count=n).astype(bool).reshape(self.shape)


def _runs(frames: np.ndarray, step: float) -> list[np.ndarray]:
    """Index ranges of ``frames`` without gaps larger than twice the sampling step."""
    if len(frames) == 0:
        return []
    cut = np.flatnonzero(np.diff(frames) > 2 * step) + 1
    return np.split(np.arange(len(frames)), cut)


def _track_features(frames: np.ndarray, crops: list, masks: list, times: np.ndarray, *, max_crops: int,
                    n_chunks: int, gait_frames: int, min_gait_fps: float, step: float
                    ) -> tuple[np.ndarray, np.ndarray, int, str | None]:
    """Appearance chunk means and gait chunk GEIs of one track (crops/masks aligned with frames)."""
    ok = [i for i, c in enumerate(crops) if c is not None]
    d = None
    chunks = []
    if ok:
        pick = np.unique(np.linspace(0, len(ok) - 1, min(max_crops, len(ok))).round().astype(int))
        sel = [ok[i] for i in pick]
        desc = np.stack([appearance_descriptor(crops[i]) for i in sel])
        for part in np.array_split(np.arange(len(sel)), min(n_chunks, len(sel))):
            chunks.append(desc[part].mean(axis=0))
        d = len(sel)
    app = np.stack(chunks).astype(np.float32) if chunks else np.zeros((0, 0), np.float32)
    geis = []
    why = None
    if len(times) > 1:
        rate = 1.0 / float(np.median(np.diff(times))) if np.median(np.diff(times)) > 0 else 0.0
    else:
        rate = 0.0
    if rate < min_gait_fps * 0.99:  # timestamps carry rounding: 5 frames/s may measure 4.99
        why = f"sampled at {rate:.1f} frames/s, below the {min_gait_fps:g} frames/s gait needs"
    else:
        for run in _runs(frames, step):
            for s in range(0, len(run) - gait_frames + 1, gait_frames):
                idx = run[s:s + gait_frames]
                seq = [m for m in (masks[i].unpack() if masks[i] is not None else None for i in idx)
                       if m is not None and m.any()]
                if len(seq) < 0.7 * gait_frames:
                    continue
                try:
                    geis.append(gait_energy_image(seq))
                except ValueError:
                    continue
        if not geis:
            why = f"no run of {gait_frames} consecutive frames with a silhouette"
    gait = np.stack(geis).astype(np.float32) if geis else np.zeros((0, *GEI_SIZE), np.float32)
    return app, gait, d or 0, why


def _frame_index(value: Any) -> int:
    """A manifest ``frame`` value as a 0-based frame index; ValueError (with a readable reason) when it is
    not a finite, non-negative integer ("x", "inf", "nan", "-3", "1.5")."""
    try:
        v = float(value)
        fi = int(v)
    except (ValueError, OverflowError, TypeError):
        raise ValueError(f"frame {value!r} is not an integer") from None
    if fi != v:
        raise ValueError(f"frame {value!r} is not an integer")
    if fi < 0:
        raise ValueError(f"frame {value!r} is negative")
    return fi


def _manifest_boxes(rows: list[ReleaseItem]) -> tuple[dict[int, list[tuple[np.ndarray, str | None, str | None]]],
                                                       list[str]]:
    per: dict[int, list] = {}
    notes = []
    for it in rows:
        f = (it.meta or {}).get("frame", "")
        if it.box is None:
            continue
        if f in ("", None):
            notes.append(f"manifest.csv line {it.row} ({it.file.rel}): a box without a frame index on a clip; "
                         "ignored (give the 0-based frame in a 'frame' column)")
            continue
        try:
            fi = _frame_index(f)
        except ValueError as e:
            notes.append(f"manifest.csv line {it.row} ({it.file.rel}): {e}; row ignored")
            continue
        per.setdefault(fi, []).append((np.asarray(it.box, float), it.track, it.subject))
    return per, notes


def process_clip(path: str | Path, *, sha256: str, cache: FeatureCache, fps: float | None = None,
                 max_side: int | None = 640, boxes: dict[int, list] | None = None, detector: str = "mog2",
                 leak_mode: str = "frame", leak_upsample: int = 1, face_params: FaceParams | None = None,
                 max_crops: int = 16, n_chunks: int = 4, gait_frames: int = 20, min_gait_fps: float = 5.0,
                 min_track_frames: int = 3, max_crop_frames: int = 1500, obfuscation: str | None = None,
                 obfuscation_region: str = "body", estimate_regions: int = 0,
                 face_models: Any = None) -> ClipFeatures:
    """Decode one clip and compute its tracks' features, or load them from ``cache``.

    Parameters
    ----------
    path, sha256 : the clip and its content hash (cache key).
    fps, max_side : frame sampling rate (None: every frame) and detection size (see
        :func:`auditkit.data.video.iter_frames`).
    boxes : manifest boxes per frame: ``{frame: [(xywh, track label or None, subject or None)]}``;
        None or empty: people are detected with ``detector`` ("mog2" or "hog").
    leak_mode, leak_upsample : face-leak scan options (:class:`~auditkit.features.leaks.FaceLeakScanner`);
        ``leak_mode="off"`` skips the scan.
    face_params : encoder options for the faces found by the leak scan.
    max_crops, n_chunks : crops per track described (evenly spread), and how many chunk means
        of their descriptors are kept.
    gait_frames, min_gait_fps : frames per gait chunk (one GEI each) and the lowest sampling
        rate at which gait is attempted.
    min_track_frames : tracks with fewer boxes are dropped (counted in the messages).
    max_crop_frames : person crops are kept from at most about this many sampled frames, evenly
        spread (every frame of a clip up to that length), so a long clip's memory stays bounded
        (about 18 KB per person and frame kept); silhouettes are kept for every frame, as bits.
    obfuscation, obfuscation_region : a de-identification (e.g. ``"blur:sigma=6"``, see
        :func:`auditkit.obfuscation.spec.parse_spec`) applied to every person crop before its
        descriptor, on the "body" or the "head" (top quarter); for gallery clips, so that the
        attacker compares like with like.
    estimate_regions : estimate the de-identification applied to about this many person boxes
        (spread over the clip; :func:`auditkit.obfuscation.estimate.estimate_obfuscation` on the
        whole box), 0 for none. Strengths are returned in original pixels.
    face_models : a :class:`_LazyFaceModels` (or anything with ``get()`` returning
        :class:`~auditkit.features.faces.FaceModels`) shared by the clips of one audit, so the face
        models are loaded once, and only when a leak needs encoding; None: loaded here when needed.

    Manifest boxes that do not overlap the frame (e.g. written for another resolution) are ignored
    and counted in the messages.

    Raises
    ------
    MediaError
        When the clip cannot be opened or yields no frame (the caller lists it as skipped).
    """
    if detector not in ("mog2", "hog"):
        raise ValueError(f"detector must be 'mog2' or 'hog', got {detector!r}")
    if leak_mode not in ("frame", "person", "both", "off"):
        raise ValueError(f"leak_mode must be one of frame, person, both, off; got {leak_mode!r}")
    fp = face_params or FaceParams()
    if obfuscation_region not in ("body", "head"):
        raise ValueError(f"obfuscation_region must be 'body' or 'head', got {obfuscation_region!r}")
    obf = None
    if obfuscation is not None:
        from ..obfuscation.spec import parse_spec

        obf = parse_spec(obfuscation)
    use_manifest = bool(boxes)
    mrows = sorted((f, [(b.tolist(), t, s) for b, t, s in v]) for f, v in (boxes or {}).items())
    params = {"fps": fps, "max_side": max_side, "detector": "manifest" if use_manifest else detector,
              "manifest": json.dumps(mrows, default=str) if use_manifest else None, "leak_mode": leak_mode,
              "leak_upsample": leak_upsample, "face": fp.as_dict(), "max_crops": max_crops, "n_chunks": n_chunks,
              "gait_frames": gait_frames, "min_gait_fps": min_gait_fps, "min_track_frames": min_track_frames,
              "max_crop_frames": max_crop_frames, "appearance": DESCRIPTOR_VERSION,
              "obfuscation": obf.label if obf is not None else None,
              "obfuscation_region": obfuscation_region if obf is not None else None,
              "estimate_regions": estimate_regions}
    key = cache_key(sha256, "video_clip", VIDEO_FEATURE_VERSION, params)
    hit = cache.get(key)
    if hit is not None:
        return _from_arrays(hit)

    it = iter_frames(path, fps=fps, max_side=max_side)
    expected = it.report.frames_expected
    if expected and fps and it.report.fps_container:
        expected = int(expected * min(1.0, fps / it.report.fps_container))
    # person crops of at most ~max_crop_frames sampled frames are held in memory (evenly spread)
    crop_every = max(1, math.ceil(expected / max_crop_frames)) if expected else 1
    est_every = max(1, (expected or 60) // max(1, estimate_regions // 2)) if estimate_regions else 0
    estimates: list[dict] = []
    mog = BackgroundSubtractionDetector(min_height=20.0, warmup=10)
    hog = HogPeopleDetector() if (not use_manifest and detector == "hog") else None
    scanner = FaceLeakScanner(mode=leak_mode, upsample=leak_upsample) if leak_mode != "off" else None
    tracker = None if use_manifest else Tracker()
    store: dict[int, list[tuple[np.ndarray, Any, Any, Any, Any]]] = {}  # frame -> [(box, label, subj, crop, mask)]
    times: dict[int, float] = {}
    raw_leaks: list[Leak] = []
    leak_faces: dict[tuple[int, int], np.ndarray] = {}  # (frame, k) -> encoding
    models = None
    outside = 0
    indices: list[int] = []
    for fr in it:
        indices.append(fr.index)
        times[fr.index] = fr.timestamp_s
        det_mog = mog.detect(fr.image, scale=fr.scale)
        mask = mog.last_mask if mog.frames_seen > mog.warmup else None
        if use_manifest:
            items = []
            for b, t, s in boxes.get(fr.index, []):
                if _clip_box(np.asarray(b, float) * fr.scale, fr.image.shape) is None:
                    outside += 1
                    continue
                items.append((b, t, s))
        else:
            d = det_mog if hog is None else hog.detect(fr.image, scale=fr.scale)
            items = [(b, None, None) for b in d.boxes]
            tracker.update(fr.index, fr.timestamp_s, d)
        entry = []
        keep_crop = (len(indices) - 1) % crop_every == 0
        for b, t, s in items:
            sl = _crop(fr.image, np.asarray(b) * fr.scale)
            # crops kept at the descriptor's own size (identical descriptor, bounded memory), masks as bits
            crop = None
            if sl and keep_crop:
                crop = fr.image[sl]
                if obf is not None:
                    crop = _obfuscate_crop(crop, obf, obfuscation_region, fr.scale)
                crop = cv2.resize(crop, (CANONICAL_SIZE[1], CANONICAL_SIZE[0]), interpolation=cv2.INTER_AREA)
            m = _PackedMask(mask[sl]) if (sl and mask is not None) else None
            entry.append((np.asarray(b, float), t, s, crop, m))
        store[fr.index] = entry
        if est_every and (len(indices) - 1) % est_every == est_every // 2 and len(estimates) < estimate_regions:
            from ..obfuscation.estimate import estimate_obfuscation

            for e in entry[:2]:
                b = _clip_box(e[0] * fr.scale, fr.image.shape)
                if b is None or b[3] < 24 or b[2] < 8:
                    continue
                est = estimate_obfuscation(fr.image, b)
                strength = None if est.strength is None else float(est.strength) / fr.scale
                estimates.append({"frame": fr.index, "method": est.method, "strength": strength,
                                  "confidence": float(est.confidence)})
        if scanner is not None:
            persons = [(0, e[0]) for e in entry]
            found = scanner.scan_frame(fr, persons)
            if found:
                if models is None:
                    models = (face_models or _LazyFaceModels(fp)).get()
                bx = [tuple(round(v * fr.scale) for v in lk.box) for lk in found]
                enc = models.encode(fr.image, bx)
                for k, lk in enumerate(found):
                    leak_faces[(fr.index, len(raw_leaks) + k)] = enc[k]
                raw_leaks.extend(found)
    report = it.report.to_dict()
    step = float(np.median(np.diff(indices))) if len(indices) > 1 else 1.0
    messages = list(report.get("messages", []))
    if outside:
        messages.append(f"{outside} manifest box(es) outside the frame ignored (written for another resolution?)")

    # tracks: (label, frames, boxes, times, subjects, crops, masks)
    groups: list[tuple[str, list[int], list[np.ndarray], list[Any], list[Any], list[Any]]] = []
    if use_manifest:
        by_label: dict[str, list] = {}
        unlabelled = []
        for f in sorted(store):
            for j, (b, t, s, c, m) in enumerate(store[f]):
                if t is None:
                    unlabelled.append((f, j))
                else:
                    by_label.setdefault(str(t), []).append((f, b, s, c, m))
        if unlabelled:  # boxes without track labels: link them with the tracker
            tr = Tracker()
            dets: dict[int, list[int]] = {}
            for f, j in unlabelled:
                dets.setdefault(f, []).append(j)
            for f in sorted(store):
                js = dets.get(f, [])
                tr.update(f, times[f], Detections(np.asarray([store[f][j][0] for j in js]).reshape(-1, 4),
                                                  np.ones(len(js))))
            for trk in tr.finish():
                rows = []
                for f, b in zip(trk.frames, trk.boxes):
                    j = next(j for j in dets[int(f)] if np.allclose(store[int(f)][j][0], b))
                    _, _, s, c, m = store[int(f)][j]
                    rows.append((int(f), b, s, c, m))
                by_label[f"auto{trk.track_id}"] = rows
        for lab in sorted(by_label, key=_natural):
            r = by_label[lab]
            groups.append((lab, [x[0] for x in r], [x[1] for x in r], [x[2] for x in r], [x[3] for x in r],
                           [x[4] for x in r]))
    else:
        for trk in tracker.finish():
            fr_, bx, ss, cs, ms = [], [], [], [], []
            for f, b in zip(trk.frames, trk.boxes):
                e = next((e for e in store[int(f)] if np.allclose(e[0], b)), None)
                fr_.append(int(f))
                bx.append(b)
                ss.append(None)
                cs.append(e[3] if e else None)
                ms.append(e[4] if e else None)
            groups.append((str(trk.track_id), fr_, bx, ss, cs, ms))

    tracks: list[TrackFeatures] = []
    short = 0
    gait_why: Counter = Counter()
    for lab, frs, bxs, subs, crops, masks in groups:
        if len(frs) < min_track_frames:
            short += 1
            continue
        frames = np.asarray(frs, int)
        ts = np.asarray([times[f] for f in frs], float)
        app, gait, n_crops, why = _track_features(frames, crops, masks, ts, max_crops=max_crops, n_chunks=n_chunks,
                                                  gait_frames=gait_frames, min_gait_fps=min_gait_fps, step=step)
        if why:
            gait_why[why] += 1
        known = [s for s in subs if s is not None]
        subj = Counter(known).most_common(1)[0][0] if known else None
        tracks.append(TrackFeatures(clip="", label=lab, frames=frames, boxes=np.asarray(bxs, float).reshape(-1, 4),
                                    times=ts, appearance=app, gait=gait, faces=np.zeros((0, 128)), subject=subj,
                                    n_crops=n_crops))
    if short:
        messages.append(f"{short} track(s) shorter than {min_track_frames} boxes dropped")
    for why, n in gait_why.items():
        messages.append(f"gait: {n} track(s) without a gait sample ({why})")

    # leaks -> tracks (a track's box in the same frame holds at least half the face box)
    tobj = [Track(i + 1, t.frames, t.boxes, t.times, np.ones(len(t.frames))) for i, t in enumerate(tracks)]
    leaks = attribute_leaks(raw_leaks, tobj)
    faces_of: dict[int, list[np.ndarray]] = {}
    leak_dicts = []
    for k, lk in enumerate(leaks):
        enc = leak_faces.get((lk.frame, k))
        label = tracks[lk.track_id - 1].label if lk.track_id is not None else None
        if lk.track_id is not None and enc is not None:
            faces_of.setdefault(lk.track_id - 1, []).append(enc)
        leak_dicts.append({"frame": lk.frame, "time_s": lk.timestamp_s, "box": list(lk.box),
                           "confidence": lk.confidence, "track": label, "source": lk.source})
    for i, encs in faces_of.items():
        tracks[i].faces = np.stack(encs)
    out = ClipFeatures(report=report, tracks=tracks, leaks=leak_dicts,
                       detection="manifest" if use_manifest else detector, messages=messages, obfuscation=estimates)
    cache.put(key, _to_arrays(out))
    return out


class _LazyFaceModels:
    """Face models loaded on the first ``get()`` (once per audit, and only when a leak needs encoding)."""

    def __init__(self, params: FaceParams):
        self.params = params
        self._models = None
        self.loads = 0

    def get(self):
        if self._models is None:
            from ..features.faces import FaceModels

            self._models = FaceModels(self.params)
            self.loads += 1
        return self._models


def _natural(s: str) -> tuple:
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def _to_arrays(c: ClipFeatures) -> dict[str, np.ndarray]:
    meta = {"report": to_jsonable(c.report), "leaks": to_jsonable(c.leaks), "detection": c.detection,
            "messages": c.messages, "obfuscation": to_jsonable(c.obfuscation),
            "tracks": [{"label": t.label, "subject": t.subject, "n_crops": t.n_crops} for t in c.tracks]}
    out = {"meta": np.array(json.dumps(meta))}
    for i, t in enumerate(c.tracks):
        out[f"f{i}"], out[f"b{i}"], out[f"t{i}"] = t.frames, t.boxes, t.times
        out[f"a{i}"], out[f"g{i}"], out[f"e{i}"] = t.appearance, t.gait, t.faces
    return out


def _from_arrays(a: dict[str, np.ndarray]) -> ClipFeatures:
    meta = json.loads(str(a["meta"]))
    tracks = []
    for i, tm in enumerate(meta["tracks"]):
        tracks.append(TrackFeatures(clip="", label=tm["label"], frames=a[f"f{i}"], boxes=a[f"b{i}"].reshape(-1, 4),
                                    times=a[f"t{i}"], appearance=a[f"a{i}"], gait=a[f"g{i}"], faces=a[f"e{i}"],
                                    subject=tm["subject"], n_crops=tm["n_crops"]))
    return ClipFeatures(meta["report"], tracks, meta["leaks"], meta["detection"], meta["messages"],
                        meta.get("obfuscation", []))


# ------------------------------------------------------------------------------ gallery

@dataclass
class _GallerySamples:
    app_X: list[np.ndarray] = field(default_factory=list)
    app_y: list[str] = field(default_factory=list)
    app_g: list[str] = field(default_factory=list)  # source item (CV groups)
    gait_X: list[np.ndarray] = field(default_factory=list)
    gait_y: list[str] = field(default_factory=list)
    gait_g: list[str] = field(default_factory=list)
    clips: list[dict] = field(default_factory=list)
    images_used: int = 0
    images_face_only: int = 0


def _gallery_samples(gallery: Gallery, *, cache: FeatureCache, clip_opts: dict, skipped: list[Skipped],
                     notes: list[str], progress: bool) -> _GallerySamples:
    gs = _GallerySamples()
    ignored_tracks = 0
    for it in gallery.items:
        rel = f"gallery/{it.file.rel}"
        if it.file.kind == "image":
            try:
                img = load_image(it.file.path)
            except MediaError as e:
                skipped.append(Skipped(rel, str(e), "video"))
                continue
            h, w = img.shape[:2]
            if h < 1.5 * w:
                gs.images_face_only += 1
                continue
            obf = clip_opts.get("obfuscation")
            region = clip_opts.get("obfuscation_region", "body")
            key = cache_key(it.file.sha256, "appearance_image", DESCRIPTOR_VERSION,
                            {"obfuscation": obf, "region": region if obf else None})
            hit = cache.get(key)
            if hit is None:
                if obf:
                    from ..obfuscation.spec import parse_spec

                    img = _obfuscate_crop(img, parse_spec(obf), region, 1.0)
                hit = {"d": appearance_descriptor(img).astype(np.float32)}
                cache.put(key, hit)
            gs.app_X.append(hit["d"])
            gs.app_y.append(it.identity)
            gs.app_g.append(rel)
            gs.images_used += 1
            continue
        t0 = time.monotonic()
        try:
            cf = process_clip(it.file.path, sha256=it.file.sha256, cache=cache, boxes=None, leak_mode="off",
                              **clip_opts)
        except MediaError as e:
            skipped.append(Skipped(rel, str(e), "video"))
            continue
        except Exception as e:  # noqa: BLE001 (one bad clip never aborts the audit)
            skipped.append(Skipped(rel, f"clip processing failed ({type(e).__name__}: {e})", "video"))
            continue
        if progress:
            print(f"  gallery clip {rel}: {len(cf.tracks)} track(s) in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        if not cf.tracks:
            skipped.append(Skipped(rel, "no person track found in the gallery clip", "video"))
            continue
        best = max(cf.tracks, key=lambda t: (len(t.frames), -_natural(t.label)[1]))
        ignored_tracks += len(cf.tracks) - 1
        for k, a in enumerate(best.appearance):
            gs.app_X.append(a)
            gs.app_y.append(it.identity)
            gs.app_g.append(rel)
        for g in best.gait:
            gs.gait_X.append(g)
            gs.gait_y.append(it.identity)
            gs.gait_g.append(rel)
        gs.clips.append({"path": rel, "identity": it.identity, "frames_decoded": cf.report.get("frames_decoded"),
                         "tracks": len(cf.tracks), "track_frames": len(best.frames),
                         "appearance_samples": len(best.appearance), "gait_samples": len(best.gait),
                         "messages": cf.messages})
    if ignored_tracks:
        notes.append(f"video: gallery clips held {ignored_tracks} track(s) besides each clip's longest one; "
                     "only the longest track is taken as the identity")
    return gs


# ------------------------------------------------------------------------------ scoring

def _per_identity_max(sim: np.ndarray, labels: list[str], identities: list[str]) -> np.ndarray:
    lab = np.asarray(labels)
    out = np.full((sim.shape[0], len(identities)), -np.inf)
    for j, ident in enumerate(identities):
        cols = lab == ident
        if cols.any():
            out[:, j] = sim[:, cols].max(axis=1)
    return out


def _finite(scores: np.ndarray) -> np.ndarray:
    """Replace -inf (identity without samples for this cue) by a value below every real score."""
    s = scores.copy()
    bad = ~np.isfinite(s)
    if bad.any():
        lo = np.nanmin(np.where(bad, np.nan, s)) if (~bad).any() else 0.0
        s[bad] = lo - 1.0
    return s


def _zrows(scores: np.ndarray) -> np.ndarray:
    """Per-probe z-scores over the identities that have a score (others get 0: no evidence)."""
    z = np.zeros_like(scores, dtype=float)
    for i, row in enumerate(scores):
        ok = np.isfinite(row)
        if ok.sum() < 2:
            continue
        v = row[ok]
        sd = v.std()
        z[i, ok] = (v - v.mean()) / sd if sd > 0 else 0.0
    return z


def _groups_folds(groups: list[str], k: int) -> list[np.ndarray]:
    g = np.asarray(groups)
    uniq = sorted(set(groups))
    fold_of = {u: i % k for i, u in enumerate(uniq)}
    f = np.array([fold_of[x] for x in g])
    return [np.flatnonzero(f == i) for i in range(k)]


def _cv_scores(X: np.ndarray, y: list[str], groups: list[str], fit_score, *, k: int = 3
               ) -> tuple[np.ndarray, np.ndarray, str]:
    """Gallery-only cross-validation: held-out gallery files scored against the rest; returns
    row-z scores of (genuine, impostor) pairs and the grouping used. When no identity has two
    files, samples are held out one fold at a time instead (chunks of one clip are correlated,
    so that estimate is optimistic, and the grouping says so)."""
    gen, imp = _cv_pairs(X, y, groups, fit_score, k=k)
    if len(gen) >= 2:
        return gen, imp, "by gallery file"
    gen, imp = _cv_pairs(X, y, [f"{g}:{i:06d}" for i, g in enumerate(groups)], fit_score, k=k)
    return gen, imp, "by sample (no identity has two gallery files: optimistic)"


def _cv_pairs(X: np.ndarray, y: list[str], groups: list[str], fit_score, *, k: int = 3
              ) -> tuple[np.ndarray, np.ndarray]:
    y_a = np.asarray(y)
    gen, imp = [], []
    for test in _groups_folds(groups, k):
        train = np.setdiff1d(np.arange(len(y_a)), test)
        ids = sorted(set(y_a[train]))
        if len(ids) < 2 or len(test) == 0:
            continue
        try:
            with warnings.catch_warnings():  # folds with one sample per class are expected here
                warnings.simplefilter("ignore", UserWarning)
                s = fit_score(X[train], list(y_a[train]), X[test], ids)
        except (ValueError, np.linalg.LinAlgError):
            continue
        z = _zrows(s)
        for i, t in enumerate(test):
            if y_a[t] not in ids:
                continue
            j = ids.index(y_a[t])
            gen.append(z[i, j])
            imp.extend(np.delete(z[i], j).tolist())
    return np.asarray(gen), np.asarray(imp)


def _logistic_weight(gen: np.ndarray, imp: np.ndarray) -> float | None:
    """Slope of a class-balanced logistic regression of genuine vs impostor on the z-score
    (the cue's log-likelihood-ratio scale); None without both kinds of pairs."""
    if len(gen) < 2 or len(imp) < 2:
        return None
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([gen, imp])[:, None]
    t = np.concatenate([np.ones(len(gen)), np.zeros(len(imp))])
    lr = LogisticRegression(class_weight="balanced", C=1.0).fit(x, t)
    return float(max(lr.coef_[0, 0], 0.0))


def _app_fit_score(Xtr, ytr, Xte, ids):
    m = AppearanceMetric().fit(Xtr, ytr)
    return _per_identity_max(m.similarity(Xte, Xtr), ytr, ids)


def _gait_fit_score(Xtr, ytr, Xte, ids):
    m = GaitModel().fit(Xtr, ytr)
    s = m.similarity(Xte)
    return s[:, [m.classes_.index(i) for i in ids]]


def _face_fit_score(Xtr, ytr, Xte, ids):
    s, idents = identity_scores(Xte, Xtr, ytr)
    return s[:, [idents.index(i) for i in ids]]


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
                 cache: FeatureCache, fps: float | None = None, max_side: int | None = 640, seed: int = 0,
                 progress: bool = False, skipped: list[Skipped], notes: list[str], detector: str = "mog2",
                 boxes: str = "manifest", leak_mode: str = "frame", leak_upsample: int = 1, gait_frames: int = 20,
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


def _obfuscation_choice(spec: str | None, region: str, estimates: list[dict], auto: bool) -> dict:
    """Which de-identification the attacker re-applies to gallery crops, and why."""
    methods = Counter(e["method"] for e in estimates if e["confidence"] >= 0.5)
    out = {"requested": "auto" if auto else spec, "applied": None, "region": region, "source": None,
           "regions": len(estimates), "confident_methods": dict(methods), "strength_median": None}
    if not auto:
        if spec is not None:
            out.update(applied=spec, source="declared")
        return out
    out["region"] = "body"
    if not methods:
        return out
    method, k = methods.most_common(1)[0]
    if method not in ("blur", "box", "pixelate") or k < 0.5 * sum(methods.values()):
        return out
    vals = [e["strength"] for e in estimates if e["method"] == method and e["confidence"] >= 0.5
            and e["strength"] is not None]
    if not vals:
        return out
    from ..obfuscation.spec import ObfuscationSpec

    med = float(np.median(vals))
    out.update(applied=ObfuscationSpec(method, round(med, 2)).label, strength_median=med,
               source=f"estimated on {k} of {len(estimates)} release person boxes")
    return out


def _sightings(g: pd.DataFrame, W: float, H: float) -> pd.DataFrame:
    from ..tables.trajectories import sightings_from_boxes

    cols = ["track", "frame", "x", "y", "w", "h", "cam"] + (["subject"] if "subject" in g.columns else [])
    b = g[cols].copy()
    if "subject" in b.columns:
        b = b[b["subject"].notna()] if b["subject"].notna().all() else b.drop(columns="subject")
    return sightings_from_boxes(b, fps=1.0, frame_size=(int(W), int(H)), grid=(4, 3), unit_col="track",
                                frame_col="frame", camera_col="cam")
