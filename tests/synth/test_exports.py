"""The exports are written a column at a time; they must read as the row-by-row writers
they replaced wrote them: Python's csv module, json.dumps, and the streaming workbook."""

from __future__ import annotations

import csv
import io
import json
import zipfile
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from python_calamine import CalamineWorkbook

from joinedup.synth import _exports, _xlsx
from joinedup.synth._exports import EVENT_COLUMNS, PEOPLE_COLUMNS, open_exports
from joinedup.synth._text import csv_field, day_first, iso, json_value, lines, mapped, numbered

AWKWARD = [
    "plain",
    "comma, inside",
    'a "quoted" word',
    "two\nlines",
    "carriage\r\nreturn",
    "tab\there",
    "back\\slash",
    "bell\x07char",
    "Siân Llŷr £120 — ok",
    "",
    None,
    "<b>&amp;</b>",
]


def test_csv_fields_match_the_csv_module() -> None:
    col = pa.array(AWKWARD, pa.string())
    ours = bytes(lines([csv_field(col), ",", csv_field(col)], end="\r\n")).decode("utf-8")
    out = io.StringIO()
    csv.writer(out).writerows([v or "", v or ""] for v in AWKWARD)
    assert ours == out.getvalue()


def test_json_values_match_json_dumps() -> None:
    col = pa.array(AWKWARD, pa.string())
    ours = bytes(lines(['{"a": ', json_value(col), "}"], end="\n")).decode("utf-8")
    theirs = "".join(json.dumps({"a": v}, ensure_ascii=False) + "\n" for v in AWKWARD)
    assert ours == theirs


def test_codes_and_numbers() -> None:
    assert mapped(pa.array(["in", "out", None]), {"in": "I", "out": "O"}).to_pylist() == [
        "I",
        "O",
        None,
    ]
    with pytest.raises(ValueError, match="no code for 'sideways'"):
        mapped(pa.array(["in", "sideways"]), {"in": "I"})
    import numpy as np

    assert numbered("CT", np.array([1, 1234567890]), 9).to_pylist() == [
        "CT000000001",
        "CT1234567890",
    ]
    assert lines([pa.array([], pa.string())], end="\n") == b""


def _rows() -> tuple[pa.Table, pa.Table]:
    people = pa.table(
        {
            "local_ref": ["R1", "R2", "R3"],
            "forename": ["Siân", 'Jo "JJ"', "Ann"],
            "surname": ["O'Brien", "Smith, Jr", "Lee"],
            "date_of_birth": pa.array([date(1980, 2, 13), None, date(2001, 12, 1)]),
            "nino": ["AB123456C", None, "CE654321A"],
            "nhs_number": [None, "4010232137", None],
            "address": ["1 High St, Town", "Flat 2 <A> & B", "3 Low Rd, City"],
            "postcode": ["AB1 2CD", None, "EF3 4GH"],
            "sex": ["F", "M", "F"],
        }
    )
    utc = [datetime(2025, 3, 30, 9, 15, tzinfo=UTC), datetime(2025, 1, 2, 17, 0, tzinfo=UTC)]
    events = pa.table(
        {
            "event_ref": ["500001", "500002"],
            "person_ref": ["R1", "R2"],
            "case_ref": ["C1", "C1"],
            "utc": pa.array(utc, pa.timestamp("us", tz="UTC")),
            "local": pa.array(
                [datetime(2025, 3, 30, 10, 15), datetime(2025, 1, 2, 17, 0)], pa.timestamp("us")
            ),
            "channel": ["phone", "web"],
            "direction": ["in", "out"],
            "activity": ["Enquiry", "Decision issued"],
            "service": ["Council Tax", "Council Tax"],
            "note": ['Said "hello", then\nleft', None],
            "outcome": ["resolved", "decided"],
        }
    )
    return people, events


def test_every_export_reads_back_what_was_written(tmp_path: Path) -> None:
    people, events = _rows()
    assert tuple(people.column_names) == PEOPLE_COLUMNS
    assert tuple(events.column_names) == EVENT_COLUMNS
    writers = open_exports(tmp_path)
    for w in writers.values():
        w.people(people)
        w.events(events)
        w.close()

    with (tmp_path / "benefits/claimants.csv").open(encoding="utf-8", newline="") as f:
        got = list(csv.reader(f))
    assert got[2] == ["R2", 'Jo "JJ"', "Smith, Jr", "", "", "Flat 2 <A> & B", "", "M"]
    assert got[1][3] == "13/02/1980"
    with (tmp_path / "benefits/contacts.csv").open(encoding="utf-8", newline="") as f:
        got = list(csv.reader(f))
    assert got[1][3:6] == ["30/03/2025 10:15", "TEL", "Inbound"]
    assert got[1][8] == 'Said "hello", then\nleft' and got[2][8] == ""

    patients = [
        json.loads(x) for x in (tmp_path / "health/patients.jsonl").read_text("utf-8").splitlines()
    ]
    assert patients[1]["birth_date"] is None and patients[1]["sex"] == "male"
    assert patients[0]["family_name"] == "O'Brien" and patients[0]["birth_date"] == "1980-02-13"
    text = (tmp_path / "health/encounters.jsonl").read_text("utf-8")
    enc = [json.loads(x) for x in text.splitlines()]
    assert enc[0]["start"] == "2025-03-30T09:15:00Z" and enc[1]["free_text"] is None

    book = CalamineWorkbook.from_path(str(tmp_path / "council/council_export.xlsx"))
    residents = book.get_sheet_by_name("Residents").to_python()
    assert residents[1] == ["R1", "O'BRIEN, Siân", date(1980, 2, 13), "1 High St, Town", "AB1 2CD"]
    assert residents[2][1:4] == ['SMITH, JR, Jo "JJ"', "", "Flat 2 <A> & B"]
    contacts = book.get_sheet_by_name("Contacts").to_python()
    assert contacts[1][0] == 500001 and contacts[1][3] == datetime(2025, 3, 30, 10, 15)
    assert contacts[1][8] == 'Said "hello", then\nleft' and contacts[2][8] == ""


