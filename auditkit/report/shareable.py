"""Private by default in every shareable output (issue 10).

``results.json``, ``matches.csv``, ``skipped.csv`` and ``report.html`` are meant to be shared.
:func:`shareable` turns a results dictionary into what may be shared:

* every identity label (gallery folder names, subjects, candidates, table identities) becomes
  a pseudonym ("person 07"), wherever it appears: as a value, as a path component
  (``gallery/<label>/x.png``) or inside a file name (``alice_3.png``);
* pseudonyms are numbered in a **random order** drawn from a key that depends on the audit's
  seed and on the *content* of the audited files (never written to an output), so the same
  inputs give the same pseudonyms while the gallery's folder listing alone cannot reverse
  them (sorted order could be);
* absolute paths become relative (each input folder by its own name, other absolute paths by
  their last component), so the auditor's directory layout and user name are not shared.

The pseudonym -> identity mapping goes to ``OUT/private/labels.csv``, a separate file the
auditor keeps (:data:`PRIVATE_DIR` is excluded from the shareable set). With
``--reveal-labels`` (or ``--show-examples``, which shows labels and faces on purpose) the
outputs keep the names and paths.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PRIVATE_DIR", "collect_labels", "pseudonym_map", "read_private", "reveal_requested", "shareable",
           "write_private"]

PRIVATE_DIR = "private"
_SKIP_KEYS = frozenset({"schema", "created", "tool", "metrics", "cmc", "seed", "sha256", "weights_sha256",
                        "criterion", "cue", "risk", "privacy", "random_state"})
_ALNUM = "A-Za-z0-9"
_MAX_SUBSTRING_LABELS = 5000  # above this, labels are replaced where they are whole values only


def reveal_requested(results: dict[str, Any]) -> bool:
    """True when the outputs may carry names and paths (``--reveal-labels`` or ``--show-examples``)."""
    opts = results.get("options") or {}
    return bool(opts.get("reveal_labels") or opts.get("show_examples"))


def collect_labels(results: dict[str, Any]) -> list[str]:
    """Every identity label the results hold (sorted)."""
    from .privacy import all_labels

    if (results.get("evaluation") or {}).get("kind") == "reid":  # files are not in <identity>/ folders
        results = {**results, "inputs": {}}
    labs = set(all_labels(results))
    for a in results.get("attacks") or []:
        for row in (a.get("details") or {}).get("matches") or []:
            for key in ("truth", "candidate"):
                if isinstance(row.get(key), str):
                    labs.add(row[key])
    return sorted(x for x in labs if isinstance(x, str) and x)


def _key_material(results: dict[str, Any], n_files: int = 3) -> bytes:
    """Secret-ish key: the seed and the bytes of up to ``n_files`` audited files (never written
    out; their SHA-256 are public, their content is not). Random when none can be read."""
    h = hashlib.sha256(b"auditkit pseudonym key\0" + str(results.get("seed", 0)).encode())
    got = 0
    inputs = results.get("inputs") or {}
    for side in ("gallery", "release"):
        sec = inputs.get(side) or {}
        root = sec.get("path")
        for f in (sec.get("files") or [])[:n_files]:
            if not root:
                break
            p = os.path.join(root, f["path"])
            try:
                with open(p, "rb") as fh:  # regular files only were hashed
                    h.update(fh.read(1 << 20))
                got += 1
            except OSError:
                continue
    for t in ((inputs.get("tables") or {}).values()):
        try:
            with open(t["path"], "rb") as fh:
                h.update(fh.read(1 << 20))
            got += 1
        except (OSError, KeyError, TypeError):
            continue
    if not got:
        h.update(os.urandom(32))
    return h.digest()


def pseudonym_map(labels: Iterable[str], key: bytes) -> dict[str, str]:
    """``label -> "person NN"`` with the numbers in a random order drawn from ``key``."""
    labels = sorted(set(labels))
    width = max(2, len(str(len(labels))))
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:16], "big"))
    order = rng.permutation(len(labels))
    return {lab: f"person {int(order[i]) + 1:0{width}d}" for i, lab in enumerate(labels)}


def _roots(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(absolute folder, the name it is shown as), longest first."""
    out: dict[str, str] = {}

    from ..outputs import display_path

    def add(p: Any, name: str | None = None) -> None:
        if isinstance(p, str) and os.path.isabs(p) and len(p) > 1:
            p = p.rstrip("/")
            # a staged --out is named as the folder it becomes (auditkit.outputs)
            out.setdefault(p, name or os.path.basename(display_path(p)) or p)

    inputs = results.get("inputs") or {}
    for side in ("release", "gallery"):
        add((inputs.get(side) or {}).get("path"), side)
    params = results.get("parameters") or {}
    for k in ("release", "gallery", "out", "table", "aux", "control", "population", "sightings", "whereabouts",
              "manifest", "probe"):
        v = params.get(k)
        if isinstance(v, str) and os.path.isabs(v):
            add(v if os.path.isdir(v) or k in ("release", "gallery", "out", "probe") else os.path.dirname(v))
    add(str(Path.cwd()), ".")
    add(str(Path.home()), "~")
    return sorted(out.items(), key=lambda kv: -len(kv[0]))


