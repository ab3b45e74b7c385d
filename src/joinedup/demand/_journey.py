"""Journey rules and cause attribution, as SQL run through the engine.

Everything here reads the standard tables (``events``, ``links``, ``episode_events``)
and writes named temporary tables (``_demand_*``), so each step can be inspected.

**The same need.** Two contacts are about the same need when they share an episode
(``episode_events``, from the journeys stage); failing that, the same organisation's
case reference; failing that, the proxy: the same person and service, with no gap of
more than ``same_need_days`` between consecutive contacts.

**The person.** ``links`` gives the person behind each local record; a record with no
link stands for a person of its own (its organisation and local reference).
"""

from __future__ import annotations

from joinedup.demand._settings import DemandSettings
from joinedup.engine import Engine

DAY = 86_400


def _lit(values: list[str]) -> str:
    """A SQL list of string literals (never empty: an empty list matches nothing)."""
    if not values:
        return "(NULL)"
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def _secs(a: str, b: str) -> str:
    """Seconds from timestamp ``a`` to timestamp ``b``."""
    return f"date_diff('second', {a}, {b})"


def stage_contacts(engine: Engine, s: DemandSettings, notes: str) -> None:
    """``_demand_events``: every event with its person and need key, and each inbound
    event's ``note_id`` from ``notes`` (a table of note_id and note; a null note is the
    empty one)."""
    has_episodes = engine.has_table("episode_events") and engine.count("episode_events") > 0
    episode = (
        "LEFT JOIN episode_events ee ON ee.event_id = e.event_id"
        if has_episodes
        else "LEFT JOIN (SELECT NULL::VARCHAR AS event_id, NULL::VARCHAR AS episode_id) ee ON FALSE"
    )
    gap = int(s.same_need_days * DAY)
    base = f"""
        SELECT e.event_id, e.org, e.service, e.occurred_at, e.activity, e.direction,
               lower(coalesce(e.outcome, '')) AS outcome, e.case_ref,
               coalesce(l.person_id, e.org || '|' || coalesce(e.local_person_ref, e.event_id))
                 AS person_key,
               ee.episode_id, n.note_id
        FROM events e
        LEFT JOIN links l ON l.org = e.org AND l.local_person_ref = e.local_person_ref
        {episode}
        LEFT JOIN {notes} n
          ON n.note = CASE WHEN e.direction = 'in' THEN coalesce(e.note, '') END
        """
    known = (
        "coalesce('ep|' || episode_id, "
        "CASE WHEN case_ref IS NOT NULL THEN 'case|' || org || '|' || case_ref END)"
    )
    # What the rules and causes read: the service and case reference only make the key.
    kept = (
        "event_id, org, occurred_at, activity, direction, outcome, person_key, episode_id, note_id"
    )
    if not _needs_proxy(engine, has_episodes):
        # Every event has an episode or a case reference (as after the journeys stage):
        # the proxy, and the windows over each person's contacts it needs, are not used.
        engine.stage("_demand_events", f"SELECT {kept}, {known} AS need_key FROM ({base}) b")
        return
    engine.stage("_demand_base", base)
    engine.stage(
        "_demand_events",
        f"""
        WITH steps AS (
          SELECT *,
            CASE WHEN {_secs("lag(occurred_at) OVER w", "occurred_at")} <= {gap}
                 THEN 0 ELSE 1 END AS new_need
          FROM _demand_base
          WINDOW w AS (PARTITION BY person_key, service ORDER BY occurred_at, event_id)
        )
        SELECT {kept},
          coalesce(
            {known},
            'proxy|' || person_key || '|' || coalesce(service, '') || '|' ||
              CAST(sum(new_need) OVER (PARTITION BY person_key, service
                   ORDER BY occurred_at, event_id ROWS UNBOUNDED PRECEDING) AS VARCHAR)
          ) AS need_key
        FROM steps
        """,
    )
    engine.drop_temp("_demand_base")


def _needs_proxy(engine: Engine, has_episodes: bool) -> bool:
    """Whether any event has neither an episode nor a case reference."""
    unreferenced = "SELECT e.event_id FROM events e WHERE e.case_ref IS NULL"
    if has_episodes:
        unreferenced += (
            " AND NOT EXISTS (SELECT 1 FROM episode_events ee WHERE ee.event_id = e.event_id)"
        )
    return engine.count(engine.sql(unreferenced + " LIMIT 1")) > 0


