"""Real exports are messy: each kind of bad input from issue 3 is loaded, quarantined
with its reason, or refused with a message that says what is wrong — never lost."""

from __future__ import annotations

import csv
import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from joinedup import ingest
from joinedup.errors import ContractError
from joinedup.workspace import Workspace

from .conftest import DATA, EVENT_FIELDS, assert_nothing_lost, write_contract

HEADER = b"id,when,ch,who,note\n"
_names = itertools.count()


@pytest.fixture(scope="module")
def shared_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One workspace for the module: every test loads its own source into it."""
    ws = Workspace(tmp_path_factory.mktemp("bad-input") / "ws")
    yield ws
    ws.close()


def _load(
    ws: Workspace, folder: Path, data: bytes, name: str = "x.csv", **settings: Any
) -> ingest.IngestResult:
    (folder / name).write_bytes(data)
    n = next(_names)
    source = settings.pop("source", f"bad-{n}")
    # An organisation per test: event ids of one organisation must not repeat across
    # its sources, and these tests share a workspace.
    org = settings.pop("org", f"org{n}")
    contract = write_contract(folder, name, source=source, org=org, **settings)
    result = ingest.load(contract, ws)
    assert_nothing_lost(result, ws)
    return result


def _quarantine(ws: Workspace, source: str) -> dict[int, dict[str, Any]]:
    rows = ws.engine.to_arrow(
        ws.engine.sql(f"SELECT * FROM quarantine WHERE source = '{source}'")
    ).to_pylist()
    return {r["row_number"]: r for r in rows}


def _events(ws: Workspace, source: str) -> list[dict[str, Any]]:
    return ws.engine.to_arrow(
        ws.engine.sql(f"SELECT * FROM events WHERE source = '{source}' ORDER BY event_id")
    ).to_pylist()


def test_ragged_rows_are_quarantined_and_later_rows_keep_their_numbers(
    shared_ws: Workspace, tmp_path: Path
) -> None:
    data = HEADER + (
        b"1,2025-01-01 10:00,TEL,p1,ok\n"
        b"2,2025-01-02 10:00,TEL\n"  # too few fields
        b"3,2025-01-03 10:00,TEL,p1,ok,surplus\n"  # too many
        b"4,2025-01-04 10:00,FAX,p1,ok\n"  # a bad code after the ragged rows
        b"5,2025-01-05 10:00,WEB,p1,ok\n"
    )
    res = _load(shared_ws, tmp_path, data)
    assert (res.rows_in, res.loaded, res.quarantined) == (5, 2, 3)
    q = _quarantine(shared_ws, res.source)
    assert set(q) == {2, 3, 4}
    assert "MISSING COLUMNS" in q[2]["reason"] and q[2]["column_name"] is None
    assert "TOO MANY COLUMNS" in q[3]["reason"]
    assert json.loads(q[3]["raw"]) == {"line": "3,2025-01-03 10:00,TEL,p1,ok,surplus"}
    assert q[4]["column_name"] == "channel" and "unknown code FAX" in q[4]["reason"]


def test_windows_line_endings_load(shared_ws: Workspace, tmp_path: Path) -> None:
    data = (HEADER + b"1,2025-01-01 10:00,TEL,p1,ok\n2,2025-01-02 10:00,WEB,p1,\n").replace(
        b"\n", b"\r\n"
    )
    res = _load(shared_ws, tmp_path, data)
    assert res.loaded == 2
    assert [e["channel"] for e in _events(shared_ws, res.source)] == ["phone", "web"]


def test_an_unbalanced_quote_keeps_what_it_swallowed(shared_ws: Workspace, tmp_path: Path) -> None:
    data = HEADER + (
        b"1,2025-01-01 10:00,TEL,p1,ok\n"
        b'2,2025-01-02 10:00,TEL,p1,"never closed\n'
        b"3,2025-01-03 10:00,WEB,p1,ok\n"
    )
    res = _load(shared_ws, tmp_path, data)
    assert res.loaded == 1 and res.quarantined == 1
    q = _quarantine(shared_ws, res.source)
    assert "unterminated quote" in q[2]["reason"]
    # The rows the open quote swallowed are in the quarantined record, not lost.
    assert "3,2025-01-03 10:00,WEB" in json.loads(q[2]["raw"])["line"]


def test_a_stray_nul_byte_is_quarantined(shared_ws: Workspace, tmp_path: Path) -> None:
    data = HEADER + b"1,2025-01-01 10:00,TEL,p1,o\x00k\n2,2025-01-02 10:00,TEL,p1,ok\n"
    res = _load(shared_ws, tmp_path, data)
    assert (res.loaded, res.quarantined) == (1, 1)
    q = _quarantine(shared_ws, res.source)
    assert q[1]["column_name"] == "note" and "NUL byte" in q[1]["reason"]


def test_windows_1252_in_a_utf8_file(shared_ws: Workspace, tmp_path: Path) -> None:
    data = HEADER + "1,2025-01-01 10:00,TEL,p1,café £5\n".encode("cp1252")
    data += b"2,2025-01-02 10:00,TEL,p1,ok\n"
    res = _load(shared_ws, tmp_path, data)
    assert (res.loaded, res.quarantined) == (1, 1)
    q = _quarantine(shared_ws, res.source)
    assert "INVALID ENCODING" in q[1]["reason"] and "windows-1252" in q[1]["reason"]
    assert json.loads(q[1]["raw"])["line"].endswith("caf\\xe9 \\xa35")  # the bytes, kept
    # Declared as what it is, the same file loads whole.
    fixed = _load(shared_ws, tmp_path, data, encoding="windows-1252")
    assert fixed.loaded == 2
    assert _events(shared_ws, fixed.source)[0]["note"] == "café £5"


def test_a_byte_order_mark_is_not_part_of_the_first_column(
    shared_ws: Workspace, tmp_path: Path
) -> None:
    data = b"\xef\xbb\xbf" + HEADER + b"1,2025-01-01 10:00,TEL,p1,ok\n"
    res = _load(shared_ws, tmp_path, data)
    assert res.loaded == 1 and res.tables[0].unmapped == []


def test_an_empty_file_loads_nothing_and_says_so(shared_ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"nothing could be loaded.*empty \(0 bytes\)"):
        _load(shared_ws, tmp_path, b"")


def test_a_header_only_file_loads_nothing_and_says_so(shared_ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"nothing could be loaded.*header but no rows"):
        _load(shared_ws, tmp_path, HEADER)


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"PK\x03\x04" + bytes(range(256)) * 4, "Excel .xlsx"),
        (bytes(range(256)) * 16, "does not look like a text file"),
    ],
)
def test_a_binary_file_with_a_csv_name_is_refused(
    shared_ws: Workspace, tmp_path: Path, data: bytes, looks_like: str
) -> None:
    with pytest.raises(ContractError, match=looks_like):
        _load(shared_ws, tmp_path, data)


def test_dates_in_three_formats(shared_ws: Workspace, tmp_path: Path) -> None:
    data = HEADER + (
        b"1,03/02/2025 10:00,TEL,p1,\n"  # day first, as UK exports write it
        b"2,2025-02-03 10:00,TEL,p1,\n"
        b"3,3 Feb 2025 10:00,TEL,p1,\n"
    )
    one = _load(shared_ws, tmp_path, data)
    assert (one.loaded, one.quarantined) == (1, 2)
    fields = dict(EVENT_FIELDS)
    fields["occurred_at"] = {
        "column": "when",
        "type": "timestamp",
        "format": ["%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M", "%d %b %Y %H:%M"],
    }
    three = _load(shared_ws, tmp_path, data, events={"fields": fields})
    assert three.loaded == 3
    times = {e["occurred_at"] for e in _events(shared_ws, three.source)}
    assert len(times) == 1  # all three are the same moment


def test_impossible_far_future_and_pre_1900_dates(shared_ws: Workspace, tmp_path: Path) -> None:
    fields = dict(EVENT_FIELDS)
    fields["occurred_at"] = {"column": "when", "type": "timestamp", "format": "%d/%m/%Y %H:%M"}
    data = HEADER + (
        b"1,31/02/2025 10:00,TEL,p1,\n"
        b"2,01/01/2999 10:00,TEL,p1,\n"
        b"3,01/01/1850 10:00,TEL,p1,\n"
        b"4,28/02/2025 10:00,TEL,p1,\n"
    )
    res = _load(shared_ws, tmp_path, data, events={"fields": fields})
    assert (res.loaded, res.quarantined) == (1, 3)
    q = _quarantine(shared_ws, res.source)
    assert "'31/02/2025 10:00' is not a date and time" in q[1]["reason"]
    assert "in the future" in q[2]["reason"]
    assert "before 1900-01-01" in q[3]["reason"]


def test_every_reason_is_kept(shared_ws: Workspace, tmp_path: Path) -> None:
    data = HEADER + b"1,yesterday,FAX,p1,\n2,2025-01-01 10:00,TEL,p1,\n"
    res = _load(shared_ws, tmp_path, data)
    reason = _quarantine(shared_ws, res.source)[1]["reason"]
    assert "occurred_at: 'yesterday'" in reason and "unknown code FAX" in reason


def test_duplicate_event_ids_within_and_across_files(shared_ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(
        HEADER + b"1,2025-01-01 10:00,TEL,p1,first\n1,2025-01-02 10:00,TEL,p1,again\n"
    )
    (tmp_path / "b.csv").write_bytes(HEADER + b"1,2025-01-03 10:00,TEL,p1,other file\n")
    contract = write_contract(tmp_path, "*.csv", source="dups", org="duporg")
    res = ingest.load(contract, shared_ws)
    assert_nothing_lost(res, shared_ws)
    assert (res.loaded, res.quarantined) == (1, 2)
    assert _events(shared_ws, "dups")[0]["note"] == "first"
    reasons = [r["reason"] for r in _quarantine(shared_ws, "dups").values()]
    assert all("repeats an earlier row" in r for r in reasons)
    assert any("b.csv" in r for r in reasons)
    # Another source of the same organisation may not load the same event again.
    other = tmp_path / "other"
    other.mkdir()
    (other / "c.csv").write_bytes(
        HEADER + b"1,2025-01-04 10:00,TEL,p1,\n2,2025-01-04 11:00,TEL,p1,\n"
    )
    res2 = ingest.load(write_contract(other, "c.csv", source="dups-2", org="duporg"), shared_ws)
    assert_nothing_lost(res2, shared_ws)
    assert (res2.loaded, res2.quarantined) == (1, 1)
    assert "already loaded from source dups" in _quarantine(shared_ws, "dups-2")[1]["reason"]


@pytest.mark.parametrize(
    ("ids", "repeated"),
    [
        (["1", "2", "3", "4"], []),  # listed by key: found free of repeats in one pass
        (["4", "2", "3", "1"], []),
        (["1", "2", "3", "1"], [4]),
        (["1", "2", "2", "3"], [3]),
        (["3", "2", "1", "2"], [4]),
        (["1", "3", "3", "3"], [3, 4]),
    ],
)
def test_repeated_event_ids_are_found_in_any_order(
    shared_ws: Workspace, tmp_path: Path, ids: list[str], repeated: list[int]
) -> None:
    rows = b"".join(
        f"{i},2025-01-0{n} 10:00,TEL,p1,row {n}\n".encode() for n, i in enumerate(ids, 1)
    )
    res = _load(shared_ws, tmp_path, HEADER + rows)
    assert sorted(_quarantine(shared_ws, res.source)) == repeated
    assert res.loaded == len(set(ids))


def test_keys_in_rising_order_are_found_free_of_repeats(shared_ws: Workspace) -> None:
    from joinedup.ingest._load import _rising

    engine = shared_ws.engine
    checked = {
        "_t_rising": (["a", "b", "c", "a"], ["", "", "", "x: bad"]),  # the failing row is left out
        "_t_falling": (["b", "a"], ["", ""]),
        "_t_repeat": (["a", "a"], ["", ""]),
    }
    for name, (keys, why) in checked.items():
        engine.stage(
            name,
            "SELECT * FROM (VALUES "
            + ", ".join(f"('{k}', '{w}')" for k, w in zip(keys, why, strict=True))
            + ") AS t(__key, __why)",
        )
    assert _rising(engine, ["_t_rising"])
    assert not _rising(engine, ["_t_falling"])
    assert not _rising(engine, ["_t_repeat"])
    # Two files' keys are taken together.
    assert not _rising(engine, ["_t_rising", "_t_rising"])
    for name in checked:
        engine.drop_temp(name)


def test_a_missing_required_column_names_the_column(shared_ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"column 'ch' \(for events.channel\) is not in"):
        _load(shared_ws, tmp_path, b"id,when,who,note\n1,2025-01-01 10:00,p1,\n")


def test_an_extra_column_is_loaded_around_and_reported(
    shared_ws: Workspace, tmp_path: Path
) -> None:
    data = b"id,when,ch,who,note,shoe_size\n1,2025-01-01 10:00,TEL,p1,,9\n"
    res = _load(shared_ws, tmp_path, data)
    assert res.loaded == 1 and res.tables[0].unmapped == ["shoe_size"]


def test_excel_numbers_where_text_was_expected(shared_ws: Workspace, tmp_path: Path) -> None:
    """An identifier column a spreadsheet turned into numbers loses its leading zeros:
    ``zero_pad`` restores them; a ``pattern`` catches what cannot be restored."""
    book = DATA / "numeric_ids.xlsx"
    fields: dict[str, Any] = {
        "event_id": {"column": "Ref"},
        "occurred_at": {"column": "Logged", "type": "timestamp", "format": "%Y-%m-%d %H:%M:%S"},
        "local_person_ref": {"column": "Person", "zero_pad": 8, "pattern": "[0-9]{8}"},
    }
    shutil.copy(book, tmp_path / "book.xlsx")
    contract = write_contract(
        tmp_path, "book.xlsx", format="excel", source="xl", org="xlorg", events={"fields": fields}
    )
    res = ingest.load(contract, shared_ws)
    assert_nothing_lost(res, shared_ws)
    refs = [e["local_person_ref"] for e in _events(shared_ws, "xl")]
    assert refs == ["00012345", "00000077", "12345678"]
    del fields["local_person_ref"]["zero_pad"]
    contract = write_contract(
        tmp_path,
        "book.xlsx",
        format="excel",
        source="xl-2",
        org="xlorg2",
        events={"fields": fields},
    )
    res = ingest.load(contract, shared_ws)
    assert_nothing_lost(res, shared_ws)
    assert (res.loaded, res.quarantined) == (1, 2)
    reason = _quarantine(shared_ws, "xl-2")[1]["reason"]
    assert "'12345' does not match the pattern [0-9]{8}" in reason


def test_excel_cells_are_read_as_text_and_no_column_is_lost(
    shared_ws: Workspace, tmp_path: Path
) -> None:
    """Times come to the second (Excel keeps them as fractions of a day, float noise and
    all); an empty string is empty; a blank or repeated header keeps its column; a sheet
    that rolls over numbers its rows on from the first."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(tmp_path / "book.xlsx"))
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    first, more = book.add_worksheet("Contacts"), book.add_worksheet("Contacts 2")
    rows = [
        (first, 1, "E1", 45658.5 + 0.5 / 86400, ["TEL", 77, "", "kept", "extra"]),
        (first, 2, "E2", 45658.552777777775, ["FAX", "p2", "n"]),
        (more, 1, "E3", 45658.99999999, ["WEB", "p3", "n", "n2"]),
        (more, 2, "E4", "not a time", ["TEL", "p4", "n", "n2"]),
    ]
    for sheet in (first, more):
        sheet.write_row(0, 0, ["id", "when", "ch", "who", "note", "note", ""])
    for sheet, r, ref, when, rest in rows:
        sheet.write_string(r, 0, ref)
        if isinstance(when, float):
            sheet.write_number(r, 1, when, stamp)
        else:
            sheet.write_string(r, 1, when)
        sheet.write_row(r, 2, rest)
    book.close()
    fields = {
        **EVENT_FIELDS,
        "occurred_at": {"column": "when", "type": "timestamp", "format": "%Y-%m-%d %H:%M:%S"},
        "note": {"column": "note_2"},
    }
    contract = write_contract(
        tmp_path,
        "book.xlsx",
        format="excel",
        source="xl-text",
        org="xltext",
        timezone="UTC",
        events={"sheet": "Contacts", "fields": fields},
    )
    res = ingest.load(contract, shared_ws)
    assert_nothing_lost(res, shared_ws)
    loaded = {e["event_id"]: e for e in _events(shared_ws, "xl-text")}
    assert set(loaded) == {"xltext:E1", "xltext:E3"}
    e1, e3 = loaded["xltext:E1"], loaded["xltext:E3"]
    assert (e1["local_person_ref"], e1["note"]) == ("77", "kept")
    assert e1["occurred_at"].isoformat() == "2025-01-01T12:00:01+00:00"  # half a second up
    assert e3["occurred_at"].isoformat() == "2025-01-02T00:00:00+00:00"
    held = _quarantine(shared_ws, "xl-text")
    assert sorted(held) == [2, 4]  # the second sheet's rows are rows 3 and 4
    assert "unknown code FAX" in held[2]["reason"]
    assert "'not a time' is not a date and time" in held[4]["reason"]
    raw = json.loads(held[4]["raw"])
    assert (raw["note"], raw["note_2"], raw["column7"]) == ("n", "n2", None)


