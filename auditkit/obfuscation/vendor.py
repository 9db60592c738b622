"""The vendor's own anonymizer in the loop (issue 13): run it over clear images, check its output.

A vendor does not apply "Gaussian blur sigma 6": it runs a pipeline (a face detector, a blur or
mosaic of its own kind, re-encoding). When the auditor holds the vendor's tool, the attacker
should train on what *that tool* makes of the clear gallery, not on a re-applied estimate.
:func:`run_anonymizer` runs a command template such as
``"deface {input} -o {output} --replacewith mosaic"`` once per image:

* the template is split like a POSIX shell would (:func:`shlex.split`) and the placeholders are
  substituted *inside each argument* (``{input}``, ``{output}``, and ``{s}`` for a strength in
  a sweep); no shell ever runs, so nothing in a file name or a placeholder value can inject a
  command;
* each input is *copied* into a private temporary folder under a neutral name
  (``in/000001.png``: the tool never sees an identity folder or the auditor's file), the tool
  runs with that folder's ``cwd/<n>`` as its working directory, ``TMPDIR`` pointed inside it,
  stdin closed, and a per-image timeout (its whole process group is killed when it expires).
  This keeps the tool away from the evidence and its output in one place; it is not an
  operating-system sandbox (the tool runs with the auditor's permissions);
* every output is checked: exit status 0, a file at ``{output}``, decodable as an image of the
  input's width and height. Images that fail are listed with the reason and left out; the audit
  goes on with the others. Outputs are hashed (SHA-256) and so is the tool's executable.

:meth:`VendorRun.record` is the ``obfuscation.anonymizer`` block of results.json: the template,
the tool's version string (what ``<tool> --version`` printed, if anything), how output was
checked, how many images passed, failed, or came back unchanged (a tool whose detector finds no
face returns the image as it was: that is the vendor's pipeline too, and it is counted).
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..attacks.base import FeatureSet
    from ..config import AuditConfig
    from ..result import Skipped

__all__ = ["DEFAULT_TIMEOUT", "PLACEHOLDERS", "AnonymizerError", "VendorRun", "anonymize_gallery", "check_anonymizer", "fill_template",
           "parse_template",
           "run_anonymizer", "tool_version"]

#: seconds one image may take before the tool is killed and the image listed as failed
DEFAULT_TIMEOUT = 120.0
#: the placeholders a template may use: the input copy, the output path, the strength (sweeps)
PLACEHOLDERS = ("{input}", "{output}", "{s}")
#: a pixel counts as changed by the tool when it differs by more than this (grey levels)
CHANGED_LEVEL = 8


class AnonymizerError(ValueError):
    """A template that cannot be run (empty, no ``{input}``/``{output}``, tool not found)."""


def parse_template(template: str, *, strength: float | None = None) -> list[str]:
    """Split ``template`` into arguments (POSIX shell rules, no shell) and check its placeholders.

    ``{input}`` and ``{output}`` must each appear (inside some argument); ``{s}`` is allowed only
    when a ``strength`` is given (a sweep), and must appear when it is.

    >>> parse_template("tool {input} -o {output}")
    ['tool', '{input}', '-o', '{output}']
    >>> parse_template("tool --in={input} --out={output} -k {s}", strength=3)[-1]
    '{s}'
    """
    if not isinstance(template, str) or not template.strip():
        raise AnonymizerError("--anonymizer is empty; give a command template such as "
                              "\"deface {input} -o {output}\"")
    try:
        argv = shlex.split(template)
    except ValueError as e:
        raise AnonymizerError(f"--anonymizer {template!r} cannot be split into arguments ({e})") from None
    joined = "\n".join(argv)
    for ph in ("{input}", "{output}"):
        if ph not in joined:
            raise AnonymizerError(f"--anonymizer {template!r} has no {ph} placeholder; the tool is run once per "
                                  "image as e.g. \"deface {input} -o {output}\"")
    if "{input}" in argv[0] or "{output}" in argv[0] or "{s}" in argv[0]:
        raise AnonymizerError(f"--anonymizer {template!r}: the first word must be the tool, not a placeholder")
    if strength is None and "{s}" in joined:
        raise AnonymizerError(f"--anonymizer {template!r} has a {{s}} (strength) placeholder, which only a sweep "
                              "fills in (auditkit sweep --anonymizer ... --strengths ...)")
    if strength is not None and "{s}" not in joined:
        raise AnonymizerError(f"--anonymizer {template!r} has no {{s}} placeholder for the swept strength "
                              "(e.g. \"tool {input} {output} --strength {s}\")")
    return argv


def fill_template(argv: Sequence[str], *, input: str, output: str, strength: float | None = None) -> list[str]:
    """The arguments with the placeholders replaced in each (never re-split, never a shell).

    >>> fill_template(["t", "{input}", "--o={output}"], input="a b.png", output="x;rm -rf.png")
    ['t', 'a b.png', '--o=x;rm -rf.png']
    """
    s = "" if strength is None else f"{strength:g}"
    return [a.replace("{input}", input).replace("{output}", output).replace("{s}", s) for a in argv]


def check_anonymizer(template: str, timeout: float = DEFAULT_TIMEOUT, *, strength: float | None = None) -> str:
    """Check a template before any work starts: its placeholders, a positive timeout, and that the
    tool exists; returns the tool's executable path (raises :class:`AnonymizerError`)."""
    argv = parse_template(template, strength=strength)
    if not (isinstance(timeout, int | float) and timeout > 0):
        raise AnonymizerError(f"anonymizer_timeout must be > 0 seconds, got {timeout!r}")
    return _executable(argv[0])


