"""auditkit: privacy-risk audit and re-identification testing of de-identified releases.

The public API (imported lazily, so ``import auditkit`` stays cheap)::

    from auditkit import AuditConfig, run_audit
    result = run_audit(AuditConfig.from_flat(release="release/", gallery="gallery/", out="audit/"))
    print(result.verdict.risk, result.verdict.summary)

- :func:`run_audit` (``AuditConfig`` -> ``AuditResult``), :class:`AuditConfig` (typed sections,
  ``from_args`` / ``from_toml`` / ``from_flat``), :class:`AuditResult` (``to_json`` / ``from_json``,
  schema ``auditkit.results/1``), :func:`load_release` and :func:`load_gallery` (validated, hashed
  inputs with every unusable file listed), ``__version__``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

__all__ = ["AuditConfig", "AuditResult", "__version__", "load_gallery", "load_release", "run_audit"]

#: public name -> the module that defines it (imported on first use)
_LAZY = {
    "run_audit": "auditkit.api",
    "AuditConfig": "auditkit.config",
    "AuditResult": "auditkit.result",
    "load_release": "auditkit.data.inputs",
    "load_gallery": "auditkit.data.inputs",
}

if TYPE_CHECKING:  # pragma: no cover
    from .api import run_audit
    from .config import AuditConfig
    from .data.inputs import load_gallery, load_release
    from .result import AuditResult


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'auditkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
