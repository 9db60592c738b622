"""Command line: ``auditkit sweep`` and ``auditkit evaluate reid | gait``.

:func:`add_parsers` adds the two commands to ``auditkit``'s argparse sub-parsers and
:func:`run_command` runs them (returning the exit code, or ``None`` for other commands).
Bad input raises :class:`~auditkit.data.inputs.InputError` or ``ValueError``, which
``auditkit.cli.main`` turns into exit code 2 with the message.

- ``sweep`` runs :func:`auditkit.sweep.run_sweep` on a folder of clear calibration images and
  writes ``sweep.json`` (schema ``auditkit.sweep/1`` plus the hashed inputs) and a
  self-contained ``report.html`` (the privacy curve and the sweep table).
- ``evaluate reid MANIFEST`` and ``evaluate gait --gallery DIR --probe DIR`` run the standard
  protocols of :mod:`auditkit.evaluate` and write results.json / matches.csv / skipped.csv /
  report.html like ``run`` (schema ``auditkit.results/1``), with an extra ``evaluation`` key
  holding the protocol and the per-split spread.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._version import __version__

__all__ = ["add_parsers", "clip_silhouettes", "evaluation_results", "parse_strengths", "render_sweep_html",
           "run_command", "sweep_outputs"]

EXIT_OK = 0
_VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv")

# options added by cli._add_common that a command does not use: giving them is an error, not
# silently ignored (dest -> why)
_SWEEP_UNUSED = {
    "executor": "the sweep extracts features in local processes (--jobs)",
    "scheduler": "the sweep extracts features in local processes (--jobs)",
    "fail_on": "a sweep has no verdict; it reports the strength needed",
    "detector": "the sweep uses the default HOG face detector",
    "upsample": "the sweep uses the default face detection settings",
    "show_examples": "the sweep report shows no image or identity label",
    "no_redact": "the sweep report shows no image",
}
_EVAL_UNUSED = {
    "jobs": "the evaluation runs in one process",
    "executor": "the evaluation runs in one process",
    "scheduler": "the evaluation runs in one process",
    "cache_dir": "body-cue descriptors are not cached",
    "no_cache": "body-cue descriptors are not cached",
    "detector": "no face detector is used",
    "upsample": "no face detector is used",
    "encoder": "no face encoder is used",
}


# ------------------------------------------------------------------------------- parsers

def _mark_unused(p: argparse.ArgumentParser, unused: dict[str, str]) -> None:
    p.set_defaults(_unused={d: (p.get_default(d), why) for d, why in unused.items()})


def add_parsers(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``sweep`` and ``evaluate`` (``reid``, ``gait``) to ``auditkit``'s sub-parsers.

    Parameters
    ----------
    sub : the ``argparse`` sub-parsers action of the ``auditkit`` parser.
    add_common : adds the options every command shares (``auditkit.cli._add_common``).
    """
    sw = sub.add_parser("sweep", help="how strong must an obfuscation be? (privacy curve)",
                        description="Obfuscate held-out clear images at increasing strengths, run the "
                        "attacker ladder at each, and report the smallest strength at which every "
                        "attack is indistinguishable from chance.")
    sw.add_argument("--gallery", type=Path, required=True,
                    help="clear calibration images: <identity>/<images> (at least --calibration + 1 per identity)")
    sw.add_argument("--families", default="blur,pixelate",
                    help="comma-separated obfuscation families: blur, pixelate, box, noise, mask "
                         "(default: %(default)s)")
    sw.add_argument("--strengths", default=None,
                    help="strengths per family, e.g. 'blur=2,4,8;pixelate=4,8' (or '2,4,8' with one family); "
                         "default: blur 2,4,6,8,12; pixelate 4,8,12,16; box 5,9,15,21; noise 10,25,50,100; mask 0")
    sw.add_argument("--attacks", default=None,
                    help="comma-separated attacks (default: the whole ladder of face attacks)")
    sw.add_argument("--calibration", type=int, default=5,
                    help="clear images per identity kept as the attacker's gallery; the others are "
                         "obfuscated and attacked (default: %(default)s)")
    sw.add_argument("--scope", choices=("face", "frame"), default="frame",
                    help="obfuscate the whole image (frame) or only the detected face box (face) "
                         "(default: %(default)s)")
    sw.add_argument("--title", default=None, help="report title")
    add_common(sw)
    _mark_unused(sw, _SWEEP_UNUSED)

    ev = sub.add_parser("evaluate", help="standard-protocol evaluation of a body-cue attack",
                        description="How strong is the attacker? Standard protocols on clear benchmark data.")
    evsub = ev.add_subparsers(dest="protocol", required=True, parser_class=type(ev), metavar="{reid,gait}")
    reid = evsub.add_parser("reid", help="two-camera person re-identification (VIPeR protocol)",
                            description="Random half-identity splits: the metric is learned on one half, "
                            "tested on the other (one camera probe, the other gallery); CMC and mAP with "
                            "their spread over the repeats.")
    reid.add_argument("manifest", type=Path,
                      help="CSV with columns path (relative to the CSV's folder), subject, camera; two cameras")
    reid.add_argument("--repeats", type=int, default=10, help="random splits (default: %(default)s)")
    reid.add_argument("--probe-camera", default=None,
                      help="camera used as probe (default: the first camera name in sorted order)")
    reid.add_argument("--max-subjects", type=int, default=None,
                      help="use a random subset of this many subjects (reduced protocol; default: all)")
    reid.add_argument("--title", default=None, help="report title")
    add_common(reid)
    _mark_unused(reid, _EVAL_UNUSED)

    gait = evsub.add_parser("gait", help="gait recognition, gallery vs probe (USF HumanID protocol)",
                            description="Gait energy images, PCA + LDA fitted on the gallery only; "
                            "closed-set rank-k for probes of gallery subjects, open-set figures for others.")
    gait.add_argument("--gallery", type=Path, required=True,
                      help="gallery sequences: <subject>/<sequence>/<frame>.png, <subject>/<clip>.mp4 "
                           "or USF strips <subject>/<strip>.png")
    gait.add_argument("--probe", type=Path, required=True, help="probe sequences, same layouts")
    gait.add_argument("--pca-variance", type=float, default=0.95,
                      help="share of GEI variance kept by PCA before LDA (default: %(default)s)")
    gait.add_argument("--frame-width", type=int, default=22,
                      help="width of one frame inside a strip image (USF: 22; default: %(default)s)")
    gait.add_argument("--title", default=None, help="report title")
    add_common(gait)
    _mark_unused(gait, _EVAL_UNUSED)


