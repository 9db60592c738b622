"""``auditkit verify OUT``: check an audit's output folder against its inputs, and re-run it (issue 16).

Three checks, in this order, each naming what differs:

1. **Outputs**: every file of ``OUT`` against ``OUT/SHA256SUMS`` (and ``OUT/private/`` against
   its own, when present): a report or results file edited after the audit, a file removed or
   added, is named by path.
2. **Inputs**: each input the audit recorded (``--release``, ``--gallery``, ``--table``, ...) is
   found (the path given to ``verify``, else ``OUT/private/inputs.json``, else the recorded path)
   and hashed again; every file is compared with the SHA-256 results.json recorded for it: a
   changed, missing or added file is named by path. Gallery file names carry identity labels,
   shown as pseudonyms in the shareable results.json: they are matched through
   ``OUT/private/labels.csv`` when the auditor has it, else by content.
3. **Figures**: the audit is re-run from results.json's ``parameters`` and ``seed`` (the feature
   cache is used unless ``use_cache=False``), made shareable with the same pseudonyms, and
   compared with the recorded results, value by value, within :data:`FIGURE_TOLERANCES`.

Tolerances: counts, hashes, risk levels, labels and text must be equal; a float figure agrees
when ``|re-run - recorded| <= abs + rel * |recorded|`` with the first matching entry of
:data:`FIGURE_TOLERANCES`: rates, intervals, chance and advantage ±1e-6 (face encodings differ by
~1e-7 across BLAS thread counts); match scores ±1e-6 + 1e-5 relative; population projections
±1e-4 + 1e-4 relative (fitted tail models); anything else ±1e-6 + 1e-6 relative. Not compared:
``created`` and every duration, ``runtime`` (cache hits), the feature cache's folder and the
other run circumstances of any ``parameters`` block (:data:`RUN_CIRCUMSTANCES`), ``tool`` (versions are listed as notes
when they differ), ``parameters`` (the re-run is built from them) and ``inputs`` / ``reproduce``
(checked file by file, exactly, in step 2).
"""
from __future__ import annotations

import json
import math
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bundle import INPUT_ROLES, PRIVATE_INPUTS, check_checksums
from .data.inputs import InputError

__all__ = ["FIGURE_TOLERANCES", "Tolerance", "VerifyReport", "compare_results", "verify_bundle"]


@dataclass(frozen=True)
class Tolerance:
    """A float figure agrees when ``|new - old| <= abs + rel * |old|``."""

    abs: float
    rel: float

    def agrees(self, old: float, new: float) -> bool:
        return abs(new - old) <= self.abs + self.rel * abs(old)

    def __str__(self) -> str:
        return f"±{self.abs:g}" + (f" + {self.rel:g}×|recorded|" if self.rel else "")


#: (dotted path pattern, tolerance): the first pattern matching a figure's path applies.
#: Paths look like ``attacks[face.naive].metrics.rank1`` (list items named by their ``name``).
FIGURE_TOLERANCES: tuple[tuple[str, Tolerance], ...] = (
    # rates, their intervals, chance and advantage: fractions in [0, 1]
    ("attacks[*].metrics.*", Tolerance(1e-6, 0.0)),
    ("attacks[*].cmc*", Tolerance(1e-6, 0.0)),
    # projections to large galleries: fitted tail models (maximum likelihood) move by ~1e-5
    # between machines (BLAS kernels); a projected rate that moves by more than 1e-4 is reported
    ("attacks[*].details.population.*", Tolerance(1e-4, 1e-4)),
    # similarity scores and distances of the listed matches (face.reconstruct's are in the hundreds)
    ("attacks[*].details.*", Tolerance(1e-6, 1e-5)),
    ("*", Tolerance(1e-6, 1e-6)),
)

#: options that say where and how a run ran, not what it computed: never compared, wherever a
#: ``parameters`` block records them (the strength sweep keeps its own)
RUN_CIRCUMSTANCES = frozenset({"out", "cache_dir", "use_cache", "reuse_results", "jobs", "progress", "executor",
                               "scheduler", "fail_on"})
