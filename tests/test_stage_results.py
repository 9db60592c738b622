"""Issue 15: a warm re-run reuses the stored obfuscation estimate (with its calibration), image
leak scan and ``linkage.sightings`` — identical to the cold run's, without computing them — and a
change to what one of them depends on computes that one again, and only that one."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image
from test_audit import make_generated

from auditkit.api import run_audit
from auditkit.config import AuditConfig

STAGES = ("obfuscation_estimate", "leak_scan", "linkage")


def _spies(monkeypatch) -> dict[str, list]:
    """Count the calls of each stage's computation (each still computes)."""
    import auditkit.audit as audit_mod
    import auditkit.features.image_leaks as leaks_mod
    import auditkit.sightings_audit as sightings_mod

    calls: dict[str, list] = {s: [] for s in STAGES}
    for mod, name, stage in ((audit_mod, "_estimate_obfuscation", "obfuscation_estimate"),
                             (leaks_mod, "scan_image_leaks", "leak_scan"), (sightings_mod, "linkage_part", "linkage")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _r=real, _s=stage, **k: calls[_s].append(1) or _r(*a, **k))
    return calls


def _faces(g, r, cache, **kw):
    cfg = AuditConfig.from_flat(release=r, gallery=g, out=cache.parent / "out", cache_dir=cache,
                                attacks="face.naive,face.parrot", obfuscation="blur:sigma=2", obfuscation_scope="frame",
                                progress=False, population_sizes=(), linkage=False, **kw)
    return run_audit(cfg).to_dict()


def _same(a: dict, b: dict, keys=("attacks", "verdict", "notes", "skipped", "obfuscation", "detection", "linkage")):
    for k in keys:
        assert json.dumps(a.get(k), sort_keys=True) == json.dumps(b.get(k), sort_keys=True), k


def test_estimate_and_leak_scan_reused_and_recomputed_when_what_they_read_changes(tmp_path, monkeypatch):
    g, r = make_generated(tmp_path)
    cache = tmp_path / "cache"
    calls = _spies(monkeypatch)
    cold = _faces(g, r, cache)
    assert cold["runtime"]["stages"] == {"obfuscation_estimate": "computed", "leak_scan": "computed"}
    assert cold["obfuscation"]["estimate"] is not None and cold["detection"]["leak_scan"]["images_scanned"] > 0
    n = {s: len(c) for s, c in calls.items()}
    warm = _faces(g, r, cache)
    assert warm["runtime"]["stages"] == {"obfuscation_estimate": "reused", "leak_scan": "reused"}
    assert {s: len(c) for s, c in calls.items()} == n  # nothing computed
    _same(warm, cold)

    # auditkit verify: every stage computed, nothing reused
    assert set(_faces(g, r, cache, reuse_results=False)["runtime"]["stages"].values()) == {"computed"}
    # the seed draws the estimate's sample and calibration, not the leak scan's
    assert _faces(g, r, cache, seed=5)["runtime"]["stages"] == {"obfuscation_estimate": "computed",
                                                                "leak_scan": "reused"}
    # another leak detector: only the leak scan
    assert _faces(g, r, cache, leak_detector="hog")["runtime"]["stages"] == {"obfuscation_estimate": "reused",
                                                                             "leak_scan": "computed"}
    # one release image changed: both read it
    img = np.asarray(Image.open(r / "probe0.png")).copy()
    img[:5, :5] = 255 - img[:5, :5]
    Image.fromarray(img).save(r / "probe0.png")
    assert set(_faces(g, r, cache)["runtime"]["stages"].values()) == {"computed"}


def test_estimate_stored_from_the_pool_is_the_estimate_here(tmp_path):
    """--jobs 2 with a declared obfuscation: the estimate runs in a worker and is stored from there;
    a --jobs 1 re-run reuses it, and it equals the one a --jobs 1 run computes itself."""
    g, r = make_generated(tmp_path)
    pooled = _faces(g, r, tmp_path / "cache", jobs=2)
    again = _faces(g, r, tmp_path / "cache", jobs=1)
    here = _faces(g, r, tmp_path / "other", jobs=1)
    assert again["runtime"]["stages"]["obfuscation_estimate"] == "reused"
    assert here["runtime"]["stages"]["obfuscation_estimate"] == "computed"
    _same(pooled, here, ("obfuscation", "notes"))
    _same(again, here, ("obfuscation", "notes"))


