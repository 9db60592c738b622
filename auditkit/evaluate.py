"""Standard-protocol evaluations of the body-cue attacks, so a reader knows how strong they are.

- :func:`evaluate_reid`: two-camera person re-identification (VIPeR protocol: random halves of
  the identities, the metric trained on one half and tested on the other with one camera as
  probe and the other as gallery, repeated; CMC and mAP with their spread).
- :func:`evaluate_gait`: gallery vs probe gait sets (USF HumanID protocol), closed-set rank-k
  on probes whose subject is in the gallery, open-set figures for the others (impostors).

Both return a plain dict with an :class:`~auditkit.result.AttackResult` under ``"attack"``,
ready for results.json.
"""
from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .data.media import MediaError, load_image
from .features.appearance import DESCRIPTOR_VERSION, AppearanceMetric, appearance_descriptor
from .features.gait import GEI_SIZE, GaitModel, gait_energy_image, load_sequences
from .result import AttackResult, Skipped
from .scoring.metrics import chance_rank_k, cmc_curve, identification_metrics, rank_k_score
from .scoring.scores import ScoreMatrix
from .scoring.stats import advantage, advantage_interval, wilson_interval

__all__ = ["evaluate_gait", "evaluate_reid", "read_reid_manifest"]

_CMC_MAX = 50


def read_reid_manifest(manifest_csv: str | Path) -> list[dict[str, str]]:
    """Rows of a re-identification manifest (columns ``path``, ``subject``, ``camera``)."""
    p = Path(manifest_csv)
    if not p.is_file():
        raise FileNotFoundError(f"manifest {p} does not exist")
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"path", "subject", "camera"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"manifest {p} lacks column(s) {sorted(missing)}; required: "
                             f"path, subject, camera (found {reader.fieldnames})")
        rows = [dict(r) for r in reader]
    if not rows:
        raise ValueError(f"manifest {p} has no rows")
    return rows


