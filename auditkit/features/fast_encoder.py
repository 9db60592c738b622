"""dlib's face-recognition ResNet, run in numpy (issue 7).

The ``dlib-bin`` wheel is built without BLAS, so ``compute_face_descriptor`` spends about
100-140 ms on one face. This module reads the very same weights file
(``dlib_face_recognition_resnet_model_v1.dat`` from ``face_recognition_models``) and runs
the very same network as numpy float32 matrix products (im2col + OpenBLAS sgemm), which
is several times faster and gives the same 128-d descriptors to float32 rounding
(``tests/test_fast_encoder.py`` holds it to 1e-4 per component against dlib itself).

Face detection, landmarks and the 150x150 aligned chip stay with dlib
(``dlib.get_face_chips(img, shapes, size=150, padding=0.25)`` is what
``compute_face_descriptor`` itself uses), so both encoders see identical input.

What is reproduced, from dlib's sources (``dlib/dnn/*.h``, ``tools/python/src/face_recognition.cpp``)
------------------------------------------------------------------------------------------------
* Serialization: dlib integers are one byte ``size | 0x80 if negative`` followed by
  ``size`` little-endian magnitude bytes; floats/doubles are an integer mantissa and an
  integer exponent (value = m * 2**e); bools are the characters ``'1'``/``'0'``; strings
  are a length then bytes; tensors (version 2) are ``n, k, nr, nc`` then raw little-endian
  float32. Networks are written outermost layer first: every wrapper writes its version
  and then its sub-network, so the file holds all wrapper versions top-down, then the
  input layer, then each computational layer's details bottom-up.
* The network::

      loss_metric<fc_no_bias<128, avg_pool_everything<
          alevel0<alevel1<alevel2<alevel3<alevel4<
          max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>>>>>>>>>

  with ``ares<N> = relu<add_prev1<block<N,1,tag1<x>>>>``,
  ``ares_down<N> = relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<x>>>>>>>`` and
  ``block<N,s> = affine<con<N,3,3,1,1,relu<affine<con<N,3,3,s,s,x>>>>>``.
* ``con_``/``max_pool_`` padding is ``k//2`` when the stride is 1 and 0 otherwise (read
  from the file and checked); output size ``1 + (n + 2p - k) // s``.
* ``add_prev_`` adds tensors of different shapes by taking the element-wise maximum of
  each dimension and treating missing elements as zero (dlib >= 19.2; e.g. an 8x8 input to
  ``ares_down<256>`` gives a 3x3 block plus a 4x4 pooled shortcut, summed into 4x4).
* ``input_rgb_image``: ``(pixel - avg) / 256`` per channel with the file's averages.
* ``loss_metric_`` outputs the ``fc`` output as is (no normalisation).

Example
-------
>>> enc = load_resnet(threads=1)                                        # doctest: +SKIP
>>> enc.encode_chips(chips).shape                                       # doctest: +SKIP
(n, 128)
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

__all__ = [
    "CHIP_PADDING",
    "CHIP_SIZE",
    "ENCODER_VERSION",
    "FastFaceEncoder",
    "default_model_path",
    "encode_faces",
    "load_resnet",
]

CHIP_SIZE = 150
CHIP_PADDING = 0.25
ENCODER_VERSION = "1"
MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"


def default_model_path() -> Path:
    """Path of ``dlib_face_recognition_resnet_model_v1.dat`` shipped by ``face_recognition_models``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed; it ships the face-encoder "
                           f"weights {MODEL_FILE}")
    p = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILE
    if not p.is_file():
        raise RuntimeError(f"face-encoder weights missing: {p}")
    return p


# ----------------------------------------------------------------------------- dlib streams

class DlibFormatError(ValueError):
    """The weights file does not have the layout this module reproduces."""


