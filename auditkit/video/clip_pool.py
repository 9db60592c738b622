"""A release's clips processed side by side on ``--jobs`` workers or a Dask cluster (issue 15).

:func:`process_clips` maps :func:`~auditkit.video.clips.process_clip_or_skip` over the clips with
:func:`auditkit.features.executors.imap` (in clip order; each worker loads the face models itself,
when a leak needs encoding) and returns, per clip, its features, the files it listed as skipped
and its seconds. The video audit then walks the clips in order as before, reading these instead
of processing each clip itself: the same features, whichever worker computed them (a test
checks ``--jobs 2`` against ``--jobs 1``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..result import Skipped
from .clips import ClipFeatures, process_clip_or_skip

__all__ = ["ClipResult", "process_clips"]

#: one clip's outcome: features (None when skipped), what it listed as skipped, seconds it took
ClipResult = tuple[ClipFeatures | None, list[Skipped], float]


def _clip_task(task: tuple[str, str, dict[str, Any]]) -> ClipResult:
    rel, path, kwargs = task
    skipped: list[Skipped] = []
    t0 = time.monotonic()
    cf = process_clip_or_skip(rel, path, skipped, **kwargs)
    return cf, skipped, time.monotonic() - t0


def process_clips(tasks: list[tuple[str, str | Path, dict[str, Any]]], *, jobs: int = 1, executor: str = "local",
                  scheduler: str | None = None, notes: list[str] | None = None) -> dict[str, ClipResult]:
    """``{rel: (features or None, skipped, seconds)}`` for ``tasks`` = ``(rel, path, process_clip options)``,
    computed on the workers; ``{}`` (the caller processes each clip itself) for fewer than two clips, one
    local job, or when the pool fails (said in ``notes``)."""
    if len(tasks) < 2 or (executor == "local" and jobs < 2):
        return {}
    from ..features.executors import imap

    todo = [(rel, str(path), {k: v for k, v in kw.items() if k != "face_models"}) for rel, path, kw in tasks]
    out: dict[str, ClipResult] = {}
    try:
        for (rel, _, _), res in zip(todo, imap(_clip_task, todo, executor=executor, jobs=jobs, scheduler=scheduler)):
            out[rel] = res
    except Exception as e:  # noqa: BLE001 (a broken pool: the clips are processed here instead)
        if notes is not None:
            notes.append(f"video: the clips could not be processed on {jobs} workers ({type(e).__name__}: {e}); "
                         "processed here one by one")
        return {}
    return out