#: top-level keys not compared as figures (see the module docstring)
NOT_COMPARED = ("created", "runtime", "tool", "parameters", "inputs", "reproduce")
_TABLE_ROLES = {"table": "release", "aux": "aux", "control": "control", "population": "population",
                "sightings": "sightings", "whereabouts": "whereabouts", "planted": "planted"}


@dataclass
class VerifyReport:
    """What ``verify`` found: ``differences`` (each one line, naming a file or a figure) and
    ``notes`` (environment differences that do not fail the check)."""

    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_outputs: int = 0
    n_inputs: dict[str, int] = field(default_factory=dict)
    n_figures: int = 0
    rerun_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return not self.differences


def _is_duration(key: str) -> bool:
    return key in ("seconds", "runtime") or key.endswith("_seconds")


def _tolerance_for(path: str, default: Tolerance | None) -> Tolerance:
    if default is not None:
        return default
    for pattern, tol in FIGURE_TOLERANCES:
        if re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), path):  # "*" is the only wildcard
            return tol
    return FIGURE_TOLERANCES[-1][1]


def _named(items: list[Any]) -> dict[str, Any] | None:
    """A list of objects each with a distinct ``name``, keyed by it (else None)."""
    if not items or not all(isinstance(x, dict) and isinstance(x.get("name"), str) for x in items):
        return None
    names = [x["name"] for x in items]
    return dict(zip(names, items)) if len(set(names)) == len(names) else None


def _show(v: Any) -> str:
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= 80 else s[:77] + "..."


def _from_first_difference(a: str, b: str, before: int = 20) -> tuple[str, str]:
    """Two texts shown from a little before where they first differ."""
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, i - before)
    cut = "…" if start else ""
    return cut + a[start:], cut + b[start:]


def compare_results(recorded: dict[str, Any], rerun: dict[str, Any], *,
                    tolerance: Tolerance | None = None) -> tuple[list[str], int]:
    """Differences between two results dictionaries (one line each), and the number of values
    compared. ``tolerance`` replaces :data:`FIGURE_TOLERANCES` for every float when given."""
    out: list[str] = []
    count = 0

    def cmp(old: Any, new: Any, at: str) -> None:
        nonlocal count
        if isinstance(old, dict) and isinstance(new, dict):
            for k in sorted(set(old) | set(new), key=str):
                if _is_duration(k) or k == "cache_dir" or (at.endswith("parameters") and k in RUN_CIRCUMSTANCES):
                    continue
                sub = f"{at}.{k}" if at else k
                if k not in new:
                    out.append(f"only in the recorded results: {sub} = {_show(old[k])}")
                elif k not in old:
                    out.append(f"only in the re-run: {sub} = {_show(new[k])}")
                else:
                    cmp(old[k], new[k], sub)
            return
        if isinstance(old, list) and isinstance(new, list):
            a, b = _named(old), _named(new)
            if a is not None and b is not None:
                for name in list(a) + [n for n in b if n not in a]:
                    sub = f"{at}[{name}]"
                    if name not in b:
                        out.append(f"only in the recorded results: {sub}")
                    elif name not in a:
                        out.append(f"only in the re-run: {sub}")
                    else:
                        cmp(a[name], b[name], sub)
                return
            if len(old) != len(new):
                out.append(f"result changed: {at} has {len(old)} items recorded, {len(new)} in the re-run")
                return
            for i, (x, y) in enumerate(zip(old, new)):
                cmp(x, y, f"{at}[{i}]")
            return
        count += 1
        num = (int, float)
        if isinstance(old, num) and isinstance(new, num) and not isinstance(old, bool) and not isinstance(new, bool):
            if isinstance(old, int) and isinstance(new, int):
                if old != new:
                    out.append(f"count changed: {at}: recorded {old}, re-run {new} (exact)")
                return
            tol = _tolerance_for(at, tolerance)
            if not (math.isfinite(old) and math.isfinite(new) and tol.agrees(float(old), float(new))):
                out.append(f"figure moved: {at}: recorded {old!r}, re-run {new!r} (tolerance {tol})")
            return
        if old != new:
            if isinstance(old, str) and isinstance(new, str):
                old, new = _from_first_difference(old, new)
            out.append(f"result changed: {at}: recorded {_show(old)}, re-run {_show(new)} (exact)")

    cmp({k: v for k, v in recorded.items() if k not in NOT_COMPARED},
        {k: v for k, v in rerun.items() if k not in NOT_COMPARED}, "")
    return out, count


