"""anonymeter's own LinkabilityEvaluator on a release, its targets and a control, as JSON.

Run with a Python that has anonymeter (it pins numpy < 1.27, so not the project's venv), e.g.:
    uv venv /tmp/peers-anonymeter && VIRTUAL_ENV=/tmp/peers-anonymeter uv pip install anonymeter==1.1.0
    /tmp/peers-anonymeter/bin/python benchmarks/peers/anonymeter_linkability.py \\
        --release tests/peer_values/gen_c_release.csv --targets tests/peer_values/gen_c_ori.csv \\
        --control tests/peer_values/gen_c_control.csv --columns "age,income,sex|city,visits,spend" --n-neighbors 1,5
Every target is attacked (n_attacks = number of targets), so the attack and control counts do not
depend on anonymeter's unseeded sampling; the baseline does (it is drawn at random).
"""
from __future__ import annotations

import argparse
import json

import pandas as pd
from anonymeter.evaluators import LinkabilityEvaluator


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", required=True)
    ap.add_argument("--targets", required=True)
    ap.add_argument("--control", default=None)
    ap.add_argument("--columns", required=True, help="'a,b|c,d'")
    ap.add_argument("--n-neighbors", default="1")
    ap.add_argument("--n-attacks", type=int, default=None, help="default: every target")
    args = ap.parse_args(argv)
    read = {"skipinitialspace": True}
    syn, ori = pd.read_csv(args.release, **read), pd.read_csv(args.targets, **read)
    ctl = pd.read_csv(args.control, **read) if args.control else None
    a, b = ([c.strip() for c in part.split(",")] for part in args.columns.split("|"))
    cols = a + b
    syn, ori = syn[cols], ori[cols]
    ctl = ctl[cols] if ctl is not None else None
    n_att = args.n_attacks or len(ori)
    out = {}
    for k in (int(x) for x in args.n_neighbors.split(",")):
        ev = LinkabilityEvaluator(ori=ori, syn=syn, aux_cols=(a, b), n_attacks=n_att, n_neighbors=k,
                                  control=ctl).evaluate(n_jobs=1)
        r = ev.results()
        risk = ev.risk()
        out[str(k)] = {"n_attacks": r.n_attacks_ori, "n_success": r.n_success, "n_control": r.n_control,
                       "n_baseline": r.n_baseline, "risk": risk.value, "risk_ci": list(risk.ci)}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
