"""Ingest: one organisation's export, through its data contract, into the standard tables.

Nothing is silently dropped: every row of the export is either loaded or written to the
``quarantine`` table with the file, row, column and reason. Ingesting the same source
again replaces what it loaded before, so re-running adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.ingest._contract import Contract, ContractError, FieldSpec, TableSpec, load_contract
from joinedup.ingest._excel import read_excel
from joinedup.model import EVENTS, PEOPLE
from joinedup.workspace import Workspace

__all__ = ["Contract", "ContractError", "IngestResult", "load", "load_contract"]

_TARGETS = {"events": EVENTS, "people": PEOPLE}


@dataclass
class TableResult:
    """Counts for one table of one ingest: rows in = loaded + quarantined."""

    table: str
    files: list[str]
    rows_in: int
    loaded: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestResult:
    """What one contract's ingest did."""

    org: str
    source: str
    tables: list[TableResult]

    @property
    def loaded(self) -> int:
        return sum(t.loaded for t in self.tables)

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables)


def load(contract: Contract | Path | str, workspace: Workspace) -> IngestResult:
    """Load an export described by ``contract`` into ``workspace``."""
    if not isinstance(contract, Contract):
        contract = load_contract(contract)
    engine = workspace.engine
    results = []
    with workspace.run(
        "ingest",
        inputs={"contract": contract.source, "org": contract.org},
        settings=contract.model_dump(mode="json", exclude_none=True),
    ) as run:
        for table, spec in (("events", contract.events), ("people", contract.people)):
            if spec is None:
                continue
            res = _load_table(engine, contract, table, spec)
            results.append(res)
            run.outputs[table] = {"loaded": res.loaded, "quarantined": res.quarantined}
    if results and all(r.loaded == 0 for r in results):
        detail = "; ".join(f"{r.table}: {r.rows_in} rows in, {r.reasons}" for r in results)
        raise ContractError(f"{contract.source}: nothing could be loaded ({detail})")
    return IngestResult(contract.org, contract.source, results)


def _raw_view(engine: Engine, contract: Contract, table: str, spec: TableSpec) -> list[Path]:
    files = contract.resolve(spec.file)
    if not files:
        raise ContractError(f"{contract.source}: no file matches {spec.file!r} for {table}")
    name = f"_raw_{table}"
    if contract.format == "excel":
        parts = [t for f in files for t in read_excel(f, spec.sheet)]
        if not parts:
            raise ContractError(f"{files[0]}: the sheet {spec.sheet!r} is empty")
        engine.register(name, pa.concat_tables(parts, promote_options="permissive"))
    else:
        engine.read_files(
            name, files, contract.format, delimiter=contract.delimiter, encoding=contract.encoding
        )
    columns = set(engine.table(name).columns)
    for std, fs in spec.fields.items():
        if fs.column is not None and fs.column not in columns:
            raise ContractError(
                f"{files[0]}: column {fs.column!r} (for {table}.{std}) is not in the file; "
                f"its columns are {sorted(c for c in columns if not c.startswith('_'))}"
            )
    return files


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value_sql(fs: FieldSpec) -> str:
    """The field's source value as text (before typing and code mapping)."""
    src = _q(fs.column) if fs.column is not None else f"({fs.expression})"
    return f"NULLIF(TRIM(CAST({src} AS VARCHAR)), '')"


def _typed_sql(std: str, fs: FieldSpec, contract: Contract) -> tuple[str, str | None]:
    """SQL for the typed value, and SQL for the reason a non-empty value fails (or None)."""
    text = _value_sql(fs)
    if fs.type == "string" and not fs.codes:
        return text, None
    if fs.codes:
        cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in fs.codes.items())
        mapped = f"CASE {text} {cases} END"
        expected = _lit(f" (expected one of {', '.join(fs.codes)})")
        why = (
            f"CASE WHEN {text} IS NOT NULL AND {mapped} IS NULL THEN "
            f"{_lit(std + ': unknown code ')} || {text} || {expected} END"
        )
        return mapped, why
    src = _q(fs.column) if fs.column is not None else f"({fs.expression})"
    if fs.type == "timestamp":
        if fs.format:
            parsed = f"TRY_STRPTIME({text}, {_lit(fs.format)})"
            typed = f"timezone({_lit(contract.timezone)}, {parsed})"
            expect = f"a date and time like {fs.format}"
        else:
            typed = f"TRY_CAST({src} AS TIMESTAMPTZ)"
            parsed = typed
            expect = "a date and time"
    else:  # date
        if fs.format:
            parsed = f"CAST(TRY_STRPTIME({text}, {_lit(fs.format)}) AS DATE)"
            expect = f"a date like {fs.format}"
        else:
            parsed = f"TRY_CAST({src} AS DATE)"
            expect = "a date"
        typed = parsed
    head, tail = _lit(f"{std}: '"), _lit(f"' is not {expect}")
    why = f"CASE WHEN {text} IS NOT NULL AND {parsed} IS NULL THEN {head} || {text} || {tail} END"
    return typed, why