class _Reader:
    """Sequential reader of dlib's portable serialization format."""

    def __init__(self, data: bytes, name: str):
        self.b = data
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"{self.name}: at byte {self.pos}: {what}")

    def int(self) -> int:
        if self.pos >= len(self.b):
            raise self.fail("unexpected end of file")
        head = self.b[self.pos]
        size = head & 0x0F
        if size > 8 or head & 0x70:
            raise self.fail(f"bad integer header byte 0x{head:02x}")
        raw = self.b[self.pos + 1:self.pos + 1 + size]
        if len(raw) != size:
            raise self.fail("unexpected end of file")
        self.pos += 1 + size
        v = int.from_bytes(raw, "little")
        return -v if head & 0x80 else v

    def float(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        return float(np.ldexp(float(mantissa), exponent)) if mantissa else 0.0

    def bool(self) -> bool:
        c = self.b[self.pos:self.pos + 1]
        if c not in (b"0", b"1"):
            raise self.fail(f"expected a bool ('0' or '1'), found {c!r}")
        self.pos += 1
        return c == b"1"

    def string(self) -> str:
        n = self.int()
        s = self.b[self.pos:self.pos + n]
        if len(s) != n:
            raise self.fail("unexpected end of file")
        self.pos += n
        return s.decode("latin-1")

    def expect_string(self, allowed: Iterable[str]) -> str:
        start = self.pos
        s = self.string()
        allowed = tuple(allowed)
        if s not in allowed:
            self.pos = start
            raise self.fail(f"found layer/version tag {s!r}, expected one of {allowed}")
        return s

    def expect_int(self, what: str, allowed: Iterable[int]) -> int:
        start = self.pos
        v = self.int()
        allowed = tuple(allowed)
        if v not in allowed:
            self.pos = start
            raise self.fail(f"{what} is {v}, expected one of {allowed}")
        return v

    def tensor(self) -> np.ndarray:
        self.expect_int("tensor version", (2,))
        n, k, nr, nc = self.int(), self.int(), self.int(), self.int()
        size = n * k * nr * nc
        raw = self.b[self.pos:self.pos + 4 * size]
        if len(raw) != 4 * size:
            raise self.fail("unexpected end of file inside a tensor")
        self.pos += 4 * size
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(n, k, nr, nc)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.expect_int("alias_tensor version", (1,))
        return self.int(), self.int(), self.int(), self.int()


# ----------------------------------------------------------------------------- network spec

@dataclass
class _Layer:
    kind: str  # con | affine | relu | max_pool | avg_pool | add_prev | fc | tag | skip
    args: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)


def _block(n: int, stride: int) -> list[_Layer]:
    # bottom-up: con<n,3,3,s,s>, affine, relu, con<n,3,3,1,1>, affine
    return [_Layer("con", {"n": n, "k": 3, "s": stride}), _Layer("affine"), _Layer("relu"),
            _Layer("con", {"n": n, "k": 3, "s": 1}), _Layer("affine")]


def _ares(n: int) -> list[_Layer]:
    return ([_Layer("tag", {"id": 1})] + _block(n, 1)
            + [_Layer("add_prev", {"tag": 1}), _Layer("relu")])


def _ares_down(n: int) -> list[_Layer]:
    return ([_Layer("tag", {"id": 1})] + _block(n, 2)
            + [_Layer("tag", {"id": 2}), _Layer("skip", {"tag": 1}),
               _Layer("avg_pool", {"k": 2, "s": 2}), _Layer("add_prev", {"tag": 2}), _Layer("relu")])


def _network_bottom_up() -> list[_Layer]:
    """The layers of ``anet_type`` in face_recognition.cpp, input side first (input excluded)."""
    layers = [_Layer("con", {"n": 32, "k": 7, "s": 2}), _Layer("affine"), _Layer("relu"),
              _Layer("max_pool", {"k": 3, "s": 2})]
    for _ in range(3):
        layers += _ares(32)                      # alevel4
    layers += _ares_down(64)                     # alevel3
    for _ in range(3):
        layers += _ares(64)
    layers += _ares_down(128)                    # alevel2
    for _ in range(2):
        layers += _ares(128)
    layers += _ares_down(256)                    # alevel1
    for _ in range(2):
        layers += _ares(256)
    layers += _ares_down(256)                    # alevel0
    layers += [_Layer("avg_pool", {"k": 0, "s": 1}), _Layer("fc", {"n": 128})]
    return layers