# ------------------------------------------------------------------------------- inputs

def _resolve_inputs(folder: Path, params: dict[str, Any], given: dict[str, Path | None]) -> dict[str, Path]:
    """Each input the audit recorded -> where it is now (see the module docstring)."""
    recorded = {r: params[r] for r in INPUT_ROLES if params.get(r)}
    extra = sorted(r for r, p in given.items() if p is not None and r not in recorded)
    if extra:
        raise InputError(f"{', '.join('--' + r for r in extra)} given, but the audit in {folder} had no such input "
                         f"(it recorded: {', '.join('--' + r for r in recorded) or 'none'})")
    private: dict[str, str] = {}
    pf = folder / "private" / PRIVATE_INPUTS
    if pf.is_file():
        try:
            private = dict(json.loads(pf.read_text(encoding="utf-8")).get("inputs") or {})
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise InputError(f"{pf}: not the input list auditkit writes ({e})") from None
    out: dict[str, Path] = {}
    for role, rec in recorded.items():
        candidates = []
        if given.get(role) is not None:
            candidates = [Path(given[role])]
        else:
            if role in private:
                p = Path(private[role])
                candidates.append(p if p.is_absolute() else folder / p)
            candidates.append(Path(rec))
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            where = f"{given[role]} not found" if given.get(role) is not None else \
                f"not found where results.json records it ({rec!r})"
            raise InputError(f"--{role}: the audited input is {where}; give --{role} PATH")
        out[role] = found.resolve()
    return out


def _pseudonymiser(mapping: dict[str, str] | None):
    """A function: a real input file path -> the form the shareable results.json shows."""
    if not mapping:
        return lambda p: p
    from .report.shareable import shareable

    def rewrite(p: str) -> str:
        done, _ = shareable({"options": {}, "files": [{"path": p}]}, mapping=mapping)
        return done["files"][0]["path"]

    return rewrite


def _listing_diff(role: str, roots: dict[str, Path], recorded: list[dict[str, Any]], current: list[dict[str, Any]],
                  rewrite) -> list[str]:
    """Changed, added and missing files of one input folder, by path (matched by content when a
    pseudonymised path cannot be mapped back)."""
    def real(rel: str) -> Path:
        if rel.startswith("distractor:") and "distractors" in roots:
            return roots["distractors"] / rel[len("distractor:"):]
        return roots[role] / rel

    rec = {f["path"]: f["sha256"] for f in recorded}
    rec_shas = set(rec.values())
    cur_shas = {f["sha256"] for f in current}
    diffs, matched = [], set()
    for f in current:
        shown = rewrite(f["path"])
        if shown in rec:
            matched.add(shown)
            if rec[shown] != f["sha256"]:
                diffs.append(f"input changed: {real(f['path'])} (--{role}; sha256 recorded {rec[shown][:12]}…, "
                             f"now {f['sha256'][:12]}…)")
        elif f["sha256"] not in rec_shas:
            diffs.append(f"input added or changed: {real(f['path'])} (--{role}; no file of the audited {role} "
                         "had this content)")
    for p, sha in rec.items():
        if p not in matched and sha not in cur_shas:
            diffs.append(f"input missing: the {role} file recorded as {p!r} (--{role} {roots[role]}; "
                         f"sha256 {sha[:12]}…: no file there has this content)")
    return diffs


