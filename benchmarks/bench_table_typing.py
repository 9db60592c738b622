"""Table typing per distinct value (issue 10) beside the former per-cell code, same table.

Usage::

    .venv/bin/python benchmarks/bench_table_typing.py [--rows 2000000] [--old-commit d97a433]

The former ``auditkit/tables/load.py`` is read from git (``--old-commit``) into a temporary
module; both ``prepare_table`` run on the same in-memory DataFrame (read once with pandas),
best of ``--repeat`` runs each, and their typed columns are checked equal.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--old-commit", default="d97a433")
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{a.old_commit}:auditkit/tables/load.py"],
                         capture_output=True, text=True, check=True).stdout
    src = src.replace("from ..", "from auditkit.")
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "old_load.py"
        p.write_text(src)
        spec = importlib.util.spec_from_file_location("old_load", p)
        old = importlib.util.module_from_spec(spec)
        sys.modules["old_load"] = old  # dataclasses look their module up
        spec.loader.exec_module(old)
    from auditkit.tables import load as new

    rng = np.random.default_rng(0)
    n = a.rows
    df = pd.DataFrame({"age": rng.integers(17, 90, n), "sex": rng.choice(["F", "M"], n),
                       "race": rng.choice(list("abcde"), n), "marital": rng.choice(list("msdwx"), n),
                       "zip": rng.integers(10000, 10999, n).astype(str),
                       "income": rng.choice(["<=50K", ">50K"], n)}).astype(str)
    times = {}
    out = {}
    for name, mod in (("per cell (before)", old), ("per distinct value (now)", new)):
        best = float("inf")
        for _ in range(a.repeat):
            t = time.perf_counter()
            out[name] = mod.prepare_table(df, name="t")
            best = min(best, time.perf_counter() - t)
        times[name] = best
    a_, b_ = out.values()
    for c in df.columns:
        assert a_.columns[c].kind == b_.columns[c].kind and a_.columns[c].distinct == b_.columns[c].distinct
        assert a_.df[c].equals(b_.df[c]), c
    (t_old, t_new) = times.values()
    print(f"| prepare_table, {n:,} rows x 6 columns | {t_old:.1f} s | {t_new:.1f} s | {t_old / t_new:.1f}x | same typed columns |")


if __name__ == "__main__":
    main()
