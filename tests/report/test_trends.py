"""The headline figures and their month-by-month trends, recomputed from the tables."""

from __future__ import annotations

import calendar
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from joinedup.report import Filters, compute, publish
from joinedup.report._figures import Figures
from joinedup.report._sections import SECTIONS, Section, headline
from joinedup.report._trends import Trend, _partial_months
from joinedup.workspace import Workspace


def _headline(ws: Workspace, filters: Filters | None = None) -> tuple[Section, dict[str, Any]]:
    fig = compute(ws, filters)
    pub = publish(fig)
    for make in SECTIONS:
        make(ws, fig, pub)
    return headline(ws, fig, pub), pub.extra


@pytest.fixture(scope="module")
def tables(pipeline_dir: Path) -> dict[str, Any]:
    with Workspace(pipeline_dir, create=False) as ws:
        section, extra = _headline(ws)
        events = {e["event_id"]: e for e in ws.read("events").to_pylist()}
        return {
            "section": section,
            "extra": extra,
            "events": events,
            "demand": ws.read("demand").to_pylist(),
            "episodes": ws.read("episodes").to_pylist(),
            "ledger": ws.read("value_ledger").to_pylist(),
        }


def _month_name(month: str) -> str:
    return calendar.month_name[int(month[5:])]


def _series(section: Section, key: str) -> Trend:
    return next(t for t in section.context["series"] if t.key == key)


def test_headline_figures_are_recomputed_from_the_tables(tables: dict[str, Any]) -> None:
    extra = tables["extra"]
    kinds = Counter(d["demand_type"] for d in tables["demand"])
    share = kinds["failure"] / sum(kinds.values())
    # Published from counts rounded to 5: within half a point of the exact share.
    assert extra["failure_share"] == pytest.approx(share, abs=0.005)
    cost = sum(r["failure_cost_gbp"] for r in tables["ledger"])
    assert extra["failure_cost"] == pytest.approx(cost)
    eps = tables["episodes"]
    days = [e["elapsed_seconds"] / 86400 for e in eps if e["elapsed_seconds"] is not None]
    assert extra["median_days"] == pytest.approx(statistics.median(days))
    first = sum(e["end_reason"] == "met" and e["contacts"] == 1 for e in eps) / len(eps)
    assert extra["first_contact_share"] == pytest.approx(first, abs=0.01)


def test_monthly_failure_share_and_contacts(tables: dict[str, Any]) -> None:
    section = tables["section"]
    totals: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for d in tables["demand"]:
        month = tables["events"][d["event_id"]]["occurred_at"].strftime("%Y-%m")
        totals[month] += 1
        failures[month] += d["demand_type"] == "failure"
    share = _series(section, "failure_share")
    assert len(share.points) >= 10
    for month, value in share.points:
        assert totals[month] >= 10
        assert value == pytest.approx(
            100 * failures[month] / totals[month], abs=100 * 5 / totals[month]
        )
    contacts = _series(section, "contacts")
    for _, n in contacts.points:
        assert n >= 10 and n % 5 == 0


def test_monthly_median_days_is_the_median_of_needs_ended_that_month(
    tables: dict[str, Any],
) -> None:
    by_month: dict[str, list[float]] = {}
    for e in tables["episodes"]:
        if e["ended_at"] is not None and e["elapsed_seconds"] is not None:
            by_month.setdefault(e["ended_at"].strftime("%Y-%m"), []).append(
                e["elapsed_seconds"] / 86400
            )
    median = _series(tables["section"], "median_days")
    assert median.points
    for month, value in median.points:
        assert len(by_month[month]) >= 10
        assert value == pytest.approx(statistics.median(by_month[month]))


def test_each_card_says_its_trend(tables: dict[str, Any]) -> None:
    section = tables["section"]
    said = section.context["trends"]
    assert set(said) == {
        "failure_share",
        "failure_cost",
        "median_days",
        "first_contact_share",
        "contacts",
    }
    for key, sentence in said.items():
        trend = _series(section, key)
        pair = trend.compared
        assert pair is not None and sentence is not None
        (earlier, _), (later, value) = pair
        # "March 2026: 43.9%, up 7.3 points on February"
        assert sentence.startswith(f"{_month_name(later)} {later[:4]}: {trend.show(value)}, ")
        assert sentence.endswith(f" on {_month_name(earlier)}")
    [chart] = section.charts
    assert {r[0] for r in chart.rows} == {t.label for t in section.context["series"]}