def _read_con(r: _Reader, layer: _Layer) -> None:
    tag = r.expect_string(("con_4", "con_5", "con_6"))
    params = r.tensor().ravel()
    n_filters, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
    k, s = layer.args["k"], layer.args["s"]
    want_pad = k // 2 if s == 1 else 0
    got = (n_filters, nr, nc, sy, sx, py, px)
    if got != (layer.args["n"], k, k, s, s, want_pad, want_pad):
        raise r.fail(f"con_ has (filters, nr, nc, stride_y, stride_x, pad_y, pad_x)={got}, "
                     f"expected {(layer.args['n'], k, k, s, s, want_pad, want_pad)}")
    filt = r.alias_tensor()
    bias = r.alias_tensor()
    for _ in range(4):  # learning-rate / weight-decay multipliers
        r.float()
    use_bias = r.bool() if tag in ("con_5", "con_6") else True
    use_relu = r.bool() if tag == "con_6" else False
    n_w = filt[0] * filt[1] * filt[2] * filt[3]
    if filt[0] != n_filters or filt[2:] != (k, k) or params.size != n_w + (n_filters if use_bias else 0):
        raise r.fail(f"con_ parameter sizes inconsistent: filters {filt}, biases {bias}, "
                     f"{params.size} parameters")
    w = params[:n_w].reshape(filt)  # (F, C, kh, kw)
    b = params[n_w:] if use_bias else np.zeros(n_filters, np.float32)
    layer.params = {"w": w, "b": b.astype(np.float32)}
    layer.args["pad"] = want_pad
    layer.args["fused_relu"] = use_relu


def _read_affine(r: _Reader, layer: _Layer) -> None:
    tag = r.expect_string(("affine_", "affine_2"))
    params = r.tensor().ravel()
    g = r.alias_tensor()
    b = r.alias_tensor()
    mode = r.int()
    disabled = r.bool() if tag == "affine_2" else False
    ng = g[0] * g[1] * g[2] * g[3]
    nb = b[0] * b[1] * b[2] * b[3]
    if mode != 0 or ng != nb or params.size != ng + nb or disabled:
        raise r.fail(f"affine_ expected in conv mode (0) with gamma and beta of equal size; found "
                     f"mode={mode}, gamma {g}, beta {b}, {params.size} parameters, disabled={disabled}")
    layer.params = {"gamma": params[:ng].copy(), "beta": params[ng:].copy()}


