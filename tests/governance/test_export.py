"""write_disclosed: figures to CSV, Parquet and JSON, safe, with footnotes, audited."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from joinedup.governance import (
    MARKER,
    AccessDenied,
    AuditLog,
    DisclosureError,
    OutputRules,
    Role,
    User,
    write_disclosed,
)
from joinedup.governance._export import NOTES_KEY

from .attack import recovered, solved_by_algebra

EXACT = OutputRules(rounding_base=1)
VALUES = [[3, 40, 55, 31], [20, 30, 12, 18], [44, 25, 60, 0], [15, 16, 17, 70]]
SMALL = {v for row in VALUES for v in row if v < 10}


def table() -> pa.Table:
    rows = [
        {"org": f"o{i}", "cat": f"c{j}", "n": v, "median_h": 1.5 + i + j / 10}
        for i, row in enumerate(VALUES)
        for j, v in enumerate(row)
    ]
    return pa.Table.from_pylist(rows)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def user(role: Role) -> User:
    return User("kim", "benefits", role, datetime(2026, 1, 1, tzinfo=UTC))


def test_csv_has_no_small_count_and_its_notes_beside_it(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    got = write_disclosed(table(), tmp_path / "out.csv", audit=log, by=["org", "cat"], counts=["n"])
    rows = read_csv(got.path)
    assert len(rows) == 16
    for r in rows:
        assert r["n"] == MARKER or (int(r["n"]) >= 10 and int(r["n"]) % 5 == 0), r
    assert {(r["org"], r["cat"]) for r in rows if r["n"] == MARKER} >= {("o0", "c0"), ("o2", "c3")}
    assert got.notes_path == tmp_path / "out.notes.txt"
    notes = got.notes_path.read_text(encoding="utf-8")
    assert MARKER in notes and "rounded to the nearest 5" in notes
    entry = list(log.entries(what="export"))[-1]
    assert entry.details["output"] == str(got.path)
    assert entry.details["disclosure_control"] is True
    assert entry.details["withheld"] == sum(r["n"] == MARKER for r in rows) >= 4
    assert log.verify().ok


def test_the_intruder_recovers_nothing_from_the_written_totals(tmp_path: Path) -> None:
    got = write_disclosed(
        table(),
        tmp_path / "out.csv",
        audit=AuditLog(tmp_path),
        by=["org", "cat"],
        counts=["n"],
        rules=EXACT,
        totals=True,
    )
    rows = read_csv(got.path)
    back = pa.Table.from_pylist(
        [{**r, "n": None if r["n"] == MARKER else int(r["n"])} for r in rows]
    )
    assert back.column("n").null_count >= 4
    assert recovered(back, ["org", "cat"], "n") == []
    assert solved_by_algebra(back, ["org", "cat"], "n") == []


def test_kept_statistics_are_withheld_with_their_cell(tmp_path: Path) -> None:
    got = write_disclosed(
        table(),
        tmp_path / "out.parquet",
        audit=AuditLog(tmp_path),
        by=["org", "cat"],
        counts=["n"],
        keep=["median_h"],
    )
    back = pq.read_table(got.path)
    assert json.loads(back.schema.metadata[NOTES_KEY])[0].startswith(MARKER)
    for r in back.to_pylist():
        hidden = r["n_marker"] == MARKER
        assert (r["n"] is None) == hidden == (r["median_h"] is None)
        assert r["median_h_marker"] == (MARKER if hidden else None)
        assert hidden or r["n"] >= 10
    o1c1 = next(r for r in back.to_pylist() if (r["org"], r["cat"]) == ("o1", "c1"))
    assert o1c1["median_h"] == pytest.approx(2.6)


def test_json_keeps_numbers_and_notes(tmp_path: Path) -> None:
    got = write_disclosed(
        table(), tmp_path / "out.json", audit=AuditLog(tmp_path), by=["org", "cat"], counts=["n"]
    )
    doc = json.loads(got.path.read_text(encoding="utf-8"))
    assert doc["notes"] == got.notes and got.notes_path is None
    assert all(r["n"] is None or r["n"] >= 10 for r in doc["rows"])
    assert not SMALL & {r["n"] for r in doc["rows"]}


def test_formula_like_labels_are_escaped_in_csv(tmp_path: Path) -> None:
    t = pa.table({"activity": ["=cmd|' /C calc'!A0", "ok"], "n": [40, 50]})
    got = write_disclosed(
        t, tmp_path / "x.csv", audit=AuditLog(tmp_path), by=["activity"], counts=["n"]
    )
    labels = [r["activity"] for r in read_csv(got.path)]
    assert "'=cmd|' /C calc'!A0" in labels and "=cmd|' /C calc'!A0" not in labels


def test_turning_control_off_is_for_administrators_and_is_recorded(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    with pytest.raises(AccessDenied, match="administrator"):
        write_disclosed(
            table(),
            tmp_path / "raw.csv",
            audit=log,
            by=["org", "cat"],
            counts=["n"],
            enabled=False,
            who=user(Role.ANALYST),
        )
    assert not (tmp_path / "raw.csv").exists()
    got = write_disclosed(
        table(),
        tmp_path / "raw.csv",
        audit=log,
        by=["org", "cat"],
        counts=["n"],
        keep=["median_h"],
        enabled=False,
        who=user(Role.ADMINISTRATOR),
    )
    assert sorted(int(r["n"]) for r in read_csv(got.path)) == sorted(v for r in VALUES for v in r)
    assert "not cleared for release" in got.notes_path.read_text(encoding="utf-8")  # type: ignore[union-attr]
    kinds = [(e.what, e.who) for e in log.entries()]
    assert ("disclosure.off", "kim") in kinds and ("export", "kim") in kinds
    export = list(log.entries(what="export"))[-1]
    assert export.details["disclosure_control"] is False


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("out.xlsx", {}, r"\.csv, \.parquet or \.json"),
        ("out.csv", {"keep": ["nope"]}, "not in the table"),
        ("out.csv", {"keep": ["n"]}, "already dimensions or values"),
    ],
)
def test_bad_requests_are_refused(tmp_path: Path, name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(DisclosureError, match=message):
        write_disclosed(
            table(),
            tmp_path / name,
            audit=AuditLog(tmp_path),
            by=["org", "cat"],
            counts=["n"],
            **kwargs,
        )
    assert not (tmp_path / name).exists()
