"""Need episodes: a linked person's events grouped into the needs they served.

The method, and why, is in ``docs/methods/episodes.md``. In short:

1. every event of a linked person falls into a *unit*: its organisation's case (the
   ``case_ref``), or, for events without one, a run of events at one organisation and
   service with no gap longer than the quiet period;
2. a unit on which the organisation recorded an action of its own (``direction = 'out'``)
   *anchors* a need episode: the organisation worked it as a need;
3. a unit of contacts only (a misrouted call, a knock-on query at another organisation)
   joins the nearest anchor of the same person within ``attach_days``, preferring an
   anchor at another organisation; with none in reach it is an episode of its own.

Every event of a linked person lands in exactly one episode, by construction: each event
has one unit and each unit one episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.journeys._settings import EpisodeSettings
from joinedup.journeys._sql import in_list, seconds_between
from joinedup.model import EPISODE_EVENTS, EPISODES

# Names of the explicit intermediate tables, dropped at the end unless kept for debugging.
_EV, _UNITS, _HOME = "_jn_events", "_jn_units", "_jn_home"
_NAMES, _NAMED, _SERVED = "_jn_org_names", "_jn_named", "_jn_served"
_EP, _PLACED = "_jn_episodes", "_jn_placed"
_TEMP = (_PLACED, _EP, _HOME, _SERVED, _NAMED, _NAMES, _UNITS, _EV)
#: An event the citizen made (a contact), not an action of the organisation.
_CONTACT = "coalesce(direction, 'in') = 'in'"
#: The join of a table aliased ``x`` with the units (or homes) aliased ``y``.
_SAME_UNIT = "{x}.person_id = {y}.person_id AND {x}.org = {y}.org AND {x}.unit = {y}.unit"


@dataclass
class EpisodeResult:
    """What one episode build did."""

    events: int  # events in the workspace
    linked_events: int  # events of a person with a link, all placed in an episode
    episodes: int
    people: int
    met: int
    abandoned: int
    open: int


def _on(x: str, y: str) -> str:
    return _SAME_UNIT.format(x=x, y=y)


def build_episodes(
    engine: Engine, settings: EpisodeSettings, *, keep: bool = False
) -> EpisodeResult:
    """Group events into episodes and (re)write the ``episodes`` and ``episode_events``
    tables; ``keep`` leaves the intermediate tables for inspection.

    The work is done once per unit where it can be: an episode is a set of whole units,
    so its times, organisations, contacts and whether the need was met are sums over its
    units, and its id is computed once per unit. Only each event's position, and the
    hand-offs of episodes that span organisations, need the events in episode order.
    """
    quiet = settings.quiet_days * 86_400
    attach = settings.attach_days * 86_400
    met = (
        f"(outcome IN {in_list(settings.met_outcomes)} "
        f"OR activity IN {in_list(settings.met_activities)})"
    )

    # 1. linked events, with the unit each falls in: only the columns later steps read.
    # The join is written out for each half, so the engine does not hold every linked
    # event as a common table to read twice.
    def linked(where: str) -> str:
        return f"""
            SELECT e.event_id, e.org, e.service, e.channel, e.occurred_at, e.direction,
                   e.case_ref, e.note, {met} AS met, l.person_id
            FROM events e
            JOIN links l ON e.org = l.org AND e.local_person_ref = l.local_person_ref
            WHERE {where}
        """

    engine.stage(
        _EV,
        f"""
        SELECT event_id, org, service, channel, occurred_at, direction, note, met, person_id,
               'case:' || case_ref AS unit
        FROM ({linked("e.case_ref IS NOT NULL")})
        UNION ALL
        SELECT event_id, org, service, channel, occurred_at, direction, note, met, person_id,
               'run:' || coalesce(service, '') || ':' || CAST(SUM(cut) OVER (
                   PARTITION BY person_id, org, service ORDER BY occurred_at, event_id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS VARCHAR) AS unit
        FROM (
            SELECT *, CASE WHEN prev IS NULL OR {seconds_between("prev", "occurred_at")} > {quiet}
                           THEN 1 ELSE 0 END AS cut
            FROM (
                SELECT *, LAG(occurred_at) OVER (
                    PARTITION BY person_id, org, service ORDER BY occurred_at, event_id
                ) AS prev
                FROM ({linked("e.case_ref IS NULL")})
            )
        )
        """,
    )
    # 2. units, with whether the organisation acted on them, and what an episode sums.
    engine.stage(
        _UNITS,
        f"""
        SELECT person_id, org, unit,
               min(occurred_at) AS first_at, max(occurred_at) AS last_at,
               count(*) FILTER (WHERE direction = 'out') AS actions,
               arg_min(service, occurred_at) AS service,
               bool_or(met) AS met,
               count(*) FILTER (WHERE {_CONTACT}) AS contacts
        FROM {_EV} GROUP BY person_id, org, unit
        """,
    )
    # 3. which other organisations the notes of a contact-only unit name.
    names = [(org, n.lower()) for org, ns in settings.org_names.items() for n in ns if n.strip()]
    engine.register(
        _NAMES,
        pa.table(
            {"named_org": [o for o, _ in names], "phrase": [n for _, n in names]},
            schema=pa.schema([("named_org", pa.string()), ("phrase", pa.string())]),
        ),
    )
    engine.stage(
        _NAMED,
        f"""
        SELECT DISTINCT e.person_id, e.org, e.unit, n.named_org
        FROM {_EV} e
        JOIN {_UNITS} u ON {_on("e", "u")}
        JOIN {_NAMES} n ON n.named_org <> e.org AND contains(lower(e.note), n.phrase)
        WHERE u.actions = 0 AND e.note IS NOT NULL
        """,
    )
    # 3b. which of the person's needs a contact-only unit's notes name by their service.
    if settings.match_services:
        engine.stage(
            _SERVED,
            f"""
            SELECT DISTINCT e.person_id, e.org, e.unit, a.org AS a_org, a.unit AS a_unit
            FROM {_EV} e
            JOIN {_UNITS} u ON {_on("e", "u")}
            JOIN {_UNITS} a ON a.person_id = e.person_id AND a.actions > 0
            WHERE u.actions = 0 AND e.note IS NOT NULL AND a.service IS NOT NULL
              AND length(a.service) >= 4 AND contains(lower(e.note), lower(a.service))
            """,
        )
    else:
        engine.stage(
            _SERVED,
            f"SELECT person_id, org, unit, org AS a_org, unit AS a_unit FROM {_UNITS} WHERE false",
        )
    # 4. the home (anchor) unit of every unit, and so its episode: a unit the organisation
    # acted on is its own home; a contact-only unit with no anchor in reach too.
    same_org_last = (
        "CASE WHEN a.org = s.org THEN 1 ELSE 0 END, " if settings.prefer_other_org else ""
    )
    gap = (
        f"greatest({seconds_between('s.last_at', 'a.first_at')}, "
        f"{seconds_between('a.last_at', 's.first_at')}, 0)"
    )
    engine.stage(
        _HOME,
        f"""
        WITH attached AS (
            SELECT person_id, org, unit, home_org, home_unit FROM (
                SELECT s.person_id, s.org, s.unit, a.org AS home_org, a.unit AS home_unit,
                       row_number() OVER (
                           PARTITION BY s.person_id, s.org, s.unit
                           ORDER BY CASE WHEN n.named_org IS NULL THEN 1 ELSE 0 END,
                                    CASE WHEN v.a_unit IS NULL THEN 1 ELSE 0 END,
                                    {same_org_last}{gap}, a.first_at, a.org, a.unit
                       ) AS rank
                FROM {_UNITS} s JOIN {_UNITS} a
                  ON s.person_id = a.person_id AND a.actions > 0
                  AND NOT (a.org = s.org AND a.unit = s.unit)
                LEFT JOIN {_NAMED} n
                  ON n.person_id = s.person_id AND n.org = s.org AND n.unit = s.unit
                  AND n.named_org = a.org
                LEFT JOIN {_SERVED} v
                  ON v.person_id = s.person_id AND v.org = s.org AND v.unit = s.unit
                  AND v.a_org = a.org AND v.a_unit = a.unit
                WHERE s.actions = 0 AND {gap} <= {attach}
            ) WHERE rank = 1
        )
        SELECT *,
               'ep-' || substr(md5(person_id || '|' || home_org || '|' || home_unit), 1, 20)
                   AS episode_id
        FROM (
            SELECT u.*, coalesce(t.home_org, u.org) AS home_org,
                   coalesce(t.home_unit, u.unit) AS home_unit
            FROM {_UNITS} u LEFT JOIN attached t ON {_on("u", "t")}
        )
        """,
    )
    # 5. each episode's figures from its units (an episode is a set of whole units).
    engine.stage(
        _EP,
        f"""
        SELECT episode_id, any_value(person_id) AS person_id,
               any_value(home_org) AS need_org,
               max(service) FILTER (WHERE org = home_org AND unit = home_unit) AS need_type,
               min(first_at) AS started_at, max(last_at) AS last_at,
               bool_or(met) AS met, sum(contacts) AS contacts,
               min(org) <> max(org) AS spanning
        FROM {_HOME} GROUP BY episode_id
        """,
    )
    # 6. each event with its episode, once for the three uses below.
    engine.stage(
        _PLACED,
        f"""
        SELECT e.event_id, h.episode_id, e.person_id, e.org, e.occurred_at, e.channel,
               coalesce(e.direction, 'in') = 'in' AS contact, p.spanning
        FROM {_EV} e JOIN {_HOME} h ON {_on("e", "h")}
        JOIN {_EP} p ON p.episode_id = h.episode_id
        """,
    )
    for name, schema in (("episode_events", EPISODE_EVENTS), ("episodes", EPISODES)):
        # Recreated from the model, so a workspace made before a column was added gains it.
        engine.create_table(name, schema, overwrite=True)
    engine.write(
        "episode_events",
        engine.sql(
            f"""
            SELECT event_id, episode_id, person_id,
                   CAST(row_number() OVER (
                       PARTITION BY episode_id ORDER BY occurred_at, event_id
                   ) AS INTEGER) AS position
            FROM {_PLACED}
            """
        ).select(*EPISODE_EVENTS.names),
    )
    # 7. the episodes. Hand-offs need the contacts in order, and only an episode that
    # spans organisations can have one. Orgs and channels are made distinct by a grouping
    # and their lists sorted after, cheaper than a distinct, ordered aggregate.
    engine.write(
        "episodes",
        engine.sql(
            f"""
            WITH orgs AS (
                SELECT episode_id, list_sort(list(org)) AS orgs
                FROM (SELECT DISTINCT episode_id, org FROM {_HOME})
                GROUP BY episode_id
            ),
            channels AS (
                SELECT episode_id, list_sort(list(channel)) AS channels
                FROM (SELECT DISTINCT episode_id, channel FROM {_PLACED}
                      WHERE contact AND channel IS NOT NULL)
                GROUP BY episode_id
            ),
            handoffs AS (
                SELECT episode_id, count(*) FILTER (WHERE org <> prev_org) AS handoffs
                FROM (
                    SELECT episode_id, org, LAG(org) OVER (
                        PARTITION BY episode_id ORDER BY occurred_at, event_id
                    ) AS prev_org
                    FROM {_PLACED} WHERE contact AND spanning
                )
                GROUP BY episode_id
            ),
            data_end AS (SELECT max(occurred_at) AS data_end FROM events),
            ended AS (
                SELECT p.*, CASE WHEN met THEN 'met'
                     WHEN {seconds_between("last_at", "data_end")} >= {quiet} THEN 'abandoned'
                     ELSE 'open' END AS end_reason
                FROM {_EP} p, data_end
            )
            SELECT e.episode_id, e.person_id, e.need_type, e.started_at,
                   CASE WHEN e.end_reason = 'open' THEN NULL ELSE e.last_at END AS ended_at,
                   e.end_reason, o.orgs, coalesce(c.channels, []) AS channels,
                   CAST(e.contacts AS INTEGER) AS contacts,
                   CAST(coalesce(h.handoffs, 0) AS INTEGER) AS handoffs,
                   CASE WHEN e.end_reason = 'open' THEN NULL
                        ELSE {seconds_between("e.started_at", "e.last_at")} END
                       AS elapsed_seconds,
                   e.need_org
            FROM ended e
            JOIN orgs o ON o.episode_id = e.episode_id
            LEFT JOIN channels c ON c.episode_id = e.episode_id
            LEFT JOIN handoffs h ON h.episode_id = e.episode_id
            """
        ).select(*EPISODES.names),
    )
    counts = engine.to_arrow(
        engine.sql(
            """
            SELECT count(*) AS episodes, count(DISTINCT person_id) AS people,
                   count(*) FILTER (WHERE end_reason = 'met') AS met,
                   count(*) FILTER (WHERE end_reason = 'abandoned') AS abandoned,
                   count(*) FILTER (WHERE end_reason = 'open') AS open
            FROM episodes
            """
        )
    ).to_pylist()[0]
    result = EpisodeResult(events=engine.count("events"), linked_events=engine.count(_EV), **counts)
    if not keep:
        for name in _TEMP:
            engine.drop_temp(name)
    return result