def _read_pool(r: _Reader, layer: _Layer, name: str) -> None:
    r.expect_string((f"{name}_2",))
    nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
    k, s = layer.args["k"], layer.args["s"]
    want = (k, k, s, s, 0, 0) if k == 0 or s != 1 else (k, k, s, s, k // 2, k // 2)
    if (nr, nc, sy, sx, py, px) != want:
        raise r.fail(f"{name}_ has (nr, nc, stride_y, stride_x, pad_y, pad_x)="
                     f"{(nr, nc, sy, sx, py, px)}, expected {want}")


def _read_fc(r: _Reader, layer: _Layer) -> None:
    r.expect_string(("fc_2",))
    n_out, n_in = r.int(), r.int()
    params = r.tensor().ravel()
    w = r.alias_tensor()
    r.alias_tensor()  # biases (empty for fc_no_bias)
    bias_mode = r.int()
    for _ in range(4):
        r.float()
    if n_out != layer.args["n"] or bias_mode != 1 or w[:2] != (n_in, n_out) or params.size != n_in * n_out:
        raise r.fail(f"fc_ expected fc_no_bias<{layer.args['n']}>; found {n_out} outputs, "
                     f"{n_in} inputs, bias mode {bias_mode}, weights {w}, {params.size} parameters")
    layer.params = {"w": params.reshape(n_in, n_out).copy()}


def _read_layer(r: _Reader, layer: _Layer) -> None:
    if layer.kind == "con":
        _read_con(r, layer)
    elif layer.kind == "affine":
        _read_affine(r, layer)
    elif layer.kind == "relu":
        r.expect_string(("relu_",))
    elif layer.kind == "max_pool":
        _read_pool(r, layer, "max_pool")
    elif layer.kind == "avg_pool":
        _read_pool(r, layer, "avg_pool")
    elif layer.kind == "add_prev":
        r.expect_string(("add_prev_",))
    elif layer.kind == "fc":
        _read_fc(r, layer)
    else:  # pragma: no cover - programming error
        raise AssertionError(layer.kind)


def _parse(data: bytes, name: str) -> tuple[list[_Layer], np.ndarray]:
    """Parse a serialized ``anet_type``; returns the layers (bottom-up) and the input averages."""
    r = _Reader(data, name)
    r.expect_int("add_loss_layer version", (1,))
    r.expect_string(("loss_metric_2",))
    r.float()  # margin
    r.float()  # distance threshold
    layers = _network_bottom_up()
    bottom_version = 0
    # wrapper versions, outermost (top) first
    for i, layer in enumerate(reversed(layers)):
        if layer.kind in ("tag", "skip"):
            r.expect_int(f"add_{layer.kind}_layer version", (1,))
        elif i == len(layers) - 1:
            bottom_version = r.expect_int("add_layer (over the input) version", (2, 3))
        else:
            r.expect_int("add_layer version", (2,))  # version 2 carries params_grad, read below
    r.expect_string(("input_rgb_image_sized",))
    avg = np.array([r.float(), r.float(), r.float()], dtype=np.float32)
    nr, nc = r.int(), r.int()
    if (nr, nc) != (CHIP_SIZE, CHIP_SIZE):
        raise r.fail(f"input_rgb_image_sized<{nr}x{nc}>, expected {CHIP_SIZE}x{CHIP_SIZE}")
    # details bottom-up; each add_layer then writes its bookkeeping fields
    for i, layer in enumerate(layers):
        if layer.kind in ("tag", "skip"):
            continue
        _read_layer(r, layer)
        for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, output disabled
            r.bool()
        r.tensor()  # x_grad
        r.tensor()  # cached_output
        if i == 0:
            r.tensor()  # grad_final
            if bottom_version >= 3:
                r.int()  # _sample_expansion_factor
        else:
            r.tensor()  # params_grad (add_layer version 2)
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} trailing bytes after the network")
    return layers, avg


# ----------------------------------------------------------------------------- forward pass

def _im2col(x: np.ndarray, k: int, s: int, pad: int) -> tuple[np.ndarray, int, int]:
    """NHWC ``x`` -> (N*Ho*Wo, k*k*C) patch matrix in (kh, kw, C) order."""
    n, h, w, c = x.shape
    if pad:
        xp = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=x.dtype)
        xp[:, pad:pad + h, pad:pad + w, :] = x
    else:
        xp = x
    ho = 1 + (h + 2 * pad - k) // s
    wo = 1 + (w + 2 * pad - k) // s
    cols = np.empty((n, ho, wo, k * k * c), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            o = (i * k + j) * c
            cols[:, :, :, o:o + c] = xp[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s, :]
    return cols.reshape(n * ho * wo, k * k * c), ho, wo


def _stem(x: np.ndarray, wmat: np.ndarray, b: np.ndarray, k: int, s: int, pad: int) -> np.ndarray:
    """Strided conv of planar ``x`` (N, C, H, W) with patches in (C, kh, kw) order; NHWC out."""
    from numpy.lib.stride_tricks import sliding_window_view

    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, w = x.shape
    ho, wo = 1 + (h - k) // s, 1 + (w - k) // s
    win = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, :s * (ho - 1) + 1:s, :s * (wo - 1) + 1:s]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)  # one copy
    y = cols @ wmat
    y += b
    return y.reshape(n, ho, wo, -1)


def _add_prev(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dlib's tt::add: element-wise sum over the max of each dimension, missing elements = 0."""
    if a.shape == b.shape:
        return a + b
    shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape))
    out = np.zeros(shape, dtype=a.dtype)
    out[:a.shape[0], :a.shape[1], :a.shape[2], :a.shape[3]] += a
    out[:b.shape[0], :b.shape[1], :b.shape[2], :b.shape[3]] += b
    return out


@dataclass
class _Op:
    kind: str  # conv | relu | max_pool | avg_pool | tag | skip | add_prev | mean | fc
    args: dict[str, Any]


