"""Faces: detection, 5-point landmarks and 128-d encodings with dlib's models.

The same models and steps as ``face_recognition`` (HOG or CNN detector with upsampling, the
5-point shape predictor, ``dlib_face_recognition_resnet_model_v1``), called through dlib
directly so that nothing is loaded at import time and every step is parameterised.

Boxes are ``(x, y, w, h)`` in pixels of the original image everywhere in auditkit.
A face the detector misses is not dropped: the attacker still encodes the region given by
the manifest box, or the whole image, and the observation records ``source`` so the
detection rate can be reported as its own finding.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.boxes import box_iou, clip_box
from .cache import FeatureCache, cache_key

__all__ = [
    "EXTRACTOR_VERSION",
    "FaceModels",
    "FaceParams",
    "ImageFaces",
    "box_iou",
    "extract_faces",
    "extract_many",
    "largest_face",
    "model_path",
]

EXTRACTOR_VERSION = "1"
ENCODING_DIM = 128
SOURCES = ("detector", "manifest_box", "whole_image")


def model_path(name: str) -> Path:
    """Path of a model file shipped by ``face_recognition_models`` (no import side effects)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed; install auditkit's dependencies")
    p = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not p.is_file():
        raise RuntimeError(f"model file missing: {p}")
    return p


