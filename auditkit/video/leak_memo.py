"""The face-leak scan of one clip, cached on its own (issue 15).

A release's clips are processed twice in one audit: by the video audit (release crops as they are)
and by the gallery-free linkage (crops with the declared obfuscation re-applied, so their features
differ and are cached under another key). The leak scan, most of a clip's cost (a face detector
over every sampled frame), reads neither: it depends only on the frames (clip content, sampling,
downscaling), the scanner's options, the face encoder and, when it looks inside person boxes, on
where the people are (the detector or the manifest). This module keys it by exactly those, so the
second pass over a clip reuses the first one's leaks and their face encodings, byte for byte.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..features.cache import FeatureCache, cache_key
from ..features.leaks import Leak

__all__ = ["LEAK_SCAN_VERSION", "leak_scan_key", "load_leak_scan", "store_leak_scan"]

#: bumped whenever the scan's output for the same inputs changes (cache key)
LEAK_SCAN_VERSION = "1"


def leak_scan_key(sha256: str, *, fps: float | None, max_side: int | None, scanner_params: dict[str, Any],
                  face: dict[str, Any], persons: Any) -> str:
    """Cache key of one clip's leak scan; ``persons`` names where the person boxes come from
    (ignored, as None, when the scanner looks at whole frames only)."""
    mode = scanner_params.get("mode")
    return cache_key(sha256, "video_leaks", LEAK_SCAN_VERSION,
                     {"fps": fps, "max_side": max_side, "scanner": scanner_params, "face": face,
                      "persons": persons if mode in ("person", "both") else None})


def store_leak_scan(cache: FeatureCache, key: str, leaks: list[Leak], faces: dict[tuple[int, int], np.ndarray],
                    gate: dict[str, int] | None = None) -> None:
    """Store the scan's leaks (in scan order), the encoding of each (``faces[(frame, k)]``, k its index)
    and the change gate's counts (:class:`~auditkit.features.leak_gate.ChangeGate`), if it ran."""
    meta = [{"frame": lk.frame, "time_s": lk.timestamp_s, "box": list(lk.box), "confidence": lk.confidence,
             "track_id": lk.track_id, "source": lk.source} for lk in leaks]
    enc = [faces.get((lk.frame, k)) for k, lk in enumerate(leaks)]
    has = np.array([e is not None for e in enc], dtype=bool)
    encs = np.stack([e for e in enc if e is not None]) if has.any() else np.zeros((0, 128))
    cache.put(key, {"meta": np.array(json.dumps(meta)), "has_face": has, "faces": encs,
                    "gate": np.array(json.dumps(gate))})


def load_leak_scan(cache: FeatureCache, key: str
                   ) -> tuple[dict[int, list[tuple[Leak, np.ndarray | None]]], dict[str, int] | None] | None:
    """The stored scan as ``{frame: [(leak, encoding or None), ...]}`` in scan order and the gate's
    counts, or None on a miss."""
    hit = cache.get(key)
    if hit is None:
        return None
    meta = json.loads(str(hit["meta"]))
    has, encs = hit["has_face"], hit["faces"]
    out: dict[int, list[tuple[Leak, np.ndarray | None]]] = {}
    j = 0
    for m, h in zip(meta, has):
        e = None
        if h:
            e = encs[j]
            j += 1
        lk = Leak(int(m["frame"]), float(m["time_s"]), tuple(float(v) for v in m["box"]), float(m["confidence"]),
                  m["track_id"], m["source"])
        out.setdefault(lk.frame, []).append((lk, e))
    return out, json.loads(str(hit["gate"]))
