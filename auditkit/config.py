"""``AuditConfig``: everything that determines an audit's result, in one typed section per concern.

Sections: :class:`InputsConfig` (what is audited), :class:`FacesConfig` (face detection, encoding,
the attack ladder, the release's obfuscation), :class:`VideoConfig` (clips), :class:`TablesConfig`
(metadata tables and sightings), :class:`SweepConfig` (the strength sweep), :class:`RunConfig`
(where and how it runs, the seed) and :class:`ReportConfig` (what the report shows). A config is
built from keyword sections, from ``argparse`` flags (:meth:`AuditConfig.from_args`), from an
``audit.toml`` (:meth:`AuditConfig.from_toml`) or from the flat ``parameters`` of a results.json
(:meth:`AuditConfig.from_flat`), and validated once (:meth:`AuditConfig.validate`).

Adding an option is one line in its section: the flat name (what results.json's ``parameters``
and the CLI flag use) is the field name, ``Literal`` choices are checked by the validation pass.

Example
-------
>>> from auditkit import AuditConfig
>>> cfg = AuditConfig.from_flat(release="release", gallery="gallery", seed=1)
>>> cfg.inputs.release, cfg.run.seed
(PosixPath('release'), 1)
"""
from __future__ import annotations

import argparse
import tomllib
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

__all__ = ["AuditConfig", "FacesConfig", "InputsConfig", "ReportConfig", "RunConfig", "SweepConfig",
           "TablesConfig", "VideoConfig", "choices", "default_attacks", "split_list"]

Detector = Literal["hog", "cnn", "centerface"]
Encoder = Literal["fast", "dlib"]
Scope = Literal["face", "frame"]
Executor = Literal["local", "dask"]
PeopleDetector = Literal["mog2", "hog"]
PeopleBoxes = Literal["manifest", "detect"]
LeakScan = Literal["frame", "person", "both", "off"]
LeakDetector = Literal["auto", "hog", "cnn", "centerface"]
RiskLevel = Literal["low", "medium", "high", "critical"]


def split_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (the one parser of comma-separated options)."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def default_attacks() -> tuple[str, ...]:
    """The whole face attack ladder, in its registered order."""
    from .attacks.registry import face_attack_names

    return face_attack_names()


@dataclass
class InputsConfig:
    """What is audited: the de-identified release and the attacker's reference gallery."""

    release: Path | None = None
    gallery: Path | None = None
    planted: Path | None = None  # planted volunteers' windows (subject, camera, start, end) for linkage.sightings
    linkage: bool = True  # run linkage.sightings on the release (issue 12); the strength sweep turns it off
    distractors: Path | None = None  # DIR/<identity>/<images> added to the gallery (issue 14)


@dataclass
class FacesConfig:
    """Faces: detection and encoding, the attack ladder, and the obfuscation the release applied."""

    attacks: tuple[str, ...] | None = None  # None: the whole ladder (default_attacks())
    detector: Detector = "hog"
    upsample: int = 1
    jitters: int = 1
    encoder: Encoder = "fast"
    obfuscation: str | None = None  # declared, e.g. "blur:sigma=6"; else from the manifest or estimated
    obfuscation_scope: Scope = "face"  # "face": the face region was obfuscated; "frame": the whole image
    # the vendor's own anonymizer, "tool {input} {output} ..." (issue 13): its output of the gallery
    # is what face.parrot / face.pixels / face.learned attack with; seconds per image before it is killed
    anonymizer: str | None = None
    anonymizer_timeout: float = 120.0
    # gallery sizes identification risk is projected to (issue 14; () = none); all identification attacks
    population_sizes: tuple[float, ...] = (1e3, 1e5, 1e7, 1.7e8)
    # the release estimate's strength interval calibrated on the clear gallery (issue 13); the sweep's
    # points, which apply a known obfuscation themselves, leave it out (issue 15: a third of a point)
    calibrate_estimate: bool = True


