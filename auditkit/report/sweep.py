"""The sweep report: ``sweep.json`` and a self-contained ``report.html`` (privacy curve + table)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .environment import environment

__all__ = ["render_sweep_html", "sweep_outputs"]


def render_sweep_html(sweep: dict[str, Any]) -> str:
    """The self-contained sweep report (privacy curve figure + the sweep table) for ``sweep``."""
    from .figures import privacy_curve_uri

    fig = privacy_curve_uri(sweep) if sweep.get("curve") else None
    return environment().get_template("sweep_report.html.j2").render(sweep=sweep, figure=fig)


def sweep_outputs(sweep: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Write ``sweep.json`` and ``report.html`` into ``out``; return their paths."""
    from ..result import to_jsonable
    from .shareable import shareable, write_private

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data, mapping = shareable(to_jsonable(sweep))  # private by default (issue 10)
    write_private(out, mapping)
    paths = {"sweep": out / "sweep.json", "report": out / "report.html"}
    paths["sweep"].write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    paths["report"].write_text(render_sweep_html(data), encoding="utf-8")
    return paths


