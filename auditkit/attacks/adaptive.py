"""Adaptive face attacks (issue 3): the attacker knows (or has estimated) the obfuscation.

``face.learned``
    scikit-learn classifiers trained on the gallery obfuscated at and around the assumed
    strength (and mirrored), on two representations: the 128-d face encodings and pixel
    features of aligned grey face crops (PCA + LDA). The representation kept (encodings,
    pixels, or their fusion) is chosen by cross-validation on the gallery alone. The release
    is never used to train: :func:`train_learned` only reads the gallery.
``face.reconstruct``
    invert the obfuscation on the release faces (Wiener deconvolution with the Gaussian or box
    kernel, smooth de-pixelation, denoising), encode them and match against the clear gallery.

Both return ``None`` with a note in ``ctx.notes`` when they cannot run (no assumed obfuscation,
or one that cannot be learned or inverted).
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.boxes import box_iou
from ..features.faces import Task
from ..obfuscation.spec import ObfuscationSpec, parse_spec
from ..obfuscation.transforms import RECONSTRUCTABLE, apply_transform
from ..result import AttackResult, Skipped
from ..scoring.scores import ScoreMatrix
from .base import FeatureSet, attack_result
from .context import FaceContext, pick_face, probe_like_hint
from .contract import Attack
from .face import expand_box, face_naive
from .pixels import aligned_crop, crop_features, pca_lda, release_crops

__all__ = [
    "CROP_SIZE",
    "STRENGTH_FACTORS",
    "LearnedFace",
    "LearnedModel",
    "ReconstructFace",
    "face_learned",
    "face_reconstruct",
    "strength_variants",
    "train_learned",
]

#: strengths the learned attacker trains on, as multiples of the assumed strength
STRENGTH_FACTORS = (0.75, 1.0, 1.33)
#: side in pixels of the aligned grey crops used as pixel features
CROP_SIZE = 48
#: methods a learned attacker can train on (a solid mask leaves nothing of the face)
LEARNABLE = ("blur", "box", "pixelate", "noise")

def strength_variants(spec: str, factors: tuple[float, ...] = STRENGTH_FACTORS) -> list[str]:
    """Spec labels at ``factors`` x the strength of ``spec`` (deduplicated, in factor order).

    >>> strength_variants("blur:sigma=6")
    ['blur:sigma=4.5', 'blur:sigma=6', 'blur:sigma=7.98']
    >>> strength_variants("pixelate:block=4")
    ['pixelate:block=3', 'pixelate:block=4', 'pixelate:block=5']
    """
    base = parse_spec(spec)
    out: list[str] = []
    for f in factors:
        if not f > 0:
            raise ValueError(f"strength factors must be > 0, got {f!r}")
        s = base.strength * f
        if base.method in ("pixelate", "box"):
            s = float(max(1, round(s)))
        else:
            s = round(s, 2)
        lab = ObfuscationSpec(base.method, s).label
        if lab not in out:
            out.append(lab)
    return out


def _encoding_model():
    """Standardise, then shrinkage LDA (deterministic: no seed to take)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))


def _log_proba(model, X: np.ndarray) -> np.ndarray:
    return np.maximum(model.predict_log_proba(X), -1e4)


def _nearest_scores(X: np.ndarray, G: np.ndarray, gy: np.ndarray, identities: list[str]) -> np.ndarray:
    """The parrot's matching: minus the Euclidean distance to each identity's nearest row of ``G``."""
    d = np.sqrt(np.maximum(((X[:, None, :] - G[None, :, :]) ** 2).sum(axis=2), 0.0))
    out = np.full((len(X), len(identities)), -np.inf)
    for j, ident in enumerate(identities):
        m = gy == ident
        if m.any():
            out[:, j] = -d[:, m].min(axis=1)
    return out


