"""Video decoding that never aborts an audit.

:func:`iter_frames` decodes a clip with OpenCV, samples it at a requested frame rate by
timestamp, optionally downscales each frame for detection (recording the factor so boxes map
back to the original pixels) and fills a :class:`VideoReport` as it goes: frames decoded vs the
count the container claims, the first decoding failure, missing or non-monotone timestamps and
variable frame rate. A truncated or damaged clip is decoded as far as it goes; only a clip that
cannot be opened or yields no frame at all raises :class:`~auditkit.data.media.MediaError`,
which names the file (callers turn it into a ``Skipped`` record).

Boxes everywhere in auditkit are ``(x, y, w, h)`` in pixels of the **original** frame.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from auditkit.data.media import MediaError

__all__ = [
    "Frame",
    "FrameIterator",
    "VideoReport",
    "iter_frames",
    "iter_image_frames",
    "probe_video",
]

#: relative spread of frame intervals ((max - min) / median) above which a clip is called
#: variable frame rate; container rounding of timestamps stays far below this.
VFR_TOLERANCE = 0.25


@dataclass
class Frame:
    """One decoded (and possibly downscaled) frame.

    Attributes
    ----------
    index : int
        0-based position of the frame in decode order (sampling skips indices; it never
        renumbers them).
    timestamp_s : float
        Presentation time in seconds.
    timestamp_source : str
        ``"container"`` when read from ``CAP_PROP_POS_MSEC``, ``"estimated"`` when that value
        was missing or not increasing and the time was derived from the frame index and the
        frame rate (counting on from the last good timestamp).
    image : numpy.ndarray
        RGB uint8, ``H x W x 3``, at the detection size.
    scale : float
        ``image`` size / original size (1.0 when not downscaled). A box ``b`` found on
        ``image`` is ``b / scale`` in original pixels (:meth:`to_original`).
    original_size : tuple of int
        ``(width, height)`` of the decoded frame before downscaling.
    """

    index: int
    timestamp_s: float
    timestamp_source: str
    image: np.ndarray
    scale: float = 1.0
    original_size: tuple[int, int] = (0, 0)

    @property
    def timestamp_from_container(self) -> bool:
        return self.timestamp_source == "container"

    def to_original(self, boxes: np.ndarray | Sequence[float]) -> np.ndarray:
        """Map ``(x, y, w, h)`` box(es) found on :attr:`image` back to original pixels."""
        return np.asarray(boxes, dtype=float) / self.scale


@dataclass
class VideoReport:
    """What happened while decoding one clip (filled during iteration)."""

    path: str
    frames_decoded: int = 0
    frames_yielded: int = 0
    frames_expected: int | None = None
    fps_container: float | None = None
    fps_measured: float | None = None
    first_failure: dict[str, Any] | None = None
    decode_failures: int = 0
    truncated: bool = False
    variable_frame_rate: bool = False
    interval_min_s: float | None = None
    interval_max_s: float | None = None
    missing_timestamps: int = 0
    non_monotone_timestamps: int = 0
    downscaled: bool = False
    scale: float = 1.0
    finished: bool = False
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fourcc_text(value: float) -> str:
    v = int(value) if value and math.isfinite(value) and value > 0 else 0
    chars = "".join(chr((v >> (8 * i)) & 0xFF) for i in range(4))
    return chars if v and chars.isprintable() else ""


def _sane_fps(value: float) -> float | None:
    return float(value) if math.isfinite(value) and 0.0 < value < 1000.0 else None


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise MediaError(path, "video file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise MediaError(path, "OpenCV could not open the file as a video (unknown container, "
                               "damaged header or not a video)")
    return cap


def probe_video(path: str | Path) -> dict[str, Any]:
    """Container properties of a clip, without decoding it.

    Returns
    -------
    dict
        ``width``, ``height`` (pixels), ``fps`` (container tag, ``None`` if absent or absurd),
        ``frame_count`` (container claim, ``None`` if absent), ``duration_s`` (``frame_count /
        fps`` when both are known), ``fourcc`` (codec tag, e.g. ``"avc1"``; ``""`` if unknown),
        ``backend`` (OpenCV backend name).

    Raises
    ------
    MediaError
        If the file does not exist or OpenCV cannot open it.
    """
    p = Path(path)
    cap = _open(p)
    try:
        fps = _sane_fps(cap.get(cv2.CAP_PROP_FPS))
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(n) if math.isfinite(n) and n > 0 else None
        try:
            backend = cap.getBackendName()
        except cv2.error:
            backend = ""
        return {
            "path": str(p),
            "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "fps": fps,
            "frame_count": count,
            "duration_s": (count / fps) if (count and fps) else None,
            "fourcc": _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC)),
            "backend": backend,
        }
    finally:
        cap.release()


def _resize(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    if max_side is None:
        return image, 1.0
    h, w = image.shape[:2]
    side = max(h, w)
    if side <= max_side:
        return image, 1.0
    s = max_side / side
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    out = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    # the factor actually applied (rounding): mean of both axes, which agree to < 1 px
    return out, 0.5 * (nw / w + nh / h)


class _Sampler:
    """Keep a frame when its time reaches the next slot of a ``1/fps`` grid."""

    def __init__(self, fps: float | None):
        self.period = None if fps is None else 1.0 / fps
        self.next_t: float | None = None

    def keep(self, t: float) -> bool:
        if self.period is None:
            return True
        eps = 1e-6
        if self.next_t is None:
            self.next_t = t + self.period
            return True
        if t + eps < self.next_t:
            return False
        while self.next_t <= t + eps:
            self.next_t += self.period
        return True


def _check_options(fps: float | None, max_side: int | None) -> None:
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number or None (every frame), got {fps!r}")
    if max_side is not None and not (isinstance(max_side, int) and max_side >= 16):
        raise ValueError(f"max_side must be an integer >= 16 or None (no downscaling), got {max_side!r}")


class FrameIterator(Iterator[Frame]):
    """Iterator over the frames of one clip; :attr:`report` is filled as it runs.

    Use :func:`iter_frames` to make one. After exhaustion ``report.finished`` is True.
    """

    def __init__(self, path: str | Path, *, fps: float | None = None, max_side: int | None = None,
                 max_retries: int = 3):
        _check_options(fps, max_side)
        self.path = Path(path)
        self._cap: cv2.VideoCapture | None = _open(self.path)
        self._sampler = _Sampler(fps)
        self._max_side = max_side
        self._max_retries = max_retries
        cap = self._cap
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.report = VideoReport(
            path=str(self.path),
            frames_expected=int(n) if math.isfinite(n) and n > 0 else None,
            fps_container=_sane_fps(cap.get(cv2.CAP_PROP_FPS)),
        )
        self._index = 0
        self._last_good: tuple[int, float] | None = None  # (index, seconds) of last container time
        self._prev_t: float | None = None
        self._intervals: list[float] = []

    # -- timestamps ------------------------------------------------------------------------
    def _timestamp(self, index: int) -> tuple[float, str]:
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC) if self._cap is not None else float("nan")
        fps = self.report.fps_container
        ok = math.isfinite(ms) and ms >= 0.0
        if not ok:
            self.report.missing_timestamps += 1
        t = ms / 1000.0
        if ok and self._last_good is not None and t <= self._last_good[1]:
            ok = False
            self.report.non_monotone_timestamps += 1
        if ok:
            self._last_good = (index, t)
            return t, "container"
        step = 1.0 / fps if fps else 0.0
        if self._last_good is None:
            return (index * step if fps else float(index)), "estimated"
        i0, t0 = self._last_good
        return t0 + (index - i0) * (step if fps else 1.0), "estimated"

    # -- decoding --------------------------------------------------------------------------
    def _read(self) -> np.ndarray | None:
        cap = self._cap
        if cap is None:
            return None
        ok, bgr = cap.read()
        if ok and bgr is not None:
            return bgr
        expected = self.report.frames_expected
        if expected is None or self.report.frames_decoded >= expected:
            return None  # normal end (or, without a frame count, indistinguishable from one)
        # a failure before the announced end: note it, try a few more reads (damaged frame)
        self.report.decode_failures += 1
        if self.report.first_failure is None:
            self.report.first_failure = {
                "index": self._index,
                "reason": f"decoder returned no frame at index {self._index} of {expected} expected",
            }
        for _ in range(self._max_retries):
            ok, bgr = cap.read()
            if ok and bgr is not None:
                return bgr
        return None

    def _finish(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        r = self.report
        if r.finished:
            return
        r.finished = True
        if self._intervals:
            iv = np.asarray(self._intervals)
            med = float(np.median(iv))
            r.interval_min_s, r.interval_max_s = float(iv.min()), float(iv.max())
            if med > 0:
                r.fps_measured = 1.0 / med
                r.variable_frame_rate = bool((iv.max() - iv.min()) / med > VFR_TOLERANCE)
        if r.frames_expected is not None and r.frames_decoded < r.frames_expected:
            r.truncated = True
            r.messages.append(f"{self.path}: decoded {r.frames_decoded} of {r.frames_expected} frames "
                              "the container announces; the rest could not be decoded")
        elif r.first_failure is not None:
            r.messages.append(f"{self.path}: {r.decode_failures} decoding failure(s); first: "
                              f"{r.first_failure['reason']}")
        if r.variable_frame_rate:
            r.messages.append(f"{self.path}: variable frame rate (frame intervals "
                              f"{r.interval_min_s:.4f}-{r.interval_max_s:.4f} s); sampling follows timestamps")
        if r.missing_timestamps or r.non_monotone_timestamps:
            r.messages.append(f"{self.path}: {r.missing_timestamps} missing and {r.non_monotone_timestamps} "
                              "non-increasing timestamps; those frames' times were estimated from the "
                              "frame index and frame rate")
        if r.frames_expected is None:
            r.messages.append(f"{self.path}: the container gives no frame count; decoded {r.frames_decoded} "
                              "frames, cannot tell whether the clip is complete")
        if r.fps_container is None:
            r.messages.append(f"{self.path}: the container gives no frame rate")

    def __iter__(self) -> FrameIterator:
        return self

    def __next__(self) -> Frame:
        while True:
            bgr = self._read()
            if bgr is None:
                self._finish()
                if self.report.frames_decoded == 0:
                    raise MediaError(self.path, "no decodable frame (empty, damaged or unsupported video); "
                                                f"container claims {self.report.frames_expected} frames")
                raise StopIteration
            idx = self._index
            self._index += 1
            self.report.frames_decoded += 1
            t, src = self._timestamp(idx)
            if self._prev_t is not None and src == "container":
                self._intervals.append(t - self._prev_t)
            self._prev_t = t if src == "container" else None
            if not self._sampler.keep(t):
                continue
            h, w = bgr.shape[:2]
            small, s = _resize(bgr, self._max_side)
            if s != 1.0:
                self.report.downscaled = True
                self.report.scale = s
            rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB) if small.ndim == 3 else cv2.cvtColor(
                small, cv2.COLOR_GRAY2RGB)
            self.report.frames_yielded += 1
            return Frame(idx, t, src, rgb, s, (w, h))

    def close(self) -> None:
        """Release the decoder early (the report is finalised with what was decoded)."""
        self._finish()

    def __del__(self) -> None:
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()


def iter_frames(path: str | Path, *, fps: float | None = None, max_side: int | None = None) -> FrameIterator:
    """Decode a clip frame by frame.

    Parameters
    ----------
    path : str or Path
        Video file (anything OpenCV's FFmpeg backend reads: mp4, avi, mov, mkv, ...).
    fps : float, optional
        Sample at this rate: a frame is kept when its timestamp reaches the next slot of a
        ``1/fps`` grid started at the first frame (so variable frame rate clips are sampled by
        time, not by count). ``None`` keeps every frame.
    max_side : int, optional
        Downscale frames whose longer side exceeds this (``Frame.scale`` records the factor).

    Returns
    -------
    FrameIterator
        Yields :class:`Frame`; its ``report`` (:class:`VideoReport`) is complete once the
        iterator is exhausted or closed.

    Raises
    ------
    MediaError
        At once if the file is missing or cannot be opened; on the first ``next()`` if not a
        single frame decodes. Decoding failures after the first frame never raise.

    Examples
    --------
    >>> it = iter_frames("clip.mp4", fps=5, max_side=640)     # doctest: +SKIP
    >>> frames = list(it); it.report.truncated                 # doctest: +SKIP
    False
    """
    return FrameIterator(path, fps=fps, max_side=max_side)


def iter_image_frames(paths: Iterable[str | Path], *, fps: float, max_side: int | None = None,
                      first_index: int = 0) -> Iterator[Frame]:
    """Frames from a sequence of still images (e.g. a folder of numbered JPEGs) shot at ``fps``.

    Frame ``k`` of the sequence gets index ``first_index + k`` and time ``k / fps``
    (``timestamp_source="estimated"``). Unreadable images raise :class:`MediaError`.
    """
    _check_options(fps, max_side)
    for k, p in enumerate(paths):
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise MediaError(p, "image could not be decoded")
        h, w = bgr.shape[:2]
        small, s = _resize(bgr, max_side)
        yield Frame(first_index + k, k / fps, "estimated", cv2.cvtColor(small, cv2.COLOR_BGR2RGB), s, (w, h))