def test_a_damaged_workbook_is_refused_with_a_reason(shared_ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "cut.xlsx").write_bytes((DATA / "numeric_ids.xlsx").read_bytes()[:2000])
    contract = write_contract(tmp_path, "cut.xlsx", format="excel", source="xl-cut", org="xlcut")
    with pytest.raises(ContractError, match="cannot be read as an Excel workbook"):
        ingest.load(contract, shared_ws)


def test_formula_injection_is_escaped_on_the_way_out(shared_ws: Workspace, tmp_path: Path) -> None:
    evil = "=cmd|' /C calc'!A0"
    data = HEADER + f'1,yesterday,TEL,p1,"{evil}"\n2,2025-01-01 10:00,TEL,p1,"@SUM(1+1)"\n'.encode()
    res = _load(shared_ws, tmp_path, data, source="formula")
    assert _events(shared_ws, "formula")[0]["note"] == "@SUM(1+1)"  # stored as given
    out = tmp_path / "q.csv"
    assert ingest.export_quarantine(shared_ws, out, source="formula") == res.quarantined == 1
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    for cell in itertools.chain.from_iterable(rows):
        assert not cell.startswith(("=", "+", "-", "@")), cell
    assert evil in rows[1][5]  # the raw row is there, inside the JSON
    xlsx = tmp_path / "q.xlsx"
    ingest.export_quarantine(shared_ws, xlsx, source="formula")
    sheet = CalamineWorkbook.from_path(str(xlsx)).get_sheet_by_name("quarantine").to_python()
    for cell in itertools.chain.from_iterable(sheet):
        assert not str(cell).startswith(("=", "+", "-", "@")), cell
    with pytest.raises(ContractError, match=r"\.csv or \.xlsx"):
        ingest.export_quarantine(shared_ws, tmp_path / "q.txt")


def test_escape_cell_covers_every_formula_trigger() -> None:
    from joinedup.ingest._export import escape_cell

    for trigger in ("=", "+", "-", "@", "\t", "\r"):
        assert escape_cell(trigger + "1+1") == "'" + trigger + "1+1"
    assert escape_cell("plain") == "plain" and escape_cell(3) == 3
