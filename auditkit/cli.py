"""Command line: ``auditkit run | demo | report | sweep | evaluate``.

Exit codes: 0 audit done; 1 verdict at or above ``--fail-on``; 2 usage or input error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__

EXIT_OK, EXIT_FAIL_ON, EXIT_INPUT = 0, 1, 2
from .risk import LEVELS, level_at_least


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 too; keep its message format
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


def _add_common(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--detector", choices=("hog", "cnn"), default="hog", help="face detector (default: hog)")
    p.add_argument("--upsample", type=int, default=1,
                   help="times images are upsampled before face detection, for small faces (default: 1)")
    p.add_argument("--encoder", choices=("dlib", "fast"), default="fast",
                   help="face encoder: 'fast' (dlib's network in numpy, same encodings to ~1e-6, ~5x "
                        "faster) or 'dlib' (dlib-bin itself) (default: fast)")
    p.add_argument("--show-examples", action="store_true",
                   help="show identity labels and example images in the HTML report (off by default: private)")
    p.add_argument("--no-redact", action="store_true",
                   help="with --show-examples, show example faces unredacted (default: redacted)")
    p.add_argument("--seed", type=int, default=0, help="random seed for every sampler (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output on stderr")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="auditkit", description="Privacy-risk audit of de-identified releases: plays the "
                 "motivated intruder against a release with a reference gallery and reports the risk.")
    ap.add_argument("--version", action="version", version=f"auditkit {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="audit a release (images, clips, tables) against a gallery and auxiliary data")
    run.add_argument("--release", type=Path, default=None,
                     help="release folder (images and clips, optional manifest.csv)")
    run.add_argument("--gallery", type=Path, default=None,
                     help="gallery folder: gallery/<identity>/<images or clips>")
    run.add_argument("--attacks", default=None,
                     help="comma-separated face attacks to run (default: the whole ladder: "
                          "face.naive,face.parrot,face.learned,face.reconstruct)")
    run.add_argument("--fps", type=float, default=None,
                     help="frames per second sampled from release and gallery clips (default: every frame)")
    vid = run.add_argument_group("video clips in the release")
    vid.add_argument("--people-detector", choices=("mog2", "hog"), default="mog2",
                     help="person detector where the manifest gives no boxes: background subtraction for static "
                          "cameras, or OpenCV's HOG people detector (default: mog2)")
    vid.add_argument("--people-boxes", choices=("manifest", "detect"), default="manifest",
                     help="use the manifest's person boxes when it has them, or always detect (default: manifest)")
    vid.add_argument("--leak-scan", choices=("frame", "person", "both", "off"), default="frame",
                     help="where sampled frames are scanned for faces the anonymizer missed: whole frames, "
                          "enlarged person boxes (small CCTV faces; ~25 ms per person per frame), both, or off")
    tab = run.add_argument_group("tables and trajectories (alone, or beside --release/--gallery)")
    tab.add_argument("--table", type=Path, default=None,
                     help="released metadata table (CSV or Parquet); default with --qi: the release manifest's columns")
    tab.add_argument("--aux", type=Path, default=None, help="auxiliary table the attacker holds (register, staff list)")
    tab.add_argument("--qi", default=None, help="quasi-identifiers, comma-separated (default: suggested from uniqueness)")
    tab.add_argument("--sensitive", default=None, help="sensitive attribute(s), comma-separated")
    tab.add_argument("--control", type=Path, default=None,
                     help="control table: records of the same population not in the release (attack baseline)")
    tab.add_argument("--population", type=Path, default=None,
                     help="population table for journalist/marketer risk (default: --aux)")
    tab.add_argument("--id-col", default=None,
                     help="identity column in release and aux giving linkage ground truth (default: subject)")
    tab.add_argument("--sightings", type=Path, default=None,
                     help="table of sightings (track or subject, camera, timestamp) for trajectory uniqueness")
    tab.add_argument("--whereabouts", type=Path, default=None,
                     help="the attacker's known whereabouts (subject, camera, timestamp) for trajectory linkage")
    run.add_argument("--planted", type=Path, default=None,
                     help="planted volunteers for the gallery-free linkage audit: CSV of subject, camera, start, end "
                          "(when and where each volunteer appeared); without --gallery the release is its own gallery")
    run.add_argument("--sweep", nargs="?", const="auto", default=None, metavar="FAMILIES",
                     help="also run the strength sweep on the gallery (privacy curve and the strength needed): "
                          "comma-separated families (blur,pixelate,box,noise,mask), or none for the release's own")
    run.add_argument("--title", default=None, help="report title")
    run.add_argument("--obfuscation", default=None,
                     help="obfuscation the release applied, for the parrot attack, e.g. blur:sigma=6 or "
                          "pixelate:block=8 (default: the manifest's obfuscation column, if any)")
    run.add_argument("--obfuscation-scope", choices=("face", "frame"), default="face",
                     help="whether the obfuscation covers face regions or whole frames (default: face)")
    _add_common(run)

    demo = sub.add_parser("demo", help="blur real faces into a release and audit it")
    demo.add_argument("--faces", type=Path, default=None,
                      help="folder of <identity>/<image> faces (default: $AUDITKIT_DEMO_FACES, else Olivetti faces)")
    demo.add_argument("--obfuscation", default="blur:sigma=6",
                      help="obfuscation applied to build the release (default: %(default)s)")
    demo.add_argument("--identities", type=int, default=None, help="use only the first N identities")
    demo.add_argument("--no-sweep", dest="sweep", action="store_const", const=None, default="auto",
                      help="skip the strength sweep (by default the demo also draws the privacy curve of its "
                           "obfuscation family on the clear gallery)")
    _add_common(demo)

    rep = sub.add_parser("report", help="re-render the HTML report from results.json")
    rep.add_argument("results", type=Path, help="a results.json written by auditkit")
    rep.add_argument("--out", type=Path, default=None, help="output folder (default: the results file's folder)")
    from .commands import add_parsers

    add_parsers(sub, _add_common)  # sweep, evaluate reid|gait
    return ap


def _config(args, release: Path, gallery: Path, out: Path, title: str | None):
    from .audit import ATTACKS, AuditConfig

    attacks = tuple(a.strip() for a in args.attacks.split(",") if a.strip()) if getattr(args, "attacks", None) else ATTACKS
    return AuditConfig(release=release, gallery=gallery, out=out, attacks=attacks, jobs=args.jobs,
                       executor=args.executor, scheduler=args.scheduler,
                       cache_dir=args.cache_dir, use_cache=not args.no_cache, detector=args.detector,
                       upsample=args.upsample, encoder=args.encoder, fail_on=args.fail_on,
                       show_examples=args.show_examples, redact_examples=not args.no_redact,
                       seed=args.seed, progress=not args.quiet, title=title,
                       obfuscation=getattr(args, "obfuscation", None),
                       obfuscation_scope=getattr(args, "obfuscation_scope", "face"),
                       fps=getattr(args, "fps", None),
                       people_detector=getattr(args, "people_detector", "mog2"),
                       people_boxes=getattr(args, "people_boxes", "manifest"),
                       leak_scan=getattr(args, "leak_scan", "frame"),
                       **{k: getattr(args, k, None) for k in ("table", "aux", "qi", "sensitive", "control",
                                                              "population", "id_col", "sightings", "whereabouts",
                                                              "planted")},
                       sweep=tuple((getattr(args, "sweep", None) or "").split(",")) if getattr(args, "sweep", None)
                       else ())


def _finish(results: dict, out: Path, fail_on: str | None) -> int:
    from .report import write_outputs

    return report_and_exit(results, write_outputs(results, out), fail_on)


def report_and_exit(results: dict, paths: dict[str, Path], fail_on: str | None) -> int:
    """Print the verdict and the files written; the exit code for ``--fail-on``."""
    v = results["verdict"]
    print(f"verdict: {(v['risk'] or 'not scored').upper()} — {v['summary']}")
    for name, p in paths.items():
        print(f"  {name}: {p}")
    if fail_on and level_at_least(v["risk"], fail_on):
        return EXIT_FAIL_ON
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    from .data.inputs import InputError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "report":
            from .report import load_results, write_outputs

            results = load_results(args.results)
            out = args.out or args.results.parent
            p = write_outputs(results, out)
            print(f"report: {p['report']}")
            return EXIT_OK
        from .commands import run_command

        rc = run_command(args)
        if rc is not None:
            return rc
        if args.jobs < 1:
            raise InputError(f"--jobs must be >= 1, got {args.jobs}")
        from .audit import run_audit

        if args.command == "demo":
            from .demo import build_demo
            from .obfuscation import parse_spec

            out = args.out or Path("auditkit-demo")
            spec = parse_spec(args.obfuscation)
            gallery, release = build_demo(out / "data", faces=args.faces, spec=spec,
                                          max_identities=args.identities, seed=args.seed)
            args.obfuscation_scope = "frame"  # the demo obfuscates whole face images
            cfg = _config(args, release, gallery, out, f"Demo: is a {spec.label} release anonymized?")
        else:
            out = args.out or Path("auditkit-out")
            cfg = _config(args, args.release, args.gallery, out, args.title)
        return _finish(run_audit(cfg), out, args.fail_on)
    except InputError as e:
        print(f"auditkit: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except ValueError as e:
        print(f"auditkit: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("auditkit: interrupted; finished features are cached, re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
