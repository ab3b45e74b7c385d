"""Retention: find and remove data kept longer than the agreement allows.

An event is past retention when it happened (``basis: occurred_at``) or was loaded
(``basis: ingested_at``, the end of the last successful ingest of its source) before
the party's cutoff. What goes with it:

- its demand classification and its place in an episode; an episode left with no
  events goes too;
- a person record none of whose events remain (``occurred_at``), or every person record
  from an expired source (``ingested_at``), and that record's links;
- quarantined rows of a source last loaded before the cutoff (a rejected row has no
  trustworthy date of its own, so its load time is used under either basis).

Everything is counted per table and organisation, recorded as a run of the workspace and,
when an audit log is given, as an audit entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from joinedup.governance._agreement import Agreement
from joinedup.governance._audit import AuditLog

if TYPE_CHECKING:
    from joinedup.workspace import Workspace

__all__ = ["PurgeResult", "purge"]

_EVENTS, _PEOPLE, _SOURCES = "_purge_events", "_purge_people", "_purge_sources"
_EPISODES = "_purge_episodes"


@dataclass
class PurgeResult:
    """What is (or, for a dry run, would be) removed: rows per table and organisation."""

    cutoffs: dict[str, datetime]
    removed: dict[str, dict[str, int]] = field(default_factory=dict)
    dry_run: bool = False
    #: organisations with data in the workspace that the agreement does not name
    not_covered: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(n for per in self.removed.values() for n in per.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoffs": {o: c.isoformat() for o, c in self.cutoffs.items()},
            "removed": self.removed,
            "dry_run": self.dry_run,
            "not_covered": self.not_covered,
        }


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ts(value: datetime) -> str:
    return f"CAST({_lit(value.astimezone(UTC).isoformat())} AS TIMESTAMPTZ)"


def _last_loads(ws: Workspace) -> dict[str, tuple[str, datetime]]:
    """source -> (org, end of its last successful ingest)."""
    out: dict[str, tuple[str, datetime]] = {}
    for run in ws.runs():
        if run["command"] != "ingest" or run["status"] != "ok":
            continue
        source, org = run["inputs"].get("contract"), run["inputs"].get("org")
        if source and org and run["finished_at"] is not None:
            out[str(source)] = (str(org), run["finished_at"])
    return out


def purge(
    ws: Workspace,
    agreement: Agreement,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    audit: AuditLog | None = None,
    who: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> PurgeResult:
    """Remove (or with ``dry_run`` only count) the workspace's data past retention."""
    now = now or datetime.now(UTC)
    engine = ws.engine
    held = {
        r["org"]
        for t in ("events", "people")
        for r in engine.to_arrow(engine.sql(f"SELECT DISTINCT org FROM {t}")).to_pylist()
    }
    cutoffs = {
        org: agreement.retention_cutoff(org, now) for org in sorted(held | set(agreement.parties))
    }
    result = PurgeResult(
        cutoffs, dry_run=dry_run, not_covered=sorted(held - set(agreement.parties))
    )
    by_ingest = agreement.retention.basis == "ingested_at"

    loads = _last_loads(ws)
    expired_sources = [s for s, (org, at) in loads.items() if org in cutoffs and at < cutoffs[org]]
    if expired_sources:
        rows = ", ".join(f"({_lit(x)})" for x in expired_sources)
        engine.stage(_SOURCES, f"SELECT * FROM (VALUES {rows}) AS t(source)")
    else:
        engine.stage(_SOURCES, "SELECT CAST(NULL AS VARCHAR) AS source WHERE FALSE")

    if by_ingest:
        event_where = f"source IN (SELECT source FROM {_SOURCES})"
    else:
        parts = [f"(org = {_lit(o)} AND occurred_at < {_ts(c)})" for o, c in cutoffs.items()]
        event_where = " OR ".join(parts) or "FALSE"
    engine.stage(_EVENTS, f"SELECT event_id, org, local_person_ref FROM events WHERE {event_where}")
    gone_people = (
        f"SELECT DISTINCT x.org, x.local_person_ref FROM {_EVENTS} AS x "
        "WHERE x.local_person_ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events AS e "
        "WHERE e.org = x.org AND e.local_person_ref = x.local_person_ref "
        f"AND e.event_id NOT IN (SELECT event_id FROM {_EVENTS}))"
    )
    if by_ingest:
        gone_people += (
            " UNION SELECT org, local_person_ref FROM people "
            f"WHERE source IN (SELECT source FROM {_SOURCES})"
        )
    engine.stage(_PEOPLE, gone_people)

    in_events = f"event_id IN (SELECT event_id FROM {_EVENTS})"
    # episodes every one of whose events is going
    engine.stage(
        _EPISODES,
        f"SELECT episode_id FROM episode_events GROUP BY episode_id HAVING bool_and({in_events})",
    )
    plans: list[tuple[str, str, str]] = [
        # table, condition for the rows to remove, SQL giving each removed row's org
        (
            "demand",
            in_events,
            f"SELECT x.org FROM demand AS d JOIN {_EVENTS} AS x USING (event_id)",
        ),
        (
            "episode_events",
            in_events,
            f"SELECT x.org FROM episode_events AS d JOIN {_EVENTS} AS x USING (event_id)",
        ),
        ("events", in_events, f"SELECT org FROM {_EVENTS}"),
        (
            "links",
            f"EXISTS (SELECT 1 FROM {_PEOPLE} AS g WHERE g.org = links.org "
            f"AND g.local_person_ref = links.local_person_ref)",
            f"SELECT l.org FROM links AS l JOIN {_PEOPLE} USING (org, local_person_ref)",
        ),
        (
            "people",
            f"EXISTS (SELECT 1 FROM {_PEOPLE} AS g WHERE g.org = people.org "
            f"AND g.local_person_ref = people.local_person_ref)",
            f"SELECT p.org FROM people AS p JOIN {_PEOPLE} USING (org, local_person_ref)",
        ),
    ]
    plans.append(
        (
            "episodes",
            f"episode_id IN (SELECT episode_id FROM {_EPISODES})",
            f"SELECT '(joined)' AS org FROM {_EPISODES}",
        )
    )
    source_org = (
        ", ".join(f"({_lit(s)}, {_lit(o)})" for s, (o, _) in loads.items()) or "(NULL, NULL)"
    )
    plans.append(
        (
            "quarantine",
            f"source IN (SELECT source FROM {_SOURCES})",
            f"SELECT m.org FROM quarantine AS q JOIN (VALUES {source_org}) AS m(source, org) "
            f"USING (source) WHERE q.source IN (SELECT source FROM {_SOURCES})",
        )
    )
    try:
        for table, where, orgs_sql in plans:
            if progress:
                progress(table)
            counts = engine.to_arrow(
                engine.sql(f"SELECT org, count(*) AS n FROM ({orgs_sql}) GROUP BY org ORDER BY org")
            ).to_pylist()
            per = {r["org"]: int(r["n"]) for r in counts if r["n"]}
            if per:
                result.removed[table] = per
            if not dry_run and per:
                engine.delete(table, where)
    finally:
        for name in (_EVENTS, _PEOPLE, _SOURCES, _EPISODES):
            engine.drop_temp(name)
    if not dry_run:
        with ws.run(
            "retention purge",
            inputs={"agreement": agreement.record()},
            settings={"basis": agreement.retention.basis, "days": agreement.retention.days},
        ) as run:
            run.outputs.update(json.loads(json.dumps(result.as_dict())))
    if audit is not None:
        audit.append(who, "retention.check" if dry_run else "retention.purge", result.as_dict())
    return result
