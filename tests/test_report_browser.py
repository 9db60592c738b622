"""The reports in a real browser (issue 16): headless Chromium loads each kind of report (face,
table, video, sweep), with no console message (a blocked request or script logs one), no request
to the network (checked in Chromium's own net log), and prints it to a paginated PDF.

Skips with its reason when /usr/bin/chromium is absent (Debian: ``apt-get install -y chromium``).
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
KINDS = Path(__file__).resolve().parent / "golden" / "kinds"
#: hosts Chromium itself contacts in the background (sync, time, sign-in); never the page's requests.
#: --host-resolver-rules maps every host to nowhere, so even these do not leave the machine.
BROWSER_HOSTS = re.compile(r"^(https?://)?([\w.-]+\.)?(google\.com|gstatic\.com|googleapis\.com|gvt1\.com)(/|:|$)"
                           r"|^(https?://)?~notfound")

needs_chromium = pytest.mark.skipif(not CHROMIUM.is_file(),
                                    reason="headless Chromium not installed at /usr/bin/chromium "
                                           "(Debian: apt-get install -y chromium)")


def chromium_load(html: Path, tmp: Path) -> dict:
    """Load ``html`` in headless Chromium: its DOM after load, console messages, the URLs it
    requested (from the net log) and the PDF that "Save as PDF" would give."""
    pdf, netlog = tmp / f"{html.stem}.pdf", tmp / f"{html.stem}.netlog.json"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
           f"--user-data-dir={tmp / ('profile-' + html.stem)}", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--enable-logging=stderr", "--v=0", f"--log-net-log={netlog}", "--no-pdf-header-footer",
           f"--print-to-pdf={pdf}", "--dump-dom", html.as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    console = [line for line in p.stderr.splitlines() if ":CONSOLE" in line]
    urls: set[str] = set()
    if netlog.is_file():
        text = netlog.read_text(encoding="utf-8", errors="replace")
        urls = set(re.findall(r'"url"\s*:\s*"([^"]+)"', text))
    requested = sorted(u for u in urls if not u.startswith(("file:", "data:")) and not BROWSER_HOSTS.match(u))
    data = pdf.read_bytes() if pdf.is_file() else b""
    return {"returncode": p.returncode, "dom": p.stdout, "console": console, "requested": requested,
            "pdf": data, "pages": len(re.findall(rb"/Type\s*/Page[^s]", data)), "stderr": p.stderr}


def _render(kind: str, out: Path) -> Path:
    from auditkit.report import load_results, write_outputs
    from auditkit.report.sweep import sweep_outputs

    if kind == "sweep":
        return sweep_outputs(json.loads((KINDS / "sweep" / "sweep.json").read_text(encoding="utf-8")), out)["report"]
    return write_outputs(load_results(KINDS / kind / "results.json"), out)["report"]


SECTIONS = {"face": ["verdict", "ladder", "wp29", "intruder", "threat-model", "sweep-vs-audit", "mitigations",
                     "method", "iso27559", "nist-800-188", "pipc", "custody", "signoff"],
            "table": ["verdict", "ladder", "wp29", "intruder", "threat-model", "tables", "mitigations", "method",
                      "pipc", "signoff"],
            "video": ["verdict", "ladder", "wp29", "intruder", "threat-model", "video", "trajectories", "method",
                      "pipc", "signoff"],
            "sweep": ["privacy-curve", "sweep", "threat-model", "mitigations", "method", "custody", "signoff"]}


@needs_chromium
@pytest.mark.parametrize("kind", ["face", "table", "video", "sweep"])
def test_report_renders_in_headless_chromium_offline_and_prints(kind, tmp_path):
    html = _render(kind, tmp_path / "out")
    got = chromium_load(html, tmp_path)
    assert got["returncode"] == 0, got["stderr"][-2000:]
    dom = got["dom"]
    missing = [s for s in SECTIONS[kind] if f'id="{s}"' not in dom]
    assert not missing, f"{kind}: sections missing after load: {missing}"
    assert "<table" in dom
    assert not got["console"], f"{kind}: console messages: {got['console']}"
    assert not got["requested"], f"{kind}: the page requested {got['requested']}"
    assert got["pdf"].startswith(b"%PDF-"), f"{kind}: no PDF printed"
    assert got["pages"] >= 2, f"{kind}: printed to {got['pages']} page(s)"  # the sign-off starts a page


@needs_chromium
def test_browser_check_catches_an_external_request_and_a_console_error(tmp_path):
    """The checks above can fail: a page that loads an image from the network and logs an error."""
    html = _render("table", tmp_path / "out")
    text = html.read_text(encoding="utf-8")
    bad = tmp_path / "bad.html"
    bad.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text).replace(
        "</main>", '<img alt="probe" src="http://203.0.113.7/x.png"><script>console.error("boom")</script></main>'),
        encoding="utf-8")
    got = chromium_load(bad, tmp_path)
    assert any("boom" in c for c in got["console"])
    assert "http://203.0.113.7/x.png" in got["requested"]
    # with the report's own policy kept, the same additions are blocked, and the browser says so
    kept = tmp_path / "blocked.html"
    kept.write_text(text.replace("</main>", '<img alt="probe" src="http://203.0.113.7/x.png"></main>'),
                    encoding="utf-8")
    got = chromium_load(kept, tmp_path)
    assert any("Content Security Policy" in c for c in got["console"])
