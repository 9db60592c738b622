"""Trajectories: sightings (camera, time) of tracks or subjects across cameras.

* Uniqueness given ``p`` known points (de Montjoye, Hidalgo, Verleysen, Blondel, "Unique in the
  Crowd: the privacy bounds of human mobility", Sci. Rep. 3, 2013): a point is a (camera, time
  bin); for a sampled trajectory, ``p`` of its points are drawn at random and the trajectory is
  unique when no other trajectory contains all of them. "Top locations" variant (Zang & Bolot,
  MobiCom 2011): the attacker knows the ``p`` cameras the person is seen at most often.
* Coarsening what-if: the same uniqueness for wider time bins (and merged cameras), and the
  smallest coarsening whose interval is below a target: the strength a release needs.
* Linkage of release tracks to an auxiliary table of known whereabouts (who was at which camera
  when): each known person is linked to the track(s) that match most of their points.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..attacks.tables import score_attack
from ..data.tables import LoadedTable, TableError, prepare_table, require_columns
from ..result import AttackResult
from ..scoring.stats import wilson_interval

__all__ = ["coarsening_curve", "load_sightings", "trajectory_audit", "trajectory_linkage", "trajectory_uniqueness"]

DEFAULT_BINS = ("1min", "5min", "15min", "1h", "6h", "1D")


def load_sightings(sightings: Any, *, unit_col: str | None = None, camera_col: str = "camera",
                   time_col: str = "timestamp", name: str = "sightings") -> pd.DataFrame:
    """Normalise a sightings table to columns ``unit`` (track or subject), ``camera``, ``time``.

    ``unit_col`` defaults to ``track`` when present (what a video release shows), else ``subject``. Times must parse as dates
    (any format :func:`~auditkit.data.tables.infer_column` accepts) or be numbers of seconds.
    Extra columns are kept (``subject`` is the ground truth of linkage when present). Rows
    without a time, unit or camera are dropped; ``out.attrs["dropped"]`` counts them.
    """
    from ..data.tables import load_table
    if isinstance(sightings, pd.DataFrame):
        t = prepare_table(sightings, name=name)
    elif isinstance(sightings, LoadedTable):
        t = sightings
    else:
        t = load_table(sightings, name=name)
    df = t.df
    if unit_col is None:
        unit_col = "track" if "track" in df.columns else ("subject" if "subject" in df.columns else None)
        if unit_col is None:
            raise TableError(f"table {name!r} needs a 'subject' or 'track' column; its columns are {list(df.columns)}")
    require_columns(t, [unit_col, camera_col, time_col], role="trajectory")
    tm = df[time_col]
    if pd.api.types.is_datetime64_any_dtype(tm):
        secs = (tm - pd.Timestamp(0)).dt.total_seconds()
    elif pd.api.types.is_numeric_dtype(tm):
        secs = tm.astype(float)
    else:
        raise TableError(f"column {time_col!r} of table {name!r} is not a date/time or a number of seconds "
                         f"(inferred {t.columns[time_col].kind}); e.g. {str(tm.dropna().iloc[0])!r}")
    out = pd.DataFrame({"unit": df[unit_col].astype(str), "camera": df[camera_col].astype(str), "time": secs})
    for extra in ("subject", "track"):
        if extra in df.columns and extra != unit_col:
            out[extra] = df[extra].astype(str)
    bad = out["time"].isna() | df[unit_col].isna() | df[camera_col].isna()
    if bad.any():
        out = out[~bad]
    out = out.reset_index(drop=True)
    out.attrs["dropped"] = int(bad.sum())
    return out


def _bin_seconds(b: str | float) -> float:
    if isinstance(b, (int, float)):
        return float(b)
    try:
        return pd.Timedelta(b).total_seconds()
    except ValueError as exc:
        raise TableError(f"time bin {b!r} is not a duration (allowed e.g. '30s', '15min', '1h', '1D')") from exc


def _points(s: pd.DataFrame, bin_s: float, camera_map: dict[str, str] | None) -> tuple[np.ndarray, np.ndarray, list]:
    cams = s["camera"] if camera_map is None else s["camera"].map(lambda c: camera_map.get(c, c))
    tb = np.floor(s["time"].to_numpy() / bin_s).astype(np.int64) if bin_s > 0 else np.zeros(len(s), np.int64)
    pt, _ = pd.factorize(pd.Series(list(zip(cams, tb))))
    unit, units = pd.factorize(s["unit"])
    pairs = np.unique(np.stack([unit, pt], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1], list(units)


def _unique_given(pairs_u: np.ndarray, pairs_p: np.ndarray, n_units: int, p: int, n_samples: int,
                  rng: np.random.Generator, *, random_points: bool) -> tuple[int, int]:
    """(unique, evaluated) over sampled units (or random point sets when ``random_points``)."""
    order = np.argsort(pairs_p, kind="stable")
    up, starts = np.unique(pairs_p[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    posting = {int(k): pairs_u[order[a:b]] for k, a, b in zip(up, starts, ends)}
    by_unit_order = np.argsort(pairs_u, kind="stable")
    uu, ustarts = np.unique(pairs_u[by_unit_order], return_index=True)
    uends = np.append(ustarts[1:], len(by_unit_order))
    unit_pts = {int(u): pairs_p[by_unit_order[a:b]] for u, a, b in zip(uu, ustarts, uends)}
    all_pts = np.array(list(posting.keys()))
    if random_points:
        if len(all_pts) < p:
            return 0, 0
        uniq = 0
        for _ in range(n_samples):
            pts = rng.choice(all_pts, size=p, replace=False)
            cand = posting[int(pts[0])]
            for q in pts[1:]:
                cand = np.intersect1d(cand, posting[int(q)], assume_unique=True)
                if len(cand) == 0:
                    break
            uniq += int(len(cand) == 1)
        return uniq, n_samples
    eligible = list(unit_pts)
    if not eligible:
        return 0, 0
    chosen = eligible if len(eligible) <= n_samples else list(rng.choice(eligible, size=n_samples, replace=False))
    uniq = 0
    for u in chosen:
        own = unit_pts[int(u)]
        pts = rng.choice(own, size=min(p, len(own)), replace=False)
        lists = sorted((posting[int(q)] for q in pts), key=len)
        cand = lists[0]
        for other in lists[1:]:
            cand = np.intersect1d(cand, other, assume_unique=True)
            if len(cand) <= 1:
                break
        uniq += int(len(cand) == 1)
    return uniq, len(chosen)


def _top_unique(s: pd.DataFrame, p: int, camera_map: dict[str, str] | None) -> tuple[int, int]:
    cams = s["camera"] if camera_map is None else s["camera"].map(lambda c: camera_map.get(c, c))
    counts = pd.DataFrame({"unit": s["unit"], "camera": cams}).value_counts().reset_index(name="n")
    counts = counts.sort_values(["unit", "n", "camera"], ascending=[True, False, True])
    top = counts.groupby("unit").head(p).groupby("unit")["camera"].apply(frozenset)
    top = top[top.map(len) >= p]
    holders_of = {cam: set(g) for cam, g in counts.groupby("camera")["unit"]}  # camera -> units seen there
    uniq = 0
    for tset in top.to_numpy():
        lists = sorted((holders_of[c] for c in tset), key=len)
        holders = set.intersection(*lists)
        uniq += int(len(holders) == 1)
    return uniq, len(top)


def trajectory_uniqueness(sightings: pd.DataFrame, *, p_values: Sequence[int] = (1, 2, 3, 4),
                          time_bin: str | float = "1h", n_samples: int = 1000,
                          camera_map: dict[str, str] | None = None, random_state: int = 0) -> dict[str, Any]:
    """Fraction of trajectories unique given ``p`` known points, random and top locations.

    ``sightings``: the output of :func:`load_sightings`. A trajectory with fewer than ``p``
    distinct points is attacked with all of them (so every trajectory counts at every ``p`` and
    every coarsening; ``fewer_points`` says how many had fewer than ``p``). Top locations are
    only defined for trajectories seen at ``p`` distinct cameras or more. Each rate carries
    its Wilson interval and ``n``; ``baseline`` is the fraction of ``p`` points drawn at random
    from all points that single out exactly one trajectory. The top-locations attack knows
    cameras only, so its own ``top_locations["baseline"]`` is the matching chance rate: the
    fraction of ``p`` distinct cameras drawn at random (uniformly among all cameras seen, as the
    random points are drawn among all points) held by exactly one trajectory.
    """
    rng = np.random.default_rng(random_state)
    rng_cams = np.random.default_rng([random_state, 1])  # own stream: the other rates stay as they were
    bin_s = _bin_seconds(time_bin)
    pu, pp, units = _points(sightings, bin_s, camera_map)
    cu, cp, _ = _points(sightings, 0, camera_map)  # time bin 0: a point is a camera alone
    rows = []
    for p in p_values:
        u, n = _unique_given(pu, pp, len(units), p, n_samples, rng, random_points=False)
        bu, bn = _unique_given(pu, pp, len(units), p, n_samples, rng, random_points=True)
        tu, tn = _top_unique(sightings, p, camera_map)
        cbu, cbn = _unique_given(cu, cp, len(units), p, n_samples, rng_cams, random_points=True)
        n_pts = np.bincount(pu, minlength=len(units))
        rows.append({"p": int(p), "n": n, "unique": u, "fewer_points": int(np.sum(n_pts < p)), "rate": u / n if n else math.nan,
                     "ci": wilson_interval(u, n), "baseline": bu / bn if bn else math.nan, "baseline_n": bn,
                     "top_locations": {"n": tn, "unique": tu, "rate": tu / tn if tn else math.nan,
                                       "ci": wilson_interval(tu, tn),
                                       "baseline": cbu / cbn if cbn else math.nan, "baseline_n": cbn}})
    n_points = np.bincount(pu, minlength=len(units))
    return {"time_bin": str(time_bin), "units": len(units), "points_per_unit_median": float(np.median(n_points)),
            "by_p": rows}


def coarsening_curve(sightings: pd.DataFrame, *, p: int = 4, bins: Sequence[str | float] = DEFAULT_BINS,
                     camera_maps: dict[str, dict[str, str]] | None = None, target: float = 0.05,
                     n_samples: int = 1000, random_state: int = 0) -> dict[str, Any]:
    """Uniqueness at ``p`` random points for each time bin (and camera grouping): the what-if.

    ``strength_needed`` is the finest time bin (per camera grouping) whose 95% upper bound on
    uniqueness is at most ``target``, or ``None`` when none of the tried bins reaches it.
    """
    levels = {"cameras as released": None, **(camera_maps or {})}
    curves = []
    for label, cmap in levels.items():
        pts = []
        needed = None
        for b in bins:
            rng = np.random.default_rng(random_state)
            pu, pp, units = _points(sightings, _bin_seconds(b), cmap)
            u, n = _unique_given(pu, pp, len(units), p, n_samples, rng, random_points=False)
            ci = wilson_interval(u, n)
            pts.append({"time_bin": str(b), "n": n, "rate": u / n if n else math.nan, "ci": ci})
            if needed is None and n and ci[1] <= target:
                needed = str(b)
        note = None
        if needed is None and pts and pts[-1]["n"]:
            note = (f"no tried coarsening brings the 95% upper bound on uniqueness to {target:.0%} or below "
                    f"(with n = {pts[-1]['n']} trajectories the bound cannot go below "
                    f"{wilson_interval(0, pts[-1]['n'])[1]:.1%} even with no unique one)")
        curves.append({"space": label, "points": pts, "strength_needed": needed, "note": note})
    return {"p": p, "target": target, "curves": curves}


def trajectory_linkage(release: pd.DataFrame, aux: pd.DataFrame, *, tolerance: str | float = "5min",
                       truth_col: str = "subject") -> AttackResult:
    """``linkage.trajectory``: link each person of ``aux`` (known whereabouts: unit = person,
    camera, time) to the release track(s) that match most of their points (same camera, times
    within ``tolerance``); ties are a uniform pick, scored in expectation.

    ``release`` needs the ground truth ``truth_col`` per sighting (release manifest ``subject``),
    ``aux`` its unit = the person. Baseline: a track drawn uniformly (succeeds with probability
    #tracks of the person / #tracks). Matching is a join on (camera, time bucket of width
    ``tolerance``) with the neighbouring buckets, never a cross join.
    """
    tol = _bin_seconds(tolerance)
    if truth_col not in release.columns:
        raise TableError(f"trajectory linkage needs the ground truth column {truth_col!r} in the release sightings")
    track_subject = release.groupby("unit")[truth_col].agg(lambda s: s.mode().iloc[0])
    tracks = track_subject.index.to_numpy()
    n_tracks = len(tracks)
    tracks_of = track_subject.value_counts()
    a = aux.reset_index(drop=True).assign(pid=lambda d: np.arange(len(d)))
    r = release[["unit", "camera", "time"]]
    rb = r.assign(b=np.floor(r["time"] / max(tol, 1e-9)).astype(np.int64))
    ab = a.assign(b=np.floor(a["time"] / max(tol, 1e-9)).astype(np.int64))
    parts = []
    for off in (-1, 0, 1):
        m = ab.assign(b=ab["b"] + off).merge(rb, on=["camera", "b"], suffixes=("_a", "_r"))
        parts.append(m[np.abs(m["time_a"] - m["time_r"]) <= tol][["pid", "unit_a", "unit_r"]])
    matched = pd.concat(parts).drop_duplicates()
    scores = matched.groupby(["unit_a", "unit_r"])["pid"].nunique().rename("score").reset_index()
    persons = a["unit"].unique()
    probs = []
    base = []
    for person in persons:
        own = float(tracks_of.get(person, 0))
        base.append(own / n_tracks)
        srow = scores[scores["unit_a"] == person]
        if len(srow) == 0:
            probs.append(own / n_tracks)
            continue
        best = srow[srow["score"] == srow["score"].max()]["unit_r"]
        probs.append(float(np.mean(track_subject.loc[best].to_numpy() == person)))
    probs_a = np.array(probs)
    baseline = float(np.mean(base)) if base else 0.0
    return score_attack(name="linkage.trajectory", criterion="linkability", cue="trajectory",
                        successes=float(probs_a.sum()), n=len(persons), baseline=baseline, n_identities=n_tracks,
                        identification=True, details={"tolerance_s": tol, "aux_points": len(a),
                                                      "tracks": n_tracks,
                                                      "persons_with_any_match": int(scores["unit_a"].nunique())})


def trajectory_audit(sightings: Any, *, aux: Any = None, unit_col: str | None = None, camera_col: str = "camera",
                     time_col: str = "timestamp", p_values: Sequence[int] = (1, 2, 3, 4), time_bin: str = "1h",
                     bins: Sequence[str] = DEFAULT_BINS, camera_maps: dict[str, dict[str, str]] | None = None,
                     target: float = 0.05, tolerance: str = "5min", n_samples: int = 1000,
                     random_state: int = 0) -> dict[str, Any]:
    """Trajectory audit of a release's sightings: uniqueness, coarsening what-if, linkage.

    Returns ``{"trajectories": {...}, "attacks": [AttackResult, ...], "skipped": [...]}``. The
    attacks are ``singling_out.trajectory`` (random points, at the largest ``p``),
    ``singling_out.trajectory_top`` (top locations, scored against random camera sets, see
    :func:`trajectory_uniqueness`) and, with ``aux``, ``linkage.trajectory``. ``skipped`` also
    says how many sightings were ignored for lack of a time, camera or unit.
    """
    s = load_sightings(sightings, unit_col=unit_col, camera_col=camera_col, time_col=time_col)
    uniq = trajectory_uniqueness(s, p_values=p_values, time_bin=time_bin, n_samples=n_samples,
                                 random_state=random_state)
    curve = coarsening_curve(s, p=max(p_values), bins=bins, camera_maps=camera_maps, target=target,
                             n_samples=n_samples, random_state=random_state)
    attacks: list[AttackResult] = []
    skipped: list[str] = []
    if s.attrs.get("dropped"):
        skipped.append(f"{s.attrs['dropped']} sightings without time, camera or unit ignored")
    last = uniq["by_p"][-1]
    n_units = uniq["units"]
    if last["n"]:
        base = last["baseline"] if not math.isnan(last["baseline"]) else 0.0
        attacks.append(score_attack(name="singling_out.trajectory", criterion="singling_out", cue="trajectory",
                                    successes=last["unique"], n=last["n"], baseline=base, n_identities=n_units,
                                    details={"p": last["p"], "time_bin": str(time_bin), "mode": "random points"}))
        top = last["top_locations"]
        if top["n"]:
            top_base = top["baseline"] if not math.isnan(top["baseline"]) else 0.0
            attacks.append(score_attack(
                name="singling_out.trajectory_top", criterion="singling_out", cue="trajectory",
                successes=top["unique"], n=top["n"], baseline=top_base, n_identities=n_units,
                details={"p": last["p"], "mode": "top locations",
                         "baseline": (f"share of {top['baseline_n']} random sets of {last['p']} distinct cameras "
                                      "(cameras only, drawn uniformly among all cameras seen) held by exactly "
                                      "one trajectory"),
                         "baseline_n": top["baseline_n"]}))
    else:
        skipped.append(f"singling_out.trajectory: no trajectory has {last['p']} distinct points")
    if aux is not None:
        a = load_sightings(aux, camera_col=camera_col, time_col=time_col, name="aux whereabouts")
        if a.attrs.get("dropped"):
            skipped.append(f"aux whereabouts: {a.attrs['dropped']} sightings without time, camera or unit ignored")
        truth = "subject" if "subject" in s.columns else None
        if truth is None:
            skipped.append("linkage.trajectory: the release sightings have no 'subject' ground truth beside the "
                           "track, so links cannot be scored")
        else:
            attacks.append(trajectory_linkage(s, a, tolerance=tolerance, truth_col=truth))
    return {"trajectories": {"uniqueness": uniq, "coarsening": curve, "random_state": random_state},
            "attacks": attacks, "skipped": skipped}


def sightings_from_boxes(boxes: pd.DataFrame, *, fps: float, frame_size: tuple[int, int], grid: tuple[int, int] = (4, 3),
                         camera: str = "camera", unit_col: str = "track", frame_col: str = "frame",
                         box_cols: Sequence[str] = ("x", "y", "w", "h"), camera_col: str | None = None
                         ) -> pd.DataFrame:
    """Sightings from person boxes of a video release: one row per box, ``camera`` = camera and zone.

    A box's zone is the cell of a ``grid`` = (columns, rows) over the frame that holds its foot
    point (bottom centre), so trajectories inside one camera have a spatial part; ``timestamp``
    is ``frame / fps`` seconds. Feed the result to :func:`trajectory_audit` (with
    ``camera_maps=zone_maps(...)`` for the space-coarsening what-if).
    """
    if fps <= 0:
        raise TableError(f"fps must be > 0, got {fps!r}")
    require_columns(boxes, [unit_col, frame_col, *box_cols], role="box", name="boxes")
    x, y, w, h = (pd.to_numeric(boxes[c], errors="coerce").to_numpy(float) for c in box_cols)
    W, H = frame_size
    gx = np.clip(((x + w / 2) / W * grid[0]).astype(int), 0, grid[0] - 1)
    gy = np.clip(((y + h) / H * grid[1]).astype(int), 0, grid[1] - 1)
    cams = boxes[camera_col].astype(str).to_numpy() if camera_col else np.full(len(boxes), camera)
    zone = [f"{c}:{a},{b}" for c, a, b in zip(cams, gx, gy)]
    out = pd.DataFrame({"track": boxes[unit_col].astype(str).to_numpy(), "camera": zone,
                        "timestamp": pd.to_numeric(boxes[frame_col]).to_numpy(float) / fps})
    if "subject" in boxes.columns:
        out["subject"] = boxes["subject"].astype(str).to_numpy()
    return out


def zone_maps(sightings: pd.DataFrame, grid: tuple[int, int], coarser: Sequence[tuple[int, int]]
              ) -> dict[str, dict[str, str]]:
    """Camera maps merging the zones of :func:`sightings_from_boxes` into coarser grids
    (``(1, 1)`` = the whole camera view), for :func:`coarsening_curve`'s space axis."""
    maps: dict[str, dict[str, str]] = {}
    for cg in coarser:
        m = {}
        for z in pd.unique(sightings["camera"]):
            cam, _, cell = str(z).rpartition(":")
            a, b = (int(v) for v in cell.split(","))
            m[z] = f"{cam}:{a * cg[0] // grid[0]},{b * cg[1] // grid[1]}"
        maps[f"zones {cg[0]}x{cg[1]}"] = m
    return maps