@dataclass
class LearnedModel:
    """What :func:`train_learned` fitted on the gallery (and only on it)."""

    identities: list[str]
    method: str  # "encodings" | "pixels" | "fused" | "parrot": the representation kept (parrot: the fallback)
    enc_model: Any
    pix_model: Any
    variants: dict[str, list[str]]
    n_train: dict[str, int]
    cv: dict[str, Any]
    crop_size: int = CROP_SIZE
    fit_seconds: float = 0.0
    fit_inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    parrot_X: np.ndarray | None = None  # the obfuscated gallery's encodings (the parrot fallback)
    parrot_y: np.ndarray | None = None

    def score(self, encodings: np.ndarray, crops: np.ndarray) -> np.ndarray:
        """Per probe and identity (columns in :attr:`identities` order): log-probabilities of
        the kept representation (summed for the fusion); for the parrot fallback, minus the
        distance to the identity's nearest obfuscated gallery encoding."""
        if self.method == "parrot":
            return _nearest_scores(np.asarray(encodings, dtype=np.float64), self.parrot_X, self.parrot_y,
                                   self.identities)
        out = np.zeros((len(encodings), len(self.identities)))
        if self.method in ("encodings", "fused"):
            out += _log_proba(self.enc_model, np.asarray(encodings, dtype=np.float64))
        if self.method in ("pixels", "fused"):
            out += _log_proba(self.pix_model, crop_features(crops))
        return out


def train_learned(ctx: FaceContext, *, factors: tuple[float, ...] = STRENGTH_FACTORS, flips: bool = True,
                  flip_encodings: bool = False, crop_size: int = CROP_SIZE, cv_folds: int = 5,
                  probe_like: bool = True) -> LearnedModel:
    """Fit the learned attacker on the gallery obfuscated as ``ctx.spec`` (and around it).

    Reads ``ctx.gallery``, ``ctx.spec``, ``ctx.scope``, ``ctx.seed`` and extracts through
    ``ctx.encode``; never reads ``ctx.probes`` beyond how their faces were located (manifest
    box or not), never the release pixels or encodings.

    Training data per gallery image: face encodings of the image obfuscated at ``ctx.spec``
    (and of its mirror image when ``flip_encodings``); aligned grey crops at each of
    ``factors`` x the strength (and mirrored when ``flips``). Model choice among encodings,
    pixels and their fusion: rank-1 on held-out gallery images (folds by image, each image's
    variants together), obfuscated at ``ctx.spec``.

    Long: one pass over the gallery variants (strengths, flips) that builds both representations side by side; splitting it would pass its parallel lists around.
    """
    t0 = time.monotonic()
    spec = ctx.spec
    assert spec is not None
    scope = ctx.scope
    no_hint = probe_like and probe_like_hint(ctx)
    imgs = ctx.gallery_images()
    # -- encodings: the gallery run through the release's pipeline (obfuscated, then extracted)
    enc_variants = [spec] + ([f"flip|{spec}"] if flip_encodings else [])
    tasks: list[tuple[int, str, Task, tuple]] = []
    for i, (inf, img) in enumerate(zip(ctx.gallery.info, imgs)):
        if img is None:
            continue
        W = img.shape[1]
        box = tuple(int(v) for v in inf["box"])
        for v in enc_variants:
            flipped = v.startswith("flip|")
            fbox = (W - box[0] - box[2], box[1], box[2], box[3]) if flipped else box
            region = None if scope == "frame" else expand_box(box)
            tasks.append((i, v, Task(inf["path"], inf["sha256"], hint_box=None if no_hint else fbox,
                                     obfuscation=(v, region)), fbox))
    got = ctx.encode([t for _, _, t, _ in tasks], label="learned gallery")
    enc_rows: dict[tuple[int, str], tuple[np.ndarray, tuple[int, int, int, int]]] = {}
    for i, v, t, fbox in tasks:
        r = got[t.key]
        if isinstance(r, str):
            ctx.skipped.append(Skipped(ctx.gallery.ids[i], r, "learned gallery"))
            continue
        j = pick_face(r, t.hint_box, fbox)
        enc_rows[(i, v)] = (r.encodings[j], tuple(int(x) for x in r.boxes[j]))
    # -- pixel crops at each strength, at the box the release pipeline found on the obfuscated image
    pix_variants = strength_variants(spec, factors)
    crops, crop_img, crop_is_spec = [], [], []
    for i, (inf, img) in enumerate(zip(ctx.gallery.info, imgs)):
        if img is None or (i, spec) not in enc_rows:
            continue
        box = tuple(int(v) for v in inf["box"])
        region = None if scope == "frame" else expand_box(box)
        crop_box = enc_rows[(i, spec)][1]
        for v in pix_variants:
            c = aligned_crop(apply_transform(img, v, region), crop_box, size=crop_size)
            crops.append(c)
            crop_img.append(i)
            crop_is_spec.append(v == spec)
            if flips:
                crops.append(c[:, ::-1])
                crop_img.append(i)
                crop_is_spec.append(False)
    labels = list(ctx.gallery.labels)
    enc_keys = sorted(enc_rows)
    Xe = np.array([enc_rows[k][0] for k in enc_keys]).reshape(len(enc_keys), -1)
    ye = np.array([labels[i] for i, _ in enc_keys])
    ge = np.array([i for i, _ in enc_keys])
    Xp = crop_features(np.array(crops).reshape(len(crops), crop_size, crop_size))
    yp = np.array([labels[i] for i in crop_img])
    gp = np.array(crop_img)
    is_spec = np.array(crop_is_spec, dtype=bool)
    identities = sorted(set(ye))
    if len(identities) < 2:
        raise ValueError("fewer than two gallery identities survived the obfuscated extraction")
    cv = _cross_validate(Xe, ye, ge, Xp, yp, gp, is_spec, enc_keys, spec, ctx.seed, cv_folds)
    method = cv["chosen"]
    enc_model = _encoding_model().fit(Xe, ye)
    pix_model = pca_lda(ctx.seed, len(Xp), len(identities)).fit(Xp, yp)
    assert list(enc_model.classes_) == identities and list(pix_model.classes_) == identities
    spec_rows = np.array([v == spec for _, v in enc_keys], dtype=bool)
    return LearnedModel(identities=identities, method=method, enc_model=enc_model, pix_model=pix_model,
                        variants={"encodings": enc_variants, "pixels": pix_variants, "pixels_mirrored": flips},
                        n_train={"encodings": len(Xe), "pixels": len(Xp), "gallery_images": len(set(ge))},
                        cv=cv, crop_size=crop_size, fit_seconds=round(time.monotonic() - t0, 2),
                        fit_inputs={"encodings": Xe.shape, "pixels": Xp.shape},
                        parrot_X=Xe[spec_rows], parrot_y=ye[spec_rows])


