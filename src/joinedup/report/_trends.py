"""The headline figures month by month, so each card can say which way it is moving.

Each series is computed with the dashboard's filters, and every count behind a monthly
value passes disclosure control: a month's rate is shown only where its counts are
published, its cost only where its count of failure contacts is, its median only where
its count of needs is. A month the data covers only in part (the data starts or ends
inside it) is drawn but left out of the month-on-month comparison.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import altair as alt

from joinedup._sql import month_start
from joinedup.report import _charts
from joinedup.report._charts import Chart
from joinedup.report._figures import Figures
from joinedup.report._publish import Published
from joinedup.report._stages import _ledger_where, _present, _publish_grid, _rows, monthly_demand
from joinedup.workspace import Workspace


@dataclass
class Trend:
    """One headline measure by calendar month (``YYYY-MM``), published values only."""

    key: str
    label: str
    unit: str  # "%", "£", "days" or "" (a count)
    points: list[tuple[str, float]]
    partial: frozenset[str] = field(default_factory=frozenset)

    @property
    def compared(self) -> tuple[tuple[str, float], tuple[str, float]] | None:
        """The last two complete months with a published value (earlier, later)."""
        full = [p for p in self.points if p[0] not in self.partial]
        return (full[-2], full[-1]) if len(full) >= 2 else None

    def sentence(self) -> str | None:
        """The latest complete month against the one before, in words."""
        pair = self.compared
        if pair is None:
            return None
        (m0, v0), (m1, v1) = pair
        diff = v1 - v0
        size = {
            "%": f"{abs(diff):.1f} points",
            "£": f"£{abs(diff):,.0f}",
            "days": f"{abs(diff):.1f} days",
        }.get(self.unit, f"{abs(diff):,.0f}")
        way = "no change" if round(diff, 1) == 0 else ("up " if diff > 0 else "down ") + size
        return f"{_month(m1)}: {self.show(v1)}, {way} on {_month(m0).split()[0]}"

    def show(self, v: float) -> str:
        return {
            "%": f"{v:.1f}%",
            "£": f"£{v:,.0f}",
            "days": f"{v:.1f} days",
        }.get(self.unit, f"{v:,.0f}")


def _month(m: str) -> str:
    year, month = m.split("-")
    return f"{calendar.month_name[int(month)]} {year}"


def _partial_months(fig: Figures) -> frozenset[str]:
    """Months the data covers only in part: the first if it starts after the 1st, the
    last if it ends before the month's last day."""
    if fig.period is None:
        return frozenset()
    first, last = (date.fromisoformat(d) for d in fig.period)
    out = set()
    if first.day != 1:
        out.add(first.strftime("%Y-%m"))
    if last.day != calendar.monthrange(last.year, last.month)[1]:
        out.add(last.strftime("%Y-%m"))
    return frozenset(out)


def trends(ws: Workspace, fig: Figures, pub: Published) -> list[Trend]:
    partial = _partial_months(fig)
    out = [
        t
        for t in (
            _failure_share(ws, fig, pub),
            _failure_cost(ws, fig, pub),
            _median_days(ws, fig, pub),
            _first_contact(ws, fig, pub),
            _contacts(fig, pub),
        )
        if t is not None and t.points
    ]
    for t in out:
        t.partial = partial
    return out


def _failure_share(ws: Workspace, fig: Figures, pub: Published) -> Trend | None:
    if "failure_share" not in pub.extra:
        return None
    safe = _publish_grid(pub, monthly_demand(ws, fig))
    points = []
    for m in sorted(k for k in safe if k != "Total"):
        f, n = safe[m].get("failure"), safe[m].get("Total")
        if f is not None and n:
            points.append((m, 100 * f / n))
    return Trend("failure_share", "failure demand (% of contacts)", "%", points)


def _failure_cost(ws: Workspace, fig: Figures, pub: Published) -> Trend | None:
    if "failure_cost" not in pub.extra or not _present(ws, "value_ledger"):
        return None
    rows = _rows(
        ws,
        "SELECT strftime(month, '%Y-%m') AS month, CAST(sum(failure_contacts) AS BIGINT) AS n, "
        "sum(failure_cost_gbp) AS cost FROM value_ledger "
        f"WHERE {_ledger_where(fig.filters)} GROUP BY ALL",
    )
    safe = _publish_grid(pub, {r["month"]: {"failure": int(r["n"])} for r in rows})
    cost = {r["month"]: float(r["cost"]) for r in rows}
    points = [(m, cost[m]) for m in sorted(cost) if safe.get(m, {}).get("failure") is not None]
    return Trend("failure_cost", "cost of failure demand (£)", "£", points)


