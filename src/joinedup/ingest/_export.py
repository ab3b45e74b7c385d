"""Writing rows back out safely: quarantine exports that a spreadsheet cannot execute.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel and LibreOffice as a formula (CSV injection, OWASP); ``=cmd|' /C calc'!A0`` in an
export's free text would run when an analyst opens the quarantine file. Every text cell
written out is therefore escaped with a leading apostrophe, which spreadsheets show as
text and do not evaluate.

The quarantine holds an organisation's raw records, identity fields included: a file of
it is row-level data, not a statistic, so it is not disclosure-controlled but kept to the
organisation, and every such export is recorded in the audit log when one is given.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from joinedup.ingest._contract import ContractError
from joinedup.ingest._sql import lit
from joinedup.workspace import Workspace

if TYPE_CHECKING:
    from joinedup.governance import AuditLog

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def escape_cell(value: object) -> object:
    """A value safe to write into a spreadsheet cell: formula-like text gets a leading '."""
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value


def export_quarantine(
    workspace: Workspace,
    path: Path | str,
    *,
    source: str | None = None,
    audit: AuditLog | None = None,
    who: str | None = None,
) -> int:
    """Write the quarantined rows to a CSV or Excel (.xlsx) file, escaped; rows written.

    With ``audit``, the export (file, source, rows) is appended to it as ``export``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ContractError(
            f"{path}: write the quarantine as .csv or .xlsx, not {suffix or 'no suffix'}"
        )
    n = _write(workspace, path, source)
    if audit is not None:
        audit.append(
            who,
            "export",
            {
                "output": str(path),
                "table": "quarantine",
                "level": "row",
                "source": source,
                "rows": n,
            },
        )
    return n


def _write(workspace: Workspace, path: Path, source: str | None) -> int:
    where = f" WHERE source = {lit(source)}" if source is not None else ""
    expr = workspace.engine.sql(
        f"SELECT source, table_name, row_number, column_name, reason, raw FROM quarantine{where} "
        "ORDER BY source, table_name, row_number"
    )
    header = ["source", "table_name", "row_number", "column_name", "reason", "raw"]
    n = 0
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(header)
            for batch in workspace.engine.to_arrow(expr).to_batches():
                for row in batch.to_pylist():
                    out.writerow([escape_cell(row[h]) for h in header])
                    n += 1
        return n
    import xlsxwriter

    # strings_to_formulas=False is a second guard: xlsxwriter would otherwise turn any
    # string starting with "=" into a formula.
    book = xlsxwriter.Workbook(
        str(path),
        {"strings_to_formulas": False, "strings_to_urls": False, "constant_memory": True},
    )
    sheet = book.add_worksheet("quarantine")
    sheet.write_row(0, 0, header)
    for batch in workspace.engine.to_arrow(expr).to_batches():
        for row in batch.to_pylist():
            n += 1
            sheet.write_row(n, 0, [escape_cell(row[h]) for h in header])
    book.close()
    return n
