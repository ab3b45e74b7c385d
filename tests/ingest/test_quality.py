"""The quality report measures the six dimensions, per source and column, and says
exactly how many values failed each check."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from joinedup import ingest
from joinedup.governance import MARKER, AuditLog, OutputRules
from joinedup.ingest._checks import nhs_valid, nino_valid, postcode_valid
from joinedup.ingest._cli import app
from joinedup.ingest._quality import measure
from joinedup.workspace import Workspace

EVENTS = """id,when,ch,who,case,outcome,note
e1,2025-01-01 10:00,TEL,p1,c1,closed,first
e2,1985-01-01 10:00,TEL,p2,c2,,before birth
e3,2025-01-02 10:00,WEB,p9,c3,,nobody
e1,2025-01-03 10:00,TEL,p1,c1,,repeat id
e5,2025-01-04 10:00,FAX,p1,c1,,bad code
e6,2025-02-01 10:00,WEB,p1,c1,,after close
"""
PEOPLE = """ref,first,last,dob,nhs,postcode
p1,Ann,Smith,1980-01-01,9434765919,SW1A 1AA
p2,Bob,Jones,1990-05-05,9434765918,NOT A PC
p3,ann,SMITH,1980-01-01,,
p4,Cy,Old,1901-01-01,4010232137,M1 1AE
"""


def _setup(folder: Path, today: date) -> Workspace:
    (folder / "events.csv").write_text(EVENTS, encoding="utf-8")
    (folder / "people.csv").write_text(PEOPLE, encoding="utf-8")
    doc: dict[str, Any] = {
        "org": "q",
        "source": "q-src",
        "format": "csv",
        "frequency": "monthly",
        "closed_outcomes": ["closed"],
        "events": {
            "file": "events.csv",
            "fields": {
                "event_id": {"column": "id"},
                "occurred_at": {"column": "when", "type": "timestamp", "format": "%Y-%m-%d %H:%M"},
                "channel": {"column": "ch", "codes": {"TEL": "phone", "WEB": "web"}},
                "local_person_ref": {"column": "who"},
                "case_ref": {"column": "case"},
                "outcome": {"column": "outcome"},
                "note": {"column": "note"},
            },
        },
        "people": {
            "file": "people.csv",
            "fields": {
                "local_person_ref": {"column": "ref"},
                "forename": {"column": "first"},
                "surname": {"column": "last"},
                "date_of_birth": {"column": "dob", "type": "date", "format": "%Y-%m-%d"},
                "nhs_number": {"column": "nhs"},
                "postcode": {"column": "postcode"},
            },
        },
    }
    (folder / "c.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    ws = Workspace(folder / "ws")
    ingest.load(folder / "c.yaml", ws, today=today)
    return ws


def _by(report: list[dict[str, Any]], table: str, column: str | None, check: str) -> dict[str, Any]:
    hits = [
        r
        for r in report
        if (r["table_name"], r["column_name"], r["check_name"]) == (table, column, check)
    ]
    assert len(hits) == 1, (table, column, check)
    return hits[0]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("quality")
    with _setup(folder, date(2025, 3, 1)) as ws:
        return ingest.quality(ws).to_pylist()


def test_all_six_dimensions_are_measured(report: list[dict[str, Any]]) -> None:
    assert {r["dimension"] for r in report} == {
        "completeness", "uniqueness", "validity", "consistency", "timeliness", "accuracy",
    }  # fmt: skip
    for r in report:
        assert 0 <= r["failed"] <= r["checked"]
        if r["checked"]:
            assert r["score"] == pytest.approx(1 - r["failed"] / r["checked"])


def test_each_check_counts_what_failed(report: list[dict[str, Any]]) -> None:
    # 6 rows in: e1 repeats, e5 has an unknown code; 4 loaded.
    assert _by(report, "events", "event_id", "repeated event_id")["failed"] == 1
    assert _by(report, "events", "channel", "breaks the contract")["failed"] == 1
    assert _by(report, "events", "channel", "breaks the contract")["checked"] == 6
    assert _by(report, "events", "outcome", "missing") == {
        **_by(report, "events", "outcome", "missing"), "failed": 3, "checked": 4,
    }  # fmt: skip
    assert _by(report, "events", "occurred_at", "event before date of birth")["failed"] == 1
    orphans = _by(report, "events", "local_person_ref", "person on record")
    assert (orphans["failed"], orphans["checked"]) == (1, 4)
    assert _by(report, "events", "case_ref", "activity after the case closed")["failed"] == 1
    fresh = _by(report, "events", "occurred_at", "age of newest record")
    assert fresh["failed"] == 0 and "28 days old" in fresh["detail"]
    assert _by(report, "people", None, "same name and date of birth")["failed"] == 1
    nhs = _by(report, "people", "nhs_number", "NHS number check digit")
    assert (nhs["failed"], nhs["checked"]) == (1, 3)
    pc = _by(report, "people", "postcode", "UK postcode format")
    assert (pc["failed"], pc["checked"]) == (1, 3)
    assert _by(report, "people", "postcode", "missing")["failed"] == 1
    assert _by(report, "people", "date_of_birth", "age between 0 and 120")["failed"] == 1


def test_a_late_delivery_fails_timeliness(tmp_path: Path) -> None:
    with _setup(tmp_path, date(2025, 6, 1)) as ws:
        rows = ingest.quality(ws, source="q-src").to_pylist()
    assert _by(rows, "events", "occurred_at", "age of newest record")["failed"] == 1


def test_the_counts_taken_while_checking_are_those_of_the_loaded_rows(tmp_path: Path) -> None:
    # The ingest counts empty values as it checks the rows, and takes away the rows that
    # repeat a key: every measure must be what counting the loaded tables gives.
    (tmp_path / "other.csv").write_text(
        "id,when,ch,who,case,outcome,note\ne9,2025-01-05 10:00,TEL,p1,c1,,\n", encoding="utf-8"
    )
    with _setup(tmp_path, date(2025, 3, 1)) as ws:
        doc = yaml.safe_load((tmp_path / "c.yaml").read_text(encoding="utf-8"))
        doc["source"], doc["events"]["file"] = "q-other", "other.csv"
        del doc["people"]
        (tmp_path / "other.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
        ingest.load(tmp_path / "other.yaml", ws, today=date(2025, 3, 1))
        (tmp_path / "events.csv").write_text(
            EVENTS
            + "e7,2025-02-02 10:00, WEB ,p1,c1,  ,\n"  # blanks around a code; blanks only
            + "e9,2025-02-03 10:00,TEL,,c1,,loaded by the other source\n"
            + "e8,,TEL,p1,c1,,no time\n"
            + "e1,2025-02-04 10:00,WEB,,,,third e1\n",
            encoding="utf-8",
        )
        ingest.load(tmp_path / "c.yaml", ws, today=date(2025, 3, 1))
        stored = ingest.quality(ws, source="q-src").drop_columns(["measured_at"])
        contract = ingest.load_contract(tmp_path / "c.yaml")
        counted = measure(ws.engine, contract, today=date(2025, 3, 1))

    def key(r: dict[str, Any]) -> tuple[str, str, str]:
        return (r["table_name"], r["column_name"] or "", r["check_name"])

    expected = sorted(counted.drop_columns(["measured_at"]).to_pylist(), key=key)
    assert sorted(stored.to_pylist(), key=key) == expected
    assert _by(expected, "events", "outcome", "missing")["checked"] == 5


def test_identifier_checks() -> None:
    assert nhs_valid("943 476 5919") and not nhs_valid("9434765918")
    assert nino_valid("AB 12 34 56 C") and not nino_valid("QQ123456C")
    assert not nino_valid("GB123456A") and not nino_valid("AB123456E")
    assert (
        postcode_valid("sw1a 1aa") and postcode_valid("M1 1AE") and not postcode_valid("NOT A PC")
    )


def test_quality_command(tmp_path: Path) -> None:
    _setup(tmp_path, date(2025, 3, 1)).close()
    runner = CliRunner()
    shown = runner.invoke(app, ["quality", "--workspace", str(tmp_path / "ws")])
    assert shown.exit_code == 0, shown.output
    assert "Data quality: q / q-src" in shown.output and "completeness" in shown.output
    as_json = runner.invoke(app, ["quality", "--workspace", str(tmp_path / "ws"), "--json"])
    doc = json.loads(as_json.output)
    assert doc["disclosure_control"] is True and doc["notes"][0].startswith("[c]")
    rows = doc["measures"]
    assert {r["dimension"] for r in rows} >= {"completeness", "timeliness"}
    # Every count of this small export is under 10: withheld, unless it is zero.
    assert all(r["failed"] in (None, 0) for r in rows if r["dimension"] != "timeliness")
    assert all(r["checked"] is None for r in rows if r["dimension"] != "timeliness")
    out = tmp_path / "q.csv"
    written = runner.invoke(
        app, ["quarantine", str(out), "--workspace", str(tmp_path / "ws"), "--as", "kim"]
    )
    assert written.exit_code == 0 and "2 quarantined rows" in written.output
    entry = list(AuditLog(tmp_path / "ws").entries(what="export"))[-1]
    assert entry.who == "kim" and entry.details["rows"] == 2
    assert entry.details["output"] == str(out) and entry.details["level"] == "row"
    none = runner.invoke(app, ["quality", "--workspace", str(tmp_path / "nowhere")])
    assert none.exit_code == 1 and "no workspace" in none.output


def test_quality_exact_only_with_control_off_and_recorded(tmp_path: Path) -> None:
    _setup(tmp_path, date(2025, 3, 1)).close()
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    shown = runner.invoke(app, ["quality", "-w", ws, "--source", "q-src"])
    assert shown.exit_code == 0, shown.output
    assert MARKER in shown.output and "withheld" in shown.output
    assert not list(AuditLog(ws).entries(what="disclosure.off"))
    raw = runner.invoke(
        app, ["quality", "-w", ws, "--json", "--no-disclosure-control", "--as", "kim"]
    )
    doc = json.loads(raw.output)
    assert doc["disclosure_control"] is False and "not cleared" in doc["notes"][0]
    completeness = _by(doc["measures"], "events", "note", "missing")
    assert completeness["checked"] == 4 and completeness["failed"] == 0  # 2 of 6 quarantined
    off = list(AuditLog(ws).entries(what="disclosure.off"))
    assert len(off) == 1 and off[0].who == "kim" and off[0].details["source"] is None
    assert AuditLog(ws).verify().ok


def _measure(dimension: str, failed: int, checked: int) -> dict[str, Any]:
    return {
        "org": "q",
        "source": "s",
        "table_name": "events",
        "column_name": "c",
        "dimension": dimension,
        "check_name": "x",
        "failed": failed,
        "checked": checked,
        "score": 1 - failed / checked,
        "detail": f"{failed} of {checked}",
        "measured_at": None,
    }


def test_published_quality_withholds_small_counts_and_rounds() -> None:
    import pyarrow as pa

    from joinedup.model import QUALITY

    report = pa.Table.from_pylist(
        [
            _measure("validity", 3, 1234),
            _measure("completeness", 0, 1234),
            _measure("completeness", 12, 7),
            _measure("validity", 123, 1234),
            _measure("timeliness", 1, 1),
        ],
        schema=QUALITY,
    )
    table, notes = ingest.publish_quality(report)
    rows = table.to_pylist()
    assert (rows[0]["failed"], rows[0]["failed_marker"], rows[0]["checked"]) == (None, MARKER, 1235)
    assert rows[0]["score"] is None and rows[0]["detail"] is None
    assert (rows[1]["failed"], rows[1]["score"]) == (0, 1.0)
    assert rows[2]["checked"] is None and rows[2]["checked_marker"] == MARKER
    assert (rows[3]["failed"], rows[3]["checked"]) == (125, 1235)
    assert rows[3]["score"] == pytest.approx(1 - 125 / 1235)
    assert rows[4]["failed"] == 1 and rows[4]["detail"] == "1 of 1"  # a judgement, not a count
    small = {3, 7}
    assert not small & {v for r in rows[:4] for v in (r["failed"], r["checked"])}
    assert "2 values withheld" in notes[0] and "nearest 5" in notes[1]
    exact, _ = ingest.publish_quality(report, rules=OutputRules(threshold=2, rounding_base=1))
    assert exact.column("failed").to_pylist()[:4] == [3, 0, 12, 123]
