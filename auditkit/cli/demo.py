"""``auditkit demo``: blur real faces into a release and audit it (see :mod:`auditkit.demo`); with no
faces at hand, audit a generated street scene whose people's heads are blurred
(:mod:`auditkit.demo_scene`). Nothing is downloaded."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_common, finish_audit

__all__ = ["add_parser", "run"]


def add_parser(sub) -> argparse.ArgumentParser:
    demo = sub.add_parser("demo", help="blur real faces into a release and audit it (or, with no faces at hand, "
                                       "a generated street scene)")
    demo.add_argument("--faces", type=Path, default=None,
                      help="folder of <identity>/<image> faces (default: $AUDITKIT_DEMO_FACES; with neither, the "
                           "demo audits a generated two-camera street scene with blurred heads)")
    demo.add_argument("--obfuscation", default="blur:sigma=6",
                      help="obfuscation applied to build the release (default: %(default)s)")
    demo.add_argument("--identities", type=int, default=None, help="use only the first N identities")
    demo.add_argument("--no-sweep", dest="sweep", action="store_const", const=None, default="auto",
                      help="skip the strength sweep (by default the demo also draws the privacy curve of its "
                           "obfuscation family on the clear gallery)")
    add_common(demo)
    return demo



def run(args: argparse.Namespace) -> int:
    from ..api import run_audit
    from ..config import AuditConfig
    from ..demo import build_demo, demo_faces
    from ..obfuscation.spec import parse_spec

    out = args.out or Path("auditkit-demo")
    spec = parse_spec(args.obfuscation)
    if demo_faces(args.faces) is None:
        return _scene(args, out)
    gallery, release = build_demo(out / "data", faces=args.faces, spec=spec, max_identities=args.identities,
                                  seed=args.seed)
    cfg = AuditConfig.from_args(args, release=release, gallery=gallery, out=out,
                                obfuscation_scope="frame",  # the demo obfuscates whole face images
                                title=f"Demo: is a {spec.label} release anonymized?")
    return finish_audit(run_audit(cfg), out, args.fail_on)


def _scene(args: argparse.Namespace, out: Path) -> int:
    """The offline demo: a generated two-camera scene, audited with an intruder's clear walking clips."""
    import sys

    from ..api import run_audit
    from ..config import AuditConfig
    from ..demo_scene import build_scene

    if not args.quiet:
        print("auditkit demo: no faces given (--faces DIR or AUDITKIT_DEMO_FACES), so the demo audits a generated "
              "street scene: drawn people with blurred heads seen by two cameras (clothing, gait and cross-camera "
              "linkage; no face attack)", file=sys.stderr)
    gallery, release = build_scene(out / "data", seed=args.seed)
    # what the scene did to the heads (demo_scene.write_clip), declared as a vendor would
    cfg = AuditConfig.from_args(args, release=release, gallery=gallery, out=out, obfuscation="blur:sigma=4",
                                title="Demo: does blurring heads anonymize people on a street camera?")
    return finish_audit(run_audit(cfg), out, args.fail_on)
