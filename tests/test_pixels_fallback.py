"""face.pixels' fallback to the parrot's matching (issue 13): chosen on the gallery alone, by
cross-validation on the pixel attacker's own folds, only when strictly stronger."""
from __future__ import annotations

import numpy as np

from auditkit.attacks.pixel_models import fit_pixel_attacker
from auditkit.attacks.pixels_fallback import nearest_scores, parrot_cv, prefer_parrot

N_IDS, PER = 8, 4


def _labels():
    return [f"id{k}" for k in range(N_IDS) for _ in range(PER)]


def _encodings(spread: float, seed: int = 0):
    """Per identity a centre in 16-d, each image the centre plus noise of ``spread``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, size=(N_IDS, 16))
    return [centres[k] + rng.normal(0, spread, 16) for k in range(N_IDS) for _ in range(PER)]


def _noise_images(seed: int = 0):
    """Images that carry no identity at all: a pixel classifier can only be at chance on them."""
    rng = np.random.default_rng(seed)
    return [np.repeat(rng.integers(0, 255, (40, 32), dtype=np.uint8)[..., None], 3, axis=2)
            for _ in range(N_IDS * PER)]


def test_weak_pixels_strong_encoder_falls_back_to_the_parrot():
    labels = _labels()
    imgs = _noise_images()
    att = fit_pixel_attacker(imgs, [None] * len(imgs), labels, "blur:sigma=2", candidates=["pca_lda"],
                             n_variants=2, cv_folds=2, crop_shape=(16, 20), seed=0)
    pix = att.cv["candidates"]["pca_lda"]
    pcv = parrot_cv(_encodings(0.05), labels, [True] * len(labels), cv_folds=2, seed=0)
    # the same held-out gallery images as the pixel attacker's cross-validation
    assert pcv["folds"] == att.cv["folds"] == 2 and pcv["n"] == pix["n"] == len(labels)
    assert pcv["rank1"] > 0.95 and pix["rank1"] < 0.5
    assert prefer_parrot(pix, pcv)


def test_strong_pixels_keep_the_classifier_and_ties_keep_it():
    labels = _labels()
    weak = parrot_cv(_encodings(50.0), labels, [True] * len(labels), cv_folds=2, seed=0)
    assert weak["rank1"] < 0.5
    assert not prefer_parrot({"rank1": 0.9}, weak)
    assert not prefer_parrot({"rank1": weak["rank1"]}, weak)  # a tie keeps the pixel classifier
    assert not prefer_parrot({"rank1": 0.1}, {"folds": 1, "note": "no cross-validation"})


def test_missing_encoding_counts_as_a_miss_and_is_not_matched_against():
    labels = _labels()
    encs = _encodings(0.05)
    encs[0] = None  # the obfuscated gallery image gave no encoding
    pcv = parrot_cv(encs, labels, [True] * len(labels), cv_folds=2, seed=0)
    assert pcv["n"] == len(labels) and pcv["hits"] == len(labels) - 1 and pcv["without_encoding"] == 1
    # an unusable (undecodable) image is neither held out nor trained on
    usable = [True] * len(labels)
    usable[1] = False
    assert parrot_cv(_encodings(0.05), labels, usable, cv_folds=2, seed=0)["n"] == len(labels) - 1


def test_nearest_scores_rank_by_the_nearest_row_and_mark_absent_identities():
    G = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 3.0]])
    s = nearest_scores(np.array([[0.0, 2.0]]), G, np.array(["a", "b", "a"]), ["a", "b", "c"])
    assert np.allclose(s[0, :2], [-1.0, -np.hypot(10, 2)]) and s[0, 2] == -np.inf
