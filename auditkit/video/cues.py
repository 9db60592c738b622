"""The video cue attacks under the attack contract (:mod:`auditkit.attacks.contract`).

Each cue attack is constructed with the release tracks' features and the gallery samples
(:class:`CueFeatures`), ``evaluate()`` scores every release track against every gallery
identity (``scores``: ``-inf`` where a track has no sample of the cue), learns the cue's fusion
weight on gallery cross-validation only, and ``result()`` gives the
:class:`~auditkit.result.AttackResult` (``None`` when the cue could not run; ``notes`` say why).
:class:`FusedCue` takes the evaluated cue attacks.
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..attacks.base import FeatureSet, attack_result, identity_scores
from ..attacks.contract import Attack
from ..features.appearance import DESCRIPTOR_VERSION, AppearanceMetric
from ..features.gait import GEI_SIZE, GaitModel
from ..result import AttackResult
from ..scoring.scores import ScoreMatrix
from .clips import TrackFeatures
from .fusion import (
    _app_fit_score,
    _cv_scores,
    _face_fit_score,
    _finite,
    _gait_fit_score,
    _logistic_weight,
    _per_identity_max,
    _zrows,
)
from .gallery import _GallerySamples

__all__ = ["AppearanceCue", "CueFeatures", "FaceVideoCue", "FusedCue", "GaitCue"]


@dataclass
class CueFeatures:
    """What the video cue attacks work on: release tracks and gallery samples (arrays only)."""

    tracks: list[TrackFeatures]
    gallery: _GallerySamples
    identities: list[str]
    face_gallery: FeatureSet | None = None
    face_rows: list[int] | None = None  # gallery face rows found by the detector (not fallbacks)

    @property
    def probes(self) -> list[str]:
        return [t.probe_id for t in self.tracks]

    @property
    def truth(self) -> list[str | None]:
        return [t.subject for t in self.tracks]


class CueAttack(Attack):
    """One cue: ``scores`` and ``rows`` after ``evaluate()``, its learned ``weight`` and ``cv``."""

    cue = ""

    def __init__(self, features: CueFeatures, /, **options: Any) -> None:
        super().__init__(features, **options)
        self.scores: np.ndarray | None = None
        self.rows: np.ndarray | None = None
        self.weight: float | None = None
        self.cv: dict[str, Any] | None = None
        self.cue_notes: list[str] = []

    def _learn_weight(self, X: np.ndarray, y: list[str], groups: list[str], fit_score, **kw: Any) -> None:
        gen, imp, how = _cv_scores(X, y, groups, fit_score, **kw)
        self.weight = _logistic_weight(gen, imp)
        self.cv = {"genuine": len(gen), "impostor": len(imp), "grouping": how}

    def _evaluate(self) -> AttackResult | None:
        self._score()
        if self.scores is None or not self.rows.any():
            return None
        f, S, r = self.features, self.scores, self.rows
        n, identities = len(f.tracks), f.identities
        # columns: the identities the gallery holds samples of for this cue; a track whose person
        # has none is scored open-set (non-mated), not as a certain miss
        cols = np.flatnonzero(np.isfinite(S[r]).any(axis=0)) if r.any() else np.arange(len(identities))
        sm = ScoreMatrix(_finite(S[r][:, cols]), [p for p, k in zip(f.probes, r) if k],
                         [identities[j] for j in cols], [t for t, k in zip(f.truth, r) if k])
        nn = list(self.cue_notes)
        if len(cols) < len(identities):
            nn.append(f"{len(identities) - len(cols)} of {len(identities)} gallery identities have no {self.cue} "
                      f"sample; the {len(cols)} that do are the candidates")
        if int(r.sum()) < n:
            nn.append(f"{n - int(r.sum())} of {n} release tracks have no {self.cue} sample and are not probes of "
                      "this cue")
        return attack_result(self.name, self.cue, sm, notes=nn, details={"video": True, "gallery_cv": self.cv})

    def _score(self) -> None:
        raise NotImplementedError


class AppearanceCue(CueAttack):
    """``appearance``: LOMO+LAB descriptors, XQDA learned on the gallery. Options: ``applied``,
    ``applied_region``, ``source`` (the obfuscation re-applied to gallery crops, for the notes)."""

    name, cue = "appearance", "appearance"

    def _score(self) -> None:
        f, gs = self.features, self.features.gallery
        n, identities, tracks = len(f.tracks), f.identities, f.tracks
        if not (len(set(gs.app_y)) >= 2 and any(c > 1 for c in Counter(gs.app_y).values())):
            self.cue_notes.append("appearance: the gallery has no two identities with person crops or clip tracks "
                                  "(and one with two samples) to learn the metric; not run")
            return
        Xg = np.stack(gs.app_X).astype(np.float64)
        rows = np.array([len(t.appearance) > 0 for t in tracks], bool)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            metric = AppearanceMetric().fit(Xg, gs.app_y)
        S = np.full((n, len(identities)), -np.inf)
        if rows.any():
            P = np.stack([t.appearance.astype(np.float64).mean(axis=0) for t in tracks if len(t.appearance)])
            S[rows] = _per_identity_max(metric.similarity(P, Xg), gs.app_y, identities)
        self.scores, self.rows = S, rows
        self._learn_weight(Xg, gs.app_y, gs.app_g, _app_fit_score)
        self.cue_notes.append(
            f"Descriptor {DESCRIPTOR_VERSION} (LOMO HSV+SILTP max-occurrence, LAB stripes) per track: mean of the "
            f"chunk means of up to 16 crops; XQDA learned on {len(gs.app_X)} gallery samples of "
            f"{len(set(gs.app_y))} identities ({gs.images_used} person-crop images, "
            f"{len(gs.app_X) - gs.images_used} clip chunks); score = best gallery sample per identity.")
        applied = self.options.get("applied")
        if applied:
            self.cue_notes.append(f"The attacker re-applied {applied} ({self.options.get('source')}) to the "
                                  f"{self.options.get('applied_region')} of every gallery person crop, as the "
                                  "release did.")


class GaitCue(CueAttack):
    """``gait``: GEIs, PCA+LDA learned on the gallery. Options: ``seed``, ``gait_frames``, ``min_gait_fps``."""

    name, cue = "gait", "gait"

    def _score(self) -> None:
        f, gs, o = self.features, self.features.gallery, self.options
        n, identities, tracks = len(f.tracks), f.identities, f.tracks
        if len(set(gs.gait_y)) < 2:
            self.cue_notes.append(f"gait: fewer than two gallery identities have a gait sample (a clip track with "
                                  f"{o['gait_frames']} consecutive frames at >= {o['min_gait_fps']:g} frames/s); "
                                  "not run")
            return
        G = np.stack(gs.gait_X).astype(np.float64)
        rows = np.array([len(t.gait) > 0 for t in tracks], bool)
        with warnings.catch_warnings():  # sklearn warns about identities with one gait sample
            warnings.simplefilter("ignore", UserWarning)
            model = GaitModel(random_state=o["seed"]).fit(G, gs.gait_y)
        S = np.full((n, len(identities)), -np.inf)
        cols = [model.classes_.index(i) if i in model.classes_ else -1 for i in identities]
        for i, t in enumerate(tracks):
            if len(t.gait):
                s = model.similarity(t.gait.astype(np.float64)).mean(axis=0)
                S[i] = [s[c] if c >= 0 else -np.inf for c in cols]
        self.scores, self.rows = S, rows
        self._learn_weight(G, gs.gait_y, gs.gait_g, _gait_fit_score)
        self.cue_notes.append(
            f"GEI {GEI_SIZE[0]}x{GEI_SIZE[1]} per chunk of {o['gait_frames']} frames (MOG2 silhouettes inside the "
            f"track boxes); PCA+LDA learned on {len(G)} gallery GEIs of {len(set(gs.gait_y))} identities; "
            "a track's score is its chunks' mean cosine similarity to each identity's mean.")


class FaceVideoCue(CueAttack):
    """``face.video``: faces leaked in release tracks against the detected gallery face photos."""

    name, cue = "face.video", "face"

    def _score(self) -> None:
        f = self.features
        n, identities, tracks = len(f.tracks), f.identities, f.tracks
        rows = np.array([len(t.faces) > 0 for t in tracks], bool)
        fg, ok = f.face_gallery, f.face_rows or []
        if ok and len({fg.labels[i] for i in ok}) >= 2 and rows.any():
            FX = fg.X[ok]
            FY = [fg.labels[i] for i in ok]
            S = np.full((n, len(identities)), -np.inf)
            for i, t in enumerate(tracks):
                if len(t.faces):
                    s, idents = identity_scores(t.faces, FX, FY)
                    best = s.max(axis=0)
                    S[i] = [best[idents.index(x)] if x in idents else -np.inf for x in identities]
            self.scores, self.rows = S, rows
            g = [f"{FY[k]}:{k}" for k in range(len(FY))]
            self._learn_weight(FX, FY, g, _face_fit_score, k=min(3, len(FY)))
            self.cue_notes.append(f"Faces leaked in {int(rows.sum())} release track(s), encoded and matched to "
                                  f"{len(FX)} detected gallery faces of {len(set(FY))} identities (best leak per "
                                  "identity).")
        elif not rows.any():
            self.cue_notes.append("face.video: no face found in any release track; not run (see the leak list)")
        else:
            self.cue_notes.append("face.video: the gallery has no detected face photos of two identities or "
                                  "more; not run")


class FusedCue(Attack):
    """``fused``: per-cue row z-scores, each weighted by its gallery-learned logistic weight, summed
    over the cues a track has. Features: the evaluated cue attacks that scored; ``video_notes``
    collects what the video section says about the fusion."""

    name = "fused"

    def __init__(self, cues: list[CueAttack], features: CueFeatures, /, **options: Any) -> None:
        super().__init__((cues, features), **options)
        self.video_notes: list[str] = []
        self.weights: dict[str, float] | None = None

    def _evaluate(self) -> AttackResult | None:
        cues, f = self.features
        used = [c.cue for c in cues]
        by = {c.cue: c for c in cues}
        n, identities = len(f.tracks), f.identities
        w = {c: by[c].weight for c in used}
        missing = [c for c, v in w.items() if v is None]
        if missing:
            if len(missing) == len(w):
                self.video_notes.append("fused: the gallery gives no cross-validation pairs for any cue; the cues "
                                        "are summed with equal weights (1)")
                w = {c: 1.0 for c in w}
            else:
                self.video_notes.append(f"fused: the gallery gives no cross-validation pairs for {', '.join(missing)}, "
                                        "so its reliability cannot be learned; it gets weight 0 in the fusion")
                w = {c: (v if v is not None else 0.0) for c, v in w.items()}
        F = np.zeros((n, len(identities)))
        anyrow = np.zeros(n, bool)
        for c in used:
            F += w[c] * _zrows(by[c].scores)
            anyrow |= by[c].rows
        sm = ScoreMatrix(F[anyrow], [p for p, k in zip(f.probes, anyrow) if k], identities,
                         [t for t, k in zip(f.truth, anyrow) if k])
        # each cue as its own attack scored it (same probes, same candidate identities, open set)
        per_cue = {}
        for c in used:
            ca = by[c].result()
            per_cue[c] = {"attack": ca.name, "n_probes": ca.n_probes, "n_mated": ca.metrics.get("n_mated"),
                          "rank1": ca.metrics.get("rank1"), "rank1_ci": ca.metrics.get("rank1_ci"),
                          "chance_rank1": ca.metrics.get("chance_rank1")}
        cv_info = {c: by[c].cv for c in used if by[c].cv is not None}
        fn = [f"Score-level fusion of {', '.join(used)}: each cue's scores z-normalised over the identities per "
              "track, weighted by the slope of a logistic regression of genuine vs impostor gallery pairs "
              "(gallery-only cross-validation: " + "; ".join(f"{c} {cv_info[c]['grouping']}" for c in used if c in cv_info)
              + "), summed over the cues a track has.",
              "Weights: " + ", ".join(f"{c} {w[c]:.3f}" for c in used) + "."]
        if len(used) == 1:
            fn.append(f"Only one cue ({used[0]}) is available: the fused ranking equals it.")
        self.weights = w
        return attack_result("fused", "fused", sm, notes=fn,
                             details={"video": True, "weights": w, "cues": used, "single_cues": per_cue})
