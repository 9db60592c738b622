"""The gallery side of the video cues: gallery clips (longest track = the identity) and person
crops -> appearance and gait samples, with the release's obfuscation re-applied (see :mod:`auditkit.video`)."""
from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..data.inputs import Gallery
from ..data.media import MediaError, load_image
from ..features.appearance import DESCRIPTOR_VERSION, appearance_descriptor
from ..features.cache import FeatureCache, cache_key
from ..result import Skipped
from .clips import (
    _natural,
    _obfuscate_crop,
    process_clip_or_skip,
)


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
    from ..progress import track

    gs = _GallerySamples()
    ignored_tracks = 0
    for it in track(gallery.items, "video: gallery files", enabled=progress, unit="files"):
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
        cf = process_clip_or_skip(rel, it.file.path, skipped, sha256=it.file.sha256, cache=cache, boxes=None,
                                  leak_mode="off", **clip_opts)
        if cf is None:
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