def _cross_validate(Xe, ye, ge, Xp, yp, gp, is_spec, enc_keys, spec, seed, folds) -> dict[str, Any]:
    """Rank-1 of each representation on held-out gallery images (grouped by image)."""
    by_id: dict[str, list[int]] = defaultdict(list)
    for g, y in sorted(set(zip(ge.tolist(), ye.tolist()))):
        by_id[y].append(g)
    k = min(folds, min(len(v) for v in by_id.values()))
    if k < 2:
        return {"folds": 0, "chosen": "fused",
                "note": "fewer than two gallery images for some identity: no cross-validation, scores fused"}
    fold_of = {g: n % k for v in by_id.values() for n, g in enumerate(v)}
    rng = np.random.default_rng(seed)
    for v in by_id.values():  # which image lands in which fold: seeded shuffle per identity
        perm = rng.permutation(len(v))
        for n, p in enumerate(perm):
            fold_of[v[p]] = n % k
    fe = np.array([fold_of[g] for g in ge])
    fp = np.array([fold_of[g] for g in gp])
    spec_rows = np.array([v == spec for _, v in enc_keys])
    hits = {"encodings": 0, "pixels": 0, "fused": 0, "parrot": 0}
    n = 0
    for f in range(k):
        tr_e, tr_p = fe != f, fp != f
        if len(set(ye[tr_e])) < 2 or len(set(yp[tr_p])) < 2:
            continue
        em = _encoding_model().fit(Xe[tr_e], ye[tr_e])
        pm = pca_lda(seed, int(tr_p.sum()), len(set(yp[tr_p]))).fit(Xp[tr_p], yp[tr_p])
        te_e = np.flatnonzero((fe == f) & spec_rows)
        te_p = {int(gp[i]): i for i in np.flatnonzero((fp == f) & is_spec)}
        rows = [(i, te_p[int(ge[i])]) for i in te_e if int(ge[i]) in te_p and ye[i] in em.classes_]
        if not rows:
            continue
        ie, ip = (np.array(x) for x in zip(*rows))
        classes = list(em.classes_)
        assert classes == list(pm.classes_)
        se = _log_proba(em, Xe[ie])
        sp = _log_proba(pm, Xp[ip])
        truth = np.array([classes.index(y) for y in ye[ie]])
        tr_spec = tr_e & spec_rows  # the parrot: nearest obfuscated training-image encoding
        sq = _nearest_scores(Xe[ie], Xe[tr_spec], ye[tr_spec], classes)
        for name, s in (("encodings", se), ("pixels", sp), ("fused", se + sp), ("parrot", sq)):
            hits[name] += int((np.argmax(s, axis=1) == truth).sum())
        n += len(rows)
    if n == 0:
        return {"folds": k, "chosen": "fused", "note": "no held-out gallery image could be scored"}
    acc = {name: h / n for name, h in hits.items()}
    # ties prefer the fusion, then encodings, pixels; the parrot's matching only when it is strictly
    # better on the held-out gallery images (face.learned must not be weaker than face.parrot)
    chosen = max(("fused", "encodings", "pixels", "parrot"), key=lambda m: acc[m])
    return {"folds": k, "n_held_out": n, "rank1": acc, "chosen": chosen}


