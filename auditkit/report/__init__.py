"""Outputs: results.json, matches.csv, skipped.csv and the self-contained HTML report.

The report never computes metrics: it reads the results dictionary (what results.json
holds) and draws figures from the numbers stored there, so ``auditkit report results.json``
re-renders the same report without re-running anything.

Private by default: without ``show_examples`` no identity label and no gallery image appear
in the HTML (identities are shown as pseudonyms such as "person 07"); with it, example
images are shown redacted unless ``redact_examples`` is False.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from ..result import AuditResult
from .environment import environment, template_dir
from .figure_cache import cached_report_figures
from .formatters import adv_ci, ci, num, outcome, pct
from .privacy import Pseudonyms, all_labels

__all__ = ["Pseudonyms", "adv_ci", "ci", "environment", "load_results", "num", "outcome", "pct", "render_html",
           "template_dir", "write_outputs"]


# ------------------------------------------------------------------------------- rendering

def render_html(results: dict) -> str:
    """The self-contained HTML report for a results dictionary."""
    opts = results.get("options") or {}
    reveal = bool(opts.get("show_examples"))
    # results already pseudonymised for sharing (report.shareable): names pass through as they are
    done = bool((results.get("privacy") or {}).get("pseudonymised"))
    pseudo = Pseudonyms(all_labels(results), reveal=reveal or done or bool(opts.get("reveal_labels")))
    tmpl = environment(pseudo).get_template("report.html.j2")
    from .frameworks import framework_view, overall_level

    word, css = overall_level(results)
    return tmpl.render(r=results, figs=cached_report_figures(results), reveal=reveal, fw=framework_view(results),
                       overall_word=word, overall_class=css, examples=_examples(results, pseudo) if reveal else [])


def _examples(results: dict, pseudo: Pseudonyms, *, limit: int = 6) -> list[dict[str, Any]]:
    """Example release faces with their top candidate, redacted unless asked otherwise."""
    from PIL import Image

    from ..data.media import MediaError, load_image, sha256_file
    from ..obfuscation.spec import ObfuscationSpec, apply_obfuscation

    redact = (results.get("options") or {}).get("redact_examples", True)
    if "release" not in results.get("inputs", {}):
        return []
    root = Path(results["inputs"]["release"]["path"])
    hashes = {f["path"]: f["sha256"] for f in results["inputs"]["release"]["files"]}
    out = []
    for a in results.get("attacks", []):
        for row in a.get("details", {}).get("matches", [])[: limit * 3]:
            rel = row["probe"].split("#")[0]
            p = root / rel
            try:
                if sha256_file(p) != hashes.get(rel):
                    continue  # the file changed since the audit: do not show something else
                img = load_image(p)
            except (OSError, MediaError):
                continue
            if redact:
                img = apply_obfuscation(img, ObfuscationSpec("pixelate", max(6, img.shape[1] // 8)))
            im = Image.fromarray(img)
            im.thumbnail((160, 160))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            out.append({"attack": a["name"], "probe": row["probe"], "truth": pseudo(row.get("truth")),
                        "top": pseudo(row["candidates"][0]), "rank": row.get("true_rank"),
                        "uri": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()})
            if len(out) >= limit:
                return out
    return out


def load_results(path: str | Path) -> dict:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{p}: file not found") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("auditkit.results/"):
        raise ValueError(f"{p}: not an auditkit results file (schema 'auditkit.results/1' expected)")
    return data


_FORMULA = re.compile(r"^[=+\-@\t\r]")


def _csv_safe(v: Any) -> Any:
    """Neutralise spreadsheet formula injection in user-supplied strings."""
    if isinstance(v, str) and _FORMULA.match(v):
        return "'" + v
    return v


def write_outputs(results: AuditResult | dict, out: str | Path, *, html: bool = True) -> dict[str, Path]:
    """Write results.json, matches.csv, skipped.csv and report.html into ``out``.

    Private by default (:mod:`auditkit.report.shareable`): unless the options reveal labels, these
    four files carry pseudonyms and relative paths, and the pseudonym -> identity mapping goes to
    ``out/private/labels.csv`` (returned as ``paths["private_labels"]``). With labels revealed,
    results.json is exactly ``results.to_json()``."""
    from .shareable import shareable, write_private

    if isinstance(results, AuditResult):
        results = results.to_dict()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    raw_parameters = results.get("parameters") or {}
    results, mapping = shareable(results)
    paths = {"results": out / "results.json", "matches": out / "matches.csv",
             "skipped": out / "skipped.csv", "report": out / "report.html"}
    paths["results"].write_text(json.dumps(results, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    with open(paths["matches"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["attack", "probe", "truth", "true_rank", "true_score", "rank", "candidate", "score"])
        for a in results.get("attacks", []):
            for row in a.get("details", {}).get("matches", []):
                for k, (c, s) in enumerate(zip(row["candidates"], row["scores"]), start=1):
                    w.writerow([_csv_safe(x) for x in (a["name"], row["probe"], row.get("truth") or "",
                                row.get("true_rank", ""), row.get("true_score", ""), k, c, s)])
    with open(paths["skipped"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "stage", "reason"])
        for s in results.get("skipped", []):
            w.writerow([_csv_safe(s["path"]), s.get("stage", ""), _csv_safe(s["reason"])])
    if html:
        from ..progress import step

        with step("report: figures and HTML"):
            paths["report"].write_text(render_html(results), encoding="utf-8")
    else:
        paths.pop("report")
    private = write_private(out, mapping)
    if private is not None:
        paths["private_labels"] = private
        from ..bundle import write_input_paths

        write_input_paths(out, raw_parameters)  # where the inputs were, for `auditkit verify OUT` (issue 16)
    return paths
