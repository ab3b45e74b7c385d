"""Local times are placed in their time zone by offsets found once per day
(``placed_sql``): the result must be what DuckDB's own ``timezone`` gives, to the second,
through every change of offset."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from joinedup import ingest
from joinedup.ingest._sql import _offsets, placed_sql
from joinedup.workspace import Workspace

from .conftest import EVENT_FIELDS, assert_nothing_lost, write_contract

LO, HI = date(1899, 12, 30), date(2026, 12, 4)

#: Zones with summer time, half-hour and quarter-hour offsets, a negative summer time
#: (Dublin's winter time, in the tz database), several changes a year (Casablanca's
#: Ramadan) and none at all.
ZONES = [
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Asia/Tokyo",
    "UTC",
]


@pytest.mark.parametrize("zone", ZONES)
def test_placed_times_are_what_timezone_gives(zone: str) -> None:
    runs, _ = _offsets(zone, LO, HI)
    changes = [day for day, off in runs if off is None]
    # Every 7 minutes through the days around 60 of the changes of offset (spread over
    # the years), a pseudo-random second in each of 200,000 moments from 1899 to 2027,
    # times before and after the days covered, and no time at all.
    picked = changes[:: max(1, len(changes) // 60)]
    days = ", ".join(f"TIMESTAMP '{d}'" for d in picked) or "CAST(NULL AS TIMESTAMP)"
    sql = placed_sql(zone, "p", LO, HI)
    mismatched = duckdb.sql(
        f"""
        WITH t AS (
            SELECT d - INTERVAL 1 DAY + INTERVAL (7 * m) MINUTE AS p
            FROM unnest([{days}]) AS c(d), range(3 * 24 * 60 // 7) AS r(m)
            UNION ALL
            SELECT TIMESTAMP '1899-12-01' + INTERVAL (i * 199933 % 4010000000) SECOND
            FROM range(200000) AS r(i)
            UNION ALL
            SELECT * FROM (VALUES (TIMESTAMP '1850-06-01 12:00'), (TIMESTAMP '2100-06-01'),
                (TIMESTAMP '1899-12-30 00:00'), (NULL)) AS v(p)
        )
        SELECT count(*) AS n, count(*) FILTER (
            WHERE ({sql}) IS DISTINCT FROM timezone('{zone}', p)) AS bad FROM t
        """
    ).fetchone()
    assert mismatched is not None
    n, bad = mismatched
    assert n > 200_000 and bad == 0


def test_days_keep_one_offset_between_changes() -> None:
    runs, end = _offsets("Europe/London", date(2024, 1, 1), date(2025, 1, 1))
    assert end == datetime(2025, 1, 1)
    # Winter, the day of the spring change, summer, the day of the autumn change, winter.
    assert [off for _, off in runs] == [0, None, 3600, None, 0]
    assert [day.date() for day, _ in runs][1:4] == [
        date(2024, 3, 31),
        date(2024, 4, 1),
        date(2024, 10, 27),
    ]


def test_fractions_of_a_second_load_exactly(tmp_path: Path) -> None:
    # Times with fractions of a second are placed by ``timezone`` itself (the fast path
    # is exact for whole seconds only).
    fields = {
        **EVENT_FIELDS,
        "occurred_at": {"column": "when", "type": "timestamp", "format": "%Y-%m-%d %H:%M:%S.%f"},
    }
    (tmp_path / "x.csv").write_text(
        "id,when,ch,who,note\n"
        "1,2024-07-01 10:00:00.123457,TEL,p1,\n"
        "2,2024-01-01 10:00:00.999999,WEB,p1,\n"
    )
    contract = write_contract(
        tmp_path, "x.csv", timezone="Europe/London", events={"fields": fields}
    )
    with Workspace(tmp_path / "ws") as ws:
        res = ingest.load(contract, ws)
        assert_nothing_lost(res, ws)
        got = sorted(r["occurred_at"] for r in ws.read("events").to_pylist())
    london = ZoneInfo("Europe/London")
    want = [
        datetime(2024, 1, 1, 10, 0, 0, 999999, tzinfo=london).astimezone(UTC),
        datetime(2024, 7, 1, 10, 0, 0, 123457, tzinfo=london).astimezone(UTC),
    ]
    assert got == want


def test_a_span_too_short_for_a_day_is_placed_by_timezone_itself() -> None:
    # A contract whose latest date comes before its earliest leaves no days to find
    # offsets for: every time goes through ``timezone`` (and nothing fails).
    sql = placed_sql("Europe/London", "p", date(2024, 6, 2), date(2024, 6, 1))
    assert sql == "timezone('Europe/London', p)"
    got = duckdb.sql(f"SELECT {sql} FROM (VALUES (TIMESTAMP '2024-06-01 12:00')) AS t(p)")
    assert got.fetchone() == (datetime(2024, 6, 1, 11, 0, tzinfo=UTC),)
