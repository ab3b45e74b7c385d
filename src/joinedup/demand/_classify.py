"""Label every contact in a workspace: journey rules first, the text model for the rest.

A rule that fires decides that the contact is failure demand and outranks the text.
The text may still name the kind of failure when it is confident of a different failure
category (``text_refines_rule``): the journey shows *that* something failed, the words
show *what*. Every disagreement between a rule and the text is counted and reported.

Millions of contacts: the text model reads each distinct note once (notes repeat: at a
million people, 8.5 million contacts carry 2.8 million distinct notes), a batch at a
time, in worker processes when there are many; everything after that (the rules'
verdicts, causes, root causes, the counts) is SQL on the engine, which spills to disk
rather than hold every contact in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from joinedup.demand._journey import _lit, stage_cases, stage_causes, stage_contacts, stage_rules
from joinedup.demand._reading import Reader, alias_patterns, read_notes
from joinedup.demand._rootcause import case_sums, root_cause_sql
from joinedup.demand._settings import DemandSettings
from joinedup.demand._text import TextModel, load_model
from joinedup.engine import Engine
from joinedup.model import DEMAND, DEMAND_CAUSE
from joinedup.workspace import Workspace

#: The demand table as this stage writes it: the standard columns and the root cause.
DEMAND_SCHEMA = DEMAND.append(DEMAND_CAUSE)


@dataclass
class ClassifySummary:
    """What a classification run did, for the command line and the run record."""

    contacts: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    by_decider: dict[str, int] = field(default_factory=dict)
    rule_fired: dict[str, int] = field(default_factory=dict)
    #: A rule said failure, the text said value (with its own confidence).
    type_disagreements: int = 0
    #: A rule and the text named different failure categories.
    category_disagreements: int = 0
    #: Of the category disagreements, how many the text's category won.
    refined_by_text: int = 0
    caused_elsewhere: int = 0
    #: Failure contacts by inferred root cause (the demand table's ``cause``).
    by_cause: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def classify(
    ws: Workspace,
    *,
    model: TextModel | None = None,
    settings: DemandSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> ClassifySummary:
    """Classify every inbound contact in ``ws`` and replace its ``demand`` table.

    ``progress`` is told the distinct notes read so far and their number. ``workers``
    above 1 reads the notes in that many new processes (one per core is best; under
    about 200,000 distinct notes their start-up costs more than they save). They are
    started by ``spawn``, which imports the calling script again in each: a script
    that asks for workers must keep its top-level code under
    ``if __name__ == "__main__":``.
    """
    s = settings or DemandSettings()
    m = model or load_model()
    eng = ws.engine
    # Each distinct note once: a null note reads as an empty one (both clean to "").
    # Numbered in text order (Spark numbers rows only over an ordered window); each
    # contact carries its note's number from the start.
    eng.stage(
        "_demand_notes",
        "SELECT CAST(row_number() OVER (ORDER BY note) AS BIGINT) AS note_id, note FROM "
        "(SELECT DISTINCT coalesce(note, '') AS note FROM events WHERE direction = 'in') d",
    )
    stage_contacts(eng, s, notes="_demand_notes")
    total = eng.count("_demand_notes")
    read = read_notes(eng, Reader(m, s), workers, progress, total)
    eng.register("_demand_read", read)
    eng.drop_temp("_demand_notes")
    stage_cases(eng, s, case_sums(s))
    rules = stage_rules(eng, s)

    aliases = [org for org, _ in alias_patterns(s)]
    eng.register("_demand_aliases", pa.table({"k": range(len(aliases)), "org": aliases}))
    eng.stage(
        "_demand_named",
        """
        SELECT c.event_id, a.org FROM _demand_events c
        JOIN (SELECT note_id, unnest(named) AS k FROM _demand_read) r ON r.note_id = c.note_id
        JOIN _demand_aliases a ON a.k = r.k
        WHERE c.direction = 'in'
        """,
    )
    stage_causes(eng, s)
    summary = ClassifySummary(contacts=eng.count("_demand_cause"))
    _stage_decisions(eng, s, m, rules)
    eng.stage("_demand_roots", root_cause_sql(s, "_demand_out"))
    _summarise(eng, summary, rules)

    final = eng.sql(
        """
        SELECT o.event_id, o.demand_type, o.category, o.confidence, o.decided_by,
               o.caused_by_org, o.received_by_org, r.cause
        FROM _demand_out o LEFT JOIN _demand_roots r ON r.event_id = o.event_id
        ORDER BY o.event_id
        """
    )
    # Made anew (a workspace from before the root-cause column gets it) and filled by
    # one insert from the query: replacing would first copy the result aside.
    eng.drop("demand")
    eng.create_table("demand", DEMAND_SCHEMA)
    eng.write("demand", final, mode="append")
    for name in (
        "_demand_read",
        "_demand_aliases",
        "_demand_named",
        "_demand_out",
        "_demand_roots",
        "_demand_fired",
        "_demand_cause",
        "_demand_cases",
        "_demand_events",
    ):
        eng.drop_temp(name)
    for name in rules:
        eng.drop_temp(f"_demand_rule_{name}")
    return summary


def _stage_decisions(eng: Engine, s: DemandSettings, m: TextModel, rules: list[str]) -> None:
    """``_demand_out``: every contact's label, who decided it, whose failure it is, and
    what the summary counts (disagreements between rule and text)."""
    if rules:
        eng.stage(
            "_demand_fired",
            "SELECT event_id, min(k) AS k FROM ("
            + " UNION ALL ".join(
                f"SELECT event_id, {k} AS k FROM _demand_rule_{name}"
                for k, name in enumerate(rules)
            )
            + ") f GROUP BY event_id",
        )
    else:
        eng.stage("_demand_fired", "SELECT NULL::VARCHAR AS event_id, 0 AS k WHERE FALSE")
    name = "CASE f.k " + " ".join(f"WHEN {k} THEN {_lit([r])[1:-1]}" for k, r in enumerate(rules))
    cat = "CASE f.k " + " ".join(
        f"WHEN {k} THEN {_lit([getattr(s.rules, r).category])[1:-1]}" for k, r in enumerate(rules)
    )
    failures = _lit(list(m.taxonomy.failure_codes()))
    eng.stage(
        "_demand_out",
        f"""
        WITH j AS (
          SELECT d.event_id, d.org, f.k, t.text_cat, t.text_type, t.text_best,
                 t.confidence AS text_confidence, t.rule_confidence, t.refines,
                 d.cause AS case_org, d.cause_need AS case_need, d.cause_basis, d.occurred_at,
                 {name + " END" if rules else "NULL"} AS rule,
                 {cat + " END" if rules else "NULL"} AS rule_category
          FROM _demand_cause d
          JOIN _demand_read t ON t.note_id = d.note_id
          LEFT JOIN _demand_fired f ON f.event_id = d.event_id
        ),
        v AS (
          SELECT *,
            k IS NOT NULL AND text_best IN {failures} AND text_best <> rule_category
              AS other_failure
          FROM j
        ),
        o AS (
          SELECT *,
            CASE WHEN k IS NULL THEN text_type ELSE 'failure' END AS demand_type,
            CASE WHEN k IS NULL THEN text_cat
                 WHEN other_failure AND refines THEN text_best
                 ELSE rule_category END AS category,
            CASE WHEN k IS NULL THEN text_confidence ELSE rule_confidence END AS confidence,
            CASE WHEN k IS NULL THEN 'model'
                 WHEN other_failure AND refines THEN 'rule:' || rule || '+model'
                 ELSE 'rule:' || rule END AS decided_by
          FROM v
        )
        SELECT event_id, demand_type, category, confidence, decided_by,
               CASE WHEN demand_type = 'failure' THEN coalesce(case_org, org) END
                 AS caused_by_org,
               org AS received_by_org, case_org, case_need, occurred_at, rule,
               k IS NOT NULL AND text_type = 'value' AS type_disagrees,
               other_failure AS category_disagrees,
               other_failure AND refines AS refined,
               demand_type = 'failure' AND cause_basis = 'elsewhere' AS elsewhere
        FROM o
        """,
    )


def _counts(eng: Engine, query: str) -> dict[str, int]:
    """``{key: n}`` from a query of (key, n), in its order."""
    got = eng.to_arrow(eng.sql(query))
    return dict(zip(got.column("key").to_pylist(), got.column("n").to_pylist(), strict=True))


def _summarise(eng: Engine, summary: ClassifySummary, rules: list[str]) -> None:
    """The counts of a run, from ``_demand_out`` and ``_demand_roots``. Ties in a count
    are listed in the order the key first appears among contacts sorted by event id."""

    def by(key: str, source: str = "_demand_out", where: str = "TRUE") -> dict[str, int]:
        return _counts(
            eng,
            f"SELECT {key} AS key, count(*) AS n FROM {source} WHERE {where} "
            "GROUP BY key ORDER BY n DESC, min(event_id)",
        )

    summary.by_category = by("category")
    summary.by_decider = by("CASE WHEN rule IS NULL THEN decided_by ELSE 'rule:' || rule END")
    summary.by_cause = by("cause", "_demand_roots", "cause IS NOT NULL")
    if rules:
        fired = _counts(
            eng,
            " UNION ALL ".join(
                f"SELECT {_lit([r])[1:-1]} AS key, count(DISTINCT event_id) AS n "
                f"FROM _demand_rule_{r}"
                for r in rules
            ),
        )
        summary.rule_fired = {r: fired[r] for r in rules}
    got = eng.to_arrow(
        eng.sql(
            "SELECT count_if(type_disagrees) AS a, count_if(category_disagrees) AS b, "
            "count_if(refined) AS c, count_if(elsewhere) AS d FROM _demand_out"
        )
    ).to_pylist()[0]
    summary.type_disagreements = int(got["a"] or 0)
    summary.category_disagreements = int(got["b"] or 0)
    summary.refined_by_text = int(got["c"] or 0)
    summary.caused_elsewhere = int(got["d"] or 0)
