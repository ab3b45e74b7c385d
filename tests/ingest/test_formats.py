"""XES, OCEL 2.0 JSON and SQLite sources, read from the real public logs in
tests/data/real-logs (see its README for their sources and citations)."""

from __future__ import annotations

import gzip
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from joinedup import ingest
from joinedup.errors import ContractError
from joinedup.workspace import Workspace

from .conftest import assert_nothing_lost

# Copies of ../shared/data/real-logs, kept with the tests so CI has them (see the
# README there for their sources and the citations they require).
REAL = Path(__file__).resolve().parents[1] / "data" / "real-logs"
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="the real logs are not here")


def _contract(folder: Path, name: str, doc: dict[str, Any]) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


#: XES events carry no id of their own: the case and the row make one.
XES_FIELDS = {
    "event_id": {"expression": "\"case:concept:name\" || '/' || _row"},
    "case_ref": {"column": "case:concept:name"},
    "occurred_at": {"column": "time:timestamp", "type": "timestamp"},
    "activity": {"column": "concept:name"},
}


@pytest.mark.parametrize(
    ("log", "events", "cases"),
    [("roadtraffic100traces.xes", 390, 100), ("receipt.xes.gz", 8577, 1434)],
)
def test_xes_logs_load_every_event(tmp_path: Path, log: str, events: int, cases: int) -> None:
    doc = {
        "org": "police",
        "source": log,
        "format": "xes",
        "frequency": "adhoc",
        "events": {"file": str(REAL / log), "fields": XES_FIELDS},
    }
    with Workspace(tmp_path / "ws") as ws:
        res = ingest.load(_contract(tmp_path, "xes", doc), ws)
        assert_nothing_lost(res, ws)
        assert (res.loaded, res.quarantined) == (events, 0)
        loaded = ws.read("events")
    assert len(set(loaded.column("case_ref").to_pylist())) == cases
    # Count the events in the XML independently of the reader.
    opener = gzip.open if log.endswith(".gz") else open
    with opener(REAL / log, "rt", encoding="utf-8") as fh:
        assert len(re.findall(r"<event>", fh.read())) == events
    assert loaded.column("occurred_at").null_count == 0


def _ocel_events(tmp_path: Path, ws: Workspace) -> list[dict[str, Any]]:
    doc = {
        "org": "purchasing",
        "source": "ocel-json",
        "format": "ocel",
        "events": {
            "file": str(REAL / "ocel20_example.jsonocel"),
            "fields": {
                "event_id": {"column": "ocel:eid"},
                "occurred_at": {"column": "ocel:timestamp", "type": "timestamp"},
                "activity": {"column": "ocel:activity"},
                "case_ref": {"column": "ocel:object:Purchase Requisition"},
                "local_person_ref": {"column": "pr_creator"},
            },
        },
        "people": {
            "file": str(REAL / "ocel20_example.jsonocel"),
            "object_type": "Invoice",
            "fields": {"local_person_ref": {"column": "ocel:oid"}},
        },
    }
    res = ingest.load(_contract(tmp_path, "ocel", doc), ws)
    assert_nothing_lost(res, ws)
    assert [(t.table, t.loaded, t.quarantined) for t in res.tables] == [
        ("events", 13, 0),
        ("people", 3, 0),
    ]
    return ws.engine.to_arrow(
        ws.engine.sql("SELECT * FROM events WHERE source = 'ocel-json' ORDER BY event_id")
    ).to_pylist()


def test_ocel_json_events_and_objects(tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws") as ws:
        events = _ocel_events(tmp_path, ws)
    first = next(e for e in events if e["event_id"] == "purchasing:e1")
    assert first["activity"] == "Create Purchase Requisition"
    assert first["case_ref"] == "PR1" and first["local_person_ref"] == "Mike"
    assert first["occurred_at"].isoformat() == "2022-01-09T14:00:00+00:00"


def test_sqlite_query_matches_the_same_log_in_json(tmp_path: Path) -> None:
    """The reference example's SQLite form, read with a query, gives the JSON's events —
    once the contract says its times are Dutch local time (the JSON's are UTC)."""
    db = REAL / "ocel20_example.sqlite"
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("SELECT ocel_type_map FROM event_map_type")]
    times = " UNION ALL ".join(f'SELECT ocel_id, ocel_time FROM "event_{t}"' for t in tables)
    doc = {
        "org": "purchasing",
        "source": "ocel-sqlite",
        "format": "sqlite",
        "timezone": "Europe/Amsterdam",
        "events": {
            "file": str(db),
            "query": f"SELECT e.ocel_id, e.ocel_type, t.ocel_time FROM event e "
            f"JOIN ({times}) t USING (ocel_id)",
            "fields": {
                "event_id": {"column": "ocel_id"},
                "activity": {"column": "ocel_type"},
                "occurred_at": {
                    "column": "ocel_time",
                    "type": "timestamp",
                    "format": "%Y-%m-%d %H:%M:%S",
                },
            },
        },
    }
    with Workspace(tmp_path / "ws") as ws:
        from_json = _ocel_events(tmp_path, ws)
        # Under its own organisation code: one organisation may not load an event id twice.
        res = ingest.load(_contract(tmp_path, "sqlite", {**doc, "org": "purchasing2"}), ws)
        assert_nothing_lost(res, ws)
        from_db = ws.engine.to_arrow(
            ws.engine.sql("SELECT * FROM events WHERE source = 'ocel-sqlite' ORDER BY event_id")
        ).to_pylist()
    strip = lambda e: (e["event_id"].split(":")[1], e["activity"], e["occurred_at"])  # noqa: E731
    assert sorted(map(strip, from_db)) == sorted(map(strip, from_json))


def test_sqlite_errors_name_the_table(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE contacts (id TEXT, at TEXT)")
        con.execute("INSERT INTO contacts VALUES ('1', '2025-01-01 10:00:00'), ('2', NULL)")
    fields = {
        "event_id": {"column": "id"},
        "occurred_at": {"column": "at", "type": "timestamp", "format": "%Y-%m-%d %H:%M:%S"},
    }
    good = {
        "org": "t",
        "source": "db",
        "format": "sqlite",
        "events": {"file": str(db), "table": "contacts", "fields": fields},
    }
    with Workspace(tmp_path / "ws") as ws:
        res = ingest.load(_contract(tmp_path, "db", good), ws)
        assert (res.loaded, res.quarantined) == (1, 1)
        bad = {**good, "source": "db2", "events": {**good["events"], "table": "nope"}}
        with pytest.raises(ContractError, match="cannot read table 'nope'"):
            ingest.load(_contract(tmp_path, "db2", bad), ws)
    missing = {**good, "events": {"file": str(db), "fields": fields}}
    with pytest.raises(ContractError, match="needs 'table' or 'query'"):
        ingest.load_contract(_contract(tmp_path, "db3", missing))


def test_a_broken_xes_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.xes").write_text("<log><trace><event>", encoding="utf-8")
    doc = {
        "org": "x",
        "source": "x",
        "format": "xes",
        "events": {"file": "bad.xes", "fields": XES_FIELDS},
    }
    with (
        Workspace(tmp_path / "ws") as ws,
        pytest.raises(ContractError, match="not a well-formed XES"),
    ):
        ingest.load(_contract(tmp_path, "x", doc), ws)
