"""``auditkit evaluate reid MANIFEST`` and ``auditkit evaluate gait --gallery DIR --probe DIR``.

Run the standard protocols of :mod:`auditkit.evaluate` and write results.json / matches.csv /
skipped.csv / report.html like ``run`` (schema ``auditkit.results/1``), with an extra
``evaluation`` key holding the protocol and the per-split spread. Bad input raises
:class:`~auditkit.data.inputs.InputError` or ``ValueError``, which ``auditkit.cli.main`` turns
into exit code 2 with the message.
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .common import add_common, check_unused, mark_unused, now, progress, report_and_exit, tool

__all__ = ["add_parser", "clip_silhouettes", "evaluation_results", "run"]

_VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv")

# options added by add_common that evaluate does not use: giving them is an error, not
# silently ignored (dest -> why)
_EVAL_UNUSED = {
    "jobs": "the evaluation runs in one process",
    "executor": "the evaluation runs in one process",
    "scheduler": "the evaluation runs in one process",
    "cache_dir": "body-cue descriptors are not cached",
    "no_cache": "body-cue descriptors are not cached",
    "detector": "no face detector is used",
    "upsample": "no face detector is used",
    "encoder": "no face encoder is used",
    "auditor": "a benchmark evaluation audits no release and has no sign-off",
    "organisation": "a benchmark evaluation audits no release and has no sign-off",
    "review_after": "a benchmark evaluation audits no release and has no sign-off",
}


# ------------------------------------------------------------------------------- parsers

def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``evaluate`` (``reid``, ``gait``) to ``auditkit``'s sub-parsers."""
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
    reid.add_argument("--protocol", dest="gallery_protocol", choices=("published", "shared"), default="published",
                      help="published: the gallery also holds distractors, as the published protocols do (every "
                           "subject seen by the gallery camera only, e.g. PRID 2011's 649 cam-B identities for 100 "
                           "probes, and --distractor-subjects); shared: the test identities only (default: published)")
    reid.add_argument("--distractor-subjects", type=int, default=0,
                      help="subjects seen by both cameras drawn per split as gallery distractors, out of training "
                           "and testing (published protocol; default: 0)")
    reid.add_argument("--title", default=None, help="report title")
    add_common(reid)
    mark_unused(reid, _EVAL_UNUSED)

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
    mark_unused(gait, _EVAL_UNUSED)
    return ev


def run(args: argparse.Namespace) -> int:
    """Run ``evaluate reid`` or ``evaluate gait``; the exit code.

    Raises
    ------
    InputError, ValueError
        Bad options or inputs (``auditkit.cli.main`` prints the message and exits with 2).
    """
    check_unused(args, f"evaluate {args.protocol}")
    if args.protocol == "reid":
        return _run_reid(args)
    return _run_gait(args)


# ------------------------------------------------------------------------------- shared helpers

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
        "tool": tool(dlib="not used", descriptor=descriptor),
        "created": now(),
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
    return report_and_exit(results, paths, fail_on)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"show_examples": bool(args.show_examples), "redact_examples": not args.no_redact,
            "reveal_labels": bool(getattr(args, "reveal_labels", False))}


def _run_reid(args: argparse.Namespace) -> int:
    """Long: parse, run the protocol, and shape results.json's evaluation section with its figures; the shaping belongs in auditkit.evaluate (to move)."""
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
    progress(args, f"evaluate reid: {len(rows)} images in {manifest}, {args.repeats} splits ...")
    r = evaluate_reid(manifest, repeats=args.repeats, random_state=args.seed,
                      probe_camera=args.probe_camera, max_subjects=args.max_subjects,
                      protocol=args.gallery_protocol, distractor_subjects=args.distractor_subjects)
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
            f"camera {p['probe_camera']!r} as probe and {p['gallery_camera']!r} as gallery"
            + (f", the gallery holding {p['n_gallery_identities']} identities with the distractors "
               f"({p['n_gallery_only_distractors']} seen by the gallery camera only, {p['n_distractor_subjects']} "
               "drawn per split)." if p["n_gallery_identities"] > p["n_test_subjects"] else "."))
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
                    "protocol": args.gallery_protocol, "distractor_subjects": args.distractor_subjects,
                    "descriptor": DESCRIPTOR_VERSION, "metric": "XQDA"},
        seed=args.seed, seconds=time.monotonic() - t0, features_computed=n_feats,
        what=f"{manifest.parent.name or manifest}", descriptor=f"appearance {DESCRIPTOR_VERSION} + XQDA",
        options=_options(args))
    _add_reid_pixel_rung(results, manifest, args)  # issue 18: the pixel-domain body rung, same splits
    return _finish(results, args.out or Path("auditkit-eval"), args.fail_on)


def _add_reid_pixel_rung(results: dict[str, Any], manifest: Path, args: argparse.Namespace) -> None:
    from ..attacks.body_pixels import reid_pixel_attack
    from ..result import to_jsonable
    from ..scoring.metrics import chance_rank_k
    from ..scoring.risk import assess
    from ..scoring.stats import wilson_interval

    progress(args, "evaluate reid: pixel-domain body rung (same splits) ...")
    att = reid_pixel_attack(manifest, repeats=args.repeats, random_state=args.seed,
                            probe_camera=args.probe_camera, max_subjects=args.max_subjects,
                            protocol=getattr(args, "gallery_protocol", "published"),
                            distractor_subjects=getattr(args, "distractor_subjects", 0))
    m = att.metrics
    # the identification template's figures, by _run_reid's convention for the appearance attack
    n = int(m["n_probes_per_split"])
    m["n_mated"], m["n_non_mated"], m["n_unknown"] = n, 0, 0
    for k in (5, 10, 20):
        m[f"rank{k}_ci"] = list(wilson_interval(m[f"rank{k}"] * n, n))
        m[f"chance_rank{k}"] = chance_rank_k(att.n_identities, k)
    m.setdefault("open_set", [])
    att = assess(att)
    results["attacks"].append(to_jsonable(att.to_dict()))
    first = results["attacks"][0]
    if m["rank1"] > first["metrics"]["rank1"]:  # the verdict follows the strongest rung
        results["verdict"] = to_jsonable(_verdict(att, f"{manifest.parent.name or manifest}"))
    results["notes"].append(f"Pixel-domain body rung ({att.name}, same splits): rank-1 {m['rank1']:.1%} "
                            f"(95% CI {m['rank1_ci'][0]:.1%}-{m['rank1_ci'][1]:.1%}, n = {m['n_probes_per_split']} "
                            f"probes per split, chance {m['chance_rank1']:.1%}).")


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
        progress(args, f"evaluate gait: gallery {args.gallery}, probe {args.probe} ...")
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
