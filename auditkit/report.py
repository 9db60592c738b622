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
import math
import re
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["load_results", "num", "pct", "render_html", "template_dir", "write_outputs"]


def template_dir() -> Path:
    """Folder of the packaged templates (``reports/templates`` in the source tree)."""
    try:
        from importlib.resources import files

        p = Path(str(files("auditkit._templates")))
        if (p / "report.html.j2").is_file():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    p = Path(__file__).resolve().parents[1] / "reports" / "templates"
    if (p / "report.html.j2").is_file():
        return p
    raise RuntimeError("auditkit report templates not found; reinstall auditkit")


# ------------------------------------------------------------------------------- filters

def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x: Any, digits: int = 1) -> str:
    """0-1 fraction -> percentage; tiny non-zero values print as '< 0.1%', never as 0%."""
    if _nan(x):
        return "n/a"
    x = float(x)
    if 0 < x < 0.001:
        return "< 0.1%"
    if 0.999 < x < 1:
        return "> 99.9%"
    s = f"{100 * x:.{digits}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s + "%"


def num(x: Any, digits: int = 3) -> str:
    if _nan(x):
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return f"{int(x):,}"
    return f"{float(x):.{digits}g}"


def outcome(a: dict, unit: str | None = None) -> str:
    """One plain sentence for an attack's headline figure (rate, n, interval, chance, advantage)."""
    from .risk import outcome_phrase

    m = a.get("metrics") or {}
    rate = m.get("rank1", m.get("success_rate"))
    if rate is None or _nan(rate):
        return "not scored (no ground truth)."
    rci = m.get("rank1_ci", m.get("success_rate_ci"))
    p0 = m.get("chance_rank1", m.get("baseline"))
    n = m.get("n_mated", m.get("n"))
    default_unit, happened, base = outcome_phrase(a.get("cue"), a.get("criterion"))
    unit = unit or default_unit
    text = (f"{pct(rate)} of {num(n)} {unit} {happened} (95% CI {ci(rci)}); {base} {pct(p0)}; "
            f"advantage over {base} {num(m.get('advantage'), 2)} ({adv_ci(m.get('advantage_ci'))}).")
    if m.get("control") is not None and not _nan(m.get("control")):
        text += f" Control records (not in the release): {pct(m['control'])}."
    return text


def ci(interval: Any) -> str:
    if not interval or any(_nan(v) for v in interval):
        return "n/a"
    return f"{pct(interval[0])} – {pct(interval[1])}"


def adv_ci(interval: Any) -> str:
    if not interval or any(_nan(v) for v in interval):
        return "n/a"
    return f"{num(interval[0], 2)} – {num(interval[1], 2)}"


# ------------------------------------------------------------------------------- privacy

class Pseudonyms:
    """Stable pseudonyms ('person 07') for identity labels, in sorted label order."""

    def __init__(self, labels: list[str], *, reveal: bool):
        self.reveal = reveal
        width = max(2, len(str(len(labels))))
        self.map = {lab: f"person {i + 1:0{width}d}" for i, lab in enumerate(sorted(set(labels)))}

    def __call__(self, label: Any) -> str:
        if label is None:
            return "unknown"
        if self.reveal:
            return str(label)
        return self.map.get(label, "person ?")

    def text(self, text: Any) -> str:
        """Replace identity labels used as gallery folder names (``label/``) in free text."""
        text = str(text)
        if self.reveal or not self.map:
            return text
        if not hasattr(self, "_rx"):
            alts = "|".join(re.escape(l) for l in sorted(self.map, key=len, reverse=True))
            self._rx = re.compile(rf"(?<![\w/])({alts})(?=/)")
        return self._rx.sub(lambda m: self.map[m.group(1)], text)

    def path(self, path: str) -> str:
        """Hide the identity folder of a gallery path (gallery/<identity>/file)."""
        if self.reveal:
            return path
        parts = PurePosixPath(path).parts
        if len(parts) >= 3 and parts[0] == "gallery":
            return str(PurePosixPath("gallery", self(parts[1]), "…"))
        return path


def _all_labels(results: dict) -> list[str]:
    labs: set[str] = set()
    for a in results.get("attacks", []):
        for row in a.get("details", {}).get("per_subject", []):
            labs.add(row["subject"])
        for row in a.get("details", {}).get("matches", []):
            labs.update(row.get("candidates", []))
            if row.get("truth"):
                labs.add(row["truth"])
    for f in results.get("inputs", {}).get("gallery", {}).get("files", []):
        parts = PurePosixPath(f["path"]).parts
        if len(parts) >= 2:
            labs.add(parts[0])
    if (results.get("evaluation") or {}).get("kind") == "gait":  # probe folders are <subject>/...
        for f in results.get("inputs", {}).get("release", {}).get("files", []):
            parts = PurePosixPath(f["path"]).parts
            if len(parts) >= 2:
                labs.add(parts[0])
    return sorted(labs)


