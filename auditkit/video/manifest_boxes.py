"""Manifest boxes of a clip: the 0-based ``frame`` column read strictly, boxes grouped per frame,
and the ground truth of a detected track (the subject most of its boxes overlap)."""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ..data.inputs import ReleaseItem

__all__ = ["_frame_index", "_manifest_boxes", "majority_subject"]


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


def majority_subject(frames, boxes, per: dict[int, list[tuple[np.ndarray, str | None, str | None]]]) -> str | None:
    """Ground truth for a detected track: the subject most of its boxes overlap (IoU >= 0.5) among
    the manifest boxes of their frames (``per`` from :func:`_manifest_boxes`); None without votes."""
    from ..data.boxes import box_iou_matrix

    votes = []
    for fr, b in zip(frames, boxes):
        cand = per.get(int(fr), [])
        if cand:
            iou = box_iou_matrix(np.asarray(b)[None], np.asarray([c[0] for c in cand]))[0]
            j = int(np.argmax(iou))
            if iou[j] >= 0.5 and cand[j][2]:
                votes.append(cand[j][2])
    return Counter(votes).most_common(1)[0][0] if votes else None


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
