"""Sign-off and re-review fields (issue 16): ``--auditor``, ``--organisation``, ``--review-after``
go from the command line (or audit.toml's [report]) to results.json and the report."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from auditkit.cli import main
from auditkit.config import AuditConfig


def _table(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"zip": [i // 5 for i in range(50)], "dx": ["a", "b"] * 25}).to_csv(p, index=False)
    return p


def test_signoff_flags_reach_results_and_report(tmp_path):
    rc = main(["run", "--table", str(_table(tmp_path)), "--qi", "zip", "--sensitive", "dx", "--out",
               str(tmp_path / "o"), "--quiet", "--auditor", "Dr <b>Ada</b>", "--organisation", "Office & Co",
               "--review-after", "2027-06-30"])
    assert rc == 0
    r = json.loads((tmp_path / "o" / "results.json").read_text())
    assert r["signoff"] == {"auditor": "Dr <b>Ada</b>", "organisation": "Office & Co", "review_after": "2027-06-30"}
    assert r["parameters"]["review_after"] == "2027-06-30"
    html = (tmp_path / "o" / "report.html").read_text()
    signoff = html[html.index('<section id="signoff">'):]
    assert "Dr &lt;b&gt;Ada&lt;/b&gt;" in signoff and "Office &amp; Co" in signoff and "2027-06-30" in signoff
    assert signoff.count('<span class="fill"') == 1  # only the signature is left to fill in
    # a table-only report speaks of tables, not faces
    assert "dlib" not in html and 'id="method-table"' in html and "<th>mAP</th>" not in html


def test_bad_review_date_is_a_usage_error_naming_it(tmp_path, capsys):
    rc = main(["run", "--table", str(_table(tmp_path)), "--qi", "zip", "--out", str(tmp_path / "o"), "--quiet",
               "--review-after", "next spring"])
    assert rc == 2
    assert "review_after must be a date YYYY-MM-DD, got 'next spring'" in capsys.readouterr().err


def test_signoff_from_audit_toml(tmp_path):
    t = tmp_path / "audit.toml"
    t.write_text('[report]\nauditor = "A. Auditor"\nreview_after = "2027-01-31"\n')
    cfg = AuditConfig.from_toml(t)
    assert cfg.signoff() == {"auditor": "A. Auditor", "organisation": None, "review_after": "2027-01-31"}
    with pytest.raises(ValueError, match="review_after must be a date"):
        AuditConfig.from_flat(review_after="31/01/2027")
