"""The demo runs end to end and its report states figures that match the exports."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from python_calamine import CalamineWorkbook

from joinedup import SynthConfig, run_demo
from joinedup.demo import DemoResult


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """One demo run, shared: every stage on a small population (read-only)."""
    return run_demo(tmp_path_factory.mktemp("demo") / "ws", SynthConfig(people=250, seed=21))


def _count_exports(root: Path) -> tuple[Counter[str], Counter[str]]:
    """Contacts and person records per organisation, counted straight from the files."""
    contacts: Counter[str] = Counter()
    records: Counter[str] = Counter()
    with (root / "benefits/contacts.csv").open(encoding="utf-8") as f:
        contacts["benefits"] = sum(r["Direction"] == "Inbound" for r in csv.DictReader(f))
    with (root / "benefits/claimants.csv").open(encoding="utf-8") as f:
        records["benefits"] = sum(1 for _ in csv.DictReader(f))
    flow = pq.read_table(root / "tax/interactions.parquet").column("flow").to_pylist()
    contacts["tax"] = flow.count("I")
    records["tax"] = pq.read_table(root / "tax/taxpayers.parquet").num_rows
    book = CalamineWorkbook.from_path(str(root / "council/council_export.xlsx"))
    rows = book.get_sheet_by_name("Contacts").to_python()
    contacts["council"] = sum(r[5] == "Contact" for r in rows[1:])
    records["council"] = len(book.get_sheet_by_name("Residents").to_python()) - 1
    with (root / "health/encounters.jsonl").open(encoding="utf-8") as f:
        contacts["health"] = sum(json.loads(line)["initiated_by"] == "patient" for line in f)
    with (root / "health/patients.jsonl").open(encoding="utf-8") as f:
        records["health"] = sum(1 for _ in f)
    return contacts, records


def test_demo_report_matches_a_direct_count_of_the_exports(demo: DemoResult) -> None:
    result = demo
    html = result.report.path.read_text(encoding="utf-8")
    contacts, records = _count_exports(result.synth.root / "exports")

    fig = result.report.figures
    assert fig.contacts_by_org == dict(contacts)
    assert fig.records_by_org == dict(records)
    assert fig.contacts == sum(contacts.values())

    # The HTML states the published figures: the direct counts after disclosure control,
    # rounded to 5 (or withheld, shown as the marker and never as a number).
    pub = result.report.published
    assert pub.controlled
    for org, n in contacts.items():
        cell = re.search(rf'data-figure="contacts:{org}">([^<]+)<', html)
        assert cell is not None
        shown = pub.contacts_by_org[org]
        if shown is None:
            assert "[c]" in cell.group(1)
        else:
            assert int(cell.group(1).replace(",", "")) == shown
            assert shown % 5 == 0 and abs(shown - n) <= 2
    total = re.search(r'data-figure="contacts">([\d,]+)<', html)
    assert total and abs(int(total.group(1).replace(",", "")) - sum(contacts.values())) <= 2
    embedded = re.search(r'id="joinedup-figures">(.*?)</script>', html, re.S)
    assert embedded and json.loads(embedded.group(1))["contacts_by_org"] == pub.contacts_by_org
    # No raw figure travels in the page: the embedded JSON is the published one.
    assert "records_by_org" in embedded.group(1) and "sources" not in json.loads(embedded.group(1))


def test_report_shows_no_count_the_disclosure_control_would_withhold(demo: DemoResult) -> None:
    result = demo
    html = result.report.path.read_text(encoding="utf-8")
    cells = re.findall(r'<td class="govuk-table__cell jd-num"[^>]*>([^<]*)<', html)
    numbers = [int(c.replace(",", "")) for c in cells if c.strip().replace(",", "").isdigit()]
    assert numbers, "the report should state some counts"
    assert all(n >= 10 and n % 5 == 0 for n in numbers), numbers
    # At this size some cells are small: they are withheld and explained.
    assert "data-withheld" in html and "confidential" in html


def test_report_is_self_contained(demo: DemoResult) -> None:
    result = demo
    html = result.report.path.read_text(encoding="utf-8")
    assert "<svg" in html and "govuk-table" in html
    # No requests at all: links only within the page, no scripts, styles, fonts or
    # images fetched from anywhere (CSS url() only to the SVG's own definitions).
    assert not re.search(r'(src|href)="(?!#)', html)
    assert not re.search(r"url\((?!#)", html)
    assert not re.search(r"@import|<link\b", html)
    # Every stage ran, so every stage's section is there.
    for section in ("headline", "contacts", "demand", "journeys", "money", "data"):
        assert f'<section id="{section}"' in html
    runs = set(re.findall(r'data-run="([\w ]+)"', html))
    assert {"synth", "ingest", "link", "journeys build", "demand classify", "value ledger"} <= runs


def test_every_chart_has_a_table_alternative(demo: DemoResult) -> None:
    result = demo
    html = result.report.path.read_text(encoding="utf-8")
    charts = re.findall(r'<figure class="jd-figure" data-chart="([^"]+)">', html)
    assert len(charts) >= 2
    for title in charts:
        # The chart announces itself, and a table with the same caption follows it.
        assert f'role="img" aria-label="{title}"' in html
        assert re.search(rf"<caption[^>]*>{re.escape(title)}</caption>", html)


def test_headline_figures_are_recomputed_from_the_tables(demo: DemoResult) -> None:
    """Every headline number is traceable to the workspace's tables."""
    from joinedup.workspace import Workspace

    pub = demo.report.published
    with Workspace(demo.report.path.parent, create=False) as ws:
        dem = ws.read("demand").to_pylist()
        eps = ws.read("episodes").to_pylist()
        ledger = ws.read("value_ledger").to_pylist()
    failure = sum(r["demand_type"] == "failure" for r in dem)
    # Published counts are rounded to 5, so the share is within rounding of the truth.
    assert pub.extra["failure_share"] == pytest.approx(failure / len(dem), abs=0.01)
    met_first = sum(e["end_reason"] == "met" and e["contacts"] == 1 for e in eps)
    assert pub.extra["first_contact_share"] == pytest.approx(met_first / len(eps), abs=0.01)
    assert pub.extra["failure_cost"] == pytest.approx(sum(r["failure_cost_gbp"] for r in ledger))
    # Open episodes have no end-to-end time; the published median leaves them out.
    days = sorted(e["elapsed_seconds"] / 86400 for e in eps if e["elapsed_seconds"] is not None)
    mid = len(days) // 2
    median = days[mid] if len(days) % 2 else (days[mid - 1] + days[mid]) / 2
    assert pub.extra["median_days"] == pytest.approx(median)