def _executable(argv0: str) -> str:
    found = shutil.which(argv0)
    if found is None:
        raise AnonymizerError(f"--anonymizer: the tool {argv0!r} was not found (not an executable path, "
                              "nor on PATH)")
    return found


def _sha256(path: str | Path) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Run ``cmd`` (no shell) in its own process group; (exit status, or None on timeout; its output)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this call started, and nothing else
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return None, (out or b"").decode("utf-8", "replace")
    return proc.returncode, (out or b"").decode("utf-8", "replace")


def _tail(text: str, n: int = 300) -> str:
    """The last non-empty line of a tool's output (at most ``n`` characters)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return (lines[-1].strip() if lines else "")[-n:]


def tool_version(argv: Sequence[str], *, timeout: float = 15.0) -> str | None:
    """What the tool prints for ``--version`` (first line, at most 200 characters), or None when
    it exits with an error, prints nothing, or does not answer within ``timeout`` seconds.

    The tool is the template's arguments before the first placeholder, so that
    ``python vendor.py {input} {output}`` asks ``python vendor.py --version``."""
    argv = list(argv)
    head = argv[:next((i for i, a in enumerate(argv) if any(p in a for p in PLACEHOLDERS)), len(argv))]
    exe = _executable(head[0])
    with tempfile.TemporaryDirectory(prefix="auditkit-anonymizer-version-") as d:
        try:
            rc, text = _run([exe, *head[1:], "--version"], cwd=Path(d), env={**os.environ, "TMPDIR": d},
                            timeout=timeout)
        except OSError:
            return None
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if rc != 0 or not lines:
        return None
    return lines[0][:200]


@dataclass
class VendorRun:
    """What :func:`run_anonymizer` made: per key, the output file and its SHA-256; the failures."""

    template: str
    argv: list[str]
    executable: str
    executable_sha256: str | None
    version: str | None
    timeout: float
    strength: float | None
    outputs: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (output path, sha256)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)
    unchanged: list[str] = field(default_factory=list)  # keys whose output has the input's pixels
    changed_share: dict[str, float] = field(default_factory=dict)  # key -> share of pixels changed
    files_sha256: dict[str, str | None] = field(default_factory=dict)  # files the template names (a script)
    fit: dict[str, Any] | None = None  # the fixed obfuscation closest to the tool's output (vendor_fit)
    n_inputs: int = 0
    seconds: float = 0.0
    workdir: Path | None = None
    _tmp: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name

    def outputs_sha256(self) -> str:
        """One SHA-256 over every output's hash, in key order: what the tool produced, as a whole."""
        h = hashlib.sha256()
        for k in sorted(self.outputs):
            h.update(self.outputs[k][1].encode() + b"\n")
        return h.hexdigest()

    def record(self) -> dict[str, Any]:
        """The ``anonymizer`` block of results.json (no file names: failures are in ``skipped``)."""
        shares = list(self.changed_share.values())
        return {
            "template": self.template,
            "tool": self.name,
            "version": self.version,
            "version_source": f"the tool's --version: {self.version}" if self.version else
            "the tool's --version printed nothing (or failed)",
            "executable_sha256": self.executable_sha256,
            "files_sha256": self.files_sha256,
            "strength": self.strength,
            "inputs": self.n_inputs,
            "passed": len(self.outputs),
            "failed": len(self.failures),
            "unchanged": len(self.unchanged),
            "changed_pixel_share_median": float(np.median(shares)) if shares else None,
            "outputs_sha256": self.outputs_sha256(),
            "fit": self.fit,
            "check": (f"run once per image on a copy in a private temporary folder (no shell; timeout "
                      f"{self.timeout:g} s); an output counts when the tool exited 0 and wrote a file that "
                      "decodes as an image of the input's width and height; failures are listed in skipped "
                      "(stage 'anonymizer') and left out; outputs whose pixels equal the input's are counted "
                      "as unchanged"),
            "seconds": round(self.seconds, 1),
        }

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _one(n: int, key: str, src: Path, run: VendorRun, root: Path, env: dict[str, str],
         output_suffix: str | None) -> tuple[str, tuple[str, str] | None, str | None, float | None]:
    """Run the tool on one input; (key, (output, sha) or None, failure reason or None, changed share)."""
    from ..data.media import MediaError, load_image

    suffix = src.suffix.lower() or ".png"
    inp = root / "in" / f"{n:06d}{suffix}"
    out = root / "out" / f"{n:06d}{output_suffix or suffix}"
    cwd = root / "cwd" / f"{n:06d}"
    cwd.mkdir(parents=True)
    try:
        shutil.copyfile(src, inp)
        clear = load_image(inp)
    except (OSError, MediaError) as e:
        return key, None, f"input could not be copied or decoded ({getattr(e, 'reason', e)})", None
    cmd = fill_template(run.argv, input=str(inp), output=str(out), strength=run.strength)
    cmd[0] = run.executable
    try:
        rc, text = _run(cmd, cwd=cwd, env=env, timeout=run.timeout)
    except OSError as e:
        return key, None, f"anonymizer could not be started ({e})", None
    if rc is None:
        return key, None, f"anonymizer timed out after {run.timeout:g} s", None
    if rc != 0:
        tail = _tail(text)
        return key, None, f"anonymizer exited with status {rc}" + (f": {tail}" if tail else ""), None
    if not out.is_file():
        return key, None, f"anonymizer exited 0 but wrote no output file {out.name}", None
    try:
        img = load_image(out)
    except MediaError as e:
        return key, None, f"anonymizer output is not a usable image ({e.reason})", None
    if img.shape[:2] != clear.shape[:2]:
        return key, None, (f"anonymizer output is {img.shape[1]}x{img.shape[0]} pixels, the input "
                           f"{clear.shape[1]}x{clear.shape[0]}: not the same image"), None
    diff = np.abs(img.astype(np.int16) - clear.astype(np.int16)).max(axis=2)
    return key, (str(out), _sha256(out) or ""), None, float((diff > CHANGED_LEVEL).mean())