def _workbook(root: Path) -> Path:
    """The council workbook of ``_rows`` alone, written under ``root``."""
    people, events = _rows()
    writers = open_exports(root)
    writers["council"].people(people)
    writers["council"].events(events)
    for w in writers.values():
        w.close()
    return root / "council/council_export.xlsx"


def test_a_full_sheet_rolls_over_to_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_exports, "EXCEL_SHEET_ROWS", 2)  # the header and one row
    book = CalamineWorkbook.from_path(str(_workbook(tmp_path)))
    assert book.sheet_names == [
        "Residents",
        "Contacts",
        "Residents 2",
        "Residents 3",
        "Contacts 2",
    ]
    refs = [book.get_sheet_by_name(n).to_python()[1][0] for n in book.sheet_names]
    assert refs == ["R1", 500001, "R2", "R3", 500002]


def test_every_part_of_the_workbook_is_deflated_at_the_chosen_level(tmp_path: Path) -> None:
    # An entry given as a ZipInfo once went at zlib's default level whatever the archive
    # said: three times the CPU of level 2 on the council workbook, the writer's largest cost.
    with zipfile.ZipFile(_workbook(tmp_path)) as book:
        infos = book.infolist()
        assert len(infos) == 8
        for info in infos:
            data = book.read(info)
            deflate = zlib.compressobj(_xlsx._LEVEL, zlib.DEFLATED, -15)
            assert info.compress_size == len(deflate.compress(data) + deflate.flush()), info


def test_dates_and_times_read_as_python_writes_them() -> None:
    # Written digit by digit with NumPy; Python's own formatting is the reference,
    # across leap days, centuries, both sides of 1970, nulls, slices and chunks.
    # Python's dates run from year 1 to 9999, as the fast path does.
    days = [*range(-719_162, 2_932_897, 997), 11_016, 11_017, 2_932_896]
    when = [date(1970, 1, 1) + timedelta(days=d) for d in days]
    when = [*when[:5], None, *when[5:]]
    dates = pa.array(when, pa.date32())
    assert iso(dates).to_pylist() == [None if d is None else d.isoformat() for d in when]
    assert day_first(dates.slice(3)).to_pylist() == [
        None if d is None else f"{d.day:02d}/{d.month:02d}/{d.year:04d}" for d in when[3:]
    ]
    stamps = [
        None if d is None else datetime(d.year, d.month, d.day, (i * 7) % 24, i % 60, i % 59)
        for i, d in enumerate(when)
    ]
    for tz, z in ((None, ""), ("UTC", "Z")):
        col = pa.chunked_array([pa.array(stamps[:9]), pa.array(stamps[9:])], pa.timestamp("us"))
        col = col.cast(pa.timestamp("us", tz))
        assert iso(col).to_pylist() == [None if t is None else t.isoformat() + z for t in stamps]
        assert day_first(col).to_pylist() == [
            None if t is None else f"{t.day:02d}/{t.month:02d}/{t.year:04d} {t:%H:%M}"
            for t in stamps
        ]
    # What is not fixed width goes the slower way, to the same text.
    assert iso(pa.array([datetime(2025, 1, 2, 3, 4, 5)], pa.timestamp("s", "Europe/London"))) == (
        pa.array(["2025-01-02T03:04:05+0000"])
    )


def test_workbook_text_keeps_its_leading_and_trailing_space(tmp_path: Path) -> None:
    # Only a batch with such a value takes the slower way (xml:space="preserve" per cell).
    book = _xlsx.StreamingWorkbook(tmp_path / "w.xlsx")
    sheet = book.add_sheet("S", ["a"])
    values = [["plain", None, ""], [" lead", "trail\n", "in side", None]]
    for batch in values:
        book.write_columns(sheet, [pa.array(batch, pa.string())])
    book.close()
    rows = CalamineWorkbook.from_path(str(tmp_path / "w.xlsx")).get_sheet_by_name("S")
    assert [r[0] for r in rows.to_python()] == ["a", "plain", "", "", " lead", "trail\n", "in side"]