@dataclass
class VideoConfig:
    """Clips in the release and gallery (people, faces, clothing, gait)."""

    fps: float | None = None  # frames sampled per second of video (None: every frame)
    people_detector: PeopleDetector = "mog2"  # "mog2" background subtraction (static cameras) | "hog"
    people_boxes: PeopleBoxes = "manifest"  # person boxes from the manifest when given | "detect" always
    leak_scan: LeakScan = "frame"  # face-leak scan: whole frames | inside person boxes | both | off
    leak_detector: LeakDetector = "auto"  # face detector of the leak scan; auto: centerface when installed, else hog
    # whole-frame leak scan: every frame fully (1, default: exact), or fully every N sampled frames and only
    # where the frame changed in between (issue 15; an approximation, features/leak_gate.py, bench_leak_gate.py)
    leak_full_every: int = 1


@dataclass
class TablesConfig:
    """Tables: the released metadata, the attacker's auxiliary data, sightings (issue 5)."""

    table: Path | None = None  # released table (else the manifest's columns, with qi/aux)
    aux: Path | None = None
    qi: str | None = None  # quasi-identifiers "a,b,c"
    sensitive: str | None = None
    control: Path | None = None
    population: Path | None = None
    id_col: str | None = None
    sampling_fraction: float | None = None  # share of the population the release holds (issue 14)
    suppressed_marker: str = "*"  # value of every QI of a suppressed record (issue 14)
    sightings: Path | None = None  # camera/timestamp per track or subject
    whereabouts: Path | None = None  # the attacker's known (camera, time) per identity
    linkability_columns: str | None = None  # "a,b|c,d": anonymeter's linkability on two column sets (issue 14)
    linkability_neighbors: int = 1


@dataclass
class SweepConfig:
    """The strength sweep on the gallery: obfuscation families ("auto": the release's own)."""

    families: tuple[str, ...] = ()


@dataclass
class RunConfig:
    """Where and how the audit runs; ``seed`` is the one seed every sampler draws from."""

    out: Path = Path("auditkit-out")
    jobs: int = 1
    executor: Executor = "local"  # local process pool | a Dask cluster (issue 6)
    scheduler: str | None = None  # Dask scheduler address; None: a local Dask cluster
    cache_dir: Path | None = None  # None: auditkit.features.cache.default_cache_dir()
    use_cache: bool = True
    # reuse each face rung's stored result and the drawn figures when nothing they depend on changed
    # (issue 15: warm re-runs); `auditkit verify` turns it off so that every figure is recomputed
    reuse_results: bool = True
    seed: int = 0
    progress: bool = True
    fail_on: RiskLevel | None = None  # recorded only: the CLI turns it into exit code 1


@dataclass
class ReportConfig:
    """What the report shows (private by default)."""

    title: str | None = None
    show_examples: bool = False
    redact_examples: bool = True
    reveal_labels: bool = False  # identity labels and absolute paths in every output (default: pseudonyms)
    auditor: str | None = None  # issue 16: sign-off fields of the report
    organisation: str | None = None
    review_after: str | None = None  # ISO date (YYYY-MM-DD) by which the audit is to be reviewed again


SECTIONS: dict[str, type] = {"inputs": InputsConfig, "faces": FacesConfig, "video": VideoConfig,
                             "tables": TablesConfig, "sweep": SweepConfig, "run": RunConfig,
                             "report": ReportConfig}
#: flat names that differ from ``section.field`` (results.json's ``parameters`` keep their names)
_FLAT_RENAMES = {("sweep", "families"): "sweep"}
_PATH_FIELDS = {"release", "gallery", "planted", "distractors", "table", "aux", "control", "population", "sightings", "whereabouts",
                "out", "cache_dir"}


def _flat_index() -> dict[str, tuple[str, str]]:
    """flat name -> (section, field)."""
    index = {}
    for sec, cls in SECTIONS.items():
        for f in fields(cls):
            index[_FLAT_RENAMES.get((sec, f.name), f.name)] = (sec, f.name)
    return index


FLAT = _flat_index()


