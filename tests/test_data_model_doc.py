"""docs/data-model.md documents every column of every table in joinedup.model, with the
schema's type and nullability, in the schema's order."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from joinedup import model

DOC = Path(__file__).resolve().parent.parent / "docs" / "data-model.md"

#: The type names the document uses, as Arrow types (the document's legend says the same).
TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list of string": pa.list_(pa.string()),
}

#: Every table the document must describe: the standard tables, the demand table with
#: its optional root-cause column, and the tables the value stage writes.
DOCUMENTED: dict[str, pa.Schema] = {
    **model.STANDARD_TABLES,
    "demand": model.DEMAND.append(model.DEMAND_CAUSE),
    "value_ledger": model.VALUE_LEDGER,
    "cost_shunting": model.COST_SHUNTING,
}

_ROW = re.compile(r"^\| `(?P<name>[a-z_]+)` \| (?P<type>[^|]+?) \| .+\|$")


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _columns(section: str) -> list[tuple[str, str]]:
    """(column, type text) of the section's column table."""
    lines = section.splitlines()
    start = lines.index("| column | type | meaning |")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        m = _ROW.match(line)
        assert m, f"cannot read the column row {line!r}"
        rows.append((m["name"], m["type"]))
    return rows


def _as_documented(field: pa.Field) -> str:
    names = [k for k, t in TYPES.items() if t == field.type]
    assert names, f"{field.name}: no documented name for type {field.type}"
    return names[0] + ("" if field.nullable else ", not null")


@pytest.mark.parametrize("table", sorted(DOCUMENTED))
def test_every_column_is_documented_with_its_type(table: str) -> None:
    sections = _sections(DOC.read_text(encoding="utf-8"))
    assert table in sections, f"docs/data-model.md has no section '## {table}'"
    expected = [(f.name, _as_documented(f)) for f in DOCUMENTED[table]]
    assert _columns(sections[table]) == expected


def test_every_documented_table_is_in_the_model() -> None:
    sections = _sections(DOC.read_text(encoding="utf-8"))
    tables = {name for name, body in sections.items() if "| column | type | meaning |" in body}
    assert tables == set(DOCUMENTED)
