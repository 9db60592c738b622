"""ARX's own distinction and separation on the peer-comparison cases (tests/peer_values/cases.json).

Needs Java and ARX compiled from its repository (see README.md here): pass the class path.
    python benchmarks/peers/arx_measures.py --classpath "<arx classes>:<arx jars>" --shared ../shared/datasets
Prints {case: [{"qi": [...], "distinction": d, "separation": s}, ...]} as JSON.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = HERE.parents[1] / "tests" / "peer_values"


def arx_attribute_risks(csv: Path, qi: list[str], classpath: str) -> list[dict]:
    """Compile the driver (once per call, into a temporary folder) and run it on one file."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["javac", "-nowarn", "-cp", classpath, "-d", tmp, str(HERE / "ArxAttributeRisks.java")],
                       check=True)
        res = subprocess.run(["java", "-cp", f"{classpath}:{tmp}", "ArxAttributeRisks", str(csv), ",".join(qi)],
                             check=True, capture_output=True, text=True)
    return json.loads(res.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classpath", required=True, help="ARX's compiled classes and its lib jars")
    ap.add_argument("--shared", type=Path, default=None, help="../shared/datasets (default: generated cases only)")
    args = ap.parse_args(argv)
    out = {}
    for case in json.loads((CASES / "cases.json").read_text())["cases"]:
        f = case["file"]
        path = (args.shared / f[len("shared:"):] if args.shared else None) if f.startswith("shared:") else CASES / f
        if path is None or not path.is_file():
            print(f"skipped {case['name']}: {path} not found", file=sys.stderr)
            continue
        out[case["name"]] = arx_attribute_risks(path, case["qi"], args.classpath)
        print(f"{case['name']}: {len(out[case['name']])} subsets", file=sys.stderr)
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