def _compile(layers: list[_Layer]) -> list[_Op]:
    """Fold each affine into the conv below it and turn the layer list into ops."""
    ops: list[_Op] = []
    i = 0
    while i < len(layers):
        ly = layers[i]
        if ly.kind == "con":
            w, b = ly.params["w"], ly.params["b"]
            if ly.args["fused_relu"]:
                raise DlibFormatError("con_ with a fused relu is not part of this network")
            if i + 1 < len(layers) and layers[i + 1].kind == "affine":
                g, beta = layers[i + 1].params["gamma"], layers[i + 1].params["beta"]
                w = w * g[:, None, None, None]
                b = b * g + beta
                i += 1
            f, c, kh, kw = w.shape
            if not ops:  # the stem (7x7, stride 2, 3 channels): patches cut from planar input
                wmat = np.ascontiguousarray(w.reshape(f, c * kh * kw).T, dtype=np.float32)
                kind = "stem"
            else:  # NHWC im2col, patches in (kh, kw, C) order
                wmat = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(kh * kw * c, f), dtype=np.float32)
                kind = "conv"
            ops.append(_Op(kind, {"w": wmat, "b": b.astype(np.float32), "k": kh,
                                  "s": ly.args["s"], "pad": ly.args["pad"]}))
        elif ly.kind == "affine":
            raise DlibFormatError("affine_ not directly above a con_ is not part of this network")
        elif ly.kind in ("relu", "add_prev", "tag", "skip"):
            ops.append(_Op(ly.kind, dict(ly.args)))
        elif ly.kind == "max_pool":
            ops.append(_Op("max_pool", dict(ly.args)))
        elif ly.kind == "avg_pool":
            ops.append(_Op("mean" if ly.args["k"] == 0 else "avg_pool", dict(ly.args)))
        elif ly.kind == "fc":
            ops.append(_Op("fc", {"w": np.ascontiguousarray(ly.params["w"], dtype=np.float32)}))
        else:  # pragma: no cover
            raise AssertionError(ly.kind)
        i += 1
    return ops


