"""The linked log out to other process-mining tools: OCEL 2.0 (JSON, SQLite) and XES.

Objects in the OCEL log: the citizen (``person``), each need episode (``need``), each
organisation's case (``case``) and each ``organisation``. Every event is related to its
person, its need, its organisation and, where it has one, its case. The XES log has one
trace per need episode. Rows stream from the engine in batches, so memory stays flat.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.journeys._errors import JourneysError
from joinedup.journeys._xes import write_xes

EVENT_ATTRS = ("org", "service", "channel", "direction", "outcome")
_STATIC = "1970-01-01T00:00:00Z"


def _linked_log(engine: Engine, order: str) -> Any:
    if engine.count("episode_events") == 0:
        raise JourneysError("the workspace has no episodes: run `joinedup journeys build` first")
    return engine.sql(
        f"""
        SELECT e.event_id, coalesce(e.activity, '(none)') AS activity, e.occurred_at,
               e.org, e.service, e.channel, e.direction, e.outcome,
               ee.person_id, ee.episode_id, ee.position,
               CASE WHEN e.case_ref IS NULL THEN NULL ELSE e.org || ':' || e.case_ref END
                   AS case_id,
               ep.need_type, ep.end_reason, ep.need_org
        FROM episode_events ee
        JOIN events e ON e.event_id = ee.event_id
        JOIN episodes ep ON ep.episode_id = ee.episode_id
        ORDER BY {order}
        """
    )


def _rows(engine: Engine, order: str) -> Iterator[dict[str, Any]]:
    for batch in engine.to_batches(_linked_log(engine, order)):
        yield from batch.to_pylist()


def _iso(when: datetime) -> str:
    return when.isoformat()


def _type_map(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", name) or "Type"


def _objects(engine: Engine) -> tuple[list[str], dict[str, pa.Table]]:
    """Every object, by type, as small tables (one row per person, need, case, org)."""
    sql = {
        "person": "SELECT DISTINCT person_id AS id FROM episode_events",
        "need": (
            "SELECT episode_id AS id, person_id, need_type, end_reason, need_org "
            "FROM episodes WHERE episode_id IN (SELECT episode_id FROM episode_events)"
        ),
        "case": (
            "SELECT DISTINCT e.org || ':' || e.case_ref AS id, e.org FROM episode_events ee "
            "JOIN events e ON e.event_id = ee.event_id WHERE e.case_ref IS NOT NULL"
        ),
        "organisation": (
            "SELECT DISTINCT e.org AS id FROM episode_events ee "
            "JOIN events e ON e.event_id = ee.event_id"
        ),
    }
    tables = {k: engine.to_arrow(engine.sql(q + " ORDER BY id")) for k, q in sql.items()}
    types = (
        engine.to_arrow(
            engine.sql(
                "SELECT DISTINCT coalesce(e.activity, '(none)') AS t FROM episode_events ee "
                "JOIN events e ON e.event_id = ee.event_id ORDER BY t"
            )
        )
        .column("t")
        .to_pylist()
    )
    return types, tables


_OBJECT_ATTRS = {"need": ("need_type", "end_reason", "need_org"), "case": ("org",)}


def _relationships(row: dict[str, Any]) -> list[tuple[str, str]]:
    rel = [(row["person_id"], "citizen"), (row["episode_id"], "need"), (row["org"], "handled by")]
    if row["case_id"] is not None:
        rel.append((row["case_id"], "case"))
    return rel


def export_ocel_json(engine: Engine, path: Path | str) -> int:
    """Write the linked log as OCEL 2.0 JSON; events written."""
    types, objects = _objects(engine)
    n = 0
    with Path(path).open("w", encoding="utf-8") as out:
        head = {
            "objectTypes": [
                {
                    "name": t,
                    "attributes": [{"name": a, "type": "string"} for a in _OBJECT_ATTRS.get(t, ())],
                }
                for t in objects
            ],
            "eventTypes": [
                {"name": t, "attributes": [{"name": a, "type": "string"} for a in EVENT_ATTRS]}
                for t in types
            ],
        }
        out.write(json.dumps(head)[:-1] + ', "objects": [')
        first = True
        for kind, table in objects.items():
            for obj in table.to_pylist():
                doc: dict[str, Any] = {
                    "id": obj["id"],
                    "type": kind,
                    "attributes": [
                        {"name": a, "time": _STATIC, "value": obj[a]}
                        for a in _OBJECT_ATTRS.get(kind, ())
                        if obj.get(a) is not None
                    ],
                }
                if kind == "need":
                    doc["relationships"] = [{"objectId": obj["person_id"], "qualifier": "need of"}]
                elif kind == "case":
                    doc["relationships"] = [{"objectId": obj["org"], "qualifier": "held by"}]
                out.write(("" if first else ", ") + json.dumps(doc))
                first = False
        out.write('], "events": [')
        for row in _rows(engine, "e.occurred_at, e.event_id"):
            event = {
                "id": row["event_id"],
                "type": row["activity"],
                "time": _iso(row["occurred_at"]),
                "attributes": [
                    {"name": a, "value": row[a]} for a in EVENT_ATTRS if row[a] is not None
                ],
                "relationships": [{"objectId": o, "qualifier": q} for o, q in _relationships(row)],
            }
            out.write(("" if n == 0 else ", ") + json.dumps(event))
            n += 1
        out.write("]}\n")
    return n


def export_ocel_sqlite(engine: Engine, path: Path | str) -> int:
    """Write the linked log as an OCEL 2.0 SQLite database; events written."""
    path = Path(path)
    if path.exists():
        path.unlink()
    types, objects = _objects(engine)
    emap = _unique_maps(types)
    omap = _unique_maps(list(objects))
    con = sqlite3.connect(path)
    try:
        c = con.cursor()
        c.execute("CREATE TABLE event_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT)")
        c.execute("CREATE TABLE object_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT)")
        c.execute("CREATE TABLE event (ocel_id TEXT PRIMARY KEY, ocel_type TEXT)")
        c.execute("CREATE TABLE object (ocel_id TEXT PRIMARY KEY, ocel_type TEXT)")
        c.execute(
            "CREATE TABLE event_object (ocel_event_id TEXT, ocel_object_id TEXT, "
            "ocel_qualifier TEXT, PRIMARY KEY (ocel_event_id, ocel_object_id, ocel_qualifier))"
        )
        c.execute(
            "CREATE TABLE object_object (ocel_source_id TEXT, ocel_target_id TEXT, "
            "ocel_qualifier TEXT, PRIMARY KEY (ocel_source_id, ocel_target_id, ocel_qualifier))"
        )
        c.executemany("INSERT INTO event_map_type VALUES (?, ?)", list(emap.items()))
        c.executemany("INSERT INTO object_map_type VALUES (?, ?)", list(omap.items()))
        attr_cols = "".join(f", {a} TEXT" for a in EVENT_ATTRS)
        for m in emap.values():
            c.execute(
                f'CREATE TABLE "event_{m}" '
                f"(ocel_id TEXT PRIMARY KEY, ocel_time TIMESTAMP{attr_cols})"
            )
        for kind, table in objects.items():
            attrs = _OBJECT_ATTRS.get(kind, ())
            cols = "".join(f", {a} TEXT" for a in attrs)
            c.execute(
                f'CREATE TABLE "object_{omap[kind]}" (ocel_id TEXT, ocel_time TIMESTAMP, '
                f"ocel_changed_field TEXT{cols})"
            )
            rows = table.to_pylist()
            c.executemany("INSERT INTO object VALUES (?, ?)", [(r["id"], kind) for r in rows])
            marks = "".join(", ?" for _ in attrs)
            c.executemany(
                f'INSERT INTO "object_{omap[kind]}" VALUES (?, ?, NULL{marks})',
                [(r["id"], "1970-01-01 00:00:00", *(r[a] for a in attrs)) for r in rows],
            )
            if kind == "need":
                c.executemany(
                    "INSERT INTO object_object VALUES (?, ?, 'need of')",
                    [(r["id"], r["person_id"]) for r in rows],
                )
            elif kind == "case":
                c.executemany(
                    "INSERT INTO object_object VALUES (?, ?, 'held by')",
                    [(r["id"], r["org"]) for r in rows],
                )
        n = 0
        for batch in engine.to_batches(_linked_log(engine, "e.occurred_at, e.event_id")):
            rows = batch.to_pylist()
            c.executemany(
                "INSERT INTO event VALUES (?, ?)", [(r["event_id"], r["activity"]) for r in rows]
            )
            c.executemany(
                "INSERT INTO event_object VALUES (?, ?, ?)",
                [(r["event_id"], o, q) for r in rows for o, q in _relationships(r)],
            )
            by_type: dict[str, list[tuple[Any, ...]]] = {}
            for r in rows:
                by_type.setdefault(emap[r["activity"]], []).append(
                    (
                        r["event_id"],
                        r["occurred_at"].strftime("%Y-%m-%d %H:%M:%S.%f"),
                        *(r[a] for a in EVENT_ATTRS),
                    )
                )
            marks = ", ".join("?" for _ in range(2 + len(EVENT_ATTRS)))
            for m, values in by_type.items():
                c.executemany(f'INSERT INTO "event_{m}" VALUES ({marks})', values)
            n += len(rows)
        con.commit()
    finally:
        con.close()
    return n


def _unique_maps(names: list[str]) -> dict[str, str]:
    """A table-name-safe, unique map name for each type name."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = candidate = _type_map(name)
        k = 1
        while candidate.lower() in used:
            k += 1
            candidate = f"{base}{k}"
        used.add(candidate.lower())
        out[name] = candidate
    return out


def export_xes(engine: Engine, path: Path | str) -> int:
    """Write the linked log as XES, one trace per need episode; traces written."""
    return write_xes(
        path,
        engine.to_batches(_linked_log(engine, "ee.episode_id, ee.position")),
        case_col="episode_id",
        trace_cols={
            "concept:name": "episode_id",
            "person_id": "person_id",
            "need_type": "need_type",
            "end_reason": "end_reason",
            "need_org": "need_org",
        },
        event_cols={
            "concept:name": "activity",
            "time:timestamp": "occurred_at",
            "org:group": "org",
            "event_id": "event_id",
            "service": "service",
            "channel": "channel",
            "direction": "direction",
            "outcome": "outcome",
            "case_id": "case_id",
        },
    )