def _input_differences(results: dict[str, Any], roots: dict[str, Path], mapping: dict[str, str] | None
                       ) -> tuple[list[str], dict[str, int]]:
    """Every recorded input hashed again (step 2)."""
    from .data.inputs import custody_section, load_gallery, load_release
    from .data.media import sha256_file

    inputs = results.get("inputs") or {}
    rewrite = _pseudonymiser(mapping)
    diffs: list[str] = []
    counts: dict[str, int] = {}
    release = None
    if "release" in roots:
        release = load_release(roots["release"])
        cur = custody_section(release.root, release.files)["files"]
        diffs += _listing_diff("release", roots, (inputs.get("release") or {}).get("files") or [], cur, rewrite)
        counts["release"] = len(cur)
        man = (results.get("reproduce") or {}).get("manifest")
        now = release.manifest
        if man and now is None:
            diffs.append(f"input missing: {roots['release'] / man['path']} (the release manifest; "
                         f"sha256 recorded {man['sha256'][:12]}…)")
        elif man and sha256_file(now) != man["sha256"]:
            diffs.append(f"input changed: {now} (the release manifest; sha256 recorded {man['sha256'][:12]}…, "
                         f"now {sha256_file(now)[:12]}…)")
        elif now is not None and "reproduce" in results and not man:
            diffs.append(f"input added: {now} (the audit had no release manifest)")
    if "gallery" in roots:
        gallery = load_gallery(roots["gallery"])
        if "distractors" in roots:
            from .data.distractors import add_distractors

            subjects = {it.subject for it in release.items if it.subject} if release is not None else set()
            gallery = add_distractors(gallery, roots["distractors"], release_subjects=subjects, notes=[])
        cur = custody_section(gallery.root, gallery.files or [it.file for it in gallery.items])["files"]
        diffs += _listing_diff("gallery", roots, (inputs.get("gallery") or {}).get("files") or [], cur, rewrite)
        counts["gallery"] = len(cur)
    tables = inputs.get("tables") or {}
    for role, key in _TABLE_ROLES.items():
        if role not in roots:
            continue
        rec = tables.get(key)
        if not rec:
            continue
        now = sha256_file(roots[role])
        counts[role] = 1
        if now != rec["sha256"]:
            diffs.append(f"input changed: {roots[role]} (--{role}; sha256 recorded {rec['sha256'][:12]}…, "
                         f"now {now[:12]}…)")
    return diffs, counts


# ------------------------------------------------------------------------------- the re-run

def _rerun(results: dict[str, Any], roots: dict[str, Path], *, cache_dir: Path | None, use_cache: bool,
           jobs: int, progress: bool) -> dict[str, Any]:
    from .api import run_audit
    from .config import FLAT, AuditConfig

    params = dict(results.get("parameters") or {})
    params.pop("face", None)  # derived from detector/upsample/jitters/encoder
    unknown = sorted(set(params) - set(FLAT))
    if unknown:
        version = (results.get("tool") or {}).get("version", "?")
        raise InputError(f"results.json records option(s) {', '.join(unknown)} that this auditkit does not know "
                         f"(it was written by auditkit {version}); verify it with that version")
    for role in INPUT_ROLES:
        if params.get(role):
            params[role] = roots[role]
    with tempfile.TemporaryDirectory(prefix="auditkit-verify-") as tmp:
        # every figure recomputed: no stored rung result is reused (features may come from the cache)
        params.update(out=Path(tmp), cache_dir=cache_dir, use_cache=use_cache, reuse_results=False, jobs=jobs,
                      progress=progress, executor="local", scheduler=None)
        return run_audit(AuditConfig.from_flat(params)).to_dict()