class FastFaceEncoder:
    """dlib's ``dlib_face_recognition_resnet_model_v1`` forward pass in numpy float32.

    Build it with :func:`load_resnet`. Descriptors equal dlib's ``compute_face_descriptor``
    to float32 rounding (about 1e-6); jittering (``num_jitters > 1``) is not reproduced.

    Attributes
    ----------
    weights_path : pathlib.Path
        The ``.dat`` file the weights were read from.
    weights_sha256 : str
        SHA-256 of that file, to record which model produced the features.
    threads : int or None
        BLAS threads used during a forward pass (None: the library's default).
    batch_size : int
        Default number of chips per forward pass.
    """

    def __init__(self, ops: list[_Op], avg: np.ndarray, *, weights_path: Path, weights_sha256: str,
                 threads: int | None, batch_size: int):
        self._ops = ops
        self._avg = avg.astype(np.float32)
        self.weights_path = weights_path
        self.weights_sha256 = weights_sha256
        self.threads = threads
        self.batch_size = batch_size

    @property
    def encoder_id(self) -> str:
        """Short id for results.json: ``fast-numpy:<first 12 hex of the weights' sha256>``."""
        return f"fast-numpy:{self.weights_sha256[:12]}"

    def describe(self) -> dict[str, Any]:
        """Plain description for results.json (``encoder`` block)."""
        return {"name": "fast", "backend": "numpy-float32", "version": ENCODER_VERSION,
                "weights": self.weights_path.name, "weights_sha256": self.weights_sha256,
                "equivalent_to": "dlib.face_recognition_model_v1.compute_face_descriptor (num_jitters=1)"}

    # -- forward
    def _forward(self, chips: np.ndarray) -> np.ndarray:
        # input_rgb_image: (pixel - avg) / 256, planar (N, 3, H, W) for the stem's patches
        x = (chips.transpose(0, 3, 1, 2).astype(np.float32) - self._avg[:, None, None]) / np.float32(256.0)
        tags: dict[int, np.ndarray] = {}
        for op in self._ops:
            a = op.args
            if op.kind == "stem":
                x = _stem(x, a["w"], a["b"], a["k"], a["s"], a["pad"])
            elif op.kind == "conv":
                n = x.shape[0]
                if a["k"] == 1 and a["s"] == 1:
                    cols, ho, wo = x.reshape(-1, x.shape[3]), x.shape[1], x.shape[2]
                else:
                    cols, ho, wo = _im2col(x, a["k"], a["s"], a["pad"])
                y = cols @ a["w"]
                y += a["b"]
                x = y.reshape(n, ho, wo, -1)
            elif op.kind == "relu":
                np.maximum(x, 0, out=x)
            elif op.kind == "tag":
                tags[a["id"]] = x
            elif op.kind == "skip":
                x = tags[a["tag"]]
            elif op.kind == "add_prev":
                x = _add_prev(x, tags[a["tag"]])
            elif op.kind == "max_pool":
                k, s = a["k"], a["s"]
                h, w = x.shape[1], x.shape[2]
                ho, wo = 1 + (h - k) // s, 1 + (w - k) // s
                m = None
                for i in range(k):
                    for j in range(k):
                        v = x[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s, :]
                        m = v.copy() if m is None else np.maximum(m, v, out=m)
                x = m
            elif op.kind == "avg_pool":  # 2x2 stride 2, no padding
                k, s = a["k"], a["s"]
                h, w = x.shape[1], x.shape[2]
                ho, wo = 1 + (h - k) // s, 1 + (w - k) // s
                acc = None
                for i in range(k):
                    for j in range(k):
                        v = x[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s, :]
                        acc = v.copy() if acc is None else np.add(acc, v, out=acc)
                x = acc / np.float32(k * k)
            elif op.kind == "mean":
                x = x.mean(axis=(1, 2), dtype=np.float32)
            elif op.kind == "fc":
                x = x @ a["w"]
            else:  # pragma: no cover
                raise AssertionError(op.kind)
        return x

    def encode_chips(self, chips: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """128-d descriptors of aligned face chips.

        Parameters
        ----------
        chips : ndarray of uint8, shape (N, 150, 150, 3) or (150, 150, 3)
            RGB chips aligned as ``dlib.get_face_chip(img, shape, size=150, padding=0.25)``.
        batch_size : int, optional
            Chips per forward pass (default: the encoder's ``batch_size``).

        Returns
        -------
        ndarray of float64, shape (N, 128)
        """
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"chips must have shape (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), got {chips.shape}")
        if chips.dtype != np.uint8:
            raise ValueError(f"chips must be uint8 RGB, got dtype {chips.dtype}")
        bs = self.batch_size if batch_size is None else int(batch_size)
        if bs < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        out = np.empty((chips.shape[0], 128), dtype=np.float64)
        if chips.shape[0] == 0:
            return out
        with _blas_limit(self.threads):
            for start in range(0, chips.shape[0], bs):
                out[start:start + bs] = self._forward(chips[start:start + bs])
        return out

    def encode_faces(self, image_rgb: np.ndarray, shapes: Sequence[Any], *, num_jitters: int = 1,
                     batch_size: int | None = None) -> np.ndarray:
        """Descriptors of the faces ``shapes`` (dlib ``full_object_detection``) in an RGB image.

        The chips are cut by dlib exactly as ``compute_face_descriptor`` cuts them
        (``get_face_chip_details(shape, 150, 0.25)`` + ``extract_image_chips``).

        Raises
        ------
        ValueError
            If ``num_jitters > 1``: dlib's random jitter is not reproduced, and a silent
            substitute would change the features.
        """
        if num_jitters > 1:
            raise ValueError(f"num_jitters={num_jitters}: the fast encoder reproduces dlib only for "
                             "num_jitters <= 1; use encoder='dlib' for jittered encodings")
        return self.encode_chips(face_chips(image_rgb, shapes), batch_size=batch_size)


