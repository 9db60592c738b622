"""The fast cache reader equals np.load (issue 10: the warm-cache audit's per-file overhead)."""
import zipfile

import numpy as np
import pytest

from auditkit.features.cache import FeatureCache
from auditkit.features.npz_fast import load_npz


def _oracle(p):
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("seed", range(4))
def test_equals_np_load_on_cache_like_entries(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 4))
    arrays = {"size": np.array([640, 480]), "boxes": rng.integers(0, 99, (n, 4)), "scores": rng.normal(size=n),
              "sources": np.array(["detector"] * n, dtype="U16"), "encodings": rng.normal(size=(n, 128)),
              "n_detected": np.array(n), "f32": rng.normal(size=(3, 2)).astype(">f4"), "flag": np.array([True])}
    p = tmp_path / "e.npz"
    np.savez(p, **arrays)
    got, want = load_npz(p), _oracle(p)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape
        np.testing.assert_array_equal(got[k], want[k])


def test_falls_back_for_compressed_and_fortran(tmp_path):
    p = tmp_path / "c.npz"
    np.savez_compressed(p, a=np.arange(6).reshape(2, 3), b=np.asfortranarray(np.ones((2, 3))))
    got = load_npz(p)
    np.testing.assert_array_equal(got["a"], np.arange(6).reshape(2, 3))


def test_damaged_entry_raises_like_np_load_and_cache_recomputes(tmp_path):
    c = FeatureCache(tmp_path)
    c.put("ab" * 32, {"x": np.arange(5.0)})
    p = c._path("ab" * 32)
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # flip a byte: CRC or header damage
    p.write_bytes(bytes(raw))
    assert c.get("ab" * 32) is None and c.corrupt == 1
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises((zipfile.BadZipFile, ValueError, OSError, EOFError)):
        load_npz(tmp_path / "junk.npz")
