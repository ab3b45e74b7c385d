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

from collections import Counter
from collections.abc import Sequence

from joinedup.demand._journey import DAY, _lit, _secs
from joinedup.demand._settings import CauseRule, DemandSettings
from joinedup.engine import Engine

#: A causing case: the causing organisation and its need key.
Case = tuple[str, str]


def journey_hits(engine: Engine, s: DemandSettings) -> list[set[str] | None]:
    """For each root-cause rule, the contacts whose causing case meets its journey
    conditions; None for a rule without any (every contact meets them).

    Needs ``_demand_cause`` (with ``cause_need``) and ``_demand_events``.
    """
    conds: dict[int, str] = {}
    for i, rule in enumerate(s.causes):
        parts = []
        if rule.after:
            parts.append(
                f"bool_or(k.activity IN {_lit(rule.after)} AND k.occurred_at < c.occurred_at)"
            )
        if rule.before:
            parts.append(
                f"bool_or(k.activity IN {_lit(rule.before)} AND k.occurred_at > c.occurred_at)"
            )
        if rule.at_case_start:
            parts.append(f"{_secs('min(k.occurred_at)', 'c.occurred_at')} <= {DAY}")
        if parts:
            conds[i] = f"({' AND '.join(parts)}) AS r{i}"
    hits: list[set[str] | None] = [None] * len(s.causes)
    if not conds:
        return hits
    got = engine.to_arrow(
        engine.sql(
            f"""
            SELECT c.event_id, {", ".join(conds.values())}
            FROM _demand_cause c
            JOIN _demand_events k ON k.need_key = c.cause_need AND k.org = c.cause
            GROUP BY c.event_id, c.occurred_at
            """
        )
    )
    ids = got.column("event_id").to_pylist()
    for i in conds:
        flags = got.column(f"r{i}").to_pylist()
        hits[i] = {e for e, f in zip(ids, flags, strict=True) if f}
    return hits


def _fits(
    rule: CauseRule, hit: set[str] | None, eid: str, category: str, causer: str, elsewhere: bool
) -> bool:
    if category not in rule.categories:
        return False
    if rule.where != "any" and (rule.where == "elsewhere") != elsewhere:
        return False
    if rule.orgs and causer not in rule.orgs:
        return False
    return hit is None or eid in hit


def root_causes(
    ids: Sequence[str],
    categories: Sequence[str],
    types: Sequence[str],
    causers: Sequence[str | None],
    receivers: Sequence[str],
    cases: Sequence[Case | None],
    hits: list[set[str] | None],
    s: DemandSettings,
) -> list[str | None]:
    """The root cause of each contact (None for value demand and where no rule fits).

    A contact whose category is in ``s.cause_follows`` (a complaint) takes the commonest
    root cause of its causing case's other failure contacts, wherever they landed; ties
    go to the rule listed first.
    """
    follows = set(s.cause_follows)
    rank = {r.code: n for n, r in enumerate(s.causes)}

    def by_rules(i: int) -> str | None:
        causer = causers[i]
        if causer is None:
            return None
        elsewhere = causer != receivers[i]
        for rule, hit in zip(s.causes, hits, strict=True):
            if _fits(rule, hit, ids[i], categories[i], causer, elsewhere):
                return rule.code
        return None

    out: list[str | None] = [None] * len(ids)
    per_case: dict[Case, Counter[str]] = {}
    waiting = []
    for i, t in enumerate(types):
        if t != "failure":
            continue
        if categories[i] in follows:
            waiting.append(i)
            continue
        out[i] = by_rules(i)
        case = cases[i]
        if out[i] is not None and case is not None:
            per_case.setdefault(case, Counter())[out[i]] += 1  # type: ignore[index]
    for i in waiting:
        case = cases[i]
        seen = per_case.get(case) if case is not None else None
        if seen:
            out[i] = min(seen, key=lambda code: (-seen[code], rank.get(code, len(rank)), code))
        else:
            out[i] = by_rules(i)
    return out
