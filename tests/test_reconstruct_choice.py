"""face.reconstruct keeps the strongest of three matchings, chosen on held-out gallery images
(issue 13: a ladder that never steps down below the parrot)."""
from __future__ import annotations

import numpy as np
from test_audit import make_generated

from auditkit.api import run_audit
from auditkit.attacks import reconstruct_choice
from auditkit.attacks.pixels_fallback import parrot_cv
from auditkit.attacks.reconstruct_choice import choose_domain, describe, nearest_cv
from auditkit.config import AuditConfig

N_IDS, PER = 8, 4


def _labels():
    return [f"id{k}" for k in range(N_IDS) for _ in range(PER)]


def _encodings(spread: float, shift: float = 0.0, seed: int = 0):
    """Per identity a centre in 16-d, each image the centre plus noise; ``shift`` moves every
    encoding by the same offset (a domain change, e.g. reconstruction artefacts)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, size=(N_IDS, 16))
    off = np.full(16, shift)
    return [centres[k] + off + rng.normal(0, spread, 16) for k in range(N_IDS) for _ in range(PER)]


def test_same_domain_cv_equals_the_parrot_cv_on_the_same_folds():
    labels = _labels()
    for spread in (0.05, 1.0, 5.0):
        e = _encodings(spread)
        a = nearest_cv(e, e, labels, cv_folds=3, seed=1)
        b = parrot_cv(e, labels, [True] * len(labels), cv_folds=3, seed=1)
        assert (a["hits"], a["n"], a["folds"]) == (b["hits"], b["n"], b["folds"])


def test_a_domain_change_is_measured_across_domains_not_within():
    labels = _labels()
    clear = _encodings(0.05)
    # reconstruction that keeps who is who but shrinks every face towards a common one: against the
    # clear gallery the nearest centre is the smallest one, whoever the person; within its own domain
    # the people stay apart
    rec = [0.2 * c + np.random.default_rng(i).normal(0, 0.01, 16) for i, c in enumerate(clear)]
    across = nearest_cv(rec, clear, labels, cv_folds=2, seed=0)
    within = nearest_cv(rec, rec, labels, cv_folds=2, seed=0)
    assert across["n"] == within["n"] == len(labels)
    assert within["rank1"] > 0.9 and across["rank1"] < 0.5
    assert choose_domain({"clear": across, "reconstructed": within}) == "reconstructed"


def test_missing_test_encoding_is_a_miss_and_missing_reference_is_left_out():
    labels = _labels()
    e = _encodings(0.05)
    t = list(e)
    t[0] = None
    got = nearest_cv(t, e, labels, cv_folds=2, seed=0)
    assert got["n"] == len(labels) and got["hits"] == len(labels) - 1 and got["without_encoding"] == 1
    r = list(e)
    r[0] = None
    got = nearest_cv(e, r, labels, cv_folds=2, seed=0)
    assert got["n"] == len(labels) and got["hits"] == len(labels)


def test_choice_strictly_better_and_ties_keep_the_earlier():
    assert choose_domain({"clear": {"rank1": 0.5}, "reconstructed": {"rank1": 0.5}, "parrot": {"rank1": 0.5}}) == "clear"
    assert choose_domain({"clear": {"rank1": 0.5}, "reconstructed": {"rank1": 0.6}, "parrot": {"rank1": 0.6}}) \
        == "reconstructed"
    assert choose_domain({"clear": {"rank1": 0.2}, "reconstructed": {"rank1": 0.1}, "parrot": {"rank1": 0.7}}) == "parrot"
    assert choose_domain({"clear": {"note": "no cross-validation"}, "parrot": {"rank1": 0.1}}) == "parrot"
    assert choose_domain({}) == "clear"
    txt = describe("parrot", {"clear": {"rank1": 0.2, "rank1_ci": [0.1, 0.3], "n": 30},
                              "parrot": {"rank1": 0.7, "rank1_ci": [0.5, 0.8], "n": 30}})
    assert "parrot 70.0%" in txt and "clear 20.0%" in txt and "reconstructed: not measured" in txt


def _audit(tmp_path, **kw):
    g, r = make_generated(tmp_path, n_ids=4)
    cfg = AuditConfig.from_flat(release=r, gallery=g, out=tmp_path / "out", cache_dir=tmp_path / "cache",
                                attacks="face.parrot,face.reconstruct", obfuscation="blur:sigma=2",
                                obfuscation_scope="frame", progress=False, population_sizes=(), linkage=False, **kw)
    res = run_audit(cfg)
    return {a.name: a for a in res.attacks}


def test_audit_records_the_choice_and_a_parrot_choice_scores_as_the_parrot(tmp_path, monkeypatch):
    by = _audit(tmp_path / "a")
    rd = by["face.reconstruct"].details["reconstruct"]
    assert rd["matched"] in reconstruct_choice.DOMAINS and set(rd["cv"]) == set(reconstruct_choice.DOMAINS)
    assert any("face.reconstruct kept" in n for n in by["face.reconstruct"].notes)
    # forced to the parrot's matching, the rung scores exactly what face.parrot scores
    monkeypatch.setattr(reconstruct_choice, "choose_domain", lambda cv: "parrot")
    by = _audit(tmp_path / "b", reuse_results=False)
    assert by["face.reconstruct"].details["reconstruct"]["matched"] == "parrot"
    assert by["face.reconstruct"].metrics["rank1"] == by["face.parrot"].metrics["rank1"]
    assert by["face.reconstruct"].metrics["n_probes"] == by["face.parrot"].metrics["n_probes"]