def _spread(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


def evaluate_reid(manifest_csv: str | Path, *, repeats: int = 10, random_state: int = 0,
                  probe_camera: str | None = None, max_subjects: int | None = None,
                  protocol: str = "published", distractor_subjects: int = 0,
                  metric_factory: Callable[[int], Any] | None = None,
                  descriptor: Callable[[np.ndarray], np.ndarray] | None = None,
                  name: str = "appearance") -> dict[str, Any]:
    """Random half-identity splits on a two-camera set (e.g. VIPeR: 316 train / 316 test).

    Parameters
    ----------
    manifest_csv : CSV with ``path`` (relative to the manifest's folder), ``subject``,
        ``camera``; exactly two distinct cameras.
    repeats : number of random splits (the literature's VIPeR figure averages 10).
    random_state : seed of the splits (and of the metric).
    probe_camera : camera used as probe; default the first in sorted order (``cam_a``).
    max_subjects : use a random subset of this many subjects (reduced protocol for tests).
    protocol : ``"published"`` (default): the gallery holds the test identities *and distractors*,
        as the published protocols have it: every subject seen by the gallery camera only (PRID
        2011: 100 test probes from camera A against 649 camera-B identities, the 100 plus 549
        seen by B alone), and the ``distractor_subjects``. ``"shared"``: the gallery holds the
        test identities only (distractors refused). On VIPeR and CUHK01, where everyone is seen
        by both cameras, the two agree unless ``distractor_subjects`` is given.
    distractor_subjects : in each split, this many subjects seen by both cameras are drawn at
        random before the train/test halves, kept out of training and testing, and only their
        gallery-camera images join the gallery (distractors for manifests without gallery-only
        subjects).
    metric_factory : ``seed -> object with fit(X, y) and similarity(P, G)``; default
        :class:`~auditkit.features.appearance.AppearanceMetric` (XQDA).
    descriptor : ``image -> vector``; default
        :func:`~auditkit.features.appearance.appearance_descriptor`.
    name : the returned attack's name (and cue).

    Returns
    -------
    dict with the protocol, per-split figures, their spread (mean/std/min/max), the mean CMC,
    the pooled rank-1 with its Wilson interval, skipped files, and ``"attack"``: an
    :class:`AttackResult` (name ``appearance``). Its ``rank1_ci`` is the Wilson interval of
    the mean rank-1 with n = probes per split (conservative: the splits reuse the same
    people, so pooling them as independent trials would overstate the precision; the pooled
    interval is given as ``rank1_ci_pooled`` for comparison with the literature).

    Long: the VIPeR protocol's split loop with its per-split and pooled figures kept together, so the protocol reads top to bottom.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats!r}")
    if protocol not in ("published", "shared"):
        raise ValueError(f"protocol must be 'published' or 'shared', got {protocol!r}")
    if distractor_subjects < 0 or (distractor_subjects and protocol == "shared"):
        raise ValueError(f"distractor_subjects must be >= 0 and needs protocol 'published', got "
                         f"{distractor_subjects!r} with protocol {protocol!r}")
    manifest_csv = Path(manifest_csv)
    rows = read_reid_manifest(manifest_csv)
    cams = sorted({r["camera"] for r in rows})
    if len(cams) != 2:
        raise ValueError(f"manifest {manifest_csv} must have exactly two cameras, got {cams}")
    if probe_camera is None:
        probe_camera = cams[0]
    if probe_camera not in cams:
        raise ValueError(f"probe_camera {probe_camera!r} is not one of the cameras {cams}")
    gallery_camera = cams[1] if probe_camera == cams[0] else cams[0]
    rng = np.random.default_rng(random_state)

    by_subj: dict[str, dict[str, list[int]]] = {}
    for i, r in enumerate(rows):
        by_subj.setdefault(r["subject"], {}).setdefault(r["camera"], []).append(i)
    both = sorted(s for s, d in by_subj.items() if probe_camera in d and gallery_camera in d)
    # the published protocol's fixed distractors: people the gallery camera saw and the probe camera did not
    gallery_only = sorted(s for s, d in by_subj.items() if set(d) == {gallery_camera}) \
        if protocol == "published" else []
    skipped: list[Skipped] = [Skipped(rows[i]["path"], f"subject {s!r} is seen by one camera only", "protocol")
                              for s, d in sorted(by_subj.items()) if s not in both and s not in gallery_only
                              for idxs in d.values() for i in idxs]
    if max_subjects is not None:
        if max_subjects < 4:
            raise ValueError(f"max_subjects must be >= 4, got {max_subjects!r}")
        if max_subjects < len(both):
            both = sorted(rng.choice(both, size=max_subjects, replace=False).tolist())

    # descriptors, once per image
    base = manifest_csv.parent
    feats: dict[int, np.ndarray] = {}
    from .progress import Progress

    prog = Progress("evaluate reid: appearance descriptors",
                    sum(len(by_subj[s].get(c, ())) for s in both + gallery_only for c in (probe_camera, gallery_camera)),
                    unit="images")
    for s in both + gallery_only:
        for cam in (probe_camera, gallery_camera):
            for i in by_subj[s].get(cam, ()):
                prog.update()
                try:
                    feats[i] = (descriptor or appearance_descriptor)(load_image(base / rows[i]["path"]))
                except (MediaError, ValueError) as e:
                    skipped.append(Skipped(rows[i]["path"], str(e), "appearance"))
    usable = [s for s in both
              if any(i in feats for i in by_subj[s][probe_camera])
              and any(i in feats for i in by_subj[s][gallery_camera])]
    fixed_distractors = [s for s in gallery_only if any(i in feats for i in by_subj[s][gallery_camera])]
    if len(usable) - distractor_subjects < 4:
        raise ValueError(f"need at least 4 subjects seen by both cameras with readable images besides the "
                         f"{distractor_subjects} distractor subject(s), got {len(usable)} in {manifest_csv}")
    n_train = (len(usable) - distractor_subjects) // 2
    if metric_factory is None:
        def metric_factory(seed: int) -> AppearanceMetric:
            return AppearanceMetric(random_state=seed)

    splits: list[dict[str, Any]] = []
    cmcs = []
    hits_pooled, n_pooled = 0.0, 0
    for rep in range(repeats):
        perm = rng.permutation(len(usable))
        drawn = [usable[j] for j in np.sort(perm[:distractor_subjects])]
        perm = perm[distractor_subjects:]
        train = [usable[j] for j in np.sort(perm[:n_train])]
        test = [usable[j] for j in np.sort(perm[n_train:])]
        gallery_ids = test + drawn + fixed_distractors
        tr_idx = [i for s in train for cam in (probe_camera, gallery_camera)
                  for i in by_subj[s][cam] if i in feats]
        X_tr = np.stack([feats[i] for i in tr_idx])
        y_tr = [rows[i]["subject"] for i in tr_idx]
        metric = metric_factory(int(rng.integers(2 ** 31)))
        metric.fit(X_tr, y_tr)
        p_idx = [i for s in test for i in by_subj[s][probe_camera] if i in feats]
        g_idx = [i for s in gallery_ids for i in by_subj[s][gallery_camera] if i in feats]
        sim = metric.similarity(np.stack([feats[i] for i in p_idx]), np.stack([feats[i] for i in g_idx]))
        # one column per gallery identity: its best-matching gallery image
        col_of = {s: j for j, s in enumerate(gallery_ids)}
        g_col = np.array([col_of[rows[i]["subject"]] for i in g_idx])
        scores = np.full((len(p_idx), len(gallery_ids)), -np.inf)
        for j in range(len(gallery_ids)):
            scores[:, j] = sim[:, g_col == j].max(axis=1)
        sm = ScoreMatrix(scores, [rows[i]["path"] for i in p_idx], list(gallery_ids),
                         [rows[i]["subject"] for i in p_idx])
        m = identification_metrics(sm, max_cmc=_CMC_MAX)
        r20, _ = rank_k_score(sm, k=20)
        cmc = cmc_curve(sm, max_rank=_CMC_MAX)
        cmcs.append(cmc)
        hits_pooled += m["rank1"] * m["n_mated"]
        n_pooled += m["n_mated"]
        splits.append({"repeat": rep, "n_train_subjects": len(train), "n_test_subjects": len(test),
                       "n_distractors": len(gallery_ids) - len(test),
                       "n_probes": m["n_mated"], "n_identities": len(gallery_ids), "rank1": m["rank1"],
                       "rank1_ci": m["rank1_ci"], "rank5": m["rank5"], "rank10": m["rank10"],
                       "rank20": r20, "map": m["map"], "auc": m["auc"], "eer": m["eer"],
                       "chance_rank1": m["chance_rank1"]})

    summary = {k: _spread([s[k] for s in splits])
               for k in ("rank1", "rank5", "rank10", "rank20", "map", "auc", "eer")}
    n_test = splits[0]["n_identities"]
    n_probes = splits[0]["n_probes"]
    chance1 = chance_rank_k(n_test)
    r1 = summary["rank1"]["mean"]
    ci = wilson_interval(r1 * n_probes, n_probes)
    pooled = hits_pooled / n_pooled
    pooled_ci = wilson_interval(hits_pooled, n_pooled)
    mean_cmc = np.mean(np.stack(cmcs), axis=0)
    metrics = {
        "rank1": r1, "rank1_ci": ci, "rank1_std": summary["rank1"]["std"],
        "rank1_min": summary["rank1"]["min"], "rank1_max": summary["rank1"]["max"],
        "rank1_pooled": pooled, "rank1_ci_pooled": pooled_ci,
        "rank5": summary["rank5"]["mean"], "rank10": summary["rank10"]["mean"],
        "rank20": summary["rank20"]["mean"], "map": summary["map"]["mean"],
        "map_std": summary["map"]["std"], "auc": summary["auc"]["mean"], "eer": summary["eer"]["mean"],
        "chance_rank1": chance1, "chance_rank5": min(5, n_test) / n_test,
        "advantage": advantage(r1, chance1), "advantage_ci": advantage_interval(ci, chance1),
        "n_probes_per_split": n_probes, "repeats": repeats,
    }
    notes = [
        (f"Protocol: {len(usable)} subjects seen by both cameras; {repeats} random splits of "
        f"{n_train} training / {len(usable) - distractor_subjects - n_train} test subjects (seed {random_state}); "
        f"metric learned on the training subjects only; probe camera {probe_camera!r}, "
        f"gallery camera {gallery_camera!r}."),
        (f"Gallery ({protocol} protocol): the {len(usable) - distractor_subjects - n_train} test identities"
         + (f" and {len(fixed_distractors)} seen by the gallery camera only" if fixed_distractors else "")
         + (f" and {distractor_subjects} distractor subjects drawn per split (out of training and testing)"
            if distractor_subjects else "")
         + f": {n_test} identities, chance rank-1 {chance1:.2%}."),
        (f"rank1 is the mean over splits (std {summary['rank1']['std']:.3f}, range "
        f"{summary['rank1']['min']:.3f}-{summary['rank1']['max']:.3f}); its interval is Wilson "
        f"with n = {n_probes} probes (one split), since the splits reuse the same people."),
    ]
    if descriptor is None:
        notes.append(f"Descriptor {DESCRIPTOR_VERSION} (LOMO max-occurrence HSV + SILTP, LAB stripes); metric XQDA.")
    if skipped:
        notes.append(f"{len(skipped)} file(s) not used (see skipped).")
    attack = AttackResult(name=name, cue="appearance", criterion="singling_out",
                          n_probes=n_probes, n_identities=n_test, metrics=metrics,
                          cmc=mean_cmc.tolist(), notes=notes,
                          details={"protocol": "reid_random_half_splits", "splits": splits})
    return {"protocol": {"name": "reid_random_half_splits", "manifest": str(manifest_csv),
                         "repeats": repeats, "random_state": random_state,
                         "probe_camera": probe_camera, "gallery_camera": gallery_camera,
                         "n_subjects": len(usable), "n_train_subjects": n_train,
                         "n_test_subjects": len(usable) - distractor_subjects - n_train,
                         "gallery": protocol, "n_gallery_only_distractors": len(fixed_distractors),
                         "n_distractor_subjects": distractor_subjects, "n_gallery_identities": n_test},
            "splits": splits, "summary": summary, "cmc": mean_cmc.tolist(),
            "rank1_pooled": pooled, "rank1_ci_pooled": pooled_ci,
            "skipped": skipped, "attack": attack}


def _geis(seqs, skipped: list[Skipped], size: tuple[int, int]) -> tuple[np.ndarray, list]:
    out, kept = [], []
    for s in seqs:
        try:
            out.append(gait_energy_image(s.frames, size=size))
            kept.append(s)
        except ValueError as e:
            skipped.append(Skipped(s.sequence, str(e), "gait"))
    if not out:
        return np.zeros((0, *size), np.float32), kept
    return np.stack(out), kept


def evaluate_gait(gallery_dir: str | Path, probe_dir: str | Path, *, random_state: int = 0,
                  pca_variance: float = 0.95, size: tuple[int, int] = GEI_SIZE,
                  frame_width: int = 22) -> dict[str, Any]:
    """Gallery vs probe gait evaluation (USF HumanID style).

    Parameters
    ----------
    gallery_dir, probe_dir : folders in a layout :func:`auditkit.features.gait.load_sequences`
        reads (``<subject>/<sequence>/<frame>.png`` or ``<subject>/<strip>.png``).
    random_state : seed passed to the model.
    pca_variance, size, frame_width : passed to :class:`GaitModel`,
        :func:`gait_energy_image` and the loader.

    Returns
    -------
    dict with counts, the closed-set figures over probes whose subject is in the gallery
    (rank-1/5 with Wilson intervals and chance), open-set figures for the probes whose
    subject is not (impostors: detection-and-identification rate at a false-positive
    identification rate, when any), skipped inputs, and ``"attack"`` (name ``gait``).
    """
    skipped: list[Skipped] = []
    g_seqs, sk = load_sequences(gallery_dir, frame_width=frame_width)
    skipped += sk
    p_seqs, sk = load_sequences(probe_dir, frame_width=frame_width)
    skipped += sk
    G, g_seqs = _geis(g_seqs, skipped, size)
    P, p_seqs = _geis(p_seqs, skipped, size)
    if len({s.subject for s in g_seqs}) < 2:
        raise ValueError(f"gallery {gallery_dir} needs sequences of at least 2 subjects, "
                         f"got {len({s.subject for s in g_seqs})}")
    if len(p_seqs) == 0:
        raise ValueError(f"probe folder {probe_dir} holds no usable gait sequence")
    model = GaitModel(pca_variance=pca_variance, random_state=random_state)
    model.fit(G, [s.subject for s in g_seqs])
    sm = ScoreMatrix(model.similarity(P), [s.sequence for s in p_seqs], list(model.classes_),
                     [s.subject for s in p_seqs])
    m = identification_metrics(sm, max_cmc=_CMC_MAX)
    r20, _ = rank_k_score(sm, k=20)
    m["rank20"] = r20
    n_mated, n_imp = m["n_mated"], m["n_non_mated"]
    impostor_subjects = sorted({s.subject for s in p_seqs} - set(model.classes_))
    open_set: dict[str, Any] = {"n_impostor_probes": n_imp, "impostor_subjects": impostor_subjects,
                                "dir_at_fpir": m["open_set"]}
    if n_imp:
        top = sm.scores[~sm.mated_mask()].max(axis=1)
        open_set["impostor_top_score"] = _spread(top.tolist())
        mated_top = sm.scores[sm.mated_mask()].max(axis=1)
        open_set["mated_top_score"] = _spread(mated_top.tolist()) if n_mated else None
    notes = [
        (f"Gallery {len(g_seqs)} sequences of {sm.n_identities} subjects; probe {len(p_seqs)} "
        f"sequences ({n_mated} of gallery subjects, {n_imp} of subjects absent from the "
        f"gallery, scored as impostors only). Each sequence is scored on its own."),
        (f"GEI {size[0]}x{size[1]}; PCA keeping {pca_variance:.0%} of the variance "
        f"({model.n_pca_} components) then LDA, fitted on the gallery only; cosine similarity "
        "to each gallery subject's mean."),
    ]
    if n_mated == 0:
        notes.append("No probe subject is in the gallery: no closed-set rank can be scored.")
    attack = AttackResult(name="gait", cue="gait", criterion="singling_out", n_probes=sm.n_probes,
                          n_identities=sm.n_identities, metrics=m, cmc=m["cmc"], notes=notes,
                          details={"protocol": "gait_gallery_vs_probe", "open_set": open_set})
    return {"protocol": {"name": "gait_gallery_vs_probe", "gallery": str(gallery_dir),
                         "probe": str(probe_dir), "random_state": random_state,
                         "pca_variance": pca_variance, "gei_size": list(size),
                         "n_pca_components": model.n_pca_},
            "n_gallery_sequences": len(g_seqs), "n_gallery_subjects": sm.n_identities,
            "n_probe_sequences": len(p_seqs), "n_mated": n_mated,
            "rank1": m["rank1"], "rank1_ci": m["rank1_ci"], "rank5": m["rank5"],
            "rank5_ci": m["rank5_ci"], "chance_rank1": m["chance_rank1"],
            "chance_rank5": m["chance_rank5"], "map": m["map"], "open_set": open_set,
            "skipped": skipped, "score_matrix": sm, "attack": attack}

