"""Integration against a real anonymizer (issue 13): deface, installed as its own tool (its OpenCV
build must not collide with ours), on real AT&T faces from ../shared.

Install: ``UV_TOOL_DIR=/tmp/uvtools UV_TOOL_BIN_DIR=/tmp/uvtools/bin uv tool install deface``, then put
``/tmp/uvtools/bin`` on PATH or set ``AUDITKIT_DEFACE`` to the executable. Skipped, with that reason,
when deface is not found. The figures on larger sets are benchmarks/bench_vendor_anonymizer.py's.
"""
from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image

from auditkit import AuditConfig, run_audit
from auditkit.obfuscation.vendor import run_anonymizer


@pytest.fixture(scope="module")
def deface() -> str:
    exe = os.environ.get("AUDITKIT_DEFACE") or shutil.which("deface")
    if not exe or not Path(exe).is_file():
        pytest.skip("deface executable not found: install it as its own tool (UV_TOOL_DIR=/tmp/uvtools "
                    "UV_TOOL_BIN_DIR=/tmp/uvtools/bin uv tool install deface) and put it on PATH or set AUDITKIT_DEFACE")
    return exe


def _att_rgb(dest: Path, n_ids: int = 6, n_gallery: int = 2) -> tuple[Path, Path]:
    """AT&T faces as 3-channel PNG (deface's mosaic needs three channels): a clear gallery and a clear
    release (one image per identity) copied out of ../shared."""
    from auditkit.data.media import load_image

    src = shared_dataset("att_orl_faces")
    g, r = dest / "gallery", dest / "clear"
    r.mkdir(parents=True)
    rows = []
    for s in range(1, n_ids + 1):
        (g / f"s{s}").mkdir(parents=True)
        for k in range(1, n_gallery + 1):
            Image.fromarray(load_image(src / f"s{s}" / f"{k}.pgm")).save(g / f"s{s}" / f"{k}.png")
        Image.fromarray(load_image(src / f"s{s}" / "10.pgm")).save(r / f"p{s}.png")
        rows.append({"path": f"p{s}.png", "subject": f"s{s}"})
    with open(r / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "subject"])
        w.writeheader()
        w.writerows(rows)
    return g, r


def test_deface_release_audited_with_its_own_pipeline(deface, tmp_path, feature_cache_dir):
    g, clear = _att_rgb(tmp_path)
    template = f"{deface} {{input}} -o {{output}} --replacewith blur"
    made = run_anonymizer(template, [(p.name, p) for p in sorted(clear.glob("*.png"))], jobs=2)
    rel = tmp_path / "release"
    rel.mkdir()
    for name, (out, _) in made.outputs.items():
        shutil.copyfile(out, rel / name)
    shutil.copyfile(clear / "manifest.csv", rel / "manifest.csv")
    assert made.failures == [] and made.version and made.version[0].isdigit()  # deface --version: "1.5.0"
    assert len(made.unchanged) < len(made.outputs)  # CenterFace finds faces on 92x112 AT&T crops
    res = run_audit(AuditConfig.from_flat(
        release=rel, gallery=g, out=tmp_path / "out", attacks="face.naive,face.parrot", cache_dir=feature_cache_dir,
        progress=False, population_sizes=(), linkage=False, anonymizer=template, jobs=2)).to_dict()
    an = res["obfuscation"]["anonymizer"]
    assert an["tool"] == Path(deface).name and an["version"] == made.version
    assert an["passed"] == 12 and an["failed"] == 0 and an["passed"] - an["unchanged"] >= 6
    parrot = {a["name"]: a for a in res["attacks"]}["face.parrot"]
    assert parrot["details"]["obfuscation"]["anonymizer"] == template
    clear_px = np.asarray(Image.open(clear / "p1.png"))
    assert not np.array_equal(clear_px, np.asarray(Image.open(rel / "p1.png")))
    made.cleanup()


def test_deface_mosaic_on_grey_images_listed_as_failures(deface, tmp_path):
    """deface 1.5's mosaic indexes three channels (``frame[y, x][2]``): on single-channel images it
    crashes. The runner lists each image with the tool's last line, and does not stop."""
    src = shared_dataset("att_orl_faces")
    items = [(f"s{s}/1.pgm", src / f"s{s}" / "1.pgm") for s in (1, 2)]
    run = run_anonymizer(f"{deface} {{input}} -o {{output}} --replacewith mosaic", items)
    assert run.outputs == {} and len(run.failures) == 2
    assert all("exited with status" in r and "IndexError" in r for _, r in run.failures), run.failures
