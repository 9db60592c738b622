"""The report organised the way a regulator reads it (issue 16): which kinds of audit a results
dictionary holds, the WP29 criteria table, the motivated intruder, the threat model per attack,
mitigations, residual risk and the sign-off.

Nothing here computes a metric: every figure is read from results.json and arranged (the strongest
attack per criterion, the sweep point at the audited strength), so the report still re-renders
from results.json alone.

Sources the sections are mapped to (named in the report beside each):

* Article 29 Working Party, Opinion 05/2014 on Anonymisation Techniques (WP216, 10 April 2014):
  singling out, linkability, inference.
* UK ICO, Anonymisation: managing data protection risk code of practice (2012) and its draft
  anonymisation guidance (2021-22), "the motivated intruder test".
* ISO/IEC 27559:2022, Privacy enhancing data de-identification framework: context, data,
  identifiability, mitigation.
* NIST SP 800-188 (2023), De-Identifying Government Data Sets: re-identification studies.
* Korea PIPC, Pseudonymous Information Processing Guidelines (revised 2024 to cover images,
  video and other unstructured data): the adequacy review of pseudonymisation.
"""
from __future__ import annotations

from typing import Any

from ..scoring.risk import LEVELS
from .formatters import _inconclusive, ci, level_word, num, outcome, pct

__all__ = ["KIND_TITLES", "attack_kind", "audit_kinds", "framework_view", "overall_level"]

#: the kinds of audit, in the order the report shows them, with their headings
KIND_TITLES = {"face": "Face attacks", "body": "Body and video attacks (clothing, gait, fused)",
               "sightings": "Linkage of sightings (the release as its own gallery)",
               "table": "Table attacks", "trajectory": "Trajectory attacks", "other": "Other attacks"}

CRITERIA = (
    ("singling_out", "Singling out",
     "the possibility to isolate some or all records which identify an individual in the dataset"),
    ("linkability", "Linkability",
     "the ability to link at least two records concerning the same data subject or group of data "
     "subjects, in the same database or in two different databases"),
    ("inference", "Inference",
     "the possibility to deduce, with significant probability, the value of an attribute from the "
     "values of a set of other attributes"),
)


def attack_kind(a: dict[str, Any]) -> str:
    """face, body, sightings, table, trajectory or other: which summary table an attack belongs to."""
    if str(a.get("name", "")).startswith("linkage.sightings"):
        return "sightings"
    cue = a.get("cue")
    if cue == "face":
        return "face"
    if cue in ("appearance", "gait", "fused", "body"):
        return "body"
    if cue == "trajectory":
        return "trajectory"
    if cue in ("table", "metadata"):
        return "table"
    return "other"


def audit_kinds(r: dict[str, Any]) -> list[str]:
    """The kinds of audit a results dictionary holds (attack kinds plus video, table, trajectory,
    sweep sections), in report order."""
    found = {attack_kind(a) for a in r.get("attacks") or []}
    if r.get("video"):
        found.add("body")
    if r.get("tables"):
        found.add("table")
    if r.get("trajectories"):
        found.add("trajectory")
    order = [k for k in KIND_TITLES if k in found]
    if r.get("sweep"):
        order.append("sweep")
    return order


def _strongest(attacks: list[dict[str, Any]]) -> dict[str, Any] | None:
    scored = [a for a in attacks if a.get("risk")]
    if not scored:
        return None
    return max(scored, key=lambda a: (LEVELS.index(a["risk"]), (a.get("metrics") or {}).get("advantage") or 0))


def _max_level(a: str | None, b: str | None) -> str | None:
    return max((x for x in (a, b) if x), key=LEVELS.index, default=None)


