"""Write the generated tables the peer comparisons share (tests/peer_values/gen_*.csv).

Synthetic records only (random codes, no person). Deterministic: numpy's PCG64 integer stream.
Run: .venv/bin/python benchmarks/peers/make_tables.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[2] / "tests" / "peer_values"


def generated_tables() -> dict[str, pd.DataFrame]:
    """Three tables: small and uniform, larger and skewed (a rare sensitive value, classes that
    miss values), and one with linked columns for linkability (same people, two column sets)."""
    rng = np.random.default_rng(20261207)
    a = pd.DataFrame({"zip": rng.integers(0, 4, 200), "age": rng.integers(20, 24, 200),
                      "sex": rng.choice(["F", "M"], 200), "disease": rng.choice(list("ABCDE"), 200)})
    n = 2000
    probs = np.array([0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.015, 0.005])
    b = pd.DataFrame({"region": rng.integers(0, 6, n), "band": rng.integers(0, 5, n),
                      "sex": rng.choice(["F", "M"], n), "job": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]),
                      "diagnosis": rng.choice([f"d{i}" for i in range(8)], n, p=probs)})
    # one region's records lean to the rare diagnoses (a class-level disclosure)
    lean = (b["region"] == 5).to_numpy() & (rng.random(n) < 0.5)
    b.loc[lean, "diagnosis"] = rng.choice(["d6", "d7"], int(lean.sum()))
    m = 600
    base = rng.normal(size=(m, 3))
    c = pd.DataFrame({"age": np.round(40 + 12 * base[:, 0]).astype(int), "income": np.round(3000 + 800 * base[:, 1]),
                      "sex": rng.choice(["F", "M"], m), "city": rng.choice(["x", "y", "z", "w"], m),
                      "visits": rng.poisson(3 + base[:, 0].clip(-2, 2), m),
                      "spend": np.round(200 + 60 * base[:, 1] + 30 * rng.normal(size=m), 1)})
    # linkability (anonymeter's framing): the first 300 people are released with noise on the
    # numeric columns (continuous noise: no two distances tie); the other 300 are the control
    rel = c.iloc[:300].copy()
    for col, sd in (("age", 2.0), ("income", 150.0), ("visits", 0.7), ("spend", 15.0)):
        rel[col] = np.round(rel[col] + sd * rng.normal(size=300), 6)
    return {"gen_a": a, "gen_b": b, "gen_c_ori": c.iloc[:300], "gen_c_control": c.iloc[300:], "gen_c_release": rel}


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, df in generated_tables().items():
        df.to_csv(OUT / f"{name}.csv", index=False)
        print(name, df.shape)
