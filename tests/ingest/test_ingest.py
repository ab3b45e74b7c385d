"""Ingest loads every export through its contract, quarantines bad rows, loses nothing."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from joinedup import ingest
from joinedup.errors import ContractError
from joinedup.ingest import load_contract
from joinedup.synth import SynthResult
from joinedup.workspace import Workspace

from .conftest import EVENT_FIELDS, write_contract


def test_every_synthetic_export_loads_whole(
    small_synth: SynthResult, loaded_workspace_dir: Path
) -> None:
    with Workspace(loaded_workspace_dir, create=False) as ws:
        events = ws.read("events")
        people = ws.read("people")
        assert ws.count("quarantine") == 0
    for org in small_synth.events:
        assert sum(o == org for o in events.column("org").to_pylist()) == small_synth.events[org]
        assert sum(o == org for o in people.column("org").to_pylist()) == small_synth.records[org]


def test_loaded_times_and_channels_match_the_truth(
    small_synth: SynthResult, loaded_workspace_dir: Path
) -> None:
    """Times written in local time (CSV, Excel) and in UTC (Parquet, JSON) all land in UTC."""
    truth = {
        r["event_id"]: r
        for r in pq.read_table(small_synth.root / "truth" / "events.parquet").to_pylist()
    }
    with Workspace(loaded_workspace_dir, create=False) as ws:
        loaded = ws.read("events").to_pylist()
    assert len(loaded) == len(truth)
    for e in loaded:
        t = truth[e["event_id"]]
        assert e["occurred_at"] == t["occurred_at"], e["event_id"]
        assert e["channel"] == t["channel"]
        assert e["direction"] == t["direction"]


def test_people_fields_are_typed(loaded_workspace_dir: Path) -> None:
    with Workspace(loaded_workspace_dir, create=False) as ws:
        rows = ws.read("people").to_pylist()
    council = [r for r in rows if r["org"] == "council"]
    assert all(r["forename"] and r["surname"] and "," not in r["forename"] for r in council)
    health = [r for r in rows if r["org"] == "health"]
    assert {r["sex"] for r in health} == {"F", "M"}
    assert any(r["date_of_birth"] is not None for r in rows)


def test_reingesting_the_same_source_adds_nothing(small_synth: SynthResult, tmp_path: Path) -> None:
    with Workspace(tmp_path) as ws:
        contract = small_synth.contracts[0]
        first = ingest.load(contract, ws)
        before = ws.count("events")
        again = ingest.load(contract, ws)
        assert ws.count("events") == before == first.tables[0].loaded == again.tables[0].loaded


def _broken_benefits(small_synth: SynthResult, tmp_path: Path) -> tuple[Path, int]:
    """A copy of the benefits export with four bad rows; returns its contract and rows."""
    root = tmp_path / "broken"
    shutil.copytree(small_synth.root / "exports" / "benefits", root / "exports" / "benefits")
    (root / "contracts").mkdir()
    shutil.copy(small_synth.root / "contracts" / "benefits.yaml", root / "contracts")
    path = root / "exports" / "benefits" / "contacts.csv"
    with path.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    date, ident, chan = (header.index(c) for c in ("Contact Date", "Contact ID", "Channel"))
    body[0][date] = "2025-13-45"
    body[1][ident] = ""
    body[2][chan] = "FAX"
    body[3][ident] = body[4][ident]  # the later row repeats an earlier id
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *body])
    return root / "contracts" / "benefits.yaml", len(body)


def test_bad_rows_are_quarantined_with_their_reason(
    small_synth: SynthResult, tmp_path: Path
) -> None:
    contract, rows = _broken_benefits(small_synth, tmp_path)
    with Workspace(tmp_path / "ws") as ws:
        res = ingest.load(contract, ws)
        q = ws.read("quarantine").to_pylist()
    events = res.tables[0]
    assert events.rows_in == rows == events.loaded + events.quarantined
    assert events.quarantined == 4
    by_row = {r["row_number"]: r for r in q}
    assert set(by_row) == {1, 2, 3, 5}, q
    assert by_row[1]["column_name"] == "occurred_at"
    assert "'2025-13-45' is not a date and time like %d/%m/%Y %H:%M" in by_row[1]["reason"]
    assert "contacts.csv" in by_row[1]["reason"]
    assert by_row[2]["column_name"] == "event_id" and "empty" in by_row[2]["reason"]
    assert by_row[3]["column_name"] == "channel" and "unknown code FAX" in by_row[3]["reason"]
    assert "repeats an earlier row" in by_row[5]["reason"]
    assert '"Channel":"FAX"' in by_row[3]["raw"]  # the whole row is kept


def test_contract_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "org: benefits\nsource: s\nformat: csv\nevents:\n  file: x.csv\n  fields:\n"
        "    event_id: {column: id}\n    occurred_at: {column: t, type: time}\n",
        encoding="utf-8",
    )
    with pytest.raises(ContractError, match=r"c.yaml, line 8, events.fields.occurred_at.type"):
        load_contract(path)
    path.write_text("org: benefits\nformat: csv\nevents: [\n", encoding="utf-8")
    with pytest.raises(ContractError, match="not valid YAML"):
        load_contract(path)


def test_contract_must_map_the_required_fields(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "org: tax\nsource: s\nformat: csv\nevents:\n  file: x.csv\n  fields:\n"
        "    event_id: {column: id}\n",
        encoding="utf-8",
    )
    with pytest.raises(ContractError, match=r"required field\(s\) \['occurred_at'\]"):
        load_contract(path)


def test_a_missing_column_lists_the_columns_there_are(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("id,when\n1,2025-01-01\n", encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(
        "org: tax\nsource: s\nformat: csv\nevents:\n  file: x.csv\n  fields:\n"
        "    event_id: {column: id}\n    occurred_at: {column: time, type: timestamp}\n",
        encoding="utf-8",
    )
    with (
        Workspace(tmp_path / "ws") as ws,
        pytest.raises(ContractError, match=r"column 'time' .* its columns are \['id', 'when'\]"),
    ):
        ingest.load(path, ws)


def test_nothing_loadable_is_an_error_and_still_quarantined(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("id,when\n1,yesterday\n2,\n", encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(
        "org: tax\nsource: s\nformat: csv\nevents:\n  file: x.csv\n  fields:\n"
        "    event_id: {column: id}\n    occurred_at: {column: when, type: timestamp}\n",
        encoding="utf-8",
    )
    with Workspace(tmp_path / "ws") as ws:
        with pytest.raises(ContractError, match="nothing could be loaded"):
            ingest.load(path, ws)
        assert ws.count("quarantine") == 2
        assert ws.count("events") == 0


def test_excel_sheets_that_roll_over_are_read_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from joinedup.synth import SynthConfig, _exports, generate

    monkeypatch.setattr(_exports, "EXCEL_SHEET_ROWS", 40)
    made = generate(tmp_path / "s", SynthConfig(people=40, seed=4))
    council = made.root / "contracts" / "council.yaml"
    with Workspace(tmp_path / "ws") as ws:
        res = ingest.load(council, ws)
    assert res.tables[0].loaded == made.events["council"] > 40
    assert res.tables[1].loaded == made.records["council"]


AGREEMENT = """\
name: test-sharing
purpose: testing that ingest honours the agreement
legal_gateway: none, this is a test of the software
starts: 2024-01-01
expires: 2099-12-31
parties:
  testorg:
    name: Test organisation
    shares:
      events: [event_id, occurred_at, channel, local_person_ref]
  other:
    name: Another organisation
    shares:
      events: [event_id, occurred_at, channel, local_person_ref, note]
