"""report.html in a real browser: headless Chromium renders every plotly figure, with no
JavaScript console message, from a file:// URL (no network).

Chromium (Debian's 156 here) writes each page console message to stderr, whatever its level
(console.log, console.error, uncaught exceptions), as a log line such as
``[pid:tid:MMDD/HHMMSS.micros:INFO:CONSOLE:12] "Uncaught Error: x", source: file:///... (12)``
(older builds: ``INFO:CONSOLE(12)]``). console.error is *not* logged as ``ERROR:CONSOLE``, so a
test looking for that alone could never fail; ``CONSOLE_LINE`` matches any level and any console
message fails the test. ``test_console_detector_catches_errors`` proves the detector on a page
that logs an error and throws. The trade table is driven by real clicks: a copy of the report
ends with a script that clicks a column header (twice) and a row, as a person would, and the
dumped DOM shows the rows' order and the drawn chart. Skipped only when no chromium binary is on
PATH.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dyntrail.analytics.report import write_report
from test_report import build_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (CI installs Debian's chromium)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=10000",
]
CONSOLE_LINE = re.compile(r"^\[[^\]\n]*:CONSOLE[:(][^\]\n]*\]\s?(.*)$", re.MULTILINE)


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``page`` with a fresh profile (the timeout only guards a hang)."""
    assert CHROMIUM is not None
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_console_detector_catches_errors(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><p id='p'>x</p><script>"
        "console.error('DELIBERATE_CONSOLE_ERROR'); throw new Error('DELIBERATE_THROW');"
        "</script></body></html>",
        encoding="utf-8",
    )
    messages = CONSOLE_LINE.findall(_chromium(page, tmp_path / "prof", "--dump-dom").stderr)
    assert any("DELIBERATE_CONSOLE_ERROR" in m for m in messages), messages
    assert any("Uncaught" in m and "DELIBERATE_THROW" in m for m in messages), messages


def test_report_renders_every_figure_without_console_messages(tmp_path: Path) -> None:
    run, bars = build_run(tmp_path)
    report = write_report(run, bars=bars)
    ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', report.read_text("utf-8"))
    assert ids == ["fig-equity", "fig-monthly"]
    proc = _chromium(report, tmp_path / "prof", "--dump-dom")
    assert CONSOLE_LINE.findall(proc.stderr) == []
    dom = proc.stdout
    starts = [dom.index(f'id="{i}"') for i in ids]
    for div_id, a, b in zip(ids, starts, [*starts[1:], len(dom)], strict=True):
        assert 'class="main-svg"' in dom[a:b], f"{div_id} did not render"


# a person's clicks: net P&L header (ascending, order noted), again (descending), then trade 1
CLICKS = """<script>
var th = document.querySelector('#trade-table th[data-k="pnl_net"]');
var order = function () {
  return Array.prototype.map.call(document.querySelectorAll('#trade-table tbody tr'),
    function (r) { return r.dataset.id; }).join(',');
};
th.click();
document.body.setAttribute('data-ascending', order());
th.click();
document.body.setAttribute('data-descending', order());
document.querySelector('#trade-table tbody tr[data-id="1"] td:nth-child(3)').click();
</script></body>"""


def test_table_sorts_and_a_row_draws_its_chart(tmp_path: Path) -> None:
    run, bars = build_run(tmp_path)
    page = write_report(run, bars=bars).read_text("utf-8")
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.replace("</body>", CLICKS), encoding="utf-8")
    proc = _chromium(clicked, tmp_path / "prof", "--dump-dom")
    assert CONSOLE_LINE.findall(proc.stderr) == []
    dom = proc.stdout
    # net P&L: #1 5,200, #2 −2,100, #3 −800, #4 3,100
    assert 'data-ascending="2,3,4,1"' in dom and 'data-descending="1,4,3,2"' in dom
    assert 'aria-sort="descending"' in dom
    assert '<tr data-id="1" class="sel">' in dom
    chart = dom[dom.index('id="trade-chart"') :]
    chart = chart[: chart.index('id="trade-data"')]
    assert 'class="main-svg"' in chart, "the trade chart was not drawn"
    legend = set(re.findall(r'class="legendtext"[^>]*>([^<]*)<', chart))
    expected = {"underlying", "entry", "T1", "T2", "exit", "premium"}
    expected |= {"stop (initial)", "stop (break_even)", "stop (trail)"}
    assert expected <= legend, legend
    assert 'class="y2tick"' in chart  # the premium's own axis on the right
    assert "T1 partial" in chart and "#1 BUY CE" in chart


def test_report_screenshot(tmp_path: Path) -> None:
    run, bars = build_run(tmp_path)
    report = write_report(run, bars=bars)
    shot = tmp_path / "report.png"
    extra = ("--hide-scrollbars", "--window-size=1300,6000", f"--screenshot={shot}")
    proc = _chromium(report, tmp_path / "prof", *extra)
    assert CONSOLE_LINE.findall(proc.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
