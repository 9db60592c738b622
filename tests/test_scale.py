"""Speed and scale (issue 6): blocked identity search against a brute-force oracle, the Dask
executor against the local pool, and resuming an interrupted extraction from the cache."""

import math
import os

import numpy as np
import pytest
from PIL import Image

import auditkit.features.faces as faces_mod
from auditkit.attacks.base import identity_scores
from auditkit.features.cache import FeatureCache
from auditkit.features.executors import imap
from auditkit.features.faces import FaceParams, Task, extract_many
from auditkit.scoring.matching import topk_identity_search


def oracle(P, G, labels):
    """face_recognition.face_distance, written plainly: norm of differences, min per identity."""
    names = sorted(set(labels))
    lab = np.asarray(labels)
    out = np.empty((len(P), len(names)))
    for i, p in enumerate(P):
        dist = np.linalg.norm(np.asarray(G, float) - np.asarray(p, float), axis=1)
        for j, name in enumerate(names):
            out[i, j] = -dist[lab == name].min()
    return out, names


def assert_same_topk(res, P, G, labels, k):
    full, names = oracle(P, G, labels)
    assert res.identities == names
    k = min(k, len(names))
    order = np.argsort(-full, axis=1, kind="stable")[:, :k]  # ties: smaller identity index first
    np.testing.assert_allclose(res.top_scores, np.take_along_axis(full, order, axis=1), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res.top_ids, order)
    # the reported gallery row belongs to that identity and gives that distance
    lab = np.asarray(labels)
    assert (lab[res.top_gallery] == np.asarray(names)[res.top_ids]).all()
    d = np.linalg.norm(np.asarray(G, float)[res.top_gallery] - np.asarray(P, float)[:, None, :], axis=2)
    np.testing.assert_allclose(-d, res.top_scores, rtol=0, atol=1e-12)
    return full


@pytest.mark.parametrize("seed", range(6))
def test_blocked_search_equals_brute_force_random(seed):
    rng = np.random.default_rng(seed)
    n_g, n_ids, dim = int(rng.integers(30, 250)), int(rng.integers(3, 40)), int(rng.integers(2, 24))
    labels = [f"person{int(x):02d}" for x in rng.integers(0, n_ids, n_g)]
    G = rng.normal(size=(n_g, dim)).astype(np.float32)
    P = rng.normal(size=(int(rng.integers(1, 60)), dim))
    P[0] = G[3]  # a probe identical to a gallery vector: distance exactly 0
    k = int(rng.integers(1, 12))
    res = topk_identity_search(P, G, labels, k=k, block_probes=int(rng.integers(1, 17)),
                               block_gallery=int(rng.integers(1, 40)), return_best=True)
    full = assert_same_topk(res, P, G, labels, k)
    assert res.top_scores[0, 0] == 0.0
    np.testing.assert_allclose(res.best, full, rtol=0, atol=1e-6)


def test_blocked_search_ties_and_one_image_identities():
    rng = np.random.default_rng(7)
    # integer-valued vectors: many exactly equal distances; duplicated gallery rows in different
    # identities; half the identities have a single image; one identity spans several blocks
    G = rng.integers(-2, 3, size=(120, 5)).astype(float)
    G[60:70] = G[0]
    labels = [f"solo{i:03d}" for i in range(60)] + ["dup"] * 10 + [f"pair{i // 2:02d}" for i in range(50)]
    P = rng.integers(-2, 3, size=(40, 5)).astype(float)
    P[:3] = G[0]
    for bg in (1, 7, 64, 1000):
        for margin in (0, 3, None):
            res = topk_identity_search(P, G, labels, k=9, block_probes=13, block_gallery=bg, margin=margin)
            assert_same_topk(res, P, G, labels, 9)
    # k larger than the number of identities: all of them, in order
    res = topk_identity_search(P[:5], G[:4], ["a", "b", "a", "c"], k=10)
    assert res.top_ids.shape == (5, 3)
    assert_same_topk(res, P[:5], G[:4], ["a", "b", "a", "c"], 10)


def test_blocked_search_memory_budget_is_respected_by_block_sizes():
    rng = np.random.default_rng(3)
    G = rng.normal(size=(3000, 16)).astype(np.float32)
    labels = [f"i{x}" for x in rng.integers(0, 500, 3000)]
    P = rng.normal(size=(200, 16))
    small = topk_identity_search(P, G, labels, k=5, max_memory_bytes=2**20)
    big = topk_identity_search(P, G, labels, k=5)
    np.testing.assert_array_equal(small.top_ids, big.top_ids)
    np.testing.assert_array_equal(small.top_scores, big.top_scores)
    assert_same_topk(small, P, G, labels, 5)