@dataclass
class AuditConfig:
    """Everything that determines an audit's result (all of it is written to results.json).

    Parameters
    ----------
    inputs, faces, video, tables, sweep, run, report : the sections; each defaults to its
        section's defaults. Values are validated once, on construction (:meth:`validate`).
    """

    inputs: InputsConfig = field(default_factory=InputsConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    tables: TablesConfig = field(default_factory=TablesConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    run: RunConfig = field(default_factory=RunConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """The one validation pass: types, ``Literal`` choices, ranges and cross-field rules.
        Normalises paths, the obfuscation label and the comma lists in place.

        Raises
        ------
        ValueError
            Naming the option, the bad value and what is allowed.
        """
        for sec in SECTIONS:
            section = getattr(self, sec)
            hints = typing.get_type_hints(type(section))
            for f in fields(section):
                v = getattr(section, f.name)
                if f.name in _PATH_FIELDS and v is not None and not isinstance(v, Path):
                    setattr(section, f.name, Path(v))
                choices = _literal_choices(hints[f.name])
                if choices and v not in choices:
                    allowed = ", ".join(str(c) for c in choices if c is not None)
                    raise ValueError(f"{_flat_name(sec, f.name)} must be one of {allowed}, got {v!r}")
        f, r, s = self.faces, self.run, self.sweep
        ladder = default_attacks()
        if f.attacks is None:
            f.attacks = ladder
        elif isinstance(f.attacks, str):
            f.attacks = tuple(split_list(f.attacks))
        else:
            f.attacks = tuple(f.attacks)
        bad = [a for a in f.attacks if a not in ladder]
        if bad:
            raise ValueError(f"unknown attack(s) {', '.join(bad)}; available: {', '.join(ladder)}")
        from .scoring.population import parse_sizes

        f.population_sizes = parse_sizes(f.population_sizes)
        if f.obfuscation is not None:
            from .obfuscation.spec import parse_spec

            f.obfuscation = parse_spec(f.obfuscation).label
        if f.anonymizer is not None:
            from .obfuscation.vendor import check_anonymizer

            check_anonymizer(f.anonymizer, f.anonymizer_timeout)
        if r.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {r.jobs!r}")
        if self.tables.linkability_neighbors < 1:
            raise ValueError(f"linkability_neighbors must be >= 1, got {self.tables.linkability_neighbors!r}")
        if self.tables.linkability_columns is not None:
            from .attacks.linkability import parse_column_sets

            parse_column_sets(self.tables.linkability_columns)
        if r.scheduler is not None and r.executor != "dask":
            raise ValueError(f"a scheduler address ({r.scheduler}) needs executor 'dask', got {r.executor!r}")
        tf = self.tables.sampling_fraction
        if tf is not None and not (isinstance(tf, (int, float)) and 0 < tf <= 1):
            raise ValueError(f"sampling_fraction must be in (0, 1], got {tf!r}")
        if not (isinstance(self.tables.suppressed_marker, str) and self.tables.suppressed_marker.strip()):
            raise ValueError(f"suppressed_marker must be a non-blank string, got {self.tables.suppressed_marker!r}")
        lfe = self.video.leak_full_every
        if not (isinstance(lfe, int) and not isinstance(lfe, bool) and lfe >= 1):
            raise ValueError(f"leak_full_every must be an integer >= 1, got {lfe!r}")
        if self.video.fps is not None and not self.video.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.video.fps!r}")
        if self.report.review_after is not None:
            from datetime import date

            try:
                self.report.review_after = date.fromisoformat(str(self.report.review_after)).isoformat()
            except ValueError:
                raise ValueError(f"review_after must be a date YYYY-MM-DD, got {self.report.review_after!r}") from None
        if isinstance(s.families, str):
            s.families = tuple(split_list(s.families))
        s.families = tuple(s.families)
        from .obfuscation.spec import METHODS

        bad = [x for x in s.families if x != "auto" and (x not in METHODS or x == "none")]
        if bad:
            raise ValueError(f"unknown sweep family {', '.join(bad)}; allowed: auto, "
                             f"{', '.join(m for m in METHODS if m != 'none')}")

    # ------------------------------------------------------------------ views
    def face_params(self):
        """The face extraction parameters (:class:`auditkit.features.faces.FaceParams`)."""
        from .features.faces import FaceParams

        f = self.faces
        return FaceParams(detector=f.detector, upsample=f.upsample, jitters=f.jitters, encoder=f.encoder)

    def signoff(self) -> dict[str, Any]:
        """results.json's ``signoff`` (issue 16): auditor, organisation, review-after date (None = blank)."""
        r = self.report
        return {"auditor": r.auditor, "organisation": r.organisation, "review_after": r.review_after}

    def to_dict(self) -> dict[str, Any]:
        """The flat ``parameters`` of results.json (paths as strings, tuples as lists)."""
        out: dict[str, Any] = {}
        for flat, (sec, name) in FLAT.items():
            v = getattr(getattr(self, sec), name)
            out[flat] = str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple) else v)
        return out

    def replace(self, **flat: Any) -> AuditConfig:
        """A copy with some options changed, by flat name (``cfg.replace(out=..., seed=2)``)."""
        return AuditConfig.from_flat({**self.to_dict(), **flat})

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_flat(cls, mapping: dict[str, Any] | None = None, /, **flat: Any) -> AuditConfig:
        """From flat options (results.json's ``parameters``, or keyword arguments).

        Raises
        ------
        ValueError
            For an unknown option name.
        """
        items = {**(mapping or {}), **flat}
        unknown = sorted(set(items) - set(FLAT))
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(FLAT))}")
        parts: dict[str, dict[str, Any]] = {sec: {} for sec in SECTIONS}
        for k, v in items.items():
            sec, name = FLAT[k]
            parts[sec][name] = v
        return cls(**{sec: SECTIONS[sec](**kw) for sec, kw in parts.items()})

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> AuditConfig:
        """From an ``audit.toml`` with one table per section (``[inputs]``, ``[faces]``, ...).
        Relative paths are taken from the TOML file's folder; ``overrides`` (flat names) win.

        Raises
        ------
        ValueError
            For a file that cannot be read or parsed, or an unknown section or option (naming the file).
        """
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{p}: file not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{p}: not valid TOML ({e})") from None
        flat: dict[str, Any] = {}
        for sec, table in data.items():
            if sec not in SECTIONS or not isinstance(table, dict):
                raise ValueError(f"{p}: unknown section [{sec}]; known: {', '.join(SECTIONS)}")
            names = {f.name for f in fields(SECTIONS[sec])}
            for k, v in table.items():
                if k not in names:
                    raise ValueError(f"{p}: unknown option {k!r} in [{sec}]; known: {', '.join(sorted(names))}")
                if k in _PATH_FIELDS and isinstance(v, str):
                    v = Path(v) if Path(v).is_absolute() else p.parent / v
                flat[_flat_name(sec, k)] = tuple(v) if isinstance(v, list) else v
        try:
            return cls.from_flat({**flat, **overrides})
        except ValueError as e:
            raise ValueError(f"{p}: {e}") from None

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> AuditConfig:
        """From ``auditkit run``/``demo`` flags: every flag named like an option is taken, with the
        negative switches (``--no-cache``, ``--no-redact``, ``--quiet``) turned around; a flag left
        at ``None`` keeps the option's default. ``overrides`` (flat names) win."""
        given = {k: v for k, v in vars(args).items() if k in FLAT and v is not None}
        if "sweep" in given:
            given["sweep"] = tuple(split_list(given["sweep"]))
        for flag, option in (("no_cache", "use_cache"), ("no_redact", "redact_examples"), ("quiet", "progress")):
            if flag in vars(args):
                given[option] = not getattr(args, flag)
        return cls.from_flat({**given, **overrides})


def choices(section: type, name: str) -> tuple[Any, ...]:
    """The allowed values of a ``Literal`` option (``choices(VideoConfig, "leak_scan")``), for CLI flags."""
    return tuple(c for c in _literal_choices(typing.get_type_hints(section)[name]) if c is not None)


def _flat_name(section: str, name: str) -> str:
    return _FLAT_RENAMES.get((section, name), name)


def _literal_choices(hint: Any) -> tuple[Any, ...]:
    """The allowed values of a ``Literal[...]`` (or ``Literal[...] | None``) annotation, else ()."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    args = typing.get_args(hint)
    if args and any(typing.get_origin(a) is Literal for a in args):
        out: list[Any] = []
        for a in args:
            out += list(typing.get_args(a)) if typing.get_origin(a) is Literal else [None] if a is type(None) else []
        return tuple(out)
    return ()


def with_section(config: AuditConfig, section: str, **changes: Any) -> AuditConfig:
    """A copy of ``config`` with one section's fields changed (validated again)."""
    return replace(config, **{section: replace(getattr(config, section), **changes)})
