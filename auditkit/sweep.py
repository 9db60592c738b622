"""Strength sweep (issue 3): how strong must an obfuscation be before the attacker ladder fails?

:func:`run_sweep` splits a folder of clear ``<identity>/<images>`` into a calibration gallery
and held-out probes (per identity, so no image is both attacked and trained on; the split of
:func:`auditkit.demo.build_demo`), obfuscates the probes with each family at each strength,
runs the audit (:func:`auditkit.audit.run_pipeline`, the obfuscation declared, features cached)
and returns the privacy curve: per family, strength and attack the rank-1 rate with its Wilson
95% interval, the chance level and the advantage over chance with its interval; and the
recommendation: the smallest tested strength at which the strongest attack's advantage
interval reaches zero (lower bound <= 0), or a statement that none does.

The result is plain JSON-ready data; ``result["curve"]`` holds the plot-ready series and
``reports/templates/partials/sweep.html.j2`` renders ``result`` as ``sweep``.
"""
from __future__ import annotations

import csv
import math
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .obfuscation.spec import METHODS, ObfuscationSpec
from .result import AuditResult

if TYPE_CHECKING:  # pragma: no cover
    from .config import AuditConfig
    from .data.inputs import Gallery

__all__ = ["DEFAULT_STRENGTHS", "SWEEP_SCHEMA", "recommend", "run_sweep"]

SWEEP_SCHEMA = "auditkit.sweep/1"

#: strengths tried per family when none are given (pixels: sigma, block side, kernel side, grey-level std)
DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "blur": (2, 4, 6, 8, 12),
    "pixelate": (4, 8, 12, 16),
    "box": (5, 9, 15, 21),
    "noise": (10, 25, 50, 100),
    "mask": (0,),
}


def _strengths_for(families: Sequence[str], strengths: Mapping[str, Iterable[float]] | Sequence[float] | None
                   ) -> dict[str, list[float]]:
    for f in families:
        if f not in METHODS or f == "none":
            raise ValueError(f"unknown obfuscation family {f!r}; allowed: "
                             f"{', '.join(m for m in METHODS if m != 'none')}")
    if not families:
        raise ValueError("families is empty: give at least one obfuscation family, e.g. ('blur',)")
    out: dict[str, list[float]] = {}
    for f in families:
        if strengths is None:
            vals = DEFAULT_STRENGTHS[f]
        elif isinstance(strengths, Mapping):
            if f not in strengths:
                raise ValueError(f"no strengths given for family {f!r} (strengths has {', '.join(strengths)})")
            vals = strengths[f]
        else:
            if len(families) != 1:
                raise ValueError("a plain list of strengths is only allowed with one family; "
                                 "use a dict {family: [strengths]}")
            vals = strengths
        vals = sorted({float(v) for v in vals})
        if not vals:
            raise ValueError(f"no strengths for family {f!r}")
        for v in vals:
            ObfuscationSpec(f, v)  # validates (strength >= 0)
        out[f] = vals
    return out


def _point(results: AuditResult, spec: Any, seconds: float) -> dict[str, Any]:
    attacks: dict[str, Any] = {}
    chance = math.nan
    n = 0
    for a in results.attacks:
        m = a.metrics
        chance = m["chance_rank1"]
        n = m["n_mated"]
        attacks[a.name] = {"rank1": m["rank1"], "rank1_ci": list(m["rank1_ci"]), "advantage": m["advantage"],
                              "advantage_ci": list(m["advantage_ci"]), "n": m["n_mated"],
                              "rank5": m["rank5"], "auc": m["auc"]}
    strongest = None
    if attacks:
        name = max(attacks, key=lambda k: (attacks[k]["rank1"], attacks[k]["advantage_ci"][0]))
        strongest = {"name": name, **attacks[name]}
    est = (results.obfuscation or {}).get("estimate") or {}
    return {"strength": spec.strength, "spec": spec.label, "n_probes": n, "chance": chance,
            "n_identities": results.inputs.gallery["identities"],
            "attacks": attacks, "strongest": strongest,
            "not_run": [note for note in results.notes if " not run" in note],
            "detection_rate": results.detection["release"]["rate"],
            "estimate": {"method": est.get("method"), "strength": est.get("strength"),
                         "uncertainty": est.get("uncertainty"),  # the estimator's own: not calibrated at a point
                         "calibrated": "skipped" not in (est.get("calibration") or {"skipped": 1})} if est else None,
            "seconds": round(seconds, 1)}


