"""The strength sweep of the vendor's own anonymizer (issue 13): ``auditkit sweep --anonymizer
"tool {input} {output} --strength {s}" --strengths 1,2,4`` draws the privacy curve of that tool.

At each strength the clear images are split as in :func:`auditkit.sweep.run_sweep` (calibration
gallery / probes, :func:`auditkit.demo.build_demo`); the tool at that strength makes the release
from the clear probes (:func:`vendor_point`), and the audit runs it again over the clear
calibration gallery (``anonymizer`` in the point's config) so that the parrot, pixel and learned
attackers train on its output. Probes the tool fails on are left out of the release and counted.
"""
from __future__ import annotations

import csv
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["VendorSpec", "vendor_plan", "vendor_point"]

#: the sweep's family name for the vendor's tool
FAMILY = "anonymizer"


@dataclass
class VendorSpec:
    """A sweep point's obfuscation: the tool at one strength (what ``ObfuscationSpec`` is for a family)."""

    strength: float
    label: str
    release: dict[str, Any] = field(default_factory=dict)  # the tool's run over the probes (VendorRun.record)


def vendor_plan(template: str, strengths: Mapping[str, Iterable[float]] | Sequence[float] | None,
                timeout: float) -> dict[str, list[float]]:
    """``{"anonymizer": sorted strengths}``; the template must hold ``{s}`` and the tool must exist."""
    from .obfuscation.vendor import check_anonymizer

    if strengths is None:
        raise ValueError("a sweep of the vendor's anonymizer needs --strengths (the values its {s} takes)")
    if isinstance(strengths, Mapping):
        if set(strengths) != {FAMILY}:
            raise ValueError(f"with an anonymizer give a plain list of strengths, got families {', '.join(strengths)}")
        strengths = list(strengths[FAMILY])
    vals = sorted({float(v) for v in strengths})
    if not vals:
        raise ValueError("no strengths given for the anonymizer sweep")
    check_anonymizer(template, timeout, strength=vals[0])
    return {FAMILY: vals}


def vendor_point(template: str, strength: float, d: Path, gallery_dir: Path, *, n_calibration: int, seed: int,
                 timeout: float, jobs: int, progress: bool) -> tuple[VendorSpec, Path, Path, dict[str, Any]]:
    """Build one sweep point: (spec, clear calibration gallery, the tool's release of the probes,
    the point's audit options)."""
    from .data.inputs import InputError
    from .demo import build_demo
    from .obfuscation.spec import ObfuscationSpec
    from .obfuscation.vendor import run_anonymizer

    gal, clear = build_demo(d / "clear", faces=gallery_dir, spec=ObfuscationSpec("none"), n_gallery=n_calibration,
                            seed=seed)
    with open(clear / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    run = run_anonymizer(template, [(r["path"], clear / r["path"]) for r in rows], strength=strength,
                         timeout=timeout, jobs=jobs, progress=progress, label=f"anonymizer at {strength:g}: probes")
    try:
        rel = d / "release"
        rel.mkdir(parents=True, exist_ok=True)
        kept = []
        for r in rows:
            if r["path"] in run.outputs:
                shutil.copyfile(run.outputs[r["path"]][0], rel / r["path"])
                kept.append({"path": r["path"], "subject": r["subject"]})  # no obfuscation column: not declared
        if len({r["subject"] for r in kept}) < 2:
            why = "; ".join(sorted({reason for _, reason in run.failures}))[:300]
            raise InputError(f"the anonymizer at strength {strength:g} left fewer than two identities' probes "
                             f"({len(run.failures)} of {len(rows)} failed: {why})")
        with open(rel / "manifest.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, ["path", "subject"])
            w.writeheader()
            w.writerows(kept)
        record = run.record()
    finally:
        run.cleanup()
    filled = template.replace("{s}", f"{strength:g}")
    spec = VendorSpec(strength=strength, label=f"{run.name} at {strength:g}", release=record)
    return spec, gal, rel, {"anonymizer": filled, "anonymizer_timeout": timeout}