def _episodes(fig: Figures) -> str:
    if not fig.filters.active:
        return "episodes"
    return (
        "(SELECT * FROM episodes WHERE episode_id IN (SELECT ee.episode_id FROM "
        "episode_events ee JOIN events e USING (event_id) "
        f"WHERE {fig.filters.where('e')}))"
    )


def _ended(ws: Workspace, fig: Figures) -> list[dict[str, Any]]:
    """Needs by the month they ended: how many, how many met at the first contact, and
    their median end-to-end time (the lead time of the needs finished that month); read
    once per report or view."""
    if "ended" in fig.memo:
        rows: list[dict[str, Any]] = fig.memo["ended"]
        return rows
    fig.memo["ended"] = _rows(
        ws,
        "SELECT strftime(m, '%Y-%m') AS month, n, first_contact, median_days FROM ("
        f"SELECT {month_start('ended_at')} AS m, count(*) AS n, "
        "count(*) FILTER (WHERE end_reason = 'met' AND contacts = 1) AS first_contact, "
        "median(elapsed_seconds) / 86400.0 AS median_days "
        f"FROM {_episodes(fig)} AS ep WHERE ended_at IS NOT NULL GROUP BY ALL) AS g",
    )
    return _ended(ws, fig)


def _median_days(ws: Workspace, fig: Figures, pub: Published) -> Trend | None:
    if pub.extra.get("median_days") is None:
        return None
    rows = _ended(ws, fig)
    safe = _publish_grid(pub, {r["month"]: {"needs": int(r["n"])} for r in rows})
    points = [
        (r["month"], float(r["median_days"]))
        for r in sorted(rows, key=lambda r: r["month"])
        if safe.get(r["month"], {}).get("needs") is not None and r["median_days"] is not None
    ]
    return Trend("median_days", "median days per need (needs ended that month)", "days", points)


def _first_contact(ws: Workspace, fig: Figures, pub: Published) -> Trend | None:
    if pub.extra.get("first_contact_share") is None:
        return None
    rows = _ended(ws, fig)
    cells = {
        r["month"]: {"first": int(r["first_contact"]), "later": int(r["n"] - r["first_contact"])}
        for r in rows
    }
    safe = _publish_grid(pub, cells)
    points = []
    for m in sorted(cells):
        first, later = safe.get(m, {}).get("first"), safe.get(m, {}).get("later")
        if first is not None and later is not None and first + later:
            points.append((m, 100 * first / (first + later)))
    return Trend("first_contact_share", "needs met at the first contact (%)", "%", points)


def _contacts(fig: Figures, pub: Published) -> Trend | None:
    monthly: dict[str, int] = {}
    for months in fig.contacts_by_month.values():
        for m, n in months.items():
            monthly[m] = monthly.get(m, 0) + n
    safe = _publish_grid(pub, {m: {"contacts": n} for m, n in monthly.items()})
    points = [
        (m, float(v)) for m in sorted(monthly) if (v := safe.get(m, {}).get("contacts")) is not None
    ]
    return Trend("contacts", "contacts from citizens", "", points)


def chart(series: list[Trend]) -> Chart | None:
    """Small multiples: each headline measure by month, on its own scale."""
    rows = [
        {
            "month": m,
            "measure": t.label,
            "value": round(v, 1),
            "month kind": "part month" if m in t.partial else "whole month",
        }
        for t in series
        for m, v in t.points
    ]
    if not rows:
        return None
    base = (
        alt.Chart(alt.Data(values=rows))
        .encode(
            x=alt.X("month:O", title=None, axis=alt.Axis(labelAngle=-45, labelOverlap=True)),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        )
        .properties(width=250, height=110)
    )
    layered = alt.layer(
        base.mark_line(color="#1d70b8"),
        base.mark_point(filled=True, size=30).encode(
            color=alt.Color(
                "month kind:N",
                title=None,
                scale=alt.Scale(domain=["whole month", "part month"], range=["#1d70b8", "#b1b4b6"]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=["measure:N", "month:O", "value:Q", "month kind:N"],
        ),
    )
    faceted = layered.facet(facet=alt.Facet("measure:N", title=None), columns=2).resolve_scale(
        y="independent"
    )
    return _charts.render(
        faceted,
        "The headline measures month by month (grey points: months the data covers only in part)",
        ["measure", "month", "value", "month kind"],
        [[r["measure"], r["month"], r["value"], r["month kind"]] for r in rows],
        measures=("value",),
    )