def test_blocked_search_rejects_bad_inputs():
    G = np.zeros((3, 4))
    with pytest.raises(ValueError, match="3 dimensions but the gallery has 4"):
        topk_identity_search(np.zeros((2, 3)), G, ["a", "b", "c"])
    with pytest.raises(ValueError, match="2 gallery labels for 3"):
        topk_identity_search(np.zeros((2, 4)), G, ["a", "b"])
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        topk_identity_search(np.zeros((2, 4)), G, ["a", "b", "c"], k=0)
    with pytest.raises(ValueError, match="NaN"):
        topk_identity_search(np.full((1, 4), np.nan), G, ["a", "b", "c"])


def test_identity_scores_uses_blocked_search_and_matches_oracle():
    rng = np.random.default_rng(11)
    G = rng.normal(size=(90, 128)) * 0.1
    labels = [f"id{x}" for x in rng.integers(0, 12, 90)]
    P = np.vstack([G[:4], rng.normal(size=(30, 128)) * 0.1])
    got, names = identity_scores(P, G, labels, block=7)
    full, onames = oracle(P, G, labels)
    assert names == onames
    np.testing.assert_allclose(got, full, rtol=0, atol=1e-7)
    # the best identity's score is exact (0 for the copies of gallery rows)
    assert (got[:4].max(axis=1) == 0).all()
    np.testing.assert_array_equal(got.argmax(axis=1), full.argmax(axis=1))


# ---------------------------------------------------------------- executors


def _square(x):
    return x * x


def test_imap_local_keeps_order_and_rejects_bad_options():
    items = list(range(-5, 12))
    assert list(imap(_square, items)) == [x * x for x in items]
    assert list(imap(_square, items, jobs=2, chunksize=3)) == [x * x for x in items]
    with pytest.raises(ValueError, match="executor must be one of local, dask, got 'spark'"):
        list(imap(_square, items, executor="spark"))
    with pytest.raises(ValueError, match="scheduler 'tcp://x:1' given but executor is 'local'"):
        list(imap(_square, items, scheduler="tcp://x:1"))


_INIT_CALLS = 0


def _count_init():
    global _INIT_CALLS
    _INIT_CALLS += 1


def _pid_and_inits(_x):
    return os.getpid(), _INIT_CALLS


def test_imap_local_pool_is_kept_across_calls():
    """issue 15: one pool for a whole audit; its workers run the initializer (model loading) once,
    and a later call with the same settings reuses them instead of starting new processes."""
    from auditkit.features import executors
    from auditkit.features.executors import close_pools

    close_pools()
    try:
        first = list(imap(_pid_and_inits, range(8), initializer=_count_init, jobs=2))
        (pool,) = executors._POOLS.values()
        second = list(imap(_pid_and_inits, range(8), initializer=_count_init, jobs=2))
        # the same pool (its workers start on demand: the first call may have used only one of them)
        assert list(executors._POOLS.values()) == [pool]
        pids = {p for p, _ in first + second}
        assert os.getpid() not in pids and len(pids) <= 2
        assert {n for _, n in first + second} == {1}  # the initializer ran once in each worker
        # stopping early cancels the rest and leaves the pool usable
        it = imap(_square, range(100), jobs=2, chunksize=2)
        assert next(it) == 0
        it.close()
        assert list(imap(_square, range(5), jobs=2)) == [0, 1, 4, 9, 16]
    finally:
        close_pools()


