"""Process-mining and database sources: XES, OCEL 2.0 JSON and SQLite, as text tables.

Each reader returns an Arrow table of text with ``_file`` and ``_row`` (1-based, in file
order) beside the source's own columns, as the CSV reader does, so a contract maps and
checks them the same way.

- XES (IEEE 1849): one row per event; event attributes keep their keys
  (``concept:name``, ``time:timestamp``, ``org:resource`` …) and the trace's attributes
  are prefixed ``case:`` (so the case id is ``case:concept:name``). Streamed with
  ``iterparse``; gzip-compressed logs (``.xes.gz``) are read directly.
- OCEL 2.0 JSON: one row per event with ``ocel:eid``, ``ocel:activity``,
  ``ocel:timestamp``, its attributes, and ``ocel:object:<type>`` holding the first
  related object of each type; or, with the table's ``object_type``, one row per object
  of that type with ``ocel:oid`` and its attributes (their latest values).
- SQLite: a table or a query, through Python's own ``sqlite3``, opened read-only.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, cast

import pyarrow as pa

from joinedup.ingest._contract import ContractError

_XES_VALUES = {"string", "date", "int", "float", "boolean", "id"}


def _table(path: Path, rows: Iterable[dict[str, str | None]]) -> pa.Table:
    columns: dict[str, list[str | None]] = {}
    n = 0
    for row in rows:
        for k, v in row.items():
            if k not in columns:
                columns[k] = [None] * n
            columns[k].append(v)
        n += 1
        for col in columns.values():
            if len(col) < n:
                col.append(None)
    data: dict[str, Any] = {"_row": list(range(1, n + 1)), "_file": [str(path)] * n}
    for k, col in columns.items():
        data[k] = pa.array(col, pa.string())
    return pa.table(data)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def read_xes(path: Path) -> pa.Table:
    """An XES event log, one row per event."""
    return _table(path, _xes_rows(path))


def _xes_rows(path: Path) -> Iterable[dict[str, str | None]]:
    stack: list[str] = []
    trace: dict[str, str | None] = {}
    events: list[dict[str, str | None]] = []
    event: dict[str, str | None] | None = None
    try:
        with _open(path) as fh:
            for kind, elem in ET.iterparse(fh, events=("start", "end")):
                tag = _local(elem.tag)
                if kind == "start":
                    stack.append(tag)
                    if tag == "trace":
                        trace, events = {}, []
                    elif tag == "event":
                        event = {}
                    continue
                stack.pop()
                parent = stack[-1] if stack else None
                if tag in _XES_VALUES and "key" in elem.attrib:
                    key, value = elem.attrib["key"], elem.attrib.get("value")
                    if parent == "event" and event is not None:
                        event[key] = value
                    elif parent == "trace":
                        trace["case:" + key] = value
                elif tag == "event" and event is not None:
                    events.append(event)
                    event = None
                    if parent != "trace":  # an event outside any trace
                        yield events.pop()
                elif tag == "trace":
                    for e in events:
                        yield {**trace, **e}
                    events = []
                    elem.clear()
    except ET.ParseError as exc:
        raise ContractError(f"{path}: not a well-formed XES (XML) file: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise ContractError(f"{path}: cannot be read as XES: {exc}") from exc


def read_ocel(path: Path, object_type: str | None = None) -> pa.Table:
    """An OCEL 2.0 JSON log: its events, or its objects of one type."""
    try:
        with _open(path) as fh:
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path}: not an OCEL 2.0 JSON file: {exc}") from exc
    if not isinstance(doc, dict) or "events" not in doc or "objects" not in doc:
        raise ContractError(f"{path}: not an OCEL 2.0 JSON file (no 'events' and 'objects')")
    kinds = {str(o["id"]): str(o["type"]) for o in doc["objects"]}
    if object_type is not None:
        known = sorted(set(kinds.values()))
        if object_type not in known:
            raise ContractError(f"{path}: no objects of type {object_type!r}; the log has {known}")
        return _table(path, _ocel_objects(doc["objects"], object_type))
    return _table(path, _ocel_events(doc["events"], kinds))


def _text(v: object) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else json.dumps(v)


def _ocel_events(
    events: list[dict[str, Any]], kinds: dict[str, str]
) -> Iterable[dict[str, str | None]]:
    for e in events:
        row: dict[str, str | None] = {
            "ocel:eid": _text(e.get("id")),
            "ocel:activity": _text(e.get("type")),
            "ocel:timestamp": _text(e.get("time")),
        }
        for a in e.get("attributes") or []:
            row[str(a["name"])] = _text(a.get("value"))
        for rel in e.get("relationships") or []:
            oid = str(rel["objectId"])
            row.setdefault(f"ocel:object:{kinds.get(oid, 'unknown')}", oid)
        yield row


def _ocel_objects(
    objects: list[dict[str, Any]], object_type: str
) -> Iterable[dict[str, str | None]]:
    for o in objects:
        if o.get("type") != object_type:
            continue
        row: dict[str, str | None] = {"ocel:oid": _text(o.get("id")), "ocel:type": object_type}
        # An attribute may change over time; keep its latest value.
        for a in sorted(o.get("attributes") or [], key=lambda a: str(a.get("time", ""))):
            row[str(a["name"])] = _text(a.get("value"))
        yield row


def read_sqlite(path: Path, table: str | None, query: str | None) -> pa.Table:
    """A table of a SQLite database, or the result of a query on it, as text."""
    sql = query or 'SELECT * FROM "' + str(table).replace('"', '""') + '"'
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ContractError(f"{path}: cannot open the SQLite database: {exc}") from exc
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        rows = (
            {
                n: (None if v is None else v if isinstance(v, str) else str(v))
                for n, v in zip(names, r, strict=True)
            }
            for r in cur
        )
        out = _table(path, rows)
        for n in names:  # an empty result still has its columns
            if n not in out.column_names:
                out = out.append_column(n, pa.array([None] * out.num_rows, pa.string()))
        return out
    except sqlite3.Error as exc:
        what = f"query {query!r}" if query else f"table {table!r}"
        raise ContractError(f"{path}: cannot read {what}: {exc}") from exc
    finally:
        con.close()