retention:
  days: 730
"""


def test_an_ingest_under_an_agreement_is_checked_and_recorded(tmp_path: Path) -> None:
    from joinedup.governance import AgreementError, AuditLog, load_agreement

    (tmp_path / "agreement.yaml").write_text(AGREEMENT, encoding="utf-8")
    agreement = load_agreement(tmp_path / "agreement.yaml")
    (tmp_path / "e.csv").write_text(
        "id,when,ch,who,note\n1,2025-01-01 10:00,TEL,p1,hello\n", encoding="utf-8"
    )
    contract = write_contract(tmp_path, "e.csv")  # maps note, which testorg does not share
    with Workspace(tmp_path / "ws") as ws:
        with pytest.raises(AgreementError, match=r"testorg does not share events\.note"):
            ingest.load(contract, ws, agreement=agreement, who="kim")
        assert ws.count("events") == 0 and ws.count("sources") == 0
        fields = {k: v for k, v in EVENT_FIELDS.items() if k != "note"}
        narrow = write_contract(tmp_path, "e.csv", source="narrow", events={"fields": fields})
        res = ingest.load(narrow, ws, agreement=agreement, who="kim")
        assert res.loaded == 1
        run = [r for r in ws.runs() if r["command"] == "ingest"][-1]
        assert run["settings"]["agreement"]["name"] == "test-sharing"
    kinds = [(e.what, e.who) for e in AuditLog(tmp_path / "ws").entries()]
    assert kinds == [("run.refused", "kim"), ("run.start", "kim"), ("run.end", "kim")]


def test_sheets_read_side_by_side_come_back_in_order(tmp_path: Path) -> None:
    """A sheet and its continuations are read two at a time; the tables still come in
    sheet order, with rows numbered on across them, and other sheets are left alone."""
    import xlsxwriter

    from joinedup.ingest._excel import read_excel

    book = xlsxwriter.Workbook(str(tmp_path / "book.xlsx"))
    sizes = {"Contacts": 3, "Other": 2, "Contacts 2": 1, "Contacts 3": 4, "Contacts 4": 2}
    for name, n in sizes.items():
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, ["id", "sheet"])
        for r in range(1, n + 1):
            sheet.write_row(r, 0, [f"{name}-{r}", name])
    book.close()
    tables = list(read_excel(tmp_path / "book.xlsx", "Contacts"))
    assert [t["sheet"][0].as_py() for t in tables] == [
        "Contacts",
        "Contacts 2",
        "Contacts 3",
        "Contacts 4",
    ]
    rows = [r for t in tables for r in t["_row"].to_pylist()]
    assert rows == list(range(1, 3 + 1 + 4 + 2 + 1))
    ids = [i for t in tables for i in t["id"].to_pylist()]
    assert ids[:4] == ["Contacts-1", "Contacts-2", "Contacts-3", "Contacts 2-1"]
    assert ids[-1] == "Contacts 4-2"
