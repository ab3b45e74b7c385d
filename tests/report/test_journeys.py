"""The journeys section: organisation flow, process map, variants and end-to-end time,
each recomputed from the workspace's tables and checked against disclosure control."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from joinedup.report import Filters, compute, publish
from joinedup.report._journeys import BINS, OTHER, journeys
from joinedup.report._sections import Section
from joinedup.workspace import Workspace


@pytest.fixture(scope="module")
def section(pipeline_dir: Path) -> Iterator[Section]:
    with Workspace(pipeline_dir, create=False) as ws:
        fig = compute(ws)
        made = journeys(ws, fig, publish(fig))
        assert made is not None
        yield made


@pytest.fixture(scope="module")
def paths(pipeline_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Each need's events in the order the citizen lived them, read straight from the
    tables (time, then the episode's own position)."""
    with Workspace(pipeline_dir, create=False) as ws:
        ee = ws.read("episode_events").to_pylist()
        events = {r["event_id"]: r for r in ws.read("events").to_pylist()}
    out: dict[str, list[dict[str, Any]]] = {}
    for r in ee:
        out.setdefault(r["episode_id"], []).append({**events[r["event_id"]], **r})
    for steps in out.values():
        steps.sort(key=lambda s: (s["occurred_at"], s["position"]))
    return out


def _chart(section: Section, starts: str):  # type: ignore[no-untyped-def]
    found = [c for c in section.charts if c.title.startswith(starts)]
    assert len(found) == 1, [c.title for c in section.charts]
    return found[0]


def _published(value: int | None, true: int) -> None:
    """A published count: at least the threshold, a multiple of 5, within rounding."""
    assert value is not None
    assert value >= 10 and value % 5 == 0 and abs(value - true) <= 2.5, (value, true)


def test_hand_offs_between_organisations_match_the_tables(
    section: Section, paths: dict[str, list[dict[str, Any]]]
) -> None:
    true: Counter[tuple[str, str]] = Counter()
    for steps in paths.values():
        for a, b in itertools.pairwise(steps):
            if a["org"] != b["org"]:
                true[(a["org"], b["org"])] += 1
    chart = _chart(section, "Hand-offs between organisations")
    assert chart.columns == ["from", "to", "hand-offs", "median days"]
    assert len(chart.rows) >= 8  # most pairs of the four organisations are published
    for frm, to, n, days in chart.rows:
        _published(n, true[(frm, to)])
        assert days is not None and days > 0
    # Drawn as a graph: one line per edge, thickness by count, colour by time.
    assert chart.svg.count("<path") > len(chart.rows)
    encodings = [layer.get("encoding", {}) for layer in chart.spec["layer"]]
    assert any(e.get("size", {}).get("field") == "count" for e in encodings)
    assert any(e.get("color", {}).get("field") == "days" for e in encodings)


def test_process_map_edges_match_the_tables(
    section: Section, paths: dict[str, list[dict[str, Any]]]
) -> None:
    true: Counter[tuple[str, str]] = Counter()
    for steps in paths.values():
        names = [f"{s['org']}: {s['activity']}" for s in steps]
        true[("(start)", names[0])] += 1
        true[(names[-1], "(end)")] += 1
        for a, b in itertools.pairwise(names):
            true[(a, b)] += 1
    chart = _chart(section, "Process map")
    assert 10 <= len(chart.rows) <= 24
    for frm, to, n, _ in chart.rows:
        _published(n, true[(frm, to)])
    # The drawn edges are the most frequent ones, in order.
    counts = [r[2] for r in chart.rows]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == 5 * round(max(true.values()) / 5)


def test_top_variants_match_the_tables(
    section: Section, paths: dict[str, list[dict[str, Any]]]
) -> None:
    true = Counter(
        " > ".join(f"{s['org']}: {s['activity']}" for s in steps) for steps in paths.values()
    )
    variants = section.context["variants"]
    ranked = [v for v in variants if v["rank"] is not None]
    assert ranked and ranked[0]["rank"] == 1
    for v in ranked:
        _published(v["needs"], true[v["variant"]])
    assert ranked[0]["variant"] == true.most_common(1)[0][0]
    other = variants[-1]
    assert other["variant"].startswith(OTHER)
    rest = sum(true.values()) - sum(true[v["variant"]] for v in ranked[:10])
    assert other["needs"] is None or abs(other["needs"] - rest) <= 2.5
    chart = _chart(section, "The most common paths")
    assert [r[2] for r in chart.rows] == [v["needs"] for v in ranked]


