"""The value ledger and the cost-shunting matrix.

The ledger prices every citizen's contact at its organisation's unit cost for the
channel, per receiving organisation, service and month. The matrix puts the failure
demand in a grid of causing organisation by absorbing organisation: the columns sum to
each organisation's failure cost in the ledger, so money moved between budgets shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.governance import AuditLog, OutputRules
from joinedup.model import COST_SHUNTING, VALUE_LEDGER
from joinedup.value._chart import heat_map_svg
from joinedup.value._contacts import (
    NO_SERVICE,
    UNKNOWN,
    _lit,
    check_one_row_per_contact,
    contacts_sql,
    release,
    utc_month,
)
from joinedup.value._costs import UNITS_PER_GBP, UnitCost, UnitCosts, load_unit_costs
from joinedup.value._errors import ValueInputError
from joinedup.value._published import (
    FAILURES,
    TOP_CAUSES,
    PublishedMatrix,
    failures_sql,
    publish_matrix,
)
from joinedup.workspace import Workspace

#: Episode end reasons that mean the need was met (the journeys stage's vocabulary).
MET_REASONS: tuple[str, ...] = ("met", "need met", "need_met")
#: The staged aggregate of priced contacts (a temporary table).
_AGG = "_value_agg"


@dataclass(frozen=True)
class Ledger:
    """What :func:`ledger` computed and wrote."""

    table: pa.Table
    matrix: pa.Table
    unit_costs: str
    chart: Path | None
    #: The matrix as it may be shown: under disclosure control, with its margins.
    published: PublishedMatrix

    @property
    def total_cost_gbp(self) -> float:
        """Cost of all contacts in the ledger."""
        return float(sum(self.table.column("cost_gbp").to_pylist()))

    @property
    def failure_cost_gbp(self) -> float:
        """Cost of failure-demand contacts in the ledger."""
        return float(sum(self.table.column("failure_cost_gbp").to_pylist()))


def resolve_costs(costs: UnitCosts | Path | str | None) -> UnitCosts:
    """Unit costs from an object, a file laid over the defaults, or the defaults."""
    return costs if isinstance(costs, UnitCosts) else load_unit_costs(costs)


def _agg_sql(contacts: str) -> str:
    # One pass over the contacts, down to a few thousand rows; the ledger and the matrix
    # are both read from this.
    return f"""
    SELECT org, service, month, demand_type, caused_by_org, cause,
           count(*) AS n, CAST(sum(cost_units) AS BIGINT) AS units
    FROM ({contacts}) c
    GROUP BY ALL
    """


def _ledger_sql(agg: str, label: str, with_needs: bool, met: tuple[str, ...]) -> str:
    gbp = f"{UNITS_PER_GBP}.0"
    needs = ""
    needs_cols = "CAST(NULL AS BIGINT) AS needs_met"
    join = ""
    if with_needs:
        reasons = ", ".join(_lit(r) for r in met)
        # A need met counts in the month its episode ended, once for every organisation
        # and service that handled any of its contacts: each episode is listed once per
        # organisation and service, then counted (cheaper than a distinct count per
        # group), and its month is worked out once per episode, not per contact.
        needs = f""",
        ended AS (
            SELECT episode_id, {utc_month("ended_at")} AS month
            FROM episodes
            WHERE lower(end_reason) IN ({reasons}) AND ended_at IS NOT NULL
        ),
        handled AS (
            SELECT DISTINCT ee.episode_id, e.org,
                   coalesce(e.service, {_lit(NO_SERVICE)}) AS service
            FROM events e
            JOIN episode_events ee ON ee.event_id = e.event_id
            WHERE e.direction = 'in'
        ),
        needs AS (
            SELECT h.org, h.service, x.month, count(*) AS needs_met
            FROM handled h JOIN ended x ON x.episode_id = h.episode_id
            GROUP BY 1, 2, 3
        )"""
        needs_cols = "coalesce(n.needs_met, 0) AS needs_met"
        join = (
            "FULL OUTER JOIN needs n "
            "ON n.org = a.org AND n.service = a.service AND n.month = a.month"
        )
    key = "coalesce(a.{0}, n.{0})" if with_needs else "a.{0}"
    return f"""
    WITH a AS (
        SELECT org, service, month,
               sum(n) AS contacts,
               coalesce(sum(n) FILTER (WHERE demand_type = 'failure'), 0) AS failure_contacts,
               coalesce(sum(n) FILTER (WHERE demand_type IS NULL), 0) AS unclassified_contacts,
               sum(units) AS cost_units,
               coalesce(sum(units) FILTER (WHERE demand_type = 'failure'), 0)
                   AS failure_cost_units,
               coalesce(sum(n) FILTER (WHERE demand_type = 'failure'
                        AND caused_by_org IS NOT NULL AND caused_by_org <> org), 0)
                   AS failure_caused_elsewhere
        FROM "{agg}"
        GROUP BY org, service, month
    ){needs},
    joined AS (
        SELECT {key.format("org")} AS org,
               {key.format("service")} AS service,
               {key.format("month")} AS month,
               coalesce(a.contacts, 0) AS contacts,
               coalesce(a.failure_contacts, 0) AS failure_contacts,
               coalesce(a.unclassified_contacts, 0) AS unclassified_contacts,
               coalesce(a.cost_units, 0) AS cost_units,
               coalesce(a.failure_cost_units, 0) AS failure_cost_units,
               coalesce(a.failure_caused_elsewhere, 0) AS failure_caused_elsewhere,
               {needs_cols}
        FROM a {join}
    )
    SELECT org, service, month,
           CAST(contacts AS BIGINT) AS contacts,
           CAST(failure_contacts AS BIGINT) AS failure_contacts,
           CAST(unclassified_contacts AS BIGINT) AS unclassified_contacts,
           cost_units / {gbp} AS cost_gbp,
           failure_cost_units / {gbp} AS failure_cost_gbp,
           CASE WHEN contacts > 0 THEN cost_units / {gbp} / contacts END
               AS cost_per_transaction_gbp,
           CAST(needs_met AS BIGINT) AS needs_met,
           CASE WHEN needs_met > 0 THEN cost_units / {gbp} / needs_met END
               AS cost_per_need_met_gbp,
           CAST(failure_caused_elsewhere AS BIGINT) AS failure_caused_elsewhere,
           CASE WHEN failure_contacts > 0 THEN failure_caused_elsewhere / failure_contacts END
               AS share_failure_caused_elsewhere,
           {_lit(label)} AS unit_costs
    FROM joined
    ORDER BY org, service, month
    """


def _matrix_sql(agg: str, label: str) -> str:
    return f"""
    WITH f AS (
        SELECT coalesce(caused_by_org, {_lit(UNKNOWN)}) AS caused_by_org,
               org AS absorbed_by_org,
               coalesce(cause, {_lit(UNKNOWN)}) AS cause,
               n, units
        FROM "{agg}" WHERE demand_type = 'failure'
    ),
    cells AS (
        SELECT caused_by_org, absorbed_by_org, sum(n) AS contacts, sum(units) AS cost_units
        FROM f GROUP BY 1, 2
    ),
    causes AS (
        SELECT caused_by_org, absorbed_by_org, cause, sum(n) AS n,
               row_number() OVER (PARTITION BY caused_by_org, absorbed_by_org
                                  ORDER BY sum(n) DESC, cause) AS rank
        FROM f GROUP BY 1, 2, 3
    ),
    top AS (
        SELECT caused_by_org, absorbed_by_org,
               string_agg(cause || ' ' || CAST(n AS VARCHAR), '; ' ORDER BY rank) AS top_causes
        FROM causes WHERE rank <= {TOP_CAUSES} GROUP BY 1, 2
    )
    SELECT c.caused_by_org, c.absorbed_by_org, CAST(c.contacts AS BIGINT) AS contacts,
           c.cost_units / {UNITS_PER_GBP}.0 AS cost_gbp, t.top_causes,
           {_lit(label)} AS unit_costs
    FROM cells c LEFT JOIN top t USING (caused_by_org, absorbed_by_org)
    ORDER BY c.caused_by_org, c.absorbed_by_org
    """


def _write(engine: Engine, name: str, data: pa.Table, schema: pa.Schema) -> None:
    if not engine.has_table(name):
        engine.create_table(name, schema)
    engine.write(name, data.cast(schema), mode="replace")


def compute(
    engine: Engine,
    costs: UnitCosts,
    *,
    met_reasons: tuple[str, ...] = MET_REASONS,
    rules: OutputRules | None = None,
) -> tuple[pa.Table, pa.Table, PublishedMatrix]:
    """The ledger, the matrix and the matrix as it may be published (under ``rules``,
    default the standard output rules), without writing anything."""
    try:
        contacts = contacts_sql(engine, costs)
        engine.stage(_AGG, _agg_sql(contacts))
        engine.stage(FAILURES, failures_sql(contacts))
    finally:
        release(engine)
    try:
        priced = engine.to_arrow(engine.sql(f'SELECT sum(n) AS n FROM "{_AGG}"'))
        check_one_row_per_contact(engine, int(priced.column("n")[0].as_py() or 0))
        with_needs = engine.count("episode_events") > 0
        led = engine.to_arrow(engine.sql(_ledger_sql(_AGG, costs.label, with_needs, met_reasons)))
        mat = engine.to_arrow(engine.sql(_matrix_sql(_AGG, costs.label)))
        published = publish_matrix(engine, costs.label, rules or OutputRules())
    finally:
        engine.drop_temp(_AGG)
        engine.drop_temp(FAILURES)
    return led.cast(VALUE_LEDGER), mat.cast(COST_SHUNTING), published


def ledger(
    ws: Workspace,
    costs: UnitCosts | Path | str | None = None,
    *,
    chart: bool = True,
    met_reasons: tuple[str, ...] = MET_REASONS,
    rules: OutputRules | None = None,
    who: str | None = None,
) -> Ledger:
    """Price the workspace's contacts: write ``value_ledger``, ``cost_shunting``, the
    unit costs used (``unit_costs``) and the matrix's heat map (``value/cost-shunting.svg``).

    ``costs`` is a unit-cost YAML laid over joinedup's defaults (or a :class:`UnitCosts`);
    None uses the defaults. Every money figure carries the label of the file used. The
    heat map shows the matrix under disclosure control (``rules``: the standard output
    rules, or an agreement's); writing it is recorded in the audit log, as ``who``.
    """
    uc = resolve_costs(costs)
    with ws.run(
        "value ledger", inputs={"tables": ["events", "demand"]}, settings={"unit_costs": uc.label}
    ) as run:
        led, mat, published = compute(ws.engine, uc, met_reasons=met_reasons, rules=rules)
        _write(ws.engine, "value_ledger", led, VALUE_LEDGER)
        _write(ws.engine, "cost_shunting", mat, COST_SHUNTING)
        ws.engine.write("unit_costs", uc.to_arrow(), mode="replace")
        path = None
        if chart:
            path = ws.path / "value" / "cost-shunting.svg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(heat_map_svg(published), encoding="utf-8")
            AuditLog(ws.path).append(
                who, "export", {"output": str(path), "command": "value ledger"}
            )
        run.outputs.update(
            {"value_ledger": led.num_rows, "cost_shunting": mat.num_rows, "chart": str(path)}
        )
    return Ledger(led, mat, uc.label, path, published)


def published_matrix(ws: Workspace, *, rules: OutputRules | None = None) -> PublishedMatrix:
    """The cost-shunting matrix as it may be shown, for the workspace's contacts and
    classification now, priced with the unit costs the last :func:`ledger` used."""
    engine = ws.engine
    if not engine.has_table("cost_shunting") or ws.count("cost_shunting") == 0:
        raise ValueInputError("no cost-shunting matrix yet: run `joinedup value ledger` first")
    label = engine.to_arrow(engine.sql("SELECT any_value(unit_costs) AS u FROM cost_shunting"))
    entries = tuple(UnitCost(**r) for r in ws.read("unit_costs").to_pylist())
    uc = UnitCosts(entries, str(label.column("u")[0].as_py()))
    try:
        engine.stage(FAILURES, failures_sql(contacts_sql(engine, uc)))
    finally:
        release(engine)
    try:
        return publish_matrix(engine, uc.label, rules or OutputRules())
    finally:
        engine.drop_temp(FAILURES)
