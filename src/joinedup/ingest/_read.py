"""Read one table's files of an export, every row numbered in file order.

A table's files become :class:`Part` s. A CSV file is not loaded anywhere: it is scanned
by DuckDB in parallel and streamed, once to check every row (the scan that finds the rows
the reader cannot parse, which go to quarantine whole), once more to write the rows that
passed and, only when keys repeat, once more to fetch those rows numbered; it is never
loaded into Python. Other formats (and a CSV file DuckDB's
reader gives up on, read row by row instead) are held in a temporary table with a
``_file`` and a 1-based ``_row`` column beside the export's own columns.

A CSV scan has no row numbers of its own: a table created from it keeps the file's order
(DuckDB preserves insertion order), so its ``rowid`` (less the first one) numbers the
rows; rows the CSV reader rejected are put back into the count.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import mmap
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.ingest._contract import Contract, ContractError, TableSpec
from joinedup.ingest._excel import column_names, read_excel
from joinedup.ingest._sql import lit, q
from joinedup.model import QUARANTINE

#: Leading bytes of file types that are sometimes exported with a .csv name by mistake.
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive or an Excel .xlsx workbook",
    b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\x1f\x8b": "a gzip archive",
    b"SQLite format 3": "a SQLite database",
    b"PAR1": "a Parquet file",
}


@dataclass
class Part:
    """One file of a table (or the rows of all of them, for formats held in a table).

    ``held`` names the temporary table holding the rows, with ``_file`` and ``_row``;
    otherwise the part is a CSV file that DuckDB scans each time it is read.
    """

    label: str
    columns: list[str]
    held: str | None = None
    path: Path | None = None
    readable: Path | None = None
    delimiter: str = ","
    #: After the checking scan of a CSV file: its first rowid, and the table that puts
    #: rejected rows back into the count (None when the reader rejected none).
    base: int = 0
    gaps: str | None = None
    #: A CSV file found to hold no NUL byte: no value of it can contain one.
    nul_free: bool = False

    def scan(self, name: str, everything: list[str]) -> str:
        """SQL for the part's rows, with every column of ``everything`` (NULL where this
        file lacks one); a CSV scan keeps the rows it cannot parse in ``<name>_rejects``."""
        missing = "".join(
            f", CAST(NULL AS VARCHAR) AS {q(c)}" for c in everything if c not in self.columns
        )
        if self.held is not None:
            return f"SELECT *{missing} FROM {q(self.held)}"
        spec = ", ".join(f"{lit(c)}: 'VARCHAR'" for c in self.columns)
        # The columns come from the header, so DuckDB's sniffer, which gives up on a file
        # with an unterminated quote, is not needed.
        options = (
            f"columns={{{spec}}}, auto_detect=false, header=true, "
            f"delim={lit(self.delimiter)}, quote='\"', escape='\"', strict_mode=true, "
            f"store_rejects=true, rejects_table={lit(name + '_rejects')}, "
            f"rejects_scan={lit(name + '_scans')}"
        )
        return f"SELECT *{missing} FROM read_csv({lit(str(self.readable))}, {options})"

    def numbered(self, name: str, everything: list[str]) -> str:
        """The part's rows with ``_file`` and ``_row`` (the row's number in its file).

        For a CSV file this numbers the rows as it streams, which DuckDB does on one
        thread: used only to fetch the few rows a later step needs (repeated keys)."""
        if self.held is not None:
            return self.scan(name, everything)
        return self._number(
            f"SELECT row_number() OVER () - 1 AS _k, * FROM ({self.scan(name, everything)})"
        )

    def number(self, checked: str) -> str:
        """``_file`` and ``_row`` for the rows of ``checked``, a table made from ``scan``."""
        if self.held is not None:
            return f"SELECT * FROM {q(checked)}"
        return self._number(f"SELECT rowid - {self.base} AS _k, * FROM {q(checked)}")

    def _number(self, rows: str) -> str:
        """``rows`` (with ``_k``, the 0-based index among the parsed rows) numbered."""
        label = lit(self.label)
        if self.gaps is None:
            return (
                f"SELECT {label} AS _file, CAST(t._k + 1 AS BIGINT) AS _row, "
                f"t.* EXCLUDE (_k) FROM ({rows}) AS t"
            )
        # The k-th parsed row is data row k + m, where m counts the rejected rows before
        # it: with rejected rows q_1 < q_2 < …, m = #{j : q_j - j < k}.
        return (
            f"SELECT {label} AS _file, CAST(t._k + 1 + coalesce(a.m, 0) AS BIGINT) AS _row, "
            f"t.* EXCLUDE (_k) FROM ({rows}) AS t ASOF LEFT JOIN {q(self.gaps)} AS a "
            f"ON t._k >= a.g"
        )


@dataclass
class RawSource:
    """One table's files as read, before typing and checking."""

    columns: list[str]
    parts: list[Part] = field(default_factory=list)
    #: Rows in the parts, counted by the checking scan.
    rows_read: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    temps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Folders of UTF-8 copies, removed with ``close``.
    folders: list[tempfile.TemporaryDirectory[str]] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        """Every row the files hold: the parsed ones and the rejected ones."""
        return self.rows_read + len(self.rejects)

    def close(self) -> None:
        for folder in self.folders:
            folder.cleanup()


