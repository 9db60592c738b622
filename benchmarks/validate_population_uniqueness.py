"""Population uniqueness (issue 14): auditkit beside ARX's published test values on ARX's adult.csv.

Usage::

    git -C <arx checkout> show HEAD:data/adult.csv > /tmp/arx_adult.csv      # optional
    .venv/bin/python benchmarks/validate_population_uniqueness.py [--arx-csv /tmp/arx_adult.csv]

ARX's ``data/adult.csv`` (30,162 records, ``;``-separated, 9 quasi-identifiers) is the UCI Adult
training split without its records holding a ``?``, columns in ARX's order. The script rebuilds it
from the shared UCI Adult copy (``uci_adult/pycanon/raw/adult.csv``) into a temporary file; with
``--arx-csv`` it also reads ARX's own file, checks the two are identical cell by cell, and audits
ARX's file itself. Nothing is written into the repository.

Expected values: ARX ``src/test/org/deidentifier/arx/test/TestRiskMetrics.java``
(``testDecisionRule2``: Dankar's estimate at sampling fractions 0.1, 0.2, 0.01, 1; at 0.1 the test
accepts Pitman 0.27684993883653597 or, if Pitman fails, Zayatz 0.3207402393466189;
``testAverageRisk2``: average prosecutor risk 0.6465751607983555). ARX compares four decimal
places (``(int) (v * 10000)``); so does the "agrees" column. The audit is the one ``auditkit run
--table adult.csv --qi <9 columns> --sampling-fraction F`` runs (:func:`auditkit.tables.run_table_audit`).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import find_dataset

from auditkit.tables import run_table_audit

COLS = ["sex", "age", "race", "marital-status", "education", "native-country", "workclass", "occupation",
        "salary-class"]
#: fraction -> (expected, model(s) ARX's test accepts)
EXPECTED = [(0.01, 0.1446083531167384, "any"), (0.1, 0.27684993883653597, "Pitman"),
            (0.1, 0.3207402393466189, "Zayatz (fallback)"), (0.2, 0.3577099234829125, "any"),
            (1.0, 0.5142895033485844, "any")]


def _fmt(v) -> str:
    return "did not converge" if v is None else f"{v:.10f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arx-csv", type=Path, default=None, help="ARX's own data/adult.csv (optional)")
    args = ap.parse_args()
    raw = find_dataset("uci_adult") / "pycanon" / "raw" / "adult.csv"
    df = pd.read_csv(raw, dtype=str, skipinitialspace=True)
    df = df[~(df == "?").any(axis=1)][COLS].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adult.csv"
        df.to_csv(path, sep=";", index=False)
        source = f"rebuilt from {raw.parent.parent.parent.name}/pycanon/raw/adult.csv (rows with '?' dropped)"
        if args.arx_csv:
            arx = pd.read_csv(args.arx_csv, sep=";", dtype=str)
            same = arx.shape == df.shape and list(arx.columns) == COLS and bool((arx == df).all().all())
            if not same:
                raise SystemExit(f"{args.arx_csv} differs from the rebuilt table; not comparable")
            path, source = args.arx_csv, f"ARX's own file {args.arx_csv} (identical to the rebuilt one, checked)"
        audits = {f: run_table_audit(path, qi=COLS, sampling_fraction=f, nearest=False).tables
                  for f in sorted({e[0] for e in EXPECTED})}
    first = audits[0.1]
    print(f"Table: {source}; read as {first['release']['reading']}; {first['release']['rows']:,} records, "
          f"{first['equivalence_class_sizes']['n_classes']:,} classes, "
          f"{first['population_uniqueness']['sample_uniques']:,} sample uniques\n")
    print("| sampling fraction | population N | ARX expected (TestRiskMetrics) | ARX's model | auditkit | "
          "auditkit's model | agrees to ARX's 4 decimals |")
    print("|---:|---:|---:|---|---:|---|---|")
    for f, exp, model in EXPECTED:
        pu = audits[f]["population_uniqueness"]
        ours, ours_model = pu["dankar"], pu["dankar_model"]
        if model.startswith("Zayatz"):
            ours, ours_model = pu["zayatz"], "zayatz (the estimator alone)"
        ok = int(ours * 10000) == int(exp * 10000)
        print(f"| {f:g} | {pu['population_size']:,} | {exp!r} | {model} | {ours!r} | {ours_model} | "
              f"{'yes' if ok else 'NO'} (diff {ours - exp:+.1e}) |")
    avg = first["prosecutor"]["average_risk"]
    print(f"| average prosecutor risk (testAverageRisk2) | | 0.6465751607983555 | | {avg!r} | | "
          f"{'yes' if int(avg * 1e4) == 6465 else 'NO'} |")
    print("\nEvery estimator (share of the population unique):\n")
    print("| sampling fraction | Pitman | Zayatz | SNB (ARX's equations) | SNB (published equations) | "
          "Dankar (as ARX) | Dankar with published SNB |")
    print("|---:|---:|---:|---:|---:|---|---|")
    for f, a in audits.items():
        pu = a["population_uniqueness"]
        print(f"| {f:g} | {_fmt(pu['pitman'])} | {_fmt(pu['zayatz'])} | {_fmt(pu['snb'])} | {_fmt(pu['snb_paper'])} | "
              f"{pu['dankar']:.10f} ({pu['dankar_model']}) | {pu['dankar_paper']:.10f} ({pu['dankar_paper_model']}) |")
    print("\nJournalist / marketer risk under the Pitman model (no population table):\n")
    print("| sampling fraction | journalist average | journalist highest | records at risk (> 20%) | marketer |")
    print("|---:|---:|---:|---:|---:|")
    for f, a in audits.items():
        mr = a["model_risks"]
        j = mr["journalist"]
        print(f"| {f:g} | {j['average_risk']:.4f} | {j['highest_risk']:.4f} | {j['records_at_risk']:.4f} | "
              f"{mr['marketer']['average_risk']:.4f} |")


if __name__ == "__main__":
    main()
