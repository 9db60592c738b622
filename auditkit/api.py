"""``run_audit(config)``: the audit pipeline with its strength sweep (the public entry point).

The sweep sits on top of the pipeline: it runs the pipeline once per strength, so the pipeline
(:func:`auditkit.audit.run_pipeline`) takes it as a stage instead of importing it.
"""
from __future__ import annotations

from .audit import run_pipeline
from .config import AuditConfig
from .result import AuditResult
from .sweep import sweep_stage

__all__ = ["run_audit"]


def run_audit(config: AuditConfig) -> AuditResult:
    """Run the audit described by ``config``; return its :class:`~auditkit.result.AuditResult`.

    ``result.to_json()`` is the text of results.json; :func:`auditkit.report.write_outputs`
    writes it with matches.csv, skipped.csv and report.html.

    Raises
    ------
    auditkit.data.inputs.InputError
        When there is nothing to audit, or an input cannot be used at all.
    """
    from .bundle import environment, reproduce_section

    result = run_pipeline(config, sweep_stage=sweep_stage)
    # issue 16: what a re-run needs beyond parameters, seed and input hashes (auditkit verify)
    result.tool.update(environment())
    result.extra["reproduce"] = reproduce_section(result.parameters, result.inputs.manifest)
    return result
