"""Root causes: which failure a failure contact comes from, beside whose failure it is.

``caused_by_org`` says whose failure a contact is; the root cause names the failure
(``late_payment``, ``wrong_tax_code`` ...), so that a fix can be named and priced. It is
read from the contact's failure category, where it landed (at the causing organisation
or elsewhere) and the causing organisation's case, the one ``caused_by_org`` was found
in: a chase between a decision and the payment it waited for is a late payment; an
error followed by a revised decision is a wrong decision. The rules are settings
(:class:`~joinedup.demand._settings.CauseRule`), tried in order; a contact no rule
fits gets no root cause rather than a guess.
"""

from __future__ import annotations

from joinedup.demand._journey import DAY, _lit, _secs
from joinedup.demand._settings import CauseRule, DemandSettings


def case_sums(s: DemandSettings) -> list[str]:
    """What :func:`root_cause_sql` needs summed up per case (``_demand_cases``), for each
    rule the first of its ``after`` activities and the last of its ``before`` ones."""
    sums: list[str] = []
    for i, rule in enumerate(s.causes):
        if rule.after:
            sums.append(f"min(occurred_at) FILTER (WHERE activity IN {_lit(rule.after)}) AS a{i}")
        if rule.before:
            sums.append(f"max(occurred_at) FILTER (WHERE activity IN {_lit(rule.before)}) AS b{i}")
    return sums


def _journey_condition(i: int, rule: CauseRule) -> str | None:
    """Whether the causing case (``k``, a row of ``_demand_cases``) met rule ``i``'s
    journey conditions at the contact (``o.occurred_at``); None for a rule without any."""
    parts = []
    if rule.after:
        parts.append(f"k.a{i} < o.occurred_at")
    if rule.before:
        parts.append(f"k.b{i} > o.occurred_at")
    if rule.at_case_start:
        parts.append(f"{_secs('k.first_at', 'o.occurred_at')} <= {DAY}")
    return f"coalesce({' AND '.join(parts)}, FALSE)" if parts else None


def root_cause_sql(s: DemandSettings, source: str) -> str:
    """A query of (event_id, cause): the root cause of each failure contact in ``source``
    (a table with event_id, occurred_at, demand_type, category, caused_by_org,
    received_by_org and the causing case, case_org and case_need), None where no rule
    fits. Needs ``_demand_cases``, with :func:`case_sums` among its columns: each case
    is summed up once, so each contact meets one row of it rather than every event of
    its case.

    The first rule a contact meets gives its cause: its category is one of the rule's,
    it landed where the rule says, the causing organisation is one the rule names, and
    the causing case met the rule's journey conditions (the first of its ``after``
    activities before the contact, the last of its ``before`` ones after it, the
    contact within a day of the case's start). A contact
    whose category is in ``s.cause_follows`` (a complaint) takes instead the commonest
    cause of its causing case's other failure contacts, wherever they landed; ties go
    to the cause whose rule is listed first (a code listed twice counts at its last
    place), then by code.
    """
    whens = []
    for i, rule in enumerate(s.causes):
        cond = [f"o.category IN {_lit(rule.categories)}"]
        if rule.where == "elsewhere":
            cond.append("o.caused_by_org <> o.received_by_org")
        elif rule.where == "own":
            cond.append("o.caused_by_org = o.received_by_org")
        if rule.orgs:
            cond.append(f"o.caused_by_org IN {_lit(rule.orgs)}")
        journey = _journey_condition(i, rule)
        if journey:
            cond.append(journey)
        whens.append(f"WHEN {' AND '.join(cond)} THEN {_lit([rule.code])[1:-1]}")
    by_rules = f"CASE {' '.join(whens)} END" if whens else "CAST(NULL AS VARCHAR)"
    # As a dict of code to position keeps the last position of a repeated code.
    rank = {r.code: n for n, r in enumerate(s.causes)}
    ranked = (
        "CASE t.code "
        + " ".join(f"WHEN {_lit([c])[1:-1]} THEN {n}" for c, n in rank.items())
        + f" ELSE {len(rank)} END"
        if rank
        else "0"
    )
    follows = f"f.category IN {_lit(s.cause_follows)}" if s.cause_follows else "FALSE"
    return f"""
        WITH f AS (
          SELECT o.event_id, o.category, o.case_org, o.case_need, {by_rules} AS by_rules
          FROM {source} o
          LEFT JOIN _demand_cases k ON k.need_key = o.case_need AND k.org = o.case_org
          WHERE o.demand_type = 'failure'
        ),
        counted AS (
          SELECT f.case_org, f.case_need, f.by_rules AS code, count(*) AS n FROM f
          WHERE NOT ({follows}) AND f.by_rules IS NOT NULL
          GROUP BY f.case_org, f.case_need, f.by_rules
        ),
        top AS (
          SELECT case_org, case_need, code FROM (
            SELECT t.*, row_number() OVER (PARTITION BY t.case_org, t.case_need
                                           ORDER BY t.n DESC, {ranked}, t.code) AS k
            FROM counted t
          ) r WHERE k = 1
        )
        SELECT f.event_id,
               CASE WHEN {follows} THEN coalesce(top.code, f.by_rules) ELSE f.by_rules END
                 AS cause
        FROM f LEFT JOIN top ON top.case_org = f.case_org AND top.case_need = f.case_need
        """