def _load_table(engine: Engine, contract: Contract, table: str, spec: TableSpec) -> TableResult:
    files = _raw_view(engine, contract, table, spec)
    raw = f"_raw_{table}"
    schema = _TARGETS[table]
    key = "event_id" if table == "events" else "local_person_ref"
    selects, checks = [], []
    for col in schema.names:
        if col == "org":
            selects.append(f"{_lit(contract.org)} AS org")
        elif col == "source":
            selects.append(f"{_lit(contract.source)} AS source")
        elif col in spec.fields:
            typed, why = _typed_sql(col, spec.fields[col], contract)
            if col == "event_id":
                typed = f"{_lit(contract.org + ':')} || {typed}"
            selects.append(f"{typed} AS {_q(col)}")
            if why:
                checks.append(why)
        else:
            selects.append(f"NULL AS {_q(col)}")
    for required in (key, "occurred_at") if table == "events" else (key,):
        text = _value_sql(spec.fields[required])
        checks.insert(0, f"CASE WHEN {text} IS NULL THEN {_lit(required + ': empty')} END")
    reason = f"concat_ws('; ', {', '.join(checks)})"
    key_text = _value_sql(spec.fields[key])
    staged = f"_staged_{table}"
    source_cols = [c for c in engine.table(raw).columns if c not in ("_file", "_row")]
    raw_json = "to_json({" + ", ".join(f"{_lit(c)}: r.{_q(c)}" for c in source_cols) + "})"
    stage_sql = (
        f"SELECT _file, _row, {raw_json} AS _raw, {reason} AS _why, "
        f"row_number() OVER (PARTITION BY {key_text} ORDER BY _file, _row) AS _dup, "
        f"{', '.join(selects)} FROM {raw} AS r"
    )
    engine.stage(staged, stage_sql)
    valid = engine.sql(
        f"SELECT {', '.join(_q(c) for c in schema.names)} FROM {staged} "
        f"WHERE _why = '' AND (_dup = 1 OR {_q(key)} IS NULL)"
    )
    bad = engine.sql(
        f"SELECT {_lit(contract.source)} AS source, {_lit(table)} AS table_name, "
        f"CAST(_row AS BIGINT) AS row_number, "
        f"CASE WHEN _why <> '' THEN split_part(_why, ':', 1) ELSE {_lit(key)} END AS column_name, "
        f"CASE WHEN _why <> '' THEN _file || ': ' || _why "
        f"ELSE _file || ': ' || {_lit(key + ' repeats an earlier row')} END AS reason, "
        f"_raw AS raw FROM {staged} WHERE NOT (_why = '' AND (_dup = 1 OR {_q(key)} IS NULL))"
    )
    where = f"org = {_lit(contract.org)} AND source = {_lit(contract.source)}"
    engine.delete(table, where)
    engine.delete("quarantine", f"source = {_lit(contract.source)} AND table_name = {_lit(table)}")
    loaded = engine.write(table, valid)
    quarantined = engine.write("quarantine", bad)
    reasons = {
        r["column_name"]: r["n"]
        for r in engine.to_arrow(
            engine.sql(
                f"SELECT column_name, count(*) AS n FROM quarantine WHERE source = "
                f"{_lit(contract.source)} AND table_name = {_lit(table)} GROUP BY 1 ORDER BY 1"
            )
        ).to_pylist()
    }
    rows_in = engine.count(raw)
    engine.drop_temp(staged)
    engine.drop_temp(raw)
    return TableResult(table, [str(f) for f in files], rows_in, loaded, quarantined, reasons)
