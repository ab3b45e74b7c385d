"""Command line for ingest: ``contract infer``, ``quality`` and ``quarantine``.

Mounted by ``joinedup.cli``; the top-level ``joinedup ingest`` command calls
:func:`print_results` and :func:`print_quality` from here to show what it loaded. Every
value that came from an export is escaped before Rich prints it, so text such as
``[bold]`` in a note is shown, not interpreted.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pyarrow as pa
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from joinedup._options import AgreementOpt, WhoOpt, WorkspaceOpt
from joinedup.errors import JoinedupError

app = typer.Typer(
    help="Data contracts, the data-quality report and the quarantine.",
    no_args_is_help=True,
    add_completion=False,
)
contract_app = typer.Typer(help="Data contracts: propose one from an export.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")

out = Console()
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Print joinedup's own errors as one line and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JoinedupError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@contract_app.command("infer")
@_friendly
def infer(
    export: Annotated[Path, typer.Argument(help="The export file to read a sample of.")],
    org: Annotated[str, typer.Option(help="Organisation code, e.g. benefits (a-z, 0-9, _).")],
    source: Annotated[
        str | None, typer.Option(help="Source name (default: ORG-<file name>).")
    ] = None,
) -> None:
    """Propose a data contract for EXPORT and print it as YAML.

    Guesses the format, encoding, delimiter, date formats and which columns hold the
    standard fields, from the column names and a sample of values. Save it, check it,
    edit it: `joinedup contract infer contacts.csv --org benefits > benefits.yaml`.
    """
    from joinedup.ingest._infer import contract_yaml, infer_contract

    contract = infer_contract(export, org, source=source)
    # Plain print: YAML on stdout must not be wrapped or styled.
    typer.echo(contract_yaml(contract, export), nl=False)


NoControlOpt = Annotated[
    bool,
    typer.Option(
        "--no-disclosure-control",
        help="Exact counts, for work inside the secure setting only; recorded in the audit log.",
    ),
]


@app.command("quality")
@_friendly
def quality_cmd(
    workspace: WorkspaceOpt = Path("workspace"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    org: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    agreement: AgreementOpt = None,
    no_disclosure_control: NoControlOpt = False,
    who: WhoOpt = None,
) -> None:
    """Show the data-quality report: six dimensions per source and column.

    Completeness, uniqueness, validity, consistency, timeliness and accuracy (the UK
    Government Data Quality Framework), as measured by the last ingest of each source.
    Counts of records under the threshold are withheld (shown as \\[c]) and the others rounded,
    unless --no-disclosure-control, which the audit log records.
    """
    from joinedup import ingest
    from joinedup.governance import AuditLog, control_off_by, load_agreement
    from joinedup.workspace import Workspace

    rules = load_agreement(agreement).outputs if agreement is not None else None
    with Workspace(workspace, create=False) as ws:
        report = ingest.quality(ws, org=org, source=source)
    if no_disclosure_control:
        AuditLog(workspace).append(
            control_off_by(workspace, who),
            "disclosure.off",
            {
                "output": "joinedup quality" + (" --json" if as_json else ""),
                "rows": report.num_rows,
                "org": org,
                "source": source,
            },
        )
        notes = [
            "Disclosure control was turned off for this output: it is not cleared for "
            "release outside the secure setting."
        ]
    else:
        report, notes = ingest.publish_quality(report, rules=rules)
    if as_json:
        doc = {
            "disclosure_control": not no_disclosure_control,
            "notes": notes,
            "measures": quality_json(report),
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    if report.num_rows == 0:
        err.print("No quality measures yet: ingest a source first.")
        raise typer.Exit(1)
    print_quality(report, out)
    for note in notes:
        out.print(escape(note), highlight=False)


@app.command("quarantine")
@_friendly
def quarantine_cmd(
    to: Annotated[Path, typer.Argument(help="File to write: .csv or .xlsx.")],
    workspace: WorkspaceOpt = Path("workspace"),
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    who: WhoOpt = None,
) -> None:
    """Write the quarantined rows, with their reasons, to a CSV or Excel file.

    The rows are the organisation's own raw records, for putting its export right: keep
    the file inside the organisation. The export is recorded in the audit log. Text that
    a spreadsheet would run as a formula (=, +, -, @ …) is escaped.
    """
    from joinedup import ingest
    from joinedup.governance import AuditLog
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws:
        n = ingest.export_quarantine(ws, to, source=source, audit=AuditLog(workspace), who=who)
    out.print(f"{n:,} quarantined rows written to {escape(str(to))}")


def quality_json(report: pa.Table) -> list[dict[str, Any]]:
    """The quality report as JSON-ready rows (times as ISO 8601)."""
    rows = report.to_pylist()
    for r in rows:
        r["measured_at"] = r["measured_at"].isoformat() if r["measured_at"] else None
        if r["score"] is not None and math.isnan(r["score"]):
            r["score"] = None
    return rows


def _score(row: dict[str, Any]) -> str:
    if row["score"] is None:
        return "—"
    colour = "green" if row["score"] >= 0.99 else "yellow" if row["score"] >= 0.9 else "red"
    return f"[{colour}]{row['score']:.1%}[/]"


def _count(row: dict[str, Any], col: str) -> str:
    value = row[col]
    return escape(row.get(col + "_marker") or "—") if value is None else f"{value:,}"


def print_quality(report: pa.Table, console: Console) -> None:
    """The quality report as one Rich table per source (the details are in ``--json``).

    ``report`` is :func:`joinedup.ingest.quality`'s table or, with withheld counts shown
    as their marker, :func:`joinedup.ingest.publish_quality`'s."""
    rows = report.to_pylist()
    for key in dict.fromkeys((r["org"], r["source"]) for r in rows):
        table = Table(
            title=f"Data quality: {escape(key[0])} / {escape(key[1])}", title_justify="left"
        )
        table.add_column("table", no_wrap=True)
        table.add_column("column", overflow="fold")
        table.add_column("dimension", no_wrap=True)
        table.add_column("check", overflow="fold")
        table.add_column("failed", justify="right", no_wrap=True)
        table.add_column("of", justify="right", no_wrap=True)
        table.add_column("score", justify="right", no_wrap=True)
        for r in rows:
            if (r["org"], r["source"]) != key:
                continue
            table.add_row(
                r["table_name"],
                escape(r["column_name"] or "(all)"),
                r["dimension"],
                escape(r["check_name"]),
                _count(r, "failed"),
                _count(r, "checked"),
                _score(r),
            )
        console.print(table)


def print_results(results: Sequence[Any], console: Console) -> None:
    """What each ingest loaded and quarantined, one row per source and table."""
    table = Table("source", "table", "rows in", "loaded", "quarantined", "reasons", "note")
    for res in results:
        for t in res.tables:
            reasons = ", ".join(f"{k}: {n:,}" for k, n in t.reasons.items())
            note = "unchanged: same content already loaded" if res.unchanged else ""
            if t.unmapped:
                note = (note + "; " if note else "") + f"not mapped: {', '.join(t.unmapped)}"
            table.add_row(
                escape(res.source),
                t.table,
                f"{t.rows_in:,}",
                f"{t.loaded:,}",
                f"{t.quarantined:,}",
                escape(reasons),
                escape("; ".join([note, *t.notes]).strip("; ")),
            )
    console.print(table)
