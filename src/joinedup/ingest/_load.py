"""Load one contract's export into the workspace: typed, checked, quarantined, whole.

Every ingest is one transaction. Its files are hashed first: the same content under the
same contract is not loaded twice. A new version of a source replaces that source's rows
(events, people, quarantine, quality) and nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
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
from joinedup.ingest._read import Part, RawSource, check_part, read_raw, rejects_table
from joinedup.ingest._sql import (
    Reason,
    lit,
    parsed_name,
    parsed_sql,
    q,
    reasons_sql,
    source_name,
    source_sql,
    text_name,
    text_sql,
    typed_sql,
)
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
    terms = contract_hash(contract)
    previous = _previous(engine, contract)
    inputs: dict[str, Any] = {"contract": contract.source, "org": contract.org}
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
    with running as run, ThreadPoolExecutor(max_workers=1) as pool:
        # Hashing reads every byte of the files once more. Only a source loaded before
        # under the same contract can be unchanged, and then the hash decides first;
        # otherwise the files are hashed on a thread while DuckDB checks them.
        hashing = pool.submit(content_hash, [f for fs in files.values() for f in fs])
        try:
            same_terms = previous is not None and previous["contract_hash"] == terms
            if same_terms and previous and previous["content_hash"] == hashing.result():
                result = _unchanged(engine, contract, files, hashing.result())
                run.outputs["unchanged"] = True
            else:
                result = _replace(engine, contract, files, today, hashing, terms, run.run_id)
                for done in result.tables:
                    run.outputs[done.table] = {
                        "loaded": done.loaded,
                        "quarantined": done.quarantined,
                    }
        finally:
            run.inputs["content_hash"] = hashing.result()
    if result.tables and result.loaded == 0:
        detail = "; ".join(
            f"{t.table}: {t.rows_in} rows in, {_reasons_text(t)}" for t in result.tables
        )
        raise ContractError(f"{contract.source}: nothing could be loaded ({detail})")
    return result


def _replace(
    engine: Engine,
    contract: Contract,
    files: dict[str, list[Path]],
    today: date,
    hashing: Future[str],
    terms: str,
    run_id: str,
) -> IngestResult:
    """Check the files, then in one transaction put their rows in place of the source's."""
    preps: list[_Prepared] = []
    try:
        for name, spec in _tables(contract):
            _prepare(engine, contract, name, spec, files[name], today, preps)
        digest = hashing.result()
        with transaction(engine):
            tables = [_write(engine, contract, p) for p in preps]
            result = IngestResult(contract.org, contract.source, tables, digest)
            _record_source(engine, contract, result, terms, run_id)
            filled = {p.table: p.filled for p in preps if p.filled is not None}
            measure(engine, contract, today=today, filled=filled)
    finally:
        for p in preps:
            for temp in p.raw.temps:
                engine.drop_temp(temp)
            p.raw.close()
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
    """One table read and checked, with the queries that write it (in the transaction)."""

    table: str
    files: list[Path]
    raw: RawSource
    rows: str | None = None
    firsts: str | None = None
    bad: str | None = None
    unmapped: list[str] = field(default_factory=list)
    #: Per field, how many loaded rows have a value (and ``_n``, the rows loaded), as
    #: the checking scan counted them; None to count them in the loaded table.
    filled: dict[str, int] | None = None


