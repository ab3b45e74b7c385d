"""``joinedup journeys ...``: build episodes, draw process maps, mine any log, export."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from joinedup import journeys
from joinedup.errors import JoinedupError
from joinedup.journeys._settings import EpisodeSettings, ShapeSettings
from joinedup.workspace import Workspace

app = typer.Typer(
    name="journeys",
    help="Citizens' journeys across organisations: need episodes, process maps, variants.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory.")]


def _friendly(fn: F) -> F:
    """Print joinedup's own errors as one line and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JoinedupError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            err.print(f"[bold red]error:[/] invalid setting {where}: {escape(str(first['msg']))}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _spinner(what: str) -> Progress:
    progress = Progress(
        SpinnerColumn(), TextColumn(what), TimeElapsedColumn(), console=err, transient=True
    )
    progress.add_task(what, total=None)
    return progress


def _settings_file(path: Path | None, section: str) -> dict[str, Any]:
    if path is None:
        return {}
    if not path.is_file():
        raise journeys.JourneysError(f"{path}: no such settings file")
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(doc, dict):
        raise journeys.JourneysError(f"{path}: expected a mapping of settings")
    inner = doc.get(section, doc)
    return dict(inner) if isinstance(inner, dict) else {}


def _workspace(path: Path) -> Workspace:
    return Workspace(path, create=False)


def _write_csv(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path)


@app.command()
@_friendly
def build(
    workspace: WorkspaceOpt = Path("workspace"),
    settings: Annotated[
        Path | None,
        typer.Option(help="YAML file of episode settings (see docs/methods/episodes.md)."),
    ] = None,
    quiet_days: Annotated[
        float | None, typer.Option(help="Days without an event after which a need is quiet.")
    ] = None,
) -> None:
    """Group linked events into need episodes; writes the episodes tables."""
    values = _settings_file(settings, "episodes")
    if quiet_days is not None:
        values["quiet_days"] = quiet_days
    cfg = EpisodeSettings(**values)
    with _workspace(workspace) as ws, _spinner("building episodes"):
        result = journeys.episodes(ws, cfg)
    console.print(
        f"{result.episodes:,} episodes for {result.people:,} people from "
        f"{result.linked_events:,} linked events ({result.events - result.linked_events:,} "
        f"events unlinked): {result.met:,} met, {result.abandoned:,} abandoned, "
        f"{result.open:,} open"
    )


def _print_map(result: journeys.ProcessMap, top: int) -> None:
    table = Table(title=f"directly-follows graph: {result.cases:,} cases, {result.events:,} events")
    for col in ("source", "target", "frequency", "median (h)", "p95 (h)"):
        table.add_column(col, justify="right" if col[0] in "fmp" else "left")
    for r in result.dfg.slice(0, top).to_pylist():
        table.add_row(
            r["source"],
            r["target"],
            f"{r['frequency']:,}",
            f"{r['median_seconds'] / 3600:.1f}",
            f"{r['p95_seconds'] / 3600:.1f}",
        )
    console.print(table)
    if result.variants.num_rows:
        v = result.variants.slice(0, min(top, 5)).to_pylist()
        for r in v:
            console.print(f"{r['share']:6.1%}  {r['cases']:>7,}  {r['variant']}", highlight=False)


@app.command("map")
@_friendly
def map_cmd(
    workspace: WorkspaceOpt = Path("workspace"),
    by: Annotated[str, typer.Option(help="Label events by activity, org or channel.")] = "activity",
    service: Annotated[str | None, typer.Option(help="Only episodes of this service.")] = None,
    contacts_only: Annotated[
        bool, typer.Option(help="Only citizens' contacts, not organisations' own actions.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Write the graph as CSV here.")] = None,
    variants: Annotated[Path | None, typer.Option(help="Write the variants as CSV here.")] = None,
    ends: Annotated[
        Path | None, typer.Option(help="Write start and end activities as CSV here.")
    ] = None,
    top: Annotated[int, typer.Option(help="Rows to print.", min=1)] = 15,
) -> None:
    """The directly-follows graph of the episodes, with durations, and their variants."""
    with _workspace(workspace) as ws, _spinner("discovering"):
        result = journeys.process_map(ws, by=by, service=service, contacts_only=contacts_only)
    _save(result, out, variants, ends)
    if out is None:
        _print_map(result, top)


