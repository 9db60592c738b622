"""Hostile-input catalogue (issue 10): every trap ends in a clear listed reason, and the rest of
the audit is done. Generated data only; each trap is a small folder or one call.

The traps are grouped: files (types, links, permissions), names, images, manifests, tables,
outputs, video and interruptions. ``TRAPS`` below names each with its expected outcome; the
closing report of issue 10 prints it as a table.
"""
from __future__ import annotations

import json
import os
import socket
import threading

import numpy as np
import pytest
from PIL import Image

from auditkit.data.inputs import load_release
from auditkit.data.media import MediaError, load_image
from auditkit.data.safe_files import MIN_IMAGE_SIDE, display_name, walk


def img(path, h=40, w=30, seed=0, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def reasons(obj) -> dict[str, str]:
    return {s.path if hasattr(s, "path") else s["path"]: s.reason if hasattr(s, "reason") else s["reason"]
            for s in obj.skipped if True} if hasattr(obj, "skipped") else {}


def release_with(tmp_path, **extra):
    """A release of two good images plus whatever the trap adds."""
    r = tmp_path / "r"
    img(r / "good1.png", seed=1)
    img(r / "good2.png", seed=2)
    return r


def _nonblocking(fn, timeout=20.0):
    """Run fn in a thread; fail (not hang) if it blocks."""
    box: dict = {}

    def run():
        try:
            box["v"] = fn()
        except BaseException as e:  # noqa: BLE001  re-raised in the caller
            box["e"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "blocked (a FIFO or device was opened)"
    if "e" in box:
        raise box["e"]
    return box.get("v")


# ------------------------------------------------------------------ files: types and links

def test_fifo_in_release_listed_never_opened(tmp_path):
    r = release_with(tmp_path)
    os.mkfifo(r / "pipe.png")
    rel = _nonblocking(lambda: load_release(r))
    assert "named pipe (FIFO)" in reasons(rel)["pipe.png"] and "never opened" in reasons(rel)["pipe.png"]
    assert {it.file.rel for it in rel.items} == {"good1.png", "good2.png"}


def test_fifo_named_manifest_does_not_block(tmp_path):
    r = release_with(tmp_path)
    os.mkfifo(r / "manifest.csv")
    rel = _nonblocking(lambda: load_release(r))
    assert "not a regular file" in reasons(rel)["manifest.csv"]
    assert rel.manifest is None and len(rel.items) == 2


def test_socket_listed(tmp_path):
    r = release_with(tmp_path)
    s = socket.socket(socket.AF_UNIX)
    path = r / "s.jpg"
    try:
        s.bind(str(path))
    except OSError as e:  # pragma: no cover  (path too long for AF_UNIX)
        pytest.skip(f"cannot bind a unix socket here: {e}")
    try:
        rel = load_release(r)
        assert "socket" in reasons(rel)["s.jpg"]
    finally:
        s.close()


def test_device_symlink_and_dev_null_listed(tmp_path):
    r = release_with(tmp_path)
    os.symlink("/dev/zero", r / "zero.png")  # would be read forever
    rel = _nonblocking(lambda: load_release(r))
    assert "outside the folder" in reasons(rel)["zero.png"] or "character device" in reasons(rel)["zero.png"]


def test_symlink_loop_listed_not_a_traceback(tmp_path):
    r = release_with(tmp_path)
    os.symlink("loop.png", r / "loop.png")
    os.symlink("b.png", r / "a.png")
    os.symlink("a.png", r / "b.png")
    rel = load_release(r)
    for name in ("loop.png", "a.png", "b.png"):
        assert "symbolic link loop" in reasons(rel)[name]
    assert len(rel.items) == 2


def test_dangling_symlink_listed(tmp_path):
    r = release_with(tmp_path)
    os.symlink("gone.png", r / "dangling.png")
    assert "dangling symbolic link" in reasons(load_release(r))["dangling.png"]


def test_directory_symlink_loop_not_followed(tmp_path):
    r = release_with(tmp_path)
    (r / "sub").mkdir()
    img(r / "sub" / "inner.png", seed=3)
    os.symlink("..", r / "sub" / "up")  # r/sub/up -> r: an endless tree if followed
    rel = _nonblocking(lambda: load_release(r))
    assert "symbolic link to a folder not followed" in reasons(rel)["sub/up"]
    assert {it.file.rel for it in rel.items} == {"good1.png", "good2.png", "sub/inner.png"}


def test_symlink_inside_to_regular_file_is_used(tmp_path):
    r = release_with(tmp_path)
    os.symlink("good1.png", r / "alias.png")
    rel = load_release(r)
    assert "alias.png" in {it.file.rel for it in rel.items}
    assert any("duplicate release files" in n for n in rel.notes)


def test_directory_named_like_an_image_is_walked_not_opened(tmp_path):
    r = release_with(tmp_path)
    (r / "folder.jpg").mkdir()
    img(r / "folder.jpg" / "x.png", seed=4)
    (r / "empty.png").mkdir()
    rel = load_release(r)
    assert "folder.jpg/x.png" in {it.file.rel for it in rel.items}
    assert "empty.png" not in reasons(rel)  # an empty folder is nothing to list


def test_unreadable_file_listed(tmp_path, monkeypatch):
    """Permission denied (simulated: the suite may run as root, which reads anything)."""
    import auditkit.data.safe_files as sf

    r = release_with(tmp_path)
    img(r / "locked.png", seed=5)
    real_open = os.open

    def deny(path, flags, *a, **kw):
        if str(path).endswith("locked.png"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(sf.os, "open", deny)
    rel = load_release(r)
    assert reasons(rel)["locked.png"] == "cannot read file (Permission denied)"
    assert len(rel.items) == 2


def test_unlistable_folder_listed(tmp_path, monkeypatch):
    import auditkit.data.safe_files as sf

    r = release_with(tmp_path)
    img(r / "private" / "x.png", seed=6)
    real = os.scandir

    def deny(p):
        if str(p).endswith("private"):
            raise PermissionError(13, "Permission denied", str(p))
        return real(p)

    monkeypatch.setattr(sf.os, "scandir", deny)
    rel = load_release(r)
    assert "folder cannot be listed (Permission denied)" in reasons(rel)["private/"]


def test_file_swapped_for_fifo_after_listing_never_blocks(tmp_path):
    """The race: an entry listed as a regular file is a FIFO by the time it is read."""
    p = tmp_path / "swap.png"
    os.mkfifo(p)
    with pytest.raises(MediaError, match="not a regular file"):
        _nonblocking(lambda: load_image(p))


def test_hidden_folder_listed_once(tmp_path):
    r = release_with(tmp_path)
    img(r / ".cache" / "a.png")
    img(r / ".cache" / "b.png")
    rel = load_release(r)
    assert reasons(rel)[".cache/"] == "hidden folder ignored"
    assert not any(k.startswith(".cache/a") for k in reasons(rel))


# ------------------------------------------------------------------ names

def test_non_utf8_name_listed_faithfully(tmp_path):
    r = release_with(tmp_path)
    raw = os.fsencode(str(r)) + b"/caf\xe9_\xff.png"
    Image.fromarray(np.full((40, 30, 3), 7, np.uint8)).save(raw.decode("utf-8", "surrogateescape"))
    rel = load_release(r)
    names = {it.file.rel for it in rel.items}
    assert "caf\\xe9_\\xff.png" in names
    it = next(it for it in rel.items if it.file.rel.startswith("caf"))
    assert load_image(it.file.path).shape == (40, 30, 3)  # still opened by its real name
    json.dumps(sorted(names), ensure_ascii=False).encode("utf-8")  # always encodable


def test_display_name_is_injective_on_backslashes():
    assert display_name("a\\xe9") != display_name(os.fsdecode(b"a\xe9"))
    assert display_name("plain.png") == "plain.png"
    assert display_name("naïve.png") == "naïve.png"


def test_newline_and_control_characters_in_names(tmp_path):
    r = release_with(tmp_path)
    img(r / "line\nbreak.png", seed=7)
    img(r / "tab\there.png", seed=8)
    rel = load_release(r)
    assert {"line\nbreak.png", "tab\there.png"} <= {it.file.rel for it in rel.items}


# ------------------------------------------------------------------ images

def test_tiny_and_sliver_images_skipped(tmp_path):
    r = release_with(tmp_path)
    img(r / "dot.png", 1, 1)
    img(r / "sliver.png", 3, 400)
    img(r / "tall.png", 500, 2)
    img(r / "ok_small.png", MIN_IMAGE_SIDE, MIN_IMAGE_SIDE)
    rel = load_release(r)
    rs = reasons(rel)
    for name, dims in (("dot.png", "1x1"), ("sliver.png", "400x3"), ("tall.png", "2x500")):
        assert rs[name].startswith(f"image too small to hold a face: {dims} pixels"), rs[name]
    assert "ok_small.png" in {it.file.rel for it in rel.items}


def test_multipage_tiff_each_page_an_item(tmp_path):
    r = release_with(tmp_path)
    pages = [Image.fromarray(np.full((40, 30, 3), 40 * k, np.uint8)) for k in range(3)]
    pages[0].save(r / "scan.tif", save_all=True, append_images=pages[1:])
    rel = load_release(r)
    got = sorted(it.file.rel for it in rel.items if it.file.rel.startswith("scan"))
    assert got == ["scan.tif#page1", "scan.tif#page2", "scan.tif#page3"]
    third = next(it for it in rel.items if it.file.rel == "scan.tif#page3")
    assert load_image(third.file.path)[0, 0, 0] == 80
    assert any("scan.tif: 3 frames" in n for n in rel.notes)
    assert [f.rel for f in rel.files if f.rel.startswith("scan")] == ["scan.tif"]  # custody: the file
    assert len({it.file.sha256 for it in rel.items}) == len(rel.items)  # distinct cache keys


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_images_each_frame_an_item(tmp_path, fmt):
    r = release_with(tmp_path)
    frames = [Image.fromarray(np.full((32, 32, 3), v, np.uint8)) for v in (10, 120, 240)]
    name = f"anim.{fmt.lower()}"
    frames[0].save(r / name, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0,
                   **({"lossless": True} if fmt == "WEBP" else {}))
    rel = load_release(r)
    pages = sorted(it.file.rel for it in rel.items if it.file.rel.startswith("anim"))
    assert pages == [f"{name}#page{i}" for i in (1, 2, 3)]
    last = next(it for it in rel.items if it.file.rel.endswith("#page3"))
    assert abs(int(load_image(last.file.path).mean()) - 240) <= 6


def test_frame_cap_is_stated(tmp_path):
    from auditkit.data import safe_files

    r = release_with(tmp_path)
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in range(0, 250, 10)]
    frames[0].save(r / "long.gif", save_all=True, append_images=frames[1:])
    n = len(frames)
    old = safe_files.MAX_FRAMES
    safe_files.MAX_FRAMES = 4
    try:
        rel = load_release(r)
    finally:
        safe_files.MAX_FRAMES = old
    assert sum(it.file.rel.startswith("long.gif#") for it in rel.items) == 4
    assert any(f"{n} frames: only the first 4 are audited" in x for x in rel.notes)


def test_manifest_row_of_a_multipage_file_covers_every_page(tmp_path):
    r = release_with(tmp_path)
    pages = [Image.fromarray(np.full((40, 30, 3), 40 * k, np.uint8)) for k in range(2)]
    pages[0].save(r / "two.tif", save_all=True, append_images=pages[1:])
    (r / "manifest.csv").write_text("path,subject\ntwo.tif,alice\ngood1.png,bob\n")
    rel = load_release(r)
    two = [it for it in rel.items if it.file.rel.startswith("two.tif")]
    assert len(two) == 2 and {it.subject for it in two} == {"alice"}
    assert len({it.probe_id for it in two}) == 2


def test_alpha_never_hides_pixels(tmp_path):
    r = release_with(tmp_path)
    face = np.random.default_rng(9).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    rgba = np.dstack([face, np.zeros((40, 30), np.uint8)])  # fully transparent, colour intact
    Image.fromarray(rgba, "RGBA").save(r / "hidden.png")
    rel = load_release(r)
    assert np.array_equal(load_image(r / "hidden.png"), face)  # the attacker's view: colour channels
    assert any("hidden.png (100%)" in n and "drops the alpha" in n for n in rel.notes)


def test_palette_transparency_and_la_modes(tmp_path):
    r = release_with(tmp_path)
    p = Image.fromarray(np.full((20, 20), 3, np.uint8), "L").convert("P")
    p.info["transparency"] = 3
    p.save(r / "pal.png", transparency=3)
    la = Image.fromarray(np.dstack([np.full((20, 20), 200, np.uint8), np.zeros((20, 20), np.uint8)]), "LA")
    la.save(r / "la.png")
    assert load_image(r / "la.png")[0, 0, 0] == 200
    rel = load_release(r)
    assert any("la.png" in n and "pal.png" in n for n in rel.notes)


@pytest.mark.parametrize("trap,data,expect", [
    ("zero.png", b"", "empty file"),
    ("text.png", b"hello, not an image", "not a readable image"),
    ("trunc.jpg", None, "truncated image"),
])
def test_corrupt_images_named_by_the_decoder(tmp_path, trap, data, expect):
    p = tmp_path / trap
    if data is None:
        import io

        b = io.BytesIO()
        Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 99).save(b, format="JPEG")
        data = b.getvalue()[:300]
    p.write_bytes(data)
    with pytest.raises(MediaError, match=expect):
        load_image(p)


def test_wrong_extension_decoded_by_content(tmp_path):
    p = tmp_path / "really_a_png.jpg"
    Image.fromarray(np.full((10, 10, 3), 5, np.uint8)).save(p, format="PNG")
    assert load_image(p).shape == (10, 10, 3)


def test_decompression_bomb_header_refused_without_decoding(tmp_path):
    import struct
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)  # 10^10 pixels claimed
    p = tmp_path / "bomb.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                  + chunk(b"IEND", b""))
    with pytest.raises(MediaError, match="decompression bomb"):
        load_image(p)


def test_walk_never_raises_on_a_vanishing_entry(tmp_path, monkeypatch):
    import auditkit.data.safe_files as sf

    img(tmp_path / "a.png")
    real = os.lstat
    monkeypatch.setattr(sf.os, "lstat", lambda p: (_ for _ in ()).throw(FileNotFoundError(2, "No such file or directory"))
                        if str(p).endswith("a.png") else real(p))
    (e,) = list(walk(tmp_path))
    assert e.reason == "cannot read file information (No such file or directory)"