@dataclass
class _Typing:
    """The SQL that types one table's fields and says what is wrong with each row.

    A row's fields are trimmed (``fields``: each standard field's text and its value as
    exported) and its dates parsed (``parsed``) once, the costly parts; ``selects`` are
    the standard table's columns, ``reasons`` the ways a row can fail and ``key`` the
    row's key as typed (an event id before the organisation's prefix).
    """

    selects: list[str]
    reasons: list[Reason]
    key: str
    fields: dict[str, tuple[str, str]]
    parsed: str
    raw_json: str
    columns: list[str]
    #: Fields whose lost leading zeros are put back (see ``text_sql``).
    padded: set[str] = field(default_factory=set)
    #: Fields typed as dates or times: their value is the parsed one.
    dated: set[str] = field(default_factory=set)

    def checks(self, source: str, numbered: bool) -> str:
        """Per row of ``source``: its key, its reasons joined (``__why``, empty when it
        loads), for a row that fails its raw content and which reasons fired (``__fired``,
        a 0/1 character per reason), which fields trimming or padding changed
        (``__trimmed``, bit i for the i-th of ``fields``) and which are empty
        (``__empty``, likewise)."""
        place = "r._file, r._row, " if numbered else ""
        flags = ", ".join(f"CASE WHEN {r.when} THEN '1' ELSE '0' END" for r in self.reasons)
        fired = f"concat({flags}, '')" if self.reasons else "''"
        return (
            f"SELECT {place}r.__key, r.__why, CASE WHEN r.__why <> '' "
            f"THEN {self.raw_json} END AS __raw, CASE WHEN r.__why <> '' THEN {fired} END "
            f"AS __fired, {self._trimmed()} AS __trimmed, {self._empty()} AS __empty "
            f"FROM (SELECT r.*, {reasons_sql(self.reasons)} AS __why, {self.key} AS __key "
            f"FROM ({self._texts(source)}) AS r) AS r"
        )

    def untouched(self, trimmed: int) -> set[str]:
        """The fields whose text is their value as exported on every row, given the
        ``__trimmed`` bits of all the rows together."""
        return {std for i, std in enumerate(self.fields) if i < _BITS and not trimmed >> i & 1}

    def rows(
        self, source: str, fired: list[Reason], plain: Collection[str], numbered: bool = False
    ) -> str:
        """The rows of ``source`` that pass, with the standard table's columns typed and
        ``__key``; with ``numbered``, also ``_file``, ``_row`` and ``__raw``.

        ``fired`` are the reasons the checking scan found on some row: only those can
        fail a row of the same files, so only those are tested again. The fields in
        ``plain`` needed no trimming on any row of those files, so none is trimmed.
        """
        more = f", r._file, r._row, {self.raw_json} AS __raw" if numbered else ""
        passes = ""
        if fired:
            anything = " OR ".join(f"({r.when})" for r in fired)
            passes = f" WHERE CASE WHEN {anything} THEN false ELSE true END"
        return (
            f"SELECT {', '.join(self.selects)}, {self.key} AS __key{more} "
            f"FROM ({self._texts(source, plain)}) AS r{passes}"
        )

    def _trimmed(self) -> str:
        bits = []
        for i, std in enumerate(list(self.fields)[:_BITS]):
            text, exported = text_name(std), f"CAST({source_name(std)} AS VARCHAR)"
            if std not in self.padded:
                # Trimming only takes characters away, so the text is the value as
                # exported exactly when both are there with the same length, or neither
                # is: comparing the lengths (stored with each value) is enough.
                text, exported = f"strlen({text})", f"strlen({exported})"
            bits.append(_bit(f"{text} IS DISTINCT FROM {exported}", i))
        return f"({' + '.join(bits) or '0'})"

    def _empty(self) -> str:
        # A row that loads has a typed value exactly where it has text (or, for a date,
        # a parsed one): an unknown code or a date that does not parse fails the row.
        bits = [
            _bit(f"{parsed_name(std) if std in self.dated else text_name(std)} IS NULL", i)
            for i, std in enumerate(list(self.fields)[:_BITS])
        ]
        return f"({' + '.join(bits) or '0'})"

    def filled(self, loaded: int, empty: dict[int, int]) -> dict[str, int] | None:
        """How many of ``loaded`` rows have a value, per field, given how many of them
        have each set of ``__empty`` bits; None when there are fields beyond the bits."""
        if len(self.fields) > _BITS:
            return None
        out = {"_n": loaded}
        for i, std in enumerate(self.fields):
            out[std] = loaded - sum(n for bits, n in empty.items() if bits >> i & 1)
        return out

    def _texts(self, source: str, plain: Collection[str] = ()) -> str:
        inner = ", ".join(
            f"{f'CAST({value} AS VARCHAR)' if std in plain else text} AS {text_name(std)}, "
            f"{value} AS {source_name(std)}"
            for std, (text, value) in self.fields.items()
        )
        texts = f"SELECT r.*, {inner} FROM ({source}) AS r"
        return f"SELECT r.*, {self.parsed} FROM ({texts}) AS r" if self.parsed else texts


