"""The typed result: run_audit returns an AuditResult whose to_json() is the written results.json."""
from __future__ import annotations

import json

import pytest
from test_audit import make_generated

from auditkit import AuditConfig, AuditResult, run_audit
from auditkit.report import write_outputs
from auditkit.report.shareable import shareable
from auditkit.result import AttackResult, Verdict


def test_run_audit_returns_the_written_results(tmp_path, feature_cache_dir):
    g, r = make_generated(tmp_path)
    cfg = AuditConfig.from_flat(release=r, gallery=g, out=tmp_path / "out", cache_dir=feature_cache_dir,
                                progress=False)
    result = run_audit(cfg)
    assert isinstance(result, AuditResult) and isinstance(result.verdict, Verdict)
    assert all(isinstance(a, AttackResult) for a in result.attacks)
    # private by default (issue 10): what is written is the shareable form of the result
    paths = write_outputs(result, cfg.run.out)
    shared, mapping = shareable(result.to_dict())
    assert mapping and json.loads(paths["results"].read_text(encoding="utf-8")) == shared
    # with labels revealed, results.json is exactly result.to_json()
    revealed = run_audit(AuditConfig.from_flat(release=r, gallery=g, out=tmp_path / "out2",
                                               cache_dir=feature_cache_dir, progress=False, reveal_labels=True))
    written = write_outputs(revealed, tmp_path / "out2")["results"].read_text(encoding="utf-8")
    assert revealed.to_json() == written
    again = AuditResult.from_json(written)
    assert again.to_json() == written and again == revealed
    naive = result.attack("face.naive")
    h = naive.headline
    assert h.rate == naive.metrics["rank1"] and h.reference == naive.metrics["chance_rank1"] == 0.25
    assert h.reference_kind == "chance" and h.n == naive.metrics["n_mated"]
    assert h.advantage_interval == tuple(naive.metrics["advantage_ci"])
    assert result.inputs.gallery["n_files"] == 12 and result.inputs.tables is None and result.tables is None
    with pytest.raises(KeyError, match="attacks run: face.naive"):
        result.attack("face.magic")


def test_rate_attack_headline_uses_the_baseline():
    a = AttackResult(name="linkage.exact", cue="table", criterion="linkability", n_probes=10, n_identities=10,
                     metrics={"success_rate": 0.3, "success_rate_ci": [0.1, 0.6], "baseline": 0.1, "n": 10,
                              "advantage": 0.22, "advantage_ci": [0.0, 0.5]})
    h = a.headline
    assert (h.rate, h.interval, h.reference, h.reference_kind, h.n) == (0.3, (0.1, 0.6), 0.1, "baseline", 10)


def test_from_json_rejects_other_files_and_schemas():
    with pytest.raises(ValueError, match="not an auditkit results file"):
        AuditResult.from_json(json.dumps({"schema": "other/1"}))
    with pytest.raises(ValueError, match="auditkit.results/2"):
        AuditResult.from_json(json.dumps({"schema": "auditkit.results/2"}))
