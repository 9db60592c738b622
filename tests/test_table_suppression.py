"""Suppressed records form no equivalence class (issue 14; ARX issue 259)."""
from __future__ import annotations

import pandas as pd
import pytest

from auditkit.data.tables import prepare_table
from auditkit.tables import TableError, run_table_audit
from auditkit.tables.suppression import split_suppressed, suppressed_mask


def _release(n_suppressed: int, marker: str = "*") -> pd.DataFrame:
    rows = [("30", "F", "a"), ("30", "F", "b"), ("40", "M", "a"), ("40", "M", "b"), ("50", "F", "a"), ("50", "F", "b")]
    rows += [(marker, marker, "a")] * n_suppressed
    return pd.DataFrame(rows, columns=["age", "sex", "diag"])


def test_one_suppressed_record_is_not_a_class_of_size_one():
    t = run_table_audit(_release(1), qi="age,sex", nearest=False).tables
    assert t["k_anonymity"] == 2  # counted as a class, the lone '*' row would make k = 1
    assert t["uniqueness"] == 0.0
    assert t["unique_records"] == 0
    assert t["suppressed"]["records"] == 1
    assert t["suppressed"]["share"] == pytest.approx(1 / 7)
    assert t["release"]["rows"] == 7
    assert t["equivalence_class_sizes"]["n_classes"] == 3
    assert t["prosecutor"]["average_risk"] == pytest.approx(3 / 6)


def test_many_suppressed_records_do_not_lower_the_average_risk():
    t = run_table_audit(_release(5), qi="age,sex", nearest=False).tables
    # as one class of 5, they would give c / n = 4 / 11 instead of the 3 / 6 of the released classes
    assert t["prosecutor"]["average_risk"] == pytest.approx(3 / 6)
    assert t["equivalence_class_sizes"]["max"] == 2
    assert t["suppressed"]["records"] == 5


def test_declared_marker_and_numeric_column_typed_again():
    t = run_table_audit(_release(2, marker="SUPP"), qi="age,sex", nearest=False, suppressed_marker="SUPP").tables
    assert t["suppressed"]["records"] == 2
    assert t["suppressed"]["retyped"] == {"age": "numeric"}
    default = run_table_audit(_release(2, marker="SUPP"), qi="age,sex", nearest=False).tables
    assert default["suppressed"]["records"] == 0  # '*' is the default marker; SUPP is then a value
    assert default["k_anonymity"] == 2


def test_partially_suppressed_record_keeps_the_marker_as_a_value():
    df = _release(0)
    df.loc[len(df)] = ["*", "F", "a"]
    kept, info = split_suppressed(prepare_table(df).df, ["age", "sex"])
    assert info["records"] == 0 and info["partially_suppressed"] == 1
    assert len(kept) == 7
    assert suppressed_mask(df, ["age", "sex"]).sum() == 0


def test_every_record_suppressed_is_a_clear_error():
    df = pd.DataFrame({"age": ["*", " * "], "sex": ["*", "*"]})
    with pytest.raises(TableError, match="every record of table 'release' is suppressed"):
        run_table_audit(df, qi="age,sex", nearest=False)


def test_blank_marker_rejected():
    with pytest.raises(ValueError, match="non-blank"):
        suppressed_mask(_release(0), ["age"], marker=" ")


def test_verdict_counts_released_records_without_the_suppressed_ones():
    from auditkit.scoring.risk import table_level

    rows = [("30", "F"), ("30", "F"), ("40", "M")] + [("*", "*")] * 4
    t = run_table_audit(pd.DataFrame(rows, columns=["age", "sex"]), qi="age,sex", nearest=False,
                        sampling_fraction=0.5).tables
    level, findings = table_level(t)
    assert level == "critical"
    assert findings[0].startswith("33.3% of the 3 released records (1) are unique")
    assert any("4 further released record(s) are suppressed" in f for f in findings)
    assert any("an estimated" in f and "population of 6" in f for f in findings)
