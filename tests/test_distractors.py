"""--distractors (auditkit.data.distractors): identities not in the release join every attack's gallery."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from auditkit.data.distractors import PREFIX, add_distractors
from auditkit.data.inputs import InputError, load_gallery


def _pattern_dir(root, names, per_id, seed):
    rng = np.random.default_rng(seed)
    for name in names:
        base = rng.integers(0, 255, (12, 10, 3)).astype(np.uint8)
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_id):
            img = np.clip(np.kron(base, np.ones((10, 10, 1))) + rng.integers(-10, 10, (120, 100, 3)), 0, 255)
            Image.fromarray(img.astype(np.uint8)).save(root / name / f"{k}.png")
    return root


def test_add_distractors_prefixes_and_leaves_out_clashes(tmp_path) -> None:
    g = load_gallery(_pattern_dir(tmp_path / "g", ["a", "b"], 1, 0))
    d = _pattern_dir(tmp_path / "d", ["a", "c", "subj", "e"], 1, 1)
    notes: list[str] = []
    out = add_distractors(g, d, release_subjects={"subj"}, notes=notes)
    assert out.identities == ["a", "b", f"{PREFIX}c", f"{PREFIX}e"]
    assert all(it.file.rel.startswith(PREFIX) for it in out.items if it.identity.startswith(PREFIX))
    assert "2 distractor identities" in notes[0] and "among 4 identities" in notes[0]
    assert "a, subj" in notes[1]
    with pytest.raises(InputError, match="only one identity"):
        add_distractors(g, _pattern_dir(tmp_path / "one", ["x"], 1, 2), release_subjects=set(), notes=[])


def test_audit_measures_rank1_with_distractors_in_the_gallery(tmp_path, feature_cache_dir) -> None:
    from auditkit import AuditConfig, run_audit

    names = [f"id_{i}" for i in range(4)]
    src = _pattern_dir(tmp_path / "src", names, 3, 0)
    g, r = tmp_path / "gallery", tmp_path / "release"
    r.mkdir()
    rows = []
    for n in names:
        (g / n).mkdir(parents=True)
        for k in (0, 1):
            (g / n / f"{k}.png").write_bytes((src / n / f"{k}.png").read_bytes())
        (r / f"{n}.png").write_bytes((src / n / "2.png").read_bytes())
        rows.append({"path": f"{n}.png", "subject": n})
    with open(r / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "subject"])
        w.writeheader()
        w.writerows(rows)
    dis = _pattern_dir(tmp_path / "dis", [f"other_{i}" for i in range(3)], 1, 5)
    cfg = AuditConfig.from_flat(release=r, gallery=g, distractors=dis, attacks=("face.naive",), out=tmp_path / "o",
                                cache_dir=feature_cache_dir, progress=False, population_sizes="1e3")
    res = run_audit(cfg).to_dict()
    a = res["attacks"][0]
    assert a["n_identities"] == 7 and a["metrics"]["chance_rank1"] == pytest.approx(1 / 7)
    assert res["parameters"]["distractors"] == str(dis)
    assert any("3 distractor identities" in n for n in res["notes"])
    assert "population" in a["details"]