def recommend(family: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    """The smallest strength whose strongest attack's advantage interval reaches zero.

    ``points`` are :func:`run_sweep`'s per-strength entries, sorted by strength. Every attack at a
    strength is scored on the same probes, so the strongest attack (highest rank-1) also has the
    highest lower bound; the test below takes the maximum lower bound over all attacks anyway.
    """
    param = METHODS.get(family, ("",))[0] or "strength"
    first = None
    for p in points:
        lows = [a["advantage_ci"][0] for a in p["attacks"].values() if not _nan(a["advantage_ci"][0])]
        if lows and max(lows) <= 0:
            first = p
            break
    if first is None:
        best = points[-1]["strongest"] if points and points[-1]["strongest"] else None
        tail = (f" At the strongest tested ({points[-1]['spec']}), {best['name']} still re-identifies "
                f"{best['rank1']:.1%} (95% CI {best['rank1_ci'][0]:.1%}-{best['rank1_ci'][1]:.1%}; "
                f"chance {points[-1]['chance']:.1%}).") if best else ""
        tested = ", ".join(f"{p['strength']:g}" for p in points)
        return {"family": family, "param": param, "strength": None, "spec": None, "attack": None,
                "statement": f"None of the tested {family} strengths ({tested}) "
                             f"brings every attack's advantage interval down to zero." + tail}
    later = [p for p in points if p["strength"] > first["strength"]
             and max(a["advantage_ci"][0] for a in p["attacks"].values()) > 0]
    s = first["strongest"]
    stmt = (f"{family} at {param} = {first['strength']:g} ({first['spec']}) is the smallest tested strength at "
            f"which the strongest attack ({s['name']}: rank-1 {s['rank1']:.1%}, 95% CI "
            f"{s['rank1_ci'][0]:.1%}-{s['rank1_ci'][1]:.1%}, chance {first['chance']:.1%}) is not "
            f"distinguishable from chance (advantage interval {s['advantage_ci'][0]:.2f} to "
            f"{s['advantage_ci'][1]:.2f}) with {first['n_probes']} probes; this is a bound at this sample "
            f"size against these attacks, not proof of anonymity.")
    if later:
        stmt += (" Not monotone: at " + ", ".join(p["spec"] for p in later) +
                 " the advantage interval is above zero again.")
    return {"family": family, "param": param, "strength": first["strength"], "spec": first["spec"],
            "attack": s["name"], "statement": stmt, "not_monotone_at": [p["strength"] for p in later]}


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _curve(families: dict[str, Any], attacks: list[str]) -> dict[str, Any]:
    """Plot-ready series: per family x (strengths), per attack y / lo / hi (rank-1 and Wilson CI)."""
    out = {}
    for fam, d in families.items():
        pts = d["points"]
        series = {}
        for name in attacks:
            ys = [p["attacks"].get(name) for p in pts]
            if all(y is None for y in ys):
                continue
            series[name] = {"rank1": [y["rank1"] if y else None for y in ys],
                            "lo": [y["rank1_ci"][0] if y else None for y in ys],
                            "hi": [y["rank1_ci"][1] if y else None for y in ys],
                            "advantage": [y["advantage"] if y else None for y in ys],
                            "advantage_lo": [y["advantage_ci"][0] if y else None for y in ys],
                            "advantage_hi": [y["advantage_ci"][1] if y else None for y in ys]}
        out[fam] = {"param": d["param"], "x": [p["strength"] for p in pts], "chance": [p["chance"] for p in pts],
                    "series": series, "recommended": d["recommendation"]["strength"],
                    "x_label": f"{fam} {d['param']} (pixels)" if fam != "noise" else "noise std (grey levels)",
                    "y_label": "rank-1 re-identification rate"}
    return out


def _face_scope_release(clear_release: Path, dest: Path, spec: ObfuscationSpec, boxes: dict[str, Any]) -> Path:
    """Obfuscate only the (expanded) face box of each clear release image into ``dest``."""
    from PIL import Image

    from .attacks.face import expand_box
    from .data.media import load_image
    from .obfuscation.spec import apply_obfuscation

    dest.mkdir(parents=True, exist_ok=True)
    with open(clear_release / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        img = load_image(clear_release / r["path"])
        box = boxes.get(r["path"])
        Image.fromarray(apply_obfuscation(img, spec, box=expand_box(box) if box else None)).save(dest / r["path"])
        r["obfuscation"] = spec.label
    with open(dest / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return dest


def _clear_face_boxes(release: Path, cache_dir: Path | None, *, jobs: int, progress: bool,
                      encoder: str) -> tuple[dict[str, Any], int]:
    """Largest detected face box per clear release image (None where no face is detected)."""
    from .data.media import sha256_file
    from .features.cache import FeatureCache, default_cache_dir
    from .features.faces import FaceParams, Task, extract_many, largest_face

    with open(release / "manifest.csv", newline="", encoding="utf-8") as f:
        names = [r["path"] for r in csv.DictReader(f)]
    tasks = [Task(str(release / n), sha256_file(release / n)) for n in names]
    got = extract_many(tasks, FaceParams(encoder=encoder), FeatureCache(cache_dir or default_cache_dir()),
                       jobs=jobs, progress=progress, label="sweep: clear probe faces")
    boxes: dict[str, Any] = {}
    missing = 0
    for n, t in zip(names, tasks):
        r = got[t.key]
        if isinstance(r, str) or r.n_detected == 0:
            boxes[n] = None
            missing += 1
            continue
        boxes[n] = tuple(int(v) for v in r.boxes[largest_face(r)])
    return boxes, missing


def run_sweep(gallery_dir: str | Path, *, families: Sequence[str] = ("blur", "pixelate"),
              strengths: Mapping[str, Iterable[float]] | Sequence[float] | None = None,
              attacks: Sequence[str] | None = None, n_calibration: int = 5, scope: str = "frame",
              cache_dir: str | Path | None = None, jobs: int = 1, seed: int = 0, progress: bool = True,
              encoder: str = "fast", work_dir: str | Path | None = None, anonymizer: str | None = None,
              anonymizer_timeout: float = 120.0, reuse_results: bool = True) -> dict[str, Any]:
    """Run the attacker ladder on obfuscations of increasing strength; return the privacy curve.

    Parameters
    ----------
    gallery_dir : folder of clear ``<identity>/<images>`` (the calibration set).
    families : obfuscation families to sweep (``blur``, ``pixelate``, ``box``, ``noise``, ``mask``).
    strengths : ``{family: [strengths]}`` (or a plain list with one family); default
        :data:`DEFAULT_STRENGTHS`.
    attacks : attack names (default: every registered face attack, the whole ladder).
    n_calibration : images per identity kept clear as the attacker's gallery; the others
        (at least one per identity) are obfuscated and attacked.
    scope : ``"frame"`` obfuscates the whole probe image; ``"face"`` only the face box detected
        in the clear probe (grown by a quarter on each side; images without a detected face are
        obfuscated whole and counted in ``result["split"]["no_face_detected"]``).
    cache_dir : feature cache (default: the user cache); shared by all strengths.
    jobs, seed, progress, encoder : as in :class:`auditkit.config.AuditConfig`.
    work_dir : where the obfuscated releases are written (default: a temporary folder, removed).
    anonymizer : the vendor's own tool as a template with ``{input}``, ``{output}`` and ``{s}``
        (issue 13): at each of ``strengths`` (a plain list) it makes the release from the clear
        probes and, in the audit, the attacker's gallery from the clear calibration images
        (:mod:`auditkit.sweep_vendor`); ``families`` and ``scope`` are then unused.
    anonymizer_timeout : seconds per image before the tool is killed.

    Returns
    -------
    dict with ``schema``, ``parameters``, ``split``, ``families`` (per family: ``param``,
    ``points`` (one per strength: ``strength``, ``spec``, ``n_probes``, ``chance``, ``attacks``
    {name: rank1, rank1_ci, advantage, advantage_ci, n, rank5, auc}, ``strongest``, ...) and
    ``recommendation``), ``curve`` (plot-ready series), ``recommendations`` (one statement per
    family) and ``runtime``.

    Long: the calibration split, the per-strength pipeline runs and the curve in one sequence (steps are calls; the locals are the split).
    """
    from .audit import run_pipeline
    from .config import AuditConfig, default_attacks
    from .demo import build_demo

    gallery_dir = Path(gallery_dir)
    if not gallery_dir.is_dir():
        raise ValueError(f"calibration gallery folder not found: {gallery_dir}")
    if n_calibration < 1:
        raise ValueError(f"n_calibration must be >= 1, got {n_calibration!r}")
    if scope not in ("frame", "face"):
        raise ValueError(f"scope must be 'frame' or 'face', got {scope!r}")
    if anonymizer is not None:
        from .sweep_vendor import vendor_plan

        plan = vendor_plan(anonymizer, strengths, anonymizer_timeout)
        scope = "frame"  # unused: the tool decides where it obfuscates
    else:
        plan = _strengths_for(tuple(families), strengths)
    attacks = tuple(attacks) if attacks else default_attacks()
    t0 = time.monotonic()
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="auditkit-sweep-")
        work = Path(tmp.name)
    else:
        work = Path(work_dir)
        work.mkdir(parents=True, exist_ok=True)
    try:
        split: dict[str, Any] = {}
        face_boxes: dict[str, Any] = {}
        clear_release = None
        if scope == "face":
            gal, clear_release = build_demo(work / "clear", faces=gallery_dir, spec=ObfuscationSpec("none"),
                                            n_gallery=n_calibration, seed=seed)
            face_boxes, missing = _clear_face_boxes(clear_release, Path(cache_dir) if cache_dir else None,
                                                    jobs=jobs, progress=progress, encoder=encoder)
            split["no_face_detected"] = missing
        fams: dict[str, Any] = {}
        from .progress import Progress

        prog = Progress("sweep: strengths", sum(len(v) for v in plan.values()), enabled=progress, unit="strengths")
        for fam, vals in plan.items():
            points = []
            for s in vals:
                tp = time.monotonic()
                d = work / f"{fam}_{s:g}"
                if anonymizer is not None:
                    from .sweep_vendor import vendor_point

                    spec, gal, rel, point_cfg = vendor_point(anonymizer, s, d, gallery_dir, n_calibration=n_calibration,
                                                             seed=seed, timeout=anonymizer_timeout, jobs=jobs,
                                                             progress=progress)
                else:
                    spec = ObfuscationSpec(fam, s)
                    point_cfg = {"obfuscation": spec.label, "obfuscation_scope": scope}
                    if scope == "frame":
                        gal, rel = build_demo(d, faces=gallery_dir, spec=spec, n_gallery=n_calibration, seed=seed)
                    else:
                        rel = _face_scope_release(clear_release, d / "release", spec, face_boxes)
                if progress:
                    sys.stderr.write(f"sweep: {spec.label} ...\n")
                cfg = AuditConfig.from_flat(release=rel, gallery=gal, out=d / "out", attacks=attacks, jobs=jobs,
                                            cache_dir=Path(cache_dir) if cache_dir else None, encoder=encoder,
                                            seed=seed, progress=progress, linkage=False, **point_cfg,
                                            reuse_results=reuse_results,
                                            population_sizes=(),  # no linkage, no projection per point
                                            calibrate_estimate=False)  # the point's obfuscation is known
                res = run_pipeline(cfg)
                pt = _point(res, spec, time.monotonic() - tp)
                if anonymizer is not None:  # the tool's runs: over the probes, and over the calibration gallery
                    pt["anonymizer"] = {"release": spec.release, "gallery": (res.obfuscation or {}).get("anonymizer")}
                points.append(pt)
                prog.update()
                if not split.get("probe_images"):
                    split.update({"identities": res.inputs.gallery["identities"],
                                  "calibration_images": res.inputs.gallery["n_files"],
                                  "probe_images": pt["n_probes"],
                                  "rule": f"per identity, {n_calibration} image(s) chosen with seed {seed} (fewer when "
                                          "the identity has fewer, so that at least one is attacked) form the clear "
                                          "gallery; the others are obfuscated and attacked (no image is both)"})
                if progress:
                    st = pt["strongest"]
                    sys.stderr.write(f"sweep: {spec.label}: strongest {st['name']} rank-1 {st['rank1']:.1%} "
                                     f"(chance {pt['chance']:.1%}) in {pt['seconds']:.0f}s\n")
            fams[fam] = {"param": METHODS.get(fam, ("",))[0] or "strength", "points": points,
                         "recommendation": recommend(fam, points)}
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {
        "schema": SWEEP_SCHEMA,
        "parameters": {"gallery": str(gallery_dir), "families": list(plan), "strengths": plan,
                       "attacks": list(attacks), "n_calibration": n_calibration, "scope": scope,
                       "anonymizer": anonymizer,
                       "seed": seed, "jobs": jobs, "encoder": encoder,
                       "cache_dir": str(cache_dir) if cache_dir else None},
        "split": split,
        "families": fams,
        "curve": _curve(fams, list(attacks)),
        "recommendations": [fams[f]["recommendation"]["statement"] for f in fams],
        "runtime": {"seconds": round(time.monotonic() - t0, 1)},
    }


def sweep_stage(config: AuditConfig, gallery: Gallery | None, spec: str | None, scope: str,
                notes: list[str]) -> dict[str, Any] | None:
    """The audit's sweep stage: the privacy curve on the gallery (issue 3), how strong the
    obfuscation would need to be (``spec``: the release's, for the "auto" family).

    Never aborts the audit it follows: when the gallery cannot be split, or the sweep fails on
    the inputs, a note says why and the audit's own results are kept."""
    from collections import Counter

    from .attacks.registry import FACE_ATTACKS
    from .data.inputs import InputError
    from .features.cache import default_cache_dir

    if gallery is None:
        notes.append("strength sweep not run: it needs a gallery of clear images (--gallery)")
        return None
    per_id = Counter(it.identity for it in gallery.items if it.file.kind == "image")
    counts = sorted(c for c in per_id.values() if c >= 2)
    if len(counts) < 2:
        notes.append("strength sweep not run: it needs at least two gallery identities with two or more "
                     "images each (one clear, one to obfuscate and attack)")
        return None
    fams = tuple(f for f in config.sweep.families if f != "auto")
    if "auto" in config.sweep.families:
        fam = spec.split(":")[0] if spec else None
        if fam in (None, "none", "mask"):
            fam = "blur"
        fams = fams + ((fam,) if fam not in fams else ())
    face_attacks = tuple(a for a in config.faces.attacks if a in FACE_ATTACKS)
    # half of each identity's gallery images stay clear (the attacker's), the rest are attacked
    n_cal = max(1, (counts[len(counts) // 2] + 1) // 2)
    notes.append(f"strength sweep: the gallery is split per identity into {n_cal} clear calibration image(s) and "
                 "obfuscated probes; no release image is used")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="auditkit-sweep-cache-") as tmp_cache:
        # --no-cache: a throw-away cache (the sweep re-uses features across strengths within the run)
        cache_dir = (config.run.cache_dir or default_cache_dir()) if config.run.use_cache else Path(tmp_cache)
        try:
            return run_sweep(gallery.root, families=fams, attacks=face_attacks or None, n_calibration=n_cal,
                             cache_dir=cache_dir, jobs=config.run.jobs, seed=config.run.seed,
                             progress=config.run.progress,
                             encoder=config.faces.encoder, scope=scope, reuse_results=config.run.reuse_results)
        except (InputError, ValueError) as e:
            notes.append(f"strength sweep not run: {e}")
            return None
