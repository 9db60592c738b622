import numpy as np

from auditkit.features.cache import FeatureCache, cache_key


def test_roundtrip_and_key_depends_on_everything(tmp_path):
    c = FeatureCache(tmp_path)
    k = cache_key("a" * 64, "faces", "1", {"upsample": 1})
    assert k != cache_key("a" * 64, "faces", "1", {"upsample": 2})
    assert k != cache_key("b" * 64, "faces", "1", {"upsample": 1})
    assert k != cache_key("a" * 64, "faces", "2", {"upsample": 1})
    assert c.get(k) is None
    c.put(k, {"x": np.arange(5.0)})
    np.testing.assert_array_equal(c.get(k)["x"], np.arange(5.0))
    assert (c.hits, c.misses) == (1, 1)


def test_corrupt_entry_detected_and_dropped(tmp_path):
    c = FeatureCache(tmp_path)
    k = cache_key("a" * 64, "faces", "1", {})
    c.put(k, {"x": np.arange(1000.0)})
    p = next(tmp_path.rglob("*.npz"))
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip bits in the payload
    p.write_bytes(bytes(data))
    assert c.get(k) is None and c.corrupt == 1 and not p.exists()
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(b"garbage")
    assert c.get(k) is None and c.corrupt == 2


def test_disabled_cache(tmp_path):
    c = FeatureCache(None)
    c.put("k", {"x": np.zeros(1)})
    assert c.get("k") is None and not c.enabled
