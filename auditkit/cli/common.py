"""What every ``auditkit`` subcommand shares: the strict parser, the common options, exit codes,
printing the verdict, and rejecting options a command does not use."""
from __future__ import annotations

import argparse
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._version import __version__
from ..scoring.risk import LEVELS, level_at_least

__all__ = [
    "EXIT_FAIL_ON",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "Parser",
    "add_common",
    "check_unused",
    "finish_audit",
    "mark_unused",
    "now",
    "progress",
    "report_and_exit",
    "signoff_fields",
    "tool",
]

from ..outputs import EXIT_FAIL_ON, EXIT_INPUT, EXIT_INTERNAL, EXIT_OK


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 too; keep its message format
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


def add_common(p: argparse.ArgumentParser) -> None:
    """The options every command takes (a command rejects those it does not use: :func:`mark_unused`)."""
    p.add_argument("--out", type=Path, default=None, help="output folder (default: %(default)s → ./auditkit-out)")
    p.add_argument("--jobs", type=int, default=1, help="parallel feature-extraction processes (default: 1)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where feature extraction runs: local process pool, or a Dask cluster (default: local)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address for --executor dask (default: start a local Dask cluster)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="feature cache folder (default: $AUDITKIT_CACHE_DIR or the user cache directory)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    p.add_argument("--fail-on", choices=LEVELS, default=None,
                   help="exit with status 1 when the overall risk is at or above this level (default: never)")
    p.add_argument("--detector", choices=("hog", "cnn", "centerface"), default="hog",
                   help="face detector for the face attacks: dlib HOG, dlib CNN, or CenterFace (small faces; needs "
                        "the 'centerface' extra) (default: hog)")
    p.add_argument("--upsample", type=int, default=1,
                   help="times images are upsampled before face detection, for small faces (default: 1)")
    p.add_argument("--encoder", choices=("dlib", "fast"), default="fast",
                   help="face encoder: 'fast' (dlib's network in numpy, same encodings to ~1e-6, ~5x "
                        "faster) or 'dlib' (dlib-bin itself) (default: fast)")
    p.add_argument("--show-examples", action="store_true",
                   help="show identity labels and example images in the HTML report (off by default: private)")
    p.add_argument("--reveal-labels", action="store_true",
                   help="put identity labels and absolute paths in every output (default: pseudonyms in random "
                        "order and relative paths; the mapping goes to OUT/private/labels.csv)")
    p.add_argument("--no-redact", action="store_true",
                   help="with --show-examples, show example faces unredacted (default: redacted)")
    p.add_argument("--seed", type=int, default=0, help="random seed for every sampler (default: 0)")
    p.add_argument("--auditor", default=None, help="auditor's name for the report's sign-off (default: a blank to sign)")
    p.add_argument("--organisation", default=None,
                   help="organisation the audit is made by or for, in the sign-off (default: a blank to fill in)")
    p.add_argument("--review-after", default=None, metavar="YYYY-MM-DD",
                   help="date by which the audit is to be reviewed again, in the sign-off (default: a blank)")
    p.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    p.add_argument("--force", action="store_true",
                   help="allow --out to be a non-empty folder that is not an auditkit output (its content is "
                        "replaced by the report; default: refuse)")


def report_and_exit(results: dict, paths: dict[str, Path], fail_on: str | None) -> int:
    """Print the verdict and the files written; the exit code for ``--fail-on``."""
    v = results["verdict"]
    print(f"verdict: {(v['risk'] or 'not scored').upper()} — {v['summary']}")
    from ..outputs import display_path

    for name, p in paths.items():
        if name == "private_labels":
            print(f"  pseudonym -> identity mapping (private, keep it, do not share): {display_path(p)}")
        else:
            print(f"  {name}: {display_path(p)}")
    if fail_on and level_at_least(v["risk"], fail_on):
        return EXIT_FAIL_ON
    return EXIT_OK


def mark_unused(p: argparse.ArgumentParser, unused: dict[str, str]) -> None:
    """Record common options that ``p``'s command does not use (dest -> why): giving one is an error."""
    p.set_defaults(_unused={d: (p.get_default(d), why) for d, why in unused.items()})


def check_unused(args: argparse.Namespace, command: str) -> None:
    """Raise InputError for a common option given to a command that does not use it."""
    from ..data.inputs import InputError

    for dest, (default, why) in sorted(getattr(args, "_unused", {}).items()):
        if getattr(args, dest, default) != default:
            raise InputError(f"--{dest.replace('_', '-')} does not apply to `auditkit {command}`: {why}")


def tool(**extra: Any) -> dict[str, Any]:
    """results.json's ``tool`` entry for a command that runs no face model."""
    return {"name": "auditkit", "version": __version__, "python": platform.python_version(), **extra}


def signoff_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The report's sign-off (``--auditor``, ``--organisation``, ``--review-after``) for commands
    that write their own results (the sweep); InputError for a review date that is not YYYY-MM-DD."""
    from datetime import date

    from ..data.inputs import InputError

    review = getattr(args, "review_after", None)
    if review is not None:
        try:
            review = date.fromisoformat(review).isoformat()
        except ValueError:
            raise InputError(f"--review-after must be a date YYYY-MM-DD, got {review!r}") from None
    return {"auditor": getattr(args, "auditor", None), "organisation": getattr(args, "organisation", None),
            "review_after": review}


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def progress(args: argparse.Namespace, msg: str) -> None:
    if not args.quiet:
        sys.stderr.write(msg + "\n")


def finish_audit(result, out: Path, fail_on: str | None) -> int:
    """Write an audit's outputs, print the verdict and the files; the exit code."""
    from ..report import write_outputs

    d = result.to_dict()  # once (issue 15: a few tenths of a second on a warm re-run)
    return report_and_exit(d, write_outputs(d, out), fail_on)