def _bit(condition: str, i: int) -> str:
    """SQL for bit ``i`` set when ``condition`` (never NULL) holds: a CASE costs DuckDB
    less than casting the condition to a number and multiplying (about 1 CPU s of the
    checking scan of the 10-million-row benchmark export, twenty bits a row)."""
    return f"CASE WHEN {condition} THEN {1 << i} ELSE 0 END"


#: Fields a row's ``__trimmed`` and ``__empty`` bits can tell apart (an INTEGER's, less
#: the sign); any further fields are always trimmed, and counted in the loaded table.
_BITS = 31


def _typing(
    contract: Contract,
    table: str,
    spec: TableSpec,
    columns: list[str],
    today: date,
    *,
    nul: bool = True,
    offsets: bool = False,
) -> _Typing:
    schema = _TARGETS[table]
    key = _KEYS[table]
    src, org = lit(contract.source), lit(contract.org)
    selects: list[str] = []
    checks: list[Reason] = []
    key_sql = ""
    for col in schema.names:
        if col == "org":
            selects.append(f"{org} AS org")
        elif col == "source":
            selects.append(f"{src} AS source")
        elif col in spec.fields:
            typed, why = typed_sql(col, spec.fields[col], contract, today, nul=nul, offsets=offsets)
            if col == key:
                key_sql = typed
            if col == "event_id":
                typed = f"{lit(contract.org + ':')} || {typed}"
            selects.append(f"{typed} AS {q(col)}")
            checks.extend(why)
        else:
            selects.append(f"CAST(NULL AS {_sql_type(schema.field(col).type)}) AS {q(col)}")
    required = (key, "occurred_at") if table == "events" else (key,)
    for name in reversed(required):
        checks.insert(0, Reason(f"{text_name(name)} IS NULL", lit(name + ": empty")))
    fields = {std: (text_sql(fs), source_sql(fs)) for std, fs in spec.fields.items()}
    parsed = ", ".join(
        f"{sql} AS {parsed_name(std)}"
        for std, fs in spec.fields.items()
        if (sql := parsed_sql(std, fs)) is not None
    )
    raw_json = "to_json({" + ", ".join(f"{lit(c)}: r.{q(c)}" for c in columns) + "})"
    padded = {std for std, fs in spec.fields.items() if fs.zero_pad}
    dated = {std for std, fs in spec.fields.items() if fs.type != "string"}
    return _Typing(selects, checks, key_sql, fields, parsed, raw_json, schema.names, padded, dated)