_ABS = re.compile(r"(?:(?<=[\s('\"=:,])|^)/(?:[^\s/'\"(),;]+/)+(?=[^\s/'\"(),;]*)")


class _Rewriter:
    def __init__(self, mapping: dict[str, str], roots: list[tuple[str, str]]):
        self.mapping = mapping
        self.roots = roots
        subs = [lab for lab in mapping if lab]
        self.rx = None
        if subs and len(subs) <= _MAX_SUBSTRING_LABELS:
            alts = "|".join(re.escape(x) for x in sorted(subs, key=len, reverse=True))
            self.rx = re.compile(rf"(?<![{_ALNUM}])({alts})(?![{_ALNUM}])")

    def text(self, s: str) -> str:
        if s in self.mapping:
            return self.mapping[s]
        for root, name in self.roots:
            if root in s:
                s = s.replace(root + "/", "" if name == "." else name + "/").replace(root, name)
        if "/" in s:
            s = _ABS.sub("", s)
        if self.rx is not None:
            s = self.rx.sub(lambda m: self.mapping[m.group(1)], s)
        return s

    def walk(self, x: Any, key: str | None = None) -> Any:
        if key in _SKIP_KEYS:
            return x
        if isinstance(x, dict):
            return {k: self.walk(v, k) for k, v in x.items()}
        if isinstance(x, list):
            return [self.walk(v, key) for v in x]
        if isinstance(x, str):
            return self.text(x)
        return x


def shareable(results: dict[str, Any], *, mapping: dict[str, str] | None = None
              ) -> tuple[dict[str, Any], dict[str, str]]:
    """The results as they may be shared, and the pseudonym mapping (``{}`` when revealed).

    Returns the input unchanged (and ``{}``) when :func:`reveal_requested`. ``mapping``
    (label -> pseudonym): use it instead of drawing one, e.g. an earlier run's
    ``private/labels.csv`` when ``auditkit verify`` re-runs the audit.
    """
    if reveal_requested(results) or (results.get("privacy") or {}).get("pseudonymised"):
        return results, {}
    if mapping is None:
        mapping = pseudonym_map(collect_labels(results), _key_material(results))
    rw = _Rewriter(mapping, _roots(results))
    out = rw.walk(results)
    out["privacy"] = {"pseudonymised": True, "paths": "relative",
                      "labels_file": f"{PRIVATE_DIR}/labels.csv",
                      "note": ("Identity labels are pseudonyms numbered in a random order; the mapping is in "
                               f"{PRIVATE_DIR}/labels.csv, kept by the auditor and not shared. Absolute paths are "
                               "shown relative to their input folder.")}
    return out, mapping


def read_private(out: Path) -> dict[str, str] | None:
    """The label -> pseudonym mapping :func:`write_private` wrote in ``out``, or None without one.

    Raises
    ------
    ValueError
        Naming the file when it is not a (pseudonym, identity) CSV.
    """
    p = Path(out) / PRIVATE_DIR / "labels.csv"
    if not p.is_file():
        return None
    with open(p, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"pseudonym", "identity"} <= set(rows[0]):
        raise ValueError(f"{p}: expected columns pseudonym, identity")
    out_map = {}
    for row in rows:
        lab = row["identity"]
        if lab.startswith("'") and re.match(r"^[=+\-@\t\r]", lab[1:]):
            lab = lab[1:]  # written with a leading quote against spreadsheet formulas
        out_map[lab] = row["pseudonym"]
    return out_map


def write_private(out: Path, mapping: dict[str, str]) -> Path | None:
    """Write ``out/private/labels.csv`` (pseudonym, identity) and a README saying what it is."""
    if not mapping:
        return None
    d = Path(out) / PRIVATE_DIR
    d.mkdir(parents=True, exist_ok=True)
    p = d / "labels.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["pseudonym", "identity"])
        for lab, ps in sorted(mapping.items(), key=lambda kv: kv[1]):
            w.writerow([ps, ("'" + lab) if re.match(r"^[=+\-@\t\r]", lab) else lab])
    (d / "README.txt").write_text(
        "PRIVATE - keep, do not share.\nlabels.csv maps the pseudonyms used in results.json, matches.csv, "
        "skipped.csv and report.html back to identity labels. Everything outside this folder is the "
        "shareable set.\n", encoding="utf-8")
    return p
