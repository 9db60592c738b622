"""Issue 15: a warm re-run reuses each face rung's stored result — identical to the cold run's —
and any change to what the rung depends on (a release file, the seed, the declared obfuscation)
runs it again."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image
from test_audit import make_generated

from auditkit.api import run_audit
from auditkit.config import AuditConfig

ATTACKS = "face.naive,face.parrot,face.pixels"


def _run(g, r, cache, **kw):
    cfg = AuditConfig.from_flat(release=r, gallery=g, out=cache.parent / "out", cache_dir=cache, attacks=ATTACKS,
                                obfuscation=kw.pop("obfuscation", "blur:sigma=2"), obfuscation_scope="frame",
                                progress=False, **{"population_sizes": (), "linkage": False, **kw})
    return run_audit(cfg)


def _untimed(x):
    """Drop measured durations (``*seconds``): a recomputed rung takes another time."""
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if not k.endswith("seconds")}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


def _comparable(res, *, timed: bool = True) -> dict:
    d = res.to_dict()
    out = {"attacks": d["attacks"], "verdict": d["verdict"], "notes": d["notes"], "skipped": d["skipped"]}
    return out if timed else _untimed(out)


def test_warm_rerun_is_identical_and_reruns_what_changed(tmp_path):
    g, r = make_generated(tmp_path)
    cache = tmp_path / "cache"
    cold = _run(g, r, cache)
    assert cold.runtime["stage_cache"] == {"hits": 0, "misses": 3}
    warm = _run(g, r, cache)
    assert warm.runtime["stage_cache"] == {"hits": 3, "misses": 0}
    assert json.dumps(_comparable(warm), sort_keys=True) == json.dumps(_comparable(cold), sort_keys=True)

    # auditkit verify recomputes every figure: nothing stored is reused
    assert _run(g, r, cache, reuse_results=False).runtime["stage_cache"] == {"hits": 0, "misses": 0}

    # another seed, another declared strength: every rung runs again
    assert _run(g, r, cache, seed=7).runtime["stage_cache"]["misses"] == 3
    assert _run(g, r, cache, obfuscation="blur:sigma=3").runtime["stage_cache"]["misses"] == 3

    # one release image changed: its features change, so the rungs run again
    img = np.asarray(Image.open(r / "probe0.png")).copy()
    img[:5, :5] = 255 - img[:5, :5]
    Image.fromarray(img).save(r / "probe0.png")
    assert _run(g, r, cache).runtime["stage_cache"]["misses"] == 3


def test_damaged_stage_entry_is_recomputed(tmp_path):
    g, r = make_generated(tmp_path, n_ids=3)
    cache = tmp_path / "cache"
    cold = _run(g, r, cache)
    for p in (cache / "stages").rglob("*.npz"):
        p.write_bytes(p.read_bytes()[:40])  # truncated
    again = _run(g, r, cache)
    assert again.runtime["stage_cache"]["misses"] == 3
    # recomputed: the same figures (a warm hit above is identical even in its recorded durations)
    assert json.dumps(_comparable(again, timed=False), sort_keys=True) == \
        json.dumps(_comparable(cold, timed=False), sort_keys=True)


def test_no_cache_runs_every_rung(tmp_path):
    g, r = make_generated(tmp_path, n_ids=3)
    cfg = AuditConfig.from_flat(release=r, gallery=g, out=tmp_path / "out", use_cache=False, attacks="face.naive",
                                obfuscation="blur:sigma=2", obfuscation_scope="frame", progress=False,
                                population_sizes=(), linkage=False)
    res = run_audit(cfg)
    assert res.runtime["stage_cache"] == {"hits": 0, "misses": 0}  # nothing stored, nothing reused


def test_population_projection_reused_on_a_warm_rerun(tmp_path, monkeypatch):
    from auditkit.scoring import population

    g, r = make_generated(tmp_path, n_ids=4)
    cache = tmp_path / "cache"
    cold = _run(g, r, cache, population_sizes=(1e3, 1e5))
    calls = []
    real = population.project_population
    monkeypatch.setattr(population, "project_population", lambda *a, **k: calls.append(1) or real(*a, **k))
    warm = _run(g, r, cache, population_sizes=(1e3, 1e5))
    assert calls == []  # every projection came from the stage cache
    assert json.dumps(_comparable(warm), sort_keys=True) == json.dumps(_comparable(cold), sort_keys=True)
    _run(g, r, cache, population_sizes=(1e3, 1e6))  # another size: projected again
    assert calls


def test_run_no_cache_leaves_the_user_cache_empty(tmp_path, monkeypatch):
    """``--no-cache`` reads and writes nothing in the user's cache: no features, no stage results,
    no report figures, no compiled templates (the last two were written there regardless)."""
    from auditkit.cli import main

    g, r = make_generated(tmp_path, n_ids=3)
    user_cache = tmp_path / "user-cache"
    user_cache.mkdir()
    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(user_cache))
    rc = main(["run", "--release", str(r), "--gallery", str(g), "--out", str(tmp_path / "out"), "--attacks",
               "face.naive", "--obfuscation", "blur:sigma=2", "--no-cache", "--quiet"])
    assert rc == 0 and (tmp_path / "out" / "report.html").is_file()
    assert list(user_cache.iterdir()) == []
