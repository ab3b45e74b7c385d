"""Propose a data contract from an export: format, encoding, delimiter, date formats, and
which columns look like the standard fields. A person then checks and edits it.

Guesses come from a sample of rows: a column's name (``Contact Date``, ``patient_id``)
and its values (do they parse as dates, are they all different, do they look like NHS
numbers or postcodes). Codes for channels and directions are mapped by keyword; anything
the guesser cannot place is left out, so its rows are quarantined rather than mislabelled.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from joinedup.ingest._checks import nhs_valid, nino_valid, postcode_valid
from joinedup.ingest._contract import Contract, ContractError, FieldSpec, TableSpec

SAMPLE_ROWS = 20_000

#: Candidate date and time formats, day-first before month-first (UK exports).
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d-%m-%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d %b %Y %H:%M",
)
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%m/%d/%Y", "%d %b %Y", "%Y%m%d")

_CHANNEL_WORDS = (
    ("webchat", ("chat", "c")),
    ("email", ("email", "e-mail", "eml", "mail", "e")),
    ("face_to_face", ("f2f", "person", "visit", "face", "counter", "office", "v")),
    ("phone", ("tel", "phone", "call", "p")),
    ("web", ("web", "online", "portal", "digital", "internet", "o", "w")),
    ("letter", ("letter", "ltr", "post", "paper", "l")),
)
_DIRECTION_WORDS = (
    ("in", ("in", "inbound", "incoming", "received", "contact", "customer", "patient", "i")),
    ("out", ("out", "outbound", "outgoing", "sent", "action", "practice", "staff", "o")),
)

#: Name patterns for the standard fields, most specific first; matched on the column
#: name in lower case with separators turned into spaces.
_NAMES: dict[str, tuple[str, ...]] = {
    "event_id": (
        r"ocel eid",
        r"(contact|event|interaction|encounter|activity|transaction|call) ?(id|ref|no|number)",
        r"^ref$",
        r"^id$",
    ),
    "case_ref": (
        r"case ?(id|ref|no|number)",
        r"(claim|episode|application) ?(id|ref|no|number)",
        r"case concept name",
    ),
    "local_person_ref": (
        r"(person|patient|claimant|customer|resident|taxpayer|client|citizen|applicant)"
        r" ?(id|ref|no|number)",
        r"ocel object (person|customer|citizen|patient)",
    ),
    "occurred_at": (
        r"(occurred|contact|event|logged|start|created|received) ?(at|date|time|ts)?$",
        r"time ?stamp",
        r"^ts$",
        r"^(date|time|when|datetime)$",
        r"ocel timestamp",
        r"time timestamp",
    ),
    "date_of_birth": (r"(dob|birth)",),
    "channel": (r"(channel|method|mode|medium|contact method)( code)?$",),
    "direction": (r"(direction|flow|initiated by|inbound outbound)",),
    "activity": (
        r"(activity|interaction type|contact type|reason|concept name|ocel activity|^type$)",
    ),
    "service": (r"(service|benefit|regime|service area|department)",),
    "note": (r"(note|notes|memo|free ?text|comment|description|narrative)",),
    "outcome": (r"(outcome|status|result|disposition|resolution)",),
    "nhs_number": (r"nhs",),
    "nino": (r"(nino|ni ?number|national insurance)",),
    "forename": (r"(forename|first ?name|given ?name)",),
    "surname": (r"(surname|last ?name|family ?name)",),
    "sex": (r"^(sex|gender)$",),
    "postcode": (r"post ?code",),
    "address": (r"address",),
}
_EVENT_FIELDS = (
    "event_id",
    "case_ref",
    "local_person_ref",
    "occurred_at",
    "channel",
    "direction",
    "activity",
    "service",
    "note",
    "outcome",
)
_PEOPLE_FIELDS = (
    "local_person_ref",
    "forename",
    "surname",
    "date_of_birth",
    "sex",
    "postcode",
    "address",
    "nino",
    "nhs_number",
)


@dataclass
class _Sample:
    """A sample of one table of an export, as text, with any types the file declares."""

    columns: list[str]
    rows: list[dict[str, str | None]]
    types: dict[str, str]  # column -> "timestamp" | "date" for typed sources
    sheet: str | None = None

    def values(self, column: str) -> list[str]:
        return [v for r in self.rows if (v := r.get(column))]


def _format_of(path: Path) -> str:
    name = path.name.lower()
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"SQLite format 3"):
        return "sqlite"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04") or name.endswith((".xlsx", ".xlsm")):
        return "excel"
    if name.endswith((".xes", ".xes.gz")):
        return "xes"
    if name.endswith(".jsonocel") or (name.endswith(".json") and b'"objectTypes"' in head):
        return "ocel"
    if name.endswith((".jsonl", ".ndjson")) or (
        name.endswith(".json") and head.lstrip().startswith(b"{") and b"\n{" in head
    ):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "csv"


def _encoding(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "windows-1252"
    return "utf-8"


def _text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v) if not isinstance(v, (dict, list)) else json.dumps(v)


def _samples(path: Path, fmt: str, encoding: str, delimiter: str) -> list[_Sample]:
    from joinedup.ingest import _formats
    from joinedup.ingest._excel import read_excel, sheet_names

    if fmt == "csv":
        with path.open(encoding=encoding, errors="replace", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            rows = [r for _, r in zip(range(SAMPLE_ROWS), reader, strict=False)]
            cols = [c.strip() for c in reader.fieldnames or []]
        rows = [{k.strip(): v for k, v in r.items() if isinstance(k, str)} for r in rows]
        return [_Sample(cols, rows, {})]
    if fmt == "parquet":
        pf = pq.ParquetFile(path)
        batch = next(pf.iter_batches(batch_size=SAMPLE_ROWS), None)
        table = (
            pa.Table.from_batches([batch]) if batch is not None else pf.schema_arrow.empty_table()
        )
        types = {}
        for f in table.schema:
            if pa.types.is_timestamp(f.type):
                types[f.name] = "timestamp"
            elif pa.types.is_date(f.type):
                types[f.name] = "date"
        rows = [{k: _text(v) for k, v in r.items()} for r in table.to_pylist()]
        return [_Sample(table.column_names, rows, types)]
    if fmt == "jsonl":
        rows, cols = [], []
        with path.open(encoding=encoding, errors="replace") as fh:
            for _, line in zip(range(SAMPLE_ROWS), fh, strict=False):
                if line.strip():
                    obj = json.loads(line)
                    rows.append({k: _text(v) for k, v in obj.items()})
                    cols.extend(k for k in obj if k not in cols)
        return [_Sample(cols, rows, {})]
    if fmt == "excel":
        names = sheet_names(path)
        firsts = [
            n for n in names if not re.fullmatch(r".+ \d+", n) or n.rsplit(" ", 1)[0] not in names
        ]
        out = []
        for sheet in firsts:
            part = next(iter(read_excel(path, sheet, limit=SAMPLE_ROWS)), None)
            if part is None:
                continue
            cols = [c for c in part.column_names if c not in ("_file", "_row")]
            out.append(_Sample(cols, part.select(cols).to_pylist(), {}, sheet=sheet))
        return out
    if fmt == "xes":
        t = _formats.read_xes(path)
    elif fmt == "ocel":
        t = _formats.read_ocel(path)
    else:
        raise ContractError(
            f"{path}: a SQLite database needs a table or query, so its contract is written "
            "by hand (see docs/ingest.md)"
        )
    cols = [c for c in t.column_names if c not in ("_file", "_row")]
    return [_Sample(cols, t.select(cols).slice(0, SAMPLE_ROWS).to_pylist(), {})]


def _norm(column: str) -> str:
    return re.sub(r"[\s_:\-./]+", " ", column.lower()).strip()


def _share(values: list[str], ok: Callable[[str], bool]) -> float:
    return sum(1 for v in values if ok(v)) / len(values) if values else 0.0


def _parses(fmt: str) -> Callable[[str], bool]:
    def ok(v: str) -> bool:
        try:
            datetime.strptime(v.strip(), fmt)
        except ValueError:
            return False
        return True

    return ok


def _date_format(values: list[str], formats: tuple[str, ...]) -> str | None:
    """The format that parses the most values (at least 95% of them), earliest on a tie."""
    probe = values[:2000]
    best, score = None, 0.95
    for fmt in formats:
        s = _share(probe, _parses(fmt))
        if s > score:
            best, score = fmt, s
    return best


def _codes(
    values: list[str], words: tuple[tuple[str, tuple[str, ...]], ...]
) -> dict[str, str] | None:
    distinct = sorted(set(v.strip() for v in values))
    if not distinct or len(distinct) > 20:
        return None
    out: dict[str, str] = {}
    for code in distinct:
        low = code.lower()
        tokens = set(re.split(r"[^a-z0-9]+", low))
        for std, keys in words:
            if (
                low in keys
                or any(k in tokens for k in keys)
                or any(len(k) > 2 and k in low for k in keys)
            ):
                out[code] = std
                break
    return out if out else None


def _guess(sample: _Sample) -> dict[str, FieldSpec]:
    """Standard field → FieldSpec for one table sample."""
    found: dict[str, FieldSpec] = {}
    used: set[str] = set()
    n = len(sample.rows)

    def take(std: str, column: str, **kw: Any) -> None:
        found[std] = FieldSpec(column=column, **kw)
        used.add(column)

    # By value first: identifiers with a check digit or a strict shape.
    for col in sample.columns:
        vals = sample.values(col)
        if not vals:
            continue
        if "nhs_number" not in found and _share(vals, nhs_valid) > 0.9:
            take("nhs_number", col)
        elif "nino" not in found and _share(vals, nino_valid) > 0.9:
            take("nino", col)
        elif "postcode" not in found and _share(vals, postcode_valid) > 0.9:
            take("postcode", col)
    # A column of two codes, one inbound and one outbound, is the direction.
    for col in sample.columns:
        vals = sample.values(col)
        if col in used or not vals or len(set(vals)) != 2:
            continue
        codes = _codes(vals, _DIRECTION_WORDS)
        if codes and len(codes) == 2 and set(codes.values()) == {"in", "out"}:
            take("direction", col, codes=codes)
            break
    for std, patterns in _NAMES.items():
        if std in found:
            continue
        for pattern in patterns:
            match = next(
                (c for c in sample.columns if c not in used and re.search(pattern, _norm(c))), None
            )
            if match is None:
                continue
            col = match
            vals = sample.values(col)
            if std in ("occurred_at", "date_of_birth"):
                kind = "timestamp" if std == "occurred_at" else "date"
                if sample.types.get(col) in ("timestamp", "date"):
                    take(std, col, type=kind)
                    break
                fmt = _date_format(vals, _TIME_FORMATS if kind == "timestamp" else _DATE_FORMATS)
                if fmt is None:  # dates with a midnight time, or events with a date only
                    fmt = _date_format(vals, _TIME_FORMATS if kind == "date" else _DATE_FORMATS)
                if fmt is not None:
                    take(std, col, type=kind, format=fmt)
                    break
                continue
            if std == "channel":
                codes = _codes(vals, _CHANNEL_WORDS)
                if codes:
                    take(std, col, codes=codes)
                    break
                continue
            if std == "direction":
                codes = _codes(vals, _DIRECTION_WORDS)
                if codes and len(set(codes.values())) == 2:
                    take(std, col, codes=codes)
                    break
                continue
            if std == "event_id" and n and len(set(vals)) < 0.99 * len(vals):
                continue  # an event id is different on every row
            take(std, col)
            break
    if "occurred_at" not in found:  # any column whose values are all dates and times
        for col in sample.columns:
            if col in used:
                continue
            fmt = _date_format(sample.values(col), _TIME_FORMATS)
            if fmt and sample.values(col):
                take("occurred_at", col, type="timestamp", format=fmt)
                break
    return found


def infer_contract(
    path: Path | str,
    org: str,
    *,
    source: str | None = None,
    file: str | None = None,
) -> Contract:
    """A proposed contract for one export file (a workbook may give both tables).

    ``file`` is the path written into the contract (default: ``path`` as given), which
    ``load`` resolves against the folder the contract is saved in.
    """
    path = Path(path)
    if not path.is_file():
        raise ContractError(f"{path}: no such file")
    fmt = _format_of(path)
    encoding = _encoding(path) if fmt in ("csv", "jsonl") else "utf-8"
    delimiter = ","
    if fmt == "csv":
        with path.open(encoding=encoding, errors="replace", newline="") as fh:
            head = fh.read(65536)
        try:
            delimiter = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    samples = _samples(path, fmt, encoding, delimiter)
    events: TableSpec | None = None
    people: TableSpec | None = None
    zoned = False
    for sample in samples:
        fields = _guess(sample)
        is_events = "event_id" in fields and "occurred_at" in fields
        target = file or str(path)
        if is_events and events is None:
            kept = {k: v for k, v in fields.items() if k in _EVENT_FIELDS}
            events = TableSpec(file=target, sheet=sample.sheet, fields=kept)
            fmts = kept["occurred_at"].formats
            zoned = sample.types.get(kept["occurred_at"].column or "") == "timestamp" or any(
                f.endswith(("Z", "%z")) for f in fmts
            )
        elif "local_person_ref" in fields and people is None:
            kept = {k: v for k, v in fields.items() if k in _PEOPLE_FIELDS}
            if len(kept) > 1:
                people = TableSpec(file=target, sheet=sample.sheet, fields=kept)
    if events is None and people is None:
        raise ContractError(
            f"{path}: found neither an event id and a date-time column (for events) nor a "
            f"person reference with identity columns (for people); columns are "
            f"{samples[0].columns if samples else []}; write the contract by hand"
        )
    identity = [f for f in _PEOPLE_FIELDS[1:] if people is not None and f in people.fields]
    return Contract(
        org=org,
        source=source or f"{org}-{path.name.split('.')[0].lower().replace('_', '-')}",
        format=fmt,
        encoding=encoding,
        delimiter=delimiter,
        timezone="UTC" if zoned or events is None else "Europe/London",
        identity_fields=identity,
        events=events,
        people=people,
    )


def contract_yaml(contract: Contract, path: Path | str) -> str:
    """The proposed contract as YAML, with a note of what to check."""
    lines = [
        f"# Proposed by `joinedup contract infer` from {path}.",
        "# Check every mapping, the time zone and the code lists before loading: values a",
        "# code list leaves out are quarantined, not guessed. Paths are relative to the",
        "# folder this file is saved in.",
    ]
    return "\n".join(lines) + "\n" + contract.to_yaml()