def _prepare(
    engine: Engine,
    contract: Contract,
    table: str,
    spec: TableSpec,
    files: list[Path],
    today: date,
    preps: list[_Prepared],
) -> _Prepared:
    """Read and check one table, and write the queries that load it (outside the
    transaction: nothing in the workspace changes here).

    The files are scanned once to check every row, keeping only each row's key and
    reasons (and the raw content of rows with reasons), so memory stays small however
    large the export; the rows that pass are typed again as they are written. Rows that
    repeat a key are fetched by one more scan only when there are any.
    """
    raw = read_raw(engine, contract, table, spec, files)
    prep = _Prepared(table, files, raw)
    preps.append(prep)  # so its temporary tables are dropped whatever happens next
    if raw.columns:
        _check_columns(raw, table, spec, files)
    mapped = {fs.column for fs in spec.fields.values() if fs.column is not None}
    prep.unmapped = [c for c in raw.columns if c not in mapped]
    if not raw.parts:
        return prep
    # Values are searched for NUL bytes unless every file was found to hold none.
    nul = not all(p.nul_free for p in raw.parts)
    offsets = "zone_offsets" in engine.capabilities
    typing = _typing(contract, table, spec, raw.columns, today, nul=nul, offsets=offsets)
    checked_tables = [f"_check_{table}_{i}" for i in range(len(raw.parts))]
    for part, name in zip(raw.parts, checked_tables, strict=True):
        check_part(engine, raw, part, name, typing.checks)
    if raw.rows_read == 0:
        return prep
    key = _KEYS[table]
    src, org = lit(contract.source), lit(contract.org)
    # One pass over the check tables: which reasons fired, which fields trimming or
    # padding changed on some row (the others are written as exported, untrimmed), and
    # which fields the rows that pass leave empty (for the quality report).
    seen = engine.to_arrow(
        engine.sql(
            "SELECT __fired, __empty, bit_or(__trimmed) AS trimmed, count(*) AS n FROM ("
            + " UNION ALL ".join(
                f"SELECT __fired, __trimmed, __empty FROM {q(n)}" for n in checked_tables
            )
            + ") GROUP BY ALL"
        )
    ).to_pylist()
    masks = [m["__fired"] for m in seen if m["__fired"]]
    fired = [r for i, r in enumerate(typing.reasons) if any(m[i] == "1" for m in masks)]
    trimmed = 0
    for m in seen:
        trimmed |= int(m["trimmed"] or 0)
    plain = typing.untouched(trimmed)
    passing = {int(m["__empty"]): int(m["n"]) for m in seen if m["__fired"] is None}
    checked = " UNION ALL ".join(
        f"SELECT _file, _row, __key, __why, __raw, __empty FROM ({p.number(n)})"
        for p, n in zip(raw.parts, checked_tables, strict=True)
    )
    # Rows whose key an earlier good row already holds; and, for events, keys another
    # source of the same organisation has loaded.
    repeats = []
    if not _rising(engine, checked_tables):
        repeats.append(
            f"SELECT _file, _row, __key, __empty, {lit(key + ' repeats an earlier row')} "
            f"AS _dup_why FROM ({checked}) WHERE __why = '' AND __key IN (SELECT __key "
            f"FROM ({checked}) WHERE __why = '' GROUP BY 1 HAVING count(*) > 1) "
            f"QUALIFY row_number() OVER (PARTITION BY __key ORDER BY _file, _row) > 1"
        )
    others = f"FROM events WHERE org = {org} AND source <> {src}"
    if table == "events" and engine.count(engine.sql(f"SELECT 1 AS one {others} LIMIT 1")):
        repeats.append(
            f"SELECT c._file, c._row, c.__key, c.__empty, 'event_id already loaded from "
            f"source ' || e.source AS _dup_why FROM ({checked}) AS c JOIN (SELECT DISTINCT "
            f"event_id, source {others}) AS e "
            f"ON e.event_id = {lit(contract.org + ':')} || c.__key WHERE c.__why = ''"
        )
    late = f"_late_{table}"
    late_rows = 0
    if repeats:
        engine.stage(
            late,
            f"SELECT _file, _row, __key, __empty, min(_dup_why) AS _dup_why FROM "
            f"({' UNION ALL '.join(repeats)}) GROUP BY ALL",
        )
        raw.temps.append(late)
        for m in engine.to_arrow(
            engine.sql(f"SELECT __empty, count(*) AS n FROM {q(late)} GROUP BY 1")
        ).to_pylist():
            passing[int(m["__empty"])] -= int(m["n"])
            late_rows += int(m["n"])
    prep.filled = typing.filled(sum(passing.values()), passing)
    cols = ", ".join(q(c) for c in typing.columns)
    scans = [
        typing.rows(p.scan(n, raw.columns), fired, plain) for p, n in _scans(raw, f"_write_{table}")
    ]
    rows = " UNION ALL ".join(f"SELECT {cols}, __key FROM ({s})" for s in scans)
    dups = ""
    if late_rows:
        # Every good row of a repeated key, numbered: the first loads, the others are
        # quarantined with their raw content.
        repeated = f"_repeated_{table}"
        numbered = " UNION ALL ".join(
            f"SELECT * FROM ({typing.rows(p.numbered(n, raw.columns), fired, plain, True)}) "
            f"WHERE __key IN (SELECT __key FROM {q(late)})"
            for p, n in _scans(raw, f"_refetch_{table}")
        )
        engine.stage(repeated, numbered)
        raw.temps.append(repeated)
        rows = f"SELECT * FROM ({rows}) WHERE __key NOT IN (SELECT __key FROM {q(late)})"
        prep.firsts = (
            f"SELECT {', '.join('d.' + q(c) for c in typing.columns)} FROM {q(repeated)} AS d "
            f"LEFT JOIN {q(late)} AS l ON d._file = l._file AND d._row = l._row "
            f"WHERE l._row IS NULL"
        )
        dups = (
            f" UNION ALL SELECT l._file, l._row, l._dup_why, {lit(key)}, d.__raw "
            f"FROM {q(late)} AS l JOIN {q(repeated)} AS d ON l._file = d._file AND l._row = d._row"
        )
    prep.rows = f"SELECT {cols} FROM ({rows})"
    prep.bad = (
        f"SELECT {src} AS source, {lit(table)} AS table_name, b._row AS row_number, "
        f"b.column_name, b._file || ': ' || b._why AS reason, b.raw "
        f"FROM (SELECT _file, _row, __why AS _why, split_part(__why, ':', 1) AS column_name, "
        f"__raw AS raw FROM ({checked}) WHERE __why <> ''{dups}) AS b"
    )
    return prep


