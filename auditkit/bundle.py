"""The re-verifiable bundle (issue 16): what an output folder carries so that a second party can
check it against its inputs and re-run it (``auditkit verify``, :mod:`auditkit.verify`).

* ``OUT/SHA256SUMS`` lists the SHA-256 of every file of the shareable set (everything outside
  ``OUT/private/``), in ``sha256sum`` format, so ``cd OUT && sha256sum -c SHA256SUMS`` checks it
  too; ``OUT/private/SHA256SUMS`` does the same for the auditor's private files. Both are written
  by :meth:`auditkit.outputs.StagedOutput.commit` into the staging folder, after everything else,
  so they are renamed into place with the outputs they describe (:func:`write_checksums`).
* ``results.json["reproduce"]`` (:func:`reproduce_section`) completes what results.json already
  records for a re-run (``parameters``, ``seed``, ``inputs`` with every file's SHA-256, ``tool``):
  the release manifest's hash, the obfuscation and anonymizer options with the anonymizer
  program's hash, and the versions of the libraries the figures depend on (in ``tool``).
* ``OUT/private/inputs.json`` (:func:`write_input_paths`) keeps where the inputs were (absolute
  paths, or relative to ``OUT`` when inside it), since the shareable results.json shows them
  relative: the auditor re-verifies with ``auditkit verify OUT``; a second party names the
  inputs (``--release R --gallery G ...``).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import shutil
from pathlib import Path
from typing import Any

__all__ = ["INPUT_ROLES", "PRIVATE_INPUTS", "SUMS", "check_checksums", "environment", "library_versions",
           "read_checksums", "reproduce_section", "write_checksums", "write_input_paths"]

#: checksum file of an output folder (and of its private/ folder)
SUMS = "SHA256SUMS"
#: where the inputs were, for the auditor's own re-run (inside OUT/private/)
PRIVATE_INPUTS = "inputs.json"
_PRIVATE = "private"  # auditkit.report.shareable.PRIVATE_DIR (not imported: this module stays light)
#: the path options that name an audit's inputs (flat config names), in the order they are checked
INPUT_ROLES = ("release", "gallery", "distractors", "planted", "table", "aux", "control", "population",
               "sightings", "whereabouts")
#: libraries whose versions can move a figure (recorded in results.json's ``tool.libraries``)
_LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "pillow", "opencv-python-headless", "opencv-python",
              "dlib-bin", "dlib", "face-recognition-models", "matplotlib", "jinja2")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path, *, skip_private: bool) -> list[str]:
    """Regular files under ``folder`` (POSIX paths relative to it, sorted), without the checksum
    file itself; symbolic links are never followed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        rel_dir = Path(dirpath).relative_to(folder)
        if skip_private and rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d != _PRIVATE]
        for name in filenames:
            rel = (rel_dir / name).as_posix()
            if rel == SUMS or not (Path(dirpath) / name).is_file() or (Path(dirpath) / name).is_symlink():
                continue
            out.append(rel)
    return sorted(out)


def _escape(name: str) -> tuple[str, str]:
    """GNU sha256sum's escaping of a file name holding a backslash or a newline."""
    if "\\" in name or "\n" in name or "\r" in name:
        return "\\", name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "", name


def _unescape(name: str) -> str:
    out, i = [], 0
    while i < len(name):
        if name[i] == "\\" and i + 1 < len(name):
            out.append({"n": "\n", "r": "\r", "\\": "\\"}.get(name[i + 1], name[i + 1]))
            i += 2
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def _write_sums(folder: Path, *, skip_private: bool) -> Path:
    lines = []
    for rel in _files(folder, skip_private=skip_private):
        flag, name = _escape(rel)
        lines.append(f"{flag}{_sha256(folder / rel)}  {name}\n")
    target = folder / SUMS
    tmp = folder / f".{SUMS}.tmp"
    tmp.write_text("".join(lines), encoding="utf-8", newline="\n")
    os.replace(tmp, target)
    return target


def write_checksums(folder: str | Path) -> Path:
    """Write ``folder/SHA256SUMS`` over every file outside ``private/``, and
    ``folder/private/SHA256SUMS`` over the private files when there are any; return the first."""
    folder = Path(folder)
    if (folder / _PRIVATE).is_dir() and not (folder / _PRIVATE).is_symlink():
        _write_sums(folder / _PRIVATE, skip_private=False)
    return _write_sums(folder, skip_private=True)