def test_damaged_stage_entries_are_recomputed(tmp_path):
    g, r = make_generated(tmp_path, n_ids=3)
    cache = tmp_path / "cache"
    cold = _faces(g, r, cache)
    for p in (cache / "stages").rglob("*.npz"):
        p.write_bytes(p.read_bytes()[:40])
    again = _faces(g, r, cache)
    assert set(again["runtime"]["stages"].values()) == {"computed"}
    _same(again, cold, ("obfuscation", "notes", "skipped"))


def test_linkage_reused_with_its_scores_and_recomputed_on_another_obfuscation(tmp_path, monkeypatch):
    """Gallery-free (issue 12): the stored linkage.sightings gives the same attacks, section and
    population projection (from its stored score matrix), without running."""
    from test_sightings import make_image_release

    rel = tmp_path / "release"
    make_image_release(rel)
    calls = _spies(monkeypatch)

    def run(**kw):
        cfg = AuditConfig.from_flat(release=rel, out=tmp_path / "out", cache_dir=tmp_path / "cache", progress=False,
                                    population_sizes=(1e3,), **kw)
        return run_audit(cfg).to_dict()

    cold = run()
    assert cold["runtime"]["stages"] == {"linkage": "computed"} and cold["linkage"] is not None
    assert any(a["name"] == "linkage.sightings" for a in cold["attacks"])
    warm = run()
    assert warm["runtime"]["stages"] == {"linkage": "reused"} and len(calls["linkage"]) == 1
    _same(warm, cold)
    assert run(obfuscation="blur:sigma=2")["runtime"]["stages"] == {"linkage": "computed"}


def test_a_warm_rerun_loads_no_model_runtime_nor_pool(tmp_path):
    """What a fully cached re-run of `auditkit run` does not need, it does not import or start:
    scikit-learn, matplotlib, pandas, the leak detector's onnx runtime, the worker pool."""
    g, r = make_generated(tmp_path, n_ids=3)
    args = ["run", "--release", str(r), "--gallery", str(g), "--out", str(tmp_path / "out"), "--cache-dir",
            str(tmp_path / "cache"), "--jobs", "2", "--obfuscation", "blur:sigma=2", "--quiet", "--force"]
    script = ("import json, sys\nfrom auditkit.cli import main\nfrom auditkit.features import executors\n"
              f"code = main({args!r})\n"
              "heavy = ['sklearn', 'matplotlib', 'pandas', 'onnx', 'onnxruntime', 'scipy.stats']\n"
              "print(json.dumps({'code': code, 'imported': [m for m in heavy if m in sys.modules],"
              " 'pools': len(executors._POOLS)}))\n")
    env = {"AUDITKIT_CACHE_DIR": str(tmp_path / "user-cache")}
    cold = _child(script, env)
    assert cold["pools"] == 1 and "sklearn" in cold["imported"]  # the check can fail: a cold run needs them
    warm = _child(script, env)
    assert warm == {"code": cold["code"], "imported": [], "pools": 0}
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["runtime"]["stage_cache"]["misses"] == 0 and set(res["runtime"]["stages"].values()) == {"reused"}


def _child(script: str, env: dict) -> dict:
    import os

    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, **env})
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_an_undecodable_file_is_remembered_only_when_it_does_not_decode(tmp_path):
    """A re-run does not send a file that cannot be decoded to the workers again (issue 15), and a
    failure that decoding here does not reproduce (a lost worker) is not remembered."""
    from auditkit.data.media import sha256_file
    from auditkit.features import faces
    from auditkit.features.cache import FeatureCache

    cache = FeatureCache(tmp_path / "cache")
    bad, good = tmp_path / "bad.png", tmp_path / "good.png"
    bad.write_bytes(b"\x89PNG not an image")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(good)
    tasks = [faces.Task(str(p), sha256_file(p)) for p in (bad, good)]
    first = faces.extract_many(tasks, faces.FaceParams(), cache, progress=False)
    reason = first[tasks[0].key]
    assert isinstance(reason, str) and faces._known_undecodable(cache, tasks[0].sha256) == reason
    faces._note_undecodable(cache, tasks[1], "worker lost")  # decodes here: not kept
    assert faces._known_undecodable(cache, tasks[1].sha256) is None
    calls = []
    real = faces._work
    faces._work = lambda task: calls.append(task) or real(task)
    try:
        again = faces.extract_many(tasks, faces.FaceParams(), cache, progress=False)
    finally:
        faces._work = real
    assert calls == [] and again[tasks[0].key] == reason
