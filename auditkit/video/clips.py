"""One clip -> people (manifest boxes or a detector) -> tracks -> per-track features, cached
(see :mod:`auditkit.video` for the manifest convention)."""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.boxes import clip_box
from ..data.video import iter_frames
from ..features.appearance import CANONICAL_SIZE, DESCRIPTOR_VERSION, appearance_descriptor
from ..features.appearance_tracking import AppearanceTracker, box_descriptors, tracker_for
from ..features.cache import FeatureCache, cache_key
from ..features.face_detectors import resolve_detector
from ..features.faces import FaceParams
from ..features.gait import GEI_SIZE, gait_energy_image
from ..features.leaks import FaceLeakScanner, Leak, attribute_leaks
from ..features.people import (
    BackgroundSubtractionDetector,
    Detections,
    HogPeopleDetector,
)
from ..features.tracking import Track
from ..result import to_jsonable
from .leak_memo import leak_scan_key, load_leak_scan, store_leak_scan
from .manifest_boxes import _frame_index, _manifest_boxes, majority_subject  # noqa: F401  (re-exported)

#: bumped whenever the per-clip features change (cache key).
VIDEO_FEATURE_VERSION = "4"  # 3: appearance-aware tracker; 4: its offline second pass, said per clip (issue 17)



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



def process_clip_or_skip(rel: str, path: str | Path, skipped: list, **kwargs: Any) -> ClipFeatures | None:
    """:func:`process_clip`, with a clip that cannot be read or processed listed in ``skipped``
    (as ``rel``, with the reason) and ``None`` returned: one bad clip never aborts an audit."""
    from ..data.media import MediaError
    from ..result import Skipped

    try:
        return process_clip(path, **kwargs)
    except MediaError as e:
        skipped.append(Skipped(rel, str(e), "video"))
    except Exception as e:  # noqa: BLE001 (one bad clip never aborts the audit)
        skipped.append(Skipped(rel, f"clip processing failed ({type(e).__name__}: {e})", "video"))
    return None