def _wp29(r: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per WP29 criterion: the attacks that tested it, their levels and the strongest finding."""
    attacks = r.get("attacks") or []
    t = r.get("tables") or {}
    rows = []
    for key, title, definition in CRITERIA:
        tested = [a for a in attacks if a.get("criterion") == key]
        also = []
        if key == "linkability":  # naming a release item from a gallery links two datasets
            also = [a for a in attacks if a.get("criterion") == "singling_out"
                    and attack_kind(a) in ("face", "body") and a.get("n_identities")]
        evidence, measured = [], None  # measured: the level the table's own measures give (risk.TABLE_RULES)
        if key == "singling_out" and t.get("k_anonymity") is not None:
            evidence.append(f"table measures: k-anonymity {num(t['k_anonymity'])}, "
                            f"{pct(t.get('uniqueness'))} of records unique on the quasi-identifiers")
            k, u = t["k_anonymity"], t.get("uniqueness") or 0
            measured = "critical" if u >= 0.05 else "high" if k <= 1 else "medium" if k < 5 else "low"
        if key == "singling_out" and (r.get("trajectories") or {}).get("uniqueness"):
            u = r["trajectories"]["uniqueness"]
            first = next((x for x in u.get("by_p") or [] if x.get("rate") is not None), None)
            if first:
                evidence.append(f"trajectories: {pct(first['rate'])} unique given {first['p']} known point(s)")
        if key == "inference" and t.get("l_diversity"):
            for s, lv in sorted(t["l_diversity"].items()):
                evidence.append(f"table measures: l-diversity of {s} = {num(lv.get('distinct'))}")
                if lv.get("distinct") is not None:
                    measured = _max_level(measured, "high" if lv["distinct"] <= 1 else "low")
        if key == "singling_out" and (r.get("video") or {}).get("tracks_exposed"):
            evidence.append(f"video: {num(r['video']['tracks_exposed'])} track(s) exposed by a face the anonymizer missed")
        best = _strongest(tested + also)
        css = "risk-unscored" if best is None else \
            ("risk-inconclusive" if _inconclusive(best) is not None else f"risk-{best['risk']}")
        if best is None:
            level, finding = ("not tested" if not tested and not also and not evidence else "not scored"), ""
        else:
            level = level_word(best)
            finding = f"{best['name']}: {outcome(best)}"
        if measured and (best is None or LEVELS.index(measured) > LEVELS.index(best["risk"])):
            level, css = f"{measured} (table measures)", f"risk-{measured}"
            finding = "; ".join(evidence) + (f". Attack: {finding}" if finding else "")
        rows.append({"key": key, "title": title, "definition": definition,
                     "tested": [{"name": a["name"], "level": level_word(a)} for a in tested],
                     "also": [{"name": a["name"], "level": level_word(a)} for a in also],
                     "evidence": evidence, "level": level, "finding": finding, "css": css})
    return rows


def _obfuscation_known(r: dict[str, Any]) -> str:
    """What the attacker is taken to know of the release's obfuscation (declared or estimated)."""
    o = r.get("obfuscation") or {}
    if o.get("declared"):
        return f"{o['declared']} ({o.get('source') or 'declared'})"
    e = o.get("estimate") or {}
    if e.get("method") and e.get("method") not in ("unknown", "none"):
        s = e.get("strength")
        return f"{e['method']}" + (f" {e.get('strength_param') or 'strength'} ≈ {num(s)} (estimated from the release)"
                                    if s is not None else " (estimated from the release)")
    return "none known"


def _threat(r: dict[str, Any]) -> list[dict[str, str]]:
    """Per attack: the attacker's gallery, auxiliary data and knowledge of the obfuscation."""
    inputs = r.get("inputs") or {}
    g = inputs.get("gallery") or {}
    gal = (f"clear reference gallery of {num(g.get('identities'))} identities ({num(g.get('n_files'))} files)"
           if g else "none")
    known = _obfuscation_known(r)
    t = r.get("tables") or {}
    aux = t.get("aux") or {}
    aux_txt = f"auxiliary table {aux.get('name')} ({num(aux.get('rows'))} records)" if aux else "none"
    qi = ", ".join(t.get("qi") or []) or "the quasi-identifiers"
    vid = (r.get("video") or {}).get("obfuscation") or {}
    vid_known = f"{vid['applied']} re-applied to the gallery crops" if vid.get("applied") else "none re-applied"
    rows = []
    for a in r.get("attacks") or []:
        name, kind = a["name"], attack_kind(a)
        if kind == "face":
            gallery, aux_d = gal, "none beyond the gallery"
            knowledge = {"face.naive": "none: matches the release as it is",
                         "face.parrot": f"method and strength: {known}; the gallery is obfuscated the same way",
                         "face.pixels": f"method and approximate strength: {known}; trains on the gallery obfuscated at and around it",
                         "face.learned": f"method and approximate strength: {known}; trains on the gallery obfuscated at and around it",
                         "face.reconstruct": f"method and strength: {known}; inverts it before matching"}.get(
                name, f"as recorded in the attack's notes ({known})")
        elif kind == "body":
            gallery, aux_d, knowledge = gal + " (person crops and clips)", "none beyond the gallery", vid_known
        elif kind == "sightings":
            planted = (r.get("parameters") or {}).get("planted")
            gallery = "the release itself: every other sighting is a candidate"
            aux_d = "planted volunteers' times and cameras" if planted else "none"
            knowledge = "none needed: sightings are compared in the released (obfuscated) domain"
        elif kind == "table":
            gallery = "none (records, not images)"
            if a.get("criterion") == "singling_out":
                aux_d = "none: predicates on the release alone; knows a target is in the release"
            elif a.get("criterion") == "inference":
                aux_d = f"the target's {qi} ({aux_txt})"
            else:
                aux_d = f"{aux_txt}, joined on {qi}"
            knowledge = "the release's generalisation is visible in the data (no hidden obfuscation)"
        elif kind == "trajectory":
            gallery = "none"
            aux_d = ("the attacker's known whereabouts table" if (r.get("parameters") or {}).get("whereabouts")
                     else "a few (camera, time) points of the target's day")
            knowledge = "camera zones and time bins as released"
        else:
            gallery, aux_d, knowledge = gal, "as recorded in the attack's notes", known
        rows.append({"name": name, "kind": kind, "criterion": str(a.get("criterion") or "").replace("_", " "),
                     "gallery": gallery, "aux": aux_d, "knowledge": knowledge})
    return rows


def _intruder(r: dict[str, Any]) -> dict[str, Any]:
    """The ICO motivated intruder: who, what they hold, what they achieved."""
    inputs = r.get("inputs") or {}
    holds = []
    rel = inputs.get("release") or {}
    if rel:
        holds.append(f"the release ({num(rel.get('n_files'))} files)")
    if inputs.get("gallery"):
        g = inputs["gallery"]
        holds.append(f"photographs or footage of {num(g.get('identities'))} known people "
                     f"({num(g.get('n_files'))} files), as from social media or a staff directory")
    t = r.get("tables") or {}
    if t.get("release"):
        holds.append(f"the released table {t['release'].get('name')} ({num(t['release'].get('rows'))} records)")
    if t.get("aux"):
        holds.append(f"an auxiliary table {t['aux'].get('name')} ({num(t['aux'].get('rows'))} records), "
                     "as from a register or a staff list")
    if r.get("trajectories"):
        holds.append("a few places and times where a target was seen")
    if (r.get("obfuscation") or {}).get("declared") or (r.get("obfuscation") or {}).get("estimate"):
        holds.append(f"knowledge of the obfuscation: {_obfuscation_known(r)}")
    best = _strongest(r.get("attacks") or [])
    achieved = (f"{best['name']}: {outcome(best)}" if best else "no attack could be scored")
    return {"holds": holds or ["the release"], "achieved": achieved,
            "summary": (r.get("verdict") or {}).get("summary") or ""}


def _sweep_notes(r: dict[str, Any]) -> dict[str, Any] | None:
    """Why the privacy curve's figures differ from the main audit's at the same strength."""
    sw = r.get("sweep") or {}
    if not sw.get("families"):
        return None
    g = (r.get("inputs") or {}).get("gallery") or {}
    n_cal = (sw.get("parameters") or {}).get("n_calibration")
    per_id = (g.get("n_files") / g["identities"]) if g.get("identities") else None
    pairs = []
    declared = (r.get("obfuscation") or {}).get("declared") or ""
    for d in (sw.get("families") or {}).values():
        for p in d.get("points") or []:
            if not declared or p.get("spec") != declared:
                continue
            for a in r.get("attacks") or []:
                s = (p.get("attacks") or {}).get(a["name"])
                m = a.get("metrics") or {}
                if s and m.get("rank1") is not None:
                    pairs.append({"attack": a["name"], "spec": p["spec"], "audit": pct(m["rank1"]),
                                  "audit_ci": ci(m.get("rank1_ci")), "audit_n": num(m.get("n_mated", m.get("n"))),
                                  "sweep": pct(s.get("rank1")), "sweep_ci": ci(s.get("rank1_ci")),
                                  "sweep_n": num(s.get("n"))})
    return {"n_calibration": num(n_cal) if n_cal is not None else "?",
            "per_identity": num(round(per_id, 1)) if per_id else "?",
            "identities": num(g.get("identities")), "rule": (sw.get("split") or {}).get("rule", ""), "pairs": pairs}


def _mitigations(r: dict[str, Any]) -> list[str]:
    out = []
    sw = r.get("sweep") or {}
    for fam, d in (sw.get("families") or {}).items():
        rec = d.get("recommendation") or {}
        if rec.get("statement"):
            out.append(f"{fam}: {rec['statement']}")
    t = r.get("tables") or {}
    if t.get("k_anonymity") is not None and t["k_anonymity"] < 5:
        out.append(f"table: generalise or suppress the quasi-identifiers until every group has at least 5 records "
                   f"(now k = {num(t['k_anonymity'])}; El Emam's 0.2 threshold for public releases) and every "
                   "sensitive attribute has at least 2 distinct values per group")
    for cv in ((r.get("trajectories") or {}).get("coarsening") or {}).get("curves") or []:
        need = cv.get("strength_needed")
        out.append(f"trajectories ({cv.get('space')}): " + (f"coarsen times to {need}" if need else
                                                            (cv.get("note") or "no tried coarsening is enough")))
    v = r.get("video") or {}
    if v.get("leaks"):
        out.append(f"video: {num(len(v['leaks']))} face(s) the anonymizer missed (see Face leaks): re-run it on those frames")
    return out


def _residual(r: dict[str, Any]) -> list[str]:
    out = []
    for fam, d in ((r.get("sweep") or {}).get("families") or {}).items():
        s = (d.get("recommendation") or {}).get("strength")
        p = next((p for p in d.get("points") or [] if s is not None and p.get("strength") == s), None)
        if p and p.get("strongest"):
            st = p["strongest"]
            out.append(f"At the recommended {fam} {d.get('param')} = {num(s)}, the strongest attack ({st['name']}) still "
                       f"has an advantage of {num(st.get('advantage'), 2)} (95% CI {num(st['advantage_ci'][0], 2)} – "
                       f"{num(st['advantage_ci'][1], 2)}) on {num(p.get('n_probes'))} calibration probes.")
    best = _strongest(r.get("attacks") or [])
    if best is not None:
        hi = ((best.get("metrics") or {}).get("advantage_ci") or [None, None])[1]
        out.append(f"As released, the strongest attack ({best['name']}) reaches an advantage of up to "
                   f"{num(hi, 2)} over chance (the upper end of its 95% interval).")
    out.append("Attackers stronger than those run, larger or better galleries, and auxiliary data not considered "
               "here are not covered: the risk they add is not measured by this report.")
    return out


def framework_view(r: dict[str, Any]) -> dict[str, Any]:
    """Everything the framework sections of the report show, read from results.json."""
    params = r.get("parameters") or {}
    sign = r.get("signoff") or {}
    return {"kinds": audit_kinds(r), "wp29": _wp29(r), "intruder": _intruder(r), "threat": _threat(r),
            "mitigations": _mitigations(r), "residual": _residual(r), "sweep_vs_audit": _sweep_notes(r),
            "signoff": {k: sign.get(k, params.get(k)) for k in ("auditor", "organisation", "review_after")}}


def overall_level(r: dict[str, Any]) -> tuple[str, str]:
    """The overall level in words and its CSS class: the verdict's level, printed "inconclusive"
    when it is low and some attack's interval reaches a higher level."""
    risk = (r.get("verdict") or {}).get("risk")
    if not risk:
        return "not scored", "risk-unscored"
    if risk == "low":
        his = [_inconclusive(a) for a in r.get("attacks") or []]
        his = [h for h in his if h is not None]
        if his:
            from ..scoring.risk import level_for

            top = level_for((max(his), max(his))) or "low"
            return "inconclusive" + (f" (low to {top})" if top != "low" else ""), "risk-inconclusive"
    return risk, f"risk-{risk}"
