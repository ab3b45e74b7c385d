"""The ledger and the matrix: money reconciles to contacts times unit costs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from joinedup import value
from joinedup.value._costs import UNITS_PER_GBP, units
from joinedup.workspace import Workspace


def _contacts(ws: Workspace) -> list[dict[str, object]]:
    return ws.engine.to_arrow(
        ws.engine.sql(
            "SELECT e.event_id, e.org, e.channel, d.demand_type, d.caused_by_org "
            "FROM events e LEFT JOIN demand d USING (event_id) WHERE e.direction = 'in'"
        )
    ).to_pylist()


def _units(x: float) -> int:
    return round(x * UNITS_PER_GBP)


def test_ledger_totals_equal_contacts_times_unit_costs(value_ws: Workspace) -> None:
    result = value.ledger(value_ws)
    costs = value.load_unit_costs()
    expect_all: Counter[str] = Counter()
    expect_fail: Counter[str] = Counter()
    n_by_org: Counter[str] = Counter()
    for c in _contacts(value_ws):
        entry = costs.lookup(str(c["org"]), c["channel"])  # type: ignore[arg-type]
        assert entry is not None
        u = units(entry.cost_gbp)
        expect_all[str(c["org"])] += u
        n_by_org[str(c["org"])] += 1
        if c["demand_type"] == "failure":
            expect_fail[str(c["org"])] += u
    got_all: Counter[str] = Counter()
    got_fail: Counter[str] = Counter()
    got_n: Counter[str] = Counter()
    for r in result.table.to_pylist():
        got_all[r["org"]] += _units(r["cost_gbp"])
        got_fail[r["org"]] += _units(r["failure_cost_gbp"])
        got_n[r["org"]] += r["contacts"]
    assert got_n == n_by_org
    assert got_all == expect_all
    assert got_fail == expect_fail
    assert sum(got_all.values()) == sum(expect_all.values())
    assert result.unit_costs.startswith("joinedup default unit_costs_uk.yaml (sha256 ")
    assert set(result.table.column("unit_costs").to_pylist()) == {result.unit_costs}


def test_matrix_margins_equal_ledger_totals(value_ws: Workspace) -> None:
    result = value.ledger(value_ws)
    by_absorber: Counter[str] = Counter()
    by_causer: Counter[str] = Counter()
    for r in result.matrix.to_pylist():
        by_absorber[r["absorbed_by_org"]] += _units(r["cost_gbp"])
        by_causer[r["caused_by_org"]] += _units(r["cost_gbp"])
    ledger_fail: Counter[str] = Counter()
    for r in result.table.to_pylist():
        ledger_fail[r["org"]] += _units(r["failure_cost_gbp"])
    assert +by_absorber == +ledger_fail
    assert sum(by_causer.values()) == sum(ledger_fail.values())
    # Rows: the cost each organisation caused, priced contact by contact.
    costs = value.load_unit_costs()
    caused: Counter[str] = Counter()
    for c in _contacts(value_ws):
        if c["demand_type"] == "failure":
            entry = costs.lookup(str(c["org"]), c["channel"])  # type: ignore[arg-type]
            assert entry is not None
            caused[str(c["caused_by_org"] or "unknown")] += units(entry.cost_gbp)
    assert +by_causer == +caused


def test_share_caused_elsewhere_matches_truth(value_ws: Workspace, truth: pa.Table) -> None:
    result = value.ledger(value_ws)
    t = truth.filter(pc.equal(truth.column("demand_type"), "failure")).to_pylist()
    fail: Counter[str] = Counter(r["org"] for r in t)
    elsewhere: Counter[str] = Counter(r["org"] for r in t if r["caused_by_org"] != r["org"])
    got_fail: Counter[str] = Counter()
    got_else: Counter[str] = Counter()
    for r in result.table.to_pylist():
        got_fail[r["org"]] += r["failure_contacts"]
        got_else[r["org"]] += r["failure_caused_elsewhere"]
        if r["failure_contacts"]:
            share = r["failure_caused_elsewhere"] / r["failure_contacts"]
            assert r["share_failure_caused_elsewhere"] == pytest.approx(share)
    assert got_fail == fail
    assert got_else == elsewhere


def test_cost_per_need_met_beside_cost_per_transaction(value_ws: Workspace) -> None:
    rows = value.ledger(value_ws).table.to_pylist()
    met = [r for r in rows if r["needs_met"]]
    assert met, "the truth-filled episodes include needs met"
    for r in rows:
        if r["contacts"]:
            assert r["cost_per_transaction_gbp"] == pytest.approx(r["cost_gbp"] / r["contacts"])
        else:
            assert r["cost_per_transaction_gbp"] is None and r["cost_gbp"] == 0
        if r["needs_met"]:
            assert r["cost_per_need_met_gbp"] == pytest.approx(r["cost_gbp"] / r["needs_met"])
    # Needs met: each met episode once per organisation and service that handled it, in
    # the month the episode ended, counted here in Python from the tables.
    ws = value_ws
    pairs = ws.engine.to_arrow(
        ws.engine.sql(
            "SELECT e.org, coalesce(e.service, '(not recorded)') AS service, ep.episode_id, "
            "ep.ended_at FROM events e JOIN episode_events ee USING (event_id) "
            "JOIN episodes ep USING (episode_id) "
            "WHERE e.direction = 'in' AND ep.end_reason = 'met'"
        )
    ).to_pylist()
    expect: Counter[tuple[str, str, str]] = Counter()
    for key in {(p["org"], p["service"], p["episode_id"], p["ended_at"]) for p in pairs}:
        expect[(key[0], key[1], key[3].strftime("%Y-%m"))] += 1
    got = {
        (r["org"], r["service"], r["month"].strftime("%Y-%m")): r["needs_met"]
        for r in rows
        if r["needs_met"]
    }
    assert got == dict(expect)


def test_ledger_writes_tables_and_chart(value_ws: Workspace) -> None:
    result = value.ledger(value_ws)
    assert value_ws.count("value_ledger") == result.table.num_rows
    assert value_ws.count("cost_shunting") == result.matrix.num_rows
    assert value_ws.count("unit_costs") == len(value.load_unit_costs().entries)
    assert result.chart is not None and result.chart.exists()
    svg = result.chart.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg") and "unit_costs_uk.yaml" in svg
    # Running again replaces, never appends.
    value.ledger(value_ws)
    assert value_ws.count("value_ledger") == result.table.num_rows
    runs = [r for r in value_ws.runs() if r["command"] == "value ledger"]
    assert len(runs) == 2 and runs[-1]["settings"]["unit_costs"] == result.unit_costs


def test_user_costs_override_defaults(value_ws: Workspace, tmp_path: Path) -> None:
    own = tmp_path / "my-costs.yaml"
    own.write_text(
        "costs:\n  - {org: council, channel: phone, cost_gbp: 10.0, source: local study}\n",
        encoding="utf-8",
    )
    base = value.ledger(value_ws, chart=False)
    over = value.ledger(value_ws, own, chart=False)
    assert over.unit_costs.startswith("my-costs.yaml (sha256 ")
    phone = (
        value_ws.engine.to_arrow(
            value_ws.engine.sql(
                "SELECT count(*) AS n FROM events WHERE org = 'council' AND channel = 'phone' "
                "AND direction = 'in'"
            )
        )
        .column("n")[0]
        .as_py()
    )
    diff = over.total_cost_gbp - base.total_cost_gbp
    assert diff == pytest.approx(phone * (10.0 - 2.83))


def test_missing_unit_cost_is_a_clear_error(value_ws: Workspace, tmp_path: Path) -> None:
    own = tmp_path / "only-web.yaml"
    own.write_text("defaults: false\ncosts:\n  - {channel: web, cost_gbp: 0.1}\n", "utf-8")
    with pytest.raises(value.CostError, match=r"channel=phone .* add an entry"):
        value.ledger(value_ws, own)


def test_no_episodes_leaves_needs_met_unknown(bare_ws: Workspace) -> None:
    rows = value.ledger(bare_ws, chart=False).table.to_pylist()
    assert rows and all(r["needs_met"] is None for r in rows)
    assert all(r["cost_per_need_met_gbp"] is None for r in rows)


def test_a_contact_classified_twice_is_refused(value_ws: Workspace) -> None:
    demand = value_ws.read("demand")
    value_ws.engine.write("demand", demand.slice(0, 1))
    first = demand.column("event_id")[0].as_py()
    with pytest.raises(value.ValueInputError, match=f"2 rows for event '{first}'"):
        value.ledger(value_ws, chart=False)