def test_end_to_end_times(section: Section, pipeline_dir: Path) -> None:
    with Workspace(pipeline_dir, create=False) as ws:
        episodes = [e for e in ws.read("episodes").to_pylist() if e["elapsed_seconds"] is not None]
    true: Counter[str] = Counter()
    for e in episodes:
        days = e["elapsed_seconds"] / 86400
        true[[label for label, low in BINS if days >= low][-1]] += 1
    chart = _chart(section, "End-to-end time")
    assert len(chart.rows) >= 3
    for label, n in chart.rows:
        _published(n, true[label])
    # Percentiles per need type, shown where the need's count is published.
    detail = section.context["detail"]
    need = max(detail, key=lambda k: section.context["by_need"][k]["needs"])
    days = sorted(
        e["elapsed_seconds"] / 86400 for e in episodes if (e["need_type"] or "unknown") == need
    )
    median = days[len(days) // 2] if len(days) % 2 else sum(days[len(days) // 2 - 1 :][:2]) / 2
    assert detail[need]["median_days"] == pytest.approx(median)
    assert detail[need]["median_days"] <= detail[need]["p85_days"] <= detail[need]["p95_days"]


def test_every_chart_has_its_table(section: Section) -> None:
    assert len(section.charts) == 5
    for chart in section.charts:
        assert chart.rows and len(chart.columns) == len(chart.rows[0])
        assert 'role="img"' in chart.svg and "aria-label=" in chart.svg


def test_process_maps_under_a_filter_cover_the_filtered_needs(pipeline_dir: Path) -> None:
    from joinedup import journeys as stage

    kept = (
        "SELECT ee.episode_id FROM episode_events ee JOIN events e USING (event_id) "
        "WHERE e.org = 'council'"
    )
    with Workspace(pipeline_dir, create=False) as ws:
        fig = compute(ws, Filters(orgs=("council",)))
        made = journeys(ws, fig, publish(fig))
        whole = stage.process_map(ws, by="activity")
        part = stage.process_map(ws, by="activity", episodes=kept)
        n_kept = ws.engine.count(ws.engine.sql(f"SELECT DISTINCT episode_id FROM ({kept})"))
    assert made is not None
    titles = [c.title for c in made.charts]
    assert any(t.startswith("Process map") for t in titles), titles
    assert any(t.startswith("End-to-end time") for t in titles)
    # The filtered map is the map of the episodes that touched the council, no more.
    assert part.cases == n_kept < whole.cases
    assert 0 < part.events < whole.events
    assert {r["source"] for r in part.dfg.to_pylist()} <= {
        r["source"] for r in whole.dfg.to_pylist()
    }


@pytest.mark.parametrize("filtered", [False, True])
def test_both_maps_drawn_from_one_read_equal_the_stage_s_process_maps(
    pipeline_dir: Path, filtered: bool
) -> None:
    """The report reads the log once and draws the activity and organisation maps from
    it in memory; they must equal journeys.process_map's, filtered or not."""
    from joinedup import journeys as stage
    from joinedup.report._journeys import _maps

    with Workspace(pipeline_dir, create=False) as ws:
        kept = None
        if filtered:
            org = ws.read("events").column("org")[0].as_py()
            kept = (
                "SELECT ee.episode_id FROM episode_events ee JOIN events e USING (event_id) "
                f"WHERE e.org = '{org}'"
            )
        got_activity, got_org = _maps(ws, kept)
        want_activity = stage.process_map(ws, by="activity", episodes=kept)
        want_org = stage.process_map(ws, by="org", episodes=kept)
        assert not ws.engine.has_table("_rp_labels")
        everything = ws.count("episode_events")
    for got, want in ((got_activity, want_activity), (got_org, want_org)):
        assert got.events == want.events and got.cases == want.cases
        assert got.dfg.num_rows > 0
        for part in ("dfg", "starts", "ends"):
            assert getattr(got, part).to_pylist() == getattr(want, part).to_pylist(), part
    assert got_activity.variants.to_pylist() == want_activity.variants.to_pylist()
    # The filter keeps some needs, not all; unfiltered, every linked event is mapped.
    assert (got_activity.events < everything) if filtered else (got_activity.events == everything)
