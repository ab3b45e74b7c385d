"""The ``joinedup`` command line: parses, calls the Python API, prints.

Errors joinedup can describe (a bad contract, a missing workspace …) are printed as a
message without a traceback, with a non-zero exit status.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from joinedup._options import WhoOpt
from joinedup._version import __version__
from joinedup.errors import JoinedupError

app = typer.Typer(
    name="joinedup",
    help="Measure the true value of public services end to end, across organisations.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
console = Console()
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace directory.", show_default=True)
]


def _friendly(fn: F) -> F:
    """Print joinedup's own errors as a message and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JoinedupError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
        except ValidationError as exc:
            err.print(f"[bold red]error:[/] invalid settings:\n{escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _version(value: bool) -> None:
    if value:
        console.print(f"joinedup {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            envvar="JOINEDUP_ENGINE",
            help="Engine for new workspaces: duckdb (embedded, the default) or spark. An "
            "existing workspace opens with the engine it was made with.",
        ),
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            envvar="JOINEDUP_SPARK_MASTER",
            help="Spark master URL with --engine spark (default local[*]: every core here).",
        ),
    ] = None,
) -> None:
    """joinedup: the citizen's view of public services, across organisations."""
    from joinedup.engine import ENGINES
    from joinedup.workspace import set_default_engine

    if engine not in ENGINES:
        raise typer.BadParameter(
            f"{engine!r} is not an engine: choose {' or '.join(ENGINES)}", param_hint="--engine"
        )
    set_default_engine(engine, spark_master)


@app.command()
@_friendly
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write exports, contracts and truth.")],
    people: Annotated[int, typer.Option(help="Number of people.", min=1)] = 5_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    failure_share: Annotated[
        float, typer.Option(help="Target share of contacts that are failure demand.")
    ] = 0.40,
) -> None:
    """Generate a synthetic population served by four organisations.

    Writes each organisation's export in its own shape (CSV, Parquet, Excel, JSON Lines)
    under OUT/exports, a data contract for each under OUT/contracts, and the ground truth
    under OUT/truth. The same seed gives byte-identical files.
    """
    from joinedup.synth import SynthConfig, generate

    cfg = SynthConfig(people=people, seed=seed, failure_share=failure_share)
    start = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("people", total=people)
        result = generate(out, cfg, progress=lambda n: bar.update(task, completed=n))
    took = time.perf_counter() - start
    table = Table("organisation", "person records", "events", title=f"Synthetic data in {out}")
    for org in result.events:
        table.add_row(org, f"{result.records[org]:,}", f"{result.events[org]:,}")
    console.print(table)
    console.print(
        f"{result.people:,} people, {result.contacts:,} contacts "
        f"({result.failure_share:.1%} failure demand) in {took:.1f} s"
    )


@app.command("ingest")
@_friendly
def ingest_cmd(
    contracts: Annotated[list[Path], typer.Argument(help="Data contract YAML file(s).")],
    workspace: WorkspaceOpt = Path("workspace"),
    agreement: Annotated[
        Path | None,
        typer.Option(
            "--agreement",
            help="Load under this data-sharing agreement: an organisation or field outside "
            "it is refused, and its output rules apply to the quality report.",
        ),
    ] = None,
    who: WhoOpt = None,
) -> None:
    """Load exports into the workspace through their data contracts, then print what was
    loaded and the data-quality report of each source.

    Rows that cannot be loaded go to the quarantine table with the file, row, column and
    reason; nothing is dropped. Loading the same source again replaces it. The exit status
    is 0 when a file loaded, even with rows quarantined, and 1 when nothing could be
    loaded, with the reason. Counts in the quality report pass disclosure control.
    """
    from joinedup import ingest
    from joinedup.governance import load_agreement
    from joinedup.ingest._cli import print_quality, print_results
    from joinedup.workspace import Workspace

    terms = load_agreement(agreement) if agreement is not None else None
    with Workspace(workspace) as ws:
        results = [ingest.load(c, ws, agreement=terms, who=who) for c in contracts]
        print_results(results, console)
        for res in results:
            report = ingest.quality(ws, source=res.source)
            if report.num_rows == 0:
                continue
            shown, notes = ingest.publish_quality(
                report, rules=terms.outputs if terms is not None else None
            )
            print_quality(shown, console)
            for note in notes:
                console.print(escape(note), highlight=False)


