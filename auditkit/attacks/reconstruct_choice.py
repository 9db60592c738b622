"""Which matching ``face.reconstruct`` keeps (issue 13: a ladder that never steps down).

The reconstruction attacker inverts the release's obfuscation and matches the result against the
clear gallery. Inversion is imperfect (a Wiener-deconvolved face keeps ringing and lost detail),
and on some data plain matching in the obfuscated domain — the parrot's — is stronger: measured on
Yale faces pixelated with 16-px blocks, reconstruct 22% against the parrot's 38%. An attacker who
can invert the obfuscation also holds everything the parrot holds, and would notice that on its
own gallery. So ``face.reconstruct`` cross-validates three matchings on held-out gallery images
(the folds of :func:`auditkit.attacks.pixel_models._folds`, as ``face.pixels`` and its parrot
fallback use), each held-out image obfuscated exactly as the release:

``clear``
    the held-out image obfuscated then reconstructed, against the other folds' clear encodings
    (what the attack does by default);
``reconstructed``
    the same against the other folds' images obfuscated then reconstructed (both sides carry the
    same reconstruction artefacts);
``parrot``
    the held-out image obfuscated, against the other folds' obfuscated images.

It keeps the matching with the highest held-out rank-1; a later one replaces ``clear`` only when
strictly better (ties keep the reconstruction against the clear gallery). Release labels are never
used for the choice.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..features.faces import Task
from .base import FeatureSet
from .context import FaceContext, pick_face, probe_like_hint
from .pixel_models import CV_FOLDS
from .pixels_fallback import nearest_cv

__all__ = ["DOMAINS", "choose_domain", "gallery_encodings", "nearest_cv"]

#: the matchings compared, in order of preference on a tie
DOMAINS = ("clear", "reconstructed", "parrot")


def gallery_encodings(ctx: FaceContext, transform: str, *, label: str) -> list[np.ndarray | None]:
    """Per gallery row, the encoding of its face after ``transform`` (None where extraction
    failed), located as the release's faces were: at the clear box when the release came with
    manifest boxes, else by the detector on the transformed image (:func:`probe_like_hint`). The
    tasks for ``ctx.spec`` are the parrot's and ``face.pixels``' (same cache keys)."""
    from .face import expand_box

    no_hint = probe_like_hint(ctx)
    tasks = []
    for inf in ctx.gallery.info:
        box = tuple(int(v) for v in inf["box"])
        region = None if ctx.scope == "frame" else expand_box(box)
        tasks.append(Task(inf["path"], inf["sha256"], hint_box=None if no_hint else box,
                          obfuscation=(transform, region)))
    got = ctx.encode(list({t.key: t for t in tasks}.values()), label=label)
    out: list[np.ndarray | None] = []
    for t, inf in zip(tasks, ctx.gallery.info):
        r = got.get(t.key)
        if r is None or isinstance(r, str):
            out.append(None)
            continue
        j = pick_face(r, t.hint_box, tuple(int(v) for v in inf["box"]))
        out.append(np.asarray(r.encodings[j], dtype=np.float64))
    return out


def choose_domain(cv: dict[str, dict[str, Any]]) -> str:
    """The kept matching: the highest held-out rank-1, ties to the earlier of :data:`DOMAINS`;
    ``clear`` when nothing was measured."""
    best, best_r = "clear", -1.0
    for d in DOMAINS:
        r = cv.get(d, {}).get("rank1")
        if r is not None and float(r) > best_r:
            best, best_r = d, float(r)
    return best


def matched_gallery(ctx: FaceContext, domain: str, encodings: dict[str, list[np.ndarray | None]]) -> FeatureSet:
    """The gallery the release is matched against for ``domain``: the clear gallery, or the
    gallery rows in their reconstructed / obfuscated form (rows without an encoding left out)."""
    if domain == "clear":
        return ctx.gallery
    enc = encodings[domain]
    keep = [i for i, e in enumerate(enc) if e is not None]
    g = ctx.gallery
    return FeatureSet(np.array([enc[i] for i in keep]).reshape(len(keep), -1), [g.ids[i] for i in keep],
                      [g.labels[i] for i in keep], [g.info[i] for i in keep])


def compare(ctx: FaceContext, *, cv_folds: int = CV_FOLDS) -> tuple[str, dict[str, Any], dict[str, list]]:
    """Cross-validate :data:`DOMAINS` on the gallery; returns the kept domain, the CV figures per
    domain and the gallery encodings per domain (``reconstructed``, ``parrot``)."""
    spec = ctx.spec
    rec = gallery_encodings(ctx, f"{spec}|reconstruct:{spec}", label="reconstructed gallery")
    par = gallery_encodings(ctx, spec, label="parrot gallery")
    clear = [np.asarray(x, dtype=np.float64) for x in ctx.gallery.X]
    labels = list(ctx.gallery.labels)
    cv = {"clear": nearest_cv(rec, clear, labels, cv_folds=cv_folds, seed=ctx.seed),
          "reconstructed": nearest_cv(rec, rec, labels, cv_folds=cv_folds, seed=ctx.seed),
          "parrot": nearest_cv(par, par, labels, cv_folds=cv_folds, seed=ctx.seed)}
    return choose_domain(cv), cv, {"reconstructed": rec, "parrot": par}


def describe(domain: str, cv: dict[str, dict[str, Any]]) -> str:
    """The note saying which matching was kept and on what evidence."""
    def fig(d: str) -> str:
        c = cv.get(d, {})
        if "rank1" not in c:
            return f"{d}: {c.get('note', 'not measured')}"
        lo, hi = c["rank1_ci"]
        return f"{d} {c['rank1']:.1%} (95% CI {lo:.1%}-{hi:.1%}, n = {c['n']})"

    what = {"clear": "the reconstructed release against the clear gallery",
            "reconstructed": "the reconstructed release against the gallery obfuscated and reconstructed the same way",
            "parrot": "the release as released against the gallery obfuscated as the release (the parrot's "
                      "matching): reconstruction lost more than it recovered on this data"}[domain]
    return (f"face.reconstruct kept {what}; held-out gallery rank-1 per matching: "
            + "; ".join(fig(d) for d in DOMAINS)
            + " (a reconstruction attacker also holds what the parrot holds; the release was not used to choose)")
