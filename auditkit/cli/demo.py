"""``auditkit demo``: blur real faces into a release and audit it (see :mod:`auditkit.demo`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_common, finish_audit

__all__ = ["add_parser", "run"]


def add_parser(sub) -> argparse.ArgumentParser:
    demo = sub.add_parser("demo", help="blur real faces into a release and audit it")
    demo.add_argument("--faces", type=Path, default=None,
                      help="folder of <identity>/<image> faces (default: $AUDITKIT_DEMO_FACES, else Olivetti faces)")
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
    from ..demo import build_demo
    from ..obfuscation.spec import parse_spec

    out = args.out or Path("auditkit-demo")
    spec = parse_spec(args.obfuscation)
    gallery, release = build_demo(out / "data", faces=args.faces, spec=spec, max_identities=args.identities,
                                  seed=args.seed)
    cfg = AuditConfig.from_args(args, release=release, gallery=gallery, out=out,
                                obfuscation_scope="frame",  # the demo obfuscates whole face images
                                title=f"Demo: is a {spec.label} release anonymized?")
    return finish_audit(run_audit(cfg), out, args.fail_on)
