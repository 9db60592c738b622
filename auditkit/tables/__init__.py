"""Metadata and trajectory linkage (issue 5): singling out, linkability and inference on the
tables a release publishes beside its pixels.

Entry points: :func:`run_table_audit` (a release table, optionally an auxiliary table the
attacker holds, a control set and a population) and :func:`trajectory_audit` (sightings of
tracks across cameras). Both return plain data: a ``tables`` dict for ``results.json`` and a
list of :class:`~auditkit.result.AttackResult` for its ``attacks``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..attacks.linkability import SplitLinkability, parse_column_sets
from ..attacks.tables import ExactLinkage, Inference, NearestLinkage, SinglingOut
from ..data.tables import LoadedTable, TableError, load_table, prepare_table, require_columns
from ..result import AttackResult, to_jsonable
from ..scoring.table_measures import (
    class_size_summary,
    class_sizes,
    explain_uniqueness,
    k_anonymity,
    l_diversity,
    reidentification_risks,
    suggest_qi,
    t_closeness,
    uniqueness,
)
from .peer_measures import peer_measures
from .population_measures import population_measures
from .suppression import DEFAULT_MARKER, split_suppressed
from .trajectories import trajectory_audit

__all__ = ["TableAudit", "TableError", "load_table", "prepare_table", "run_table_audit", "trajectory_audit"]

TableLike = "str | Path | pd.DataFrame | LoadedTable"


@dataclass
class TableAudit:
    """The outcome of :func:`run_table_audit`.

    ``tables`` is the ``results.json["tables"]`` section; ``attacks`` join
    ``results.json["attacks"]`` (``risk`` left for :func:`auditkit.scoring.risk.assess`).
    """

    tables: dict[str, Any]
    attacks: list[AttackResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"tables": self.tables, "attacks": [a.to_dict() for a in self.attacks],
                            "skipped": self.skipped, "warnings": self.warnings})


def _as_table(obj: Any, name: str) -> LoadedTable:
    if isinstance(obj, LoadedTable):
        return obj
    if isinstance(obj, pd.DataFrame):
        return prepare_table(obj, name=name)
    if isinstance(obj, (str, Path)):
        return load_table(obj, name=name)
    raise TypeError(f"{name}: expected a path, a pandas DataFrame or a LoadedTable, got {type(obj).__name__}")


def _parse_cols(cols: str | Sequence[str] | None) -> list[str] | None:
    if cols is None:
        return None
    if isinstance(cols, str):
        cols = [c.strip() for c in cols.split(",")]
    out = [c for c in cols if c]
    return out or None


def run_table_audit(release: Any, *, aux: Any = None, qi: str | Sequence[str] | None = None,
                    sensitive: str | Sequence[str] | None = None, control: Any = None,
                    population: Any = None, id_col: str | None = None, ignore: Sequence[str] = (),
                    risk_threshold: float = 0.2, sampling_fraction: float | None = None,
                    suppressed_marker: str = DEFAULT_MARKER,
                    n_attacks: int = 500, n_inference: int | None = 2000, singling_out_cols: int = 3,
                    nearest: bool = True, linkability_columns: str | Sequence[Sequence[str]] | None = None,
                    linkability_neighbors: int = 1, random_state: int = 0) -> TableAudit:
    """Audit a released table: disclosure-risk measures and attacks with baselines.

    Parameters
    ----------
    release : the published table (path to CSV/Parquet, DataFrame or LoadedTable).
    aux : the attacker's auxiliary table (a register, staff list...): identities for linkage,
        target records for singling out and inference, and the population for the journalist
        and marketer risks unless ``population`` is given.
    qi : quasi-identifiers (list or ``"a,b,c"``); suggested from uniqueness when omitted.
    sensitive : sensitive attribute(s) for l-diversity, t-closeness and inference.
    control : records of the same population known not to be in the release (anonymeter's
        control), for singling out and inference.
    population : population table for journalist / marketer risk (default: ``aux``).
    id_col : identity column present in the release and ``aux`` that gives the ground truth of
        linkage (never used by the attacker); default ``"subject"`` when both tables have it.
    ignore : release columns left out of the analysis altogether (e.g. a manifest's ``path``,
        ``x``, ``y``, ``w``, ``h``); each must exist.
    risk_threshold : ARX's threshold on a record's re-identification probability (records at risk).
    sampling_fraction : share of the population the release holds: population uniqueness
        (:mod:`.population_uniqueness`), and journalist / marketer risks under its model when
        there is no population or auxiliary table. ``population`` also gives k-map (:mod:`.kmap`).
    suppressed_marker : value of every quasi-identifier of a suppressed record (:mod:`.suppression`):
        such records form no class and are reported in ``suppressed``.
    n_attacks : singling-out predicates per mode. n_inference : targets per inference attack.
    linkability_columns : two disjoint column sets (``"a,b|c,d"``) for anonymeter's linkability
        attack (:mod:`auditkit.attacks.linkability`): the attacker holds each half of the ``aux``
        people and links them through the release on ``linkability_neighbors`` nearest records.
    random_state : seed for every random choice.

    Long: the table stage's sequence (load, QI choice, measures, the three attack families, control); to become one Attack per family.
    """
    rel = _as_table(release, "release")
    if ignore:
        require_columns(rel, list(ignore), role="ignored")
        rel = LoadedTable(name=rel.name, df=rel.df.drop(columns=list(ignore)),
                          columns={c: i for c, i in rel.columns.items() if c not in ignore},
                          direct_identifiers=[d for d in rel.direct_identifiers if d["column"] not in ignore],
                          warnings=rel.warnings, path=rel.path)
    warnings = list(rel.warnings)
    skipped: list[str] = []
    aux_t = _as_table(aux, "aux") if aux is not None else None
    ctl_t = _as_table(control, "control") if control is not None else None
    pop_t = _as_table(population, "population") if population is not None else None
    for t in (aux_t, ctl_t, pop_t):
        if t is not None:
            warnings += t.warnings
    sens = _parse_cols(sensitive) or []
    require_columns(rel, sens, role="sensitive")
    if id_col is None and aux_t is not None and "subject" in rel.df.columns and "subject" in aux_t.df.columns:
        id_col = "subject"
    if id_col is not None:
        require_columns(rel, [id_col], role="identity (--id-col)")
        if aux_t is not None:
            require_columns(aux_t, [id_col], role="identity (--id-col)")
    direct = rel.direct_identifiers
    direct_cols = {d["column"] for d in direct}
    for d in direct:
        if d["column"] != id_col:
            warnings.append(f"DIRECT IDENTIFIER in the release: column {d['column']!r} ({d['reason']}); "
                            "a release that names people is not de-identified, whatever the other measures say")
    qi_list = _parse_cols(qi)
    reasons: dict[str, str] = {}
    exclude = set(sens) | ({id_col} if id_col else set())
    if qi_list is None:
        qi_list, reasons = suggest_qi(rel, exclude=sorted(exclude))
        if not qi_list:
            raise TableError("no quasi-identifier could be suggested from the release (no column makes records "
                             "unique); declare them with --qi")
        warnings.append(f"quasi-identifiers not given: suggested {qi_list} from uniqueness (see qi_suggested_reasons)")
    require_columns(rel, qi_list, role="quasi-identifier")
    for col in qi_list:
        if rel.columns[col].kind == "text":
            raise TableError(f"quasi-identifier {col!r} of table 'release' is free text "
                             f"({rel.columns[col].note}); it cannot be matched as a quasi-identifier. "
                             "Generalise it into categories, or leave it out of --qi and review it by hand")
        if col in direct_cols:
            warnings.append(f"QUASI-IDENTIFIER {col!r} IS A DIRECT IDENTIFIER: "
                            f"{next(d['reason'] for d in direct if d['column'] == col)}")
        if col in sens:
            raise TableError(f"column {col!r} is declared both quasi-identifier and sensitive")
    df_all = rel.df  # every released row: what the attacks read
    df, suppressed = split_suppressed(df_all, qi_list, marker=suppressed_marker)
    if len(df) == 0:
        raise TableError(f"every record of table {rel.name!r} is suppressed (all quasi-identifiers "
                         f"{suppressed_marker!r}): there are no equivalence classes to measure")
    for label, t in (("aux", aux_t), ("control", ctl_t), ("population", pop_t)):
        if t is None:
            continue
        require_columns(t, qi_list, role="quasi-identifier")
        for col in qi_list:
            rel_kind = suppressed["retyped"].get(col, rel.columns[col].kind)
            if t.columns[col].kind != rel_kind:
                warnings.append(f"column {col!r} is {rel_kind} in 'release' but {t.columns[col].kind} "
                                f"in {label!r}: exact matches on it will be rare")
    from ..progress import Progress  # issue 10: a progress line with rate and ETA on stderr

    n_att = 0 if aux_t is None else (3 + int(nearest) + len(sens))
    prog = Progress("table audit", 4 + 2 * len(sens) + n_att, unit="steps")

    def done(what: str) -> None:
        prog.label = f"table audit ({what} done)"
        prog.update()

    sizes = class_sizes(df, qi_list)
    kinds = rel.kinds()
    tables: dict[str, Any] = {
        "release": {"name": rel.name, "path": rel.path, "rows": len(df_all), "reading": rel.reading,
                    "columns": {c: i.as_dict() for c, i in rel.columns.items()}},
        "suppressed": suppressed,
        "qi": qi_list, "qi_declared": qi is not None, "qi_suggested_reasons": reasons, "sensitive": sens,
        "id_col": id_col, "direct_identifiers": direct,
        "k_anonymity": k_anonymity(df, qi_list), "uniqueness": uniqueness(df, qi_list),
        "unique_records": int((sizes == 1).sum()),
        "equivalence_class_sizes": class_size_summary(sizes),
    }
    done("classes, k, uniqueness")
    tables["explanation"] = explain_uniqueness(df, qi_list)
    done("uniqueness explained")
    tables["l_diversity"], tables["t_closeness"] = {}, {}
    for s_col in sens:
        tables["l_diversity"][s_col] = l_diversity(df, qi_list, s_col)
        done(f"l-diversity of {s_col}")
        tables["t_closeness"][s_col] = t_closeness(df, qi_list, s_col)
        done(f"t-closeness of {s_col}")
    tables["l_diversity"] = tables["l_diversity"] or None
    tables["peer_measures"] = peer_measures(df, qi_list, sens)  # issue 14: pycanon's and ARX's other measures
    tables["t_closeness"] = tables["t_closeness"] or None
    population_df = pop_t.df if pop_t is not None else (aux_t.df if aux_t is not None else None)
    risks = reidentification_risks(df, qi_list, population=population_df, threshold=risk_threshold)
    done("prosecutor, journalist, marketer risks")
    tables.update({"prosecutor": risks["prosecutor"], "journalist": risks["journalist"],
                   "marketer": risks["marketer"], "risk_threshold": risk_threshold,
                   "population": "population" if pop_t is not None else ("aux" if aux_t is not None else None),
                   "risk_note": risks["note"]})
    tables.update(population_measures(df, qi_list, sampling_fraction=sampling_fraction, threshold=risk_threshold,
                                      population=pop_t.df if pop_t is not None else None,
                                      risks_have_population=population_df is not None))
    if aux_t is not None:
        tables["aux"] = {"name": aux_t.name, "path": aux_t.path, "rows": len(aux_t.df)}
    if ctl_t is not None:
        tables["control"] = {"name": ctl_t.name, "path": ctl_t.path, "rows": len(ctl_t.df)}

    attacks: list[AttackResult] = []
    if aux_t is None:
        skipped.append("linkage.*, singling_out.*, inference.*: no auxiliary table (--aux); "
                       "only the release's own risk measures were computed")
    else:
        attacks.append(ExactLinkage(df_all, aux_t.df, qi_list, id_col=id_col, random_state=random_state).evaluate().result())
        done("exact linkage")
        if nearest:
            attacks.append(NearestLinkage(df_all, aux_t.df, qi_list, kinds, id_col=id_col,
                                          random_state=random_state).evaluate().result())
            done("nearest linkage")
        ctl_df = ctl_t.df if ctl_t is not None else None
        so_cols = qi_list + [s for s in sens if s in aux_t.df.columns
                             and (ctl_df is None or s in ctl_df.columns)]
        for mode in ("univariate", "multivariate"):
            so = SinglingOut(df_all, aux_t.df, so_cols, kinds, mode=mode, n_attacks=n_attacks, n_cols=singling_out_cols,
                             control=ctl_df, random_state=random_state).evaluate().result()
            done(f"singling out ({mode})")
            if so.n_probes == 0:
                skipped.append(f"{so.name}: no predicate on {', '.join(so_cols)} isolates a single release "
                               "record, so there is nothing to single out with (every combination is shared)")
            else:
                attacks.append(so)
        for s in sens:
            missing = [lbl for lbl, t in (("aux", aux_t), ("control", ctl_t)) if t is not None and s not in t.df.columns]
            if "aux" in missing:
                skipped.append(f"inference.{s}: the auxiliary table has no {s!r} column to score guesses against")
                continue
            use_ctl = ctl_df if (ctl_df is not None and s in ctl_df.columns) else None
            if ctl_df is not None and use_ctl is None:
                warnings.append(f"inference.{s}: control table has no {s!r} column; scored without control")
            attacks.append(Inference(df_all, aux_t.df, qi_list, s, kinds, control=use_ctl, n_attacks=n_inference,
                                     random_state=random_state).evaluate().result())
            done(f"inference of {s}")
    if linkability_columns:
        link_cols = parse_column_sets(linkability_columns)
        require_columns(rel, link_cols[0] + link_cols[1], role="linkability (--linkability-columns)")
        if aux_t is None:
            skipped.append("linkability.split: no auxiliary table (--aux) holding the people behind the release")
        else:
            use_ctl = ctl_t.df if ctl_t is not None and set(link_cols[0] + link_cols[1]) <= set(ctl_t.df.columns) else None
            if ctl_t is not None and use_ctl is None:
                warnings.append("linkability.split: the control table lacks linkability columns; scored without control")
            attacks.append(SplitLinkability(df_all, aux_t.df, link_cols, kinds, n_neighbors=linkability_neighbors,
                                            n_attacks=n_attacks, control=use_ctl,
                                            random_state=random_state).evaluate().result())
    if prog.done < prog.total:
        prog.label = "table audit (done)"
        prog.update(prog.total - prog.done)  # steps skipped above (no aux column...) count as done
    tables["random_state"] = random_state
    tables["warnings"] = warnings
    tables["skipped"] = skipped
    return TableAudit(tables=to_jsonable(tables), attacks=attacks, skipped=skipped, warnings=warnings)
