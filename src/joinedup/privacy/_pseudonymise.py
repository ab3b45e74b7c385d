"""Pseudonymise one organisation's people: read, check, encode, write with a header."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from joinedup.privacy import _parts
from joinedup.privacy._encode import VERSION, key_check
from joinedup.privacy._errors import EmptyInputError, MissingFieldError, PrivacyError, SecretError
from joinedup.privacy._schema import Schema, standard_schema
from joinedup.workspace import DB_FILE, Workspace

#: Key of the header stored in the Parquet file's metadata.
HEADER_KEY = b"joinedup.encoding"
#: Environment variable read for the secret when no secret file is given.
SECRET_ENV = "JOINEDUP_SECRET"
_MIN_SECRET = 16


@dataclass
class Pseudonymised:
    """An organisation's encodings and the header that describes them."""

    table: pa.Table
    header: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    path: Path | None = None

    @property
    def org(self) -> str:
        return str(self.header["org"])


def read_secret(secret_file: Path | str | None = None, env: str = SECRET_ENV) -> bytes:
    """The shared secret, from a file or else an environment variable (never argv).

    Surrounding white space (a trailing newline) is not part of the secret.
    """
    if secret_file is not None:
        p = Path(secret_file)
        try:
            secret = p.read_bytes().strip()
        except OSError as exc:
            raise SecretError(f"cannot read the secret file {p}: {exc.strerror}") from None
        where = f"secret file {p}"
    else:
        value = os.environ.get(env)
        if value is None:
            raise SecretError(
                f"no secret: give --secret-file KEY or set the environment variable {env}"
            )
        secret, where = value.strip().encode(), f"environment variable {env}"
    if len(secret) < _MIN_SECRET:
        raise SecretError(
            f"the {where} holds {len(secret)} bytes; a secret needs at least {_MIN_SECRET} "
            "(for example 32 random bytes, hex-encoded)"
        )
    return secret


def read_people(source: Workspace | Path | str | pa.Table, org: str | None) -> pa.Table:
    """An organisation's people from a workspace, a CSV or Parquet file, or Arrow."""
    if isinstance(source, Workspace):
        return _workspace_people(source, org)
    if isinstance(source, pa.Table):
        table, where = source, "the table given"
    else:
        p = Path(source)
        if p.is_dir():
            if not (p / DB_FILE).exists():
                raise PrivacyError(f"{p} is a folder but not a workspace (no {DB_FILE})")
            with Workspace(p, create=False) as ws:
                return _workspace_people(ws, org)
        if not p.exists():
            raise PrivacyError(f"no people file at {p}")
        table, where = _read_file(p), str(p)
    if "org" in table.column_names and org is not None:
        table = table.filter(pc.equal(table.column("org"), org))
    if table.num_rows == 0:
        raise EmptyInputError(
            f"{where} holds no person records" + (f" for organisation {org!r}" if org else "")
        )
    return table


def _read_file(p: Path) -> pa.Table:
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        return pq.read_table(p)
    if suffix in (".csv", ".txt"):
        try:
            header = pacsv.read_csv(p, read_options=pacsv.ReadOptions(block_size=1 << 16))
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                raise EmptyInputError(f"{p} is empty: expected a header and person rows") from None
            raise PrivacyError(f"cannot read {p} as CSV: {exc}") from None
        # Every column as text, as ingest reads CSV: dates are parsed by the dob rules.
        types = dict.fromkeys(header.column_names, pa.string())
        return pacsv.read_csv(p, convert_options=pacsv.ConvertOptions(column_types=types))
    raise PrivacyError(f"{p}: expected a .csv or .parquet people file, or a workspace folder")


def _workspace_people(ws: Workspace, org: str | None) -> pa.Table:
    if org is None:
        raise PrivacyError("a workspace holds several organisations' people: give --org NAME")
    people = ws.engine.table("people")
    table = ws.engine.to_arrow(people.filter(people.org == org))
    if table.num_rows == 0:
        orgs = sorted(ws.engine.to_arrow(people.select("org").distinct()).column(0).to_pylist())
        raise EmptyInputError(
            f"the workspace {ws.path} holds no people for organisation {org!r}"
            + (f" (it has: {', '.join(orgs)})" if orgs else " (its people table is empty)")
        )
    return table


def pseudonymise(
    source: Workspace | Path | str | pa.Table,
    *,
    org: str,
    secret: bytes | None,
    schema: Schema | None = None,
    out: Path | str | None = None,
    processes: int | None = None,
) -> Pseudonymised:
    """Encode one organisation's people so that they can be linked without plain values.

    ``source`` is a workspace (its ``people`` table, rows of ``org``), a people file or an
    Arrow table. ``schema`` names the columns to encode; without one the standard
    ``people`` columns are used. ``secret=None`` gives the plain encoding used inside a
    trusted research environment. With ``out`` the result is also written as Parquet, the
    header in the file's metadata. The secret itself is never written.

    ``processes`` bounds the processes that encode at once (default: one per core); a
    large file (200,000 records or more) is cut into parts encoded side by side, which
    gives the same encodings as one process.
    """
    table = read_people(source, org)
    if schema is None:
        schema = standard_schema(table.column_names)
        if schema is None:
            raise MissingFieldError(
                "the people data does not have the standard columns (local_person_ref, "
                "forename …): give a schema (--schema) or --id-col and --field options"
            )
    missing = [
        c
        for c in [schema.id_col, *(f.column for f in schema.fields)]
        if c not in table.column_names
    ]
    if missing:
        raise MissingFieldError(
            f"column(s) {', '.join(map(repr, missing))} named in the schema are not in the "
            f"people data; it has: {', '.join(table.column_names)}"
        )
    refs = table.column(schema.id_col)
    if refs.null_count:
        raise PrivacyError(
            f"column {schema.id_col!r}: {refs.null_count} record(s) have no reference"
        )
    empty = [f for f in schema.fields if table.column(f.column).null_count == table.num_rows]
    notes = [f"{f.column}: no values at this organisation, not encoded" for f in empty]
    if len(empty) == len(schema.fields):
        raise EmptyInputError("every identity field is empty: there is nothing to encode")
    schema = schema.model_copy(update={"fields": tuple(f for f in schema.fields if f not in empty)})
    workers = processes if processes is not None else _cores()
    encoded, found = _parts.encode(table, schema, secret, workers)
    notes += found
    encoded = encoded.add_column(0, "org", pa.array([org] * encoded.num_rows, pa.string()))
    header: dict[str, Any] = {
        "format": "joinedup-encoding",
        "version": VERSION,
        "mode": "keyed" if secret is not None else "plain",
        "org": org,
        "records": encoded.num_rows,
        "key_check": key_check(secret) if secret is not None else None,
        "bloom": schema.bloom.model_dump(),
        "fields": [{"name": f.name, "kind": f.kind.value} for f in schema.fields],
    }
    encoded = with_header(encoded, header)
    path = None
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(encoded, path)
    return Pseudonymised(encoded, header, notes, path)


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def with_header(table: pa.Table, header: dict[str, Any]) -> pa.Table:
    """The table with the encoding header in its schema metadata."""
    meta = dict(table.schema.metadata or {})
    meta[HEADER_KEY] = json.dumps(header, sort_keys=True).encode()
    return table.replace_schema_metadata(meta)


def header_of(table: pa.Table | pa.Schema) -> dict[str, Any] | None:
    """The encoding header of a table (or of its schema), if it has one."""
    schema = table if isinstance(table, pa.Schema) else table.schema
    raw = (schema.metadata or {}).get(HEADER_KEY)
    return None if raw is None else dict(json.loads(raw))
