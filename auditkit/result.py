"""Result objects: what attacks produce and what results.json serialises.

``AttackResult`` is one attack's outcome (``results.json["attacks"][i]``), with its
:class:`Headline` (rate, interval, chance or baseline, n, advantage and its interval);
:class:`AuditResult` is the whole audit (schema ``auditkit.results/1``), with typed
:class:`Inputs`, :class:`Skipped` records and :class:`Verdict`. ``AuditResult.to_json()`` is
the text of results.json and ``AuditResult.from_json()`` reads it back. Templates only read the
dict form (``to_dict()``); a report can be re-rendered from results.json alone.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["CRITERIA", "SCHEMA", "AttackResult", "AuditResult", "Headline", "Inputs", "Skipped", "Verdict",
           "to_jsonable"]

#: results.json schema written and read by this version
SCHEMA = "auditkit.results/1"

#: WP29 Opinion 05/2014 criteria an attack can be tagged with.
CRITERIA = ("singling_out", "linkability", "inference")


@dataclass
class Skipped:
    """An input that could not be used, and why. Never silently dropped."""

    path: str
    reason: str
    stage: str = "load"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Skipped:
        return cls(d["path"], d["reason"], d.get("stage", "load"))


@dataclass(frozen=True)
class Headline:
    """The figure an attack is judged by, the same for identification and rate attacks.

    ``rate`` is rank-1 identification (identification attacks) or the success rate (table and
    trajectory attacks); ``reference`` is chance (identification) or the baseline (rates);
    ``n`` is the number of scored probes or targets."""

    rate: float | None
    interval: tuple[float | None, float | None] | None
    reference: float | None
    reference_kind: str  # "chance" | "baseline"
    n: int | None
    advantage: float | None
    advantage_interval: tuple[float | None, float | None] | None


@dataclass
class AttackResult:
    """One attack, scored against its baseline.

    ``metrics`` holds at least ``rank1``, ``rank1_ci``, ``chance_rank1``, ``advantage`` and
    ``advantage_ci`` for identification attacks (see :func:`auditkit.scoring.metrics.identification_metrics`);
    table attacks hold the same keys with their own rate in ``rank1``'s place is *not*
    required: they fill ``success_rate``, ``success_rate_ci``, ``baseline``, ``advantage`` and
    ``advantage_ci``. ``risk`` is filled by :func:`auditkit.scoring.risk.assess`.
    """

    name: str
    cue: str
    criterion: str
    n_probes: int
    n_identities: int
    metrics: dict[str, Any]
    cmc: list[float] = field(default_factory=list)
    risk: str | None = None
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {self.criterion!r}")

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AttackResult:
        return cls(name=d["name"], cue=d["cue"], criterion=d["criterion"], n_probes=d["n_probes"],
                   n_identities=d["n_identities"], metrics=dict(d.get("metrics") or {}), cmc=list(d.get("cmc") or []),
                   risk=d.get("risk"), notes=list(d.get("notes") or []), details=dict(d.get("details") or {}))

    @property
    def headline(self) -> Headline:
        """Rate, interval, chance or baseline, n, advantage and its interval (see :class:`Headline`)."""
        m = self.metrics
        ident = "rank1" in m
        return Headline(rate=m.get("rank1", m.get("success_rate")),
                        interval=_pair(m.get("rank1_ci", m.get("success_rate_ci"))),
                        reference=m.get("chance_rank1", m.get("baseline")),
                        reference_kind="chance" if ident or "chance_rank1" in m else "baseline",
                        n=m.get("n_mated", m.get("n")), advantage=m.get("advantage"),
                        advantage_interval=_pair(m.get("advantage_ci")))


def _pair(v: Any) -> tuple[Any, Any] | None:
    return (v[0], v[1]) if v else None


@dataclass
class Verdict:
    """The overall verdict: the strongest attack's risk level, and a plain-language summary.

    ``direct_identifiers`` lists released table columns that name people (then ``anonymized``
    is False whatever the attacks measured)."""

    risk: str | None
    anonymized: bool
    strongest_attack: str | None
    summary: str
    direct_identifiers: list[str] | None = None
    #: a released table's own level (:func:`auditkit.scoring.risk.table_level`), its findings, and
    #: what decided the verdict when the table did
    table_risk: str | None = None
    findings: list[str] | None = None
    basis: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"risk": self.risk, "anonymized": self.anonymized, "strongest_attack": self.strongest_attack,
             "summary": self.summary}
        for k in ("table_risk", "findings", "basis"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.direct_identifiers is not None:
            d["direct_identifiers"] = list(self.direct_identifiers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        return cls(risk=d.get("risk"), anonymized=bool(d.get("anonymized")), strongest_attack=d.get("strongest_attack"),
                   summary=d.get("summary", ""), direct_identifiers=d.get("direct_identifiers"),
                   table_risk=d.get("table_risk"), findings=d.get("findings"), basis=d.get("basis"))


@dataclass
class Inputs:
    """Chain of custody: every input file's SHA-256 and size, per role.

    ``release`` and ``gallery`` are custody sections (``path``, ``files``, ``n_files``, ``sha256``
    of the listing, ...) when media were audited; ``tables`` maps a table's role (release, aux,
    control, population, sightings, whereabouts) to its file entry."""

    ground_truth: bool = False
    release: dict[str, Any] | None = None
    gallery: dict[str, Any] | None = None
    manifest: str | None = None
    tables: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ground_truth": self.ground_truth}
        if self.tables is not None:
            d["tables"] = self.tables
        if self.release is not None or self.gallery is not None:
            d.update({"release": self.release, "gallery": self.gallery, "manifest": self.manifest})
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Inputs:
        return cls(ground_truth=bool(d.get("ground_truth")), release=d.get("release"), gallery=d.get("gallery"),
                   manifest=d.get("manifest"), tables=d.get("tables"))


#: results.json keys in the order they are written (``evaluation`` only by ``auditkit evaluate``)
_KEYS = ("schema", "tool", "created", "title", "parameters", "seed", "inputs", "skipped", "notes", "detection",
         "attacks", "obfuscation", "tables", "video", "trajectories", "linkage", "sweep", "verdict", "runtime",
         "options")


@dataclass
class AuditResult:
    """One audit's result: what results.json holds, typed.

    Sections the audit did not run are ``None`` (``tables``, ``video``, ``trajectories``,
    ``sweep``, ``detection``, ``obfuscation``); ``evaluation`` is set by the standard-protocol
    evaluations only. Keys a newer writer added are kept in ``extra`` and written back."""

    tool: dict[str, Any]
    created: str
    title: str
    parameters: dict[str, Any]
    seed: int | None
    inputs: Inputs
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    attacks: list[AttackResult] = field(default_factory=list)
    verdict: Verdict | None = None
    detection: dict[str, Any] | None = None
    obfuscation: dict[str, Any] | None = None
    tables: dict[str, Any] | None = None
    video: dict[str, Any] | None = None
    trajectories: dict[str, Any] | None = None
    linkage: dict[str, Any] | None = None  # the release as its own gallery (linkage.sightings, issue 12)
    sweep: dict[str, Any] | None = None
    runtime: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    schema: str = SCHEMA
    extra: dict[str, Any] = field(default_factory=dict)

    def attack(self, name: str) -> AttackResult:
        """The attack called ``name``; KeyError naming the attacks run."""
        for a in self.attacks:
            if a.name == name:
                return a
        raise KeyError(f"no attack {name!r} in this result; attacks run: {', '.join(a.name for a in self.attacks)}")

    def to_dict(self) -> dict[str, Any]:
        """The results.json dictionary (JSON-safe: NaN as ``None``)."""
        d: dict[str, Any] = {}
        for k in _KEYS:
            v = getattr(self, k)
            if k == "inputs" or k == "verdict" and v is not None:
                v = v.to_dict()
            elif k == "skipped":
                v = [asdict(s) for s in v]
            elif k == "attacks":
                v = [a.to_dict() for a in v]
            d[k] = v
        if self.evaluation is not None:
            d["evaluation"] = self.evaluation
        d.update(self.extra)
        return to_jsonable(d)

    def to_json(self) -> str:
        """The text of results.json."""
        import json

        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditResult:
        """From a results.json dictionary.

        Raises
        ------
        ValueError
            When ``d`` is not an auditkit results dictionary of a schema this version reads.
        """
        if not isinstance(d, dict) or not str(d.get("schema", "")).startswith("auditkit.results/"):
            raise ValueError(f"not an auditkit results file (schema {SCHEMA!r} expected)")
        if d["schema"] != SCHEMA:
            raise ValueError(f"results schema {d['schema']!r} is not the {SCHEMA!r} this auditkit reads")
        known = set(_KEYS) | {"evaluation"}
        v = d.get("verdict")
        return cls(tool=d.get("tool") or {}, created=d.get("created", ""), title=d.get("title", ""),
                   parameters=d.get("parameters") or {}, seed=d.get("seed"),
                   inputs=Inputs.from_dict(d.get("inputs") or {}),
                   skipped=[Skipped.from_dict(s) for s in d.get("skipped") or []], notes=list(d.get("notes") or []),
                   attacks=[AttackResult.from_dict(a) for a in d.get("attacks") or []],
                   verdict=Verdict.from_dict(v) if v is not None else None,
                   detection=d.get("detection"), obfuscation=d.get("obfuscation"), tables=d.get("tables"),
                   video=d.get("video"), trajectories=d.get("trajectories"), linkage=d.get("linkage"),
                   sweep=d.get("sweep"),
                   runtime=d.get("runtime") or {}, options=d.get("options") or {}, evaluation=d.get("evaluation"),
                   schema=d["schema"], extra={k: val for k, val in d.items() if k not in known})

    @classmethod
    def from_json(cls, text: str | bytes) -> AuditResult:
        """From the text of a results.json (see :meth:`from_dict`)."""
        import json

        return cls.from_dict(json.loads(text))


def to_jsonable(obj: Any, *, digits: int | None = None) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats into JSON-safe values.

    NaN and infinities become ``None`` (JSON has no NaN; ``null`` means "not computable");
    with ``digits``, finite floats are rounded to that many decimals.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, digits=digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, digits=digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), digits=digits)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if not math.isfinite(f):
            return None
        return round(f, digits) if digits is not None else f
    return obj
