"""Read one table's files of an export into the engine, every row numbered in file order.

The result is SQL over temporary tables with a ``_file`` and a 1-based ``_row`` column
beside the export's own columns, plus the rows the reader itself could not parse (ragged
rows, bytes that are not in the declared encoding), which go to quarantine whole.

CSV is read by DuckDB in parallel and streamed; it is never loaded into Python. The rows
of a table created from a scan keep the file's order (DuckDB preserves insertion order),
so ``rowid`` (less the first one) numbers them; rows the CSV reader rejected are put back
into the count.
"""

from __future__ import annotations

import codecs
import csv
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.ingest._contract import Contract, ContractError, TableSpec
from joinedup.ingest._excel import read_excel
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
class RawSource:
    """One table's rows as read, before typing."""

    sql: str
    columns: list[str]
    rows_read: int
    rejects: list[dict[str, Any]] = field(default_factory=list)
    temps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        """Every row the files hold: the parsed ones and the rejected ones."""
        return self.rows_read + len(self.rejects)


def read_raw(
    engine: Engine, contract: Contract, table: str, spec: TableSpec, files: list[Path]
) -> RawSource:
    """Read ``files`` for ``table`` into temporary tables named ``_raw_<table>…``."""
    name = f"_raw_{table}"
    fmt = contract.format
    if fmt == "csv":
        return _read_csv(engine, contract, name, files)
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
    return RawSource(
        sql=f"SELECT * FROM {q(name)}",
        columns=columns,
        rows_read=engine.count(name),
        temps=[name],
    )


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
    names: list[str] = []
    for i, raw in enumerate(first, start=1):
        base = raw.strip() or f"column{i}"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _read_csv(engine: Engine, contract: Contract, name: str, files: list[Path]) -> RawSource:
    selects: list[str] = []
    rejects: list[dict[str, Any]] = []
    temps: list[str] = []
    notes: list[str] = []
    columns: list[str] = []
    rows = 0
    with tempfile.TemporaryDirectory(prefix="joinedup-ingest-") as tmp:
        for i, path in enumerate(files):
            sniff(path, contract.encoding)
            if path.stat().st_size == 0:
                notes.append(f"{path}: the file is empty (0 bytes)")
                continue
            readable = (
                path
                if _is_utf8(contract.encoding)
                else _utf8_copy(path, contract.encoding, Path(tmp))
            )
            t, rej, scan = f"{name}_{i}", f"{name}_{i}_rejects", f"{name}_{i}_scans"
            cols = header(readable, contract.delimiter)
            # The columns come from the header, so DuckDB's sniffer, which gives up on a
            # file with an unterminated quote, is not needed.
            spec = ", ".join(f"{lit(c)}: 'VARCHAR'" for c in cols)
            options = (
                f"columns={{{spec}}}, auto_detect=false, header=true, "
                f"delim={lit(contract.delimiter)}, quote='\"', escape='\"', strict_mode=true, "
                f"store_rejects=true, rejects_table={lit(rej)}, rejects_scan={lit(scan)}"
            )
            try:
                engine.stage(t, f"SELECT * FROM read_csv({lit(str(readable))}, {options})")
            except Exception as exc:
                # DuckDB's parser gives up on some damage (a line holding only a NUL byte,
                # for one); Python's reader is slower but takes anything, row by row.
                arrow, bad = _python_csv(path, readable, cols, contract.delimiter)
                engine.register(t, arrow)
                temps.append(t)
                notes.append(
                    f"{path}: read row by row because DuckDB's CSV reader stopped "
                    f"({_first_line(exc)})"
                )
                rejects.extend(bad)
                rows += arrow.num_rows
                for c in cols:
                    if c not in columns:
                        columns.append(c)
                selects.append(f"SELECT * FROM {q(t)}")
                continue
            temps += [t, rej, scan]
            span = engine.to_arrow(
                engine.sql(f"SELECT count(*) AS n, min(rowid) AS lo, max(rowid) AS hi FROM {q(t)}")
            ).to_pylist()[0]
            n, base = int(span["n"]), int(span["lo"] or 0)
            if n and int(span["hi"]) - base + 1 != n:  # rowids must be dense to number rows
                raise ContractError(f"{path}: could not number the rows in file order")
            for c in cols:
                if c not in columns:
                    columns.append(c)
            bad = _rejects(engine, rej, path, readable)
            if n == 0 and not bad:
                notes.append(f"{path}: has a header but no rows")
            rejects.extend(bad)
            rows += n
            label = lit(str(path))
            if not bad:
                selects.append(
                    f"SELECT {label} AS _file, CAST(t.rowid - {base} + 1 AS BIGINT) AS _row, t.* "
                    f"FROM {q(t)} AS t"
                )
                continue
            # The k-th parsed row is data row k + m, where m counts the rejected rows before
            # it: with rejected rows q_1 < q_2 < …, m = #{j : q_j - j < k}.
            gaps = f"{t}_gaps"
            qs = sorted({r["row_number"] for r in bad})
            g: dict[int, int] = {}
            for j, qj in enumerate(qs, start=1):
                g[qj - j] = j
            engine.register(gaps, pa.table({"g": list(g), "m": list(g.values())}))
            temps.append(gaps)
            selects.append(
                f"SELECT {label} AS _file, CAST(t.rowid - {base} + 1 + coalesce(a.m, 0) AS BIGINT) "
                f"AS _row, t.* FROM {q(t)} AS t ASOF LEFT JOIN {q(gaps)} AS a "
                f"ON t.rowid - {base} >= a.g"
            )
    if not selects:
        selects.append(
            "SELECT CAST(NULL AS VARCHAR) AS _file, CAST(NULL AS BIGINT) AS _row LIMIT 0"
        )
    sql = " UNION ALL BY NAME ".join(f"({s})" for s in selects)
    return RawSource(
        sql=f"SELECT * FROM ({sql})",
        columns=columns,
        rows_read=rows,
        rejects=rejects,
        temps=temps,
        notes=notes,
    )


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
            if shown != fields:
                why = "INVALID ENCODING: the row is not UTF-8" + _HINT
            elif len(fields) != len(cols):
                kind = "MISSING COLUMNS" if len(fields) < len(cols) else "TOO MANY COLUMNS"
                why = f"{kind}: expected {len(cols)} fields, found {len(fields)}"
            if why:
                bad.append(
                    {
                        "row_number": n,
                        "column_name": None,
                        "reason": f"{path}: row could not be read: {why}",
                        "raw": json.dumps({"fields": shown}, ensure_ascii=False),
                    }
                )
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
            out.append(
                {
                    "row_number": int(r["line"]) - 1,  # line 1 is the header
                    "column_name": None,
                    "reason": f"{path}: row could not be read: {why}",
                    "raw": json.dumps({"line": text}, ensure_ascii=False),
                }
            )
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