def _check_unused(args: argparse.Namespace, command: str) -> None:
    from ..data.inputs import InputError

    for dest, (default, why) in sorted(getattr(args, "_unused", {}).items()):
        if getattr(args, dest, default) != default:
            raise InputError(f"--{dest.replace('_', '-')} does not apply to `auditkit {command}`: {why}")


def run_command(args: argparse.Namespace) -> int | None:
    """Run ``sweep`` or ``evaluate``; return the exit code, or ``None`` for any other command.

    Raises
    ------
    InputError, ValueError
        Bad options or inputs (``auditkit.cli.main`` prints the message and exits with 2).
    """
    if args.command == "sweep":
        _check_unused(args, "sweep")
        return _run_sweep(args)
    if args.command == "evaluate":
        _check_unused(args, f"evaluate {args.protocol}")
        if args.protocol == "reid":
            return _run_reid(args)
        return _run_gait(args)
    return None


# ------------------------------------------------------------------------------- shared helpers

def _tool(**extra: Any) -> dict[str, Any]:
    return {"name": "auditkit", "version": __version__, "python": platform.python_version(), **extra}


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _listing(root: Path, files: list[tuple[str, Path]], skipped: list[Any] | None = None) -> dict[str, Any]:
    """Chain-of-custody section: every file's SHA-256 and size, and one hash of the listing.

    ``files`` are (path as recorded, file on disk); unreadable files go to ``skipped``.
    """
    from ..data.inputs import custody_section
    from ..data.media import sha256_file
    from ..result import Skipped

    listing = []
    seen: set[str] = set()
    for rel, p in files:
        if rel in seen:
            continue
        seen.add(rel)
        try:
            listing.append({"path": rel, "sha256": sha256_file(p), "bytes": p.stat().st_size})
        except OSError as e:
            if skipped is not None:
                skipped.append(Skipped(rel, f"cannot read file for hashing ({e.strerror or e})", "hash"))
    return custody_section(root, listing)


