"""Priced contacts: every citizen's contact with its classification and unit cost.

This is the one intermediate table the ledger, the matrix and the what-if share. It is
built in the engine (SQL in the DuckDB dialect, through the engine seam), so ten million
contacts never pass through Python.
"""

from __future__ import annotations

import pyarrow as pa

from joinedup._sql import month_start
from joinedup.engine import Engine
from joinedup.value._costs import UnitCosts, units
from joinedup.value._errors import CostError, ValueInputError

#: The staged table of priced contacts (a temporary table of the engine session).
CONTACTS = "_value_contacts"
_COSTS = "_value_unit_costs"
#: What a contact's service is called when the export did not record one.
NO_SERVICE = "(not recorded)"
#: The causing organisation (or cause) shown for failure demand whose cause is not known.
UNKNOWN = "unknown"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def utc_month(column: str) -> str:
    """SQL for the first day (UTC) of the month of the timestamp ``column``, as a date."""
    return f"CAST({month_start(column)} AS DATE)"


def has_cause_column(engine: Engine) -> bool:
    """Whether the demand table carries the optional ``cause`` column (the failure
    behind a contact, such as ``late_payment``)."""
    return "cause" in engine.table("demand").columns


def _check_demand(engine: Engine) -> None:
    dup = engine.to_arrow(
        engine.sql(
            "SELECT event_id, count(*) AS n FROM demand GROUP BY event_id "
            "HAVING count(*) > 1 ORDER BY event_id LIMIT 1"
        )
    )
    if dup.num_rows:
        eid, n = dup.column("event_id")[0].as_py(), dup.column("n")[0].as_py()
        raise ValueInputError(
            f"table demand holds {n} rows for event {eid!r}: each contact must be classified "
            "once (re-run the demand stage so it replaces its output)"
        )


def _resolve_costs(engine: Engine, costs: UnitCosts) -> pa.Table:
    pairs = engine.to_arrow(
        engine.sql(
            "SELECT org, channel, count(*) AS n FROM events WHERE direction = 'in' "
            "GROUP BY org, channel ORDER BY org, channel"
        )
    ).to_pylist()
    if not pairs:
        raise ValueInputError(
            "the workspace holds no citizens' contacts (events with direction 'in'): "
            "ingest some exports first"
        )
    rows: dict[str, list[object]] = {"org": [], "channel_key": [], "cost_units": []}
    missing = []
    for p in pairs:
        entry = costs.lookup(p["org"], p["channel"])
        if entry is None:
            missing.append(f"org={p['org']} channel={p['channel']} ({p['n']} contacts)")
            continue
        rows["org"].append(p["org"])
        rows["channel_key"].append(p["channel"] if p["channel"] is not None else "")
        rows["cost_units"].append(units(entry.cost_gbp))
    if missing:
        raise CostError(
            f"unit costs from {costs.label} do not price "
            + "; ".join(missing)
            + ": add an entry for that organisation and channel (or channel '*') to your "
            "unit-cost file"
        )
    return pa.table(
        rows,
        schema=pa.schema(
            [("org", pa.string()), ("channel_key", pa.string()), ("cost_units", pa.int64())]
        ),
    )


def contacts_sql(engine: Engine, costs: UnitCosts) -> str:
    """SQL for the priced contacts; registers the resolved unit costs, which
    :func:`release` drops when the query has run.

    Columns: event_id, org (the organisation that received the contact), service,
    month (first day, UTC), occurred_at, channel, demand_type, category, cause (the
    optional demand ``cause`` column where filled, else the category), confidence,
    caused_by_org, local_person_ref and cost_units (the unit cost in ten-thousandths of a
    pound).
    """
    engine.register(_COSTS, _resolve_costs(engine, costs))
    cause = "coalesce(d.cause, d.category)" if has_cause_column(engine) else "d.category"
    return f"""
        SELECT e.event_id,
               e.org,
               coalesce(e.service, {_lit(NO_SERVICE)}) AS service,
               {utc_month("e.occurred_at")} AS month,
               e.occurred_at,
               e.channel,
               lower(d.demand_type) AS demand_type,
               d.category,
               {cause} AS cause,
               d.confidence,
               d.caused_by_org,
               e.local_person_ref,
               c.cost_units
        FROM events e
        JOIN "{_COSTS}" c ON c.org = e.org AND c.channel_key = coalesce(e.channel, '')
        LEFT JOIN demand d ON d.event_id = e.event_id
        WHERE e.direction = 'in'
        """


def release(engine: Engine) -> None:
    """Drop what :func:`contacts_sql` registered."""
    engine.drop_temp(_COSTS)


def check_one_row_per_contact(engine: Engine, priced: int) -> None:
    """Raise if the priced contacts outnumber the contacts (a contact classified twice
    would be counted, and paid for, twice)."""
    contacts = engine.count(engine.sql("SELECT event_id FROM events WHERE direction = 'in'"))
    if priced != contacts:
        _check_demand(engine)
        raise ValueInputError(
            f"{priced} priced contacts from {contacts} contacts: the demand table does not "
            "hold one row per contact"
        )


def stage_contacts(engine: Engine, costs: UnitCosts) -> str:
    """Stage the priced contacts (:func:`contacts_sql`) as a temporary table and return
    its name; for analyses that read contacts one by one, such as the what-if."""
    _check_demand(engine)
    try:
        engine.stage(CONTACTS, contacts_sql(engine, costs))
    finally:
        release(engine)
    return CONTACTS
