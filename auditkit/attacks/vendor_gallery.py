"""The attackers' view of the vendor's anonymizer output (issue 13).

When the audit runs the vendor's own tool over the clear gallery (``--anonymizer``, see
:mod:`auditkit.obfuscation.vendor`), the attacks that re-obfuscate the gallery (``face.parrot``,
``face.pixels``, ``face.learned``) work on that output instead: :func:`vendor_view` is the
:class:`~auditkit.attacks.context.FaceContext` whose gallery rows point at the tool's output
files (same boxes, identities and ids; rows the tool failed on are left out) with the
obfuscation ``none`` (it is already in the pixels), and :func:`on_vendor_output` runs an attack
on it and says so in the result.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..result import AttackResult
from .base import FeatureSet
from .context import FaceContext

__all__ = ["on_vendor_output", "reconstruct_with_fit", "vendor_view"]


def vendor_view(ctx: FaceContext) -> FaceContext:
    """``ctx`` with each gallery row's image replaced by the anonymizer's output of it."""
    run = ctx.vendor
    if run is None:
        raise ValueError("no vendor anonymizer output in this context (--anonymizer not given)")
    keep = [i for i, gid in enumerate(ctx.gallery.ids) if gid in run.outputs]
    info = [{**ctx.gallery.info[i], "path": run.outputs[ctx.gallery.ids[i]][0],
             "sha256": run.outputs[ctx.gallery.ids[i]][1]} for i in keep]
    gallery = FeatureSet(ctx.gallery.X[keep], [ctx.gallery.ids[i] for i in keep],
                         [ctx.gallery.labels[i] for i in keep], info)
    # the same skipped and notes lists: what the attack appends lands in the audit's
    return replace(ctx, gallery=gallery, spec="none", spec_source=f"the vendor's anonymizer ({run.name})",
                   scope="frame", vendor=None, obfuscated_gallery=True)


def on_vendor_output(ctx: FaceContext, attack: Callable[[FaceContext], AttackResult | None]) -> AttackResult | None:
    """Run ``attack`` on :func:`vendor_view` of ``ctx``; the result's notes and details name the
    anonymizer in place of the re-applied obfuscation."""
    run = ctx.vendor
    res = attack(vendor_view(ctx))
    if res is None:
        return None
    if res.notes:
        res.notes[0] = (res.notes[0].replace("obfuscated with none", "run through the vendor's anonymizer")
                        .replace("crops at none", "crops of the anonymizer's output"))
    res.notes.insert(1, f"vendor pipeline: the clear gallery was run through the vendor's own anonymizer "
                        f"({run.template!r}; {len(run.outputs)} of {run.n_inputs} images passed the output check) "
                        "and this attacker used that output instead of re-applying an estimated obfuscation")
    res.details["obfuscation"] = {"spec": None, "source": "the vendor's anonymizer (--anonymizer)",
                                  "anonymizer": run.template, "version": run.version,
                                  "scope": "as the anonymizer applied it"}
    return res


def reconstruct_with_fit(ctx: FaceContext, attack: Callable[[FaceContext], AttackResult | None]) -> AttackResult | None:
    """Run the reconstruction ``attack`` with the anonymizer in the loop.

    The obfuscation estimated from the release itself is inverted when there is one that can be
    inverted (it describes the release's own pixels: measured on deface's mosaic of LFW faces, the
    estimate "pixelate 20" de-pixelated to 70% rank-1 where the closest fixed family fitted to the
    tool's gallery output, a box blur, gave 12.5%); otherwise (no estimate, "none", a mask) the fixed
    obfuscation fitted to the anonymizer's (clear, output) gallery pairs
    (:mod:`auditkit.obfuscation.vendor_fit`) is inverted; without a fit, the attack is not changed."""
    from ..obfuscation.spec import parse_spec
    from ..obfuscation.transforms import RECONSTRUCTABLE

    run = ctx.vendor
    fit = run.fit
    usable = ctx.spec is not None and parse_spec(ctx.spec).method in RECONSTRUCTABLE
    if usable or not fit:
        res = attack(replace(ctx, vendor=None))
        if res is not None and fit:
            res.notes.append(f"the obfuscation estimated from the release ({ctx.spec}) was inverted; the fixed "
                             f"obfuscation closest to the anonymizer's own output is {fit['spec']} "
                             f"(RMS {fit['rms']:g} grey levels; results.json obfuscation.anonymizer.fit)")
        return res
    src = (f"fitted to the vendor's anonymizer output of the clear gallery ({run.name}; {fit['n_pairs']} image pairs, "
           f"RMS {fit['rms']:g} grey levels vs {fit['rms_unobfuscated']:g} unobfuscated)")
    res = attack(replace(ctx, spec=fit["spec"], spec_source=src, scope=fit["scope"], vendor=None))
    if res is not None:
        res.details["obfuscation"]["anonymizer"] = run.template
        res.details["obfuscation"]["fit"] = fit
    return res
