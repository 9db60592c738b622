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

__all__ = ["ReleaseEstimate", "finish_estimate", "start_estimate"]

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

    # what _estimate_obfuscation reads of each row (issue 13: "source", a whole image where no face was found)
    info = [{"file": i["file"], "box": i["box"], "path": i.get("path"), "source": i.get("source")} for i in pfs.info]
    return submit(_job, estimate, info, str(release.root), config.run.seed, jobs=config.run.jobs,
                  initializer=_init_worker, initargs=(params,))


def finish_estimate(job, estimate: Estimate, pfs: Any, release: Any, seed: int) -> tuple[dict | None, list[str]]:
    """The result of :func:`start_estimate`'s task; estimated here when its worker was lost."""
    try:
        return job.result()
    except Exception:  # noqa: BLE001  a lost worker must not lose the estimate
        notes: list[str] = []
        return estimate(pfs, release, notes, seed), notes


class ReleaseEstimate:
    """The release's obfuscation estimate, calibrated on the clear gallery
    (:func:`~auditkit.obfuscation.calibrate.calibrate_release_estimate`), kept in the stage cache
    (issue 15; :class:`~auditkit.stage_results.StageResults`) under the release's and the gallery's
    feature rows without their paths (file hashes, boxes, where each face came from) and the seed.

    :meth:`start` gives a job (a stored result, or a task on the audit's pool) or None, then
    :meth:`now` computes it here; :meth:`finish` ends a job. Both return what the audit had before
    the cache: the calibrated estimate and the notes it reported."""

    NAME = "obfuscation_estimate"

    def __init__(self, estimate: Estimate, config: Any, params: Any, gfs: Any, pfs: Any, release: Any,
                 stages: Any):
        self.estimate, self.config, self.params = estimate, config, params
        self.gfs, self.pfs, self.release, self.stages = gfs, pfs, release, stages
        self.seed = config.run.seed
        self.parts = {"release": [{k: v for k, v in i.items() if k != "path"} for i in pfs.info],
                      "gallery": [{k: v for k, v in i.items() if k != "path"} for i in gfs.info], "seed": self.seed,
                      **({} if config.faces.calibrate_estimate else {"calibrated": False})}

    def _calibrate(self, estimate: dict | None, notes: list[str]) -> None:
        from .obfuscation.calibrate import calibrate_release_estimate

        if not self.config.faces.calibrate_estimate:
            if estimate:
                estimate["calibration"] = {"skipped": "calibrate_estimate is off (a sweep point: the obfuscation "
                                                      "is known); the uncertainty is the estimator's own"}
            return
        calibrate_release_estimate(estimate, self.gfs.info, self.pfs.info, notes, seed=self.seed)

    def start(self):
        hit = self.stages.lookup(self.NAME, self.parts)
        if hit is not None:
            return SimpleNamespace(stored=(hit[0], hit[1]))
        return start_estimate(self.estimate, self.config, self.params, self.pfs, self.release)

    def now(self, notes: list[str]) -> dict | None:
        def compute() -> dict | None:
            est = self.estimate(self.pfs, self.release, notes, self.seed)
            self._calibrate(est, notes)
            return est

        return self.stages.run(self.NAME, self.parts, compute, notes=notes)

    def finish(self, job) -> tuple[dict | None, list[str]]:
        if isinstance(job, SimpleNamespace):  # stored
            return job.stored
        est, notes = finish_estimate(job, self.estimate, self.pfs, self.release, self.seed)
        self._calibrate(est, notes)
        self.stages.put(self.NAME, self.parts, est, notes)
        return self.stages.as_read(est), notes
