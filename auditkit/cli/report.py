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
    rep.add_argument("--force", action="store_true",
                     help="allow --out to be a non-empty folder that is not an auditkit output (default: refuse)")
    return rep


def run(args: argparse.Namespace) -> int:
    """In place (the results file's folder), or into ``--out``, checked and staged like every output."""
    from ..outputs import MARKER, display_path, preflight
    from ..report import load_results, write_outputs

    results = load_results(args.results)
    in_place = args.out is None or Path(args.out).resolve() == args.results.resolve().parent
    stage = None if in_place else preflight(args, args.out)
    try:
        p = write_outputs(results, args.results.parent if in_place else stage.staging)
        if stage is not None:
            stage.commit()  # writes SHA256SUMS
        elif (args.results.parent / MARKER).is_file():  # an output folder re-rendered in place
            from ..bundle import write_checksums

            write_checksums(args.results.parent)
    finally:
        if stage is not None:
            stage.discard()
    print(f"report: {display_path(p['report'])}")
    return EXIT_OK
