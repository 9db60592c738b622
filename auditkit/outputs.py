"""Output folders and exit codes a CI gate can trust (issue 10).

* :func:`preflight` checks every ``--out``, ``--cache-dir`` and input path **before any work
  starts**: an ``--out`` that is a file, lies under a file, cannot be written, holds the inputs,
  or is a non-empty folder that is not an auditkit output (without ``--force``) is an input
  error (exit code 2) with one line saying what is wrong.
* :class:`StagedOutput` writes ``--out`` atomically: everything goes into a temporary sibling
  folder (``.NAME.auditkit-tmp-XXXX``) that is renamed into place only when the run has
  finished. A killed run leaves the previous report intact (and its temporary folder is
  removed by the next run); a finished one holds no stale file from an earlier run.
* :func:`internal_error` turns an unexpected exception into exit code 3: one line naming what
  failed and where, and the path of a log file holding the traceback.

Exit codes: :data:`EXIT_OK` 0 done, :data:`EXIT_FAIL_ON` 1 risk at or above ``--fail-on``,
:data:`EXIT_INPUT` 2 usage or input error, :data:`EXIT_INTERNAL` 3 internal error.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

__all__ = ["EXIT_FAIL_ON", "EXIT_INPUT", "EXIT_INTERNAL", "EXIT_OK", "MARKER", "StagedOutput", "display_path",
           "internal_error", "is_auditkit_output", "preflight"]

EXIT_OK, EXIT_FAIL_ON, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

#: Written into every finished output folder; a folder holding it may be replaced without --force.
MARKER = ".auditkit-output"
_TMP_TAG = ".auditkit-tmp-"
_OLD_TAG = ".auditkit-old-"
_SCHEMAS = ("auditkit.results/", "auditkit.sweep/")

#: staging folder -> final folder, for printing the paths a user will find
_STAGED: dict[str, str] = {}


def _input_error(msg: str) -> Exception:
    from .data.inputs import InputError

    return InputError(msg)


def is_auditkit_output(folder: Path) -> bool:
    """True when ``folder`` was written by auditkit (its marker, or a results/sweep file of ours)."""
    if (folder / MARKER).is_file():
        return True
    for name in ("results.json", "sweep.json"):
        p = folder / name
        if p.is_file():
            try:
                with open(p, encoding="utf-8") as f:
                    head = f.read(4096)
                if any(f'"schema": "{s}' in head for s in _SCHEMAS):
                    return True
            except (OSError, UnicodeDecodeError):
                pass
    return False


def _first_existing(p: Path) -> tuple[Path, list[Path]]:
    """The nearest existing ancestor of ``p`` (or ``p``), and the missing parts below it."""
    missing: list[Path] = []
    cur = p
    while not os.path.lexists(cur):
        missing.append(cur)
        if cur.parent == cur:
            break
        cur = cur.parent
    return cur, missing


def _check_writable_folder(p: Path, what: str) -> None:
    """``p`` is a folder auditkit can create files in, or can be created: else InputError."""
    p = Path(os.path.abspath(p))
    base, _ = _first_existing(p)
    if base == p and not p.is_dir():
        kind = "a file" if p.is_file() else "not a folder"
        raise _input_error(f"{what} {p} is {kind}; give a folder")
    if not base.is_dir():
        raise _input_error(f"{what} {p} cannot be created: {base} is a file, not a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".auditkit-write-test-", dir=base)
        os.rmdir(probe)
    except OSError as e:
        raise _input_error(f"{what} {p}: cannot write in {base} ({e.strerror or e})") from None


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except (ValueError, OSError, RuntimeError):
        return False


_INPUT_DIRS = ("release", "gallery", "distractors", "faces", "probe")
_INPUT_FILES = ("table", "aux", "control", "population", "sightings", "whereabouts", "planted", "manifest", "results")


def _inputs(args: argparse.Namespace) -> list[tuple[str, Path, str]]:
    out = []
    for name in _INPUT_DIRS:
        v = getattr(args, name, None)
        if isinstance(v, Path):
            out.append((name, v, "folder"))
    for name in _INPUT_FILES:
        v = getattr(args, name, None)
        if isinstance(v, Path):
            out.append((name, v, "file"))
    return out


def preflight(args: argparse.Namespace, default_out: Path | None) -> StagedOutput | None:
    """Check every path of the command line before any work; return the staged ``--out``.

    Raises :class:`~auditkit.data.inputs.InputError` (exit code 2) naming the path and problem.
    """
    from .data.safe_files import file_type_name

    if getattr(args, "command", None) == "run" and args.gallery is not None and args.release is None:
        # a release alone is audited as its own gallery (linkage.sightings); a gallery alone has nothing to attack
        raise _input_error("--gallery needs a --release to audit (a table alone: --table)")
    for name, p, kind in _inputs(args):
        flag = f"--{name.replace('_', '-')}" if name not in ("manifest", "results") else name
        if not os.path.lexists(p):
            if getattr(args, "command", None) == "run":  # other commands check theirs before any work
                raise _input_error(f"{name} folder not found: {p}" if kind == "folder"
                                   else f"--{name} {p}: file not found")
            continue
        try:
            st = os.stat(p)
        except OSError as e:
            raise _input_error(f"{flag} {p}: cannot be read ({e.strerror or e})") from None
        import stat as _st

        if kind == "file" and not _st.S_ISREG(st.st_mode):
            what = "a folder" if _st.S_ISDIR(st.st_mode) else f"a {file_type_name(st.st_mode)}"
            raise _input_error(f"{flag} {p} is {what}, not a regular file; never opened")
        if kind == "folder" and not _st.S_ISDIR(st.st_mode):
            raise _input_error(f"{flag} {p} must be a folder, got a file")
    if not getattr(args, "no_cache", False) and hasattr(args, "cache_dir"):
        from .features.cache import default_cache_dir

        cache = args.cache_dir or default_cache_dir()
        _check_writable_folder(cache, "--cache-dir" if args.cache_dir else "feature cache folder")
    if default_out is None:
        return None
    out = Path(args.out) if getattr(args, "out", None) else default_out
    _check_writable_folder(out, "--out")
    absout = Path(os.path.abspath(out))
    for name, p, _ in _inputs(args):
        if os.path.lexists(p) and (_inside(p, absout) or absout == Path(os.path.abspath(p))):
            raise _input_error(f"--out {out} holds the input --{name} {p}: the finished report replaces the "
                               "whole folder; choose another --out")
    if _inside(Path.cwd(), absout):
        raise _input_error(f"--out {out} is the current folder or holds it: the finished report replaces the "
                           "whole folder; choose a folder of its own")
    if absout.is_dir() and any(absout.iterdir()) and not is_auditkit_output(absout) \
            and not getattr(args, "force", False):
        raise _input_error(f"--out {out} is a non-empty folder that is not an auditkit output; the finished "
                           "report replaces the folder's content: give --force to allow it, or choose another --out")
    return StagedOutput(absout)


class StagedOutput:
    """A temporary sibling of ``final`` that becomes ``final`` in one rename on :meth:`commit`."""

    def __init__(self, final: Path):
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self._clean_stale()
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.final.name}{_TMP_TAG}", dir=self.final.parent))
        _STAGED[str(self.staging)] = str(self.final)
        self.committed = False

    def _clean_stale(self) -> None:
        """Remove temporary folders a killed run left beside ``final`` (older than a minute, so a
        concurrent run's staging folder is left alone)."""
        for tag in (_TMP_TAG, _OLD_TAG):
            for p in self.final.parent.glob(f".{self.final.name}{tag}*"):
                try:
                    if p.is_dir() and not p.is_symlink() and time.time() - p.stat().st_mtime > 60:
                        shutil.rmtree(p, ignore_errors=True)
                except OSError:
                    pass

    def commit(self, *, rebase: bool = False) -> None:
        """Rename the staging folder into place (the previous ``final``, if any, is removed only
        after the new one is there). ``rebase``: rewrite the staging path to the final path in
        the text outputs (the demo builds its data inside the output folder)."""
        (self.staging / MARKER).write_text(json.dumps({"tool": "auditkit"}) + "\n", encoding="utf-8")
        if rebase:
            self._rebase()
        from .bundle import write_checksums

        write_checksums(self.staging)  # last: SHA256SUMS covers every output, renamed into place with them
        old = None
        if os.path.lexists(self.final):
            old = Path(tempfile.mkdtemp(prefix=f".{self.final.name}{_OLD_TAG}", dir=self.final.parent))
            os.rmdir(old)
            os.replace(self.final, old)
        os.replace(self.staging, self.final)
        self.committed = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        if not self.committed:
            shutil.rmtree(self.staging, ignore_errors=True)
        _STAGED.pop(str(self.staging), None)

    def _rebase(self) -> None:
        src, dst = str(self.staging), str(self.final)
        pairs = [(json.dumps(src)[1:-1], json.dumps(dst)[1:-1]), (html.escape(src), html.escape(dst)), (src, dst)]
        for p in self.staging.rglob("*"):
            if p.suffix not in (".json", ".csv", ".html") or not p.is_file():
                continue
            text = p.read_text(encoding="utf-8")
            new = text
            for a, b in pairs:
                new = new.replace(a, b)
            if new != text:
                p.write_text(new, encoding="utf-8")


def display_path(p: str | Path) -> str:
    """Where the user will find ``p`` once its output folder is committed."""
    s = str(p)
    for st, fin in _STAGED.items():
        if s == st or s.startswith(st + os.sep):
            return fin + s[len(st):]
    return s


def internal_error(exc: BaseException, command: str | None) -> int:
    """Log the traceback to a file; print one line naming what failed and where; return 3."""
    tb = traceback.extract_tb(exc.__traceback__)
    own = [f for f in tb if f"{os.sep}auditkit{os.sep}" in f.filename] or tb
    where = f"{Path(own[-1].filename).name}:{own[-1].lineno} in {own[-1].name}" if own else "unknown place"
    fd, log = tempfile.mkstemp(prefix="auditkit-error-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
        f.write(f"auditkit {command or ''}: internal error\nargv: {sys.argv!r}\n\n")
        f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    msg = str(exc).splitlines()[0] if str(exc) else ""
    print(f"auditkit: internal error ({type(exc).__name__}: {msg}) in {where}; traceback in {log}",
          file=sys.stderr)
    return EXIT_INTERNAL
