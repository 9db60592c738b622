"""Standard-protocol figures for the body-cue attacks (issue 4): VIPeR re-id and USF gait.

Usage::

    .venv/bin/python benchmarks/eval_body.py [--shared ../shared/datasets] [--repeats 10]
        [--seed 0] [--sets A B C D E F G] [--json out.json]

Prints markdown tables (the ones in benchmarks/README.md) and optionally writes every figure
as JSON. The datasets are read from the shared folder, never copied.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from auditkit.evaluate import evaluate_gait, evaluate_reid
from auditkit.result import to_jsonable


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "datasets",
                    help="folder holding viper/ and usf_gait_silhouettes/ (default ../shared/datasets)")
    ap.add_argument("--repeats", type=int, default=10, help="VIPeR random splits (default 10)")
    ap.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    ap.add_argument("--sets", nargs="*", default=list("ABCDEFG"),
                    help="USF probe sets (default A-G; sets absent from the shared folder are skipped)")
    ap.add_argument("--pca-variance", type=float, default=0.95,
                    help="gait PCA variance kept (default 0.95)")
    ap.add_argument("--skip-viper", action="store_true", help="only USF")
    ap.add_argument("--json", type=Path, default=None, help="write all figures here")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress visible when redirected
    out: dict = {}

    if not args.skip_viper:
        t0 = time.perf_counter()
        r = evaluate_reid(args.shared / "viper" / "manifest.csv", repeats=args.repeats,
                          random_state=args.seed)
        dt = time.perf_counter() - t0
        m, s = r["attack"].metrics, r["summary"]
        p = r["protocol"]
        print(f"### VIPeR ({p['n_train_subjects']}/{p['n_test_subjects']} splits x {p['repeats']}, "
              f"seed {p['random_state']}, {dt:.0f} s)\n")
        print("| rank-1 % (mean ± std) | min-max | rank-5 | rank-10 | rank-20 | mAP | chance rank-1 "
              "| rank-1 95% CI (n=316) | pooled rank-1 CI |")
        print("|---|---|---|---|---|---|---|---|---|")
        print(f"| {_pct(m['rank1'])} ± {_pct(s['rank1']['std'])} | {_pct(s['rank1']['min'])}-"
              f"{_pct(s['rank1']['max'])} | {_pct(m['rank5'])} | {_pct(m['rank10'])} | "
              f"{_pct(m['rank20'])} | {_pct(m['map'])} | {_pct(m['chance_rank1'])} | "
              f"{_pct(m['rank1_ci'][0])}-{_pct(m['rank1_ci'][1])} | "
              f"{_pct(m['rank1_ci_pooled'][0])}-{_pct(m['rank1_ci_pooled'][1])} |\n")
        out["viper"] = {k: v for k, v in r.items() if k not in ("attack", "skipped")}
        out["viper"]["skipped"] = [asdict(x) for x in r["skipped"]]
        out["viper"]["attack"] = r["attack"].to_dict()

    usf = args.shared / "usf_gait_silhouettes" / "png"
    rows = []
    out["usf"] = {}
    t0 = time.perf_counter()
    for name in args.sets:
        if not (usf / f"probe_{name}").is_dir():
            print(f"(USF probe set {name}: {usf / f'probe_{name}'} not found, skipped)")
            continue
        r = evaluate_gait(usf / "gallery", usf / f"probe_{name}", random_state=args.seed,
                          pca_variance=args.pca_variance)
        m = r["attack"].metrics
        dirs = {d["fpir_target"]: d for d in r["open_set"]["dir_at_fpir"]}
        d10 = dirs.get(0.1)
        rows.append(f"| {name} | {r['n_probe_sequences']} | {r['n_mated']} | "
                    f"{r['open_set']['n_impostor_probes']} | {_pct(m['rank1'])} "
                    f"({_pct(m['rank1_ci'][0])}-{_pct(m['rank1_ci'][1])}) | {_pct(m['rank5'])} "
                    f"({_pct(m['rank5_ci'][0])}-{_pct(m['rank5_ci'][1])}) | {_pct(m['map'])} | "
                    f"{_pct(m['chance_rank1'])} | "
                    f"{_pct(d10['dir']) + ' @ ' + _pct(d10['fpir']) if d10 else '-'} |")
        out["usf"][name] = {k: v for k, v in r.items() if k not in ("attack", "score_matrix", "skipped")}
        out["usf"][name]["skipped"] = [asdict(x) for x in r["skipped"]]
        out["usf"][name]["attack"] = r["attack"].to_dict()
    dt = time.perf_counter() - t0
    print(f"### USF HumanID gait (gallery 731 cycles / 71 subjects; PCA {args.pca_variance:.0%} + "
          f"LDA; {dt:.0f} s)\n")
    print("| probe | cycles | mated | impostor | rank-1 % (95% CI) | rank-5 % (95% CI) | mAP | "
          "chance rank-1 | DIR % @ FPIR % (target 10%) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        args.json.write_text(json.dumps(to_jsonable(out), indent=1))


if __name__ == "__main__":
    main()
