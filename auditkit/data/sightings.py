"""Sightings: every observed person in a release, as the gallery-free linkage attack sees them (issue 12).

A **sighting** is one observed person: a face or a body in an image, or a segment of a video
track. It has a camera, a time interval ``[t0, t1]`` (seconds; NaN when the release gives no
time), a ``track`` (sightings sharing one are the same person by construction: two frames, or
two halves, of one track), a ``group`` (sightings sharing one were seen in the same frame, e.g.
two faces of one image) and, per cue (``face``, ``appearance``, ``gait``), a feature vector or
a row of NaN where the cue is missing.

Ground truth comes in three forms, in order of strength (:attr:`SightingSet.truth_mode`):

``subject``
    a ``subject`` per sighting (the vendor or the city knows who is who); None = unknown (such
    sightings are neither probes nor counted in a probe's ranking).
``planted``
    volunteers' windows (``subject, camera, start, end``, see :func:`load_planted`): a sighting
    is a volunteer's when it lies inside one of their windows and is the only track there;
    every other sighting is someone else (the exercise's assumption: volunteers appear only in
    their recorded windows). Scored on volunteers' sightings only, and only on volunteers whose
    every window was unambiguous (:attr:`SightingSet.unscored`).
``none``
    no labels: only the structural constraints (same track = same person; same frame, or two
    cameras closer in time than anyone can travel = different people), see
    :mod:`auditkit.attacks.sightings` for the estimate built on them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CUES", "UNKNOWN", "PlantedWindow", "SightingSet", "apply_planted", "load_planted"]

#: cues a sighting can carry, in report order
CUES = ("face", "appearance", "gait")
#: truth value of a sighting whose identity is uncertain (excluded from every scored ranking)
UNKNOWN = "?"


@dataclass
class SightingSet:
    """The sightings of one release (see the module docstring).

    Parameters
    ----------
    ids : one id per sighting (e.g. ``img.jpg#face0`` or ``clip.mp4#track3/1``).
    camera : camera of each sighting.
    t0, t1 : start and end time in seconds (NaN: unknown); ``t1 >= t0``.
    track : track label; sightings with the same label are the same person. None: its own id.
    group : frame/image key; sightings with the same key were seen together. None: no group.
    features : cue -> (n, d) float array, NaN rows where the sighting lacks the cue.
    truth : ground truth per sighting (see ``truth_mode``), None where unknown.
    truth_mode : ``"subject"``, ``"planted"`` or ``"none"``.
    info : free per-sighting details (file, box...).
    unscored : volunteers (planted mode) whose sightings are not probes: one of their windows
        was ambiguous, so a mate of theirs may lie among the unknown sightings, and a miss could
        not be told from a hit. Their sightings stay candidates of the other probes.
    """

    ids: list[str]
    camera: list[str]
    t0: np.ndarray
    t1: np.ndarray
    track: list[str | None]
    group: list[str | None]
    features: dict[str, np.ndarray]
    truth: list[str | None] = field(default_factory=list)
    truth_mode: str = "none"
    info: list[dict[str, Any]] = field(default_factory=list)
    unscored: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if len(set(self.ids)) != n:
            raise ValueError("sighting ids must be unique")
        self.t0 = np.asarray(self.t0, dtype=np.float64).reshape(-1)
        self.t1 = np.asarray(self.t1, dtype=np.float64).reshape(-1)
        for name, v in (("camera", self.camera), ("t0", self.t0), ("t1", self.t1), ("track", self.track),
                        ("group", self.group)):
            if len(v) != n:
                raise ValueError(f"{len(v)} {name} values for {n} sightings")
        if not self.truth:
            self.truth = [None] * n
        if len(self.truth) != n:
            raise ValueError(f"{len(self.truth)} truth values for {n} sightings")
        if self.truth_mode not in ("subject", "planted", "none"):
            raise ValueError(f"truth_mode must be subject, planted or none, got {self.truth_mode!r}")
        bad = np.isfinite(self.t0) & np.isfinite(self.t1) & (self.t1 < self.t0)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} sighting(s) end before they start (t1 < t0), e.g. {self.ids[int(np.argmax(bad))]}")
        for cue, X in list(self.features.items()):
            if cue not in CUES:
                raise ValueError(f"unknown cue {cue!r}; cues are {', '.join(CUES)}")
            X = np.asarray(X, dtype=np.float64)
            if X.ndim != 2 or len(X) != n:
                raise ValueError(f"cue {cue}: features must be (n_sightings={n}, d), got shape {X.shape}")
            if np.isinf(X).any():
                raise ValueError(f"cue {cue}: features contain infinite values")
            self.features[cue] = X
        if not self.info:
            self.info = [{} for _ in range(n)]
        self.track = [t if t is not None else f"\0{i}" for i, t in zip(self.ids, self.track)]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def cues(self) -> list[str]:
        """Cues present on at least one sighting, in :data:`CUES` order."""
        return [c for c in CUES if c in self.features and np.isfinite(self.features[c]).all(axis=1).any()]

    def has(self, cue: str) -> np.ndarray:
        """Which sightings carry ``cue`` (a finite feature row)."""
        X = self.features.get(cue)
        return np.zeros(len(self), bool) if X is None else np.isfinite(X).all(axis=1)

    def to_frame(self) -> pd.DataFrame:
        """One row per sighting: id, camera, t0, t1, track, group, truth."""
        return pd.DataFrame({"id": self.ids, "camera": self.camera, "t0": self.t0, "t1": self.t1,
                             "track": [t if not str(t).startswith("\0") else None for t in self.track],
                             "group": self.group, "truth": self.truth})


@dataclass
class PlantedWindow:
    """One recorded appearance of a volunteer: on ``camera`` between ``start`` and ``end`` (seconds)."""

    subject: str
    camera: str
    start: float
    end: float
    line: int


def _seconds(values: pd.Series, what: str, path: Path) -> np.ndarray:
    num = pd.to_numeric(values, errors="coerce")
    if num.notna().all():
        return num.to_numpy(dtype=float)
    dt = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    if dt.isna().any():
        i = int(np.flatnonzero((dt.isna() & num.isna()).to_numpy())[0])
        raise ValueError(f"{path}: line {i + 2}: {what} {values.iloc[i]!r} is neither seconds nor an ISO 8601 time")
    return ((dt - pd.Timestamp(0, tz="UTC")).dt.total_seconds()).to_numpy(dtype=float)


def load_planted(path: str | Path) -> list[PlantedWindow]:
    """Read a planted-volunteer file: CSV with columns ``subject, camera, start, end``.

    ``start``/``end`` are seconds (the same clock as the release's sighting times) or ISO 8601
    times (naive times are read as UTC, as the release's manifest timestamps are). Raises
    ValueError naming the file, line and problem for a missing column, an unreadable time or a
    window that ends before it starts.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--planted {path}: file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"{path}: not a readable CSV ({e})") from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in ("subject", "camera", "start", "end") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: required column(s) {', '.join(missing)} missing (found: {', '.join(df.columns)})")
    for c in ("subject", "camera", "start", "end"):
        df[c] = df[c].str.strip()
        empty = np.flatnonzero((df[c] == "").to_numpy())
        if len(empty):
            raise ValueError(f"{path}: line {int(empty[0]) + 2}: empty {c}")
    start, end = _seconds(df["start"], "start", path), _seconds(df["end"], "end", path)
    out = []
    for i, (s, c, a, b) in enumerate(zip(df["subject"], df["camera"], start, end)):
        if b < a:
            raise ValueError(f"{path}: line {i + 2}: window ends ({b}) before it starts ({a})")
        out.append(PlantedWindow(s, c, float(a), float(b), i + 2))
    if not out:
        raise ValueError(f"{path}: no window listed")
    return out


def apply_planted(s: SightingSet, windows: list[PlantedWindow], notes: list[str] | None = None) -> SightingSet:
    """Label ``s`` from planted windows (truth mode ``planted``), in place; returns ``s``.

    A sighting belongs to a window when it is on the window's camera and its interval overlaps
    ``[start, end]``. A window holding exactly one track gives that track's sightings to the
    volunteer; a window holding several tracks is ambiguous: its sightings become
    :data:`UNKNOWN` (never scored either way) and a note says so. Every other sighting is
    taken to be someone else (None). A sighting claimed by two volunteers is UNKNOWN too.
    """
    notes = notes if notes is not None else []
    truth: list[str | None] = [None] * len(s)
    cams = np.asarray(s.camera, dtype=object)
    owner: dict[int, set[str]] = {}
    n_empty = n_amb = 0
    partial: set[str] = set()
    for w in windows:
        inside = np.flatnonzero((cams == w.camera) & (s.t1 >= w.start) & (s.t0 <= w.end))
        if len(inside) == 0:
            n_empty += 1
            continue
        tracks = {s.track[i] for i in inside}
        if len(tracks) > 1:
            n_amb += 1
            partial.add(w.subject)
            for i in inside:
                owner.setdefault(int(i), set()).add(UNKNOWN)
            continue
        for i in inside:
            owner.setdefault(int(i), set()).add(w.subject)
        # the rest of that track (outside the window) is the volunteer too
        tr = next(iter(tracks))
        for i in np.flatnonzero(np.asarray(s.track, dtype=object) == tr):
            owner.setdefault(int(i), set()).add(w.subject)
    for i, who in owner.items():
        truth[i] = who.pop() if len(who) == 1 else UNKNOWN
    if n_empty:
        notes.append(f"planted volunteers: {n_empty} of {len(windows)} window(s) hold no sighting (check the "
                     "camera names and the clock of the windows)")
    if n_amb:
        notes.append(f"planted volunteers: {n_amb} window(s) hold several tracks, so which is the volunteer is "
                     "ambiguous; their sightings are left out of the scoring")
    if partial:
        notes.append(f"planted volunteers: {len(partial)} volunteer(s) with an ambiguous window are not scored as "
                     "probes (a mate of theirs may be among the left-out sightings, so a miss could not be told "
                     "from a hit); their clear sightings stay candidates")
    s.truth, s.truth_mode, s.unscored = truth, "planted", partial
    return s


def epoch_seconds(ts: str | None) -> float:
    """ISO 8601 text to seconds since 1970 (naive = UTC); NaN when missing or unreadable."""
    if not ts:
        return math.nan
    from datetime import UTC, datetime

    try:
        d = datetime.fromisoformat(ts)
    except ValueError:
        return math.nan
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()