def read_raw(
    engine: Engine, contract: Contract, table: str, spec: TableSpec, files: list[Path]
) -> RawSource:
    """The parts of ``files`` for ``table``; held rows go in ``_raw_<table>…`` tables."""
    name = f"_raw_{table}"
    fmt = contract.format
    if fmt == "csv":
        return _read_csv(contract, files)
    if fmt in ("parquet", "jsonl"):
        for f in files:
            if f.stat().st_size == 0:
                raise ContractError(f"{f}: the file is empty (0 bytes)")
        try:
            engine.read_files(name, files, fmt)
        except Exception as exc:
            raise ContractError(f"{files[0]}: cannot be read as {fmt}: {_first_line(exc)}") from exc
        return _from_table(engine, name)
    arrow = _read_other(contract, spec, files)
    engine.register(name, arrow)
    return _from_table(engine, name)


def _read_other(contract: Contract, spec: TableSpec, files: list[Path]) -> pa.Table:
    from joinedup.ingest import _formats

    parts: list[pa.Table] = []
    for f in files:
        if contract.format == "excel":
            parts.extend(read_excel(f, spec.sheet))
        elif contract.format == "xes":
            parts.append(_formats.read_xes(f))
        elif contract.format == "ocel":
            parts.append(_formats.read_ocel(f, spec.object_type))
        else:
            parts.append(_formats.read_sqlite(f, spec.table, spec.query))
    if not parts:
        raise ContractError(f"{files[0]}: holds no rows for this table")
    return pa.concat_tables(parts, promote_options="permissive")


