"""Command line: ``auditkit run | demo | report | sweep | evaluate | verify``.

Exit codes: 0 audit done; 1 verdict at or above ``--fail-on``; 2 usage or input error;
3 internal error (one line and a log file with the traceback: :mod:`auditkit.outputs`).
Every ``--out``, ``--cache-dir`` and input path is checked before any work starts, and ``--out``
is written atomically (a staged sibling folder renamed into place).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from .._version import __version__
from . import demo as demo_cmd
from . import evaluate as evaluate_cmd
from . import report as report_cmd
from . import run as run_cmd
from . import sweep as sweep_cmd
from . import verify as verify_cmd
from .common import EXIT_FAIL_ON, EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, Parser, report_and_exit

__all__ = ["COMMANDS", "EXIT_FAIL_ON", "EXIT_INPUT", "EXIT_INTERNAL", "EXIT_OK", "build_parser", "main", "report_and_exit",
           "run_command"]


#: subcommand -> its module (each: ``add_parser(sub)`` and ``run(args) -> exit code``)
COMMANDS = {"run": run_cmd, "demo": demo_cmd, "report": report_cmd, "sweep": sweep_cmd, "evaluate": evaluate_cmd,
            "verify": verify_cmd}

#: default --out per command, checked and staged before any work (``report`` writes in place)
DEFAULT_OUT = {"run": Path("auditkit-out"), "demo": Path("auditkit-demo"), "sweep": Path("auditkit-sweep"),
               "evaluate": Path("auditkit-eval")}


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="auditkit", description="Privacy-risk audit of de-identified releases: plays the "
                "motivated intruder against a release with a reference gallery and reports the risk.")
    ap.add_argument("--version", action="version", version=f"auditkit {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return ap


def run_command(args: argparse.Namespace) -> int | None:
    """Run a command that is not an audit (``sweep``, ``evaluate``); ``None`` for the others."""
    if args.command in ("sweep", "evaluate"):
        return COMMANDS[args.command].run(args)
    return None


def main(argv: list[str] | None = None) -> int:
    from ..data.inputs import InputError
    from ..outputs import internal_error, preflight
    from ..progress import set_enabled

    args = build_parser().parse_args(argv)
    set_enabled(not getattr(args, "quiet", False))  # progress on stderr, never in the outputs
    stage = None
    try:
        if args.command == "report":  # in place, or staged into its own --out (cli.report)
            return COMMANDS["report"].run(args)
        # every --out, --cache-dir and input path is checked before any work; --out is staged
        stage = preflight(args, DEFAULT_OUT.get(args.command))
        if stage is not None:
            args.out = stage.staging
        from ..features.cache import no_user_cache

        with no_user_cache() if getattr(args, "no_cache", False) else contextlib.nullcontext():
            rc = COMMANDS[args.command].run(args)
        if stage is not None:
            stage.commit(rebase=True)  # results name the final folder, not the staging one
        return rc
    except InputError as e:
        print(f"auditkit: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except ValueError as e:
        print(f"auditkit: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("auditkit: interrupted; finished features are cached, re-run to resume", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  exit code 3: an internal error, never mistaken for a finding
        return internal_error(e, getattr(args, "command", None))
    finally:
        if stage is not None:
            stage.discard()


if __name__ == "__main__":
    sys.exit(main())
