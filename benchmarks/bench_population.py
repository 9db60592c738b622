"""Projected vs measured rank-1 when distractor identities are added to the gallery.

    AUDITKIT_CACHE_DIR=/tmp/cache-wt14 .venv/bin/python benchmarks/bench_population.py [--boot 200]

Two experiments, face.naive-style matching (auditkit's face encodings, largest face, each
identity's best gallery match by Euclidean distance: ``identity_scores``):

* **LFW -> LFW**: 40 LFW identities with >= 6 images (seeded choice) from
  ``lfw_gray_crops_dev``; 1 gallery image each (``--gallery-images``), the rest are probes. Rank-1 is measured with
  the 40 identities, projected (:func:`auditkit.scoring.population.project_population`) to 40+K
  identities, then measured with K distractor identities (as many gallery images each, drawn from the
  other 398 LFW identities; for K < 398 the mean over 5 seeded draws) added to the gallery.
* **AT&T -> LFW**: the 40 AT&T/ORL subjects (1 gallery image, 9 probes each) with LFW
  distractors: the domains differ (AT&T: 92x112 grey studio photos; LFW: news photos), so the
  added impostors are less like the probes than AT&T's own impostors are.

Encodings go through auditkit's feature cache (``AUDITKIT_CACHE_DIR``), so a second run is fast.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import find_dataset

N_GALLERY = 1  # gallery images per identity (--gallery-images)
N_TARGETS = 40
DRAWS = 5


def encode(files: list[Path]) -> dict[Path, np.ndarray]:
    """Largest-face encoding of each file (auditkit's extractor and cache); failures dropped."""
    from auditkit.features.cache import FeatureCache, default_cache_dir
    from auditkit.features.faces import FaceParams, Task, extract_many, largest_face

    tasks = {f: Task(str(f), hashlib.sha256(f.read_bytes()).hexdigest()) for f in files}
    res = extract_many(tasks.values(), FaceParams(), FeatureCache(default_cache_dir()), progress=True,
                       label="bench_population")
    out = {}
    for f, t in tasks.items():
        r = res[t.key]
        if not isinstance(r, str):
            out[f] = r.encodings[largest_face(r)]
    return out


def score_matrix(enc: dict, probes: list[tuple[Path, str]], gallery: list[tuple[Path, str]]):
    from auditkit.attacks.base import identity_scores
    from auditkit.scoring.scores import ScoreMatrix

    P = np.array([enc[p] for p, _ in probes])
    G = np.array([enc[g] for g, _ in gallery])
    s, ids = identity_scores(P, G, [lab for _, lab in gallery])
    return ScoreMatrix(s, [str(p) for p, _ in probes], ids, [lab for _, lab in probes])


def images(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".png", ".pgm"))