def _release_crops(ctx: FaceContext, *, size: int) -> np.ndarray:
    """Aligned crops of every release face (each file decoded once)."""
    return release_crops(ctx, lambda img, box, inf: aligned_crop(img, box, size=size), (size, size),
                         label="face.learned")


def face_learned(ctx: FaceContext, *, factors: tuple[float, ...] = STRENGTH_FACTORS, flips: bool = True,
                 flip_encodings: bool = False, crop_size: int = CROP_SIZE, probe_like: bool = True) -> AttackResult | None:
    """The learned attacker: :func:`train_learned` on the gallery, then classify the release."""
    if ctx.spec is None:
        ctx.notes.append("face.learned not run: the obfuscation is unknown (declare it with --obfuscation, "
                         "e.g. blur:sigma=6)")
        return None
    method = parse_spec(ctx.spec).method
    if method not in LEARNABLE and not ctx.obfuscated_gallery:
        ctx.notes.append(f"face.learned not run: nothing to learn from a gallery obfuscated with {ctx.spec} "
                         f"(learnable: {', '.join(LEARNABLE)})")
        return None
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    # one BLAS thread: these fits are small, and on a shared machine multi-threaded BLAS
    # spinning against other processes made them 20x slower (measured: SVD of 108x2304)
    with threadpool_limits(1):
        model = train_learned(ctx, factors=factors, flips=flips, flip_encodings=flip_encodings,
                              crop_size=crop_size, probe_like=probe_like)
    crops = _release_crops(ctx, size=model.crop_size) if model.method not in ("encodings", "parrot") else \
        np.zeros((len(ctx.probes), model.crop_size, model.crop_size))
    with threadpool_limits(1):
        scores = model.score(ctx.probes.X, crops)
    sm = ScoreMatrix(scores, list(ctx.probes.ids), list(model.identities), list(ctx.probes.labels))
    cv = model.cv
    cv_txt = (", ".join(f"{k} {v:.0%}" for k, v in cv["rank1"].items()) if "rank1" in cv else cv.get("note", ""))
    notes = [(f"learned attacker: LDA classifiers trained on the gallery obfuscated with {ctx.spec} "
             f"({ctx.spec_source or 'assumed'}; region: {ctx.scope}) and around it "
             f"(crops at {', '.join(model.variants['pixels'])}{', each also mirrored' if flips else ''}); "
             f"representation kept: {model.method} "
             f"(gallery cross-validation rank-1: {cv_txt}); the release was not used to train")]
    if model.method == "parrot":
        notes.append("face.learned fell back to the parrot's matching (nearest obfuscated gallery encoding): "
                     "on held-out gallery images its classifiers did worse than it, and a learned attacker that "
                     "is weaker than the parrot would understate the risk")
    details = {"obfuscation": {"spec": ctx.spec, "source": ctx.spec_source, "scope": ctx.scope},
               "learned": {"method": model.method, "fallback_to_parrot": model.method == "parrot",
                           "variants": model.variants, "n_train": model.n_train,
                           "cv": cv, "crop_size": model.crop_size, "fit_seconds": model.fit_seconds,
                           "classifier": "StandardScaler+LDA(lsqr, auto shrinkage) on encodings; "
                                         "PCA+LDA(lsqr, auto shrinkage) on aligned grey crops",
                           "seed": ctx.seed}}
    return attack_result("face.learned", "face", sm, notes=notes, details=details)