def _images(dest, n, *, seed=0):
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = np.kron(rng.integers(0, 255, (8, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        p = dest / f"img{i:02d}.png"
        Image.fromarray(img).save(p)
        paths.append(p)
    return paths


def _tasks(paths):
    import hashlib

    return [Task(str(p), hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths]


def test_interrupted_extraction_resumes_from_cache(tmp_path, monkeypatch):
    params = FaceParams()
    tasks = _tasks(_images(tmp_path / "img", 6))
    reference = extract_many(tasks, params, FeatureCache(None), progress=False)

    cache_dir = tmp_path / "cache"
    real_store = faces_mod._store
    stored = []

    def store_then_interrupt(cache, key, arrays, err):
        if len(stored) == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C while the 4th file was done
        stored.append(key)
        return real_store(cache, key, arrays, err)

    monkeypatch.setattr(faces_mod, "_store", store_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        extract_many(tasks, params, FeatureCache(cache_dir), progress=False)
    monkeypatch.setattr(faces_mod, "_store", real_store)

    real_work = faces_mod._work
    computed = []

    def counting_work(task):
        computed.append(task[0])
        return real_work(task)

    monkeypatch.setattr(faces_mod, "_work", counting_work)
    cache = FeatureCache(cache_dir)
    again = extract_many(tasks, params, cache, progress=False)
    assert cache.hits == 3 and cache.misses == 3
    assert computed == [t.path for t in tasks[3:]]  # only the unfinished files were redone
    for t in tasks:
        np.testing.assert_array_equal(again[t.key].encodings, reference[t.key].encodings)

    # a corrupted entry is detected and recomputed, never trusted
    entry = next(cache_dir.rglob("*.npz"))
    entry.write_bytes(entry.read_bytes()[:-40] + b"\0" * 40)
    computed.clear()
    cache = FeatureCache(cache_dir)
    third = extract_many(tasks, params, cache, progress=False)
    assert cache.corrupt == 1 and cache.hits == 5 and len(computed) == 1
    for t in tasks:
        np.testing.assert_array_equal(third[t.key].encodings, reference[t.key].encodings)


@pytest.fixture(scope="module")
def dask_local_cluster():
    """One local Dask cluster of 2 worker processes for this module's Dask tests."""
    pytest.importorskip("distributed")
    from auditkit.features.executors import close_dask, dask_client

    yield dask_client(jobs=2)
    close_dask()


def test_dask_executor_gives_the_same_results_json_as_the_local_pool(tmp_path, dask_local_cluster, monkeypatch):
    from test_audit import make_generated

    from auditkit import AuditConfig, run_audit
    from auditkit.scoring import matching

    calls = []
    real = matching.topk_identity_search_dask

    def counted(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(matching, "topk_identity_search_dask", counted)
    g, r = make_generated(tmp_path)
    runs = {}
    for executor, jobs in (("local", 2), ("dask", 2)):
        cfg = AuditConfig.from_flat(release=r, gallery=g, out=tmp_path / executor, jobs=jobs, executor=executor,
                          cache_dir=tmp_path / f"cache-{executor}", progress=False)
        res = run_audit(cfg).to_dict()
        assert res["runtime"]["cache"]["hits"] == 0  # each run computed its own features
        runs[executor] = res
    # the Dask workers did the extraction: their processes hold the loaded models
    loaded = dask_local_cluster.run(lambda: __import__("auditkit.features.faces", fromlist=["x"])._WORKER_MODELS is not None)
    assert len(loaded) == 2 and all(loaded.values())
    assert calls, "with --executor dask the identity matching runs on the Dask cluster too"
    for res in runs.values():
        res.pop("created")
        res.pop("runtime")
        for key in ("executor", "out", "cache_dir"):
            res["parameters"].pop(key)
    # identical but for the last bits of matrix products done in other processes (~1e-15: BLAS
    # kernels sum in an order that depends on memory alignment); every rank, count and label equal
    assert_json_equal(runs["local"], runs["dask"], tol=1e-12)


def assert_json_equal(a, b, *, tol: float, where: str = "$") -> None:
    """JSON values equal, floats within ``tol`` (absolute), everything else exactly."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), (where, a, b)
        assert a == pytest.approx(b, abs=tol, rel=0) or (math.isnan(a) and math.isnan(b)), (where, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, sorted(a), sorted(b))
        for k in a:
            assert_json_equal(a[k], b[k], tol=tol, where=f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), (where, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            assert_json_equal(x, y, tol=tol, where=f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def test_assert_json_equal_catches_differences():
    assert_json_equal({"a": [1, 0.5, "x"]}, {"a": [1, 0.5 + 1e-15, "x"]}, tol=1e-12)
    for other in ({"a": [1, 0.5001, "x"]}, {"a": [1, 0.5, "y"]}, {"a": [1, 0.5]}, {"b": [1, 0.5, "x"]}):
        with pytest.raises(AssertionError):
            assert_json_equal({"a": [1, 0.5, "x"]}, other, tol=1e-12)


def test_dask_matching_equals_single_process(dask_local_cluster):
    from auditkit.scoring.matching import topk_identity_search_dask

    rng = np.random.default_rng(5)
    G = rng.normal(size=(700, 32)).astype(np.float32)
    labels = [f"id{x:03d}" for x in rng.integers(0, 150, 700)]
    P = rng.normal(size=(130, 32))
    one = topk_identity_search(P, G, labels, k=7)
    dist = topk_identity_search_dask(P, G, labels, k=7, jobs=2, chunk_probes=40)
    assert dist.identities == one.identities
    for a, b in zip(one[1:4], dist[1:4]):
        np.testing.assert_array_equal(a, b)
    assert_same_topk(dist, P, G, labels, 7)