@dataclass(frozen=True)
class FaceParams:
    """Parameters of the face extractor; all of them enter the cache key."""

    detector: str = "hog"  # "hog" | "cnn" | "centerface" (small faces; the `centerface` extra)
    upsample: int = 1  # times the image is upsampled before detection (finds small faces)
    jitters: int = 1  # dlib num_jitters for the encoding
    max_side: int = 1600  # detection runs on a copy downscaled to this side; boxes mapped back
    # "fast": dlib's ResNet re-implemented in numpy/BLAS (issue 7; equal to dlib's descriptors to
    # ~1e-6, 5-6x faster here); "dlib": dlib-bin's own implementation
    encoder: str = "fast"

    def __post_init__(self) -> None:
        if self.detector not in ("hog", "cnn", "centerface"):
            raise ValueError(f"detector must be 'hog', 'cnn' or 'centerface', got {self.detector!r}")
        if not 0 <= self.upsample <= 4:
            raise ValueError(f"upsample must be in 0..4, got {self.upsample!r}")
        if self.jitters < 1:
            raise ValueError(f"jitters must be >= 1, got {self.jitters!r}")
        if self.encoder not in ("dlib", "fast"):
            raise ValueError(f"encoder must be 'dlib' or 'fast', got {self.encoder!r}")
        if self.encoder == "fast" and self.jitters > 1:
            raise ValueError(f"jitters={self.jitters} needs encoder='dlib': the fast encoder reproduces "
                             "dlib's descriptors only without jitter (jitters=1)")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaceModels:
    """dlib models, loaded once (per process) on first use."""

    def __init__(self, params: FaceParams):
        import dlib

        self.params = params
        self.dlib = dlib
        if params.detector == "hog":
            self._hog = dlib.get_frontal_face_detector()
        elif params.detector == "centerface":
            from .centerface import CenterFaceDetector

            # as make_face_detector("centerface"): each upsample step doubles the image, as for dlib's detectors
            self._centerface = CenterFaceDetector(upscale=2.0 ** params.upsample)
        else:
            self._cnn = dlib.cnn_face_detection_model_v1(str(model_path("mmod_human_face_detector.dat")))
        self.shape5 = dlib.shape_predictor(str(model_path("shape_predictor_5_face_landmarks.dat")))
        if params.encoder == "fast":
            from .fast_encoder import load_resnet  # issue 7

            self._fast = load_resnet(threads=1)
            self.encoder_id = self._fast.encoder_id
        else:
            self._dlib_enc = dlib.face_recognition_model_v1(
                str(model_path("dlib_face_recognition_resnet_model_v1.dat")))
            self.encoder_id = "dlib:dlib_face_recognition_resnet_model_v1"

    def detect(self, img: np.ndarray) -> tuple[list[tuple[int, int, int, int]], list[float]]:
        """Faces in an RGB image: boxes (x, y, w, h) in its pixels, and detector scores."""
        h, w = img.shape[:2]
        scale = 1.0
        work = img
        if max(h, w) > self.params.max_side:
            import cv2

            scale = self.params.max_side / max(h, w)
            work = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                              interpolation=cv2.INTER_AREA)
        boxes, scores = [], []
        if self.params.detector == "centerface":
            return _centerface_boxes(self._centerface, work, scale)
        if self.params.detector == "hog":
            rects, sc, _ = self._hog.run(work, self.params.upsample, 0.0)
            pairs = zip(rects, sc)
        else:
            dets = self._cnn(work, self.params.upsample)
            pairs = ((d.rect, d.confidence) for d in dets)
        for r, s in pairs:
            x0 = max(0, r.left()) / scale
            y0 = max(0, r.top()) / scale
            x1 = min(work.shape[1], r.right()) / scale
            y1 = min(work.shape[0], r.bottom()) / scale
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            boxes.append((int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))))
            scores.append(float(s))
        return boxes, scores

    def encode(self, img: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
        """128-d encodings of the faces in ``boxes`` (5-point alignment, as face_recognition)."""
        if not boxes:
            return np.zeros((0, ENCODING_DIM))
        d = self.dlib
        shapes = [self.shape5(img, d.rectangle(int(x), int(y), int(x + w), int(y + h))) for x, y, w, h in boxes]
        if self.params.encoder == "fast":
            return self._fast.encode_faces(img, shapes, num_jitters=self.params.jitters)
        out = [np.asarray(self._dlib_enc.compute_face_descriptor(img, s, self.params.jitters)) for s in shapes]
        return np.vstack(out).astype(np.float64)


def _centerface_boxes(det: Any, work: np.ndarray, scale: float) -> tuple[list[tuple[int, int, int, int]], list[float]]:
    """CenterFace boxes (forehead to chin, taller than wide) as the square boxes dlib's landmark model
    expects: side = the mean of width and height, same centre; in the caller's pixels (``/ scale``)."""
    b, s = det.detect(work)
    H, W = work.shape[:2]
    boxes, scores = [], []
    for (x, y, w, h), sc in zip(b, s):
        side, cx, cy = (w + h) / 2, x + w / 2, y + h / 2
        x0, y0 = max(0.0, cx - side / 2), max(0.0, cy - side / 2)
        x1, y1 = min(float(W), cx + side / 2), min(float(H), cy + side / 2)
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        boxes.append((int(round(x0 / scale)), int(round(y0 / scale)), int(round((x1 - x0) / scale)),
                      int(round((y1 - y0) / scale))))
        scores.append(float(sc))
    return boxes, scores


def encoder_info(params: FaceParams) -> dict[str, Any]:
    """What computes the face encodings, for results.json and the report's chain of custody."""
    if params.encoder == "fast":
        from .fast_encoder import load_resnet

        enc = load_resnet(threads=1)  # parsed once per process
        return {"id": enc.encoder_id, **enc.describe()}
    import dlib

    p = model_path("dlib_face_recognition_resnet_model_v1.dat")
    from ..data.media import sha256_file

    return {"id": "dlib:dlib_face_recognition_resnet_model_v1", "name": "dlib",
            "backend": f"dlib {getattr(dlib, '__version__', '?')}", "weights": p.name,
            "weights_sha256": sha256_file(p)}


@dataclass
class ImageFaces:
    """Faces found in one image. Arrays have one row per face."""

    width: int
    height: int
    boxes: np.ndarray  # (n, 4) int: x, y, w, h
    scores: np.ndarray  # (n,) detector score; NaN for a fallback region
    sources: np.ndarray  # (n,) str: detector | manifest_box | whole_image
    encodings: np.ndarray  # (n, 128)
    n_detected: int

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"size": np.array([self.width, self.height]), "boxes": self.boxes, "scores": self.scores,
                "sources": self.sources.astype("U16"), "encodings": self.encodings,
                "n_detected": np.array(self.n_detected)}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> ImageFaces:
        return cls(int(a["size"][0]), int(a["size"][1]), a["boxes"].reshape(-1, 4).astype(int),
                   a["scores"].astype(float), a["sources"].astype(str),
                   a["encodings"].reshape(-1, ENCODING_DIM).astype(float), int(a["n_detected"]))


def largest_face(faces: ImageFaces) -> int:
    """Index of the largest face a detector found (the audit's choice of "the" face of an image);
    the largest box of any source when no face was detected."""
    areas = faces.boxes[:, 2] * faces.boxes[:, 3]
    det = faces.sources == "detector"
    if det.any():
        areas = np.where(det, areas, -1)
    return int(np.argmax(areas))


def _clip_box(box: tuple[int, int, int, int], w: int, h: int) -> tuple[int, int, int, int] | None:
    """An integer box clipped to a ``w`` x ``h`` image; None when less than 2 px remain on a side."""
    c = clip_box(box, (h, w))
    if c is None or c[2] < 2 or c[3] < 2:
        return None
    return tuple(int(v) for v in c)


def _extra_boxes(boxes: list, w: int, h: int, hint_box, fallback: bool) -> tuple[list, list[str]]:
    """The regions encoded besides the detections: the manifest box when no detection overlaps
    it, else the whole image when nothing was detected (and ``fallback``)."""
    fb = _clip_box(hint_box, w, h) if hint_box is not None else None
    if fb is not None and not any(box_iou(fb, b) >= 0.3 for b in boxes):
        # the manifest says a person is here and no detection overlaps it: encode the box anyway
        return [fb], ["manifest_box"]
    if not boxes and fallback:
        return [(0, 0, w, h)], ["whole_image"]
    return [], []


