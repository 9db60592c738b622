"""Face attacks. ``face.naive``: clear gallery encodings vs the de-identified release."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data.boxes import box_iou
from ..features.faces import Task
from ..result import AttackResult, Skipped
from ..scoring.scores import ScoreMatrix
from .base import FeatureSet, attack_result, identity_scores
from .context import FaceContext
from .contract import Attack

__all__ = ["MATCH_DISTANCE", "NaiveFace", "ParrotFace", "expand_box", "face_naive", "face_parrot",
           "transformed_gallery"]

#: face_recognition's conventional same-person distance threshold.
MATCH_DISTANCE = 0.6


def face_parrot(gallery_obfuscated: FeatureSet, probes: FeatureSet, *, spec: str, source: str,
                scope: str, **matching: Any) -> tuple[ScoreMatrix, AttackResult]:
    """Parrot attack (Newton, Sweeney & Malin 2005): the attacker applies the release's own
    obfuscation to the gallery and matches in the obfuscated domain."""
    sm, res = face_naive(gallery_obfuscated, probes, name="face.parrot", **matching)
    res.notes[0] = (f"parrot attacker: gallery obfuscated with {spec} ({source}; region: {scope}) and "
                    "matched to the release with the same face encodings")
    res.details["obfuscation"] = {"spec": spec, "source": source, "scope": scope}
    return sm, res


def face_naive(gallery: FeatureSet, probes: FeatureSet, *, name: str = "face.naive",
               **matching: Any) -> tuple[ScoreMatrix, AttackResult]:
    """Match every release face against the clear gallery (best match per identity).

    ``matching``: ``executor``, ``scheduler``, ``jobs`` for :func:`identity_scores` (Dask or local)."""
    if len(gallery) == 0:
        raise ValueError("no gallery face encodings: nothing to match against")
    scores, identities = identity_scores(probes.X, gallery.X, list(gallery.labels), **matching)
    sm = ScoreMatrix(scores, list(probes.ids), identities, list(probes.labels))
    notes = ["naive attacker: off-the-shelf dlib face encodings of the clear gallery, "
             "nearest identity by Euclidean distance; no adaptation to the obfuscation"]
    res = attack_result(name, "face", sm, notes=notes)
    # what a face_recognition user would call a match: rank-1 correct and distance < 0.6
    idx = sm.truth_index()
    mated = np.flatnonzero(idx >= 0)
    if len(mated):
        top = np.argmax(scores[mated], axis=1)
        ok = (top == idx[mated]) & (-scores[mated, top] < MATCH_DISTANCE)
        from ..scoring.stats import wilson_interval

        res.metrics["rank1_within_0.6"] = float(ok.mean())
        res.metrics["rank1_within_0.6_ci"] = wilson_interval(int(ok.sum()), len(mated))
    return sm, res


def expand_box(box, frac: float = 0.25) -> tuple[int, int, int, int]:
    """A face box grown by ``frac`` of its size on each side (obfuscations cover the head)."""
    x, y, w, h = box
    return (int(x - frac * w), int(y - frac * h), int(w * (1 + 2 * frac)), int(h * (1 + 2 * frac)))


def transformed_gallery(ctx: FaceContext, transform: str, *, label: str, scope: str | None = None,
                        probe_like: bool = False) -> FeatureSet:
    """Apply ``transform`` (an obfuscation spec such as ``blur:sigma=6``) to each gallery image
    (its face region, or the whole frame) and encode the face at the clear image's box; with
    ``probe_like`` (issue 13), locate it the way the release's faces were located instead: when
    no release face came with a manifest box, by the detector on the obfuscated image (the
    largest detection, else the whole-image fallback) — the box the release pipeline finds."""
    from .context import pick_face, probe_like_hint

    scope = scope or ctx.scope
    no_hint = probe_like and probe_like_hint(ctx)
    tasks = []
    for inf in ctx.gallery.info:
        region = None if scope == "frame" else expand_box(inf["box"])
        tasks.append(Task(inf["path"], inf["sha256"], hint_box=None if no_hint else tuple(inf["box"]),
                          obfuscation=(transform, region)))
    got = ctx.encode(tasks, label=label)
    X, ids, labels, info = [], [], [], []
    for t, gid, lab, inf in zip(tasks, ctx.gallery.ids, ctx.gallery.labels, ctx.gallery.info):
        r = got[t.key]
        if isinstance(r, str):
            ctx.skipped.append(Skipped(gid, r, label))
            continue
        if no_hint:
            j = pick_face(r, None, tuple(int(v) for v in inf["box"]))
        else:
            j = int(np.argmax([box_iou(t.hint_box, b) for b in r.boxes]))
        X.append(r.encodings[j])
        ids.append(gid)
        labels.append(lab)
        info.append(inf)
    return FeatureSet(np.array(X).reshape(len(X), -1), ids, labels, info)


class NaiveFace(Attack):
    """``face.naive``: the release faces against the clear gallery (features: a FaceContext)."""

    name = "face.naive"

    def _evaluate(self) -> AttackResult:
        ctx = self.features
        return face_naive(ctx.gallery, ctx.probes, **ctx.matching())[1]


class ParrotFace(Attack):
    """``face.parrot``: the gallery obfuscated with the release's (declared or estimated)
    obfuscation, encoded by the features stage (``ctx.encode``), against the release."""

    name = "face.parrot"

    def _evaluate(self) -> AttackResult | None:
        ctx = self.features
        if ctx.vendor is not None:  # the vendor's own anonymizer made the attacker's gallery
            from .vendor_gallery import on_vendor_output

            return on_vendor_output(ctx, lambda v: face_parrot(
                transformed_gallery(v, "none", label="vendor gallery"), v.probes, spec="none",
                source=v.spec_source, scope=v.scope, **v.matching())[1])
        if ctx.spec is None:
            ctx.notes.append("face.parrot not run: the obfuscation is unknown (declare it with --obfuscation, "
                             "e.g. blur:sigma=6, or an 'obfuscation' manifest column)")
            return None
        pg = transformed_gallery(ctx, ctx.spec, label="parrot gallery", probe_like=True)
        res = face_parrot(pg, ctx.probes, spec=ctx.spec, source=ctx.spec_source, scope=ctx.scope,
                          **ctx.matching())[1]
        from .context import probe_like_hint

        located = "detector" if probe_like_hint(ctx) else "manifest_box"
        res.details["parrot"] = {"gallery_located": located}
        res.notes.append("obfuscated gallery faces located as the release's were: "
                         + ("by the detector on the obfuscated image (no release face had a manifest box)"
                            if located == "detector" else "at the face box (the release's faces came with boxes)"))
        return res
