"""Reading and checking the encoded files the hub receives, before any linkage runs.

Every check here turns a silent failure into an error a person can act on: a file made
with another secret links nothing (its key check differs), a field encoded two ways
compares nonsense, an empty file or a missing column is a broken export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from joinedup.link._errors import DifferentSecretsError, LinkageError, SchemaMismatchError
from joinedup.privacy import (
    EmptyInputError,
    MissingFieldError,
    Pseudonymised,
    Schema,
    header_of,
    pseudonymise,
)
from joinedup.privacy._encode import FUZZY, TOKENISED, Kind
from joinedup.privacy._pseudonymise import read_people

#: What ``link`` accepts for one organisation.
Input: TypeAlias = Path | str | pa.Table | Pseudonymised


@dataclass
class Party:
    """One organisation's encodings, ready for the model: in memory (``table``), or in
    an encoded Parquet file (``path``) read by the engine only when it links, so that
    the records are held once, by the engine, and not also by Python."""

    org: str
    name: str  # where it came from, for messages
    schema: pa.Schema
    rows: int
    header: dict[str, Any]
    table: pa.Table | None = None
    path: Path | None = None

    def read(self) -> pa.Table:
        """The encodings as an Arrow table."""
        if self.table is not None:
            return self.table
        assert self.path is not None
        return pq.read_table(self.path)


def expected_columns(name: str, kind: Kind, mode: str, words: int) -> list[str]:
    """The encoding columns a field of this kind must have."""
    cols: list[str] = []
    if kind in TOKENISED:
        cols.append(f"{name}__tok")
    if kind == Kind.DOB:
        cols.append(f"{name}__swap")
    if kind == Kind.POSTCODE:
        cols.append(f"{name}__out")
    if kind == Kind.FORENAME:
        cols.append(f"{name}__alias")
    if kind == Kind.SURNAME:
        cols.append(f"{name}__parts")
    if kind in FUZZY:
        if mode == "keyed":
            cols += [f"{name}__bf{w}" for w in range(words)] + [f"{name}__pop"]
        else:
            cols.append(f"{name}__txt")
    return cols


def load(inputs: Sequence[Input], *, plaintext: bool, schema: Schema | None = None) -> list[Party]:
    """Read and check every input; in plain mode, people files are encoded plainly first."""
    if len(inputs) < 2:
        raise LinkageError(f"linkage needs two or more organisations' files, got {len(inputs)}")
    parties = [_read(item, plaintext, schema) for item in inputs]
    _check(parties, plaintext)
    return parties


def _read(item: Input, plaintext: bool, schema: Schema | None) -> Party:
    table: pa.Table | None = None
    found: pa.Schema | None = None
    rows, path = 0, None
    if isinstance(item, Pseudonymised):
        table, name = item.table, str(item.path or f"encodings of {item.org}")
    elif isinstance(item, pa.Table):
        table, name = item, "table given"
    else:
        p = Path(item)
        if not p.exists():
            raise LinkageError(f"no such file: {p}")
        name = str(p)
        if p.suffix.lower() == ".parquet":
            # Only the footer is read here: the records stay on disk until the engine
            # reads them for the linkage.
            try:
                with pq.ParquetFile(p) as meta:
                    found, rows, path = meta.schema_arrow, meta.metadata.num_rows, p
            except (pa.ArrowInvalid, OSError) as exc:
                raise LinkageError(f"{p} is not a readable Parquet file: {exc}") from None
    if table is not None:
        found, rows = table.schema, table.num_rows
    header = None if found is None else header_of(found)
    if header is None:
        if not plaintext:
            raise LinkageError(
                f"{name} is not an encoded file (no joinedup encoding header): run "
                "`joinedup pseudonymise` on it first, or link plain people files with "
                "--plaintext inside a trusted research environment"
            )
        source = table if table is not None else Path(name)
        table, header = _encode_plain(source, name, schema)
        found, rows, path = table.schema, table.num_rows, None
    assert found is not None
    if header.get("format") != "joinedup-encoding":
        raise LinkageError(f"{name}: unknown encoding format {header.get('format')!r}")
    if header["mode"] == "keyed" and plaintext:
        raise LinkageError(f"{name} is encoded with a secret; link it without --plaintext")
    if header["mode"] == "plain" and not plaintext:
        raise LinkageError(f"{name} holds plain values; link it with --plaintext")
    if rows == 0:
        raise EmptyInputError(f"{name} holds no records for organisation {header['org']!r}")
    return Party(str(header["org"]), name, found, rows, header, table=table, path=path)


def _encode_plain(
    source: Path | pa.Table, name: str, schema: Schema | None
) -> tuple[pa.Table, dict[str, Any]]:
    """A plain people file or table, encoded without a secret: the same normalisation
    and columns as the keyed path, with text where the keyed path has filters."""
    people = read_people(source, None)
    org = None
    if "org" in people.column_names:
        orgs = pc.unique(people.column("org")).to_pylist()
        if len(orgs) != 1:
            raise LinkageError(
                f"{name}: a people file for linkage holds one organisation, found {len(orgs)}"
            )
        org = str(orgs[0])
    elif isinstance(source, Path):
        org = source.stem
    else:
        raise LinkageError(f"{name}: a plain people table needs an org column")
    res = pseudonymise(people, org=org, secret=None, schema=schema)
    return res.table, res.header


def _check(parties: list[Party], plaintext: bool) -> None:
    first = parties[0]
    seen: dict[str, str] = {}
    for p in parties:
        if p.org in seen:
            raise LinkageError(
                f"{seen[p.org]} and {p.name} are both organisation {p.org!r}: "
                "give each organisation's file once"
            )
        seen[p.org] = p.name
        for key in ("version", "mode"):
            if p.header[key] != first.header[key]:
                raise SchemaMismatchError(
                    f"{first.name} and {p.name} differ in encoding {key}: "
                    f"{first.header[key]} vs {p.header[key]}; encode both with the same release"
                )
        if p.header["bloom"] != first.header["bloom"]:
            raise SchemaMismatchError(
                f"{first.name} and {p.name} use different Bloom filter settings "
                f"({first.header['bloom']} vs {p.header['bloom']}): every organisation must "
                "use the same linkage schema settings"
            )
        if not plaintext and p.header["key_check"] != first.header["key_check"]:
            raise DifferentSecretsError(
                f"{first.name} and {p.name} were encoded with different secrets (their key "
                "checks differ), so none of their records could ever match: every "
                "organisation must use the secret of the data-sharing agreement"
            )
    kinds: dict[str, tuple[str, str]] = {}
    for p in parties:
        for f in p.header["fields"]:
            prev = kinds.setdefault(f["name"], (f["kind"], p.name))
            if prev[0] != f["kind"]:
                raise SchemaMismatchError(
                    f"field {f['name']!r} is a {prev[0]} in {prev[1]} but a {f['kind']} in "
                    f"{p.name}: use the same linkage schema at every organisation"
                )
            want = expected_columns(f["name"], Kind(f["kind"]), p.header["mode"], words(p.header))
            missing = [c for c in want if c not in p.schema.names]
            if missing:
                raise MissingFieldError(
                    f"{p.name}: field {f['name']!r} is declared but its column(s) "
                    f"{', '.join(missing)} are missing; the file is damaged or was edited"
                )
    shared = shared_fields(parties)
    if not shared:
        raise SchemaMismatchError(
            "the files share no identity field, so there is nothing to compare: "
            + "; ".join(
                f"{p.name}: {', '.join(f['name'] for f in p.header['fields'])}" for p in parties
            )
        )


def words(header: dict[str, Any]) -> int:
    """Signed 64-bit words per Bloom filter."""
    return int(header["bloom"]["bits"]) // 64


def shared_fields(parties: list[Party]) -> dict[str, Kind]:
    """Fields at least two organisations hold (only those can be compared)."""
    count: dict[str, int] = {}
    kinds: dict[str, Kind] = {}
    for p in parties:
        for f in p.header["fields"]:
            count[f["name"]] = count.get(f["name"], 0) + 1
            kinds[f["name"]] = Kind(f["kind"])
    return {n: kinds[n] for n in kinds if count[n] >= 2}


def column_types(parties: list[Party]) -> dict[str, pa.DataType]:
    """Every column any party has, in order, with its type: each party's table is
    linked with all of them (a field one organisation lacks is all missing there,
    compared as 'no information')."""
    types: dict[str, pa.DataType] = {}
    for p in parties:
        for fld in p.schema:
            types.setdefault(fld.name, fld.type)
    return types


def harmonise(parties: list[Party]) -> list[pa.Table]:
    """Every party's table as Arrow, with the same columns in the same order."""
    types = column_types(parties)
    out = []
    for p in parties:
        t = p.read().replace_schema_metadata(None)
        cols = [
            t.column(c) if c in t.column_names else pa.nulls(t.num_rows, types[c]) for c in types
        ]
        out.append(pa.table(cols, names=list(types)))
    return out