def _from_table(engine: Engine, name: str) -> RawSource:
    columns = [c for c in engine.table(name).columns if c not in ("_file", "_row")]
    return RawSource(columns, [Part("", columns, held=name)], temps=[name])


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def sniff(path: Path, encoding: str = "utf-8") -> None:
    """Refuse a file that is plainly not delimited text, naming what it looks like."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            raise ContractError(f"{path}: this is not a CSV file; it looks like {kind}")
    if not head or encoding.lower().replace("_", "-").startswith("utf-16"):
        return
    # A stray NUL byte is a bad row; a file full of them (or of other control bytes) is
    # not text at all.
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    if len(head) >= 512 and controls > len(head) // 20:
        raise ContractError(
            f"{path}: this does not look like a text file ({controls} control bytes in the "
            f"first {len(head):,}); check the file and the contract's format"
        )


def holds_nul(path: Path) -> bool:
    """Whether a file holds a NUL byte anywhere.

    A stray NUL byte is a row's problem (it is quarantined), but testing every value of
    every row for one costs the checking scan more than searching the file's bytes once
    (mapped, at memory speed: 0.3 CPU seconds for the 1.5 GB benchmark export).
    """
    if path.stat().st_size == 0:
        return False
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return mm.find(b"\0") >= 0


def _utf8_copy(path: Path, encoding: str, folder: Path) -> Path:
    """A UTF-8 copy of a file in another encoding, streamed (DuckDB reads UTF-8 natively).

    Bytes that the declared encoding does not define are kept visible as ``\\xNN``.
    """
    out = folder / (path.name + ".utf8")
    decoder = codecs.getincrementaldecoder(encoding)(errors="backslashreplace")
    with path.open("rb") as src, out.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(1 << 20):
            dst.write(decoder.decode(chunk))
        dst.write(decoder.decode(b"", final=True))
    return out


def header(path: Path, delimiter: str) -> list[str]:
    """The column names in a CSV file's first record (a byte-order mark is dropped);
    empty names become ``column<n>`` and repeated ones get ``_2``, ``_3`` …"""
    try:
        # Undecodable bytes later in the file are the rows' problem, not the header's.
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            first = next(csv.reader(fh, delimiter=delimiter), None)
    except csv.Error as exc:
        raise ContractError(f"{path}: cannot read the header row: {exc}") from exc
    if not first:
        raise ContractError(f"{path}: the first line is empty; expected a header row")
    if any("\ufffd" in c for c in first):
        raise ContractError(
            f"{path}: the header row is not UTF-8; set the contract's encoding "
            "(for example windows-1252)"
        )
    return column_names(list(first))


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _read_csv(contract: Contract, files: list[Path]) -> RawSource:
    raw = RawSource([])
    for path in files:
        sniff(path, contract.encoding)
        if path.stat().st_size == 0:
            raw.notes.append(f"{path}: the file is empty (0 bytes)")
            continue
        readable = path
        if not _is_utf8(contract.encoding):
            folder = tempfile.TemporaryDirectory(prefix="joinedup-ingest-")
            raw.folders.append(folder)
            readable = _utf8_copy(path, contract.encoding, Path(folder.name))
        cols = header(readable, contract.delimiter)
        raw.columns += [c for c in cols if c not in raw.columns]
        raw.parts.append(
            Part(
                str(path),
                cols,
                path=path,
                readable=readable,
                delimiter=contract.delimiter,
                nul_free=not holds_nul(readable),
            )
        )
    return raw


def check_part(
    engine: Engine, raw: RawSource, part: Part, name: str, checks: Callable[[str, bool], str]
) -> None:
    """Scan a part once into table ``name`` with ``checks(source_sql, numbered)``, a query
    over the part's rows giving a few columns per row (its key and what is wrong with it).

    For a CSV file this is the scan that finds the rows the reader cannot parse; if
    DuckDB's reader gives up on the file, it is read row by row instead and held. An
    engine whose SQL cannot scan a CSV file (``csv_rejects``: Spark) reads it with its
    own reader first, and it is held.
    """
    if part.held is None and "csv_rejects" in engine.capabilities:
        _hold_csv(engine, raw, part, name)
    if part.held is not None:
        engine.stage(name, checks(part.scan(name, raw.columns), True))
        raw.temps.append(name)
        raw.rows_read += engine.count(name)
        return
    assert part.path is not None and part.readable is not None
    try:
        engine.stage(name, checks(part.scan(name, raw.columns), False))
    except Exception as exc:
        # DuckDB's parser gives up on some damage (a line holding only a NUL byte, for
        # one); Python's reader is slower but takes anything, row by row.
        raw.temps += [f"{name}_rejects", f"{name}_scans"]
        arrow, bad = _python_csv(part.path, part.readable, part.columns, part.delimiter)
        part.held = f"{name}_rows"
        engine.register(part.held, arrow)
        raw.temps.append(part.held)
        raw.notes.append(
            f"{part.path}: read row by row because DuckDB's CSV reader stopped ({_first_line(exc)})"
        )
        raw.rejects.extend(bad)
        check_part(engine, raw, part, name, checks)
        return
    raw.temps += [name, f"{name}_rejects", f"{name}_scans"]
    span = engine.to_arrow(
        engine.sql(f"SELECT count(*) AS n, min(rowid) AS lo, max(rowid) AS hi FROM {q(name)}")
    ).to_pylist()[0]
    n, part.base = int(span["n"]), int(span["lo"] or 0)
    if n and int(span["hi"]) - part.base + 1 != n:  # rowids must be dense to number rows
        raise ContractError(f"{part.path}: could not number the rows in file order")
    bad = _rejects(engine, f"{name}_rejects", part.path, part.readable)
    if n == 0 and not bad:
        raw.notes.append(f"{part.path}: has a header but no rows")
    raw.rejects.extend(bad)
    raw.rows_read += n
    if bad:
        qs = sorted({r["row_number"] for r in bad})
        g: dict[int, int] = {}
        for j, qj in enumerate(qs, start=1):
            g[qj - j] = j
        part.gaps = f"{name}_gaps"
        engine.register(part.gaps, pa.table({"g": list(g), "m": list(g.values())}))
        raw.temps.append(part.gaps)


def _hold_csv(engine: Engine, raw: RawSource, part: Part, name: str) -> None:
    """Read a CSV part with the engine's own reader into a table, rows numbered in file
    order; the records it cannot parse (a wrong number of fields) are rejects, with
    their row number and the record as read. Nothing passes through Python but those.

    The engine's reader (Spark's) puts U+FFFD in place of bytes that are not UTF-8,
    where DuckDB's rejects the row; so a file that is not valid UTF-8 is read row by row
    by Python's reader, which rejects those rows as DuckDB does.
    """
    assert part.path is not None and part.readable is not None
    held, unparsed = f"{name}_rows", f"{name}_unparsed"
    raw.temps += [held, unparsed]
    bad_byte = _first_bad_utf8(part.readable)
    if bad_byte is not None:
        arrow, bad = _python_csv(part.path, part.readable, part.columns, part.delimiter)
        engine.register(held, arrow)
        raw.notes.append(
            f"{part.path}: read row by row because it is not UTF-8 (byte {bad_byte:,})"
        )
    else:
        engine.read_files(
            held,
            [part.readable],
            "csv",
            names=part.columns,
            delimiter=part.delimiter,
            label=str(part.path),
            rejects=unparsed,
        )
        bad = [
            _unparsed(part.path, part.columns, part.delimiter, r["_row"], r["line"])
            for r in engine.to_arrow(unparsed).to_pylist()
        ]
        engine.drop_temp(unparsed)
        if not bad and engine.count(held) == 0:
            raw.notes.append(f"{part.path}: has a header but no rows")
    part.held = held
    raw.rejects.extend(bad)


def _first_bad_utf8(path: Path) -> int | None:
    """The offset of the first byte of a file that is not UTF-8, or None: the file is
    streamed, a few megabytes at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    done = 0
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(1 << 24)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return done + exc.start
            if not chunk:
                return None
            done += len(chunk)


