"""The data-quality report: the six dimensions of the UK Government Data Quality Framework.

Measured per source, table and column, on what the ingest loaded and what it quarantined
(Government Data Quality Framework, Central Digital and Data Office / Government Data
Quality Hub, 2020):

- completeness: values missing from loaded rows;
- uniqueness: repeated event ids and person references, and people recorded twice;
- validity: rows that broke the contract (types, formats, code lists, patterns), rows
  the reader could not parse, and identifiers with a wrong check digit or shape;
- consistency: events before the person was born, events of a person the source does
  not hold, activity on a case after it was closed;
- timeliness: the age of the newest event against the contract's delivery frequency;
- accuracy, where a reference exists: postcodes in the UK format, plausible ages.

Each measure is a row of the ``quality`` table: ``failed`` of ``checked``, and a score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.ingest._checks import nhs_valid, nino_valid, postcode_valid
from joinedup.ingest._contract import Contract
from joinedup.ingest._duck import delete
from joinedup.ingest._sql import lit, q
from joinedup.model import QUALITY

DIMENSIONS = ("completeness", "uniqueness", "validity", "consistency", "timeliness", "accuracy")

#: How old the newest record may be, in days, for each delivery frequency.
ALLOWED_AGE = {"daily": 2, "weekly": 8, "monthly": 32, "quarterly": 93}


@dataclass
class _Measure:
    table: str
    column: str | None
    dimension: str
    check: str
    failed: int
    checked: int
    detail: str


def measure(
    engine: Engine,
    contract: Contract,
    *,
    today: date,
    filled: Mapping[str, Mapping[str, int]] | None = None,
) -> pa.Table:
    """Measure one source's quality and store it (replacing its earlier measures).

    ``filled`` may give, per table, how many loaded rows have a value in each field
    (and ``_n``, the rows loaded), as the ingest counted them while checking the rows;
    the loaded rows are then not read again to count them.
    """
    org, src = lit(contract.org), lit(contract.source)
    out: list[_Measure] = []
    for table, spec in (("events", contract.events), ("people", contract.people)):
        if spec is None:
            continue
        here = f"FROM {table} WHERE org = {org} AND source = {src}"
        cols = [c for c in spec.fields if c not in ("org", "source")]
        key = "event_id" if table == "events" else "local_person_ref"
        if filled is not None and table in filled:
            counts: dict[str, Any] = dict(filled[table])
            if table == "events":
                counts |= _row(engine, f"SELECT max(occurred_at) AS _newest {here}")
        else:
            counts = _row(
                engine,
                "SELECT count(*) AS _n"
                + "".join(f", count({q(c)}) AS {q(c)}" for c in cols)
                + (", max(occurred_at) AS _newest" if table == "events" else "")
                + f" {here}",
            )
        loaded = int(counts["_n"])
        repeat = (
            "(contains(reason, 'repeats an earlier row') "
            "OR contains(reason, 'already loaded from source'))"
        )
        held = _row(
            engine,
            f"SELECT count(*) AS _n, count(*) FILTER (WHERE column_name IS NULL) AS _unread, "
            f"count(*) FILTER (WHERE {repeat}) AS _dups"
            + "".join(
                f", count(*) FILTER (WHERE column_name IS NOT NULL AND NOT {repeat} AND "
                f"(contains(reason, {lit(': ' + c + ': ')}) OR contains(reason, "
                f"{lit('; ' + c + ': ')}))) AS {q(c)}"
                for c in cols
            )
            + f" FROM quarantine WHERE source = {src} AND table_name = {lit(table)}",
        )
        rows_in = loaded + int(held["_n"])
        for c in cols:
            if loaded:
                missing = loaded - int(counts[c])
                out.append(
                    _Measure(
                        table,
                        c,
                        "completeness",
                        "missing",
                        missing,
                        loaded,
                        f"{missing:,} of {loaded:,} loaded values are empty",
                    )
                )
            bad = int(held[c])
            out.append(
                _Measure(
                    table,
                    c,
                    "validity",
                    "breaks the contract",
                    bad,
                    rows_in,
                    f"{bad:,} of {rows_in:,} rows quarantined for this column",
                )
            )
        unread, dups = int(held["_unread"]), int(held["_dups"])
        out.append(
            _Measure(
                table,
                None,
                "validity",
                "unreadable rows",
                unread,
                rows_in,
                f"{unread:,} of {rows_in:,} rows could not be parsed",
            )
        )
        out.append(
            _Measure(
                table,
                key,
                "uniqueness",
                f"repeated {key}",
                dups,
                rows_in,
                f"{dups:,} of {rows_in:,} rows repeat a {key} already seen",
            )
        )
        if table == "people" and loaded:
            out.extend(_people(engine, here, set(cols), today))
        elif table == "events" and loaded:
            out.extend(_events(engine, contract, here, today, counts))
    now = datetime.now(UTC)
    rows = pa.table(
        {
            "org": [contract.org] * len(out),
            "source": [contract.source] * len(out),
            "table_name": [m.table for m in out],
            "column_name": [m.column for m in out],
            "dimension": [m.dimension for m in out],
            "check_name": [m.check for m in out],
            "failed": [m.failed for m in out],
            "checked": [m.checked for m in out],
            "score": [1 - m.failed / m.checked if m.checked else None for m in out],
            "detail": [m.detail for m in out],
            "measured_at": [now] * len(out),
        },
        schema=QUALITY,
    )
    delete(engine, "quality", f"org = {org} AND source = {src}")
    engine.write("quality", rows)
    return rows


def _row(engine: Engine, sql: str) -> dict[str, Any]:
    row: dict[str, Any] = engine.to_arrow(engine.sql(sql)).to_pylist()[0]
    return {k: (0 if v is None else v) for k, v in row.items()}


#: Identifier and postcode checks written in Python, per people column.
_PY_CHECKS: dict[str, tuple[str, str, Callable[[str], bool], str]] = {
    "nhs_number": ("validity", "NHS number check digit", nhs_valid, "fail the modulus-11 check"),
    "nino": ("validity", "National Insurance number format", nino_valid, "are not a valid NINO"),
    "postcode": ("accuracy", "UK postcode format", postcode_valid, "are not a UK postcode"),
}


def _people(engine: Engine, here: str, cols: set[str], today: date) -> list[_Measure]:
    out = []
    oldest = date(today.year - 120, today.month, min(today.day, 28))
    named = "forename IS NOT NULL AND surname IS NOT NULL AND date_of_birth IS NOT NULL"
    r = _row(
        engine,
        f"SELECT (SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n {here} AND {named} "
        f"GROUP BY lower(forename), lower(surname), date_of_birth HAVING count(*) > 1)) AS twice, "
        f"(SELECT count(*) {here} AND {named}) AS named, "
        f"(SELECT count(date_of_birth) {here}) AS dated, "
        f"(SELECT count(*) {here} AND (date_of_birth < DATE '{oldest}' "
        f"OR date_of_birth > DATE '{today}')) AS odd",
    )
    if {"forename", "surname", "date_of_birth"} <= cols:
        out.append(
            _Measure(
                "people",
                None,
                "uniqueness",
                "same name and date of birth",
                int(r["twice"]),
                int(r["named"]),
                f"{r['twice']:,} records share a name and date of birth with another",
            )
        )
    if r["dated"]:
        out.append(
            _Measure(
                "people",
                "date_of_birth",
                "accuracy",
                "age between 0 and 120",
                int(r["odd"]),
                int(r["dated"]),
                f"{r['odd']:,} of {r['dated']:,} dates of birth give an age outside 0–120",
            )
        )
    present = [c for c in _PY_CHECKS if c in cols]
    if not present:
        return out
    values = engine.to_arrow(
        engine.sql(
            " UNION ALL ".join(
                f"SELECT {lit(c)} AS c, {q(c)} AS v, count(*) AS n {here} AND {q(c)} IS NOT NULL "
                f"GROUP BY {q(c)}"
                for c in present
            )
        )
    )
    tally = {c: [0, 0] for c in present}
    for c, v, n in zip(*(values.column(k).to_pylist() for k in ("c", "v", "n")), strict=True):
        tally[c][1] += n
        if not _PY_CHECKS[c][2](v):
            tally[c][0] += n
    for c, (failed, checked) in tally.items():
        dim, check, _, what = _PY_CHECKS[c]
        if checked:
            out.append(
                _Measure(
                    "people",
                    c,
                    dim,
                    check,
                    failed,
                    checked,
                    f"{failed:,} of {checked:,} values {what}",
                )
            )
    return out


def _events(
    engine: Engine, contract: Contract, here: str, today: date, counts: dict[str, Any]
) -> list[_Measure]:
    out: list[_Measure] = []
    org = lit(contract.org)
    # The loaded rows' counts are in hand; a query joins the events with the people and
    # the closed cases only when there is something to compare them with.
    refs, cased = int(counts.get("local_person_ref", 0)), int(counts.get("case_ref", 0))
    holds = refs and _row(engine, f"SELECT count(*) AS n FROM people WHERE org = {org}")["n"]
    closes = bool(contract.closed_outcomes) and cased > 0
    r: dict[str, Any] = {"dob_checked": 0, "dob_failed": 0, "orphans": 0, "after_close": 0}
    parts = []
    if holds:
        parts += [
            "(SELECT count(*) FROM e JOIN p USING (local_person_ref) WHERE p.dob IS NOT NULL) "
            "AS dob_checked",
            "(SELECT count(*) FROM e JOIN p USING (local_person_ref) "
            "WHERE CAST(e.occurred_at AS DATE) < p.dob) AS dob_failed",
            "(SELECT count(*) FROM e ANTI JOIN p USING (local_person_ref) "
            "WHERE e.local_person_ref IS NOT NULL) AS orphans",
        ]
    if closes:
        parts.append(
            "(SELECT count(*) FROM e JOIN c USING (case_ref) WHERE e.occurred_at > c.closed) "
            "AS after_close"
        )
    if parts:
        people = (
            f"(SELECT local_person_ref, min(date_of_birth) AS dob FROM people WHERE org = {org} "
            "GROUP BY 1)"
        )
        closing = ", ".join(lit(o) for o in contract.closed_outcomes) or "NULL"
        r |= _row(
            engine,
            f"WITH e AS (SELECT local_person_ref, case_ref, occurred_at, outcome {here}), "
            f"p AS {people}, "
            f"c AS (SELECT case_ref, min(occurred_at) AS closed FROM e "
            f"WHERE case_ref IS NOT NULL AND outcome IN ({closing}) GROUP BY 1) "
            f"SELECT {', '.join(parts)}",
        )
    if r["dob_checked"]:
        out.append(
            _Measure(
                "events",
                "occurred_at",
                "consistency",
                "event before date of birth",
                int(r["dob_failed"]),
                int(r["dob_checked"]),
                f"{r['dob_failed']:,} events happened before the person was born",
            )
        )
    if holds:
        out.append(
            _Measure(
                "events",
                "local_person_ref",
                "consistency",
                "person on record",
                int(r["orphans"]),
                refs,
                f"{r['orphans']:,} events name a person the organisation does not hold",
            )
        )
    if closes:
        out.append(
            _Measure(
                "events",
                "case_ref",
                "consistency",
                "activity after the case closed",
                int(r["after_close"]),
                cased,
                f"{r['after_close']:,} events come after their case was closed",
            )
        )
    newest = counts.get("_newest") or None
    if newest is not None:
        age = (today - newest.date()).days
        allowed = ALLOWED_AGE.get(contract.frequency)
        if allowed is None:
            out.append(
                _Measure(
                    "events",
                    "occurred_at",
                    "timeliness",
                    "age of newest record",
                    0,
                    0,
                    f"newest event {newest.date()}, {age:,} days old; delivery is ad hoc",
                )
            )
        else:
            late = int(age > allowed)
            out.append(
                _Measure(
                    "events",
                    "occurred_at",
                    "timeliness",
                    "age of newest record",
                    late,
                    1,
                    f"newest event {newest.date()}, {age:,} days old; a "
                    f"{contract.frequency} delivery should be at most {allowed} days old",
                )
            )
    return out


def report(engine: Engine, org: str | None = None, source: str | None = None) -> pa.Table:
    """The stored quality measures, optionally for one organisation or source."""
    where = []
    if org is not None:
        where.append(f"org = {lit(org)}")
    if source is not None:
        where.append(f"source = {lit(source)}")
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    order = (
        "CASE dimension "
        + " ".join(f"WHEN {lit(d)} THEN {i}" for i, d in enumerate(DIMENSIONS))
        + " END"
    )
    return engine.to_arrow(
        engine.sql(
            f"SELECT * FROM quality{cond} ORDER BY org, source, table_name, {order}, "
            f"column_name NULLS FIRST, check_name"
        )
    ).cast(QUALITY)