def test_report_without_later_stages_leaves_their_sections_out(
    tmp_path: Path, loaded_workspace_dir: Path
) -> None:
    """A workspace with only ingested data reports only what ingest can support."""
    import shutil

    from joinedup import report
    from joinedup.workspace import Workspace

    shutil.copytree(loaded_workspace_dir, tmp_path / "ws")
    with Workspace(tmp_path / "ws", create=False) as ws:
        rep = report.build(ws, tmp_path / "r.html")
    html = rep.path.read_text(encoding="utf-8")
    for section in ("demand", "journeys", "money"):
        assert f'<section id="{section}"' not in html
    assert '<section id="contacts"' in html
    assert "Only the stages that have run are reported" in html
    assert rep.published.extra == {}


def test_demo_times_every_stage_in_order(demo: DemoResult) -> None:
    order = ["synth", "ingest", "pseudonymise", "link", "journeys", "demand", "value", "report"]
    assert list(demo.seconds) == order
    assert all(s > 0 for s in demo.seconds.values())


def test_command_line_headline_states_the_later_stages(demo: DemoResult) -> None:
    from joinedup.report import headline

    shown = dict(headline(demo.report.published))
    extra = demo.report.published.extra
    assert shown["Failure demand share"] == f"{100 * extra['failure_share']:.0f}%"
    assert shown["Cost of failure demand"] == f"£{extra['failure_cost']:,.0f}"
    assert shown["Contacts from citizens"] == f"{demo.report.published.contacts:,}"


def test_runs_record_the_text_model_and_where_the_truth_is(demo: DemoResult) -> None:
    import hashlib

    from joinedup.demand._text import default_model_path
    from joinedup.workspace import Workspace

    with Workspace(demo.report.path.parent, create=False) as ws:
        runs = {r["command"]: r for r in ws.runs()}
    model = runs["demand classify"]["outputs"]["model"]
    shipped = default_model_path(model["file"] == "embeddings.npz")
    assert model["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert model["sha256"] in demo.report.path.read_text(encoding="utf-8")
    truth = demo.report.path.parent / runs["synth"]["outputs"]["truth"]
    assert truth == demo.synth.root / "truth" and (truth / "events.parquet").is_file()
