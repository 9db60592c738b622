"""Golden-file report test (black's tests/data/cases style): a fixed results.json rendered through
the real Environment gives the expected CSVs byte for byte and the expected HTML fragments.

tests/golden/report/results.json is the same-results harness's generated-faces audit with fixed
run circumstances; matches.csv and skipped.csv were written from it by this version. A change
in these files is a change in what users receive: update them only on purpose (they were
rewritten once when the shareable outputs became pseudonymised, issue 10)."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from auditkit.report import load_results, write_outputs
from auditkit.report.shareable import shareable
from auditkit.result import AuditResult

GOLDEN = Path(__file__).resolve().parent / "golden" / "report"

#: fragments of report.html (verdict, summary figure, sections, tables measure, runtime, privacy)
FRAGMENTS = [
    '<p class="level">Overall risk: <strong>HIGH</strong>',
    "anonymized against the attacks run: <strong>no</strong></p>",
    '<p class="summary">The de-identification does not anonymize: with face.naive, 100% of 4 release faces '
    "re-identified at rank 1 (95% CI 51%-100%), chance 25%. Risk: high.</p>",
    "100% of 4 release faces re-identified at rank 1 (95% CI 51% – 100%); chance 25%; "
    "advantage over chance 1 (0.35 – 1).",
    "<h2>Attacks side by side</h2>",
    "<h2>Estimated obfuscation</h2>",
    "<h2>Released tables and metadata</h2>",
    "k-anonymity (smallest group of identical records)</th><td>2</td></tr>",
    "<td>face.naive</td><td>face</td><td>singling out</td>",
    "Runtime 3.25 s; feature cache: 12 hits, 4 computed.",
    "person 01",
]


def test_fixed_results_render_to_the_golden_csvs_and_fragments(tmp_path, monkeypatch):
    # the pseudonym key is drawn from the audited files' bytes, absent here: fix it for the comparison
    from auditkit.report import shareable as shareable_mod

    monkeypatch.setattr(shareable_mod, "_key_material", lambda results: b"golden")
    results = load_results(GOLDEN / "results.json")
    paths = write_outputs(results, tmp_path)
    # the shareable CSVs carry pseudonyms (issue 10; their order is keyed on the audited files,
    # absent here, so it is random): mapped back through the private labels file, they are the
    # golden CSVs byte for byte, and no label is left in them
    with open(paths["private_labels"], newline="", encoding="utf-8") as f:
        back = {row["pseudonym"]: row["identity"] for row in csv.DictReader(f)}
    for name in ("matches", "skipped"):
        want = (GOLDEN / f"{name}.csv").read_text(encoding="utf-8")
        got = paths[name].read_text(encoding="utf-8")
        assert not re.search(r"\bid_\d\b", got), f"{name}.csv names an identity"
        assert re.sub(r"person \d+", lambda m: back[m.group(0)], got) == want, f"{name}.csv differs from tests/golden/report"
    html = paths["report"].read_text(encoding="utf-8")
    missing = [f for f in FRAGMENTS if f not in html]
    assert not missing, f"report.html lacks: {missing}"
    for label in ("id_0", "id_1", "id_2", "id_3"):  # private by default: identity labels never shown
        assert label not in html
    # results.json is written back as its shareable form (issue 10: pseudonyms, relative paths),
    # and the private mapping turns the pseudonyms back into the golden labels
    shared, mapping = shareable(json.loads((GOLDEN / "results.json").read_text(encoding="utf-8")))
    assert json.loads(paths["results"].read_text(encoding="utf-8")) == shared
    assert sorted(mapping) == ["id_0", "id_1", "id_2", "id_3"]  # label -> pseudonym
    assert paths["private_labels"].is_file() and "id_0" in paths["private_labels"].read_text(encoding="utf-8")
    typed = AuditResult.from_dict(results)
    assert typed.to_dict() == results and typed.verdict.risk == "high"
