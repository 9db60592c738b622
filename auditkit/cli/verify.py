"""``auditkit verify OUT``: check an audit's outputs and inputs, re-run it and compare (issue 16).

Exit codes: 0 everything agrees; 1 something differs (each difference on its own line, naming
the file or the figure); 2 usage or input error (not an output folder, an input not found).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..bundle import INPUT_ROLES
from .common import EXIT_FAIL_ON, EXIT_OK

__all__ = ["add_parser", "run"]

_HELP = {"release": "release folder (default: where the audit recorded it)",
         "gallery": "gallery folder", "distractors": "distractors folder", "planted": "planted volunteers' CSV",
         "table": "released table", "aux": "auxiliary table", "control": "control table",
         "population": "population table", "sightings": "sightings table", "whereabouts": "whereabouts table"}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("verify", help="check an audit's output folder against SHA256SUMS and its inputs, re-run the "
                                      "audit and compare the figures (exit 0 agree, 1 differ, 2 usage error)")
    p.add_argument("bundle", type=Path, metavar="OUT", help="an output folder of `auditkit run` or `auditkit demo`")
    inp = p.add_argument_group("where the inputs are now (default: OUT/private/inputs.json, else the recorded paths)")
    for role in INPUT_ROLES:
        inp.add_argument(f"--{role}", type=Path, default=None, help=_HELP[role])
    p.add_argument("--no-rerun", action="store_true",
                   help="check outputs and input hashes only; do not re-run the audit (default: re-run)")
    p.add_argument("--tolerance", type=float, default=None, metavar="X",
                   help="one tolerance for every float figure, |re-run - recorded| <= X + X*|recorded| "
                        "(default: per figure, 1e-6; counts, hashes and levels are always exact)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="feature cache folder (default: $AUDITKIT_CACHE_DIR or the user cache directory)")
    p.add_argument("--no-cache", action="store_true", help="re-extract every feature (default: use the cache)")
    p.add_argument("--jobs", type=int, default=1, help="parallel feature-extraction processes (default: 1)")
    p.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    return p


def run(args: argparse.Namespace) -> int:
    from ..data.inputs import InputError
    from ..verify import Tolerance, verify_bundle

    if args.tolerance is not None and not args.tolerance >= 0:
        raise InputError(f"--tolerance must be >= 0, got {args.tolerance}")
    if args.jobs < 1:
        raise InputError(f"--jobs must be >= 1, got {args.jobs}")
    tol = Tolerance(args.tolerance, args.tolerance) if args.tolerance is not None else None
    rep = verify_bundle(args.bundle, inputs={r: getattr(args, r) for r in INPUT_ROLES}, rerun=not args.no_rerun,
                        cache_dir=args.cache_dir, use_cache=not args.no_cache, jobs=args.jobs,
                        progress=not args.quiet, tolerance=tol)
    print(f"verify: {args.bundle}")
    print(f"  outputs: {rep.n_outputs} files listed in SHA256SUMS")
    print("  inputs: " + (", ".join(f"{k} {n} file(s)" for k, n in rep.n_inputs.items()) or "none") + " hashed again")
    if rep.rerun_seconds is not None:
        print(f"  re-run: {rep.rerun_seconds:.1f} s, {rep.n_figures} recorded values compared")
    elif args.no_rerun:
        print("  re-run: skipped (--no-rerun): the figures were not compared")
    for n in rep.notes:
        print(f"  note: {n}")
    if rep.ok:
        print("verified: outputs, inputs" + (" and figures" if rep.rerun_seconds is not None else "")
              + " agree with results.json")
        return EXIT_OK
    print(f"NOT VERIFIED: {len(rep.differences)} difference(s)")
    for d in rep.differences:
        print(f"  - {d}")
    return EXIT_FAIL_ON
