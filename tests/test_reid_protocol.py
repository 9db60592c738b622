"""`evaluate reid` under the published protocol: distractors in the gallery (issue 14).

PRID 2011's protocol tests 100 camera-A probes against all 649 camera-B identities (the 100 plus
549 people camera A never saw); VIPeR and CUHK01 have no such people, so distractors are drawn
from the subjects seen by both cameras (``distractor_subjects``)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image
from test_appearance import _render, _subject_colours, _write_two_camera_set

from auditkit.evaluate import evaluate_reid


def _add_gallery_only(manifest: Path, n: int, *, seed: int) -> Path:
    """Append ``n`` people seen by camera B only (PRID 2011's distractors)."""
    rng = np.random.default_rng(seed)
    root = manifest.parent
    rows = []
    for i in range(n):
        path = f"img/only_b_{i:03d}.png"
        Image.fromarray(_render(_subject_colours(rng), rng, gain=np.array([0.7, 0.8, 1.1]))).save(root / path)
        rows.append({"path": path, "subject": f"b{i:03d}", "camera": "cam_b"})
    with open(manifest, "a", newline="") as f:
        csv.DictWriter(f, ["path", "subject", "camera"]).writerows(rows)
    return manifest


@pytest.fixture(scope="module")
def prid_like(tmp_path_factory):
    root = tmp_path_factory.mktemp("prid_like")
    return _add_gallery_only(_write_two_camera_set(root, 40, seed=5), 30, seed=6)


def test_published_protocol_puts_gallery_only_people_in_the_gallery(prid_like):
    pub = evaluate_reid(prid_like, repeats=2, random_state=0)
    shared = evaluate_reid(prid_like, repeats=2, random_state=0, protocol="shared")
    # 40 people seen by both cameras: 20 train, 20 test; the 30 camera-B-only people join the gallery
    assert pub["protocol"]["n_gallery_only_distractors"] == 30
    assert pub["attack"].n_identities == 50 and shared["attack"].n_identities == 20
    assert pub["attack"].metrics["chance_rank1"] == pytest.approx(1 / 50)
    assert shared["attack"].metrics["chance_rank1"] == pytest.approx(1 / 20)
    # the shared protocol leaves the camera-B-only people out (and says so); the published one uses them
    assert sum("one camera only" in s.reason for s in shared["skipped"]) == 30
    assert not any("one camera only" in s.reason for s in pub["skipped"])
    # same splits, same metric: a larger gallery can only push the true identity down the ranking
    for p, s in zip(pub["splits"], shared["splits"]):
        assert p["n_probes"] == s["n_probes"] == 20 and p["n_distractors"] == 30 and s["n_distractors"] == 0
        assert p["rank1"] <= s["rank1"] + 1e-12 and p["rank5"] <= s["rank5"] + 1e-12
    assert pub["attack"].metrics["rank1"] > 5 * pub["attack"].metrics["chance_rank1"]
    assert any("30 seen by the gallery camera only" in n for n in pub["attack"].notes)


def test_distractor_subjects_are_kept_out_of_training_and_testing(tmp_path):
    manifest = _write_two_camera_set(tmp_path, 40, seed=5)
    r = evaluate_reid(manifest, repeats=2, random_state=0, distractor_subjects=10)
    p = r["protocol"]
    assert (p["n_train_subjects"], p["n_test_subjects"], p["n_distractor_subjects"]) == (15, 15, 10)
    assert r["attack"].n_identities == 25 and r["attack"].metrics["chance_rank1"] == pytest.approx(1 / 25)
    for s in r["splits"]:
        assert (s["n_probes"], s["n_identities"], s["n_distractors"]) == (15, 25, 10)
    # without distractors the manifest gives the shared protocol (VIPeR/CUHK01 have no gallery-only people)
    plain = evaluate_reid(manifest, repeats=1, random_state=0)
    shared = evaluate_reid(manifest, repeats=1, random_state=0, protocol="shared")
    assert plain["splits"] == shared["splits"]


def test_protocol_options_are_checked(tmp_path):
    manifest = _write_two_camera_set(tmp_path, 8, seed=1)
    with pytest.raises(ValueError, match="protocol must be"):
        evaluate_reid(manifest, protocol="prid")
    with pytest.raises(ValueError, match="needs protocol 'published'"):
        evaluate_reid(manifest, protocol="shared", distractor_subjects=2)
    with pytest.raises(ValueError, match="besides the 6 distractor"):
        evaluate_reid(manifest, distractor_subjects=6)


@pytest.mark.parametrize("name", ["viper", "cuhk01_subset"])
def test_shared_two_camera_sets_with_distractor_subjects(name):
    root = shared_dataset(name)
    r = evaluate_reid(root / "manifest.csv", repeats=1, random_state=0, max_subjects=120, distractor_subjects=40)
    m = r["attack"].metrics
    assert r["attack"].n_identities == 80 and r["protocol"]["n_test_subjects"] == 40
    assert m["chance_rank1"] == pytest.approx(1 / 80)
    assert m["rank1"] > 5 * m["chance_rank1"]


def test_cli_evaluate_reid_protocol_options(prid_like, tmp_path, capsys):
    import json

    from auditkit.cli import main

    out = tmp_path / "o"
    assert main(["evaluate", "reid", str(prid_like), "--repeats", "1", "--distractor-subjects", "4",
                 "--out", str(out), "--quiet"]) == 0
    r = json.loads((out / "results.json").read_text())
    p = r["evaluation"]["protocol"]
    assert (p["gallery"], p["n_gallery_only_distractors"], p["n_distractor_subjects"]) == ("published", 30, 4)
    assert p["n_gallery_identities"] == 18 + 4 + 30 and r["parameters"]["distractor_subjects"] == 4
    assert "distractors" in r["evaluation"]["description"]
    assert main(["evaluate", "reid", str(prid_like), "--protocol", "shared", "--distractor-subjects", "2",
                 "--out", str(tmp_path / "o2"), "--quiet"]) == 2
    assert "needs protocol 'published'" in capsys.readouterr().err
