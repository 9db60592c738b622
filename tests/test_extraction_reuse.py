"""Issue 15: a transformed image is detected (and its detections encoded) once, whatever the hint
box of the task asking for it; the results equal a fresh extraction of each task."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image

from auditkit.features.cache import FeatureCache
from auditkit.features.faces import FaceModels, FaceParams, Task, extract_many

#: encodings of the same face region computed in a different batch: BLAS may round differently
ENC_ATOL = 1e-6


def _task(p, hint, obf):
    return Task(str(p), hashlib.sha256(p.read_bytes()).hexdigest(), hint_box=hint, obfuscation=obf)


def _count_detect(monkeypatch):
    calls = []
    real = FaceModels.detect

    def counting(self, img):
        calls.append(img.shape)
        return real(self, img)

    monkeypatch.setattr(FaceModels, "detect", counting)
    return calls


def _same(a, b):
    assert a.n_detected == b.n_detected and (a.width, a.height) == (b.width, b.height)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.sources, b.sources)
    np.testing.assert_array_equal(a.scores, b.scores)  # NaN == NaN here
    np.testing.assert_allclose(a.encodings, b.encodings, rtol=0, atol=ENC_ATOL)


def _check_reuse(paths, tmp_path, monkeypatch, hints):
    params = FaceParams()
    obf = ("blur:sigma=3", None)
    with_hint = [_task(p, h, obf) for p, h in zip(paths, hints)]
    without = [_task(p, None, obf) for p in paths]
    ref = extract_many(with_hint + without, params, FeatureCache(None), progress=False)
    calls = _count_detect(monkeypatch)
    cache = FeatureCache(tmp_path / "cache")
    first = extract_many(with_hint, params, cache, progress=False)
    assert len(calls) == len(paths)
    second = extract_many(without, params, cache, progress=False)
    assert len(calls) == len(paths)  # the second hint of each transformed image detected nothing again
    for t in with_hint:
        _same(first[t.key], ref[t.key])
    for t in without:
        _same(second[t.key], ref[t.key])
    # another transform is another image: detected again
    extract_many([_task(paths[0], None, ("blur:sigma=5", None))], params, cache, progress=False)
    assert len(calls) == len(paths) + 1
    return ref, without


def test_generated_images_detected_once_per_transform(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):  # no face in noise: the manifest box and the whole image are encoded instead
        p = tmp_path / f"n{i}.png"
        Image.fromarray(np.kron(rng.integers(0, 255, (12, 12, 3)), np.ones((8, 8, 1))).astype(np.uint8)).save(p)
        paths.append(p)
    ref, without = _check_reuse(paths, tmp_path, monkeypatch, [(10, 12, 50, 60)] * 3)
    assert all(ref[t.key].sources.tolist() == ["whole_image"] for t in without)


def test_real_faces_detected_once_per_transform(tmp_path, monkeypatch):
    att = shared_dataset("att_orl_faces")
    paths = [min((att / d).glob("*")) for d in ("s1", "s2", "s3", "s4")]
    # a hint that overlaps the face (the usual case) on three, and one far from it on the last
    ref, without = _check_reuse(paths, tmp_path, monkeypatch, [(15, 20, 60, 70)] * 3 + [(0, 0, 20, 20)])
    assert sum(ref[t.key].n_detected for t in without) >= 3


@pytest.mark.parametrize("jobs", [2])
def test_reuse_in_the_pool(tmp_path, jobs):
    """The detections travel to the workers: a pool gives the same results as this process."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(4):
        p = tmp_path / f"m{i}.png"
        Image.fromarray(np.kron(rng.integers(0, 255, (10, 10, 3)), np.ones((8, 8, 1))).astype(np.uint8)).save(p)
        paths.append(p)
    params, obf = FaceParams(), ("pixelate:block=4", None)
    a = [_task(p, (5, 5, 40, 40), obf) for p in paths]
    b = [_task(p, None, obf) for p in paths]
    ref = extract_many(a + b, params, FeatureCache(None), progress=False)
    cache = FeatureCache(tmp_path / "c")
    extract_many(a, params, cache, progress=False, jobs=jobs)
    got = extract_many(b, params, cache, progress=False, jobs=jobs)
    for t in b:
        _same(got[t.key], ref[t.key])


def test_estimate_in_the_pool_equals_the_estimate_here(tmp_path, monkeypatch):
    """With a declared obfuscation and --jobs 2 the release's obfuscation estimate runs in a pool
    worker during the attacks: same estimate, same notes in the same place, same attack results."""
    from test_audit import make_generated

    import auditkit.estimate_pool as pool_mod
    from auditkit import AuditConfig, run_audit

    started = []
    real_start = pool_mod.start_estimate
    monkeypatch.setattr(pool_mod, "start_estimate", lambda *a: started.append(real_start(*a)) or started[-1])
    g, r = make_generated(tmp_path)
    res = {}
    for jobs in (1, 2):
        cfg = AuditConfig.from_flat(release=r, gallery=g, out=tmp_path / f"o{jobs}", cache_dir=tmp_path / f"c{jobs}",
                                    progress=False, jobs=jobs, obfuscation="pixelate:block=8",
                                    attacks=("face.naive", "face.parrot"))
        res[jobs] = run_audit(cfg).to_dict()
    assert started[0] is None and started[1] is not None  # --jobs 2: the pool ran it
    assert res[2]["obfuscation"] == res[1]["obfuscation"] and res[1]["obfuscation"]["estimate"] is not None
    assert res[2]["notes"] == res[1]["notes"]
    assert [a["metrics"] for a in res[2]["attacks"]] == [a["metrics"] for a in res[1]["attacks"]]
