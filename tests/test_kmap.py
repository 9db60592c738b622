"""k-map against a population table (issue 14), by hand and through the CLI."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from auditkit.cli import main
from auditkit.tables.kmap import k_map


def test_k_map_by_hand():
    rel = pd.DataFrame({"zip": ["A", "A", "B", "C"], "sex": ["F", "F", "M", "F"]})
    pop = pd.DataFrame({"zip": ["A"] * 4 + ["B"] * 2 + ["C"] + ["D"] * 9,
                        "sex": ["F"] * 3 + ["M"] + ["M", "M"] + ["F"] + ["F"] * 9})
    r = k_map(rel, pop, ["zip", "sex"])
    # (A,F): 3 in the population, (B,M): 2, (C,F): 1 -> k-map 1; the (C,F) record is population-unique
    assert r == {"k": 1, "records_at_k": 1, "population_unique_records": 1, "population_records": 16,
                 "classes": 3, "classes_not_in_population": 0}
    assert k_map(rel.iloc[:3], pop, ["zip", "sex"])["k"] == 2


def test_k_map_against_a_brute_force_count():
    rng = np.random.default_rng(5)
    pop = pd.DataFrame({"a": rng.integers(0, 4, 3000), "b": rng.choice(list("xyz"), 3000), "c": rng.integers(0, 6, 3000)})
    rel = pop.sample(300, random_state=1).reset_index(drop=True)
    counts = Counter(map(tuple, pop.to_numpy().tolist()))
    brute = min(counts[tuple(r)] for r in rel.to_numpy().tolist())
    assert k_map(rel, pop, ["a", "b", "c"])["k"] == brute


def test_release_class_missing_from_the_population_is_counted():
    rel = pd.DataFrame({"zip": ["A", "A", "Z"]})
    pop = pd.DataFrame({"zip": ["A"] * 5})
    r = k_map(rel, pop, ["zip"])
    assert r["classes_not_in_population"] == 1 and r["k"] == 1


def test_cli_population_table_sampling_fraction_and_suppression(tmp_path):
    rng = np.random.default_rng(2)
    n = 300
    rel = pd.DataFrame({"zip": rng.choice(["75001", "75002", "91000"], n), "age": rng.integers(20, 30, n).astype(str),
                        "dx": rng.choice(["a", "b"], n)})
    pop = pd.concat([rel] * 4, ignore_index=True)
    rel.loc[:9, ["zip", "age"]] = "*"
    rel.to_csv(tmp_path / "release.csv", sep=";", index=False, encoding="latin-1")
    pop.to_csv(tmp_path / "population.csv", index=False)
    code = main(["run", "--table", str(tmp_path / "release.csv"), "--qi", "zip,age", "--sensitive", "dx",
                 "--population-table", str(tmp_path / "population.csv"), "--sampling-fraction", "0.25",
                 "--out", str(tmp_path / "out"), "--quiet"])
    assert code in (0, 1)
    t = json.loads((tmp_path / "out" / "results.json").read_text())["tables"]
    assert t["release"]["reading"]["delimiter"] == "semicolon"
    assert t["suppressed"]["records"] == 10
    kept = rel.iloc[10:]
    sizes = kept.groupby(["zip", "age"]).size()
    assert t["k_map"]["k"] == 4 * sizes.min()  # the population holds every released person 4 times
    assert t["population_uniqueness"]["sample_size"] == n - 10
    assert t["population_uniqueness"]["population_size"] == round((n - 10) / 0.25)
    assert t["model_risks"] is None  # a population table is given: the risks use it, not the model
    html = (tmp_path / "out" / "report.html").read_text()
    assert "k-map against the population table" in html and "Suppressed records" in html


def test_cli_rejects_a_sampling_fraction_out_of_range(tmp_path):
    pd.DataFrame({"zip": ["1", "2"], "age": ["3", "4"]}).to_csv(tmp_path / "r.csv", index=False)
    assert main(["run", "--table", str(tmp_path / "r.csv"), "--qi", "zip,age", "--sampling-fraction", "1.5",
                 "--out", str(tmp_path / "o"), "--quiet"]) == 2


@pytest.mark.parametrize("marker", ["*", "SUPP"])
def test_cli_suppressed_marker(tmp_path, marker):
    df = pd.DataFrame({"zip": ["1", "1", "2", "2", marker], "age": ["3", "3", "4", "4", marker]})
    df.to_csv(tmp_path / "r.csv", index=False)
    main(["run", "--table", str(tmp_path / "r.csv"), "--qi", "zip,age", "--suppressed-marker", marker,
          "--out", str(tmp_path / "o"), "--quiet"])
    t = json.loads((tmp_path / "o" / "results.json").read_text())["tables"]
    assert t["suppressed"]["records"] == 1 and t["k_anonymity"] == 2
