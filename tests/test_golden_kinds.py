"""Golden reports, one per kind of audit (issue 16): a fixed results.json (sweep.json for the sweep)
renders to HTML whose key fragments and CSVs are compared here, so a template change that drops a
section, a column or a framework fails.

tests/golden/kinds/<kind>/results.json are the same-results harness's goldens (tests/golden/results:
demo_att -> face, table, video) with fixed run circumstances (tool version, created, runtime) and a
sign-off added; sweep/sweep.json is the demo's sweep written as ``auditkit sweep`` writes it. They
are already pseudonymised, so matches.csv and skipped.csv come out byte for byte. Rewrite the CSVs
only on purpose (a change in them is a change in what users receive).
"""
from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import pytest

from auditkit.report import load_results, render_html, write_outputs
from auditkit.report.formatters import level_word
from auditkit.report.sweep import sweep_outputs

KINDS = Path(__file__).resolve().parent / "golden" / "kinds"

#: section ids every audit report has (frameworks, threat model, mitigation, method, sign-off, custody)
COMMON_SECTIONS = ["verdict", "summary", "ladder", "wp29", "intruder", "threat-model", "mitigations", "residual",
                   "method", "iso27559", "iso-context", "iso-data", "iso-identifiability", "iso-mitigation",
                   "nist-800-188", "pipc", "skipped", "custody", "signoff"]

#: per kind: fragments that must be in report.html, and ones that must not
FRAGMENTS = {
    "face": {
        "in": ['<h3 id="ladder-face">Face attacks</h3>', '<h3 id="method-face">Face attacks</h3>',
               "<td>face.naive</td><td>face</td><td>singling out</td>",
               "<th>mAP</th><th>ROC-AUC</th><th>EER</th>",
               'Overall risk: <strong>CRITICAL</strong>',
               '<span class="badge risk-inconclusive">inconclusive (low to high)</span>',
               "128-d face encodings of dlib",
               '<div class="why-differ" id="sweep-vs-audit">',
               "<td>face.naive</td><td>blur:sigma=6</td><td>36% (20.2% – 55.5%, n = 25)</td>"
               "<td>20% (5.7% – 51%, n = 10)</td>",
               "The sweep keeps 3 clear image(s) per person",
               '<h3 id="method-sweep">Strength sweep</h3>',
               "method and strength: blur:sigma=6 (declared (--obfuscation)); the gallery is obfuscated the same way",
               "Privacy curve: re-identification vs obfuscation strength",
               "<td>1,000</td>", "<td>170,000,000</td>"],
        "out": ['<h3 id="method-table">', '<h3 id="ladder-table">', "1e-05%", "e-07%"]},
    "table": {
        "in": ['<h3 id="ladder-table">Table attacks</h3>', '<h3 id="method-table">Table attacks and measures</h3>',
               "<th>random baseline</th><th>control records</th>",
               "<td>singling_out.multivariate</td><td>singling out</td><td>122</td>",
               '<span class="badge risk-inconclusive">inconclusive (low to high)</span>',
               '<span class="badge risk-critical">critical (table measures)</span>',
               "table measures: l-diversity of dx = 1",
               "<tr><td>mean candidates</td><td>1.08</td></tr>",
               "auxiliary table aux (200 records), joined on zip, sex, age",
               "generalise or suppress the quasi-identifiers until every group has at least 5 records",
               "<h2>Released tables and metadata</h2>"],
        "out": ["dlib", "<th>mAP</th>", "<th>ROC-AUC</th>", "<th>EER</th>", 'id="ladder-face"', "method-face",
                "Attacker ladder", "<img", "18.746405586745173"]},
    "video": {
        "in": ['<h3 id="ladder-body">Body and video attacks (clothing, gait, fused)</h3>',
               '<h3 id="method-body">Body and video attacks</h3>', '<h3 id="ladder-trajectory">Trajectory attacks</h3>',
               '<h3 id="method-trajectory">Trajectory attacks</h3>', '<h3 id="ladder-sightings">',
               "<th>release tracks scored</th>", "Share of scored release tracks whose true identity",
               "<h2>Video: people, tracks and face leaks</h2>", "trajectories: 100% unique given 1 known point(s)",
               "a few (camera, time) points of the target&#39;s day"],
        "out": ["dlib", "<th>mAP</th>", "<th>EER</th>", 'id="ladder-face"', "method-face", "Attacker ladder",
                'id="ladder-table"']},
}


def _visible_text(html: str) -> str:
    """The text a reader sees: no style, no data URIs, no hashes/paths (<code>), no parameter dump (<pre>)."""
    s = re.sub(r"<style>.*?</style>|<pre>.*?</pre>|<code>.*?</code>", " ", html, flags=re.DOTALL)
    s = re.sub(r"<[^>]+>", " ", s)
    return htmllib.unescape(s)


