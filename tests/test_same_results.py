"""The refactor of issue 11 changes no result: four audits through the command line give the
results.json of the golden copies (written before the refactor by ``python tests/same_results.py
--write``), timestamps, durations, tool versions and absolute paths aside, floats to 1e-6."""
from __future__ import annotations

import json

import pytest
from same_results import differences, golden_path, run_case


@pytest.mark.parametrize("name", ["faces_generated", "table", "video"])
def test_same_results_as_before_the_refactor(name, tmp_path, feature_cache_dir):
    got = run_case(name, tmp_path / name, feature_cache_dir)
    want = json.loads(golden_path(name).read_text(encoding="utf-8"))
    diff = differences(got, want)
    assert not diff, f"{name}: results.json differs from tests/golden/results/{name}.json:\n" + "\n".join(diff)


def test_same_results_demo_on_att_faces(demo_att_case):
    got, _ = demo_att_case  # the run test_cli's demo test reads too
    want = json.loads(golden_path("demo_att").read_text(encoding="utf-8"))
    diff = differences(got, want)
    assert not diff, "demo: results.json differs from tests/golden/results/demo_att.json:\n" + "\n".join(diff)


def test_differences_sees_a_changed_number_and_a_missing_key():
    want = {"a": [1.0, {"b": "x"}], "c": 0.5}
    assert differences({"a": [1.0 + 1e-9, {"b": "x"}], "c": 0.5}, want) == []
    assert differences({"a": [1.001, {"b": "x"}], "c": 0.5}, want) == ["$.a[0]: 1.001 != 1.0"]
    assert differences({"a": [1.0, {}], "c": 0.5}, want) == ["$.a[1].b: missing"]


def test_population_figures_compared_to_their_own_tolerance():
    want = {"details": {"population": {"ci": 0.9558758}}, "rate": 0.9558758}
    assert differences({"details": {"population": {"ci": 0.9558718}}, "rate": 0.9558758}, want) == []
    assert differences({"details": {"population": {"ci": 0.9548}}, "rate": 0.9558758}, want) != []
    assert differences({"details": {"population": {"ci": 0.9558758}}, "rate": 0.9558718}, want) != []