def stage_cases(engine: Engine, s: DemandSettings, sums: list[str]) -> None:
    """``_demand_cases``: each organisation's part of each need, summed up once for the
    rules, the causes and the root causes (each would otherwise group every event again).

    Per (need_key, org): the person; whether the organisation owned the case (an
    outbound event or a request; ``own`` with the chase rule's requests, ``asked_for``
    with the duplicate rule's); its first and last event; the chase rule's first
    request in and first completion (``asked``, ``done_at``); and ``sums``, further
    aggregates over the case's events (the root-cause rules' journey conditions).
    """
    r = s.rules
    extra = "".join(",\n               " + x for x in sums)
    engine.stage(
        "_demand_cases",
        f"""
        SELECT need_key, org, any_value(person_key) AS person_key,
               bool_or(direction = 'out' OR activity IN {_lit(r.chase.request_activities)})
                 AS own,
               bool_or(direction = 'out' OR activity IN {_lit(r.duplicate.request_activities)})
                 AS asked_for,
               min(occurred_at) AS first_at, max(occurred_at) AS last_at,
               min(occurred_at) FILTER (
                 WHERE direction = 'in' AND activity IN {_lit(r.chase.request_activities)}
               ) AS asked,
               min(occurred_at) FILTER (WHERE activity IN {_lit(r.chase.done_activities)})
                 AS done_at{extra}
        FROM _demand_events GROUP BY need_key, org
        """,
    )


def stage_rules(engine: Engine, s: DemandSettings) -> list[str]:
    """``_demand_rule_<name>`` (one event_id per firing) for each enabled rule; returns
    the names staged, in the order they are tried. Needs ``_demand_cases``."""
    r = s.rules
    queries: dict[str, str] = {}
    contacts = "SELECT * FROM _demand_events WHERE direction = 'in'"
    if r.misrouted.enabled:
        queries["misrouted"] = f"""
          SELECT event_id FROM ({contacts})
          WHERE activity IN {_lit(r.misrouted.activities)}
             OR outcome IN {_lit([o.lower() for o in r.misrouted.outcomes])}"""
    if r.error.enabled:
        within = int(r.error.within_days * DAY)
        queries["error"] = f"""
          SELECT event_id FROM ({contacts}) WHERE activity IN {_lit(r.error.error_activities)}
          UNION
          SELECT c.event_id FROM ({contacts}) c
          JOIN _demand_events k ON k.need_key = c.need_key
           AND k.activity IN {_lit(r.error.correction_activities)}
           AND k.occurred_at < c.occurred_at
           AND {_secs("k.occurred_at", "c.occurred_at")} <= {within}"""
    if r.duplicate.enabled:
        d = r.duplicate
        within = int(d.within_days * DAY)
        queries["duplicate"] = f"""
          WITH ev AS (SELECT * FROM ({contacts}) WHERE activity IN {_lit(d.evidence_activities)}),
          own AS (SELECT need_key, org FROM _demand_cases WHERE asked_for)
          SELECT a.event_id FROM ev a JOIN ev b
            ON b.need_key = a.need_key AND b.org = a.org
           AND (b.occurred_at < a.occurred_at
                OR (b.occurred_at = a.occurred_at AND b.event_id < a.event_id))
          UNION
          SELECT a.event_id FROM ev a
          JOIN _demand_events b ON b.person_key = a.person_key AND b.org <> a.org
           AND b.direction = 'in'
           AND b.activity IN {_lit(d.evidence_activities + d.request_activities)}
           AND b.occurred_at < a.occurred_at
           AND {_secs("b.occurred_at", "a.occurred_at")} <= {within}
          WHERE NOT EXISTS (
            SELECT 1 FROM own o WHERE o.need_key = a.need_key AND o.org = a.org)"""
    if r.repeat.enabled:
        p = r.repeat
        responded = (
            """WHERE EXISTS (SELECT 1 FROM _demand_events k WHERE k.need_key = a.need_key
                 AND k.direction = 'out' AND k.occurred_at > b.occurred_at
                 AND k.occurred_at < a.occurred_at)"""
            if p.after_response
            else ""
        )
        queries["repeat"] = f"""
          WITH req AS (SELECT * FROM ({contacts}) WHERE activity IN {_lit(p.request_activities)})
          SELECT DISTINCT a.event_id FROM req a JOIN req b
            ON b.need_key = a.need_key AND b.occurred_at < a.occurred_at
           AND {_secs("b.occurred_at", "a.occurred_at")} >= {int(p.min_days * DAY)}
           AND {_secs("b.occurred_at", "a.occurred_at")} <= {int(p.within_days * DAY)}
          {responded}"""
    if r.chase.enabled:
        c = r.chase
        queries["chase"] = f"""
          WITH need AS (
            SELECT need_key, min(asked) AS asked, min(done_at) AS done_at FROM _demand_cases
            GROUP BY need_key HAVING min(asked) IS NOT NULL
          )
          SELECT a.event_id FROM ({contacts}) a
          JOIN need ON need.need_key = a.need_key
          WHERE coalesce(a.activity, '') NOT IN {_lit(c.request_activities)}
            AND {_secs("need.asked", "a.occurred_at")} > {int(c.expected_days * DAY)}
            AND (need.done_at IS NULL OR need.done_at > a.occurred_at)"""
    names = []
    for name, q in queries.items():
        engine.stage(f"_demand_rule_{name}", q)
        names.append(name)
    return names


