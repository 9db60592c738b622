"""Pixel-domain learned attacks (issue 18): classifiers on the obfuscated pixels themselves.

Every embedding rung (``face.naive``, ``face.parrot``, ``face.learned``'s encodings,
``face.reconstruct``) goes through dlib's 128-d face encoding of the obfuscated image, which
carries little under heavy blur or pixelation while the pixels still carry a lot (McPherson,
Shokri & Shmatikov 2016, "Defeating image obfuscation with deep learning"; Belhumeur et al.
1997, "fisherfaces").

``face.pixels``
    The attacker re-applies the release's obfuscation (declared or estimated) to each gallery
    image, with variants around it (grid offsets for pixelation, strength around the assumed
    one, small shifts and scales of the crop, mirror images), cuts grey crops at the box the
    release pipeline would find (the detector's box on the obfuscated image, the manifest box,
    or the whole image when nothing is detected) and fits scikit-learn classifiers on them:
    PCA + LDA, logistic regression and a linear SVM on pixels, LDA and a linear SVM on HOG
    gradients, and a small MLP. Which one to use is chosen like a real attacker would: by
    cross-validation over the gallery images alone (held-out images obfuscated exactly as the
    release). The release never trains anything: it is only cropped and scored.

This module is the rung in the audit (crops where the release pipeline finds faces, the
result); the attacker's core on arrays is :mod:`auditkit.attacks.pixel_models`, the body rung
:mod:`auditkit.attacks.body_pixels`. ``face.learned`` shares :func:`release_crops`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from ..result import AttackResult
from ..scoring.scores import ScoreMatrix
from .base import attack_result
from .context import FaceContext, pick_face, probe_like_hint
from .contract import Attack
from .pixel_models import (
    CANDIDATES,
    CROP_PAD,
    CROP_SHAPE,
    CV_FOLDS,
    N_VARIANTS,
    SCALE_RANGE,
    SHIFT_MAX,
    STRENGTH_RANGE,
    PixelAttacker,
    aligned_crop,
    augment_variants,
    box_crop,
    crop_features,
    fit_pixel_attacker,
    hog_features,
    obfuscate_variant,
    pca_lda,
)

__all__ = [
    "CANDIDATES",
    "CROP_PAD",
    "CROP_SHAPE",
    "PixelAttacker",
    "PixelsFace",
    "aligned_crop",
    "augment_variants",
    "box_crop",
    "crop_features",
    "face_pixels",
    "fit_pixel_attacker",
    "hog_features",
    "obfuscate_variant",
    "pca_lda",
    "release_crops",
    "release_like_gallery",
    "release_like_gallery_boxes",
]


# ----------------------------------------------------------------------------- the audit's rung

def release_like_gallery_boxes(ctx: FaceContext, imgs: Sequence[np.ndarray | None]
                               ) -> tuple[list[tuple[int, int, int, int] | None], list[bool]]:
    """Per gallery image: the box the release pipeline finds on it once obfuscated as
    ``ctx.spec`` (detector box, else the clear box as a manifest box would be, else the whole
    image), and whether that is the whole image. The extraction tasks are ``face.learned``'s
    (same cache keys), so after it they cost nothing."""
    boxes, whole, _ = release_like_gallery(ctx, imgs)
    return boxes, whole


def release_like_gallery(ctx: FaceContext, imgs: Sequence[np.ndarray | None]
                         ) -> tuple[list[tuple[int, int, int, int] | None], list[bool], list[np.ndarray | None]]:
    """:func:`release_like_gallery_boxes` and, per gallery image, the encoding of that face on the
    obfuscated image (None where the extraction failed): the parrot's gallery."""
    from ..features.faces import Task
    from .face import expand_box

    no_hint = probe_like_hint(ctx)
    tasks: dict[int, Task] = {}
    for i, (inf, img) in enumerate(zip(ctx.gallery.info, imgs)):
        if img is None:
            continue
        box = tuple(int(v) for v in inf["box"])
        region = None if ctx.scope == "frame" else expand_box(box)
        tasks[i] = Task(inf["path"], inf["sha256"], hint_box=None if no_hint else box, obfuscation=(ctx.spec, region))
    got = ctx.encode(list({t.key: t for t in tasks.values()}.values()), label="learned gallery")
    boxes: list[tuple[int, int, int, int] | None] = []
    whole: list[bool] = []
    encs: list[np.ndarray | None] = []
    for i, inf in enumerate(ctx.gallery.info):
        clear = tuple(int(v) for v in inf["box"])
        r = got.get(tasks[i].key) if i in tasks else None
        if r is None or isinstance(r, str):  # the clear box: where the face is
            boxes.append(clear)
            whole.append(inf.get("source") == "whole_image")
            encs.append(None)
            continue
        j = pick_face(r, tasks[i].hint_box, clear)
        boxes.append(tuple(int(v) for v in r.boxes[j]))
        whole.append(str(r.sources[j]) == "whole_image")
        encs.append(np.asarray(r.encodings[j], dtype=np.float64))
    return boxes, whole, encs