def _rising(engine: Engine, checked: list[str]) -> bool:
    """Whether the keys of the rows that pass, taken in some order, each sort after the
    one before: then no key repeats, and the costlier search for repeats (grouping every
    key) is not needed. Exports listed by their key pass in one streaming pass.

    Any order proves it, so the rows are taken in the order the engine reads them (on an
    engine that can run a window with no order in one pass: ``streaming_windows``).
    """
    if "streaming_windows" not in engine.capabilities:
        return False
    keys = " UNION ALL ".join(f"SELECT __key, __why FROM {q(n)}" for n in checked)
    falls = (
        f"SELECT 1 AS one FROM (SELECT __key, lag(__key) OVER () AS __before FROM ({keys}) "
        f"WHERE __why = '') WHERE __before >= __key LIMIT 1"
    )
    return engine.count(engine.sql(falls)) == 0


def _scans(raw: RawSource, prefix: str) -> list[tuple[Part, str]]:
    """Each part with a name for one more scan of it (for the reader's rejects tables,
    dropped with the other temporary tables)."""
    named = [(p, f"{prefix}_{i}") for i, p in enumerate(raw.parts)]
    raw.temps += [f"{n}_{s}" for _, n in named for s in ("rejects", "scans")]
    return named


def _write(engine: Engine, contract: Contract, prep: _Prepared) -> TableResult:
    """Replace the source's rows of one table with the prepared ones (in the transaction)."""
    table, raw = prep.table, prep.raw
    # The new version of the source replaces the old one, even when it is empty.
    delete(engine, table, f"org = {lit(contract.org)} AND source = {lit(contract.source)}")
    delete(engine, "quarantine", f"source = {lit(contract.source)} AND table_name = {lit(table)}")
    loaded = 0
    if prep.rows is not None:
        # The rows that fail are filtered out on values the inner queries compute once.
        with engine.filters_in_place():
            loaded = insert(engine, table, prep.rows, ordered=False)
    if prep.firsts is not None:
        loaded += insert(engine, table, prep.firsts)
    quarantined = insert(engine, "quarantine", prep.bad) if prep.bad is not None else 0
    if raw.rejects:
        quarantined += engine.write(
            "quarantine", rejects_table(contract.source, table, raw.rejects)
        )
    if prep.filled is not None and prep.filled["_n"] != loaded:
        prep.filled = None  # the quality report counts the loaded rows instead
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
