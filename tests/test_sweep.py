"""Strength sweep (issue 3): recommendation logic on hand-made curves, a tiny real sweep, and
the report partial."""
from __future__ import annotations

import json
import shutil

import pytest

from auditkit.scoring.stats import advantage_interval, wilson_interval
from auditkit.sweep import recommend, run_sweep


def _pt(strength: float, hits: dict[str, int], *, n: int = 20, chance: float = 0.1) -> dict:
    """One sweep point built by hand: attack -> number of rank-1 hits out of n."""
    attacks = {}
    for name, k in hits.items():
        ci = wilson_interval(k, n)
        attacks[name] = {"rank1": k / n, "rank1_ci": list(ci), "advantage": (k / n - chance) / (1 - chance),
                         "advantage_ci": list(advantage_interval(ci, chance)), "n": n}
    best = max(attacks, key=lambda a: attacks[a]["rank1"])
    return {"strength": strength, "spec": f"blur:sigma={strength:g}", "n_probes": n, "chance": chance,
            "attacks": attacks, "strongest": {"name": best, **attacks[best]}}


def test_recommendation_is_the_first_strength_where_every_advantage_interval_reaches_zero():
    # n=20, chance 0.1: 5 hits -> Wilson lower 0.112 > 0.1 (above chance); 4 hits -> 0.081 <= 0.1
    assert wilson_interval(5, 20)[0] > 0.1 >= wilson_interval(4, 20)[0]
    pts = [_pt(2, {"naive": 2, "learned": 15}), _pt(6, {"naive": 1, "learned": 5}),
           _pt(8, {"naive": 1, "learned": 4}), _pt(12, {"naive": 0, "learned": 2})]
    rec = recommend("blur", pts)
    assert rec["strength"] == 8 and rec["attack"] == "learned" and rec["spec"] == "blur:sigma=8"
    assert rec["not_monotone_at"] == []
    assert "not proof of anonymity" in rec["statement"] and "20 probes" in rec["statement"]


def test_recommendation_says_none_does_and_flags_non_monotone_curves():
    rec = recommend("pixelate", [_pt(4, {"naive": 9, "learned": 18}), _pt(8, {"naive": 3, "learned": 6})])
    assert rec["strength"] is None and rec["spec"] is None
    assert rec["statement"].startswith("None of the tested pixelate strengths (4, 8)")
    assert "learned still re-identifies 30.0%" in rec["statement"]
    rec = recommend("blur", [_pt(4, {"a": 3}), _pt(6, {"a": 8}), _pt(8, {"a": 0})])
    assert rec["strength"] == 4 and rec["not_monotone_at"] == [6]
    assert "Not monotone" in rec["statement"]


@pytest.mark.parametrize("kwargs, match", [
    ({"families": ("swirl",)}, "unknown obfuscation family 'swirl'"),
    ({"families": ("blur", "pixelate"), "strengths": [2, 4]}, "only allowed with one family"),
    ({"families": ("blur",), "strengths": {"pixelate": [4]}}, "no strengths given for family 'blur'"),
    ({"scope": "body"}, "scope must be 'frame' or 'face'"),
    ({"n_calibration": 0}, "n_calibration must be >= 1"),
])
def test_bad_sweep_options_are_named(tmp_path, kwargs, match):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match=match):
        run_sweep(tmp_path, progress=False, **kwargs)


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory, feature_cache_dir):
    from conftest import shared_dataset

    src = shared_dataset("att_orl_faces")
    faces = tmp_path_factory.mktemp("sweep-faces")
    for s in range(1, 7):  # 6 identities x 5 images: 3 calibration + 2 probes each
        (faces / f"s{s}").mkdir()
        for k in range(1, 6):
            shutil.copy(src / f"s{s}" / f"{k}.pgm", faces / f"s{s}" / f"{k}.pgm")
    return run_sweep(faces, families=("blur",), strengths={"blur": [2, 16]}, n_calibration=3,
                     cache_dir=feature_cache_dir, progress=False, seed=0)