def face_reconstruct(ctx: FaceContext) -> AttackResult | None:
    """Invert ``ctx.spec`` on each release face (or frame), encode, and match the clear gallery."""
    if ctx.spec is None:
        ctx.notes.append("face.reconstruct not run: the obfuscation is unknown (declare it with --obfuscation)")
        return None
    method = parse_spec(ctx.spec).method
    if method not in RECONSTRUCTABLE:
        ctx.notes.append(f"face.reconstruct not run: {ctx.spec} cannot be inverted "
                         f"(reconstructable: {', '.join(RECONSTRUCTABLE)})")
        return None
    text = f"reconstruct:{ctx.spec}"
    by_file: dict[str, list[int]] = defaultdict(list)
    for i, inf in enumerate(ctx.probes.info):
        by_file[inf["file"]].append(i)
    tasks: dict[int, Task] = {}
    for rel, rows in by_file.items():
        try:  # hashed when the release was loaded; else by the context
            path, sha = ctx.release_file(rel, ctx.probes.info[rows[0]].get("sha256"),
                                         ctx.probes.info[rows[0]].get("path"))
        except OSError as e:
            ctx.notes.append(f"face.reconstruct: {rel} could not be read ({e}); its clear-domain encoding is used")
            continue
        for i in rows:
            inf = ctx.probes.info[i]
            box = tuple(int(v) for v in inf["box"])
            region = None if ctx.scope == "frame" else expand_box(box)
            hint = box if inf.get("source") == "manifest_box" else None
            tasks[i] = Task(path, sha, hint_box=hint, obfuscation=(text, region))
    got = ctx.encode(list({t.key: t for t in tasks.values()}.values()), label="reconstructed release")
    X = np.array(ctx.probes.X, copy=True)
    n_fail = n_det = 0
    for i, t in tasks.items():
        r = got[t.key]
        if isinstance(r, str):
            n_fail += 1
            continue
        box = tuple(int(v) for v in ctx.probes.info[i]["box"])
        if len(by_file[ctx.probes.info[i]["file"]]) > 1 or t.hint_box is not None:
            j = int(np.argmax([box_iou(box, b) for b in r.boxes]))
        else:
            j = pick_face(r, None, box)
        n_det += bool(r.sources[j] == "detector")
        X[i] = r.encodings[j]
    n_fail += len(ctx.probes) - len(tasks)
    rec = FeatureSet(X, list(ctx.probes.ids), list(ctx.probes.labels), list(ctx.probes.info))
    from . import reconstruct_choice as rc  # issue 13: the strongest matching on held-out gallery images

    domain, cv, g_encs = rc.compare(ctx)
    _, res = face_naive(rc.matched_gallery(ctx, domain, g_encs), ctx.probes if domain == "parrot" else rec,
                        name="face.reconstruct", **ctx.matching())
    kernel = {"blur": "Wiener deconvolution with the Gaussian kernel", "box": "Wiener deconvolution with the box kernel",
              "pixelate": "smooth de-pixelation (block means resampled bicubically)",
              "noise": "non-local-means denoising"}[method]
    res.notes[0] = (f"reconstruction attacker: {kernel} of {ctx.spec} ({ctx.spec_source or 'assumed'}; "
                    f"region: {ctx.scope}), then clear gallery encodings, nearest identity")
    if n_fail:
        res.notes.append(f"{n_fail} release face(s) could not be reconstructed; their original encodings were used")
    res.details["obfuscation"] = {"spec": ctx.spec, "source": ctx.spec_source, "scope": ctx.scope}
    res.notes.append(rc.describe(domain, cv))
    res.details["reconstruct"] = {"transform": text, "detected_after": n_det, "n": len(ctx.probes),
                                  "failed": n_fail, "matched": domain, "cv": cv}
    if "rank1" in cv[domain]:
        res.metrics.update(cv_rank1=cv[domain]["rank1"], cv_rank1_ci=tuple(cv[domain]["rank1_ci"]),
                           cv_n=cv[domain]["n"])
    return res


class LearnedFace(Attack):
    """``face.learned`` (see :func:`face_learned`); not run, with a note, when the gallery cannot
    be trained on (e.g. too few identities left)."""

    name = "face.learned"

    def _evaluate(self) -> AttackResult | None:
        ctx = self.features
        try:
            if ctx.vendor is not None:  # trained on the vendor's own anonymizer output
                from .vendor_gallery import on_vendor_output

                return on_vendor_output(ctx, face_learned)
            return face_learned(ctx)
        except ValueError as e:  # e.g. too few gallery identities left to train on: skip, say why
            ctx.notes.append(f"face.learned not run: {e}")
            return None


class ReconstructFace(Attack):
    """``face.reconstruct`` (see :func:`face_reconstruct`)."""

    name = "face.reconstruct"

    def _evaluate(self) -> AttackResult | None:
        if self.features.vendor is not None:  # invert the obfuscation fitted to the vendor's own output
            from .vendor_gallery import reconstruct_with_fit

            return reconstruct_with_fit(self.features, face_reconstruct)
        return face_reconstruct(self.features)