def extract_faces(img: np.ndarray, models: FaceModels, *,
                  hint_box: tuple[int, int, int, int] | None = None, fallback: bool = True,
                  detections: ImageFaces | None = None) -> ImageFaces:
    """Detect and encode every face; if none is found and ``fallback``, encode ``hint_box``
    (the manifest box) or else the whole image, marked as such. ``detections``: this image's
    detected faces already encoded (see :func:`_detections_of`): only the extra region is encoded."""
    h, w = img.shape[:2]
    if detections is None:
        boxes, scores = models.detect(img)
    else:
        boxes = [tuple(int(v) for v in b) for b in detections.boxes]
        scores = [float(v) for v in detections.scores]
    n_det = len(boxes)
    extra, extra_src = _extra_boxes(boxes, w, h, hint_box, fallback)
    sources = ["detector"] * n_det + extra_src
    scores = scores + [float("nan")] * len(extra)
    if detections is None:
        enc = models.encode(img, boxes + extra)
    else:
        enc = np.vstack([detections.encodings.reshape(-1, ENCODING_DIM), models.encode(img, extra)])
    return ImageFaces(w, h, np.array(boxes + extra, dtype=int).reshape(-1, 4), np.array(scores, dtype=float),
                      np.array(sources, dtype="U16"), enc, n_det)


def _detections_of(r: ImageFaces) -> ImageFaces:
    """The detected faces of an extraction (the detector's rows come first), without the extra region."""
    n = r.n_detected
    return ImageFaces(r.width, r.height, r.boxes[:n], r.scores[:n], r.sources[:n], r.encodings[:n], n)


def _from_detections(dets: ImageFaces, hint_box, fallback: bool = True) -> ImageFaces | None:
    """The extraction of an image whose detections are known, when no extra region must be
    encoded (None when one must: then the worker encodes it, without detecting again)."""
    extra, _ = _extra_boxes([tuple(b) for b in dets.boxes], dets.width, dets.height, hint_box, fallback)
    return None if extra else dets


# ---------------------------------------------------------------- parallel, cached extraction

_WORKER_MODELS: FaceModels | None = None


def _init_worker(params: FaceParams) -> None:
    """Load the models once per worker process (a no-op when already loaded with ``params``)."""
    global _WORKER_MODELS
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if _WORKER_MODELS is None or _WORKER_MODELS.params != params:
        _WORKER_MODELS = FaceModels(params)


def _work(task: tuple) -> tuple[str, dict | None, str | None]:
    from ..data.media import MediaError, load_image

    path, hint, params, obf = task[:4]
    dets = ImageFaces.from_arrays(task[4]) if len(task) > 4 and task[4] is not None else None
    _init_worker(params)  # loaded once per process; reloaded only if the parameters differ
    try:
        img = load_image(path)
    except MediaError as e:
        return path, None, e.reason
    if obf is not None:  # an attacker's transform: re-applied obfuscation (parrot), reconstruction...
        from ..obfuscation.transforms import apply_transform

        text, region = obf
        img = apply_transform(img, text, region)
    try:
        res = extract_faces(img, _WORKER_MODELS, hint_box=hint, detections=dets)
    except Exception as e:  # noqa: BLE001  dlib errors on odd inputs must not abort the audit
        return path, None, f"face extraction failed ({type(e).__name__}: {e})"
    return path, res.to_arrays(), None


@dataclass
class Task:
    path: str
    sha256: str
    hint_box: tuple[int, int, int, int] | None = None
    #: (obfuscation spec text, region box or None for the whole image) applied before extraction
    obfuscation: tuple[str, tuple[int, int, int, int] | None] | None = None

    @property
    def key(self) -> tuple:
        return (self.path, self.hint_box, self.obfuscation)


class Progress:
    """The progress line of :mod:`auditkit.progress` (rate, ETA; a line at least every 15 s in logs)."""

    def __new__(cls, label: str, total: int, *, enabled: bool = True):
        from ..progress import Progress as _Progress

        return _Progress(label, total, enabled=enabled, unit="files")