def read_checksums(path: str | Path) -> dict[str, str]:
    """``relative path -> sha256`` from a ``sha256sum`` file.

    Raises
    ------
    ValueError
        Naming the file and line when a line is not ``<64 hex digits>  <path>``.
    """
    p = Path(path)
    out: dict[str, str] = {}
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        escaped = line.startswith("\\")
        body = line[1:] if escaped else line
        digest, sep, name = body.partition("  ")
        if not sep:
            digest, sep, name = body.partition(" *")  # binary-mode marker
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise ValueError(f"{p} line {n}: not a sha256sum line ('<64 hex digits>  <path>'): {line[:80]!r}")
        out[_unescape(name) if escaped else name] = digest.lower()
    return out


def _check_one(folder: Path, *, skip_private: bool, shown: str) -> tuple[list[str], int]:
    sums = folder / SUMS
    if not sums.is_file():
        return [f"{shown}{SUMS} is missing: the outputs cannot be checked against what was written"], 0
    listed = read_checksums(sums)
    diffs = []
    for rel, digest in sorted(listed.items()):
        p = folder / rel
        if not p.is_file():
            diffs.append(f"output missing: {shown}{rel} (listed in {shown}{SUMS})")
        elif _sha256(p) != digest:
            diffs.append(f"output changed after the audit: {shown}{rel} (sha256 in {shown}{SUMS} {digest[:12]}…, "
                         f"now {_sha256(p)[:12]}…)")
    for rel in _files(folder, skip_private=skip_private):
        if rel not in listed:
            diffs.append(f"output added after the audit: {shown}{rel} (not in {shown}{SUMS})")
    return diffs, len(listed)


def check_checksums(folder: str | Path) -> tuple[list[str], int]:
    """Differences between ``folder`` and its SHA256SUMS files (one line each: missing, changed,
    added file, by path), and the number of files listed. ``private/`` is checked when present
    (a shared bundle leaves it out)."""
    folder = Path(folder)
    diffs, n = _check_one(folder, skip_private=True, shown="")
    priv = folder / _PRIVATE
    if priv.is_dir():
        d2, n2 = _check_one(priv, skip_private=False, shown=f"{_PRIVATE}/")
        diffs += d2
        n += n2
    return diffs, n


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries the figures depend on (absent ones left out)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _anonymizer_program(command: str) -> dict[str, Any] | None:
    """The program an anonymizer command runs, with its SHA-256, when it resolves to a file."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    if not argv:
        return None
    prog = shutil.which(argv[0]) or (argv[0] if os.path.isfile(argv[0]) else None)
    if prog is None:
        return None
    try:
        return {"program": os.path.basename(prog), "sha256": _sha256(Path(prog))}
    except OSError:
        return None


def reproduce_section(parameters: dict[str, Any], manifest: str | None) -> dict[str, Any]:
    """results.json's ``reproduce``: what a re-run needs beyond ``parameters``, ``seed``,
    ``inputs`` and ``tool`` (see the module docstring).

    ``parameters``: results.json's flat parameters; ``manifest``: the release manifest's path.
    Every option naming the obfuscation or an anonymizer is recorded under ``obfuscation``
    (whatever the config holds, so a new option such as ``anonymizer`` is kept with no change
    here), with the anonymizer program's SHA-256 when its command names a program on disk."""
    obf = {k: v for k, v in parameters.items() if k.startswith("obfuscation") or "anonymizer" in k}
    section: dict[str, Any] = {"how": "auditkit verify OUT [--release R --gallery G --table T ...]: re-hashes the "
                                      "inputs, re-runs this audit from `parameters` and compares the figures",
                               "obfuscation": obf}
    programs = {k: _anonymizer_program(v) for k, v in obf.items() if "anonymizer" in k and isinstance(v, str) and v}
    programs = {k: v for k, v in programs.items() if v is not None}
    if programs:
        section["anonymizer_programs"] = programs
    if manifest:
        p = Path(manifest)
        try:
            section["manifest"] = {"path": p.name, "sha256": _sha256(p), "bytes": p.stat().st_size}
        except OSError:
            section["manifest"] = None
    return section


def environment() -> dict[str, Any]:
    """``tool`` additions: platform and library versions."""
    return {"platform": platform.platform(terse=True), "libraries": library_versions()}


def write_input_paths(out: str | Path, parameters: dict[str, Any]) -> Path | None:
    """Write ``out/private/inputs.json``: each input option -> where it was (relative to ``out``
    when inside it, so a moved output folder still finds the demo's data; else absolute)."""
    out = Path(out)
    found = {}
    for role in INPUT_ROLES:
        v = parameters.get(role)
        if not v:
            continue
        p = Path(os.path.abspath(v))
        try:
            found[role] = p.relative_to(os.path.abspath(out)).as_posix()
        except ValueError:
            found[role] = str(p)
    if not found:
        return None
    d = out / _PRIVATE
    d.mkdir(parents=True, exist_ok=True)
    target = d / PRIVATE_INPUTS
    target.write_text(json.dumps({"inputs": found}, indent=2) + "\n", encoding="utf-8")
    return target
