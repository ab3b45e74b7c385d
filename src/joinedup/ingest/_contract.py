"""The data contract: how one organisation's export maps onto the standard tables.

A contract is a YAML file that a person can read and edit. It is validated with a typed
model; an error names the file, the line of the YAML and what is wrong.
"""

from __future__ import annotations

import codecs
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from joinedup.errors import ContractError
from joinedup.model import EVENTS, PEOPLE

__all__ = ["Contract", "ContractError", "FieldSpec", "TableSpec", "load_contract"]

_EVENT_FIELDS = set(EVENTS.names) - {"org", "source"}
_PEOPLE_FIELDS = set(PEOPLE.names) - {"org", "source"}


class FieldSpec(BaseModel):
    """Where one standard field comes from in the export."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = Field(None, description="the export's column holding the value")
    expression: str | None = Field(
        None, description="SQL (DuckDB dialect) over the export's columns, instead of a column"
    )
    type: Literal["string", "timestamp", "date"] = "string"
    format: str | list[str] | None = Field(
        None,
        description="strptime format(s) for text dates and times, e.g. %d/%m/%Y; with a "
        "list, the first that parses wins (so put the day-first one first for UK data)",
    )
    codes: dict[str, str] | None = Field(
        None, description="the export's codes mapped to standard values (e.g. channel codes)"
    )
    pattern: str | None = Field(
        None, description="a regular expression every non-empty value must match in full"
    )
    zero_pad: int | None = Field(
        None,
        ge=1,
        le=64,
        description="left-pad all-digit values with zeros to this width: restores the "
        "leading zeros of identifiers that a spreadsheet turned into numbers",
    )
    earliest: date | None = Field(
        None, description="dates and times before this are implausible (default 1900-01-01)"
    )
    latest: date | None = Field(
        None, description="dates and times after this are implausible (default: tomorrow)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        if (self.column is None) == (self.expression is None):
            raise ValueError("give exactly one of 'column' or 'expression'")
        if self.type == "string" and (self.format or self.earliest or self.latest):
            raise ValueError("'format', 'earliest' and 'latest' apply to dates and timestamps")
        if self.type != "string" and (self.codes or self.pattern or self.zero_pad):
            raise ValueError("'codes', 'pattern' and 'zero_pad' apply to text fields")
        formats = self.formats
        zoned = {("%z" in f or "%Z" in f) for f in formats}
        if len(zoned) > 1:
            raise ValueError("either every format carries a zone (%z) or none does")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"'pattern' is not a regular expression: {exc}") from exc
        return self

    @property
    def formats(self) -> list[str]:
        """The formats as a list (empty when the value is parsed without one)."""
        if self.format is None:
            return []
        return [self.format] if isinstance(self.format, str) else list(self.format)


class TableSpec(BaseModel):
    """One file (or sheet) of the export and its fields."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="path or glob pattern, relative to the contract file")
    sheet: str | None = Field(
        None, description="Excel sheet; sheets named '<sheet> 2', '<sheet> 3' … continue it"
    )
    table: str | None = Field(None, description="SQLite: the table to read")
    query: str | None = Field(None, description="SQLite: a SELECT to read instead of a table")
    object_type: str | None = Field(
        None,
        description="OCEL 2.0: read the objects of this type (e.g. for people) "
        "instead of the events",
    )
    fields: dict[str, FieldSpec]

    @model_validator(mode="after")
    def _table_or_query(self) -> TableSpec:
        if self.table is not None and self.query is not None:
            raise ValueError("give 'table' or 'query', not both")
        return self


class Contract(BaseModel):
    """A data contract for one organisation's export."""

    model_config = ConfigDict(extra="forbid")

    org: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    source: str
    format: Literal["csv", "parquet", "excel", "jsonl", "xes", "ocel", "sqlite"]
    encoding: str = "utf-8"
    delimiter: str = ","
    timezone: str = Field("UTC", description="zone of times written without an offset")
    frequency: Literal["daily", "weekly", "monthly", "quarterly", "adhoc"] = "monthly"
    identity_fields: list[str] = Field(default_factory=list)
    closed_outcomes: list[str] = Field(
        default_factory=list,
        description="outcomes that close a case; later activity on it is inconsistent",
    )

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {v!r}") from exc
        return v

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str) -> str:
        if len(v) != 1 or v in '"\r\n':
            raise ValueError("the delimiter must be one character, not a quote or newline")
        return v

    events: TableSpec | None = None
    people: TableSpec | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _fields_known(self) -> Contract:
        if self.events is None and self.people is None:
            raise ValueError("a contract needs an 'events' table, a 'people' table, or both")
        for name, spec, allowed, required in (
            ("events", self.events, _EVENT_FIELDS, {"event_id", "occurred_at"}),
            ("people", self.people, _PEOPLE_FIELDS, {"local_person_ref"}),
        ):
            if spec is None:
                continue
            unknown = set(spec.fields) - allowed
            if unknown:
                raise ValueError(
                    f"{name}: unknown standard field(s) {sorted(unknown)}; "
                    f"expected some of {sorted(allowed)}"
                )
            missing = required - set(spec.fields)
            if missing:
                raise ValueError(f"{name}: required field(s) {sorted(missing)} are not mapped")
            if self.format == "sqlite" and spec.table is None and spec.query is None:
                raise ValueError(f"{name}: a SQLite source needs 'table' or 'query'")
        unknown_ids = set(self.identity_fields) - _PEOPLE_FIELDS
        if unknown_ids:
            raise ValueError(
                f"identity_fields: {sorted(unknown_ids)} are not people fields; "
                f"expected some of {sorted(_PEOPLE_FIELDS)}"
            )
        return self

    # The folder the contract was read from; files are resolved against it.
    _base: Path = Path(".")

    def resolve(self, pattern: str) -> list[Path]:
        """The files a table's pattern names, in a stable order."""
        p = Path(pattern)
        base = p.parent if p.is_absolute() else self._base / p.parent
        return sorted(f.resolve() for f in base.glob(p.name))

    def to_yaml(self) -> str:
        """The contract as YAML, without defaults left unset."""
        data = self.model_dump(mode="json", exclude_none=True)
        if not data.get("closed_outcomes"):
            data.pop("closed_outcomes", None)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping["__lines__"] = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip(v) for k, v in data.items() if k != "__lines__"}
    return data


def _line_of(data: Any, loc: tuple[int | str, ...]) -> int | None:
    line = None
    for key in loc:
        if not isinstance(data, dict):
            break
        line = data.get("__lines__", {}).get(str(key), line)
        data = data.get(key)
    return line


def load_contract(path: Path | str) -> Contract:
    """Read and validate a contract; errors say which line is wrong and why."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"{path}: cannot read the contract ({exc.strerror})") from exc
    try:
        raw = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        raise ContractError(f"{path}, {where}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: expected a mapping of contract settings at the top")
    try:
        contract = Contract.model_validate(_strip(raw))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_of(raw, loc)
            field = ".".join(str(x) for x in loc) or "(top level)"
            at = f"line {line}, " if line else ""
            problems.append(f"{path}, {at}{field}: {err['msg']}")
        raise ContractError("\n".join(problems)) from exc
    contract._base = path.parent.resolve()
    return contract
