"""Issue 15: a re-render of unchanged results reuses the drawn figures; a changed number redraws."""
from __future__ import annotations

import copy

import pytest

from auditkit.report import figure_cache, figures


def _results():
    return {"created": "2026-12-07T00:00:00+00:00", "runtime": {"seconds": 1.0},
            "attacks": [{"name": "face.naive", "n_identities": 4, "cmc": [0.5, 0.75, 1.0, 1.0],
                         "details": {}}]}


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = figures.report_figures

    def spy(results):
        calls.append(1)
        return real(results)

    monkeypatch.setattr(figures, "report_figures", spy)
    return calls


def test_same_results_are_drawn_once(tmp_path, counted):
    r = _results()
    first = figure_cache.cached_report_figures(r, cache_dir=tmp_path)
    assert len(counted) == 1 and first["face.naive"]["cmc"].startswith("data:image/png;base64,")
    again = copy.deepcopy(r)
    again["runtime"] = {"seconds": 99.0}  # when and how fast a run went is never drawn
    again["created"] = "2027-01-01T00:00:00+00:00"
    assert figure_cache.cached_report_figures(again, cache_dir=tmp_path) == first
    assert len(counted) == 1


def test_changed_number_or_no_cache_redraws(tmp_path, counted):
    r = _results()
    figure_cache.cached_report_figures(r, cache_dir=tmp_path)
    changed = copy.deepcopy(r)
    changed["attacks"][0]["cmc"][0] = 0.25
    figure_cache.cached_report_figures(changed, cache_dir=tmp_path)
    assert len(counted) == 2
    figure_cache.cached_report_figures(r, cache_dir=False)
    assert len(counted) == 3


def test_damaged_entry_is_redrawn(tmp_path, counted):
    r = _results()
    figure_cache.cached_report_figures(r, cache_dir=tmp_path)
    for p in (tmp_path / "figures").rglob("*.npz"):
        p.write_bytes(b"garbage")
    figs = figure_cache.cached_report_figures(r, cache_dir=tmp_path)
    assert len(counted) == 2 and "face.naive" in figs
