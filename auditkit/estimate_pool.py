"""The release's obfuscation estimate as a task on the audit's worker pool (issue 15).

The estimate (about 76 ms per release face here) ran in the parent between the extraction and
the attacks while the workers idled. When the obfuscation is declared the attacks do not need
it, so it runs in a worker of the kept pool (:func:`auditkit.features.executors.submit`) while
the parent runs the attacks; the result and its notes are the same as in the parent.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["finish_estimate", "start_estimate"]

Estimate = Callable[..., "dict | None"]  # audit._estimate_obfuscation(pfs, release, notes, seed)


def _job(estimate: Estimate, info: list[dict], root: str, seed: int) -> tuple[dict | None, list[str]]:
    notes: list[str] = []
    return estimate(SimpleNamespace(info=info), SimpleNamespace(root=Path(root)), notes, seed), notes


def start_estimate(estimate: Estimate, config: Any, params: Any, pfs: Any, release: Any):
    """A Future of ``(estimate, notes)`` on the audit's local pool; None without one (``--jobs 1``,
    Dask, or no extraction ran, as on a warm re-run): then the caller estimates in this process."""
    if config.run.jobs < 2 or config.run.executor != "local":
        return None
    from .features.executors import submit
    from .features.faces import _init_worker

    info = [{"file": i["file"], "box": i["box"], "path": i.get("path")} for i in pfs.info]
    return submit(_job, estimate, info, str(release.root), config.run.seed, jobs=config.run.jobs,
                  initializer=_init_worker, initargs=(params,))


def finish_estimate(job, estimate: Estimate, pfs: Any, release: Any, seed: int) -> tuple[dict | None, list[str]]:
    """The result of :func:`start_estimate`'s task; estimated here when its worker was lost."""
    try:
        return job.result()
    except Exception:  # noqa: BLE001  a lost worker must not lose the estimate
        notes: list[str] = []
        return estimate(pfs, release, notes, seed), notes