def run_anonymizer(template: str, items: Sequence[tuple[str, str | Path]], *, strength: float | None = None,
                   timeout: float = DEFAULT_TIMEOUT, jobs: int = 1, work_dir: str | Path | None = None,
                   output_suffix: str | None = None, progress: bool = False,
                   label: str = "anonymizer") -> VendorRun:
    """Run the anonymizer ``template`` once per ``(key, image path)`` of ``items``.

    Parameters
    ----------
    template : command with ``{input}`` and ``{output}`` (and ``{s}`` when ``strength`` is given).
    items : the clear images, each with a key the caller uses to find its output (e.g. a gallery id).
    strength : fills ``{s}`` (a sweep point).
    timeout : seconds per image.
    jobs : images run at once (threads waiting on the tool's processes).
    work_dir : the private folder (default: a new temporary folder, removed by :meth:`VendorRun.cleanup`).
    output_suffix : the output's extension (default: the input's).
    progress, label : a progress line on stderr.

    Returns
    -------
    VendorRun; its ``outputs`` stay on disk until :meth:`VendorRun.cleanup`.

    Raises
    ------
    AnonymizerError
        For a template that cannot be run at all (see :func:`parse_template`, tool not found).
    """
    exe = check_anonymizer(template, timeout, strength=strength)
    argv = parse_template(template, strength=strength)
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="auditkit-anonymizer-")
        root = Path(tmp.name)
    else:
        root = Path(work_dir)
        root.mkdir(parents=True, exist_ok=True)
    for sub in ("in", "out", "cwd", "tmp"):
        (root / sub).mkdir(exist_ok=True)
    files = {Path(a).name: _sha256(a) for a in argv[1:] if "{" not in a and Path(a).is_file()}
    run = VendorRun(template=template, argv=argv, executable=exe, executable_sha256=_sha256(exe),
                    version=tool_version(argv, timeout=min(15.0, float(timeout))), timeout=float(timeout),
                    strength=strength, n_inputs=len(items), workdir=root, files_sha256=files, _tmp=tmp)
    env = {**os.environ, "TMPDIR": str(root / "tmp")}
    t0 = time.monotonic()
    from ..progress import Progress

    prog = Progress(label, len(items), enabled=progress, unit="images")
    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
        futs = [pool.submit(_one, n, key, Path(src), run, root, env, output_suffix)
                for n, (key, src) in enumerate(items, start=1)]
        for fut in futs:
            key, got, reason, share = fut.result()
            prog.update()
            if got is None:
                run.failures.append((key, reason or "failed"))
                continue
            run.outputs[key] = got
            run.changed_share[key] = share or 0.0
            if not share:
                run.unchanged.append(key)
    run.seconds = time.monotonic() - t0
    return run


