"""The web service in a real browser: headless Chromium driven by Playwright against a
server started on loopback, with accessibility checked by axe-core (WCAG 2.2 AA)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from tests.report.pipeline import pipeline_workspace
from tests.web.conftest import PASSWORD, Served

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(served: Served) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(served.client.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api")
    assert CHROMIUM.exists(), "Chromium is missing: `make test` installs Debian's chromium"
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


def _axe(page) -> list[dict]:  # type: ignore[no-untyped-def]
    assert AXE.exists(), "axe-core is missing: `make install` runs npm ci in frontend/"
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]


def _sign_in(browser, base_url: str, username: str):  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(f"{base_url}/")
    assert page.url.endswith("/login")
    assert _axe(page) == []
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    return page


def _figure(page, name: str) -> str:  # type: ignore[no-untyped-def]
    return str(page.inner_text(f'[data-figure="{name}"]')).strip()


def test_dashboard_filters_charts_and_accessibility(browser, base_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = _sign_in(browser, base_url, "owen.council")
    before = _figure(page, "contacts")
    # Every chart rendered: an SVG with marks in it, announced with a label.
    charts = page.locator("figure.jd-figure svg[role=img]")
    assert charts.count() >= 2
    for i in range(charts.count()):
        assert charts.nth(i).locator("path, rect").count() > 0
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert _axe(page) == []

    page.select_option("#f-org", "council")
    page.click("text=Apply filters")
    page.wait_for_url(re.compile(r".*org=council.*"))
    after = _figure(page, "contacts")
    assert after != before
    assert page.locator('[data-figure="contacts:tax"]').count() == 0
    assert _axe(page) == []


def test_the_kept_page_arrives_compressed_and_its_sign_out_works(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    """Chromium takes the dashboard as gzip (the kept page with this session's part
    spliced in), shows who is signed in, and the spliced CSRF token signs out."""
    page = _sign_in(browser, base_url, "ada.council")
    response = page.goto(f"{base_url}/")
    assert response is not None and response.headers.get("content-encoding") == "gzip"
    assert "Signed in as ada.council" in page.inner_text(".govuk-phase-banner")
    assert page.locator("figure.jd-figure svg[role=img]").count() >= 2
    page.click("text=Sign out")
    page.wait_for_url(f"{base_url}/login")
    page.goto(f"{base_url}/")
    assert page.url.endswith("/login")


def test_correct_a_label(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page = _sign_in(browser, base_url, "ana.council")
    page.goto(f"{base_url}/labels")
    assert _axe(page) == []
    row = page.locator("tr[data-event]").first
    event_id = row.get_attribute("data-event")
    row.locator("select").select_option("complaint")
    row.locator("button").click()
    page.wait_for_url(f"{base_url}/labels")
    labels = page.request.get(f"{base_url}/api/labels").json()["rows"]
    assert (labels[-1]["event_id"], labels[-1]["category"]) == (event_id, "complaint")


def test_the_report_file_is_accessible(browser, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    report = pipeline_workspace(tmp_path_factory) / "report.html"
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    # Opens offline: the only request is the file itself.
    assert requests == [report.as_uri()]
    # Every section's charts rendered: the headline trends, contacts, demand, journeys
    # (hand-offs and process map drawn as graphs), money and fairness.
    charts = page.locator("figure.jd-figure svg[role=img]")
    assert charts.count() >= 10
    for i in range(charts.count()):
        assert charts.nth(i).locator("path, rect").count() > 0
    for section in ("headline", "journeys", "fairness", "data", "provenance"):
        assert page.locator(f"section#{section}").count() == 1
    assert _axe(page) == []
