"""Face attacks. ``face.naive``: clear gallery encodings vs the de-identified release."""
from __future__ import annotations

import numpy as np

from ..result import AttackResult
from ..scores import ScoreMatrix
from .base import FeatureSet, attack_result, identity_scores

__all__ = ["face_naive", "face_parrot", "MATCH_DISTANCE"]

#: face_recognition's conventional same-person distance threshold.
MATCH_DISTANCE = 0.6


def face_parrot(gallery_obfuscated: FeatureSet, probes: FeatureSet, *, spec: str, source: str,
                scope: str) -> tuple[ScoreMatrix, AttackResult]:
    """Parrot attack (Newton, Sweeney & Malin 2005): the attacker applies the release's own
    obfuscation to the gallery and matches in the obfuscated domain."""
    sm, res = face_naive(gallery_obfuscated, probes, name="face.parrot")
    res.notes[0] = (f"parrot attacker: gallery obfuscated with {spec} ({source}; region: {scope}) and "
                    "matched to the release with the same face encodings")
    res.details["obfuscation"] = {"spec": spec, "source": source, "scope": scope}
    return sm, res


def face_naive(gallery: FeatureSet, probes: FeatureSet, *, name: str = "face.naive") -> tuple[ScoreMatrix, AttackResult]:
    """Match every release face against the clear gallery (best match per identity)."""
    if len(gallery) == 0:
        raise ValueError("no gallery face encodings: nothing to match against")
    scores, identities = identity_scores(probes.X, gallery.X, list(gallery.labels))
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
        from ..stats import wilson_interval

        res.metrics["rank1_within_0.6"] = float(ok.mean())
        res.metrics["rank1_within_0.6_ci"] = wilson_interval(int(ok.sum()), len(mated))
    return sm, res