def _tree_files(root: Path) -> list[tuple[str, Path]]:
    """Every regular file under ``root`` (hidden ones included: custody covers all of it)."""
    return [(p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*")) if p.is_file()]


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from ..report import adv_ci, ci, num, pct, template_dir

    env = Environment(loader=FileSystemLoader(str(template_dir())),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, num=num, ci=ci, adv_ci=adv_ci)
    return env


def _progress(args: argparse.Namespace, msg: str) -> None:
    if not args.quiet:
        sys.stderr.write(msg + "\n")


# ------------------------------------------------------------------------------- sweep

def parse_strengths(text: str | None, families: list[str]) -> dict[str, list[float]] | None:
    """``'blur=2,4,8;pixelate=4,8'`` -> ``{'blur': [2, 4, 8], 'pixelate': [4, 8]}``.

    A bare list (``'2,4,8'``) is allowed with one family. ``None`` or empty -> ``None``
    (the default strengths). Families named here but not in ``families`` are an error.
    """
    if text is None or not text.strip():
        return None

    def values(fam: str, s: str) -> list[float]:
        out = []
        for v in s.split(","):
            v = v.strip()
            if not v:
                continue
            try:
                out.append(float(v))
            except ValueError:
                raise ValueError(f"--strengths: {v!r} for {fam} is not a number "
                                 f"(expected e.g. 'blur=2,4,8;pixelate=4,8')") from None
        if not out:
            raise ValueError(f"--strengths: no value given for {fam}")
        return out

    if "=" not in text:
        if len(families) != 1:
            raise ValueError(f"--strengths {text!r}: with several families ({', '.join(families)}) give "
                             "them per family, e.g. 'blur=2,4,8;pixelate=4,8'")
        return {families[0]: values(families[0], text)}
    plan: dict[str, list[float]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        fam, sep, vals = part.partition("=")
        fam = fam.strip()
        if not sep or not fam:
            raise ValueError(f"--strengths: {part!r} is not 'family=v1,v2' (e.g. 'blur=2,4,8;pixelate=4,8')")
        if fam not in families:
            raise ValueError(f"--strengths names family {fam!r}, which is not in --families "
                             f"({', '.join(families)})")
        plan[fam] = values(fam, vals)
    missing = [f for f in families if f not in plan]
    if missing:
        raise ValueError(f"--strengths gives no strengths for {', '.join(missing)} "
                         f"(give every family in --families, e.g. '{missing[0]}=2,4,8')")
    return plan


def _split_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def render_sweep_html(sweep: dict[str, Any]) -> str:
    """The self-contained sweep report (privacy curve figure + the sweep table) for ``sweep``."""
    from ..report.figures import privacy_curve_uri

    fig = privacy_curve_uri(sweep) if sweep.get("curve") else None
    return _env().get_template("sweep_report.html.j2").render(sweep=sweep, figure=fig)


def sweep_outputs(sweep: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Write ``sweep.json`` and ``report.html`` into ``out``; return their paths."""
    from ..result import to_jsonable

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = to_jsonable(sweep)
    paths = {"sweep": out / "sweep.json", "report": out / "report.html"}
    paths["sweep"].write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    paths["report"].write_text(render_sweep_html(data), encoding="utf-8")
    return paths


def _run_sweep(args: argparse.Namespace) -> int:
    from ..data.inputs import InputError, custody_section, load_gallery
    from ..sweep import run_sweep

    if args.jobs < 1:
        raise InputError(f"--jobs must be >= 1, got {args.jobs}")
    if args.calibration < 1:
        raise InputError(f"--calibration must be >= 1, got {args.calibration}")
    families = _split_list(args.families)
    if not families:
        raise InputError("--families is empty; give e.g. blur,pixelate")
    from ..obfuscation.spec import METHODS

    bad = [f for f in families if f not in METHODS or f == "none"]
    if bad:
        raise InputError(f"unknown obfuscation family {bad[0]!r}; allowed: "
                         f"{', '.join(m for m in METHODS if m != 'none')}")
    strengths = parse_strengths(args.strengths, families)
    attacks = _split_list(args.attacks) or None
    if attacks:
        from ..config import default_attacks

        ladder = default_attacks()
        bad = [a for a in attacks if a not in ladder]
        if bad:
            raise InputError(f"unknown attack(s) {', '.join(bad)}; available: {', '.join(ladder)}")
    gallery = load_gallery(args.gallery)  # InputError when missing / empty; hashes every file
    small = [i for i in gallery.identities
             if sum(1 for it in gallery.items if it.identity == i) <= args.calibration]
    if len(small) == len(gallery.identities):
        raise InputError(f"calibration gallery {args.gallery}: no identity has more than --calibration "
                         f"{args.calibration} images, so none is left to obfuscate and attack; "
                         "lower --calibration or add images")
    out = args.out or Path("auditkit-sweep")
    tmp_cache = tempfile.TemporaryDirectory(prefix="auditkit-nocache-") if args.no_cache else None
    try:
        cache_dir = Path(tmp_cache.name) if tmp_cache else args.cache_dir
        sweep = run_sweep(gallery.root, families=families, strengths=strengths, attacks=attacks,
                          n_calibration=args.calibration, scope=args.scope, cache_dir=cache_dir,
                          jobs=args.jobs, seed=args.seed, progress=not args.quiet, encoder=args.encoder)
    finally:
        if tmp_cache is not None:
            tmp_cache.cleanup()
    from ..result import Skipped

    sweep["tool"] = _tool()
    sweep["created"] = _now()
    sweep["title"] = args.title or "Strength sweep: how strong must the obfuscation be?"
    sweep["inputs"] = {"gallery": {**custody_section(gallery.root, [it.file for it in gallery.items]),
                                   "identities": len(gallery.identities)}}
    sweep["skipped"] = [asdict(Skipped(f"gallery/{s.path}", s.reason, s.stage)) for s in gallery.skipped]
    sweep["parameters"]["no_cache"] = bool(args.no_cache)
    if small:
        sweep.setdefault("notes", []).append(
            f"{len(small)} identit{'y has' if len(small) == 1 else 'ies have'} at most --calibration "
            f"{args.calibration} images and contribute no probe")
    paths = sweep_outputs(sweep, out)
    for statement in sweep["recommendations"]:
        print(f"recommendation: {statement}")
    for name, p in paths.items():
        print(f"  {name}: {p}")
    return EXIT_OK


# ------------------------------------------------------------------------------- evaluate

def _verdict(attack: Any, what: str) -> dict[str, Any]:
    """The policy verdict on the attack, with a summary worded for a benchmark evaluation."""
    from ..scoring.risk import verdict

    v = verdict([attack])
    m = attack.metrics
    if v["risk"] is None:
        v["summary"] = (f"Standard-protocol evaluation on {what}: the {attack.name} attack could not be "
                        "scored (no probe whose subject is in the gallery).")
        return v
    lo, hi = m["rank1_ci"]
    alo, ahi = m["advantage_ci"]
    v["summary"] = (f"Standard-protocol evaluation on {what} (clear benchmark data, not a de-identified "
                    f"release): the {attack.name} attack identifies {100 * m['rank1']:.1f}% at rank 1 "
                    f"(95% CI {100 * lo:.1f}-{100 * hi:.1f}%, n={m['n_mated']}), chance "
                    f"{100 * m['chance_rank1']:.1f}%; advantage over chance {m['advantage']:.2f} "
                    f"({alo:.2f} to {ahi:.2f}). This measures how strong the attacker is; the risk level "
                    "applies the audit policy to that figure.")
    return v


def evaluation_results(*, title: str, kind: str, attack: Any, evaluation: dict[str, Any],
                       inputs: dict[str, Any], skipped: list[Any], notes: list[str],
                       parameters: dict[str, Any], seed: int, seconds: float, features_computed: int | None,
                       what: str, descriptor: str, options: dict[str, Any]) -> dict[str, Any]:
    """A results dict (schema ``auditkit.results/1``) for a standard-protocol evaluation.

    ``attack`` is an :class:`~auditkit.result.AttackResult` (its risk is assessed here);
    ``evaluation`` goes under ``results["evaluation"]``.
    """
    from ..result import SCHEMA, to_jsonable
    from ..scoring.risk import assess

    attack = assess(attack)
    results = {
        "schema": SCHEMA,
        "tool": _tool(dlib="not used", descriptor=descriptor),
        "created": _now(),
        "title": title,
        "parameters": {"command": f"evaluate {kind}", **parameters},
        "seed": seed,
        "inputs": {**inputs, "ground_truth": True},
        "skipped": [asdict(s) if not isinstance(s, dict) else s for s in skipped],
        "notes": notes,
        "detection": None,
        "attacks": [attack.to_dict()],
        "obfuscation": None,
        "tables": None,
        "verdict": _verdict(attack, what),
        # no feature cache is used: no "cache" entry (the report prints cache figures only when present)
        "runtime": {"seconds": round(seconds, 2), "features_computed": features_computed},
        "options": options,
        "evaluation": evaluation,
    }
    return to_jsonable(results)


def _finish(results: dict[str, Any], out: Path, fail_on: str | None) -> int:
    from ..report import write_outputs

    paths = write_outputs(results, out)
    ev = results["evaluation"]
    print(f"evaluation: {ev['description']}")
    for row in ev["figures"]:
        spread = f" (sd {100 * row['sd']:.1f} over {ev['repeats']} splits)" if row.get("sd") is not None else ""
        ci = f", 95% CI {100 * row['ci'][0]:.1f}-{100 * row['ci'][1]:.1f}%" if row.get("ci") else ""
        print(f"  {row['name']}: {100 * row['value']:.1f}%{spread}{ci}")
    from . import report_and_exit

    return report_and_exit(results, paths, fail_on)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"show_examples": bool(args.show_examples), "redact_examples": not args.no_redact}


def _run_reid(args: argparse.Namespace) -> int:
    from ..data.inputs import InputError
    from ..evaluate import evaluate_reid, read_reid_manifest
    from ..features.appearance import DESCRIPTOR_VERSION
    from ..scoring.metrics import chance_rank_k
    from ..scoring.stats import wilson_interval

    t0 = time.monotonic()
    manifest: Path = args.manifest
    if not manifest.exists():
        raise InputError(f"re-identification manifest not found: {manifest}")
    if not manifest.is_file():
        raise InputError(f"re-identification manifest must be a CSV file, got a folder: {manifest}")
    if args.repeats < 1:
        raise InputError(f"--repeats must be >= 1, got {args.repeats}")
    try:
        rows = read_reid_manifest(manifest)
    except UnicodeDecodeError as e:
        raise InputError(f"{manifest}: not UTF-8 CSV text ({e})") from None
    _progress(args, f"evaluate reid: {len(rows)} images in {manifest}, {args.repeats} splits ...")
    r = evaluate_reid(manifest, repeats=args.repeats, random_state=args.seed,
                      probe_camera=args.probe_camera, max_subjects=args.max_subjects)
    p = r["protocol"]
    att = r["attack"]
    m = att.metrics
    n = int(m["n_probes_per_split"])
    n_test = att.n_identities
    # the identification template's figures; intervals follow evaluate_reid's convention for
    # rank1 (Wilson interval of the mean over splits, n = probes of one split)
    m["n_mated"], m["n_non_mated"], m["n_unknown"] = n, 0, 0
    for k in (5, 10, 20):
        m[f"rank{k}_ci"] = list(wilson_interval(m[f"rank{k}"] * n, n))
        m[f"chance_rank{k}"] = chance_rank_k(n_test, k)
    m.setdefault("open_set", [])

    base = manifest.parent
    skipped = list(r["skipped"])
    sides = {}
    for cam, side in ((p["probe_camera"], "release"), (p["gallery_camera"], "gallery")):
        files = [(row["path"], base / row["path"]) for row in rows if row["camera"] == cam]
        sides[side] = {**_listing(base, files), "camera": cam,
                       "identities": len({row["subject"] for row in rows if row["camera"] == cam})}
    inputs = {**sides, "manifest": _listing(manifest.parent, [(manifest.name, manifest)])}

    # descriptors computed: every image of a subject seen by both cameras, less the unreadable ones
    # (exact only for the full protocol; a --max-subjects subset is drawn inside evaluate_reid)
    n_feats = None
    if args.max_subjects is None:
        cams: dict[str, set[str]] = {}
        for row in rows:
            cams.setdefault(row["subject"], set()).add(row["camera"])
        n_feats = (sum(1 for row in rows if len(cams[row["subject"]]) == 2)
                   - sum(1 for x in r["skipped"] if x.stage == "appearance"))

    s = r["summary"]
    figures = []
    for key, label in (("rank1", "rank-1"), ("rank5", "rank-5"), ("rank10", "rank-10"), ("rank20", "rank-20"),
                       ("map", "mAP (mean reciprocal rank)")):
        k = int(key[4:]) if key.startswith("rank") else None
        if k and k > 1 and k >= n_test:
            continue  # every true identity is within the top k: 100% by construction
        figures.append({"name": label, "value": s[key]["mean"], "sd": s[key]["std"], "min": s[key]["min"],
                        "max": s[key]["max"], "ci": m.get(f"{key}_ci") if k else None,
                        "chance": chance_rank_k(n_test, k) if k else None})
    desc = (f"Two-camera re-identification, random half-identity splits: {p['n_subjects']} subjects seen by "
            f"both cameras; in each of {p['repeats']} splits (seed {p['random_state']}) the XQDA metric is "
            f"learned on {p['n_train_subjects']} subjects and tested on the other {p['n_test_subjects']}, "
            f"camera {p['probe_camera']!r} as probe and {p['gallery_camera']!r} as gallery.")
    evaluation = {
        "kind": "reid", "description": desc, "protocol": p, "repeats": p["repeats"],
        "figures": figures, "spread": s, "splits": r["splits"],
        "pooled": {"rank1": r["rank1_pooled"], "rank1_ci": r["rank1_ci_pooled"],
                   "n": n * p["repeats"]},
        "interval_rule": (f"Intervals are Wilson 95% intervals of the mean over splits with n = {n} probes "
                          "(one split), since the splits reuse the same people; the pooled interval over "
                          "all splits is given for comparison with the literature and overstates precision."),
        "open_set": None,
    }
    notes = [(f"Clear benchmark data: the manifest's camera {p['probe_camera']!r} plays the release "
                 f"and {p['gallery_camera']!r} the gallery; no obfuscation is involved.")]
    results = evaluation_results(
        title=args.title or "Standard-protocol evaluation: appearance re-identification (two cameras)",
        kind="reid", attack=att, evaluation=evaluation, inputs=inputs, skipped=skipped, notes=notes,
        parameters={"manifest": str(manifest), "repeats": args.repeats, "probe_camera": p["probe_camera"],
                    "gallery_camera": p["gallery_camera"], "max_subjects": args.max_subjects,
                    "descriptor": DESCRIPTOR_VERSION, "metric": "XQDA"},
        seed=args.seed, seconds=time.monotonic() - t0, features_computed=n_feats,
        what=f"{manifest.parent.name or manifest}", descriptor=f"appearance {DESCRIPTOR_VERSION} + XQDA",
        options=_options(args))
    return _finish(results, args.out or Path("auditkit-eval"), args.fail_on)


# --------------------------------------------------------------------------- gait: video clips

def clip_silhouettes(path: str | Path, *, max_side: int = 320, threshold: int = 30,
                     min_area: int = 20) -> tuple[list[Any], dict[str, Any]]:
    """Silhouettes of the walker in a static-camera clip, by median-background subtraction.

    The background is the per-pixel median over the clip's frames (the walker moves, the
    scene does not); a pixel is foreground where any colour channel differs by more than
    ``threshold`` grey levels; the mask is opened/closed and only its largest connected
    component is kept (frames where it is smaller than ``min_area`` pixels stay empty).

    Returns the (H, W) boolean masks and a decode report (``auditkit.data.video``).
    """
    import cv2
    import numpy as np

    from ..data.video import iter_frames

    it = iter_frames(path, max_side=max_side)
    frames = [f.image for f in it]
    report = it.report.to_dict()
    stack = np.stack(frames).astype(np.int16)
    bg = np.median(stack, axis=0)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    masks = []
    for f in stack:
        fg = (np.abs(f - bg).max(axis=2) > threshold).astype(np.uint8) * 255
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, k)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k, iterations=2)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        mask = np.zeros(fg.shape, bool)
        if n > 1:
            j = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            if stats[j, cv2.CC_STAT_AREA] >= min_area:
                mask = lab == j
        masks.append(mask)
    return masks, report


def _gait_folder(root: Path, work: Path, skipped: list[Any], notes: list[str]) -> Path:
    """``root`` itself, or (when it holds video clips) a mirror in ``work`` where each clip
    ``<subject>/<clip>.mp4`` is a folder of silhouette frames of the same name."""
    import numpy as np
    from PIL import Image

    from ..data.media import MediaError
    from ..result import Skipped

    subjects = sorted(p for p in root.iterdir() if p.is_dir())
    clips = [e for s in subjects for e in sorted(s.iterdir()) if e.is_file() and e.suffix.lower() in _VIDEO_EXTS]
    if not clips:
        return root
    mirror = work / root.name
    n_ok = 0
    for s in subjects:
        (mirror / s.name).mkdir(parents=True, exist_ok=True)
        for e in sorted(s.iterdir()):
            rel = e.relative_to(root).as_posix()
            if not (e.is_file() and e.suffix.lower() in _VIDEO_EXTS):
                (mirror / s.name / e.name).symlink_to(e.resolve(), target_is_directory=e.is_dir())
                continue
            try:
                masks, rep = clip_silhouettes(e)
            except (MediaError, ValueError) as err:
                skipped.append(Skipped(rel, f"video clip not decoded: {err}", "gait"))
                continue
            d = mirror / s.name / e.name
            d.mkdir()
            for t, msk in enumerate(masks):
                Image.fromarray(msk.astype(np.uint8) * 255).save(d / f"{t:05d}.png")
            n_ok += 1
            for msg in rep.get("messages", []):
                notes.append(f"{rel}: {msg}")
    notes.append(f"{root}: {n_ok} of {len(clips)} video clip(s) turned into silhouettes by median-background "
                 "subtraction (static camera; threshold 30 grey levels, largest connected component).")
    return mirror


def _run_gait(args: argparse.Namespace) -> int:
    from ..data.inputs import InputError
    from ..evaluate import evaluate_gait
    from ..scoring.metrics import chance_rank_k
    from ..scoring.stats import wilson_interval

    t0 = time.monotonic()
    for what, d in (("gait gallery", args.gallery), ("gait probe", args.probe)):
        if not d.exists():
            raise InputError(f"{what} folder not found: {d}")
        if not d.is_dir():
            raise InputError(f"{what} must be a folder, got a file: {d}")
        if not any(p.is_dir() for p in d.iterdir()):
            raise InputError(f"{what} folder {d} has no <subject>/ sub-folder; expected "
                             "<subject>/<sequence>/<frame>.png, <subject>/<clip>.mp4 or <subject>/<strip>.png")
    if not 0 < args.pca_variance <= 1:
        raise InputError(f"--pca-variance must be in (0, 1], got {args.pca_variance}")
    if args.frame_width < 1:
        raise InputError(f"--frame-width must be >= 1, got {args.frame_width}")
    skipped: list[Any] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="auditkit-gait-") as tmp:
        g_dir = _gait_folder(args.gallery, Path(tmp) / "gallery", skipped, notes)
        p_dir = _gait_folder(args.probe, Path(tmp) / "probe", skipped, notes)
        _progress(args, f"evaluate gait: gallery {args.gallery}, probe {args.probe} ...")
        try:
            r = evaluate_gait(g_dir, p_dir, random_state=args.seed, pca_variance=args.pca_variance,
                              frame_width=args.frame_width)
        except FileNotFoundError as e:
            raise InputError(str(e)) from None
    att = r["attack"]
    m = att.metrics
    p = dict(r["protocol"], gallery=str(args.gallery), probe=str(args.probe))
    n_id = att.n_identities
    if m.get("n_mated"):
        m["rank20_ci"] = list(wilson_interval(m["rank20"] * m["n_mated"], m["n_mated"]))
    figures = []
    for key, label in (("rank1", "rank-1"), ("rank5", "rank-5"), ("rank10", "rank-10"), ("rank20", "rank-20"),
                       ("map", "mAP (mean reciprocal rank)")):
        k = int(key[4:]) if key.startswith("rank") else None
        if k and k > 1 and k >= n_id:
            continue  # every true identity is within the top k: 100% by construction
        v = m.get(key)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        figures.append({"name": label, "value": v, "sd": None, "ci": m.get(f"{key}_ci"),
                        "chance": chance_rank_k(n_id, k) if k else None})
    desc = (f"Gait gallery vs probe (USF HumanID style): {r['n_gallery_sequences']} gallery sequences of "
            f"{r['n_gallery_subjects']} subjects, {r['n_probe_sequences']} probe sequences ({r['n_mated']} of "
            f"gallery subjects, {r['open_set']['n_impostor_probes']} of subjects absent from the gallery); "
            f"gait energy images, PCA ({p['pca_variance']:.0%} of the variance, {p['n_pca_components']} "
            "components) + LDA fitted on the gallery only; one fixed split, so no spread over repeats.")
    evaluation = {
        "kind": "gait", "description": desc, "protocol": p, "repeats": 1, "figures": figures,
        "spread": None, "splits": [], "pooled": None,
        "interval_rule": "Intervals are Wilson 95% intervals over the probe sequences of gallery subjects.",
        "open_set": r["open_set"],
    }
    sides = {"release": _listing(args.probe, _tree_files(args.probe), skipped),
             "gallery": {**_listing(args.gallery, _tree_files(args.gallery), skipped),
                         "identities": r["n_gallery_subjects"]}}
    notes.append("Clear benchmark data: the probe folder plays the release and the gallery folder the gallery.")
    results = evaluation_results(
        title=args.title or "Standard-protocol evaluation: gait recognition (gallery vs probe)",
        kind="gait", attack=att, evaluation=evaluation, inputs=sides, skipped=skipped + list(r["skipped"]),
        notes=notes, parameters={"gallery": str(args.gallery), "probe": str(args.probe),
                                 "pca_variance": args.pca_variance, "frame_width": args.frame_width,
                                 "gei_size": p["gei_size"]},
        seed=args.seed, seconds=time.monotonic() - t0,
        features_computed=r["n_gallery_sequences"] + r["n_probe_sequences"],
        what=f"{args.probe.name} against {args.gallery.name}", descriptor="gait GEI + PCA/LDA",
        options=_options(args))
    return _finish(results, args.out or Path("auditkit-eval"), args.fail_on)
