"""Private by default in every shareable output (issue 10): pseudonyms in a random order that the
gallery listing cannot reverse, relative paths, no label in any file name; the mapping kept apart
in private/labels.csv; --reveal-labels puts the names back."""
import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from auditkit.cli import main
from auditkit.report.shareable import pseudonym_map

LABELS = [f"Person{c}_Surname" for c in "ABCDEFGH"]


@pytest.fixture(scope="module")
def audit(tmp_path_factory, feature_cache_dir):
    tmp = tmp_path_factory.mktemp("priv")
    rng = np.random.default_rng(3)
    rows = ["path,subject"]
    for i, lab in enumerate(LABELS):
        base = np.kron(rng.integers(0, 255, (10, 8, 3)), np.ones((12, 12, 1))).astype(np.uint8)
        d = tmp / "g" / lab
        d.mkdir(parents=True)
        for k in range(2):
            Image.fromarray(base).save(d / f"{lab}_{k}.png")  # file names carry the label too
        (tmp / "r").mkdir(exist_ok=True)
        Image.fromarray(base).save(tmp / "r" / f"{lab}_probe.png")
        rows.append(f"{lab}_probe.png,{lab}")
    (tmp / "g" / LABELS[0] / "notes.txt").write_text("x")  # a skipped gallery file under a label folder
    (tmp / "r" / "manifest.csv").write_text("\n".join(rows) + "\n")
    out = tmp / "out"
    args = ["run", "--release", str(tmp / "r"), "--gallery", str(tmp / "g"), "--attacks", "face.naive",
            "--cache-dir", str(feature_cache_dir), "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    assert main([*args, "--out", str(tmp / "again")]) == 0
    assert main([*args, "--out", str(tmp / "revealed"), "--reveal-labels"]) == 0
    return tmp, out


def _shareable_text(out):
    return {p.name: p.read_text(encoding="utf-8") for p in out.iterdir() if p.is_file()}


def test_no_label_and_no_absolute_path_in_any_shareable_file(audit):
    tmp, out = audit
    texts = _shareable_text(out)
    assert set(texts) >= {"results.json", "matches.csv", "skipped.csv", "report.html"}
    for name, text in texts.items():
        for lab in LABELS:
            assert lab not in text, f"{lab} leaked into {name}"
        assert str(tmp) not in text, f"absolute path leaked into {name}"
        assert os.path.expanduser("~") + "/" not in text or os.path.expanduser("~") == "/"
    r = json.loads(texts["results.json"])
    gal = [f["path"] for f in r["inputs"]["gallery"]["files"]]
    assert all(p.startswith("person ") for p in gal)  # the hash list: label components pseudonymised
    assert r["inputs"]["gallery"]["path"] == "gallery" and r["privacy"]["pseudonymised"] is True
    skipped = list(csv.DictReader((out / "skipped.csv").open()))
    assert any(s["path"].startswith("gallery/person ") and s["path"].endswith("/notes.txt") for s in skipped)


def test_mapping_kept_apart_and_it_maps_back(audit):
    tmp, out = audit
    rows = list(csv.DictReader((out / "private" / "labels.csv").open()))
    back = {r["pseudonym"]: r["identity"] for r in rows}
    assert sorted(back.values()) == sorted(LABELS)
    revealed = {(m["probe"], m["rank"]): m for m in csv.DictReader((tmp / "revealed" / "matches.csv").open())}
    for m in csv.DictReader((out / "matches.csv").open()):
        probe = m["probe"]
        for ps, lab in back.items():
            probe = probe.replace(ps, lab)
        twin = revealed[(probe, m["rank"])]
        assert back[m["truth"]] == twin["truth"] and back[m["candidate"]] == twin["candidate"]


def test_pseudonyms_not_in_sorted_label_order_but_stable(audit):
    tmp, out = audit
    back = {r["identity"]: r["pseudonym"] for r in csv.DictReader((out / "private" / "labels.csv").open())}
    in_label_order = [back[lab] for lab in sorted(LABELS)]
    assert in_label_order != sorted(in_label_order)  # the gallery listing does not reverse them
    again = {r["identity"]: r["pseudonym"] for r in csv.DictReader((tmp / "again" / "private" / "labels.csv").open())}
    assert again == back  # same inputs, same pseudonyms
    # the order depends on the key, not on the labels alone
    assert pseudonym_map(LABELS, b"k1") != pseudonym_map(LABELS, b"k2")


def test_reveal_labels_puts_names_back(audit):
    tmp, _ = audit
    rev = tmp / "revealed"
    assert not (rev / "private").exists()
    text = (rev / "matches.csv").read_text()
    assert all(lab in text for lab in LABELS)