def process_clip(path: str | Path, *, sha256: str, cache: FeatureCache, fps: float | None = None,
                 max_side: int | None = 640, boxes: dict[int, list] | None = None, detector: str = "mog2",
                 leak_mode: str = "frame", leak_upsample: int = 1, leak_detector: str = "auto",
                 leak_full_every: int = 1,
                 face_params: FaceParams | None = None,
                 max_crops: int = 16, n_chunks: int = 4, gait_frames: int = 20, min_gait_fps: float = 5.0,
                 min_track_frames: int = 3, max_crop_frames: int = 1500, obfuscation: str | None = None,
                 obfuscation_region: str = "body", estimate_regions: int = 0,
                 face_models: Any = None, gallery: bool = False) -> ClipFeatures:
    """Decode one clip and compute its tracks' features, or load them from ``cache``.

    Parameters
    ----------
    path, sha256 : the clip and its content hash (cache key).
    fps, max_side : frame sampling rate (None: every frame) and detection size (see
        :func:`auditkit.data.video.iter_frames`).
    boxes : manifest boxes per frame: ``{frame: [(xywh, track label or None, subject or None)]}``;
        None or empty: people are detected with ``detector`` ("mog2" or "hog").
    leak_mode, leak_upsample, leak_detector, leak_full_every : face-leak scan options
        (:class:`~auditkit.features.leaks.FaceLeakScanner`); ``leak_mode="off"`` skips the scan;
        ``leak_full_every`` > 1 gates the whole-frame scan by change (:mod:`auditkit.features.leak_gate`).
    face_params : encoder options for the faces found by the leak scan.
    max_crops, n_chunks : crops per track described (evenly spread), and how many chunk means
        of their descriptors are kept.
    gait_frames, min_gait_fps : frames per gait chunk (one GEI each) and the lowest sampling
        rate at which gait is attempted.
    min_track_frames : tracks with fewer boxes are dropped (counted in the messages).
    gallery : a gallery clip: the tracker keeps its short tracks too (a person's only sighting
        matters to the attacker; :func:`~auditkit.features.appearance_tracking.tracker_for`).
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

    Long: one clip's decode-detect-track-describe loop over frames with its cache; still to split (issue 11 note).
    """
    if detector not in ("mog2", "hog"):
        raise ValueError(f"detector must be 'mog2' or 'hog', got {detector!r}")
    if leak_mode not in ("frame", "person", "both", "off"):
        raise ValueError(f"leak_mode must be one of frame, person, both, off; got {leak_mode!r}")
    fp = face_params or FaceParams()
    leak_detector = resolve_detector(leak_detector) if leak_mode != "off" else None
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
              "leak_upsample": leak_upsample, "leak_detector": leak_detector, "leak_full_every": leak_full_every,
              "face": fp.as_dict(), "max_crops": max_crops, "n_chunks": n_chunks,
              "gait_frames": gait_frames, "min_gait_fps": min_gait_fps, "min_track_frames": min_track_frames,
              "max_crop_frames": max_crop_frames, "appearance": DESCRIPTOR_VERSION,
              "tracker": tracker_for("manifest" if use_manifest else detector, gallery=gallery).params(),
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
    scanner = (FaceLeakScanner(mode=leak_mode, upsample=leak_upsample, detector=leak_detector,
                               full_every=leak_full_every)
               if leak_detector is not None else None)
    tracker = None if use_manifest else tracker_for(detector, gallery=gallery)
    leak_key = leak_memo = None  # the scan cached on its own: the linkage's pass over the clip reuses it
    if scanner is not None:
        leak_key = leak_scan_key(sha256, fps=fps, max_side=max_side, scanner_params=scanner.params(),
                                 face=fp.as_dict(), persons=[params["detector"], params["manifest"]])
        leak_memo = load_leak_scan(cache, leak_key)
    gate_counts = leak_memo[1] if leak_memo is not None else None
    leak_memo = leak_memo[0] if leak_memo is not None else None
    unlabelled_feats: dict[tuple[int, int], np.ndarray] = {}  # (frame, k) -> descriptor of a box without track label
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
                if clip_box(np.asarray(b, float) * fr.scale, fr.image.shape) is None:
                    outside += 1
                    continue
                items.append((b, t, s))
        else:
            d = det_mog if hog is None else hog.detect(fr.image, scale=fr.scale)
            items = [(b, None, None) for b in d.boxes]
            tracker.update(fr.index, fr.timestamp_s, d, fr.image, scale=fr.scale)
        if use_manifest:  # descriptors for the tracker, of the boxes that carry no track label
            free = [k for k, (_, t, _) in enumerate(items) if t is None]
            if free:
                fd = box_descriptors(fr.image, np.asarray([items[k][0] for k in free], float), scale=fr.scale)
                unlabelled_feats.update({(fr.index, k): fd[i] for i, k in enumerate(free)})
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
                b = clip_box(e[0] * fr.scale, fr.image.shape)
                if b is None or b[3] < 24 or b[2] < 8:
                    continue
                est = estimate_obfuscation(fr.image, b)
                strength = None if est.strength is None else float(est.strength) / fr.scale
                estimates.append({"frame": fr.index, "method": est.method, "strength": strength,
                                  "confidence": float(est.confidence)})
        if leak_memo is not None:
            for lk, enc_k in leak_memo.get(fr.index, ()):
                if enc_k is not None:
                    leak_faces[(fr.index, len(raw_leaks))] = enc_k
                raw_leaks.append(lk)
        elif scanner is not None:
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
    if scanner is not None and leak_memo is None:
        gate_counts = dict(scanner.gate.counts) if scanner.gate is not None else None
        store_leak_scan(cache, leak_key, raw_leaks, leak_faces, gate_counts)
    report = it.report.to_dict()
    step = float(np.median(np.diff(indices))) if len(indices) > 1 else 1.0
    messages = list(report.get("messages", []))
    if gate_counts and gate_counts.get("pixels_total"):  # issue 15: what the change-gated leak scan looked at
        messages.append(f"leak scan: {gate_counts['full']} frame(s) scanned whole, {gate_counts['gated']} only where "
                        f"they changed ({gate_counts['pixels_scanned'] / gate_counts['pixels_total']:.0%} of all pixels)")
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
            tr = AppearanceTracker()
            dets: dict[int, list[int]] = {}
            for f, j in unlabelled:
                dets.setdefault(f, []).append(j)
            for f in sorted(store):
                js = dets.get(f, [])
                feats = np.asarray([unlabelled_feats[(f, j)] for j in js]).reshape(len(js), -1)
                tr.update(f, times[f], Detections(np.asarray([store[f][j][0] for j in js]).reshape(-1, 4),
                                                  np.ones(len(js))), features=feats)
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
    oc = getattr(tracker, "offline_counts", None) or {}
    if any(oc.values()):  # issue 17: what the tracker's second pass changed, said per clip
        messages.append("tracker second pass: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in oc.items()))
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
                           "confidence": lk.confidence, "track": label, "source": lk.source,
                           "detector": leak_detector})
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