def stage_causes(engine: Engine, s: DemandSettings) -> None:
    """``_demand_cause``: for every contact (its event_id, org and note_id), the
    organisation whose need it belongs to (``cause``) and that organisation's case
    (``cause_need``, the need key).

    A contact in a case its organisation acted on or was asked for (an outbound event
    or a request) is that organisation's own. A contact in a case the organisation
    never owned — supplying evidence it should have had, chasing another body's
    decision, arriving at the wrong door — belongs to another organisation's need: the
    same person's case elsewhere, ranked by (1) how often the case's notes name that
    organisation, (2) whether that case was open at the time, (3) the same episode,
    (4) nearness in time. Needs ``_demand_cases`` (:func:`stage_cases`) and
    ``_demand_named`` (event_id, org) from the notes.

    The notes and the case's dates are evidence about this contact; the episode is the
    journeys stage's grouping, which can join a contact at a third organisation to
    another of the person's needs: ranked first, it made the wrong choice for about one
    in ten contacts caused elsewhere (measured on the synthetic populations, see
    ``docs/methods/demand.md``).
    """
    window = int(s.cause_window_days * DAY)
    engine.stage(
        "_demand_cause",
        f"""
        WITH inbound AS (
          SELECT e.event_id, e.org, e.need_key, e.person_key, e.occurred_at, e.episode_id,
                 e.note_id, k.own
          FROM _demand_events e
          JOIN _demand_cases k ON k.need_key = e.need_key AND k.org = e.org
          WHERE e.direction = 'in'
        ),
        contacts AS (SELECT * FROM inbound WHERE NOT own),
        named AS (
          SELECT e.need_key, e.org, n.org AS named_org, count(*) AS k
          FROM _demand_named n JOIN _demand_events e ON e.event_id = n.event_id
          GROUP BY ALL
        ),
        cand AS (
          SELECT c.event_id, k.org AS cause, k.need_key AS cause_need,
            row_number() OVER (PARTITION BY c.event_id ORDER BY
              coalesce(nm.k, 0) DESC,
              (c.occurred_at BETWEEN k.first_at AND k.last_at) DESC,
              (c.episode_id IS NOT NULL AND k.need_key = c.need_key) DESC,
              abs({_secs("k.first_at", "c.occurred_at")}),
              k.org) AS rn
          FROM contacts c
          JOIN _demand_cases k ON k.person_key = c.person_key AND k.org <> c.org AND k.own
           AND k.first_at >= c.occurred_at - INTERVAL ({window}) SECOND
           AND k.first_at <= c.occurred_at + INTERVAL (14 * 86400) SECOND
          LEFT JOIN named nm ON nm.need_key = c.need_key AND nm.org = c.org
           AND nm.named_org = k.org
        )
        SELECT e.event_id, e.org, e.note_id,
               coalesce(cand.cause, e.org) AS cause,
               coalesce(cand.cause_need, e.need_key) AS cause_need,
               e.occurred_at,
               CASE WHEN cand.cause IS NOT NULL THEN 'elsewhere'
                    WHEN NOT e.own THEN 'unowned'
                    ELSE 'own' END AS cause_basis
        FROM inbound e
        LEFT JOIN (SELECT * FROM cand WHERE rn = 1) cand ON cand.event_id = e.event_id
        """,
    )
