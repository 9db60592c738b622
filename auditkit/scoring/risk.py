"""The risk policy: from an attack's advantage over chance (with its interval) to a level.

Policy (documented in the report's method section and in README):

* The **advantage** is ``(p - p0) / (1 - p0)``: the attacker's success rate ``p`` corrected
  for what guessing achieves (``p0``). It is judged by the **lower bound** of its 95% Wilson
  interval, so a level is only claimed when the data support it:

  ======== ==================================
  level    lower bound of advantage interval
  ======== ==================================
  critical >= 0.50
  high     >= 0.20
  medium   >= 0.05
  low      below 0.05
  ======== ==================================

* A release is reported **anonymized** against the attacks run only if every scored attack's
  advantage *upper* bound is below 0.05 (the data rule out a material advantage). A "low"
  attack whose upper bound is above 0.05 is inconclusive (too few probes), and is said so.
* The overall risk is the **strongest** attack's level, never an average.

* A released **table** is also judged by its own disclosure-risk measures on the declared
  quasi-identifiers, with no attack and no auxiliary data needed (:func:`table_level`; the
  prosecutor model: the attacker knows the target is in the release and knows their
  quasi-identifiers). The first rule that holds gives the level:

  ======== ==========================================================================
  level    rule on the release's own measures
  ======== ==========================================================================
  critical at least 5% of records are unique on the quasi-identifiers
           (``uniqueness >= 0.05``: each of them is re-identified with certainty)
  high     some record is unique (``k = 1``, highest prosecutor risk 1), or some
           sensitive attribute has distinct l-diversity 1 (a class whose members all
           share the sensitive value: it is disclosed without singling anyone out)
  medium   ``k < 5``: highest prosecutor risk above 0.2, the threshold El Emam (2013)
           gives for public releases
  low      ``k >= 5`` and every sensitive attribute has ``l >= 2``
  ======== ==========================================================================

  The overall verdict takes the stronger of this level and the attacks' (never an average),
  so ``--fail-on`` and the executive summary follow a table-only audit too.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ..result import AttackResult

__all__ = ["LEVELS", "TABLE_RULES", "THRESHOLDS", "assess", "level_at_least", "level_for", "table_level",
           "verdict", "with_table_measures"]

LEVELS = ("low", "medium", "high", "critical")
THRESHOLDS = {"critical": 0.50, "high": 0.20, "medium": 0.05}
ANONYMIZED_MAX_ADVANTAGE = 0.05
SMALL_SAMPLE = 30


def level_for(advantage_ci: tuple[float, float]) -> str | None:
    """Risk level from the advantage interval; None when it cannot be computed."""
    lo = advantage_ci[0] if advantage_ci else math.nan
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return None
    for level in ("critical", "high", "medium"):
        if lo >= THRESHOLDS[level]:
            return level
    return "low"


def level_at_least(level: str | None, floor: str) -> bool:
    if level is None:
        return False
    return LEVELS.index(level) >= LEVELS.index(floor)


def _n_scored(a: AttackResult) -> int:
    m = a.metrics
    return int(m.get("n_mated", m.get("n", 0)) or 0)


def assess(attack: AttackResult) -> AttackResult:
    """Fill ``attack.risk`` and add policy notes (small sample, inconclusive, no better than chance)."""
    ci = attack.metrics.get("advantage_ci") or (math.nan, math.nan)
    attack.risk = level_for(tuple(ci))
    n = _n_scored(attack)
    if attack.risk is None:
        attack.notes.append("not scored: no probe with ground truth in the gallery")
        return attack
    hi = ci[1]
    if n < SMALL_SAMPLE:
        attack.notes.append(f"small sample: {n} scored probes; intervals are wide")
    if attack.risk == "low" and hi is not None and hi >= ANONYMIZED_MAX_ADVANTAGE:
        attack.notes.append(
            f"inconclusive: the advantage interval reaches {hi:.1%}, so a material risk is not ruled out")
    adv = attack.metrics.get("advantage")
    if adv is not None and not math.isnan(adv) and ci[0] <= 0 <= ci[1]:
        attack.notes.append("no better than chance within the 95% interval")
    return attack


def outcome_phrase(cue: str | None, criterion: str | None) -> tuple[str, str, str]:
    """How to say an attack's success rate: (what is counted, what happened to it, reference word).

    ``("release faces", "re-identified at rank 1", "chance")`` for a face attack,
    ``("release records", "linked to the right identity", "baseline")`` for a table linkage.
    """
    if cue in ("table", "trajectory", "metadata"):
        unit = {"singling_out": "targets", "inference": "targets"}.get(criterion or "", "records")
        if cue == "trajectory":
            unit = "trajectories"
        what = {"linkability": "linked to the right identity",
                "singling_out": "singled out (isolated exactly one person)",
                "inference": "had their secret attribute inferred correctly"}.get(criterion or "", "exposed")
        return unit, what, "baseline"
    if criterion == "linkability" and cue in ("face", "appearance", "gait", "fused"):  # linkage.sightings
        return "release sightings", "linked to another sighting of the same person at rank 1", "chance"
    unit = {"face": "release faces", "appearance": "release tracks", "gait": "release tracks",
            "fused": "release tracks"}.get(cue or "", "release items")
    return unit, "re-identified at rank 1", "chance"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def verdict(attacks: Iterable[AttackResult], *, what: str = "the de-identification") -> dict[str, Any]:
    """Overall verdict: risk of the strongest attack, and a plain-language summary."""
    scored = [a for a in attacks if a.risk is not None]
    if not scored:
        if "table" in what or "trajector" in what:  # each kind of audit speaks its own words
            return {"risk": None, "anonymized": False, "strongest_attack": None,
                    "summary": f"Re-identification of {what} could not be scored: no attack had ground truth "
                               "(an identity column shared with the auxiliary data) to score against."}
        return {"risk": None, "anonymized": False, "strongest_attack": None,
                "summary": "Re-identification could not be scored: no release item has ground truth "
                           "matching a gallery identity. Candidate matches are listed, but accuracy is unknown."}
    strongest = max(scored, key=lambda a: (LEVELS.index(a.risk), a.metrics.get("advantage") or -1))
    anonymized = all((a.metrics.get("advantage_ci") or (0, 1))[1] < ANONYMIZED_MAX_ADVANTAGE for a in scored)
    m = strongest.metrics
    rate = m.get("rank1", m.get("success_rate"))
    ci = m.get("rank1_ci", m.get("success_rate_ci"))
    p0 = m.get("chance_rank1", m.get("baseline"))
    n = _n_scored(strongest)
    unit, happened, base = outcome_phrase(strongest.cue, strongest.criterion)
    fig = f"{_pct(rate)} of {n:,} {unit} {happened}{_among(strongest)} (95% CI {_pct(ci[0])}-{_pct(ci[1])}), " \
          f"{base} {_pct(p0)}{_projected(strongest)}"
    if m.get("estimated"):  # a label-free estimate (linkage.sightings without ground truth)
        fig = f"an estimated {fig} (estimated without labels, from structural constraints)"
    if anonymized:
        summary = (f"No attack run did materially better than {base}: with the strongest "
                   f"({strongest.name}), {fig}. {_cap(what)} held against these attacks.")
    elif strongest.risk == "low":
        summary = (f"Not shown to be anonymized: with the strongest attack ({strongest.name}), {fig}; "
                   f"the sample is too small to rule out a material risk.")
    else:
        summary = (f"{_cap(what)} does not anonymize: with {strongest.name}, {fig}. "
                   f"Risk: {strongest.risk}.")
    return {"risk": strongest.risk, "anonymized": anonymized, "strongest_attack": strongest.name,
            "summary": summary}


def _among(a: AttackResult) -> str:
    """The gallery size the figure holds for (issue 14): " among N gallery identities"."""
    if a.criterion == "linkability" or a.cue in ("table", "trajectory", "metadata") or not a.n_identities:
        return ""
    return f" among {a.n_identities:,} gallery identit{'y' if a.n_identities == 1 else 'ies'}"


def _projected(a: AttackResult) -> str:
    """The projection to the largest gallery size asked for (issue 14), when there is one."""
    pop = (a.details or {}).get("population") or {}
    sizes, r1, ci = pop.get("sizes") or [], pop.get("rank1") or [], pop.get("rank1_ci") or []
    if not sizes or len(r1) != len(sizes) or r1[-1] is None:
        return ""
    lo, hi = (ci[-1] if len(ci) == len(sizes) and ci[-1] else (None, None))
    band = f" (95% CI {_pct(lo)}-{_pct(hi)})" if lo is not None and hi is not None else ""
    return f"; projected to a gallery of {sizes[-1]:,.0f} identities: {_pct(r1[-1])}{band}"


def _pct(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if 0 < x < 0.001:
        return "< 0.1%"
    return f"{100 * x:.1f}%".replace(".0%", "%")


#: The table policy's thresholds (see the module docstring).
TABLE_RULES = {"critical_uniqueness": 0.05, "medium_k": 5, "high_l": 1}


def table_level(tables: dict[str, Any] | None) -> tuple[str | None, list[str]]:
    """Risk level of a released table from its own measures, and the findings that set it.

    ``tables`` is ``results.json["tables"]`` (:func:`auditkit.tables.run_table_audit`). Returns
    ``(None, [])`` when there is no table or it has no records.
    """
    t = tables or {}
    k = t.get("k_anonymity")
    rows = (t.get("release") or {}).get("rows") or 0
    n_suppressed = int((t.get("suppressed") or {}).get("records") or 0)
    rows -= n_suppressed  # suppressed records form no class (issue 14): the measures count the others
    if k is None or rows <= 0:
        return None, []
    uniq = float(t.get("uniqueness") or 0.0)
    n_unique = int(t.get("unique_records") or round(uniq * rows))
    qi = ", ".join(t.get("qi") or [])
    pros = t.get("prosecutor") or {}
    tail = (f"k-anonymity k = {k}; highest prosecutor risk {_pct(pros.get('highest_risk'))}, "
            f"average {_pct(pros.get('average_risk'))}.")
    if n_unique:
        findings = [f"{_pct(uniq)} of the {rows:,} released records ({n_unique:,}) are unique on the "
                    f"quasi-identifiers ({qi}): anyone who knows a target's {qi} and that they are in the release "
                    f"re-identifies them with certainty. {tail}"]
    else:
        findings = [f"No released record of {rows:,} is unique on the quasi-identifiers ({qi}); every record "
                    f"shares its values with at least {k - 1} other(s). {tail}"]
    if n_suppressed:
        findings.append(f"{n_suppressed:,} further released record(s) are suppressed (every quasi-identifier "
                        f"{(t.get('suppressed') or {}).get('marker')!r}) and counted in no class.")
    pu = t.get("population_uniqueness")
    if pu:
        findings.append(f"The release is a sample ({_pct(pu['sampling_fraction'])} of a population of "
                        f"{pu['population_size']:,}): an estimated {_pct(pu['dankar'])} of that population is unique "
                        f"on the quasi-identifiers (Dankar et al.'s rule, {pu['dankar_model']} model).")
    homogeneous = []
    for s, ld in (t.get("l_diversity") or {}).items():
        if ld and ld.get("distinct", 2) <= TABLE_RULES["high_l"]:
            homogeneous.append(s)
            findings.append(f"Sensitive attribute {s!r}: l-diversity {ld.get('distinct')} — "
                            f"{ld.get('records_in_classes_with_one_value', 0):,} records are in classes whose members "
                            f"all share the value, so it is disclosed to anyone who knows their {qi}.")
    if uniq >= TABLE_RULES["critical_uniqueness"]:
        level = "critical"
    elif k <= 1 or homogeneous:
        level = "high"
    elif k < TABLE_RULES["medium_k"]:
        level = "medium"
    else:
        level = "low"
    return level, findings


def with_table_measures(v: dict[str, Any], tables: dict[str, Any] | None) -> dict[str, Any]:
    """The verdict ``v`` (from :func:`verdict`) raised to the table's own level when that is
    higher, with the summary in table words when the table decides it (or nothing else scored)."""
    level, findings = table_level(tables)
    if level is None:
        return v
    v = {**v, "table_risk": level, "findings": findings}
    if v.get("risk") is not None and LEVELS.index(v["risk"]) >= LEVELS.index(level):
        return v
    anonymized = level == "low" and (v.get("risk") is None or v.get("anonymized"))
    head = findings[0]
    if level == "low":
        summary = (f"The released table's own measures show no record at high risk: {head} "
                   "Attacks with an auxiliary table (--aux) test linkage itself.")
    else:
        summary = f"The released table is not anonymized: {head} Risk: {level}."
        if len(findings) > 1:
            summary += " " + " ".join(findings[1:])
    return {**v, "risk": level, "anonymized": anonymized, "strongest_attack": None,
            "basis": "the released table's own measures (uniqueness, k, prosecutor risk, l-diversity)",
            "summary": summary}
