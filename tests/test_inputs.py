"""Bad input gets a clear error naming the file and the problem; nothing aborts the audit."""

import numpy as np
import pytest
from PIL import Image

from auditkit.data.inputs import InputError, load_gallery, load_release
from auditkit.data.media import MediaError, load_image


def png(path, arr=None, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    if arr is None:
        arr = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


# ------------------------------------------------------------------ decoding

def test_zero_byte_file(tmp_path):
    p = tmp_path / "a.jpg"
    p.write_bytes(b"")
    with pytest.raises(MediaError, match=r"a\.jpg: empty file"):
        load_image(p)


def test_truncated_image(tmp_path):
    p = png(tmp_path / "t.png", np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"t\.png: (truncated|cannot decode)"):
        load_image(p)


def test_non_image_with_image_name(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a picture")
    with pytest.raises(MediaError, match=r"notes\.jpg: not a readable image"):
        load_image(p)


def test_decompression_bomb_refused(tmp_path):
    # a tiny PNG file whose header claims 20000 x 20000 pixels
    p = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(p)
    assert p.stat().st_size < 200_000
    with pytest.raises(MediaError, match=r"bomb\.png: .*(too large|decompression bomb)"):
        load_image(p)


def test_huge_image_limit_is_a_clear_error(tmp_path):
    p = png(tmp_path / "big.png", np.zeros((300, 300, 3), dtype=np.uint8))
    with pytest.raises(MediaError, match=r"too large: 300x300"):
        load_image(p, max_pixels=10_000)


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:, :20] = 255  # left half white
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = tmp_path / "o.jpg"
    img.save(p, exif=exif, quality=95)
    out = load_image(p)
    assert out.shape == (40, 20, 3)  # portrait after orientation
    assert out[:20].mean() > 200 and out[20:].mean() < 50  # white half now on top


def test_grey_rgba_and_16bit_converted(tmp_path):
    g = png(tmp_path / "g.pgm", np.full((10, 12), 77, dtype=np.uint8))
    assert load_image(g).shape == (10, 12, 3) and load_image(g)[0, 0, 0] == 77
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., :3] = 90
    rgba[..., 3] = 0  # fully transparent: the colour channels are what an attacker sees (issue 10)
    a = png(tmp_path / "a.png", rgba, mode="RGBA")
    assert (load_image(a) == 90).all()
    p16 = tmp_path / "d.png"
    Image.fromarray(np.full((6, 6), 65535, dtype=np.uint16)).save(p16)
    assert load_image(p16).dtype == np.uint8 and load_image(p16).max() == 255


# ------------------------------------------------------------------ folders

def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(InputError, match="gallery folder not found"):
        load_gallery(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no image"):
        load_gallery(tmp_path / "empty")
    with pytest.raises(InputError, match="release .* holds no image"):
        load_release(tmp_path / "empty")
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(InputError, match="must be a folder"):
        load_release(f)


def test_gallery_with_one_identity_refused(tmp_path):
    png(tmp_path / "g" / "alice" / "1.png")
    png(tmp_path / "g" / "alice" / "2.png")
    with pytest.raises(InputError, match="only one identity .*'alice'"):
        load_gallery(tmp_path / "g")


def test_gallery_loose_files_and_non_media_are_listed(tmp_path):
    png(tmp_path / "g" / "a" / "1.png")
    png(tmp_path / "g" / "b" / "1.png", np.ones((8, 8, 3), dtype=np.uint8))  # 5x5 is now too small (issue 10)
    png(tmp_path / "g" / "loose.png")
    (tmp_path / "g" / "a" / "readme.txt").write_text("x")
    g = load_gallery(tmp_path / "g")
    reasons = {s.path: s.reason for s in g.skipped}
    assert "put it in gallery/<identity>/" in reasons["loose.png"]
    assert "not an image or video" in reasons["a/readme.txt"]
    assert g.identities == ["a", "b"]
    assert all(len(it.file.sha256) == 64 for it in g.items)


def test_duplicate_files_noted(tmp_path):
    png(tmp_path / "g" / "a" / "1.png")
    png(tmp_path / "g" / "b" / "1.png")  # same bytes under another identity
    g = load_gallery(tmp_path / "g")
    assert any("several identities" in n for n in g.notes)


def test_manifest_path_outside_release_refused(tmp_path):
    png(tmp_path / "secret.png")
    png(tmp_path / "r" / "x.png")
    (tmp_path / "r" / "manifest.csv").write_text("path,subject\n../secret.png,a\nx.png,b\nmissing.png,c\n/etc/passwd,d\n")
    r = load_release(tmp_path / "r")
    reasons = {s.path: s.reason for s in r.skipped}
    assert "outside the release folder" in reasons["../secret.png"]
    assert "outside the release folder" in reasons["/etc/passwd"]
    assert "line 4: file not found" in reasons["missing.png"]
    assert [it.file.rel for it in r.items] == ["x.png"]
    assert r.items[0].subject == "b"


def test_manifest_without_path_column(tmp_path):
    png(tmp_path / "r" / "x.png")
    (tmp_path / "r" / "manifest.csv").write_text("file,subject\nx.png,a\n")
    with pytest.raises(InputError, match=r"manifest\.csv: required column 'path' missing \(columns found: file, subject\)"):
        load_release(tmp_path / "r")


def test_manifest_boxes_timestamps_and_metadata(tmp_path):
    png(tmp_path / "r" / "x.png")
    png(tmp_path / "r" / "y.png", np.ones((8, 8, 3), dtype=np.uint8))
    png(tmp_path / "r" / "z.png", np.zeros((8, 8, 3), dtype=np.uint8))
    (tmp_path / "r" / "manifest.csv").write_text(
        "path,subject,camera,timestamp,x,y,w,h,age_band\n"
        "x.png,a,cam1,2024-05-01T10:00:00Z,1,2,10,12,30-39\n"
        "y.png,b,cam2,yesterday,a,b,c,d,40-49\n")
    r = load_release(tmp_path / "r")
    x = next(it for it in r.items if it.file.rel == "x.png")
    assert x.box == (1, 2, 10, 12) and x.camera == "cam1" and x.meta == {"age_band": "30-39"}
    assert x.timestamp.startswith("2024-05-01T10:00:00")
    assert any("not ISO 8601" in n for n in r.notes) and any("not numeric" in n for n in r.notes)
    z = next(it for it in r.items if it.file.rel == "z.png")
    assert z.subject is None  # not in the manifest: audited without ground truth
    assert any("not in manifest.csv" in n for n in r.notes)
    assert r.metadata_columns == ["age_band"]


def test_truncated_image_refused_after_face_recognition_import(tmp_path):
    """face_recognition flips PIL's LOAD_TRUNCATED_IMAGES on at import; load_image must not care."""
    import face_recognition  # noqa: F401
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = True  # what importing face_recognition does (first import only)
    p = png(tmp_path / "t.png", np.random.default_rng(2).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    p.write_bytes(p.read_bytes()[:-4000])
    with pytest.raises(MediaError, match=r"t\.png: (truncated|cannot decode)"):
        load_image(p)