def test_a_filter_changes_the_trends(pipeline_dir: Path, tables: dict[str, Any]) -> None:
    with Workspace(pipeline_dir, create=False) as ws:
        council, _ = _headline(ws, Filters(orgs=("council",)))
    whole = _series(tables["section"], "contacts")
    part = _series(council, "contacts")
    assert sum(v for _, v in part.points) < sum(v for _, v in whole.points)


def test_sentences_compare_whole_months() -> None:
    t = Trend(
        "x",
        "rate",
        "%",
        [("2025-01", 30.0), ("2025-02", 32.5), ("2025-03", 31.0), ("2025-04", 50.0)],
        frozenset({"2025-04"}),
    )
    assert t.compared == (("2025-02", 32.5), ("2025-03", 31.0))
    assert t.sentence() == "March 2025: 31.0%, down 1.5 points on February"
    money = Trend("m", "cost", "£", [("2025-01", 100.0), ("2025-02", 1350.4)])
    assert money.sentence() == "February 2025: £1,350, up £1,250 on January"
    assert Trend("c", "n", "", [("2025-01", 5.0)]).sentence() is None


def test_partial_months_at_either_end() -> None:
    def fig(first: str, last: str) -> Figures:
        return Figures([], 0, {}, 0, 0, {}, {}, {}, (first, last), 0)

    assert _partial_months(fig("2025-01-15", "2026-05-31")) == {"2025-01"}
    assert _partial_months(fig("2025-01-01", "2025-02-28")) == set()
    assert _partial_months(fig("2024-01-01", "2024-02-28")) == {"2024-02"}  # a leap year
    assert _partial_months(fig("2025-03-01", "2025-03-30")) == {"2025-03"}


def _one_contact_for_review(pipeline_dir: Path, tmp_path: Path) -> Path:
    """A copy of the pipeline workspace in which exactly one failure contact is sent for
    review: a cell of one, which disclosure control withholds with a partner in its row
    and column (the total of failure contacts among them)."""
    import shutil

    shutil.copytree(pipeline_dir, tmp_path / "ws")
    with Workspace(tmp_path / "ws", create=False) as ws:
        ws.engine.raw.execute(
            "UPDATE demand SET demand_type = 'needs_review', category = 'needs_review' "
            "WHERE event_id = (SELECT min(event_id) FROM demand WHERE demand_type = 'failure')"
        )
    return tmp_path / "ws"


def test_withheld_failure_total_still_gives_the_share_to_a_whole_percent(
    pipeline_dir: Path, tmp_path: Path
) -> None:
    from joinedup.report._stages import demand

    root = _one_contact_for_review(pipeline_dir, tmp_path)
    with Workspace(root, create=False) as ws:
        fig = compute(ws)
        pub = publish(fig)
        section = demand(ws, fig, pub)
        kinds = Counter(d["demand_type"] for d in ws.read("demand").to_pylist())
    assert kinds["needs_review"] == 1
    assert section is not None
    by_type = section.context["by_type"]
    # The small cell and the failure total are withheld ...
    assert by_type["Total"].get("needs_review") is None
    assert by_type["Total"].get("failure") is None
    assert pub.extra["failure_contacts"] is None
    # ... the share is stated only to a whole percent, and says so.
    exact = kinds["failure"] / sum(kinds.values())
    assert pub.extra["failure_share_whole_percent"] is True
    assert pub.extra["failure_share"] == round(100 * exact) / 100
    assert section.context["share_whole_percent"] is True


def test_whole_percent_share_is_withheld_when_the_band_is_too_narrow(
    pipeline_dir: Path, tmp_path: Path
) -> None:
    """With a threshold so high that 1% of all contacts is under twice it, the rounded
    share could narrow a withheld cell, so it is not stated."""
    from joinedup.governance import OutputRules
    from joinedup.report._stages import demand

    root = _one_contact_for_review(pipeline_dir, tmp_path)
    with Workspace(root, create=False) as ws:
        contacts = ws.count("demand")
        fig = compute(ws)
        pub = publish(fig, rules=OutputRules(threshold=contacts // 200 + 1))
        demand(ws, fig, pub)
    assert pub.extra["failure_contacts"] is None
    assert pub.extra["failure_share"] is None
    assert pub.extra["failure_share_whole_percent"] is False