def anonymize_gallery(config: AuditConfig, gallery: FeatureSet, skipped: list[Skipped]) -> VendorRun:
    """The audit's anonymizer stage: ``config.faces.anonymizer`` over every gallery face image
    (one row of ``gallery`` each); images it fails on join ``skipped`` (stage ``anonymizer``)."""
    from ..result import Skipped

    f, r = config.faces, config.run
    items = [(gid, inf["path"]) for gid, inf in zip(gallery.ids, gallery.info)]
    run = run_anonymizer(f.anonymizer, items, timeout=f.anonymizer_timeout, jobs=r.jobs, progress=r.progress,
                         label="anonymizer: gallery")
    skipped.extend(Skipped(key, reason, "anonymizer") for key, reason in run.failures)
    run.fit = fit_run(run, dict(items), seed=r.seed)
    return run


def fit_run(run: VendorRun, clear_paths: dict[str, str | Path], *, seed: int = 0) -> dict[str, Any] | None:
    """:func:`auditkit.obfuscation.vendor_fit.fit_to_outputs` on the tool's (clear, output) pairs."""
    from ..data.media import MediaError, load_image
    from .vendor_fit import MAX_PAIRS, fit_to_outputs

    keys = sorted(k for k in run.outputs if k not in set(run.unchanged))
    rng = np.random.default_rng(seed)
    pairs = []
    for j in rng.permutation(len(keys))[:MAX_PAIRS]:
        k = keys[int(j)]
        try:
            pairs.append((load_image(clear_paths[k]), load_image(run.outputs[k][0])))
        except MediaError:
            continue
    return fit_to_outputs(pairs, seed=seed)