def extract_many(tasks: Iterable[Task], params: FaceParams, cache: FeatureCache, *, jobs: int = 1,
                 progress: bool = True, label: str = "faces", executor: str = "local",
                 scheduler: str | None = None) -> dict[tuple, ImageFaces | str]:
    """Extract faces for many files, reusing the cache; returns ``{task.key: ImageFaces or error}``.

    Work is keyed by file content, so the same image listed twice is computed once. Files are
    decoded one at a time in the workers (no image is held beyond its own task) and each result
    is stored in the cache by this process as soon as it arrives, so an interrupted run resumes
    from what was finished. ``executor`` is ``"local"`` (this process when ``jobs == 1``, else a
    process pool of ``jobs``) or ``"dask"`` (a Dask cluster at ``scheduler``, or a local one of
    ``jobs`` workers); see :func:`auditkit.features.executors.imap`. Results do not depend on it.
    """
    from .executors import imap

    tasks = list(tasks)
    out: dict[tuple, ImageFaces | str] = {}
    todo: dict[str, tuple[Task, str]] = {}
    keys: dict[tuple, str] = {}
    known: dict[str, ImageFaces] = {}  # detections shared by the tasks of one transformed image
    for t in tasks:
        k = cache_key(t.sha256, "faces", EXTRACTOR_VERSION,
                      {**params.as_dict(), "hint": t.hint_box, "obfuscation": t.obfuscation})
        keys[t.key] = k
        if k in todo or t.key in out:
            continue
        bad = _known_undecodable(cache, t.sha256)
        if bad is not None:  # issue 15: a re-run does not start the pool to fail on it again
            out[t.key] = bad
            continue
        got = cache.get(k)
        if got is not None:
            out[t.key] = ImageFaces.from_arrays(got)
            continue
        dets = _cached_detections(cache, t, params)
        ready = _from_detections(dets, t.hint_box) if dets is not None else None
        if ready is not None:  # same transformed image, another hint: nothing to detect or encode
            cache.put(k, ready.to_arrays())
            out[t.key] = ready
            continue
        if dets is not None:
            known[k] = dets
        todo[k] = (t, k)
    prog = Progress(label, len(todo), enabled=progress)
    results: dict[str, ImageFaces | str] = {}
    work = [(t.path, t.hint_box, params, t.obfuscation, known[k].to_arrays() if k in known else None)
            for t, k in todo.values()]
    order = list(todo)
    if executor == "local" and len(work) <= 1:
        jobs = 1  # not worth starting a pool
    stream = imap(_work, work, initializer=_init_worker, initargs=(params,), executor=executor,
                  jobs=jobs, scheduler=scheduler, chunksize=4 if jobs > 1 else 1) if work else iter(())
    for k, (path, arrays, err) in zip(order, stream):
        results[k] = r = _store(cache, k, arrays, err)
        if isinstance(r, str):
            _note_undecodable(cache, todo[k][0], r)
        t = todo[k][0]
        if t.obfuscation is not None and not isinstance(r, str) and k not in known:
            cache.put(_detections_key(t, params), _detections_of(r).to_arrays())
        prog.update()
    for t in tasks:
        if t.key not in out:
            out[t.key] = results[keys[t.key]]
    return out


def _detections_key(t: Task, params: FaceParams) -> str:
    """Cache key of the detected faces of ``t``'s transformed image, whatever its hint box (issue
    15: the parrot and learned attackers obfuscate the same gallery image the same way, one with
    the clear image's box as hint, one without; the image is detected and encoded once)."""
    return cache_key(t.sha256, "face-detections", EXTRACTOR_VERSION,
                     {**params.as_dict(), "obfuscation": t.obfuscation})


def _cached_detections(cache: FeatureCache, t: Task, params: FaceParams) -> ImageFaces | None:
    if t.obfuscation is None or not cache.enabled:  # clear images are extracted once anyway
        return None
    key = _detections_key(t, params)
    if not cache._path(key).exists():  # looked up quietly: the miss counter keeps counting the tasks
        return None
    got = cache.get(key)
    return ImageFaces.from_arrays(got) if got is not None else None


def _undecodable_key(sha256: str) -> str:
    return cache_key(sha256, "undecodable", EXTRACTOR_VERSION, {})


def _known_undecodable(cache: FeatureCache, sha256: str) -> str | None:
    """Why a file of this content cannot be decoded, when an earlier run found so (else None)."""
    if not cache.enabled or not cache._path(_undecodable_key(sha256)).exists():
        return None
    got = cache.get(_undecodable_key(sha256))
    return str(got["reason"]) if got is not None and "reason" in got else None


def _note_undecodable(cache: FeatureCache, t: Task, err: str) -> None:
    """Keep ``err`` for ``t``'s content when the file itself does not decode (checked here: a
    failure in a worker that decoding here does not reproduce is not kept)."""
    from ..data.media import MediaError, load_image

    if not cache.enabled:
        return
    try:
        load_image(t.path)
    except MediaError as e:
        if e.reason == err:
            cache.put(_undecodable_key(t.sha256), {"reason": np.array(err)})


def _store(cache: FeatureCache, key: str, arrays: dict | None, err: str | None) -> ImageFaces | str:
    if arrays is None:
        return err or "unknown error"
    cache.put(key, arrays)
    return ImageFaces.from_arrays(arrays)
