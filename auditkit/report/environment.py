"""The one jinja Environment of auditkit's reports (the HTML report, the sweep report, and the
tests that render partials): packaged templates, autoescape on (file names and identity labels
are user input), StrictUndefined, the formatters as filters and the risk policy as a global."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .formatters import adv_ci, ci, level_class, level_word, num, outcome, pct, value
from .privacy import Pseudonyms

__all__ = ["environment", "template_dir"]


def template_dir() -> Path:
    """Folder of the packaged templates (``reports/templates`` in the source tree)."""
    try:
        from importlib.resources import files

        p = Path(str(files("auditkit._templates")))
        if (p / "report.html.j2").is_file():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    p = Path(__file__).resolve().parents[2] / "reports" / "templates"
    if (p / "report.html.j2").is_file():
        return p
    raise RuntimeError("auditkit report templates not found; reinstall auditkit")


def environment(pseudonyms: Pseudonyms | None = None):
    """A jinja Environment over the packaged templates with auditkit's filters.

    ``pseudonyms`` supplies the ``who``, ``gpath`` and ``redact`` filters (default: labels hidden,
    with no known label: every identity prints as "person ?")."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from ..scoring.risk import ANONYMIZED_MAX_ADVANTAGE, THRESHOLDS

    pseudo = pseudonyms or Pseudonyms([], reveal=False)
    env = Environment(loader=FileSystemLoader(str(template_dir())),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      bytecode_cache=_bytecode_cache())
    env.filters.update(pct=pct, num=num, ci=ci, adv_ci=adv_ci, outcome=outcome, who=pseudo, gpath=pseudo.path,
                       redact=pseudo.text, value=value, level=level_word, level_class=level_class)
    env.globals["attack_template"] = lambda a: attack_template(env, a)
    from .cmc_figure import UNITS
    from .frameworks import KIND_TITLES, attack_kind

    env.globals.update(kind_of=attack_kind, kind_titles=KIND_TITLES, cmc_units=UNITS)  # issue 16
    env.globals["policy"] = {"thresholds": THRESHOLDS, "anonymized_max": ANONYMIZED_MAX_ADVANTAGE}
    return env


def _bytecode_cache():
    """The compiled templates kept in the cache (issue 15: compiling the report's templates took a
    third of a second of every re-render). Jinja keys each entry by the template's name, file and
    source checksum, and the directory by jinja's version and this environment's options, so an
    edited template is compiled again. None when the cache folder cannot be created."""
    import jinja2
    from jinja2 import FileSystemBytecodeCache

    from ..features.cache import default_cache_dir, user_cache_allowed

    if not user_cache_allowed():  # --no-cache: nothing read from or written to the user's cache
        return None

    class _Cache(FileSystemBytecodeCache):  # an unreadable or read-only cache never stops a report
        def load_bytecode(self, bucket):
            try:
                super().load_bytecode(bucket)
            except Exception:  # noqa: BLE001  (a damaged entry: compiled again)
                bucket.reset()

        def dump_bytecode(self, bucket):
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    d = default_cache_dir() / "templates" / f"jinja{jinja2.__version__}-trim-lstrip-strict-autoescape"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _Cache(str(d))


def attack_template(env: Any, attack: dict) -> str:
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
