"""XES (IEEE 1849-2016) event logs: a streaming reader into Arrow, and a streaming writer.

Only what a flat event table needs: the attributes directly under ``<trace>`` (as
``case:<key>``, the usual convention) and under ``<event>``; nested attributes (lists,
containers) are skipped. The reader keeps document order in ``_row``.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast
from xml.sax.saxutils import quoteattr

import pyarrow as pa

from joinedup.journeys._errors import JourneysError

_TYPES = {"string", "date", "int", "float", "boolean", "id"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _value(kind: str, raw: str, where: str) -> Any:
    try:
        if kind == "date":
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "boolean":
            return raw.strip().lower() == "true"
    except ValueError as exc:
        raise JourneysError(f"{where}: cannot read {raw!r} as a {kind}") from exc
    return raw


def _open(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return cast(BinaryIO, gzip.GzipFile(path, "rb"))
    return path.open("rb")


def read_xes(path: Path | str) -> pa.Table:
    """Every event of an XES log as one row, with its trace's attributes and ``_row``."""
    path = Path(path)
    rows: list[dict[str, Any]] = []
    trace_attrs: dict[str, Any] = {}
    pending: list[dict[str, Any]] = []
    stack: list[str] = []
    n = 0
    try:
        with _open(path) as fh:
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                tag = _local(elem.tag)
                if event == "start":
                    stack.append(tag)
                    continue
                stack.pop()
                parent = stack[-1] if stack else None
                if tag in _TYPES and parent in ("event", "trace") and "key" in elem.attrib:
                    where = f"{path}, event {n + 1}"
                    value = _value(tag, elem.attrib.get("value", ""), where)
                    if parent == "event":
                        if not pending or "__open" not in pending[-1]:
                            pending.append({"__open": True})
                        pending[-1][elem.attrib["key"]] = value
                    else:
                        trace_attrs["case:" + elem.attrib["key"]] = value
                elif tag == "event" and parent == "trace":
                    if not pending or "__open" not in pending[-1]:
                        pending.append({})
                    pending[-1].pop("__open", None)
                    n += 1
                    pending[-1]["_row"] = n
                    elem.clear()
                elif tag == "trace":
                    for row in pending:
                        row.update(trace_attrs)
                    rows.extend(pending)
                    pending, trace_attrs = [], {}
                    elem.clear()
    except ET.ParseError as exc:
        raise JourneysError(f"{path}: not a readable XES file: {exc}") from exc
    return _to_table(rows)


def _to_table(rows: list[dict[str, Any]]) -> pa.Table:
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    columns: dict[str, pa.Array] = {}
    for key in keys:
        values = [row.get(key) for row in rows]
        try:
            arr = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = pa.array([None if v is None else str(v) for v in values], pa.string())
        if pa.types.is_timestamp(arr.type):
            arr = arr.cast(pa.timestamp("us", tz="UTC"))
        columns[key] = arr
    if "_row" not in columns:
        columns["_row"] = pa.array([], pa.int64())
    return pa.table(columns)


def _attr(key: str, value: Any) -> str:
    if isinstance(value, datetime):
        return f"<date key={quoteattr(key)} value={quoteattr(value.isoformat())}/>"
    if isinstance(value, bool):
        return f"<boolean key={quoteattr(key)} value={quoteattr(str(value).lower())}/>"
    if isinstance(value, int):
        return f"<int key={quoteattr(key)} value={quoteattr(str(value))}/>"
    if isinstance(value, float):
        return f"<float key={quoteattr(key)} value={quoteattr(repr(value))}/>"
    return f"<string key={quoteattr(key)} value={quoteattr(str(value))}/>"


def write_xes(
    path: Path | str,
    batches: Iterable[pa.RecordBatch],
    *,
    case_col: str,
    trace_cols: dict[str, str],
    event_cols: dict[str, str],
) -> int:
    """Write rows (already ordered by case, then event order) as an XES log; traces written.

    ``trace_cols`` and ``event_cols`` map XES keys to column names.
    """
    path = Path(path)
    traces = 0
    current: object = None
    with path.open("w", encoding="utf-8") as out:
        out.write(_HEADER)
        for row in _rows(batches):
            case = row[case_col]
            if case != current:
                if current is not None:
                    out.write("\t</trace>\n")
                out.write("\t<trace>\n")
                for key, col in trace_cols.items():
                    if row.get(col) is not None:
                        out.write(f"\t\t{_attr(key, row[col])}\n")
                current = case
                traces += 1
            out.write("\t\t<event>\n")
            for key, col in event_cols.items():
                if row.get(col) is not None:
                    out.write(f"\t\t\t{_attr(key, row[col])}\n")
            out.write("\t\t</event>\n")
        if current is not None:
            out.write("\t</trace>\n")
        out.write("</log>\n")
    return traces


def _rows(batches: Iterable[pa.RecordBatch]) -> Iterator[dict[str, Any]]:
    for batch in batches:
        yield from batch.to_pylist()


_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xes.features="" xmlns="http://www.xes-standard.org/">
\t<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
\t<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
\t<extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
\t<extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
\t<global scope="trace">
\t\t<string key="concept:name" value="__INVALID__"/>
\t</global>
\t<global scope="event">
\t\t<string key="concept:name" value="__INVALID__"/>
\t\t<date key="time:timestamp" value="1970-01-01T00:00:00+00:00"/>
\t</global>
\t<classifier name="Activity" keys="concept:name"/>
"""
