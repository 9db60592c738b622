"""``auditkit report results.json``: re-render the outputs without re-running anything."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import EXIT_OK

__all__ = ["add_parser", "run"]


def add_parser(sub) -> argparse.ArgumentParser:
    rep = sub.add_parser("report", help="re-render the HTML report from results.json")
    rep.add_argument("results", type=Path, help="a results.json written by auditkit")
    rep.add_argument("--out", type=Path, default=None, help="output folder (default: the results file's folder)")
    return rep


def run(args: argparse.Namespace) -> int:
    from ..report import load_results, write_outputs

    results = load_results(args.results)
    out = args.out or args.results.parent
    p = write_outputs(results, out)
    print(f"report: {p['report']}")
    return EXIT_OK