def experiment(name: str, targets: dict[str, list[Path]], distractors: dict[str, list[Path]],
               ks: list[int], n_boot: int) -> list[str]:
    from auditkit.scoring.metrics import rank_k_score
    from auditkit.scoring.population import project_population
    from auditkit.scoring.stats import wilson_interval

    files = [f for v in targets.values() for f in v] + [f for v in distractors.values() for f in v[:N_GALLERY]]
    enc = encode(files)
    gallery = [(f, lab) for lab, v in targets.items() for f in v[:N_GALLERY] if f in enc]
    probes = [(f, lab) for lab, v in targets.items() for f in v[N_GALLERY:] if f in enc]
    dgal = {lab: [(f, lab) for f in v[:N_GALLERY] if f in enc] for lab, v in distractors.items()}
    dgal = {k: v for k, v in dgal.items() if v}
    sm = score_matrix(enc, probes, gallery)
    m = sm.n_identities
    proj = project_population(sm, [m + k for k in ks] + [1e3, 1e5, 1e7, 1.7e8], n_boot=n_boot, seed=0)
    r0, n = rank_k_score(sm, k=1)
    lo0, hi0 = wilson_interval(r0 * n, n)
    mp = proj["measured"]
    lines = [f"### {name}", "",
             f"{m} identities, {n} probes, {len(gallery)} gallery images; {len(dgal)} distractor identities available; "
             f"tail: u={proj['tail_model']['threshold']:.4f}, xi={proj['tail_model']['shape']:.3f}, "
             f"sigma={proj['tail_model']['scale']:.4f}, {proj['tail_model']['n_exceedances']} exceedances of "
             f"{proj['n_impostor']} impostor scores; {proj['n_boot']} bootstrap replicates", "",
             "| gallery N | measured rank-1 [95% Wilson] | projected rank-1 [95% bootstrap] | projected DIR@FPIR=1% | "
             "chance |", "|---|---|---|---|---|",
             f"| {m} (audited) | {r0:.3f} [{lo0:.3f}, {hi0:.3f}] | {mp['projected_rank1']:.3f} "
             f"[{mp['projected_rank1_ci'][0]:.3f}, {mp['projected_rank1_ci'][1]:.3f}] | | {1 / m:.4f} |"]
    names = sorted(dgal)
    for i, k in enumerate(ks):
        rng = np.random.default_rng(k)
        draws = 1 if k >= len(names) else DRAWS
        rates = []
        for _ in range(draws):
            pick = names if k >= len(names) else list(rng.choice(names, k, replace=False))
            smk = score_matrix(enc, probes, gallery + [x for lab in pick for x in dgal[lab]])
            rates.append(rank_k_score(smk, k=1)[0])
        rk = float(np.mean(rates))
        lo, hi = wilson_interval(rk * n, n)
        pr, (plo, phi) = proj["rank1"][i], proj["rank1_ci"][i]
        d, (dlo, dhi) = proj["dir"][i], proj["dir_ci"][i]
        inside = "inside" if plo <= rk <= phi else "OUTSIDE"
        lines.append(f"| {m + k} (+{k} distractors{'' if draws == 1 else f', mean of {draws} draws'}) | "
                     f"{rk:.3f} [{lo:.3f}, {hi:.3f}] | {pr:.3f} [{plo:.3f}, {phi:.3f}] ({inside}) | "
                     f"{d:.3f} [{dlo:.3f}, {dhi:.3f}] | {1 / (m + k):.4f} |")
    for j in range(len(ks), len(proj["sizes"])):
        s = proj["sizes"][j]
        lines.append(f"| {s:.3g} (projected only) | | {proj['rank1'][j]:.3f} [{proj['rank1_ci'][j][0]:.3f}, "
                     f"{proj['rank1_ci'][j][1]:.3f}] | {proj['dir'][j]:.3f} [{proj['dir_ci'][j][0]:.3f}, "
                     f"{proj['dir_ci'][j][1]:.3f}] | {1 / s:.2g} |")
    # the distractors' impostor scores against the same probes, next to the audited impostors'
    smd = score_matrix(enc, probes, [x for lab in names for x in dgal[lab]])
    from auditkit.scoring.metrics import genuine_impostor_scores

    _, imp = genuine_impostor_scores(sm)
    q = [0.5, 0.99, 0.999]
    a_q, d_q = np.quantile(imp, q), np.quantile(smd.scores, q)
    lines += ["", f"Impostor scores (minus face distance) at quantiles {q}: audited gallery "
              f"{', '.join(f'{v:.3f}' for v in a_q)} (n={imp.size}); distractors {', '.join(f'{v:.3f}' for v in d_q)} "
              f"(n={smd.scores.size})."]
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boot", type=int, default=200, help="bootstrap replicates (default 200)")
    ap.add_argument("--gallery-images", type=int, default=N_GALLERY,
                    help="gallery images per identity, targets and distractors (default 1)")
    args = ap.parse_args(argv)
    globals()["N_GALLERY"] = args.gallery_images
    lfw = find_dataset("lfw_gray_crops_dev")
    people = {d.name: images(d) for d in sorted(lfw.iterdir()) if d.is_dir()}
    rich = sorted(k for k, v in people.items() if len(v) >= 6)
    rng = np.random.default_rng(14)
    chosen = sorted(rng.choice(rich, N_TARGETS, replace=False))
    targets = {k: people[k] for k in chosen}
    others = {k: v for k, v in people.items() if k not in targets}
    out = experiment("LFW -> LFW distractors", targets, others, [100, 200, len(others)], args.boot)
    att = find_dataset("att_orl_faces")
    att_people = {d.name: sorted(images(d), key=lambda p: int(p.stem)) for d in sorted(att.iterdir())
                  if d.is_dir() and d.name.startswith("s")}
    out += experiment("AT&T -> LFW distractors", att_people, people, [100, 200, len(people)], args.boot)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