@app.command()
@_friendly
def report(
    workspace: WorkspaceOpt = Path("workspace"),
    out: Annotated[
        Path | None, typer.Option(help="Report file (default WORKSPACE/report.html).")
    ] = None,
    agreement: Annotated[
        Path | None,
        typer.Option("--agreement", help="Take the disclosure-control rules from this agreement."),
    ] = None,
    no_disclosure_control: Annotated[
        bool,
        typer.Option(
            "--no-disclosure-control",
            help="Exact counts, for work inside a secure setting only: the report says so "
            "on its face and the audit log records it.",
        ),
    ] = False,
    who: WhoOpt = None,
) -> None:
    """Write the HTML report: one self-contained file that opens offline.

    Every count passes disclosure control (by default: under 10 withheld, others rounded
    to 5; an agreement's output rules when --agreement is given). The export is recorded
    in the workspace's audit log.
    """
    from joinedup import report as report_mod
    from joinedup.governance import control_off_by, load_agreement
    from joinedup.workspace import Workspace

    rules = load_agreement(agreement).outputs if agreement is not None else None
    if no_disclosure_control:
        who = control_off_by(workspace, who)
    with Workspace(workspace, create=False) as ws:
        res = report_mod.build(
            ws,
            out or workspace / "report.html",
            rules=rules,
            disclosure_control=not no_disclosure_control,
            who=who,
        )
    _print_headline(res.published)
    console.print(f"Report: [link=file://{res.path.resolve()}]{res.path}[/link]")


@app.command()
@_friendly
def runs(workspace: WorkspaceOpt = Path("workspace")) -> None:
    """List the runs recorded in a workspace: what ran, when, with which inputs."""
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws:
        table = Table("run", "command", "started (UTC)", "status", "inputs", "version")
        for r in ws.runs():
            table.add_row(
                r["run_id"],
                r["command"],
                r["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
                r["status"],
                json.dumps(r["inputs"]),
                r["package_version"],
            )
        console.print(table)


@app.command()
@_friendly
def demo(
    workspace: WorkspaceOpt = Path("demo-workspace"),
    people: Annotated[int, typer.Option(help="Number of synthetic people.", min=1)] = 5_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Run the whole pipeline on a synthetic population and write the report.

    Generates the population, runs every stage that exists on embedded DuckDB, writes
    WORKSPACE/report.html and prints the headline figures.
    """
    from joinedup.demo import run_demo
    from joinedup.synth import SynthConfig

    start = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("synth", total=people)

        def stage(name: str) -> None:
            bar.update(task, description=name)

        result = run_demo(
            workspace,
            SynthConfig(people=people, seed=seed),
            on_stage=stage,
            progress=lambda n: bar.update(task, completed=n),
        )
    _print_headline(result.report.published)
    times = Table(title="Time per stage", title_justify="left", show_header=False)
    for name, secs in result.seconds.items():
        times.add_row(name, f"{secs:.1f} s")
    console.print(times)
    console.print(f"Finished in {time.perf_counter() - start:.1f} s.")
    console.print(f"Report: {result.report.path}")


def _print_headline(fig: Any) -> None:
    from joinedup.report import headline

    table = Table(show_header=False, title="Headline figures", title_justify="left")
    for label, value in headline(fig):
        table.add_row(label, str(value))
    console.print(table)


@app.command()
@_friendly
def serve(
    workspace: WorkspaceOpt = Path("workspace"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Serve the dashboard, the JSON API and label review for a workspace.

    Everyone signs in: add users first with `joinedup access user-add`. Figures of every
    organisation are disclosure-controlled; row-level data only for the user's own.
    The API is described by its OpenAPI schema at /openapi.json.
    """
    import uvicorn

    from joinedup.web import create_app

    application = create_app(
        workspace, progress=lambda line: console.print(line, markup=False, highlight=False)
    )
    console.print(f"Serving {workspace} at http://{host}:{port}/ (Ctrl+C to stop)")
    uvicorn.run(application, host=host, port=port, log_level="warning")


def _mount_stages() -> None:
    """The pipeline stages' own command groups, each defined beside its stage."""
    from joinedup.demand._cli import app as demand_app
    from joinedup.governance._cli import access_app, agreement_app, audit_app, retention_app
    from joinedup.ingest._cli import contract_app, quality_cmd, quarantine_cmd
    from joinedup.journeys._cli import app as journeys_app
    from joinedup.link._cli import app as link_app
    from joinedup.privacy._cli import pseudonymise
    from joinedup.value._cli import app as value_app

    app.add_typer(contract_app, name="contract")
    app.command("quality")(quality_cmd)
    app.command("quarantine")(quarantine_cmd)
    app.command("pseudonymise")(pseudonymise)
    app.add_typer(link_app, name="link")
    app.add_typer(journeys_app, name="journeys")
    app.add_typer(demand_app, name="demand")
    app.add_typer(value_app, name="value")
    app.add_typer(agreement_app, name="agreement")
    app.add_typer(retention_app, name="retention")
    app.add_typer(audit_app, name="audit")
    app.add_typer(access_app, name="access")


_mount_stages()
