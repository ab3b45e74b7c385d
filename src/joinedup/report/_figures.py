"""The figures the report states, computed from the workspace's standard tables.

Everything here is an Ibis expression or SQL run by the workspace's engine, so the same
figures come out on any engine. A contact is an event with direction ``in`` (or no direction
recorded); an action is an organisation's own event (direction ``out``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import ibis

from joinedup._sql import month_start
from joinedup.workspace import Workspace


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _rows(ws: Workspace, query: str) -> list[dict[str, Any]]:
    return ws.engine.to_arrow(ws.engine.sql(query)).to_pylist()


@dataclass(frozen=True)
class Filters:
    """Which events the figures cover; an empty field means no restriction."""

    orgs: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None  # inclusive

    def __post_init__(self) -> None:
        # A filter value goes into SQL as a literal, where a NUL character cannot be
        # written: say so here rather than fail inside the engine.
        named = (("orgs", self.orgs), ("services", self.services), ("channels", self.channels))
        for name, values in named:
            self._check(name, values)
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(
                f"the period starts ({self.start}) after it ends ({self.end}): swap the dates"
            )

    @staticmethod
    def _check(name: str, values: tuple[str, ...]) -> None:
        if isinstance(values, str):
            raise ValueError(f"filter {name} takes a tuple of names, not the string {values!r}")
        for v in values:
            if not isinstance(v, str) or "\x00" in v:
                raise ValueError(
                    f"filter {name}: {v!r} is not a name the workspace can hold "
                    "(a name is text without NUL characters)"
                )

    def apply(self, events: ibis.Table) -> ibis.Table:
        """Restrict an events expression to these filters."""
        if self.orgs:
            events = events.filter(events.org.isin(self.orgs))
        if self.services:
            events = events.filter(events.service.isin(self.services))
        if self.channels:
            events = events.filter(events.channel.isin(self.channels))
        if self.start is not None:
            events = events.filter(events.occurred_at.date() >= self.start)
        if self.end is not None:
            events = events.filter(events.occurred_at.date() < self.end + timedelta(days=1))
        return events

    def where(self, alias: str = "e") -> str:
        """The same restriction as SQL on an events table aliased ``alias`` ("TRUE" when
        there is none), for figures read with SQL rather than Ibis."""
        parts = []
        for col, values in (("org", self.orgs), ("service", self.services)):
            if values:
                parts.append(f"{alias}.{col} IN ({', '.join(_lit(v) for v in values)})")
        if self.channels:
            parts.append(f"{alias}.channel IN ({', '.join(_lit(v) for v in self.channels)})")
        if self.start is not None:
            parts.append(
                f"{alias}.occurred_at >= TIMESTAMPTZ '{self.start.isoformat()} 00:00:00+00'"
            )
        if self.end is not None:
            after = (self.end + timedelta(days=1)).isoformat()
            parts.append(f"{alias}.occurred_at < TIMESTAMPTZ '{after} 00:00:00+00'")
        return " AND ".join(parts) or "TRUE"

    @property
    def active(self) -> bool:
        return bool(self.orgs or self.services or self.channels or self.start or self.end)


@dataclass
class Figures:
    """What the foundation can honestly compute from the standard tables."""

    orgs: list[str]
    person_records: int
    records_by_org: dict[str, int]
    contacts: int
    actions: int
    contacts_by_org: dict[str, int]
    contacts_by_org_channel: dict[str, dict[str, int]]
    contacts_by_month: dict[str, dict[str, int]]
    period: tuple[str, str] | None
    quarantined: int
    quarantine_by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    filters: Filters = field(default_factory=Filters)
    #: Query results the sections of one report or view share (not figures themselves).
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(replace(self, memo={}))
        del out["memo"]
        return out


def compute(ws: Workspace, filters: Filters | None = None) -> Figures:
    """The report's figures for one workspace, restricted to ``filters`` if given."""
    eng = ws.engine
    filters = filters or Filters()
    people = eng.table("people")
    if filters.orgs:
        people = people.filter(people.org.isin(filters.orgs))

    rec = eng.to_arrow(people.group_by("org").aggregate(n=people.count())).to_pylist()
    records_by_org = {r["org"]: int(r["n"]) for r in rec}

    # One pass over the events gives every count below: contacts by organisation,
    # channel and month, actions, and the period covered. The month is cut from the
    # time as UTC microseconds (zone-less, as the session's UTC clock gives it; see
    # joinedup._sql.month_start) and written as text once per group, not per event: at
    # twenty million events the zoned cut and the text per row were most of the
    # report's first query.
    counted = _rows(
        ws,
        'SELECT org, channel, strftime(m, \'%Y-%m\') AS month, contact, n, "first", "last" '
        f"FROM (SELECT e.org, e.channel, {month_start('e.occurred_at')} AS m, "
        "(e.direction IS NULL OR e.direction = 'in') AS contact, count(*) AS n, "
        'min(e.occurred_at) AS "first", max(e.occurred_at) AS "last" '
        f"FROM events e WHERE {filters.where('e')} GROUP BY ALL) AS g",
    )
    by_org_channel: dict[str, dict[str, int]] = {}
    by_month: dict[str, dict[str, int]] = {}
    actions = 0
    for r in sorted(counted, key=lambda r: (r["org"], r["month"] or "")):
        if not r["contact"]:
            actions += int(r["n"])
            continue
        inner = by_org_channel.setdefault(r["org"], {})
        channel = r["channel"] or "unknown"
        inner[channel] = inner.get(channel, 0) + int(r["n"])
        if r["month"] is not None:
            months = by_month.setdefault(r["org"], {})
            months[r["month"]] = months.get(r["month"], 0) + int(r["n"])
    by_org = {org: sum(ch.values()) for org, ch in by_org_channel.items()}

    firsts = [r["first"] for r in counted if r["first"] is not None]
    period = None
    if firsts:
        last = max(r["last"] for r in counted if r["last"] is not None)
        period = (min(firsts).date().isoformat(), last.date().isoformat())

    q = eng.table("quarantine")
    qrows = eng.to_arrow(q.group_by(["source", "column_name"]).aggregate(n=q.count())).to_pylist()
    q_by_source: dict[str, dict[str, int]] = {}
    for r in qrows:
        q_by_source.setdefault(r["source"], {})[r["column_name"] or "?"] = int(r["n"])

    sources = []
    for run in ws.runs():
        if run["command"] == "ingest" and run["status"] == "ok":
            sources.append(
                {
                    "source": run["inputs"].get("contract"),
                    "org": run["inputs"].get("org"),
                    **run["outputs"],
                }
            )

    orgs = sorted(set(records_by_org) | set(by_org))
    return Figures(
        orgs=orgs,
        person_records=sum(records_by_org.values()),
        records_by_org=records_by_org,
        contacts=sum(by_org.values()),
        actions=actions,
        contacts_by_org=by_org,
        contacts_by_org_channel=by_org_channel,
        contacts_by_month=by_month,
        period=period,
        quarantined=sum(sum(v.values()) for v in q_by_source.values()),
        quarantine_by_source=q_by_source,
        sources=sources,
        filters=filters,
    )
