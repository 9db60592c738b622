"""Issue 15: an unchanged input file's custody hash is reused on a re-run with a cache; a file
written since (even with its modification time set back) is hashed again; a file changed less
than 2 s before it was hashed is hashed again; without the cache (``auditkit verify``) every file
is hashed."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from auditkit.data import hash_cache, safe_files
from auditkit.data.inputs import load_release


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = safe_files.sha256_regular
    monkeypatch.setattr(safe_files, "sha256_regular", lambda p: calls.append(str(p)) or real(p))
    return calls


def _release(root):
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), 40 * i, np.uint8)).save(root / f"p{i}.png")
    return root


def _digests(root, cache):
    with hash_cache.reuse_hashes(cache):
        rel = load_release(root)
    return {f.rel: f.sha256 for f in rel.files}


def _truth(root):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


def test_unchanged_files_reused_changed_ones_hashed_again(tmp_path, counted, monkeypatch):
    monkeypatch.setattr(hash_cache, "RACY_NS", 0)  # files written just now count as settled
    root = _release(tmp_path / "release")
    cache = tmp_path / "cache"
    assert _digests(root, cache) == _truth(root) and len(counted) == 3
    assert _digests(root, cache) == _truth(root) and len(counted) == 3  # all three reused
    # rewritten with the same size and its modification time set back: its change time moved
    p = root / "p1.png"
    st = p.stat()
    data = bytearray(p.read_bytes())
    data[-20] ^= 0xFF
    p.write_bytes(bytes(data))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert p.stat().st_size == st.st_size and p.stat().st_mtime_ns == st.st_mtime_ns
    assert _digests(root, cache) == _truth(root) and counted[3:] == [str(p)]
    # without the cache (auditkit verify: reuse_results=False) every file is hashed
    assert _digests(root, None) == _truth(root) and len(counted) == 4 + 3


def test_a_file_changed_just_before_its_hashing_is_hashed_again(tmp_path, counted):
    root = _release(tmp_path / "release")
    cache = tmp_path / "cache"
    _digests(root, cache)
    _digests(root, cache)
    assert len(counted) == 6  # written less than 2 s before: never trusted from the index


def test_a_damaged_index_is_ignored(tmp_path, counted, monkeypatch):
    monkeypatch.setattr(hash_cache, "RACY_NS", 0)
    root = _release(tmp_path / "release")
    cache = tmp_path / "cache"
    _digests(root, cache)
    for f in (cache / "hashes").iterdir():
        f.write_text('{"not": [1, 2')
    assert _digests(root, cache) == _truth(root) and len(counted) == 6
    assert _digests(root, cache) == _truth(root) and len(counted) == 6  # rewritten, reused again


def test_the_audit_reuses_hashes_only_when_it_may_reuse_results(tmp_path, counted, monkeypatch):
    from test_audit import make_generated

    from auditkit.api import run_audit
    from auditkit.config import AuditConfig

    monkeypatch.setattr(hash_cache, "RACY_NS", 0)
    g, r = make_generated(tmp_path, n_ids=3)
    n_files = sum(1 for p in list(g.rglob("*")) + list(r.iterdir()) if p.is_file() and p.name != "manifest.csv")

    def run(**kw):
        cfg = AuditConfig.from_flat(release=r, gallery=g, out=tmp_path / "out", cache_dir=tmp_path / "cache",
                                    attacks="face.naive", obfuscation="blur:sigma=2", progress=False,
                                    population_sizes=(), linkage=False, leak_scan="off", **kw)
        return run_audit(cfg).to_dict()

    first = run()
    n = len(counted)
    assert n >= n_files - 1  # every media file hashed (a refused file may not be)
    again = run()
    assert len(counted) == n and again["inputs"] == first["inputs"]  # reused, same custody
    run(reuse_results=False)  # as auditkit verify runs it
    assert len(counted) == 2 * n