def face_chips(image_rgb: np.ndarray, shapes: Sequence[Any]) -> np.ndarray:
    """150x150 RGB chips of ``shapes`` in ``image_rgb``, cut by dlib as compute_face_descriptor does."""
    import dlib

    img = np.asarray(image_rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image_rgb must be an (H, W, 3) uint8 RGB array, got shape {img.shape} "
                         f"dtype {img.dtype}")
    shapes = list(shapes)
    if not shapes:
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    for s in shapes:
        if s.num_parts not in (5, 68):
            raise ValueError(f"face shapes must have 5 or 68 landmarks (as dlib requires), got {s.num_parts}")
    if not img.flags["C_CONTIGUOUS"]:
        img = np.ascontiguousarray(img)
    objs = dlib.full_object_detections()
    for s in shapes:
        objs.append(s)
    chips = dlib.get_face_chips(img, objs, size=CHIP_SIZE, padding=CHIP_PADDING)
    return np.stack([np.asarray(c, dtype=np.uint8) for c in chips])


_CONTROLLER: list[Any] = [None, -1]  # threadpoolctl's controller, and len(sys.modules) when it was made


def _controller() -> Any:
    """One threadpoolctl controller per process, made again when modules were imported since (they may
    have loaded another BLAS): ``threadpool_limits()`` inspects every loaded library on each call, ~4 ms
    in an audit process, paid per encoded face (issue 15: 5 s of a 3-strength sweep)."""
    import sys

    if _CONTROLLER[0] is None or _CONTROLLER[1] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _CONTROLLER[0], _CONTROLLER[1] = ThreadpoolController(), len(sys.modules)
    return _CONTROLLER[0]


class _blas_limit:
    """Context manager bounding BLAS threads with threadpoolctl (no-op for None)."""

    def __init__(self, threads: int | None):
        self.threads = threads
        self._ctl = None

    def __enter__(self) -> Self:
        if self.threads is not None:
            self._ctl = _controller().limit(limits=self.threads, user_api="blas")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ctl is not None:
            self._ctl.restore_original_limits()


_CACHE: dict[tuple[str, int, int], tuple[list[_Op], np.ndarray, str]] = {}


def load_resnet(path: str | os.PathLike | None = None, *, threads: int | None = 1,
                batch_size: int = 1) -> FastFaceEncoder:
    """Read dlib's face-recognition ResNet weights and return a numpy encoder.

    Parameters
    ----------
    path : path-like, optional
        The ``dlib_face_recognition_resnet_model_v1.dat`` file (default: the one shipped by
        ``face_recognition_models``). Parsed once per process and kept as float32 arrays.
    threads : int or None, default 1
        BLAS threads per forward pass (threadpoolctl), so that ``--jobs`` worker processes
        do not oversubscribe the cores; None leaves the library default.
    batch_size : int, default 1
        Chips per forward pass. With 1, a chip's descriptor is bitwise independent of the
        other chips in the call (larger batches change OpenBLAS's blocking and so the last
        float32 bits, by ~1e-7); per-chip passes are as fast here (the im2col buffers stay
        in cache), so 1 is the default for reproducibility.

    Raises
    ------
    DlibFormatError
        If the file is not the network this module reproduces (names the byte offset).
    """
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    p = Path(path) if path is not None else default_model_path()
    if not p.is_file():
        raise FileNotFoundError(f"face-encoder weights not found: {p}")
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        data = p.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        layers, avg = _parse(data, str(p))
        _CACHE[key] = (_compile(layers), avg, sha)
    ops, avg, sha = _CACHE[key]
    return FastFaceEncoder(ops, avg, weights_path=p, weights_sha256=sha,
                           threads=None if threads is None else int(threads), batch_size=int(batch_size))


def encode_faces(image_rgb: np.ndarray, shapes: Sequence[Any], *, encoder: FastFaceEncoder | None = None,
                 batch_size: int | None = None) -> np.ndarray:
    """Descriptors of ``shapes`` in ``image_rgb`` with the fast encoder (loaded on first use).

    Equivalent to ``[dlib.face_recognition_model_v1(path).compute_face_descriptor(image_rgb, s)
    for s in shapes]`` to float32 rounding. Returns an (N, 128) float64 array.
    """
    enc = encoder if encoder is not None else load_resnet()
    return enc.encode_faces(image_rgb, shapes, batch_size=batch_size)