@pytest.mark.parametrize("kind", ["face", "table", "video"])
def test_kind_renders_to_its_golden_fragments_and_csvs(kind, tmp_path):
    results = load_results(KINDS / kind / "results.json")
    paths = write_outputs(results, tmp_path)
    for name in ("matches", "skipped"):
        want = (KINDS / kind / f"{name}.csv").read_text(encoding="utf-8")
        assert paths[name].read_text(encoding="utf-8") == want, f"{name}.csv differs from tests/golden/kinds/{kind}"
    html = paths["report"].read_text(encoding="utf-8")
    missing = [f'id="{s}"' for s in COMMON_SECTIONS if f'id="{s}"' not in html]
    missing += [f for f in FRAGMENTS[kind]["in"] if f not in html]
    assert not missing, f"{kind} report lacks: {missing}"
    present = [f for f in FRAGMENTS[kind]["out"] if f in html]
    assert not present, f"{kind} report shows what belongs to another kind of audit: {present}"
    # frameworks named with their sources
    for source in ("Opinion 05/2014", "WP216", "Information Commissioner", "ISO/IEC 27559:2022",
                   "NIST Special Publication 800-188", "Pseudonymous Information Processing Guidelines"):
        assert source in html
    # one row per WP29 criterion
    assert [m for m in re.findall(r'<tr id="wp29-(\w+)">', html)] == ["singling_out", "linkability", "inference"]
    # sign-off from the results
    assert "A. Auditor" in html and "Example Data Protection Office" in html and "2027-12-07" in html
    # numbers through the formatters: no raw float with many digits in what a reader sees
    raw = re.findall(r"(?<![\w.])-?\d+\.\d{5,}", _visible_text(html))
    assert not raw, f"raw floats in the {kind} report: {raw[:5]}"
    # every image has alt text; print stylesheet; nothing loads from the network
    imgs = re.findall(r"<img\b[^>]*>", html)
    assert all(re.search(r'alt="[^"]{10,}"', i) for i in imgs), "an image without alt text"
    assert "@media print" in html and "Content-Security-Policy" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)


def test_sweep_renders_to_its_golden_fragments(tmp_path):
    sweep = json.loads((KINDS / "sweep" / "sweep.json").read_text(encoding="utf-8"))
    paths = sweep_outputs(sweep, tmp_path)
    html = paths["report"].read_text(encoding="utf-8")
    assert json.loads(paths["sweep"].read_text(encoding="utf-8")) == sweep  # already shareable: unchanged
    want = ['id="privacy-curve"', 'id="sweep"', 'id="threat-model"', 'id="mitigations"', 'id="residual"',
            'id="method"', 'id="custody"', 'id="signoff"', "@media print", "Content-Security-Policy",
            "<td>face.parrot</td><td>3 clear calibration image(s) for each of 5 people</td>",
            "the family and the exact strength: obfuscates the calibration images the same way",
            "blur: no tested strength brings every attack to chance", "ISO/IEC 27559:2022", "NIST SP 800-188",
            "Pseudonymous Information Processing Guidelines", "A. Auditor", "2027-12-07",
            "<td>face.naive: 1\n          (0.65 to 1)</td>"]
    missing = [f for f in want if f not in html]
    assert not missing, f"sweep report lacks: {missing}"
    for absent in ("dlib", "id=\"ladder\"", "singling_out", "sweep-vs-audit"):  # no audit-only section
        assert absent not in html
    raw = re.findall(r"(?<![\w.])-?\d+\.\d{5,}", _visible_text(html))
    assert not raw, f"raw floats in the sweep report: {raw[:5]}"


def test_signoff_blank_when_not_given_is_a_line_to_fill_in():
    results = load_results(KINDS / "table" / "results.json")
    results.pop("signoff")
    html = render_html(results)
    section = html[html.index('<section id="signoff">'):]
    assert section.count('<span class="fill"') == 4  # auditor, organisation, review date, signature


def test_inconclusive_only_when_the_interval_reaches_a_material_advantage():
    a = {"risk": "low", "metrics": {"advantage_ci": [0.01, 0.47]}, "notes": []}
    assert level_word(a) == "inconclusive (low to high)"
    assert level_word({**a, "metrics": {"advantage_ci": [-0.02, 0.04]}}) == "low"
    assert level_word({**a, "metrics": {"advantage_ci": [0.0, 0.06]}}) == "inconclusive (low to medium)"
    assert level_word({"risk": "high", "metrics": {"advantage_ci": [0.3, 0.9]}}) == "high"
    assert level_word({"risk": None, "metrics": {}}) == "not scored"


def test_low_verdict_with_an_inconclusive_attack_reads_inconclusive():
    # regression (issue 16): singling_out.multivariate was labelled "low" beside its own note
    # "inconclusive: the interval reaches 47%"
    results = load_results(KINDS / "table" / "results.json")
    results["attacks"] = [a for a in results["attacks"] if a["name"] == "singling_out.multivariate"]
    results["tables"] = None
    results["verdict"] = {**results["verdict"], "risk": "low", "strongest_attack": "singling_out.multivariate",
                          "findings": []}
    html = render_html(results)
    assert "Overall risk: <strong>INCONCLUSIVE (LOW TO HIGH)</strong>" in html
    assert "Inconclusive, not low" in html
    assert '<span class="badge risk-low">' not in html
