"""auditkit's figures beside the peers' recorded ones (tests/peer_values/recorded.json), as a
markdown table: measure, case, auditkit, peer, |difference|.

    .venv/bin/python benchmarks/peers/compare.py --shared ../shared/datasets
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from auditkit.attacks.linkability import split_linkability
from auditkit.tables import load_table
from auditkit.tables.peer_measures import (
    alpha_k_anonymity,
    beta_likeness,
    delta_disclosure,
    qi_distinction_separation,
    recursive_cl_diversity,
)

PEERS = ROOT / "tests" / "peer_values"


def _read(f: str, shared: Path | None) -> pd.DataFrame | None:
    if f.startswith("shared:"):
        p = shared / f[7:] if shared else None
        return pd.read_csv(p, skipinitialspace=True) if p and p.is_file() else None
    return pd.read_csv(PEERS / f)


def _fmt(x) -> str:
    return "None" if x is None else (f"{x}" if isinstance(x, int) else f"{x:.12g}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=None)
    args = ap.parse_args(argv)
    rec = json.loads((PEERS / "recorded.json").read_text())
    cases = json.loads((PEERS / "cases.json").read_text())["cases"]
    rows = []
    for case in cases:
        df = _read(case["file"], args.shared)
        if df is None:
            continue
        qi = case["qi"]
        for s, peer in (rec["pycanon"]["values"].get(case["name"]) or {}).items():
            cl, ak = recursive_cl_diversity(df, qi, s), alpha_k_anonymity(df, qi, s)
            b, d = beta_likeness(df, qi, s), delta_disclosure(df, qi, s)
            ours = {"recursive_cl_c": cl["c_pycanon"], "recursive_cl_l": cl["l"], "alpha": ak["alpha"], "k": ak["k"],
                    "basic_beta": b["basic"], "enhanced_beta": b["enhanced"], "delta": d["delta"]}
            for key, v in peer.items():
                diff = "" if v is None or ours[key] is None else f"{abs(ours[key] - v):.1e}"
                rows.append((f"pycanon {key}", f"{case['name']} / {s}", _fmt(ours[key]), _fmt(v), diff))
            rows.append(("(paper) recursive (c,l) c", f"{case['name']} / {s}", _fmt(cl["c"]), "-", ""))
        arx = rec["arx"]["values"].get(case["name"])
        if arx:
            mine = {frozenset(r["qi"]): r for r in qi_distinction_separation(df, qi)}
            worst_d = max(abs(mine[frozenset(r["qi"])]["distinction"] - r["distinction"]) for r in arx)
            worst_s = max(abs(mine[frozenset(r["qi"])]["separation"] - r["separation"]) for r in arx)
            full = next(r for r in arx if len(r["qi"]) == len(qi))
            mf = mine[frozenset(qi)]
            rows.append(("ARX distinction (all QIs)", case["name"], _fmt(mf["distinction"]), _fmt(full["distinction"]),
                         f"{worst_d:.1e} (max over {len(arx)} subsets)"))
            rows.append(("ARX separation (all QIs)", case["name"], _fmt(mf["separation"]), _fmt(full["separation"]),
                         f"{worst_s:.1e} (max over {len(arx)} subsets)"))
    an = rec["anonymeter"]
    if "gen_c" in an["values"]:
        kinds = load_table(PEERS / "gen_c_release.csv").kinds()
        rel, ori, ctl = (pd.read_csv(PEERS / f"gen_c_{x}.csv") for x in ("release", "ori", "control"))
        for k, peer in an["values"]["gen_c"].items():
            r = split_linkability(rel, ori, an["columns"]["gen_c"], kinds, n_neighbors=int(k), n_attacks=None, control=ctl)
            ar = r.details["anonymeter_risk"]
            rows.append((f"anonymeter links / control links (n_neighbors={k})", "gen_c",
                         f"{r.details['links']} / {r.details['control_links']}", f"{peer['n_success']} / {peer['n_control']}", ""))
            rows.append((f"anonymeter risk [CI] (n_neighbors={k})", "gen_c",
                         f"{ar['value']:.6f} [{ar['ci'][0]:.6f}, {ar['ci'][1]:.6f}]",
                         f"{peer['risk']:.6f} [{peer['risk_ci'][0]:.6f}, {peer['risk_ci'][1]:.6f}]",
                         f"{abs(ar['value'] - peer['risk']):.1e}"))
            rows.append((f"auditkit residual risk [Bonferroni CI] (n_neighbors={k})", "gen_c",
                         f"{r.metrics['advantage']:.6f} [{r.metrics['advantage_ci'][0]:.6f}, "
                         f"{r.metrics['advantage_ci'][1]:.6f}]", "-", ""))
    if "adult_k10" in an["values"] and args.shared and (args.shared / "uci_adult").is_dir():
        root = args.shared / "uci_adult"
        raw = load_table(root / "pycanon" / "raw" / "adult.csv")
        rel = load_table(root / "pycanon" / "processed" / "adult_anonymized_10.csv")
        rawstr = pd.read_csv(root / "pycanon" / "raw" / "adult.csv", skipinitialspace=True, dtype=str)
        ctl = pd.read_csv(root / "anonymeter" / "adults_control.csv", skipinitialspace=True, dtype=str)
        ctl.columns = list(rawstr.columns)
        seen = set(map(tuple, rawstr.to_numpy()))
        ctl = ctl[[tuple(r) not in seen for r in ctl.to_numpy()]].reset_index(drop=True)
        ctl["age"] = pd.to_numeric(ctl["age"])
        for k, peer in an["values"]["adult_k10"].items():
            r = split_linkability(rel.df, raw.df, an["columns"]["adult_k10"], rel.kinds(), n_neighbors=int(k),
                                  n_attacks=500, control=ctl)
            ar, m = r.details["anonymeter_risk"], r.metrics
            rows.append((f"links / control links of 500 (n_neighbors={k}; ties broken differently)", "adult_k10",
                         f"{r.details['links']} / {r.details['control_links']}",
                         f"{peer['n_success']} / {peer['n_control']}", ""))
            rows.append((f"anonymeter-form risk [CI] (n_neighbors={k})", "adult_k10",
                         f"{ar['value']:.4f} [{ar['ci'][0]:.4f}, {ar['ci'][1]:.4f}]",
                         f"{peer['risk']:.4f} [{peer['risk_ci'][0]:.4f}, {peer['risk_ci'][1]:.4f}]", ""))
            rows.append((f"auditkit residual risk [Bonferroni CI] (n_neighbors={k})", "adult_k10",
                         f"{m['advantage']:.4f} [{m['advantage_ci'][0]:.4f}, {m['advantage_ci'][1]:.4f}]", "-", ""))
    print("| measure | file | auditkit | peer | difference |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