# ------------------------------------------------------------------------------- figures

def _fig_to_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(results: dict) -> dict[str, dict[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, dict[str, str]] = {}
    ident = [a for a in results.get("attacks", []) if a.get("cmc")]
    if ident:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for a in ident:
            cmc = a["cmc"]
            ax.plot(range(1, len(cmc) + 1), cmc, marker="o", ms=3, label=a["name"])
        m = max(len(a["cmc"]) for a in ident)
        # one chance line per gallery size: cues may be scored against different identity sets
        sizes = sorted({a["n_identities"] for a in ident})
        for n_id in sizes:
            ax.plot(range(1, m + 1), [min(k, n_id) / n_id for k in range(1, m + 1)], "k--", lw=1,
                    label="chance" if len(sizes) == 1 else f"chance ({n_id} identities)")
        ax.set_xlabel("rank k")
        ax.set_ylabel("share of release items found by rank k")
        ax.set_ylim(0, 1.02)
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("Cumulative match characteristic (CMC)")
        figs["_cmc_all"] = {"cmc": _fig_to_uri(fig)}
    for a in results.get("attacks", []):
        out: dict[str, str] = {}
        if a.get("cmc"):
            fig, ax = plt.subplots(figsize=(5, 3.2))
            cmc = a["cmc"]
            n_id = a["n_identities"]
            ks = range(1, len(cmc) + 1)
            ax.plot(ks, cmc, marker="o", ms=3, label=a["name"])
            ax.plot(ks, [min(k, n_id) / n_id for k in ks], "k--", lw=1, label="chance")
            ax.set_xlabel("rank k")
            ax.set_ylabel("identified by rank k")
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            out["cmc"] = _fig_to_uri(fig)
        hist = a.get("details", {}).get("score_hist")
        if hist and any(hist["genuine"]):
            import numpy as np

            edges = np.array(hist["edges"])
            centres = (edges[:-1] + edges[1:]) / 2
            width = edges[1] - edges[0]
            fig, ax = plt.subplots(figsize=(5, 3.2))
            ax.bar(centres, hist["impostor"], width=width, alpha=0.55, label="different person (impostor)")
            ax.bar(centres, hist["genuine"], width=width, alpha=0.55, label="same person (genuine)")
            ax.set_xlabel("similarity score (higher = more alike)")
            ax.set_ylabel("share of comparisons")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
            out["scores"] = _fig_to_uri(fig)
        figs[a["name"]] = out
    if results.get("sweep"):
        from .figures import privacy_curve_uri

        figs["_sweep"] = {"curve": privacy_curve_uri(results["sweep"])}
    return figs


# ------------------------------------------------------------------------------- rendering

def render_html(results: dict) -> str:
    """The self-contained HTML report for a results dictionary."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    opts = results.get("options") or {}
    reveal = bool(opts.get("show_examples"))
    pseudo = Pseudonyms(_all_labels(results), reveal=reveal)
    env = Environment(loader=FileSystemLoader(str(template_dir())),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, num=num, ci=ci, adv_ci=adv_ci, outcome=outcome, who=pseudo, gpath=pseudo.path,
                       redact=pseudo.text)
    env.globals["attack_template"] = lambda a: _attack_template(env, a)
    from .risk import ANONYMIZED_MAX_ADVANTAGE, THRESHOLDS

    env.globals["policy"] = {"thresholds": THRESHOLDS, "anonymized_max": ANONYMIZED_MAX_ADVANTAGE}
    tmpl = env.get_template("report.html.j2")
    return tmpl.render(r=results, figs=_figures(results), reveal=reveal,
                       examples=_examples(results, pseudo) if reveal else [])


def _attack_template(env, attack: dict) -> str:
    """``attacks/<cue>.html.j2`` when there is one; else by the kind of metrics the attack has."""
    from jinja2 import TemplateNotFound

    if str(attack.get("name", "")).startswith("linkage.sightings"):  # issue 12
        return "attacks/linkage.html.j2"
    name = f"attacks/{attack.get('cue', 'other')}.html.j2"
    try:
        env.get_template(name)
        return name
    except TemplateNotFound:
        m = attack.get("metrics") or {}
        return "attacks/identification.html.j2" if "rank5" in m or attack.get("cmc") \
            else "attacks/rate.html.j2"


def _examples(results: dict, pseudo: Pseudonyms, *, limit: int = 6) -> list[dict[str, Any]]:
    """Example release faces with their top candidate, redacted unless asked otherwise."""
    from PIL import Image

    from .data.media import MediaError, load_image, sha256_file
    from .obfuscation import ObfuscationSpec, apply_obfuscation

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


def write_outputs(results: dict, out: str | Path, *, html: bool = True) -> dict[str, Path]:
    """Write results.json, matches.csv, skipped.csv and report.html into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
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
        paths["report"].write_text(render_html(results), encoding="utf-8")
    else:
        paths.pop("report")
    return paths
