"""A generated street scene: the demo's offline release when no real faces are at hand.

Drawn walking figures (head, shirt, swinging legs; each identity with its own colours, height and
stride period) cross the views of two cameras; their heads are blurred in the release, as a
vendor's face anonymizer would leave them. An intruder's gallery holds one clear walking clip per
person. Nothing here is a real person and nothing is downloaded: the scene is drawn from a seed,
so the demo runs on a machine with no network and no data sets. The same drawing code feeds the
video tests (tests/test_video_audit.py).

The audit of this scene is honest (appearance, gait, fused and cross-camera linkage attacks on
real pixels, scored against chance); it shows what auditkit does with clothing and gait when
faces are blurred. It says nothing about faces: for the face ladder, give real faces
(``auditkit demo --faces DIR``).
"""
from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "FPS",
    "PEOPLE",
    "SCENE_PEOPLE",
    "H",
    "W",
    "background",
    "build_scene",
    "draw_person",
    "person_crop",
    "write_clip",
    "write_manifest",
]

W, H, FPS = 320, 240, 10.0
# identity -> (shirt RGB, trousers RGB, height px, stride period in frames)
PEOPLE: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], int, int]] = {
    "ann": ((220, 30, 30), (30, 30, 160), 70, 8),
    "bob": ((30, 200, 40), (120, 80, 20), 62, 10),
    "cat": ((240, 220, 30), (20, 20, 20), 76, 6),
    "dan": ((40, 90, 230), (200, 200, 200), 66, 12),
}
# The demo's crowd: the four above and four more, two of them dressed like others (similar shirts
# or trousers), so that clothing alone does not separate everyone.
SCENE_PEOPLE = {
    **PEOPLE,
    "eve": ((200, 50, 60), (40, 40, 140), 64, 9),      # close to ann
    "fay": ((250, 140, 20), (60, 60, 60), 72, 7),
    "gus": ((40, 180, 170), (120, 80, 20), 68, 11),   # bob's trousers
    "hal": ((150, 150, 150), (30, 30, 30), 74, 10),
}


def background(seed: int = 0) -> np.ndarray:
    """A static textured background (grey blocks), RGB."""
    rng = np.random.default_rng(seed)
    bg = np.full((H, W, 3), 110, np.uint8)
    for _ in range(40):
        x, y = rng.integers(0, W - 20), rng.integers(0, H - 20)
        g = int(rng.integers(80, 150))
        bg[y:y + 20, x:x + 20] = (g, g, g)
    return bg


def draw_person(img: np.ndarray, who: str, x: float, t: int, ground: int, *,
                people: dict | None = None) -> tuple[int, int, int, int]:
    """Draw ``who`` at column ``x``, feet on row ``ground``, at frame ``t``; return its box (x, y, w, h)."""
    shirt, trousers, h, period = (people or SCENE_PEOPLE)[who]
    w = h // 3
    top = ground - h
    cx = round(x)
    cv2.circle(img, (cx, top + h // 10), h // 10, (200, 160, 130), -1)
    cv2.rectangle(img, (cx - w // 2, top + h // 5), (cx + w // 2, top + h // 2 + 4), shirt, -1)
    swing = round(w * 0.6 * np.sin(2 * np.pi * t / period))
    for s in (swing, -swing):
        cv2.line(img, (cx, top + h // 2 + 4), (cx + s, ground), trousers, max(3, w // 3))
    return cx - w // 2 - abs(swing), top, w + 2 * abs(swing), h


def write_clip(path: Path, walkers: list[tuple[str, float, float, int]], n_frames: int, *,
               blur_heads: bool = True, seed: int = 0, gain: float = 1.0, people: dict | None = None) -> list[dict]:
    """Write an MJPG clip of ``walkers`` = (identity, x0, speed px/frame, ground row).

    ``blur_heads`` blurs each head (the release's de-identification); ``gain`` scales the frame's
    brightness (a second camera's exposure). Returns the manifest's box rows
    (frame, x, y, w, h, track, subject).
    """
    bg = background(seed)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    if not vw.isOpened():
        raise OSError(f"{path}: OpenCV could not open an MJPG writer")
    rows = []
    for t in range(n_frames):
        img = bg.copy()
        for k, (who, x0, v, ground) in enumerate(walkers):
            x = x0 + v * t
            if not 10 < x < W - 10:
                continue
            box = draw_person(img, who, x, t, ground, people=people)
            if blur_heads:
                bx, by, bw, bh = box
                y1 = by + bh // 5
                x0_, x1_ = max(0, bx), min(W, bx + bw)
                img[max(0, by):y1, x0_:x1_] = cv2.GaussianBlur(img[max(0, by):y1, x0_:x1_], (0, 0), 4)
            rows.append({"frame": t, "x": box[0], "y": box[1], "w": box[2], "h": box[3], "track": k + 1,
                         "subject": who})
        if gain != 1.0:
            img = np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        vw.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    vw.release()
    return rows


def person_crop(who: str, t: int, seed: int, *, people: dict | None = None) -> np.ndarray:
    """One clear still of ``who`` (RGB), as a gallery photo."""
    img = background(seed)
    x, y, w, h = draw_person(img, who, W / 2, t, 200, people=people)
    return img[y - 4:y + h + 4, x - 4:x + w + 4]


def write_manifest(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        wr = csv.DictWriter(f, columns)
        wr.writeheader()
        wr.writerows(rows)


def build_scene(out: Path, *, seed: int = 0, n_frames: int = 60) -> tuple[Path, Path]:
    """Write ``out/gallery`` (one clear walking clip and one still per person) and ``out/release``
    (four head-blurred clips from two cameras, each person seen once by each camera, with a manifest
    of boxes, tracks, subjects, cameras and times). Returns (gallery, release)."""
    import shutil

    rng = np.random.default_rng(seed)
    gallery, release = out / "gallery", out / "release"
    for d in (gallery, release):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    names = list(SCENE_PEOPLE)
    groups = [names[:4], names[4:]]
    grounds = (140, 170, 200, 230)
    rows: list[dict] = []
    clip = 0
    for cam, gain in (("cam1", 1.0), ("cam2", 0.8)):
        for g, group in enumerate(groups):
            order = [group[i] for i in rng.permutation(len(group))]
            walkers = []
            for k, who in enumerate(order):
                left = bool(rng.integers(0, 2))
                speed = float(rng.uniform(3.5, 5.0))
                walkers.append((who, 15.0 if left else W - 15.0, speed if left else -speed, grounds[k]))
            name = f"{cam}_{g + 1}.avi"
            start = datetime(2026, 3, 2, 8, 0, 0) + timedelta(minutes=20 * clip)  # far enough apart to walk
            clip += 1
            for r in write_clip(release / name, walkers, n_frames, seed=seed + clip, gain=gain):
                stamp = (start + timedelta(seconds=r["frame"] / FPS)).isoformat(timespec="milliseconds")
                rows.append({"path": name, "camera": cam, "timestamp": stamp, **r})
    write_manifest(release / "manifest.csv",
                   ["path", "frame", "x", "y", "w", "h", "track", "subject", "camera", "timestamp"], rows)
    for k, who in enumerate(names):
        d = gallery / who
        d.mkdir(parents=True)
        write_clip(d / "walk.avi", [(who, 20, 4.5, 170)], 48, blur_heads=False, seed=100 + k)
        cv2.imwrite(str(d / "still.png"), cv2.cvtColor(person_crop(who, 1, 200 + k), cv2.COLOR_RGB2BGR))
    return gallery, release
