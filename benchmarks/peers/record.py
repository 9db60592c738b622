"""Write tests/peer_values/recorded.json from the peers' JSON outputs (see README.md here).

    python benchmarks/peers/record.py --pycanon pycanon.json --arx arx.json \\
        --anonymeter gen_c=anon_gen.json --anonymeter adult_k10=anon_adult.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "tests" / "peer_values" / "recorded.json"

COMMANDS = {
    "pycanon": "/tmp/peers-pycanon/bin/python benchmarks/peers/pycanon_measures.py --shared ../shared/datasets "
               "(pycanon 1.3.6, pandas 2.3.3)",
    "arx": "python benchmarks/peers/arx_measures.py --classpath <ARX classes and jars> --shared ../shared/datasets "
           "(ARX built from github.com/arx-deidentifier/arx at aacd487fb, OpenJDK 17)",
    "anonymeter": "/tmp/peers-anonymeter/bin/python benchmarks/peers/anonymeter_linkability.py --release R --targets T "
                  "--control C --columns COLS --n-neighbors 1,5 (anonymeter 1.1.0; every target attacked on gen_c; "
                  "on adult_k10: 500 targets drawn by anonymeter, control = adults_control.csv less the records "
                  "found in the raw table, --n-neighbors 1,10)",
}
COLUMNS = {"gen_c": "age,income,sex|city,visits,spend",
           "adult_k10": "age,education,occupation|relationship,sex,native-country"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pycanon", type=Path, required=True)
    ap.add_argument("--arx", type=Path, required=True)
    ap.add_argument("--anonymeter", action="append", default=[], help="name=file.json")
    args = ap.parse_args(argv)
    anon = {}
    for spec in args.anonymeter:
        name, _, path = spec.partition("=")
        anon[name] = json.loads(Path(path).read_text())
    rec = {"pycanon": {"command": COMMANDS["pycanon"], "values": json.loads(args.pycanon.read_text())},
           "arx": {"command": COMMANDS["arx"], "values": json.loads(args.arx.read_text())},
           "anonymeter": {"command": COMMANDS["anonymeter"], "columns": COLUMNS, "values": anon}}
    OUT.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