def _save(
    result: journeys.ProcessMap, out: Path | None, variants: Path | None, ends: Path | None
) -> None:
    if out is not None:
        _write_csv(result.dfg, out)
        console.print(f"wrote {result.dfg.num_rows:,} directly-follows pairs to {out}")
    if variants is not None:
        _write_csv(result.variants.select(["variant", "cases", "share"]), variants)
        console.print(f"wrote {result.variants.num_rows:,} variants to {variants}")
    if ends is not None:
        starts = {r["activity"]: r["cases"] for r in result.starts.to_pylist()}
        finals = {r["activity"]: r["cases"] for r in result.ends.to_pylist()}
        names = sorted(set(starts) | set(finals))
        _write_csv(
            pa.table(
                {
                    "activity": names,
                    "start_cases": [starts.get(n, 0) for n in names],
                    "end_cases": [finals.get(n, 0) for n in names],
                }
            ),
            ends,
        )
        console.print(f"wrote start and end activities to {ends}")


@app.command()
@_friendly
def dfg(
    log: Annotated[Path, typer.Argument(help="Event log: CSV, Parquet or XES (.xes, .xes.gz).")],
    case_col: Annotated[str, typer.Option(help="Column naming the case.")] = "case:concept:name",
    activity_col: Annotated[str, typer.Option(help="Column naming the activity.")] = "concept:name",
    time_col: Annotated[str, typer.Option(help="Column holding the time.")] = "time:timestamp",
    time_format: Annotated[
        str | None, typer.Option(help="strptime format of text times (default ISO 8601).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the graph (CSV).")] = Path("dfg.csv"),
    variants: Annotated[Path | None, typer.Option(help="Write the variants as CSV here.")] = None,
    ends: Annotated[
        Path | None, typer.Option(help="Write start and end activities as CSV here.")
    ] = None,
    spill_dir: Annotated[
        Path | None, typer.Option(help="Work in a database here, for logs larger than memory.")
    ] = None,
) -> None:
    """Directly-follows graph (and variants) of any event log, no workspace needed."""
    with _spinner(f"reading and mining {log.name}"):
        result = journeys.discover_log(
            log,
            case_col=case_col,
            activity_col=activity_col,
            time_col=time_col,
            time_format=time_format,
            variants=variants is not None,
            spill_dir=spill_dir,
        )
    if result.skipped:
        err.print(f"left out {result.skipped:,} rows lacking a case, an activity or a time")
    _save(result, out, variants, ends)


@app.command()
@_friendly
def shape(
    workspace: WorkspaceOpt = Path("workspace"),
    settings: Annotated[
        Path | None, typer.Option(help="YAML file of shape thresholds (see docs/journeys.md).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the table as CSV here.")] = None,
) -> None:
    """Class each service as transactional, high-variety or complex."""
    cfg = ShapeSettings(**_settings_file(settings, "shape"))
    with _workspace(workspace) as ws:
        table = journeys.service_shapes(ws, cfg)
    if out is not None:
        _write_csv(table, out)
        console.print(f"wrote {table.num_rows} services to {out}")
        return
    view = Table(title="service shape")
    for col in (
        "service",
        "episodes",
        "variants",
        "entropy ratio",
        "tail share",
        "orgs/need",
        "needs at once",
        "shape",
    ):
        view.add_column(col)
    for r in table.to_pylist():
        view.add_row(
            r["service"],
            f"{r['episodes']:,}",
            f"{r['variants']:,}",
            f"{r['entropy_ratio']:.2f}",
            f"{r['tail_share']:.0%}",
            f"{r['orgs_per_need']:.2f}",
            f"{r['concurrent_needs']:.2f}",
            r["shape"],
        )
    console.print(view)


@app.command()
@_friendly
def export(
    out: Annotated[Path, typer.Argument(help="File to write: .jsonocel/.json, .sqlite or .xes.")],
    workspace: WorkspaceOpt = Path("workspace"),
) -> None:
    """Export the linked log as OCEL 2.0 (JSON or SQLite) or XES."""
    suffix = out.suffix.lower()
    with _workspace(workspace) as ws, _spinner(f"writing {out.name}"):
        if suffix == ".xes":
            n = journeys.export_xes(ws, out)
            what = "traces"
        elif suffix in (".json", ".jsonocel", ".sqlite", ".db", ".sqlite3"):
            n = journeys.export_ocel(ws, out)
            what = "events"
        else:
            raise journeys.JourneysError(
                f"{out}: cannot tell the format; name it .jsonocel, .json, .sqlite or .xes"
            )
    console.print(f"wrote {n:,} {what} to {out}")
