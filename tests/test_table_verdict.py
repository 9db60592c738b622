"""A table-only audit is scored from the release's own measures (issue 10): the policy in
auditkit.scoring.risk (table_level), the verdict, the executive summary and --fail-on."""
import json

import pandas as pd
import pytest

from auditkit.cli import main
from auditkit.scoring.risk import TABLE_RULES, table_level, with_table_measures
from auditkit.tables import run_table_audit


def _level(df, qi, sensitive=None):
    return table_level(run_table_audit(df, qi=qi, sensitive=sensitive).tables)


def test_policy_levels_hand_computed():
    # 10 classes of 5, two sensitive values in each: k = 5, l = 2 -> low
    df = pd.DataFrame({"zip": [i // 5 for i in range(50)], "dx": ["a", "b"] * 25})
    assert _level(df, ["zip"], ["dx"])[0] == "low"
    # classes of 4 -> k = 4 < 5 -> medium
    df4 = pd.DataFrame({"zip": [i // 4 for i in range(48)], "dx": ["a", "b"] * 24})
    assert _level(df4, ["zip"], ["dx"])[0] == "medium"
    # one homogeneous class (l = 1) -> high even with k = 5
    dfl = df.copy()
    dfl.loc[dfl.zip == 0, "dx"] = "a"
    lvl, findings = _level(dfl, ["zip"], ["dx"])
    assert lvl == "high" and any("l-diversity 1" in f for f in findings)
    # one unique record among 100 (1% < 5%) -> high; 5 of 100 unique -> critical
    one = pd.DataFrame({"zip": [i // 5 for i in range(99)] + [999]})
    assert _level(one, ["zip"])[0] == "high"
    five = pd.DataFrame({"zip": [i // 5 for i in range(95)] + [900, 901, 902, 903, 904]})
    assert five.shape[0] == 100 and _level(five, ["zip"])[0] == "critical"
    assert TABLE_RULES["critical_uniqueness"] == 0.05


def test_table_level_raises_but_never_lowers_the_verdict():
    t = run_table_audit(pd.DataFrame({"zip": range(20)}), qi=["zip"]).tables
    v = with_table_measures({"risk": None, "anonymized": False, "strongest_attack": None, "summary": "x"}, t)
    assert v["risk"] == "critical" and "100% of the 20 released records" in v["summary"]
    crit = {"risk": "critical", "anonymized": False, "strongest_attack": "face.naive", "summary": "faces"}
    low_t = run_table_audit(pd.DataFrame({"zip": [i // 5 for i in range(50)]}), qi=["zip"]).tables
    assert with_table_measures(crit, low_t)["risk"] == "critical"
    assert with_table_measures(crit, low_t)["summary"] == "faces"


@pytest.fixture
def adults(tmp_path):
    """62% unique on age, sex, race, marital (as in the issue); income the sensitive column."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"age": rng.integers(17, 90, n), "sex": rng.choice(["F", "M"], n),
                       "race": rng.choice(["a", "b", "c"], n), "marital": rng.choice(["m", "s", "d", "w"], n),
                       "income": rng.choice(["<=50K", ">50K"], n)})
    p = tmp_path / "adults.csv"
    df.to_csv(p, index=False)
    return p


def test_table_only_run_is_scored_and_fails_on(adults, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", "--table", str(adults), "--qi", "age,sex,race,marital", "--sensitive", "income",
               "--fail-on", "low", "--out", str(out), "--quiet"])
    stdout = capsys.readouterr().out
    r = json.loads((out / "results.json").read_text())
    assert r["tables"]["uniqueness"] > 0.05 and r["tables"]["k_anonymity"] == 1
    assert r["verdict"]["risk"] == "critical" and rc == 1
    assert "gallery" not in r["verdict"]["summary"] and "released records" in r["verdict"]["summary"]
    assert "CRITICAL" in stdout
    html = (out / "report.html").read_text()
    summary = html.split('id="summary"', 1)[1].split("</section>", 1)[0]
    assert "are unique on the quasi-identifiers" in summary  # the executive summary is not empty
    assert main(["run", "--table", str(adults), "--qi", "age,sex,race,marital", "--fail-on", "critical",
                 "--out", str(tmp_path / "o2"), "--quiet"]) == 1


def test_k_anonymous_table_passes_fail_on_medium(tmp_path, capsys):
    p = tmp_path / "t.csv"
    pd.DataFrame({"zip": [i // 5 for i in range(50)], "dx": ["a", "b"] * 25}).to_csv(p, index=False)
    rc = main(["run", "--table", str(p), "--qi", "zip", "--sensitive", "dx", "--fail-on", "medium",
               "--out", str(tmp_path / "o"), "--quiet"])
    r = json.loads((tmp_path / "o" / "results.json").read_text())
    assert rc == 0 and r["verdict"]["risk"] == "low"