def _unparsed(path: Path, cols: list[str], delimiter: str, row: int, line: str) -> dict[str, Any]:
    """A record the engine's CSV reader could not parse, as a reject (worded as DuckDB's)."""
    fields = next(csv.reader(io.StringIO(line, newline=""), delimiter=delimiter), [])
    found, want = len(fields), len(cols)
    kind = _wrong_count(found, want)
    why = (
        f"{kind}: Expected Number of Columns: {want} Found: {found}"
        if kind
        else "the CSV reader could not parse it"
    )
    return _reject(path, int(row), why, {"line": line.rstrip("\r\n")})


def _wrong_count(found: int, want: int) -> str | None:
    """What a record with ``found`` fields where ``want`` are expected is, as DuckDB's
    reader names it (None when the count is right)."""
    if found == want:
        return None
    return "MISSING COLUMNS" if found < want else "TOO MANY COLUMNS"


def _reject(path: Path, row: int, why: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A row a CSV reader could not read, as a reject (``raw``: what was read of it)."""
    return {
        "row_number": row,
        "column_name": None,
        "reason": f"{path}: row could not be read: {why}",
        "raw": json.dumps(raw, ensure_ascii=False),
    }


def _python_csv(
    path: Path, readable: Path, cols: list[str], delimiter: str
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Read a CSV file with Python's reader: rows as text, and the rows that do not fit."""
    data: dict[str, list[Any]] = {"_file": [], "_row": [], **{c: [] for c in cols}}
    bad: list[dict[str, Any]] = []
    with readable.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        next(reader, None)  # the header
        for n, fields in enumerate(reader, start=1):
            shown = [
                f.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                for f in fields
            ]
            why = None
            kind = _wrong_count(len(fields), len(cols))
            if shown != fields:
                why = "INVALID ENCODING: the row is not UTF-8" + _HINT
            elif kind:
                why = f"{kind}: expected {len(cols)} fields, found {len(fields)}"
            if why:
                bad.append(_reject(path, n, why, {"fields": shown}))
                continue
            data["_file"].append(str(path))
            data["_row"].append(n)
            for c, v in zip(cols, fields, strict=True):
                data[c].append(v)
    types = {"_row": pa.int64()}
    table = pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in data.items()})
    return table, bad


_HINT = (
    " — if the export is Windows-1252 (common from older Windows systems), say "
    "encoding: windows-1252 in the contract"
)


def _rejects(engine: Engine, table: str, path: Path, readable: Path) -> list[dict[str, Any]]:
    """Rows the CSV reader could not parse, with the raw bytes of each from the file."""
    rows = engine.to_arrow(
        engine.sql(
            f"SELECT line, min(line_byte_position) AS pos, first(csv_line) AS csv_line, "
            f"string_agg(DISTINCT error_type || ': ' || error_message, '; ') AS why "
            f"FROM {q(table)} GROUP BY line ORDER BY line"
        )
    ).to_pylist()
    out = []
    with readable.open("rb") as fh:
        for r in rows:
            why = str(r["why"])
            text = str(r["csv_line"] or "").rstrip("\r\n")
            if "INVALID ENCODING" in why or not text:
                # DuckDB shows bytes it cannot decode as "?": take them from the file.
                fh.seek(int(r["pos"]))
                line = fh.readline(1 << 20).rstrip(b"\r\n")
                text = line.decode("utf-8", errors="backslashreplace")
            if "INVALID ENCODING" in why:
                why += " — the row is not UTF-8" + _HINT
            # Line 1 is the header.
            out.append(_reject(path, int(r["line"]) - 1, why, {"line": text}))
    return out


def rejects_table(source: str, table: str, rejects: list[dict[str, Any]]) -> pa.Table:
    """Reader rejects as quarantine rows."""
    return pa.table(
        {
            "source": [source] * len(rejects),
            "table_name": [table] * len(rejects),
            "row_number": [r["row_number"] for r in rejects],
            "column_name": [r["column_name"] for r in rejects],
            "reason": [r["reason"] for r in rejects],
            "raw": [r["raw"] for r in rejects],
        },
        schema=QUARANTINE,
    )
