"""pycanon's own figures on the peer-comparison cases (tests/peer_values/cases.json), as JSON.

Run with a Python that has pycanon (it pins pandas 2.3.3, so not the project's venv), e.g.:
    uv venv /tmp/peers-pycanon && VIRTUAL_ENV=/tmp/peers-pycanon uv pip install pycanon==1.3.6
    /tmp/peers-pycanon/bin/python benchmarks/peers/pycanon_measures.py --shared ../shared/datasets
Cases whose file is missing are left out. Prints {case: {sensitive: {measure: value}}}.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd
from pycanon import anonymity

HERE = Path(__file__).resolve().parents[2] / "tests" / "peer_values"


def _path(file: str, shared: Path | None) -> Path | None:
    if file.startswith("shared:"):
        return None if shared is None else shared / file[len("shared:"):]
    return HERE / file


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=None, help="../shared/datasets (default: none, generated only)")
    ap.add_argument("--only", default=None, help="comma-separated case names")
    args = ap.parse_args(argv)
    cases = json.loads((HERE / "cases.json").read_text())["cases"]
    only = set(args.only.split(",")) if args.only else None
    out = {}
    for case in cases:
        if case.get("arx_only") or (only and case["name"] not in only):
            continue
        path = _path(case["file"], args.shared)
        if path is None or not path.is_file():
            print(f"skipped {case['name']}: {path} not found", file=sys.stderr)
            continue
        df = pd.read_csv(path, skipinitialspace=True)
        qi = case["qi"]
        res = {}
        for s in case["sensitive"]:
            c, l_div = anonymity.recursive_c_l_diversity(df, qi, [s])
            alpha, k = anonymity.alpha_k_anonymity(df, qi, [s])
            res[s] = {"recursive_cl_c": None if c is None or (isinstance(c, float) and math.isnan(c)) else int(c),
                      "recursive_cl_l": int(l_div), "alpha": float(alpha), "k": int(k),
                      "basic_beta": float(anonymity.basic_beta_likeness(df, qi, [s])),
                      "enhanced_beta": float(anonymity.enhanced_beta_likeness(df, qi, [s])),
                      "delta": float(anonymity.delta_disclosure(df, qi, [s]))}
            print(f"{case['name']} {s}: {res[s]}", file=sys.stderr)
        out[case["name"]] = res
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
