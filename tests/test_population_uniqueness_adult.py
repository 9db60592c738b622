"""ARX's published population-uniqueness values on its adult.csv, reproduced (issue 14).

ARX's ``data/adult.csv`` (arx-deidentifier/arx @ aacd487fb, 30,162 records, ``;``-separated,
9 columns all quasi-identifiers) is the UCI Adult training split without the records that have
a missing value (``?``), columns sex, age, race, marital-status, education, native-country,
workclass, occupation, salary-class in that order: it is rebuilt here from the shared
UCI Adult copy (checked identical to ARX's file cell by cell when the benchmark
``benchmarks/validate_population_uniqueness.py --arx-csv`` is given ARX's own file).

Expected values: ``TestRiskMetrics.testDecisionRule2`` and ``testAverageRisk2``; ARX compares
with ``(int) (value * 10000)`` (four decimal places), and so does this test, beside a tight
relative tolerance.
"""
from __future__ import annotations

import pandas as pd
import pytest
from conftest import shared_dataset

from auditkit.tables import run_table_audit

ARX_COLUMNS = ["sex", "age", "race", "marital-status", "education", "native-country", "workclass",
               "occupation", "salary-class"]
#: sampling fraction -> (ARX's expected Dankar estimate, the model(s) ARX's test accepts)
ARX_EXPECTED = {0.1: (0.27684993883653597, "pitman"), 0.2: (0.3577099234829125, None),
                0.01: (0.1446083531167384, None), 1.0: (0.5142895033485844, None)}


@pytest.fixture(scope="module")
def arx_adult_csv(tmp_path_factory) -> str:
    raw = shared_dataset("uci_adult") / "pycanon" / "raw" / "adult.csv"
    df = pd.read_csv(raw, dtype=str, skipinitialspace=True)
    df = df[~(df == "?").any(axis=1)][ARX_COLUMNS]
    assert len(df) == 30162
    path = tmp_path_factory.mktemp("arx") / "adult.csv"
    df.to_csv(path, sep=";", index=False)  # ARX's own file is ';'-separated: the loader must detect it
    return str(path)


def _arx_digits(v: float) -> int:
    return int(v * 10000)


def test_arx_population_uniqueness_values_reproduced(arx_adult_csv):
    audits = {f: run_table_audit(arx_adult_csv, qi=ARX_COLUMNS, sampling_fraction=f, nearest=False).tables
              for f in ARX_EXPECTED}
    first = audits[0.1]
    assert first["release"]["reading"]["delimiter"] == "semicolon"
    assert first["prosecutor"]["average_risk"] == pytest.approx(0.6465751607983555, rel=1e-12)  # testAverageRisk2
    for f, (expected, model) in ARX_EXPECTED.items():
        pu = audits[f]["population_uniqueness"]
        assert _arx_digits(pu["dankar"]) == _arx_digits(expected), (f, pu)
        assert pu["dankar"] == pytest.approx(expected, rel=1e-9), (f, pu)
        assert pu["dankar"] <= pu["sample_uniqueness"] + 1e-12
        if model:
            assert pu["dankar_model"] == model
    assert audits[0.1]["population_uniqueness"]["zayatz"] == pytest.approx(
        0.3207402393466189, rel=1e-9)  # the value ARX's test accepts when its rule falls back to Zayatz
    assert audits[1.0]["population_uniqueness"]["dankar"] == pytest.approx(
        audits[1.0]["population_uniqueness"]["sample_uniqueness"], rel=1e-12)
    mr = audits[1.0]["model_risks"]  # a census: the model's marketer risk is ARX's sample value
    assert mr["marketer"]["average_risk"] == pytest.approx(0.6465751607983555, rel=1e-9)


@pytest.mark.parametrize("k", [3, 20])
def test_arx_style_suppressed_release_measures_like_the_release_without_those_rows(tmp_path, k):
    """pycanon's k-anonymous Adult releases drop the records they suppress; ARX writes them with
    every quasi-identifier '*'. Both must give the same measures (ARX issue 259)."""
    base = shared_dataset("uci_adult")
    raw_rows = len(pd.read_csv(base / "pycanon" / "raw" / "adult.csv", usecols=[0]))
    released = pd.read_csv(base / "pycanon" / "processed" / f"adult_anonymized_{k}.csv", dtype=str)
    qi = ["age", "education", "occupation", "relationship", "sex", "native-country"]
    stars = pd.DataFrame({c: ["*"] * (raw_rows - len(released)) for c in qi})
    stars["salary-class"] = "<=50K"
    arx_style = pd.concat([released, stars], ignore_index=True)
    a = run_table_audit(arx_style, qi=qi, sensitive="salary-class", nearest=False).tables
    b = run_table_audit(released, qi=qi, sensitive="salary-class", nearest=False).tables
    assert a["suppressed"]["records"] == raw_rows - len(released)
    assert a["k_anonymity"] == b["k_anonymity"] == k  # pycanon's published k
    for key in ("uniqueness", "equivalence_class_sizes", "prosecutor", "l_diversity", "t_closeness"):
        assert a[key] == b[key], key


def test_k_map_of_a_pycanon_release_against_the_whole_adult_table():
    from auditkit.data.tables import load_table
    from auditkit.tables.kmap import k_map

    base = shared_dataset("uci_adult") / "pycanon"
    qi = ["age", "education", "occupation", "relationship", "sex", "native-country"]
    rel = load_table(base / "processed" / "adult_anonymized_3.csv").df
    pop = load_table(base / "raw" / "adult.csv").df
    r = k_map(rel, pop, qi)
    counts = pop.fillna("?").groupby(qi).size()  # the population count of each released combination, by pandas
    keys = rel.fillna("?")[qi].drop_duplicates()
    expected = int(keys.merge(counts.rename("F").reset_index(), on=qi, how="left")["F"].min())
    assert r["k"] == expected and r["k"] >= 3  # the population holds at least the release's own records
    assert r["classes_not_in_population"] == 0
