"""The fairness section: failure-demand rate and classifier errors by group, from what the
workspace holds, recomputed from its tables and checked against disclosure control."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from joinedup.report import Filters, compute, publish
from joinedup.report._fairness import fairness
from joinedup.report._sections import Section
from joinedup.workspace import Workspace


@pytest.fixture(scope="module")
def section(pipeline_dir: Path) -> Section:
    with Workspace(pipeline_dir, create=False) as ws:
        fig = compute(ws)
        made = fairness(ws, fig, publish(fig))
    assert made is not None
    return made


def _band(age: int) -> str:
    return next(
        (b for u, b in ((25, "16-24"), (35, "25-34"), (50, "35-49"), (65, "50-64")) if age < u),
        "65+",
    )


def test_age_band_rates_match_the_tables(section: Section, pipeline_dir: Path) -> None:
    with Workspace(pipeline_dir, create=False) as ws:
        fig = compute(ws)
        assert fig.period is not None
        last = date.fromisoformat(fig.period[1])
        links = {
            (r["org"], r["local_person_ref"]): r["person_id"] for r in ws.read("links").to_pylist()
        }
        dobs: dict[str, Counter[date]] = {}
        for p in ws.read("people").to_pylist():
            person = links.get((p["org"], p["local_person_ref"]))
            if person and p["date_of_birth"]:
                dobs.setdefault(person, Counter())[p["date_of_birth"]] += 1
        events = {e["event_id"]: e for e in ws.read("events").to_pylist()}
        demand = ws.read("demand").to_pylist()
    band_of = {}
    for person, c in dobs.items():
        dob = c.most_common(1)[0][0]
        band_of[person] = _band(
            last.year - dob.year - ((last.month, last.day) < (dob.month, dob.day))
        )
    totals: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for d in demand:
        if d["demand_type"] not in ("value", "failure"):
            continue
        e = events[d["event_id"]]
        band = band_of.get(links.get((e["org"], e["local_person_ref"]), ""), "unknown")
        totals[band] += 1
        failures[band] += d["demand_type"] == "failure"
    rows = {r["group"]: r for r in section.context["rows"] if r["attribute"] == "age band"}
    assert len(rows) >= 4
    for band, r in rows.items():
        assert r["failure_rate"] == pytest.approx(failures[band] / totals[band], abs=1e-4)
        assert r["low"] <= r["failure_rate"] <= r["high"]
        assert r["contacts"] % 5 == 0 and abs(r["contacts"] - totals[band]) <= 5


def test_groups_errors_and_charts(section: Section) -> None:
    attributes = {r["attribute"] for r in section.context["rows"]}
    # The demo keeps its synthetic truth, so disability and errors are measured too.
    assert attributes == {"age band", "disability", "channel use"}
    assert section.context["against"] == "the synthetic population's ground truth"
    titles = [c.title for c in section.charts]
    assert titles[0] == "Failure-demand rate by group, with 95% intervals"
    # Errors are rare here: a group's error rate is shown only where its count of errors
    # passes disclosure control, and the error chart only when some group's does.
    with_errors = [r for r in section.context["rows"] if r["error_rate"] is not None]
    assert titles[1:] == (
        ["Classifier error rate by group, with 95% intervals"] if with_errors else []
    )
    for r in with_errors:
        assert r["error_rate"] * r["contacts"] >= 9.5
    for chart in section.charts:
        assert 'role="img"' in chart.svg and chart.rows
    # The synthetic population is built with more failure demand for disabled people.
    dis = {r["group"]: r for r in section.context["rows"] if r["attribute"] == "disability"}
    assert dis["yes"]["failure_rate"] > dis["no"]["failure_rate"]


def test_without_truth_there_are_rates_but_no_errors_or_disability(
    pipeline_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(pipeline_dir, copy, ignore=shutil.ignore_patterns("truth"))
    with Workspace(copy, create=False) as ws:
        fig = compute(ws)
        made = fairness(ws, fig, publish(fig))
    assert made is not None
    assert {r["attribute"] for r in made.context["rows"]} == {"age band", "channel use"}
    assert made.context["against"] is None and len(made.charts) == 1


def test_left_out_under_a_filter_and_absent_without_demand(
    pipeline_dir: Path, loaded_workspace_dir: Path
) -> None:
    with Workspace(pipeline_dir, create=False) as ws:
        fig = compute(ws, Filters(channels=("phone",)))
        made = fairness(ws, fig, publish(fig))
    assert made is not None and made.context["left_out"] and not made.charts
    with Workspace(loaded_workspace_dir, create=False) as ws:
        fig = compute(ws)
        assert fairness(ws, fig, publish(fig)) is None


def test_the_engine_counts_what_demand_audit_gives(pipeline_dir: Path, tmp_path: Path) -> None:
    """The section counts with the engine what :func:`joinedup.demand.audit` computes
    in memory: the same rows, rates, intervals, flags and overall rates."""
    import pyarrow.parquet as pq

    from joinedup import demand
    from joinedup.report import _fairness as f

    with Workspace(pipeline_dir, create=False) as ws:
        fig = compute(ws)
        assert fig.period is not None
        truth = f._truth_dir(ws)
        assert truth is not None
        attributes = f._groups(ws, date.fromisoformat(fig.period[1]), truth)
        assert attributes == ["age_band", "disability"]
        groups = tmp_path / "groups.parquet"
        pq.write_table(ws.engine.to_arrow(ws.engine.table(f._GROUPS)), groups)
        by = [*attributes, "digital"]
        assert f._labels(ws, truth) is not None
        assert f._stage_contacts(ws, attributes, True)
        rates, errors = f._audit(ws, by, errors=False), f._audit(ws, by, errors=True)
        for name in f._TEMPS:
            ws.engine.drop_temp(name)
        assert rates == demand.audit(ws, by=by, groups=groups)
        assert errors == demand.audit(ws, by=by, groups=groups, truth=truth)
    assert {r.attribute for r in rates.rows} == set(by) and errors.has_truth
