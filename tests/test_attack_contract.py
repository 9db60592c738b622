"""The one attack contract: construct, evaluate() returns self, then result(); result() first is an error."""
from __future__ import annotations

import numpy as np
import pytest

from auditkit.attacks.base import FeatureSet
from auditkit.attacks.context import FACE_ATTACKS, register
from auditkit.attacks.contract import Attack, FunctionAttack, NotEvaluatedError
from auditkit.attacks.face import NaiveFace
from auditkit.attacks.registry import face_attack_names


class _Ctx:
    """The part of a FaceContext that face.naive reads: encodings, labels, where matching runs."""

    def __init__(self):
        g = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
        self.gallery = FeatureSet(g, ["g0", "g1", "g2", "g3"], ["a", "a", "b", "b"])
        self.probes = FeatureSet(np.array([[0.05, 0.0], [5.0, 5.1]]), ["p0", "p1"], ["a", "b"])

    def matching(self):
        return {"executor": "local", "scheduler": None, "jobs": 1}


def test_result_before_evaluate_names_the_call_to_make():
    attack = NaiveFace(_Ctx())
    with pytest.raises(NotEvaluatedError, match=r"call evaluate\(\) before result\(\)"):
        attack.result()
    assert attack.evaluate() is attack
    res = attack.result()
    assert res.name == "face.naive" and res.metrics["rank1"] == 1.0 and res.metrics["chance_rank1"] == 0.5
    assert NaiveFace.run(_Ctx()).metrics == res.metrics


def test_function_attack_and_registry_take_one_line():
    fa = FunctionAttack("toy", lambda feats, *, k: None if feats is None else k, 3, k=2)
    assert fa.evaluate().result() == 2
    assert face_attack_names()[:5] == ("face.naive", "face.parrot", "face.pixels", "face.learned", "face.reconstruct")
    assert FACE_ATTACKS["face.naive"] == NaiveFace.run

    class Twice(Attack):
        name = "face.naive"

        def _evaluate(self):
            return None

    with pytest.raises(ValueError, match="registered twice"):
        register("face.naive", Twice)


def test_table_attacks_follow_the_contract():
    import pandas as pd

    from auditkit.attacks.tables import ExactLinkage, exact_linkage

    people = pd.DataFrame({"subject": [f"p{i}" for i in range(40)], "zip": [f"z{i % 8}" for i in range(40)],
                           "sex": ["f", "m"] * 20})
    attack = ExactLinkage(people, people, ["zip", "sex"], id_col="subject", random_state=1)
    with pytest.raises(NotEvaluatedError):
        attack.result()
    got = attack.evaluate().result()
    want = exact_linkage(people, people, ["zip", "sex"], id_col="subject", random_state=1)
    assert got.name == "linkage.exact" and got.to_dict() == want.to_dict()
    # zip x sex: 8 classes of 5 identical records, an exact link is right 1 time in 5
    assert got.metrics["success_rate"] == pytest.approx(0.2)
