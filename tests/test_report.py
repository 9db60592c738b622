"""Rendered reports: escaping, privacy by default, re-rendering from results.json alone."""
import json
import re

import pytest

from auditkit.cli import main
from auditkit.report import load_results, pct, render_html, write_outputs


@pytest.fixture
def results(generated_results_path):
    return json.loads(generated_results_path.read_text())


@pytest.fixture(scope="module")
def generated_results_path(tmp_path_factory, feature_cache_dir):
    """A real audit on generated data whose identity labels are distinctive strings."""
    import numpy as np
    from PIL import Image

    from auditkit import AuditConfig, run_audit

    tmp = tmp_path_factory.mktemp("rep")
    rng = np.random.default_rng(1)
    labels = ["Zelda<b>Quux</b>", "Yorick_Plinth", "Xanthe&Co"]
    rows = ["path,subject"]
    for i, lab in enumerate(labels):
        base = np.kron(rng.integers(0, 255, (10, 8, 3)), np.ones((12, 12, 1))).astype(np.uint8)
        for k in range(3):
            d = tmp / "g" / lab
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(base).save(d / f"{k}.png")
        (tmp / "r").mkdir(exist_ok=True)
        Image.fromarray(base).save(tmp / "r" / f"p{i}.png")
        rows.append(f"p{i}.png,{lab}")
    (tmp / "r" / "manifest.csv").write_text("\n".join(rows) + "\n")
    res = run_audit(AuditConfig.from_flat(release=tmp / "r", gallery=tmp / "g", cache_dir=feature_cache_dir, progress=False)).to_dict()
    return write_outputs(res, tmp / "out")["results"]


LABELS = ["Zelda", "Quux", "Yorick_Plinth", "Xanthe"]


def test_private_by_default_no_label_no_image(results):
    html = render_html(results)
    for lab in LABELS:
        assert lab not in html, f"identity label {lab!r} leaked into the private report"
    assert re.search(r"person \d\d", html)  # pseudonyms (numbered in a random order since issue 10)
    # the only inline images are matplotlib figures (no example faces)
    assert "release example" not in html


def test_show_examples_reveals_labels_escaped_and_redacted(generated_results_path):
    # results.json is pseudonymised by default (issue 10): the revealed copy is the auditor's
    from auditkit import AuditConfig, run_audit

    tmp = generated_results_path.parent.parent
    results = run_audit(AuditConfig.from_flat(release=tmp / "r", gallery=tmp / "g", progress=False,
                                              cache_dir=generated_results_path.parent.parent / "cache")).to_dict()
    results["options"] = {"show_examples": True, "redact_examples": True}
    html = render_html(results)
    assert "Zelda&lt;b&gt;Quux&lt;/b&gt;" in html and "Zelda<b>" not in html
    assert "Xanthe&amp;Co" in html
    assert "release example" in html and "redacted" in html


def test_self_contained_no_network(results):
    html = render_html(results)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "<script" not in html
    assert html.count("data:image/png;base64,") >= 2  # CMC and score plots inline


def test_verdict_first_and_sections(results):
    html = render_html(results)
    assert html.index('id="verdict"') < html.index('id="summary"') < html.index('id="custody"')
    for sec in ("ladder", "method", "skipped", "custody", "detection"):
        assert f'id="{sec}"' in html
    assert results["inputs"]["release"]["sha256"] in html


def test_rerender_from_results_json_alone(generated_results_path, tmp_path):
    rc = main(["report", str(generated_results_path), "--out", str(tmp_path)])
    assert rc == 0
    assert (tmp_path / "report.html").read_text() == render_html(load_results(generated_results_path))
    # and it is the very report the audit wrote beside results.json
    assert (tmp_path / "report.html").read_text() == (generated_results_path.parent / "report.html").read_text()


def test_report_rejects_non_results(tmp_path, capsys):
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}')
    assert main(["report", str(p)]) == 2
    assert "not an auditkit results file" in capsys.readouterr().err


def test_pct_never_rounds_exposure_to_zero():
    assert pct(1 / 2000) == "< 0.1%"
    assert pct(0) == "0%"
    assert pct(0.71) == "71%"
    assert pct(0.9995) == "> 99.9%"
    assert pct(None) == "n/a"


def test_csv_formula_injection_neutralised(results, tmp_path):
    results["skipped"] = [{"path": "=HYPERLINK(\"x\")", "reason": "+1", "stage": "load"}]
    paths = write_outputs(results, tmp_path, html=False)
    text = paths["skipped"].read_text()
    assert "'=HYPERLINK" in text and "'+1" in text


def test_report_renders_in_headless_chromium(generated_results_path, tmp_path):
    """The real browser check on a real audit's report: verdict, figures and tables present after
    load, no console message, no network request, prints to PDF (helpers: test_report_browser.py)."""
    from test_report_browser import CHROMIUM, chromium_load

    if not CHROMIUM.is_file():
        pytest.skip("headless Chromium not installed at /usr/bin/chromium (Debian: apt-get install -y chromium)")
    got = chromium_load(generated_results_path.parent / "report.html", tmp_path)
    dom = got["dom"]
    assert 'id="verdict"' in dom and "Overall risk" in dom
    assert dom.count("<img") >= 2 and "<table" in dom
    assert not got["console"] and not got["requested"]
    assert got["pdf"].startswith(b"%PDF-")
