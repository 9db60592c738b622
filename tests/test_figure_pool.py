"""Issue 15: with the audit's worker pool running, the report's figures are drawn there in
parallel — the same PNGs byte for byte, the same entries in the same order as drawn here."""
from __future__ import annotations

import json
from pathlib import Path

from auditkit.features import executors
from auditkit.report import figures, load_results

GOLDEN = Path(__file__).resolve().parent / "golden" / "report" / "results.json"


def _results() -> dict:
    r = load_results(GOLDEN)  # a face audit: an overview CMC, per attack CMC, scores, gallery size
    r["attacks"] = r["attacks"] + [{**r["attacks"][0], "name": "face.other", "cmc": [0.2, 0.6, 0.9, 1.0]}]
    return r


def test_figures_drawn_on_the_pool_equal_the_figures_drawn_here(monkeypatch):
    executors.close_pools()
    r = _results()
    here = figures.report_figures(r)
    assert len(figures.figure_tasks(r)) > 2 and sum(len(v) for v in here.values()) >= 4
    pool = executors._pool(2, None, ())
    try:
        used = []
        real_map = type(pool).map
        monkeypatch.setattr(pool, "map", lambda fn, it: used.append(fn) or real_map(pool, fn, it), raising=False)
        assert executors.running_pool() is pool
        on_pool = figures.report_figures(r)
    finally:
        executors.close_pools()
    assert used == [figures.draw_figure]  # drawn there
    assert json.dumps(on_pool) == json.dumps(here)  # same entries, same order, same bytes


def test_a_failing_pool_falls_back_to_drawing_here(monkeypatch):
    class Broken:
        def map(self, fn, it):
            raise RuntimeError("worker lost")

    monkeypatch.setattr(executors, "running_pool", lambda: Broken())
    r = _results()
    got = figures.report_figures(r)
    monkeypatch.setattr(executors, "running_pool", lambda: None)
    assert json.dumps(got) == json.dumps(figures.report_figures(r))