def test_tiny_sweep_curve(tiny_sweep):
    res = tiny_sweep
    json.dumps(res, allow_nan=True)  # JSON-ready
    assert res["schema"] == "auditkit.sweep/1"
    assert res["split"]["identities"] == 6 and res["split"]["calibration_images"] == 18
    assert res["split"]["probe_images"] == 12
    pts = res["families"]["blur"]["points"]
    assert [p["strength"] for p in pts] == [2.0, 16.0]
    for p in pts:
        assert p["chance"] == pytest.approx(1 / 6) and p["n_probes"] == 12
        assert list(p["attacks"]) == ["face.naive", "face.parrot", "face.pixels", "face.learned", "face.reconstruct"]
        for a in p["attacks"].values():
            k = round(a["rank1"] * 12)
            assert a["rank1_ci"] == pytest.approx(list(wilson_interval(k, 12)))
            assert a["advantage_ci"] == pytest.approx(list(advantage_interval(wilson_interval(k, 12), 1 / 6)))
        assert p["strongest"]["rank1"] == max(a["rank1"] for a in p["attacks"].values())
        # issue 15: a point knows its obfuscation, so the estimate's gallery calibration is left out, and said
        assert p["estimate"] is None or p["estimate"]["calibrated"] is False
    assert any(p["estimate"] for p in pts)
    # mild blur leaves 6 people easy to tell apart for the strongest attacker
    assert pts[0]["strongest"]["rank1_ci"][0] > 1 / 6
    rec = res["families"]["blur"]["recommendation"]
    assert rec == recommend("blur", pts)
    curve = res["curve"]["blur"]
    assert curve["x"] == [2.0, 16.0] and curve["param"] == "sigma"
    assert curve["series"]["face.learned"]["rank1"] == [p["attacks"]["face.learned"]["rank1"] for p in pts]
    assert res["recommendations"] == [rec["statement"]]


def test_sweep_partial_renders_escaped(tiny_sweep):
    from auditkit.report.environment import environment

    env = environment()
    tmpl = env.get_template("partials/sweep.html.j2")
    html = tmpl.render(sweep=tiny_sweep)
    assert "Privacy curve" in html and "face.learned rank-1" in html
    assert tiny_sweep["families"]["blur"]["recommendation"]["statement"].split(" ")[0] in html
    evil = json.loads(json.dumps(tiny_sweep))
    pt = evil["families"]["blur"]["points"][0]
    pt["attacks"]["<script>x</script>"] = pt["attacks"].pop("face.naive")
    evil["parameters"]["attacks"] = ["<script>x</script>"] + evil["parameters"]["attacks"][1:]
    out = tmpl.render(sweep=evil)
    assert "<script>x</script>" not in out and "&lt;script&gt;" in out
    assert "No strength sweep was run" in tmpl.render(sweep={})


def test_face_scope_release_obfuscates_only_the_grown_face_box(tmp_path):
    import csv

    import numpy as np
    from PIL import Image

    from auditkit.obfuscation.spec import ObfuscationSpec
    from auditkit.sweep import _face_scope_release

    clear = tmp_path / "clear"
    clear.mkdir()
    rng = np.random.default_rng(0)
    imgs = {n: rng.integers(0, 256, (60, 50), dtype=np.uint8) for n in ("a.png", "b.png")}
    for n, im in imgs.items():
        Image.fromarray(im).save(clear / n)
    with open(clear / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "subject", "obfuscation"])
        w.writeheader()
        w.writerows([{"path": "a.png", "subject": "s1", "obfuscation": "none"},
                     {"path": "b.png", "subject": "s2", "obfuscation": "none"}])
    out = _face_scope_release(clear, tmp_path / "rel", ObfuscationSpec("mask", 7),
                              {"a.png": (10, 20, 20, 16), "b.png": None})
    a = np.asarray(Image.open(out / "a.png").convert("L"))
    inside = np.zeros(a.shape, bool)
    inside[16:40, 5:35] = True  # (10, 20, 20, 16) grown by a quarter on each side
    assert (a[inside] == 7).all() and np.array_equal(a[~inside], imgs["a.png"][~inside])
    assert (np.asarray(Image.open(out / "b.png").convert("L")) == 7).all()  # no face found: whole image
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["obfuscation"] for r in rows] == ["mask:value=7", "mask:value=7"]
    assert [r["subject"] for r in rows] == ["s1", "s2"]
