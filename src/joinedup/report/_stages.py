"""Report sections for the later pipeline stages: demand and money (journeys are in
:mod:`joinedup.report._journeys`).

Each builder reads the stage's tables through the engine and returns None when the
stage has not run (its table is empty or missing). Every count and amount shown passes
disclosure control through :func:`joinedup.report._publish.grid`; an amount of money is
shown only where the count of contacts behind it is shown, since each amount is a count
times a unit cost and would otherwise give the withheld count away.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt

from joinedup._sql import month_start
from joinedup.report import _charts
from joinedup.report._charts import Chart
from joinedup.report._figures import Figures, Filters
from joinedup.report._publish import Published, grid
from joinedup.report._sections import Section
from joinedup.workspace import Workspace


def _rows(ws: Workspace, query: str) -> list[dict[str, Any]]:
    return ws.engine.to_arrow(ws.engine.sql(query)).to_pylist()


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ledger_where(flt: Filters) -> str:
    """The dashboard's filters on the value ledger, which is kept by organisation,
    service and month (not by channel)."""
    parts = []
    if flt.orgs:
        parts.append(f"org IN ({', '.join(_lit(o) for o in flt.orgs)})")
    if flt.services:
        parts.append(f"service IN ({', '.join(_lit(v) for v in flt.services)})")
    if flt.start is not None:
        parts.append(f"month >= DATE '{flt.start.replace(day=1).isoformat()}'")
    if flt.end is not None:
        parts.append(f"month <= DATE '{flt.end.isoformat()}'")
    return " AND ".join(parts) or "TRUE"


def _present(ws: Workspace, table: str) -> bool:
    return ws.engine.has_table(table) and ws.engine.count(table) > 0


def _publish_grid(pub: Published, cells: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    safe, notes = grid(cells, pub.rules, pub.controlled)
    pub.notes.extend(n for n in notes if n not in pub.notes)
    return safe


def demand(ws: Workspace, fig: Figures, pub: Published) -> Section | None:
    if not _present(ws, "demand"):
        return None
    # The organisation is the one the contact reached (the event's), so the dashboard's
    # filters apply to demand as they do to contacts.
    summed: dict[tuple[str, str, str], int] = {}
    for r in demand_counts(ws, fig):
        key = (r["org"], r["category"] or "unclassified", r["demand_type"] or "unclassified")
        summed[key] = summed.get(key, 0) + int(r["n"])
    by_cat: list[dict[str, Any]] = [
        {"org": o, "category": c, "demand_type": t, "n": n} for (o, c, t), n in summed.items()
    ]
    if not by_cat:
        return None
    # A category's cell is all its contacts at the organisation, whatever their demand
    # type: the review label's contacts may be typed failure, value or needs_review.
    # The sum is what passes disclosure control, never its parts.
    kinds_of: dict[str, set[str]] = {}
    cells: dict[str, dict[str, int]] = {}
    for r in by_cat:
        kinds_of.setdefault(r["category"], set()).add(r["demand_type"])
        inner = cells.setdefault(r["category"], {})
        inner[r["org"]] = inner.get(r["org"], 0) + int(r["n"])
    # "mixed" rather than the types present: naming them would show that a withheld
    # (possibly small) part is there at all; the split by type is the chart's, controlled.
    types = {c: next(iter(k)) if len(k) == 1 else "mixed" for c, k in kinds_of.items()}
    safe = _publish_grid(pub, cells)
    kinds: dict[str, dict[str, int]] = {}
    for r in by_cat:
        inner = kinds.setdefault(r["org"], {})
        inner[r["demand_type"]] = inner.get(r["demand_type"], 0) + int(r["n"])
    by_type = _publish_grid(pub, kinds)
    total = by_type.get("Total", {})
    failure, everything = total.get("failure"), total.get("Total")
    share = failure / everything if failure is not None and everything else None
    if share is None and everything:
        share = _whole_percent_share(by_cat, pub)
    pub.extra["failure_share"] = share
    pub.extra["failure_share_whole_percent"] = share is not None and failure is None
    pub.extra["failure_contacts"] = failure

    orgs = sorted(o for o in by_type if o != "Total")
    bar_rows = [
        {"organisation": o, "demand": k, "contacts": v}
        for o in orgs
        for k, v in by_type[o].items()
        if k != "Total" and v is not None
    ]
    charts = []
    if bar_rows:
        charts.append(
            _charts.stacked_bars(
                bar_rows,
                category="organisation",
                stack="demand",
                value="contacts",
                title="Value and failure demand at each organisation",
                value_title="contacts from citizens",
            )
        )
    control = _control_chart(ws, fig, pub)
    if control is not None:
        charts.append(control)
    categories = sorted((c for c in safe if c != "Total"), key=lambda c: (types.get(c), c))
    return Section(
        "demand",
        "Demand: value and failure",
        {
            "share": share,
            "share_whole_percent": pub.extra["failure_share_whole_percent"],
            "failure": failure,
            "orgs": orgs,
            "categories": categories,
            "types": types,
            "by_category": safe,
            "by_type": by_type,
        },
        charts,
    )


def demand_counts(ws: Workspace, fig: Figures) -> list[dict[str, Any]]:
    """Contacts (under the figures' filters) by organisation, category, demand type and
    month: the one join of demand to events that the demand section, its control chart
    and the headline's trend all count from, made once per report or view."""
    if "demand_counts" not in fig.memo:
        fig.memo["demand_counts"] = _rows(
            ws,
            # The month is written as text per group, not per contact (see
            # joinedup._sql.month_start).
            "SELECT org, category, demand_type, strftime(m, '%Y-%m') AS month, n FROM ("
            f"SELECT e.org, d.category, d.demand_type, {month_start('e.occurred_at')} AS m, "
            "count(*) AS n "
            f"FROM demand d JOIN events e USING (event_id) WHERE {fig.filters.where('e')} "
            # In order, so what is read from the rows does not hang on the engine's
            # order of groups.
            "GROUP BY ALL) AS g ORDER BY org, category, demand_type, month",
        )
    rows: list[dict[str, Any]] = fig.memo["demand_counts"]
    return rows


def monthly_demand(ws: Workspace, fig: Figures) -> dict[str, dict[str, int]]:
    """Contacts with a demand type, by month and type."""
    cells: dict[str, dict[str, int]] = {}
    for r in demand_counts(ws, fig):
        if r["demand_type"] is not None:
            inner = cells.setdefault(r["month"], {})
            inner[r["demand_type"]] = inner.get(r["demand_type"], 0) + int(r["n"])
    return cells


def _whole_percent_share(rows: list[dict[str, Any]], pub: Published) -> float | None:
    """The failure-demand share to the nearest whole percent, for when the total of
    failure contacts is withheld (its row or column holds a small cell, and secondary
    suppression took the total with it).

    Published whole, the total would give the small cell away by subtraction. A share
    rounded to 1% only says the total lies in a band one hundredth of all contacts wide;
    it is stated only when that band is at least twice the suppression threshold wide
    on either side of any cell, so no withheld cell can be narrowed below the threshold.
    """
    contacts = sum(int(r["n"]) for r in rows)
    if not pub.controlled or contacts < 100 * 2 * pub.rules.threshold:
        return None
    failure = sum(int(r["n"]) for r in rows if r["demand_type"] == "failure")
    return round(100 * failure / contacts) / 100


def _control_chart(ws: Workspace, fig: Figures, pub: Published) -> Chart | None:
    """A p-chart of the monthly failure-demand rate: the centre line is the overall rate
    and the limits are three standard errors either side for each month's volume
    (Shewhart's rule, as used for proportions; a control chart, not a target)."""
    safe = _publish_grid(pub, monthly_demand(ws, fig))
    points = []
    for month in sorted(m for m in safe if m != "Total"):
        fail, n = safe[month].get("failure"), safe[month].get("Total")
        if fail is not None and n:
            points.append({"month": month, "rate": fail / n, "n": n})
    if len(points) < 3:
        return None
    p = sum(x["rate"] * x["n"] for x in points) / sum(x["n"] for x in points)
    for x in points:
        se = math.sqrt(p * (1 - p) / x["n"])
        x.update(centre=p, lower=max(0.0, p - 3 * se), upper=min(1.0, p + 3 * se))
        x["signal"] = "outside limits" if not x["lower"] <= x["rate"] <= x["upper"] else "within"
    base = alt.Chart(alt.Data(values=points)).encode(x=alt.X("month:O", title=None))
    band = base.mark_area(opacity=0.15, color="#505a5f").encode(
        y=alt.Y("lower:Q", title="failure-demand rate", axis=alt.Axis(format="%")), y2="upper:Q"
    )
    centre = (
        alt.Chart(alt.Data(values=points))
        .mark_rule(color="#505a5f", strokeDash=[4, 3])
        .encode(y="mean(centre):Q")
    )
    line = base.mark_line(point=True, color="#1d70b8").encode(
        y="rate:Q", tooltip=["month:O", alt.Tooltip("rate:Q", format=".1%"), "signal:N"]
    )
    chart = (band + centre + line).properties(width=560, height=220)
    rows = [
        [
            x["month"],
            round(100 * x["rate"], 1),
            round(100 * x["lower"], 1),
            round(100 * x["upper"], 1),
            x["signal"],
        ]
        for x in points
    ]
    return _charts.render(
        chart,
        "Failure-demand rate by month, with control limits",
        ["month", "rate %", "lower limit %", "upper limit %", "signal"],
        rows,
        measures=("rate %", "lower limit %", "upper limit %"),
    )


def money(ws: Workspace, fig: Figures, pub: Published) -> Section | None:
    if not _present(ws, "value_ledger"):
        return None
    flt = fig.filters
    ledger = _rows(
        ws,
        "SELECT org, CAST(sum(contacts) AS BIGINT) AS contacts, "
        "CAST(sum(failure_contacts) AS BIGINT) AS failure, "
        "sum(cost_gbp) AS cost, sum(failure_cost_gbp) AS failure_cost, "
        "CAST(sum(needs_met) AS BIGINT) AS needs_met, any_value(unit_costs) AS unit_costs "
        f"FROM value_ledger WHERE {_ledger_where(flt)} GROUP BY org ORDER BY org",
    )
    if not ledger:
        return None
    cells = {
        r["org"]: {"contacts": int(r["contacts"]), "failure": int(r["failure"])} for r in ledger
    }
    safe = _publish_grid(pub, cells)
    rows = []
    for r in ledger:
        shown = safe.get(r["org"], {})
        n, f = shown.get("contacts"), shown.get("failure")
        rows.append(
            {
                "org": r["org"],
                "contacts": n,
                "failure": f,
                "cost": r["cost"] if n is not None else None,
                "failure_cost": r["failure_cost"] if f is not None else None,
                "per_transaction": r["cost"] / r["contacts"] if n and r["contacts"] else None,
                "per_need_met": r["cost"] / r["needs_met"]
                if n is not None and (r["needs_met"] or 0) >= 10
                else None,
            }
        )
    failure_cost = (
        sum(r["failure_cost"] or 0 for r in rows)
        if all(r["failure_cost"] is not None for r in rows)
        else None
    )
    pub.extra["failure_cost"] = failure_cost
    # The matrix is kept for the whole workspace, by organisation only: with a service,
    # channel or date filter it is left out (and the page says so), not shown unfiltered.
    whole = not (flt.services or flt.channels or flt.start or flt.end)
    absorbed = (
        f"absorbed_by_org IN ({', '.join(_lit(o) for o in flt.orgs)})" if flt.orgs else "TRUE"
    )
    shunt = (
        _rows(
            ws,
            "SELECT caused_by_org AS cause, absorbed_by_org AS absorbed, contacts, cost_gbp, "
            f"top_causes FROM cost_shunting WHERE {absorbed}",
        )
        if whole and _present(ws, "cost_shunting")
        else []
    )
    shunt_cells: dict[str, dict[str, int]] = {}
    for r in shunt:
        shunt_cells.setdefault(r["cause"], {})[r["absorbed"]] = int(r["contacts"])
    matrix = _publish_grid(pub, shunt_cells) if shunt_cells else {}
    for r in shunt:
        matrix.setdefault(r["cause"], {}).setdefault(r["absorbed"], None)
    cost_of = {(r["cause"], r["absorbed"]): r["cost_gbp"] for r in shunt}
    heat = [
        {"caused by": c, "absorbed by": a, "contacts": v, "cost": round(cost_of.get((c, a), 0.0))}
        for c, inner in matrix.items()
        if c != "Total"
        for a, v in inner.items()
        if a != "Total" and v is not None
    ]
    charts = []
    if heat:
        chart = (
            alt.Chart(alt.Data(values=heat))
            .mark_rect()
            .encode(
                x=alt.X("absorbed by:N", title="absorbed by (where the contact landed)"),
                y=alt.Y("caused by:N", title="caused by"),
                color=alt.Color("cost:Q", title="cost (£)", scale=alt.Scale(scheme="blues")),
                tooltip=["caused by:N", "absorbed by:N", "contacts:Q", "cost:Q"],
            )
            .properties(width=360, height=240)
        )
        text = (
            alt.Chart(alt.Data(values=heat))
            .mark_text(fontSize=12)
            .encode(x="absorbed by:N", y="caused by:N", text=alt.Text("cost:Q", format=",.0f"))
        )
        charts.append(
            _charts.render(
                chart + text,
                "Cost-shunting: failure demand by the organisation that caused it and the one "
                "that absorbed it (£)",
                ["caused by", "absorbed by", "contacts", "cost"],
                [[h["caused by"], h["absorbed by"], h["contacts"], h["cost"]] for h in heat],
                measures=("cost",),
            )
        )
    if pub.controlled and shunt:
        # The stored matrix counts each cause; published, a cell names its main causes
        # only, each resting on at least the threshold of contacts and people.
        from joinedup.value._ledger import published_matrix

        named = {
            (c.caused_by_org, c.absorbed_by_org): ", ".join(c.top_causes)
            for c in published_matrix(ws, rules=pub.rules).cells
            if c.top_causes
        }
    else:
        named = {(r["cause"], r["absorbed"]): r["top_causes"] for r in shunt}
    causes = {k: v for k, v in named.items() if matrix.get(k[0], {}).get(k[1]) is not None and v}
    return Section(
        "money",
        "Money: the cost of failure demand, and who pays it",
        {
            "rows": rows,
            "unit_costs": ledger[0]["unit_costs"] if ledger else None,
            "causes": sorted(causes.items()),
            "failure_cost": failure_cost,
            "matrix_left_out": not whole,
            "channels_ignored": bool(flt.channels),
        },
        charts,
    )