def _neutral_paths(results: dict[str, Any]) -> dict[str, Any]:
    """Input paths replaced by ``<role>``: the re-run reads its inputs from where they are now."""
    params = results.get("parameters") or {}
    pairs = {str(params[r]): f"<{r}>" for r in INPUT_ROLES if params.get(r)}
    for r in ("release", "gallery"):  # the names the shareable form gives these folders' absolute paths
        if params.get(r):
            pairs.setdefault(r, f"<{r}>")
    subs = sorted(pairs.items(), key=lambda kv: -len(kv[0]))

    def text(s: str) -> str:
        for p, name in subs:
            if s == p:
                return name
            if s.startswith(p + "/"):
                s = name + s[len(p):]
            elif "/" in p:
                s = s.replace(p, name)
        return s

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return text(x) if isinstance(x, str) else x

    return walk(results)


def _tool_notes(old: dict[str, Any], new: dict[str, Any], at: str = "tool") -> list[str]:
    notes = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            notes += _tool_notes(a, b, f"{at}.{k}")
        elif a != b:
            notes.append(f"{at}.{k}: recorded {_show(a)}, now {_show(b)}")
    return notes


def verify_bundle(folder: str | Path, *, inputs: dict[str, Path | None] | None = None, rerun: bool = True,
                  cache_dir: Path | None = None, use_cache: bool = True, jobs: int = 1, progress: bool = False,
                  tolerance: Tolerance | None = None) -> VerifyReport:
    """Check the output folder ``folder`` against its SHA256SUMS, its inputs and a re-run.

    Parameters
    ----------
    folder : an output folder of ``auditkit run`` or ``auditkit demo``.
    inputs : where each input is now (``{"release": Path, ...}``); by default the paths in
        ``folder/private/inputs.json``, else those results.json records.
    rerun : re-run the audit and compare the figures (else outputs and inputs only).
    tolerance : one tolerance for every float figure instead of :data:`FIGURE_TOLERANCES`.

    Raises
    ------
    InputError
        When the folder is not an audit's output, or an input cannot be found (naming it).
    """
    from .report import load_results
    from .report.shareable import read_private, shareable

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder (give an audit's output folder)")
    if not (folder / "results.json").is_file() and (folder / "sweep.json").is_file():
        raise InputError(f"{folder}: written by `auditkit sweep`; verify re-runs audits (auditkit run, auditkit demo)")
    if not (folder / "results.json").is_file():
        raise InputError(f"{folder}: no results.json; not an audit's output folder")
    report = VerifyReport()
    report.differences, report.n_outputs = check_checksums(folder)
    try:
        results = load_results(folder / "results.json")
    except ValueError as e:
        if not report.differences:
            raise
        report.differences.append(f"results.json cannot be read, so nothing was re-run: {e}")
        return report
    if results.get("evaluation") is not None:
        raise InputError(f"{folder / 'results.json'}: written by `auditkit evaluate`; verify re-runs audits "
                         "(auditkit run, auditkit demo)")
    roots = _resolve_inputs(folder, results.get("parameters") or {}, inputs or {})
    pseudonymised = bool((results.get("privacy") or {}).get("pseudonymised"))
    mapping = read_private(folder) if pseudonymised else None
    if pseudonymised and mapping is None and '"person ' in (folder / "results.json").read_text(encoding="utf-8"):
        report.notes.append("no private/labels.csv: pseudonymised input paths matched by content, and the re-run's "
                            "pseudonyms drawn again from the seed and the inputs")
    diffs, report.n_inputs = _input_differences(results, roots, mapping)
    report.differences += diffs
    if not rerun:
        return report
    t0 = time.monotonic()
    try:
        new = _rerun(results, roots, cache_dir=cache_dir, use_cache=use_cache, jobs=jobs, progress=progress)
    except InputError as e:
        report.differences.append(f"the re-run could not audit the inputs: {e}")
        return report
    report.rerun_seconds = round(time.monotonic() - t0, 2)
    new, _ = shareable(new, mapping=mapping)
    report.notes += _tool_notes(results.get("tool") or {}, new.get("tool") or {})
    figs, report.n_figures = compare_results(_neutral_paths(results), _neutral_paths(new), tolerance=tolerance)
    report.differences += figs
    return report
