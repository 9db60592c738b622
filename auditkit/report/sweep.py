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
    return environment().get_template("sweep_report.html.j2").render(sweep=sweep, figure=fig, sv=sweep_view(sweep))


#: what each attack of the ladder knows of the obfuscation in a sweep (issue 16 threat model)
_KNOWS = {"face.naive": "nothing: matches the obfuscated probe against the clear calibration images",
          "face.parrot": "the family and the exact strength: obfuscates the calibration images the same way",
          "face.pixels": "the family and the strength: trains pixel classifiers on calibration images obfuscated at and around it",
          "face.learned": "the family and the strength: trains on calibration images obfuscated at and around it",
          "face.reconstruct": "the family and the strength: inverts the obfuscation before matching"}


def sweep_view(sweep: dict[str, Any]) -> dict[str, Any]:
    """What the sweep report's threat-model, mitigation, residual-risk and sign-off sections show,
    read from the sweep's stored values (nothing recomputed)."""
    from .formatters import num

    sp = sweep.get("split") or {}
    params = sweep.get("parameters") or {}
    gallery = (f"{num(params.get('n_calibration'))} clear calibration image(s) for each of "
               f"{num(sp.get('identities'))} people")
    threat = [{"name": a, "gallery": gallery, "aux": "none beyond the calibration images",
               "knowledge": _KNOWS.get(a, "the family and the strength")} for a in params.get("attacks") or []]
    residual = []
    for fam, d in (sweep.get("families") or {}).items():
        s = (d.get("recommendation") or {}).get("strength")
        p = next((p for p in d.get("points") or [] if s is not None and p.get("strength") == s), None)
        if p and p.get("strongest"):
            st = p["strongest"]
            lo, hi = st.get("advantage_ci") or (None, None)
            residual.append(f"{fam} at {d.get('param')} = {num(s)}: the strongest attack ({st['name']}) has an advantage "
                            f"of {num(st.get('advantage'), 2)} (95% CI {num(lo, 2)} – {num(hi, 2)}) on "
                            f"{num(p.get('n_probes'))} probes; up to {num(hi, 2)} is not ruled out.")
        elif s is None:
            residual.append(f"{fam}: no tested strength brings every attack to chance; the residual risk at the "
                            "strongest tested is in the table above.")
    residual.append("Attacks stronger than the ladder run, and galleries with more or better images per person, "
                    "may still re-identify at the recommended strength.")
    sign = sweep.get("signoff") or {}
    return {"threat": threat, "residual": residual,
            "signoff": {k: sign.get(k) for k in ("auditor", "organisation", "review_after")}}


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


