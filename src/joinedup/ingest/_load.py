"""Load one contract's export into the workspace: typed, checked, quarantined, whole.

Every ingest is one transaction. Its files are hashed first: the same content under the
same contract is not loaded twice. A new version of a source replaces that source's rows
(events, people, quarantine, quality) and nothing else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.errors import JoinedupError
from joinedup.ingest._contract import Contract, ContractError, TableSpec, load_contract
from joinedup.ingest._duck import delete, insert, transaction
from joinedup.ingest._quality import measure
from joinedup.ingest._read import RawSource, read_raw, rejects_table
from joinedup.ingest._sql import lit, q, source_name, source_sql, text_name, text_sql, typed_sql
from joinedup.model import EVENTS, PEOPLE, SOURCES
from joinedup.workspace import Workspace

if TYPE_CHECKING:
    from joinedup.governance import Agreement

_TARGETS = {"events": EVENTS, "people": PEOPLE}
_KEYS = {"events": "event_id", "people": "local_person_ref"}


class IngestError(JoinedupError, RuntimeError):
    """An ingest broke its own invariant (rows in = loaded + quarantined); nothing was kept."""


@dataclass
class TableResult:
    """Counts for one table of one ingest: rows in = loaded + quarantined."""

    table: str
    files: list[str]
    rows_in: int
    loaded: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class IngestResult:
    """What one contract's ingest did."""

    org: str
    source: str
    tables: list[TableResult]
    content_hash: str = ""
    unchanged: bool = False

    @property
    def rows_in(self) -> int:
        return sum(t.rows_in for t in self.tables)

    @property
    def loaded(self) -> int:
        return sum(t.loaded for t in self.tables)

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables)


