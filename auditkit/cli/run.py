"""``auditkit run``: audit a release (images, clips, tables) against a gallery and auxiliary data.

Parse the flags, build the :class:`~auditkit.config.AuditConfig`, call :func:`auditkit.run_audit`,
write the outputs and print the verdict.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import VideoConfig, choices
from .common import add_common, finish_audit

__all__ = ["add_parser", "run"]


def add_parser(sub) -> argparse.ArgumentParser:
    """The ``run`` command's flags. Long: one declaration per option, grouped as in ``auditkit run --help``."""
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
    vid.add_argument("--people-detector", choices=choices(VideoConfig, "people_detector"),
                     default=VideoConfig.people_detector,
                     help="person detector where the manifest gives no boxes: background subtraction for static "
                          "cameras, or OpenCV's HOG people detector (default: mog2)")
    vid.add_argument("--people-boxes", choices=choices(VideoConfig, "people_boxes"), default=VideoConfig.people_boxes,
                     help="use the manifest's person boxes when it has them, or always detect (default: manifest)")
    vid.add_argument("--leak-scan", choices=choices(VideoConfig, "leak_scan"), default=VideoConfig.leak_scan,
                     help="where sampled frames are scanned for faces the anonymizer missed: whole frames, "
                          "enlarged person boxes (small CCTV faces; ~25 ms per person per frame), both, or off")
    vid.add_argument("--leak-detector", choices=choices(VideoConfig, "leak_detector"),
                     default=VideoConfig.leak_detector,
                     help="face detector of the leak scan: auto = centerface when the 'centerface' extra is installed "
                          "(finds faces down to ~10 px), else hog (default: auto)")
    vid.add_argument("--leak-full-every", type=int, default=VideoConfig.leak_full_every, metavar="N",
                     help="scan whole frames fully every N sampled frames and, in between, only where the frame "
                          "changed since (static cameras; faster, but an approximation: a face near the detector's "
                          "threshold can be missed, see benchmarks/README.md); 1 scans every frame fully (default: "
                          "%(default)s)")
    tab = run.add_argument_group("tables and trajectories (alone, or beside --release/--gallery)")
    tab.add_argument("--table", type=Path, default=None,
                     help="released metadata table (CSV or Parquet); default with --qi: the release manifest's columns")
    tab.add_argument("--aux", type=Path, default=None, help="auxiliary table the attacker holds (register, staff list)")
    tab.add_argument("--qi", default=None, help="quasi-identifiers, comma-separated (default: suggested from uniqueness)")
    tab.add_argument("--sensitive", default=None, help="sensitive attribute(s), comma-separated")
    tab.add_argument("--control", type=Path, default=None,
                     help="control table: records of the same population not in the release (attack baseline)")
    tab.add_argument("--population", "--population-table", dest="population", type=Path, default=None,
                     help="population table for journalist/marketer risk and k-map (default for the risks: --aux)")
    tab.add_argument("--sampling-fraction", type=float, default=None, metavar="F",
                     help="share of the population the released table holds, in (0, 1]: population uniqueness "
                          "(Pitman, Zayatz, SNB, Dankar's rule, as ARX) (default: not estimated)")
    tab.add_argument("--suppressed-marker", default="*", metavar="TEXT",
                     help="value of every quasi-identifier of a suppressed record; such records form no "
                          "equivalence class and are counted as suppressed (default: *)")
    tab.add_argument("--id-col", default=None,
                     help="identity column in release and aux giving linkage ground truth (default: subject)")
    tab.add_argument("--linkability-columns", default=None, metavar="A,B|C,D",
                     help="anonymeter's linkability: two disjoint column sets the attacker holds about the --aux "
                          "people, linked through the release (default: not run)")
    tab.add_argument("--linkability-neighbors", type=int, default=None,
                     help="nearest release records per column set for --linkability-columns (default: 1)")
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
    run.add_argument("--anonymizer", default=None, metavar="CMD",
                     help="the vendor's own anonymizer as a command template run once per clear gallery image, "
                          "e.g. \"deface {input} -o {output} --replacewith mosaic\" (no shell; a private temporary "
                          "folder); face.parrot, face.pixels and face.learned then attack with its output")
    run.add_argument("--anonymizer-timeout", type=float, default=None, metavar="SECONDS",
                     help="seconds the anonymizer may take per image before it is killed (default: 120)")
    run.add_argument("--distractors", type=Path, default=None, metavar="DIR",
                     help="identities not in the release (DIR/<identity>/<images>, e.g. LFW) added to every "
                          "attack's gallery, so rank-1 is measured at the larger gallery size")
    run.add_argument("--population-sizes", default=None, metavar="LIST",
                     help="gallery sizes each identification attack's rank-1 and DIR@FPIR=1%% are projected to, "
                          "comma-separated, or none (default: 1e3,1e5,1e7,1.7e8)")
    add_common(run)
    return run



def run(args: argparse.Namespace) -> int:
    from ..api import run_audit
    from ..config import AuditConfig

    out = args.out or Path("auditkit-out")
    cfg = AuditConfig.from_args(args, out=out)
    return finish_audit(run_audit(cfg), out, args.fail_on)
