"""The workspace's linked log — episodes as cases — staged for discovery."""

from __future__ import annotations

from joinedup.engine import Engine
from joinedup.journeys._errors import JourneysError
from joinedup.journeys._sql import lit

WS_LOG = "_jn_ws_log"
BY = ("activity", "org", "channel")


def _label(by: str) -> str:
    if by == "activity":
        # Activities are named by each organisation; "Enquiry" at the council is not
        # "Enquiry" at the tax authority, so the organisation is part of the label.
        return "e.org || ': ' || coalesce(e.activity, '(none)')"
    if by == "org":
        return "e.org"
    if by == "channel":
        return "coalesce(e.channel, '(none)')"
    raise JourneysError(f"unknown --by {by!r}: expected one of {', '.join(BY)}")


def numbered_labels(where: str = "TRUE") -> str:
    """SQL selecting each distinct ``(org, activity)`` of the events (as ``e``) that
    ``where`` keeps, with its activity-level label (as :func:`stage_workspace_log` labels
    an event) and ``code``: the labels numbered from 0 in text order, so two pairs that
    make the same text share a code. Join events to it on ``org`` and on ``activity`` with
    ``IS NOT DISTINCT FROM`` (an activity may be missing)."""
    return (
        "SELECT org, activity, label, "
        "CAST(dense_rank() OVER (ORDER BY label) - 1 AS INTEGER) AS code FROM ("
        f"SELECT DISTINCT e.org, e.activity, {_label('activity')} AS label "
        f"FROM events e WHERE {where}) AS a"
    )


def require_episodes(engine: Engine) -> None:
    """Fail with the next step to take when the workspace has no episodes yet."""
    if engine.count("episode_events") == 0:
        raise JourneysError("the workspace has no episodes: run `joinedup journeys build` first")


def stage_workspace_log(
    engine: Engine,
    *,
    by: str = "activity",
    service: str | None = None,
    contacts_only: bool = False,
    episodes: str | None = None,
) -> str:
    """Stage every episode's events as a log ``(case_id, activity, ts, ord)``: the case is
    the episode, the order is the episode's own (time, then event id). ``episodes``, SQL
    selecting episode ids, limits the log to those episodes."""
    require_episodes(engine)
    where = []
    if service is not None:
        known = engine.count(engine.sql(f"SELECT 1 FROM episodes WHERE need_type = {lit(service)}"))
        if known == 0:
            names = (
                engine.to_arrow(engine.sql("SELECT DISTINCT need_type FROM episodes ORDER BY 1"))
                .column(0)
                .to_pylist()
            )
            raise JourneysError(
                f"no episodes of service {service!r}; services are: "
                + ", ".join(str(n) for n in names)
            )
        where.append(f"ep.need_type = {lit(service)}")
    if contacts_only:
        where.append("coalesce(e.direction, 'in') = 'in'")
    if episodes is not None:
        where.append(f"ee.episode_id IN ({episodes})")
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    engine.stage(
        WS_LOG,
        f"""
        SELECT ee.episode_id AS case_id, {_label(by)} AS activity,
               e.occurred_at AS ts, CAST(ee.position AS BIGINT) AS ord
        FROM episode_events ee
        JOIN events e ON e.event_id = ee.event_id
        JOIN episodes ep ON ep.episode_id = ee.episode_id
        {clause}
        """,
    )
    return WS_LOG
