"""A CSV export streams through the ingest: one scan checks every row, one writes the rows
that pass, and a further scan runs only to sort out repeated keys. These tests pin the
parts of that design where a shortcut could change what is loaded or quarantined."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from joinedup import ingest
from joinedup.engine import Engine
from joinedup.workspace import Workspace

from .conftest import EVENT_FIELDS, assert_nothing_lost, write_contract

HEADER = "id,when,ch,who,note\n"


def _spy(engine: Engine, *methods: tuple[str, int]) -> Iterator[list[str]]:
    """For each ``(method, place)``, the argument at ``place`` of every call of
    ``engine.<method>``, all in the order of the calls."""
    seen: list[str] = []
    reals = {method: getattr(engine, method) for method, _ in methods}

    def spy(method: str, place: int) -> Any:
        def call(*args: Any, **options: Any) -> Any:
            seen.append(args[place])
            return reals[method](*args, **options)

        return call

    for method, place in methods:
        setattr(engine, method, spy(method, place))
    yield seen
    for method, real in reals.items():
        setattr(engine, method, real)


@pytest.fixture
def staged(ws: Workspace) -> Iterator[list[str]]:
    """The names of the temporary tables the ingest makes, in order."""
    yield from _spy(ws.engine, ("stage", 0))


@pytest.fixture
def queries(ws: Workspace) -> Iterator[list[str]]:
    """Every SQL query the ingest hands the engine to run or to append, in order."""
    yield from _spy(ws.engine, ("sql", 0), ("append", 1))


def _quarantine(ws: Workspace) -> dict[int, dict[str, Any]]:
    rows = ws.engine.to_arrow(ws.engine.sql("SELECT * FROM quarantine")).to_pylist()
    return {r["row_number"]: r for r in rows}


def _ids(ws: Workspace) -> list[str]:
    rows = ws.engine.to_arrow(ws.engine.sql("SELECT event_id FROM events ORDER BY 1"))
    return rows.column("event_id").to_pylist()


def test_clean_rows_are_scanned_twice_and_nothing_more(
    ws: Workspace, staged: list[str], tmp_path: Path
) -> None:
    rows = "".join(f"E{i},2025-01-01 10:{i:02d},TEL,p{i},note {i}\n" for i in range(50))
    (tmp_path / "a.csv").write_text(HEADER + rows, encoding="utf-8")
    res = ingest.load(write_contract(tmp_path, "a.csv"), ws)
    assert (res.loaded, res.quarantined) == (50, 0)
    # The checking scan and the (empty) list of repeated keys; no scan to fetch rows back.
    assert staged == ["_check_events_0", "_late_events"]
    assert_nothing_lost(res, ws)


def test_a_repeated_key_keeps_its_first_row_and_numbers_the_others_past_rejected_rows(
    ws: Workspace, staged: list[str], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text(
        HEADER
        + "E1,2025-01-01 10:00,TEL,p1,first\n"  # row 1: loads
        + "E2,2025-01-01 11:00,TEL\n"  # row 2: ragged, the reader rejects it
        + "E3,2025-01-01 12:00,FAX,p3,bad code\n"  # row 3: quarantined for its code
        + "E1,2025-01-02 10:00,WEB,p1,again\n"  # row 4: repeats E1
        + "E4,2025-01-02 11:00,WEB,p4,fine\n",  # row 5: loads
        encoding="utf-8",
    )
    (tmp_path / "b.csv").write_text(
        HEADER
        + "E5,2025-01-03 10:00,TEL,p5,fine\n"  # row 1: loads
        + "E1,2025-01-03 11:00,TEL,p1,third\n",  # row 2: repeats E1 across files
        encoding="utf-8",
    )
    res = ingest.load(write_contract(tmp_path, "*.csv"), ws)
    assert_nothing_lost(res, ws)
    assert "_repeated_events" in staged
    assert _ids(ws) == ["testorg:E1", "testorg:E4", "testorg:E5"]
    notes = ws.engine.to_arrow(
        ws.engine.sql("SELECT note FROM events WHERE event_id = 'testorg:E1'")
    )
    assert notes.column("note").to_pylist() == ["first"]
    held = ws.engine.to_arrow(
        ws.engine.sql("SELECT row_number, reason, raw FROM quarantine ORDER BY reason")
    ).to_pylist()
    by_file = {(r["reason"].split(": ")[0].rsplit("/", 1)[-1], r["row_number"]): r for r in held}
    assert set(by_file) == {("a.csv", 2), ("a.csv", 3), ("a.csv", 4), ("b.csv", 2)}
    assert "repeats an earlier row" in by_file[("a.csv", 4)]["reason"]
    assert '"again"' in by_file[("a.csv", 4)]["raw"]
    assert "repeats an earlier row" in by_file[("b.csv", 2)]["reason"]
    assert '"third"' in by_file[("b.csv", 2)]["raw"]
    assert "unknown code FAX" in by_file[("a.csv", 3)]["reason"]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/London"])
def test_times_near_the_date_bounds_are_judged_in_their_time_zone(
    ws: Workspace, tmp_path: Path, zone: str
) -> None:
    # The bounds are checked on the local time first and placed in the zone only near
    # them: local times either side of each bound, up to a day and a half away, must be
    # judged exactly as placing every one in the zone would.
    earliest, latest = date(2020, 3, 1), date(2020, 10, 31)
    low = datetime(2020, 3, 1, tzinfo=UTC)
    high = datetime(2020, 11, 1, tzinfo=UTC)  # the day after ``latest``
    locals_: list[datetime] = []
    for bound in (low, high):
        local = bound.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        for hours in (-36, -15, -14, -1, 0, 1, 14, 15, 36):
            locals_.append(local + timedelta(hours=hours))
    lines = [f"E{i},{t:%Y-%m-%d %H:%M},TEL,p,n\n" for i, t in enumerate(locals_)]
    (tmp_path / "t.csv").write_text(HEADER + "".join(lines), encoding="utf-8")
    fields = {
        **EVENT_FIELDS,
        "occurred_at": {
            "column": "when",
            "type": "timestamp",
            "format": "%Y-%m-%d %H:%M",
            "earliest": earliest.isoformat(),
            "latest": latest.isoformat(),
        },
    }
    res = ingest.load(
        write_contract(tmp_path, "t.csv", timezone=zone, events={"fields": fields}), ws
    )
    assert_nothing_lost(res, ws)
    expected = {
        f"testorg:E{i}"
        for i, t in enumerate(locals_)
        if low <= t.replace(tzinfo=ZoneInfo(zone)) < high
    }
    assert set(_ids(ws)) == expected
    held = _quarantine(ws)
    assert len(held) == len(locals_) - len(expected)
    for r in held.values():
        assert "(implausible)" in r["reason"] or "(in the future)" in r["reason"]


def test_an_ingest_runs_under_the_engines_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOINEDUP_DUCKDB_MEMORY_LIMIT", "64MB")
    rows = "".join(f"E{i},2025-01-01 10:00,TEL,p{i % 97},note {i}\n" for i in range(20_000))
    (tmp_path / "a.csv").write_text(HEADER + rows, encoding="utf-8")
    with Workspace(tmp_path / "ws") as ws:
        limit = ws.engine.to_arrow(
            ws.engine.sql("SELECT current_setting('memory_limit') AS m")
        ).column("m")[0]
        assert limit.as_py() == "61.0 MiB"  # 64 MB, as DuckDB shows it
        res = ingest.load(write_contract(tmp_path, "a.csv"), ws)
        assert res.loaded == 20_000
        assert_nothing_lost(res, ws)


def test_files_of_one_table_may_lack_a_mapped_column_even_when_read_row_by_row(
    ws: Workspace, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text(
        HEADER + "E1,2025-01-01 10:00,TEL,p1,a note\n", encoding="utf-8"
    )
    # No note column; a header ended by a lone carriage return makes DuckDB's reader
    # give up, so this file is read row by row (and its ragged third row quarantined).
    (tmp_path / "b.csv").write_bytes(
        b"id,when,ch,who\rE2,2025-01-02 10:00,WEB,p2\nE3,2025-01-03 10:00,WEB,p3\nE4,2025-01-04\n"
    )
    res = ingest.load(write_contract(tmp_path, "*.csv"), ws)
    assert_nothing_lost(res, ws)
    assert any("row by row" in n for t in res.tables for n in t.notes)
    notes = ws.engine.to_arrow(ws.engine.sql("SELECT event_id, note FROM events ORDER BY 1"))
    assert notes.to_pylist() == [
        {"event_id": "testorg:E1", "note": "a note"},
        {"event_id": "testorg:E2", "note": None},
        {"event_id": "testorg:E3", "note": None},
    ]
    assert [(n, r["reason"].split("/")[-1][:5]) for n, r in _quarantine(ws).items()] == [
        (3, "b.csv")
    ]


def _write_query(queries: list[str]) -> str:
    (query,) = [s for s in queries if "_write_events_0" in s]
    return query


def test_the_write_trims_only_the_fields_the_checking_scan_found_untrimmed(
    ws: Workspace, queries: list[str], tmp_path: Path
) -> None:
    # A blank at either end of one value, in the second file only, is enough for the
    # field to be trimmed on every row of every file; the other fields are written as
    # exported, and come out the same.
    (tmp_path / "a.csv").write_text(
        HEADER + "E1,2025-01-01 10:00,TEL,p1,one\nE2,2025-01-01 11:00,TEL,p2,two\n",
        encoding="utf-8",
    )
    (tmp_path / "b.csv").write_text(
        HEADER + 'E3,2025-01-01 12:00,WEB,"p3\t",three\nE4,2025-01-01 13:00,WEB,"  ",four\n',
        encoding="utf-8",
    )
    res = ingest.load(write_contract(tmp_path, "*.csv"), ws)
    assert_nothing_lost(res, ws)
    loaded = ws.engine.to_arrow(
        ws.engine.sql("SELECT event_id, local_person_ref, note FROM events ORDER BY 1")
    ).to_pylist()
    assert [(r["local_person_ref"], r["note"]) for r in loaded] == [
        ("p1", "one"),
        ("p2", "two"),
        ("p3", "three"),
        (None, "four"),  # blanks only: empty
    ]
    write = _write_query(queries)
    assert 'trim(CAST(r."who" AS VARCHAR)' in write
    assert 'trim(CAST(r."note" AS VARCHAR)' not in write


def test_a_restored_zero_is_not_taken_for_an_untouched_value(
    ws: Workspace, queries: list[str], tmp_path: Path
) -> None:
    # " 12" trims to "12" and pads back to "012": as long as the value as exported,
    # but not the same, so the field must still be trimmed and padded as it is written.
    (tmp_path / "a.csv").write_text(
        HEADER + "E1,2025-01-01 10:00,TEL, 12,n\nE2,2025-01-01 11:00,TEL,345,n\n",
        encoding="utf-8",
    )
    fields = {**EVENT_FIELDS, "local_person_ref": {"column": "who", "zero_pad": 3}}
    res = ingest.load(write_contract(tmp_path, "a.csv", events={"fields": fields}), ws)
    assert_nothing_lost(res, ws)
    refs = ws.engine.to_arrow(ws.engine.sql("SELECT local_person_ref FROM events ORDER BY 1"))
    assert refs.column("local_person_ref").to_pylist() == ["012", "345"]
    assert 'trim(CAST(r."who" AS VARCHAR)' in _write_query(queries)


def test_values_are_searched_for_nul_bytes_only_in_a_file_that_holds_one(
    ws: Workspace, tmp_path: Path
) -> None:
    checks: list[str] = []
    real = ws.engine.stage

    def spy(name: str, query: str, **options: Any) -> Any:
        if name.startswith("_check_"):
            checks.append(query)
        return real(name, query, **options)

    ws.engine.stage = spy  # type: ignore[method-assign]
    (tmp_path / "a.csv").write_text(HEADER + "E1,2025-01-01 10:00,TEL,p1,fine\n", encoding="utf-8")
    clean = ingest.load(write_contract(tmp_path, "a.csv", source="clean"), ws)
    assert (clean.loaded, clean.quarantined) == (1, 0)
    assert "chr(0)" not in checks[-1]
    (tmp_path / "b.csv").write_bytes(
        HEADER.encode() + b"E2,2025-01-01 10:00,TEL,p2,fine\nE3,2025-01-01 11:00,TEL,p3,n\x00te\n"
    )
    dirty = ingest.load(write_contract(tmp_path, "b.csv", source="dirty", org="other"), ws)
    assert "chr(0)" in checks[-1]
    assert_nothing_lost(dirty, ws)
    assert (dirty.loaded, dirty.quarantined) == (1, 1)
    assert "note: contains a NUL byte" in _quarantine(ws)[2]["reason"]