def release_crops(ctx: FaceContext, crop: Callable[[np.ndarray, tuple[int, int, int, int], dict], np.ndarray],
                  shape: tuple[int, int], *, label: str) -> np.ndarray:
    """``crop(image, box, info)`` of every release face (each file decoded once), stacked as
    ``(n_probes, *shape)``; a file that cannot be re-read keeps zeros and a note in ``ctx.notes``."""
    from ..data.media import MediaError

    crops = np.zeros((len(ctx.probes), *shape), dtype=np.float32)
    by_file: dict[str, list[int]] = defaultdict(list)
    for i, inf in enumerate(ctx.probes.info):
        by_file[inf["file"]].append(i)
    for rel, rows in by_file.items():
        try:
            # a frame of a multi-page image has its own (split) file: the info's path, not the rel
            img = ctx.release_image(rel, ctx.probes.info[rows[0]].get("path"))
        except MediaError as e:  # the audit decoded it once already; keep the row, flag it
            ctx.notes.append(f"{label}: release file could not be re-read for pixel features ({e.reason})")
            continue
        for i in rows:
            inf = ctx.probes.info[i]
            crops[i] = crop(img, tuple(int(v) for v in inf["box"]), inf)
    return crops


def face_pixels(ctx: FaceContext, *, candidates: Sequence[str] | None = None, n_variants: int = N_VARIANTS,
                cv_folds: int = CV_FOLDS) -> AttackResult | None:
    """The pixel-domain learned attacker: :func:`fit_pixel_attacker` on the gallery obfuscated
    as ``ctx.spec``, then classify grey crops of the release faces."""
    if ctx.spec is None:
        ctx.notes.append("face.pixels not run: the obfuscation is unknown (declare it with --obfuscation, "
                         "e.g. pixelate:block=16)")
        return None
    imgs = ctx.gallery_images()
    boxes, whole, encs = release_like_gallery(ctx, imgs)
    from .face import expand_box
    from .pixels_fallback import nearest_scores, parrot_cv, prefer_parrot

    regions = [None if ctx.scope == "frame" else expand_box(inf["box"]) for inf in ctx.gallery.info]
    att = fit_pixel_attacker(imgs, boxes, list(ctx.gallery.labels), ctx.spec, regions=regions, whole=whole,
                             candidates=candidates, n_variants=n_variants, cv_folds=cv_folds, seed=ctx.seed)
    shape = (att.crop_shape[1], att.crop_shape[0])
    crops = release_crops(ctx, lambda img, box, inf: box_crop(img, box, shape=att.crop_shape, pad=att.pad,
                                                              whole=inf.get("source") == "whole_image"),
                          shape, label="face.pixels")
    cv = att.cv
    chosen_cv = cv["candidates"].get(att.chosen)
    # the parrot's matching on the same held-out gallery images: kept when strictly stronger
    pcv = parrot_cv(encs, list(ctx.gallery.labels), [img is not None for img in imgs], cv_folds=cv_folds,
                    seed=ctx.seed)
    fallback = prefer_parrot(chosen_cv, pcv)
    if fallback:
        keep = [i for i, e in enumerate(encs) if e is not None]
        scores = nearest_scores(ctx.probes.X, np.array([encs[i] for i in keep]),
                                np.array([ctx.gallery.labels[i] for i in keep]), att.identities)
    else:
        scores = att.score(crops)
    sm = ScoreMatrix(scores, list(ctx.probes.ids), list(att.identities), list(ctx.probes.labels))
    if chosen_cv:
        lo, hi = chosen_cv["rank1_ci"]
        cv_txt = (f"gallery cross-validation rank-1 {chosen_cv['rank1']:.1%} (95% CI {lo:.1%}-{hi:.1%}, "
                  f"n = {chosen_cv['n']} held-out gallery images, {cv['folds']} folds); other candidates: "
                  + ", ".join(f"{c} {d['rank1']:.0%}" for c, d in cv["candidates"].items() if c != att.chosen))
    else:
        cv_txt = cv.get("note", "")
    n_whole = sum(1 for inf in ctx.probes.info if inf.get("source") == "whole_image")
    notes = [(f"pixel attacker: classifiers on grey {att.crop_shape[0]}x{att.crop_shape[1]} crops of the gallery "
              f"obfuscated with {ctx.spec} ({ctx.spec_source or 'assumed'}; region: {ctx.scope}) and "
              f"{att.variants - 1} variants around it per image (strength x{STRENGTH_RANGE[0]}-{STRENGTH_RANGE[1]}, "
              f"grid offsets, small shifts and scales), each mirrored; model chosen on the gallery alone: "
              f"{att.chosen} ({CANDIDATES[att.chosen][1]}); {cv_txt}; the release was not used to train")]
    if fallback:
        notes.append(f"face.pixels fell back to the parrot's matching (nearest obfuscated gallery encoding): on "
                     f"held-out gallery images it reached rank-1 {pcv['rank1']:.1%} (95% CI {pcv['rank1_ci'][0]:.1%}-"
                     f"{pcv['rank1_ci'][1]:.1%}, n = {pcv['n']}) against {att.chosen}'s "
                     + (f"{chosen_cv['rank1']:.1%}" if chosen_cv else "unmeasured")
                     + "; a pixel attacker weaker than that would understate the risk (the release was not used)")
    if n_whole:
        notes.append(f"{n_whole} of {len(ctx.probes)} release face(s) were not detected: cropped as whole images, "
                     "and the gallery the same way where the obfuscated gallery image gave no detection")
    details = {"obfuscation": {"spec": ctx.spec, "source": ctx.spec_source, "scope": ctx.scope},
               "pixels": {"chosen": att.chosen, "description": CANDIDATES[att.chosen][1], "params": att.params,
                          "cv": cv, "n_train": att.n_train, "fallback_to_parrot": fallback,
                          "method": "parrot" if fallback else att.chosen,
                          "parrot_cv": pcv,
                          "gallery_images": sum(img is not None for img in imgs),
                          "augmentation": {"variants_per_image": att.variants, "mirrored": True,
                                           "strength_range": list(STRENGTH_RANGE), "shift_max": SHIFT_MAX,
                                           "scale_range": list(SCALE_RANGE)},
                          "crop": {"shape": list(att.crop_shape), "pad": att.pad,
                                   "release_whole_image": n_whole,
                                   "gallery_whole_image": int(sum(whole))},
                          "fit_seconds": att.fit_seconds, "fit_cpu_seconds": att.fit_cpu_seconds,
                          "seed": ctx.seed}}
    res = attack_result("face.pixels", "face", sm, notes=notes, details=details)
    kept_cv = pcv if fallback else chosen_cv
    if kept_cv:
        res.metrics["cv_rank1"] = kept_cv["rank1"]
        res.metrics["cv_rank1_ci"] = tuple(kept_cv["rank1_ci"])
        res.metrics["cv_n"] = kept_cv["n"]
    return res


class PixelsFace(Attack):
    """``face.pixels`` (see :func:`face_pixels`); not run, with a note, when the gallery cannot be
    trained on (e.g. fewer than two gallery identities)."""

    name = "face.pixels"

    def _evaluate(self) -> AttackResult | None:
        ctx = self.features
        try:
            if ctx.vendor is not None:  # trained on the vendor's own anonymizer output
                from .vendor_gallery import on_vendor_output

                return on_vendor_output(ctx, face_pixels)
            return face_pixels(ctx)
        except ValueError as e:  # e.g. fewer than two gallery identities: skip, say why
            ctx.notes.append(f"face.pixels not run: {e}")
            return None
