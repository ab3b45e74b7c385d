"""Which columns of a people file are encoded, and how: the linkage schema.

A schema is a small YAML file, the same at every organisation apart from the column
names::

    id_col: Claimant ID
    bloom: {bits: 512, hashes: 10}
    fields:
      - {column: Forename, kind: forename}
      - {column: Surname, kind: surname}
      - {column: DOB, kind: dob}
      - {column: NINO, kind: exact_id, name: nino}

Fields are matched across organisations by ``name``; it defaults to the kind for the
kinds a person has one of (forename, surname, dob …) and to the column name, normalised,
for ``exact_id`` and ``text``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from joinedup.privacy._errors import PrivacyError


class Kind(StrEnum):
    """What an identity field holds, which decides how it is normalised and encoded."""

    FORENAME = "forename"
    SURNAME = "surname"
    FULLNAME = "fullname"
    DOB = "dob"
    SEX = "sex"
    POSTCODE = "postcode"
    ADDRESS = "address"
    EXACT_ID = "exact_id"
    TEXT = "text"


#: Kinds a person has at most one of: their field is named after the kind.
SINGLE = frozenset(
    {Kind.FORENAME, Kind.SURNAME, Kind.FULLNAME, Kind.DOB, Kind.SEX, Kind.POSTCODE, Kind.ADDRESS}
)


class FieldSpec(BaseModel):
    """One column to encode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    kind: Kind
    name: str = ""

    @model_validator(mode="after")
    def _default_name(self) -> FieldSpec:
        if not self.name:
            default = (
                self.kind.value
                if self.kind in SINGLE
                else re.sub(r"[^a-z0-9]+", "_", self.column.lower()).strip("_")
            )
            object.__setattr__(self, "name", default)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name) or "__" in self.name:
            raise ValueError(
                f"field name {self.name!r} must be lower-case letters, digits and single "
                "underscores, starting with a letter"
            )
        return self


class BloomSettings(BaseModel):
    """Size of each field's Bloom filter: ``bits`` (a power of two, 64 to 4096) and the
    number of bit positions each q-gram sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bits: int = Field(512, ge=64, le=4096)
    hashes: int = Field(10, ge=1, le=64)

    @field_validator("bits")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError(f"bits must be a power of two (64 … 4096), not {v}")
        return v

    @property
    def words(self) -> int:
        """Signed 64-bit words per filter."""
        return self.bits // 64


class Schema(BaseModel):
    """The local person reference column and the fields to encode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_col: str
    fields: tuple[FieldSpec, ...]
    bloom: BloomSettings = BloomSettings()

    @model_validator(mode="after")
    def _unique(self) -> Schema:
        if not self.fields:
            raise ValueError("a schema needs at least one field to encode")
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"field name(s) used twice: {', '.join(dupes)}")
        return self

    def field(self, kind: Kind) -> FieldSpec | None:
        """The field of a single-valued kind, if the schema has it."""
        return next((f for f in self.fields if f.kind == kind and f.name == kind.value), None)


#: The standard ``people`` table (model.PEOPLE) mapped onto kinds.
STANDARD = Schema(
    id_col="local_person_ref",
    fields=(
        FieldSpec(column="forename", kind=Kind.FORENAME),
        FieldSpec(column="surname", kind=Kind.SURNAME),
        FieldSpec(column="date_of_birth", kind=Kind.DOB),
        FieldSpec(column="sex", kind=Kind.SEX),
        FieldSpec(column="postcode", kind=Kind.POSTCODE),
        FieldSpec(column="address", kind=Kind.ADDRESS),
        FieldSpec(column="nino", kind=Kind.EXACT_ID),
        FieldSpec(column="nhs_number", kind=Kind.EXACT_ID),
    ),
)


def standard_schema(columns: list[str]) -> Schema | None:
    """The standard mapping restricted to the columns present, or None if it does not fit."""
    if STANDARD.id_col not in columns:
        return None
    fields = tuple(f for f in STANDARD.fields if f.column in columns)
    return Schema(id_col=STANDARD.id_col, fields=fields) if fields else None


def load_schema(path: Path | str) -> Schema:
    """Read a linkage schema from YAML."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PrivacyError(f"no linkage schema at {p}") from None
    except yaml.YAMLError as exc:
        raise PrivacyError(f"{p} is not valid YAML: {exc}") from None
    try:
        return Schema.model_validate(raw)
    except ValidationError as exc:
        raise PrivacyError(f"{p} is not a valid linkage schema: {_first(exc)}") from None


def schema_from_options(id_col: str, fields: list[str]) -> Schema:
    """A schema from ``--id-col`` and repeated ``--field COLUMN=KIND[:NAME]`` options."""
    specs = []
    for item in fields:
        column, sep, kind_name = item.rpartition("=")
        if not sep or not column:
            raise PrivacyError(f"--field {item!r}: expected COLUMN=KIND, e.g. DOB=dob")
        kind, _, name = kind_name.partition(":")
        if kind not in Kind.__members__.values():
            raise PrivacyError(
                f"--field {item!r}: unknown kind {kind!r}; expected one of "
                + ", ".join(k.value for k in Kind)
            )
        try:
            specs.append(FieldSpec(column=column, kind=Kind(kind), name=name))
        except ValidationError as exc:
            raise PrivacyError(f"--field {item!r}: {_first(exc)}") from None
    try:
        return Schema(id_col=id_col, fields=tuple(specs))
    except ValidationError as exc:
        raise PrivacyError(f"invalid fields: {_first(exc)}") from None


def _first(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(x) for x in e["loc"])
    return f"{where}: {e['msg']}" if where else str(e["msg"])
