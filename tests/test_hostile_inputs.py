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


# ------------------------------------------------------------------ one audit through every trap

def _build_trap_release(base):
    """A release and a gallery holding every trap of the folder layer at once, beside good data."""
    import io
    import struct
    import zlib

    rng = np.random.default_rng(11)
    g, r = base / "gallery", base / "release"
    faces = {}
    for i, lab in enumerate(["ann", "bob", "cyd"]):
        arr = np.kron(rng.integers(0, 255, (10, 8, 3)), np.ones((10, 10, 1))).astype(np.uint8)
        faces[lab] = arr
        for k in range(2):
            (g / lab).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(g / lab / f"{k}.png")
    os.mkfifo(g / "ann" / "pipe.png")  # gallery FIFO
    (g / "loose.png").write_bytes((g / "ann" / "0.png").read_bytes())  # no identity folder
    raw_ident = os.fsencode(str(g)) + b"/d\xe9a"  # non-UTF-8 identity folder
    os.mkdir(raw_ident)
    Image.fromarray(faces["cyd"] // 2).save(os.fsdecode(raw_ident + b"/0.png"))
    r.mkdir()
    rows = ["path,subject,x,y,w,h,timestamp"]
    for lab in ("ann", "bob", "cyd"):
        Image.fromarray(faces[lab]).save(r / f"{lab}_probe.png")
        rows.append(f"{lab}_probe.png,{lab},,,,,2024-01-01T10:00:00")
    # files and links
    os.mkfifo(r / "fifo.png")
    os.symlink("loop.png", r / "loop.png")
    os.symlink("nowhere.png", r / "dangling.png")
    os.symlink("/etc/hostname", r / "outside.png")
    (r / "dir.jpg").mkdir()
    Image.fromarray(faces["bob"]).save(r / "dir.jpg" / "inside.png")
    (r / ".hidden.png").write_bytes((r / "ann_probe.png").read_bytes())
    # names
    Image.fromarray(faces["ann"]).save(os.fsdecode(os.fsencode(str(r)) + b"/\xff\xfe.png"))
    Image.fromarray(faces["bob"]).save(r / "<img src=x onerror=alert(1)>.png")
    Image.fromarray(faces["cyd"]).save(r / "=cmd()|calc.png")
    # images
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(r / "dot.png")
    Image.fromarray(np.zeros((3, 900, 3), np.uint8)).save(r / "sliver.png")
    pages = [Image.fromarray(faces[k]) for k in ("ann", "bob")]
    pages[0].save(r / "scan.tif", save_all=True, append_images=pages[1:])
    pages[0].save(r / "anim.gif", save_all=True, append_images=pages[1:], duration=50)
    Image.fromarray(np.dstack([faces["cyd"], np.zeros(faces["cyd"].shape[:2], np.uint8)]), "RGBA").save(
        r / "transparent.png")
    (r / "zero.png").write_bytes(b"")
    b = io.BytesIO()
    Image.fromarray(faces["ann"]).save(b, format="JPEG")
    (r / "trunc.jpg").write_bytes(b.getvalue()[: len(b.getvalue()) // 3])
    (r / "text.png").write_text("not an image")
    Image.fromarray(faces["bob"]).save(r / "png_named.jpg", format="PNG")

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    (r / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 90_000, 90_000, 8, 2, 0, 0, 0))
                                 + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    # video
    (r / "empty.mp4").write_bytes(b"")
    (r / "text.mp4").write_text("not a video")
    # manifest rows
    rows += ["../gallery/ann/0.png,ann,,,,,", "/etc/passwd,ann,,,,,", "missing.png,ann,,,,,",
             "fifo.png,ann,,,,,", "bob_probe.png,bob,a,b,c,d,yesterday", "scan.tif,ann,,,,,",
             "transparent.png,cyd,,,,,", "dot.png,ann,,,,,"]
    (r / "manifest.csv").write_text("\r\n".join(rows) + "\r\n", encoding="utf-8-sig")  # BOM + CRLF
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(r / "sock.png"))
    except OSError:
        s.close()
        s = None
    return g, r, s


TRAPS = {  # skipped path -> words its reason must hold (the catalogue's "outcome" column)
    "fifo.png": "named pipe (FIFO)",
    "loop.png": "symbolic link loop",
    "dangling.png": "dangling symbolic link",
    "outside.png": "pointing outside the folder",
    ".hidden.png": "hidden file ignored",
    "dot.png": "image too small to hold a face: 1x1",
    "sliver.png": "image too small to hold a face: 900x3",
    "zero.png": "empty file (0 bytes)",
    "trunc.jpg": "truncated image",
    "text.png": "not a readable image",
    "bomb.png": "decompression bomb",
    "manifest.csv line 5": None,  # ../ escape (raw path is the key)
    "../gallery/ann/0.png": "outside the release folder",
    "/etc/passwd": "outside the release folder",
    "missing.png": "file not found",
    "gallery/ann/pipe.png": "named pipe (FIFO)",
    "gallery/loose.png": "put it in gallery/<identity>/",
}


def test_one_audit_through_every_trap(tmp_path, feature_cache_dir):
    g, r, sock = _build_trap_release(tmp_path)
    out = tmp_path / "out"
    try:
        rc = _nonblocking(lambda: main_quiet(["run", "--release", str(r), "--gallery", str(g), "--attacks",
                                              "face.naive", "--cache-dir", str(feature_cache_dir), "--out", str(out),
                                              "--reveal-labels", "--leak-scan", "off"]), timeout=300)
    finally:
        if sock is not None:
            sock.close()
    assert rc in (0, 1), rc  # done: never an input error (2) or an internal error (3)
    res = json.loads((out / "results.json").read_text())
    reasons = {s["path"]: s["reason"] for s in res["skipped"]}
    for path, words in TRAPS.items():
        if words is not None:
            assert path in reasons and words in reasons[path], (path, reasons.get(path))
    if sock is not None:
        assert "socket" in reasons["sock.png"]
    assert any(p in reasons for p in ("empty.mp4",)) and any(p in reasons for p in ("text.mp4",))
    # the rest of the audit is done: faces scored, frames and odd names audited
    face = next(a for a in res["attacks"] if a["name"] == "face.naive")
    assert face["metrics"]["n_mated"] >= 3 and res["verdict"]["risk"] is not None
    probes = {m["probe"] for m in face["details"]["matches"]}
    for want in ("scan.tif#page1", "scan.tif#page2", "anim.gif#page2", "\\xff\\xfe.png", "dir.jpg/inside.png",
                 "png_named.jpg", "transparent.png"):
        assert any(p.startswith(want) for p in probes), want
    assert any("transparency" in n for n in res["notes"])
    assert any("not ISO 8601" in n for n in res["notes"]) and any("not numeric" in n for n in res["notes"])
    assert "d\\xe9a" in {f["path"].split("/")[0] for f in res["inputs"]["gallery"]["files"]}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<img src=x onerror" not in html and "&lt;img src=x onerror=alert(1)&gt;.png" in html
    skipped_csv = (out / "skipped.csv").read_text(encoding="utf-8")
    assert "fifo.png" in skipped_csv and "named pipe" in skipped_csv
    matches_csv = (out / "matches.csv").read_text(encoding="utf-8")
    assert "'=cmd()|calc.png" in matches_csv  # spreadsheet formula neutralised


def main_quiet(argv):
    from auditkit.cli import main

    return main([*argv, "--quiet"])


# ------------------------------------------------------------------ manifests, tables, outputs, interruptions

def test_latin1_manifest_read_with_a_note(tmp_path):
    r = release_with(tmp_path)
    img(r / "café.png", seed=12)
    (r / "manifest.csv").write_bytes("path,subject\ngood1.png,Zoë\ncafé.png,ann\n".encode("cp1252"))
    rel = load_release(r)
    assert any("not UTF-8" in n and "Windows-1252" in n for n in rel.notes)
    assert {it.subject for it in rel.items if it.row} >= {"Zoë"}


def _good_table(p):
    p.write_text("age,sex,dx\n" + "".join(f"{20 + i % 7},{'FM'[i % 2]},{'ab'[i % 3 == 0]}\n" for i in range(60)))
    return p


TABLE_TRAPS = [  # (name, how to make the table, extra argv, exit code, words in stderr or verdict)
    ("missing QI column", lambda p: _good_table(p), ["--qi", "age,zip"], 2, "['zip'] not found"),
    ("zero-byte table", lambda p: p.write_bytes(b""), ["--qi", "age"], 2, "is empty"),
    ("header only", lambda p: p.write_text("age,sex\n"), ["--qi", "age"], 2, "has no rows"),
    ("table is a folder", lambda p: p.mkdir(), ["--qi", "age"], 2, "is a folder, not a regular file"),
    ("table is a FIFO", lambda p: os.mkfifo(p), ["--qi", "age"], 2, "named pipe (FIFO), not a regular file"),
    ("QI also sensitive", lambda p: _good_table(p), ["--qi", "age", "--sensitive", "age"], 2, "both quasi-identifier"),
    ("non-UTF-8 cells", lambda p: p.write_bytes(b"age,city\n" + b"".join(b"%d,K\xf6ln\n" % (i % 5) for i in range(40))),
     ["--qi", "age,city"], 0, "quasi-identifiers (age, city)"),
    ("formula cells", lambda p: p.write_text("age,x\n" + "".join(f"{i % 4},=cmd|' /C calc'!A0\n" for i in range(40))),
     ["--qi", "age,x"], 0, "quasi-identifiers (age, x)"),
    ("all-missing sensitive column", lambda p: p.write_text("age,dx\n" + "".join(f"{i % 4},?\n" for i in range(40))),
     ["--qi", "age", "--sensitive", "dx"], 0, "quasi-identifiers (age)"),
    # a truncated .xlsx: refused with the file named, whether or not openpyxl is installed (issue 14 reads .xlsx)
    ("spreadsheet file", lambda p: p.write_bytes(b"PK\x03\x04"), ["--qi", "age"], 2, "t.xlsx"),
]


@pytest.mark.parametrize("name,make,extra,code,words", TABLE_TRAPS, ids=[t[0] for t in TABLE_TRAPS])
def test_table_traps(tmp_path, capsys, name, make, extra, code, words):
    from auditkit.cli import main

    p = tmp_path / ("t.xlsx" if name == "spreadsheet file" else "t.csv")
    make(p)
    rc = _nonblocking(lambda: main(["run", "--table", str(p), *extra, "--out", str(tmp_path / "o"), "--quiet"]))
    cap = capsys.readouterr()
    assert rc == code, (rc, cap.err)
    text = cap.err if code == 2 else json.loads((tmp_path / "o" / "results.json").read_text())["verdict"]["summary"]
    assert words in text, text
    assert "Traceback" not in cap.err


def _outputs_trap(kind, tmp_path):
    t = _good_table(tmp_path / "t.csv")
    argv = ["run", "--table", str(t), "--qi", "age", "--quiet"]
    if kind == "out is a file":
        (tmp_path / "f").write_text("x")
        return [*argv, "--out", str(tmp_path / "f")], 2, "is a file"
    if kind == "out under a file":
        (tmp_path / "f").write_text("x")
        return [*argv, "--out", str(tmp_path / "f" / "o")], 2, "is a file, not a folder"
    if kind == "out is a foreign folder":
        (tmp_path / "o").mkdir()
        (tmp_path / "o" / "keep.txt").write_text("x")
        return [*argv, "--out", str(tmp_path / "o")], 2, "--force"
    if kind == "out holds the input":
        return [*argv, "--out", str(tmp_path), "--force"], 2, "holds the input"
    if kind == "cache dir is a file":
        (tmp_path / "c").write_text("x")
        return ["run", "--release", str(tmp_path), "--gallery", str(tmp_path), "--cache-dir", str(tmp_path / "c"),
                "--out", str(tmp_path / "o"), "--quiet"], 2, "--cache-dir"
    if kind == "out is a symlink loop":
        os.symlink("o", tmp_path / "o")
        return [*argv, "--out", str(tmp_path / "o")], 2, "--out"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["out is a file", "out under a file", "out is a foreign folder",
                                  "out holds the input", "cache dir is a file", "out is a symlink loop"])
