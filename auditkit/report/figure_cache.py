"""Re-renders without redrawing (issue 15): the report's figures kept in the cache, keyed by the
results they are drawn from and by the code that draws them.

Figures are a pure function of the results dictionary (:func:`auditkit.report.figures.report_figures`
reads nothing else) and of the drawing code. The key is the SHA-256 of the canonical JSON of the
results without ``created`` and ``runtime`` (when and how fast a run went is never drawn), of the
auditkit modules' fingerprint (:func:`auditkit.features.cache.code_fingerprint`) and of matplotlib's
version; so ``auditkit report results.json`` on unchanged results, or a warm re-run that reproduced
the same results, reuses the figures, and any change to a drawn number redraws them. Stored as JSON
text in the feature cache's checksummed ``.npz`` format under ``<cache dir>/figures``
(``$AUDITKIT_CACHE_DIR``, else the user cache; ``cache_dir=False`` turns it off).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["IGNORED_KEYS", "cached_report_figures", "figures_key"]

#: results keys the figures never read
IGNORED_KEYS = ("created", "runtime")


def figures_key(results: dict[str, Any]) -> str:
    from importlib.metadata import version  # not `import matplotlib`: a cache hit draws nothing

    from ..features.cache import code_fingerprint

    drawn = {k: v for k, v in results.items() if k not in IGNORED_KEYS}
    h = hashlib.sha256()
    h.update(json.dumps(drawn, sort_keys=True, default=repr, allow_nan=True).encode())
    h.update(code_fingerprint().encode())
    h.update(version("matplotlib").encode())
    return h.hexdigest()


def cached_report_figures(results: dict[str, Any], *, cache_dir: str | Path | None | bool = None
                          ) -> dict[str, dict[str, str]]:
    """:func:`~auditkit.report.figures.report_figures`, from the cache when these results were
    drawn before. ``cache_dir``: the cache root (default ``default_cache_dir()``); ``False``: off."""
    from ..features.cache import FeatureCache, default_cache_dir, user_cache_allowed
    from .figures import report_figures

    if cache_dir is None and not user_cache_allowed():  # --no-cache: not the user's cache either
        cache_dir = False
    if cache_dir is False:
        return report_figures(results)
    cache = FeatureCache(Path(cache_dir or default_cache_dir()) / "figures")
    key = figures_key(results)
    got = cache.get(key)
    if got is not None:
        try:
            figs = json.loads(str(got["figures"]))
            if isinstance(figs, dict):
                return figs
        except (KeyError, ValueError):
            pass  # another layout: redraw
    figs = report_figures(results)
    try:
        cache.put(key, {"figures": np.array(json.dumps(figs))})
    except OSError:  # a read-only cache never stops a report
        pass
    return figs
