"""The dashboard in a real browser (headless Chromium driven by Playwright) against a running
paper session: without the token it shows only the login; with it the page renders, updates
as the session runs, draws the underlying's and the equity's charts, and its buttons reach
the engine (journaled with source ``dashboard``), kill and force-exit only after a
confirmation, unlock only with its word; no console message at all; a call without the token
is refused. Skipped only when no chromium binary is on PATH (CI installs Debian's)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from ctl_session import Session, commands

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    s = Session(tmp_path_factory.mktemp("dash") / "run").wait_api()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def test_the_dashboard_shows_and_steers_the_session(session: Session, browser) -> None:  # type: ignore[no-untyped-def]
    s = session
    page = browser.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    # without the token: the login alone, no data
    page.goto(s.url + "/")
    page.wait_for_selector("#login", state="visible")
    assert page.is_hidden("#app")
    # with it (in the fragment, which no server sees)
    page.goto(f"{s.url}/#token={s.token}")
    page.wait_for_selector("#app", state="visible")
    page.wait_for_function("document.getElementById('bar').textContent.startsWith('bar ')")
    first = page.inner_text("#bar")
    page.wait_for_function(f"document.getElementById('bar').textContent !== {first!r}")
    assert "#token" not in page.url  # taken out of the address bar
    page.wait_for_selector("#chart-price .main-svg")
    page.wait_for_selector("#chart-equity .main-svg")
    assert page.inner_text("#state") in ("active", "reducing")
    # pause, resume
    page.click("#btn-pause")
    page.wait_for_function("document.getElementById('result').dataset.state === 'applied'")
    page.wait_for_function("document.getElementById('why').textContent.includes('paused')")
    page.click("#btn-resume")
    page.wait_for_function(
        "document.getElementById('result').textContent.startsWith('resume-entries applied')"
    )
    # kill: dismissed at the confirmation, nothing is sent; accepted, the session halts
    page.once("dialog", lambda d: d.dismiss())
    page.click("#btn-kill")
    page.wait_for_timeout(300)
    assert page.inner_text("#state") != "halted"
    page.once("dialog", lambda d: d.accept())
    page.click("#btn-kill")
    page.wait_for_function("document.getElementById('state').textContent === 'halted'")
    # unlock: a wrong word is refused by the engine; UNLOCK releases it
    page.once("dialog", lambda d: d.accept("unlock please"))
    page.click("#btn-unlock")
    page.wait_for_function("document.getElementById('result').dataset.state === 'refused'")
    page.once("dialog", lambda d: d.accept("UNLOCK"))
    page.click("#btn-unlock")
    page.wait_for_function("document.getElementById('state').textContent !== 'halted'")
    page.wait_for_selector(".event-command")  # the events list shows the commands
    assert messages == []
    # the same page's call without the token is refused
    other = browser.new_page()
    other.goto(s.url + "/")
    code = other.evaluate("fetch('/api/status').then((r) => r.status)")
    assert code == 401
    got = [(c, src) for c, src, _ in commands(s.journal())]
    assert got == [
        ("pause-entries", "dashboard"),
        ("resume-entries", "dashboard"),
        ("kill", "dashboard"),
        ("unlock", "dashboard"),
    ]
    refused = [e for e in s.journal() if e["kind"] == "command_refused"]
    assert [(e["command"], e["source"]) for e in refused] == [("unlock", "dashboard")]


def test_force_exit_from_a_position_row(session: Session, browser) -> None:  # type: ignore[no-untyped-def]
    s = session
    page = browser.new_page()
    page.goto(f"{s.url}/#token={s.token}")
    # the session runs 600 times real time: a position may close (its time stop, say) between
    # the row's drawing and the click; the command is then refused by name, and the next
    # position's row is tried
    for _ in range(5):
        page.wait_for_selector("button.force-one", timeout=90_000)
        button = page.locator("button.force-one").first
        trade = int(button.get_attribute("data-trade") or 0)
        page.evaluate("document.getElementById('result').dataset.state = ''")
        page.once("dialog", lambda d: d.accept())
        button.click()
        page.wait_for_function("document.getElementById('result').dataset.state !== ''")
        state = page.evaluate("document.getElementById('result').dataset.state")
        if state == "applied":
            break
        assert state == "refused" and f"no open trade {trade}" in page.inner_text("#result")
    else:
        raise AssertionError("every position closed before its force-exit came")
    assert ("force-exit", "dashboard", str(trade)) in commands(s.journal())
    s.wait_forced_exit(trade)