def test_output_traps_refused_before_any_work(tmp_path, capsys, monkeypatch, kind):
    import auditkit.api as api_mod
    from auditkit.cli import main

    monkeypatch.setattr(api_mod, "run_audit", lambda *a, **k: pytest.fail("work started before the check"))
    argv, code, words = _outputs_trap(kind, tmp_path)
    assert main(argv) == code
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_interrupt_during_table_audit_keeps_previous_report(tmp_path, monkeypatch, capsys):
    from auditkit import tables
    from auditkit.cli import main

    t = _good_table(tmp_path / "t.csv")
    argv = ["run", "--table", str(t), "--qi", "age", "--quiet", "--out", str(tmp_path / "o")]
    assert main(argv) == 0
    before = (tmp_path / "o" / "results.json").read_bytes()
    monkeypatch.setattr(tables, "run_table_audit", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert main(argv) == 130
    assert "interrupted" in capsys.readouterr().err
    assert (tmp_path / "o" / "results.json").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".auditkit-tmp-" in p.name]


def test_internal_error_is_exit_3_not_a_finding(tmp_path, monkeypatch, capsys):
    from auditkit.cli import main
    from auditkit.scoring import risk

    t = _good_table(tmp_path / "t.csv")
    monkeypatch.setattr(risk, "table_level", lambda *a: 1 / 0)
    import auditkit.audit as audit_mod

    monkeypatch.setattr(audit_mod, "with_table_measures", lambda v, t: risk.table_level(t))
    assert main(["run", "--table", str(t), "--qi", "age", "--quiet", "--fail-on", "low",
                 "--out", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err
    assert "internal error (ZeroDivisionError" in err and "traceback in" in err
    os.unlink(err.strip().rsplit("traceback in ", 1)[1])


def test_video_clip_that_is_a_fifo_or_garbage_is_listed(tmp_path, feature_cache_dir):
    r = release_with(tmp_path)
    os.mkfifo(r / "cam.mp4")
    (r / "noise.avi").write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    rel = _nonblocking(lambda: load_release(r))
    assert "named pipe (FIFO)" in reasons(rel)["cam.mp4"]
    assert "noise.avi" in {it.file.rel for it in rel.items}  # listed as a clip; the decoder names the problem
    from auditkit.data.media import MediaError as ME
    from auditkit.data.video import iter_frames

    with pytest.raises(ME):
        list(iter_frames(r / "noise.avi"))