def content_hash(files: list[Path]) -> str:
    """SHA-256 over the files' names and bytes, in a stable order."""
    h = hashlib.sha256()
    for f in sorted(set(files)):
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def contract_hash(contract: Contract) -> str:
    """SHA-256 of the contract's settings (not of its YAML layout or comments)."""
    text = json.dumps(contract.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _tables(contract: Contract) -> list[tuple[str, TableSpec]]:
    return [(t, s) for t, s in (("events", contract.events), ("people", contract.people)) if s]


def load(
    contract: Contract | Path | str,
    workspace: Workspace,
    *,
    today: date | None = None,
    agreement: Agreement | None = None,
    who: str | None = None,
) -> IngestResult:
    """Load an export described by ``contract`` into ``workspace``.

    Rows that break the contract go to ``quarantine`` with every reason; rows read always
    equal rows loaded plus rows quarantined. Loading the same files under the same
    contract again changes nothing. Raises :class:`ContractError` when nothing at all
    could be loaded (the quarantined rows are kept, so the reasons can be inspected).

    With ``agreement``, the ingest runs under it: refused, with nothing loaded, if the
    organisation is not a party, the contract maps a field that party does not share or
    the agreement is not in force; otherwise the run records the agreement and the audit
    log records the run (with ``who``).
    """
    if not isinstance(contract, Contract):
        contract = load_contract(contract)
    today = today or datetime.now(UTC).date()
    engine = workspace.engine
    files = {}
    for table, spec in _tables(contract):
        files[table] = contract.resolve(spec.file)
        if not files[table]:
            raise ContractError(
                f"{contract.source}: no file matches {spec.file!r} (for {table}); paths "
                "are relative to the folder the contract is in"
            )
    digest = content_hash([f for fs in files.values() for f in fs])
    terms = contract_hash(contract)
    previous = _previous(engine, contract)
    inputs = {"contract": contract.source, "org": contract.org, "content_hash": digest}
    settings = contract.model_dump(mode="json", exclude_none=True)
    if agreement is None:
        running = workspace.run("ingest", inputs=inputs, settings=settings)
    else:
        from joinedup.governance import governed_run

        running = governed_run(
            workspace,
            agreement,
            "ingest",
            parties=[contract.org],
            fields={
                contract.org: [
                    f"{t}.{name}" for t, spec in _tables(contract) for name in spec.fields
                ]
            },
            who=who,
            inputs=inputs,
            settings=settings,
        )
    with running as run:
        if previous and previous["content_hash"] == digest and previous["contract_hash"] == terms:
            result = _unchanged(engine, contract, files, digest)
            run.outputs["unchanged"] = True
        else:
            preps: list[_Prepared] = []
            try:
                for name, spec in _tables(contract):
                    preps.append(_prepare(engine, contract, name, spec, files[name], today))
                with transaction(engine):
                    tables = [_write(engine, contract, p) for p in preps]
                    result = IngestResult(contract.org, contract.source, tables, digest)
                    _record_source(engine, contract, result, terms, run.run_id)
                    measure(engine, contract, today=today)
            finally:
                for p in preps:
                    for temp in p.temps:
                        engine.drop_temp(temp)
            for done in tables:
                run.outputs[done.table] = {"loaded": done.loaded, "quarantined": done.quarantined}
    if result.tables and result.loaded == 0:
        detail = "; ".join(
            f"{t.table}: {t.rows_in} rows in, {_reasons_text(t)}" for t in result.tables
        )
        raise ContractError(f"{contract.source}: nothing could be loaded ({detail})")
    return result


def _reasons_text(t: TableResult) -> str:
    parts = [f"{n} × {k}" for k, n in t.reasons.items()] + t.notes
    return ", ".join(parts) if parts else "no rows"


def _previous(engine: Engine, contract: Contract) -> dict[str, Any] | None:
    rows = engine.to_arrow(
        engine.sql(
            "SELECT org, content_hash, contract_hash FROM sources "
            f"WHERE source = {lit(contract.source)}"
        )
    ).to_pylist()
    for r in rows:
        if r["org"] != contract.org:
            raise ContractError(
                f"{contract.source}: this source name is already used by {r['org']!r}; "
                f"give the {contract.org!r} contract a source name of its own"
            )
        return r
    return None


def _unchanged(
    engine: Engine, contract: Contract, files: dict[str, list[Path]], digest: str
) -> IngestResult:
    """The result of a load that found the same content already loaded."""
    tables = []
    for table, _ in _tables(contract):
        loaded = engine.count(
            engine.sql(
                f"SELECT 1 FROM {table} WHERE org = {lit(contract.org)} "
                f"AND source = {lit(contract.source)}"
            )
        )
        reasons = _reasons(engine, contract.source, table)
        held = sum(reasons.values())
        tables.append(
            TableResult(table, [str(f) for f in files[table]], loaded + held, loaded, held, reasons)
        )
    return IngestResult(contract.org, contract.source, tables, digest, unchanged=True)


def _reasons(engine: Engine, source: str, table: str) -> dict[str, int]:
    rows = engine.to_arrow(
        engine.sql(
            f"SELECT coalesce(column_name, 'row') AS c, count(*) AS n FROM quarantine "
            f"WHERE source = {lit(source)} AND table_name = {lit(table)} GROUP BY 1 ORDER BY 1"
        )
    ).to_pylist()
    return {r["c"]: int(r["n"]) for r in rows}


def _record_source(
    engine: Engine, contract: Contract, result: IngestResult, terms: str, run_id: str
) -> None:
    delete(engine, "sources", f"org = {lit(contract.org)} AND source = {lit(contract.source)}")
    row = {
        "org": [contract.org],
        "source": [contract.source],
        "content_hash": [result.content_hash],
        "contract_hash": [terms],
        "files": [sorted({f for t in result.tables for f in t.files})],
        "rows_in": [result.rows_in],
        "loaded": [result.loaded],
        "quarantined": [result.quarantined],
        "ingested_at": [datetime.now(UTC)],
        "run_id": [run_id],
    }
    engine.write("sources", pa.table(row, schema=SOURCES))


def _check_columns(raw: RawSource, table: str, spec: TableSpec, files: list[Path]) -> None:
    have = set(raw.columns)
    for std, fs in spec.fields.items():
        if fs.column is not None and fs.column not in have:
            raise ContractError(
                f"{files[0]}: column {fs.column!r} (for {table}.{std}) is not in the file; "
                f"its columns are {sorted(raw.columns)}"
            )


@dataclass
class _Prepared:
    """One table read, typed and checked in temporary tables, ready to be written."""

    table: str
    files: list[Path]
    raw: RawSource
    good: str | None = None
    bad: str | None = None
    unmapped: list[str] = field(default_factory=list)
    temps: list[str] = field(default_factory=list)


def _prepare(
    engine: Engine,
    contract: Contract,
    table: str,
    spec: TableSpec,
    files: list[Path],
    today: date,
) -> _Prepared:
    """Read and type one table into temporary tables (outside the transaction: nothing
    in the workspace changes here)."""
    raw = read_raw(engine, contract, table, spec, files)
    prep = _Prepared(table, files, raw, temps=list(raw.temps))
    if raw.columns:
        _check_columns(raw, table, spec, files)
    mapped = {fs.column for fs in spec.fields.values() if fs.column is not None}
    prep.unmapped = [c for c in raw.columns if c not in mapped]
    if raw.rows_read == 0:
        return prep
    schema = _TARGETS[table]
    key = _KEYS[table]
    src, org = lit(contract.source), lit(contract.org)
    selects, checks = [], []
    for col in schema.names:
        if col == "org":
            selects.append(f"{org} AS org")
        elif col == "source":
            selects.append(f"{src} AS source")
        elif col in spec.fields:
            typed, why = typed_sql(col, spec.fields[col], contract, today)
            if col == "event_id":
                typed = f"{lit(contract.org + ':')} || {typed}"
            selects.append(f"{typed} AS {q(col)}")
            checks.extend(why)
        else:
            selects.append(f"CAST(NULL AS {_sql_type(schema.field(col).type)}) AS {q(col)}")
    required = (key, "occurred_at") if table == "events" else (key,)
    for name in reversed(required):
        empty = f"CASE WHEN {text_name(name)} IS NULL THEN {lit(name + ': empty')} END"
        checks.insert(0, empty)
    staged, late = f"_staged_{table}", f"_late_{table}"
    inner = ", ".join(
        f"{text_sql(fs)} AS {text_name(std)}, {source_sql(fs)} AS {source_name(std)}"
        for std, fs in spec.fields.items()
    )
    engine.stage(
        staged,
        f"SELECT _file, _row, concat_ws('; ', {', '.join(checks)}) AS _why, "
        f"{', '.join(selects)} FROM (SELECT r._file, r._row, {inner} FROM ({raw.sql}) AS r)",
    )
    prep.temps.append(staged)
    # Rows whose key an earlier good row already holds; and, for events, keys another
    # source of the same organisation has loaded.
    repeats = (
        f"SELECT _file, _row, {lit(key + ' repeats an earlier row')} AS _dup_why "
        f"FROM {q(staged)} WHERE _why = '' AND {q(key)} IN (SELECT {q(key)} FROM {q(staged)} "
        f"WHERE _why = '' GROUP BY 1 HAVING count(*) > 1) "
        f"QUALIFY row_number() OVER (PARTITION BY {q(key)} ORDER BY _file, _row) > 1"
    )
    if table == "events":
        repeats += (
            f" UNION ALL SELECT s._file, s._row, 'event_id already loaded from source ' || "
            f"e.source AS _dup_why FROM {q(staged)} AS s JOIN (SELECT DISTINCT event_id, source "
            f"FROM events WHERE org = {org} AND source <> {src}) AS e USING (event_id) "
            f"WHERE s._why = ''"
        )
    engine.stage(
        late, f"SELECT _file, _row, min(_dup_why) AS _dup_why FROM ({repeats}) GROUP BY ALL"
    )
    prep.temps.append(late)
    prep.good = (
        f"SELECT {', '.join('s.' + q(c) for c in schema.names)} FROM {q(staged)} AS s "
        f"LEFT JOIN {q(late)} AS d ON s._file = d._file AND s._row = d._row "
        f"WHERE s._why = '' AND d._row IS NULL"
    )
    raw_json = "to_json({" + ", ".join(f"{lit(c)}: r.{q(c)}" for c in raw.columns) + "})"
    prep.bad = (
        f"SELECT {src} AS source, {lit(table)} AS table_name, b._row AS row_number, "
        f"b.column_name, b._file || ': ' || b._why AS reason, {raw_json} AS raw "
        f"FROM (SELECT _file, _row, _why, split_part(_why, ':', 1) AS column_name "
        f"FROM {q(staged)} WHERE _why <> '' UNION ALL SELECT _file, _row, _dup_why, "
        f"{lit(key)} FROM {q(late)}) AS b "
        f"JOIN ({raw.sql}) AS r ON r._file = b._file AND r._row = b._row"
    )
    return prep


def _write(engine: Engine, contract: Contract, prep: _Prepared) -> TableResult:
    """Replace the source's rows of one table with the prepared ones (in the transaction)."""
    table, raw = prep.table, prep.raw
    # The new version of the source replaces the old one, even when it is empty.
    delete(engine, table, f"org = {lit(contract.org)} AND source = {lit(contract.source)}")
    delete(engine, "quarantine", f"source = {lit(contract.source)} AND table_name = {lit(table)}")
    loaded = insert(engine, table, prep.good) if prep.good is not None else 0
    quarantined = insert(engine, "quarantine", prep.bad) if prep.bad is not None else 0
    if raw.rejects:
        quarantined += engine.write(
            "quarantine", rejects_table(contract.source, table, raw.rejects)
        )
    if loaded + quarantined != raw.rows_in:
        raise IngestError(
            f"{contract.source}: {table}: {raw.rows_in} rows read but {loaded} loaded and "
            f"{quarantined} quarantined; nothing was kept (please report this)"
        )
    return TableResult(
        table,
        [str(f) for f in prep.files],
        raw.rows_in,
        loaded,
        quarantined,
        _reasons(engine, contract.source, table),
        unmapped=prep.unmapped,
        notes=raw.notes,
    )


def _sql_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_date(t):
        return "DATE"
    return "VARCHAR"
