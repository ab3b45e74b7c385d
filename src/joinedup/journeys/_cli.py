"""``joinedup journeys ...``: build episodes, draw process maps, mine any log, export."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from joinedup import journeys
from joinedup._options import AgreementOpt, WhoOpt, WorkspaceOpt
from joinedup.errors import JoinedupError
from joinedup.governance import (
    MARKER,
    AuditLog,
    OutputRules,
    control_off_by,
    disclose,
    load_agreement,
    write_disclosed,
)
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

NoControlOpt = Annotated[
    bool,
    typer.Option(
        "--no-disclosure-control",
        help="Exact counts, for work inside the secure setting only: an administrator's "
        "(in a workspace with users); recorded in the audit log.",
    ),
]
#: The row that stands for every variant followed by fewer cases than the threshold.
OTHER_VARIANTS = "(other variants)"


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


class _Outputs:
    """Where a command's figures go and under which rules: every table passes
    disclosure control (``governance.disclose``) unless it was turned off, and every
    file is recorded in the workspace's audit log (when there is a workspace)."""

    def __init__(
        self,
        workspace: Path | None,
        agreement: Path | None,
        no_disclosure_control: bool,
        who: str | None,
        command: str,
    ) -> None:
        self.rules = load_agreement(agreement).outputs if agreement is not None else None
        self.enabled = not no_disclosure_control
        self.command = command
        self.audit = AuditLog(workspace) if workspace is not None else None
        # With control on, the name is only recorded (as by every other command); it
        # must be a user allowed to turn control off only to do that.
        self.who: str | None = who
        if not self.enabled:
            if workspace is None or self.audit is None:
                raise journeys.JourneysError(
                    "--no-disclosure-control needs --workspace: the workspace whose audit "
                    "log records it"
                )
            self.who = control_off_by(workspace, who)

    @property
    def threshold(self) -> int:
        return (self.rules or OutputRules()).threshold

    def write(self, table: pa.Table, path: Path, what: str, **how: Any) -> None:
        done = write_disclosed(
            table,
            path,
            audit=self.audit,
            rules=self.rules,
            enabled=self.enabled,
            who=self.who,
            **how,
        )
        withheld = f" ({done.withheld:,} withheld)" if done.withheld else ""
        console.print(f"wrote {done.table.num_rows:,} {what}{withheld} to {escape(str(path))}")
        if done.notes_path is not None:
            console.print(f"  footnotes: {escape(str(done.notes_path))}")

    def table(self, table: pa.Table, output: str, **how: Any) -> tuple[pa.Table, list[str]]:
        """``table`` as it may be printed: values withheld are null with a marker."""
        return disclose(
            table,
            rules=self.rules,
            enabled=self.enabled,
            audit=None if self.enabled else self.audit,
            who=self.who,
            output=f"{self.command} ({output})",
            **how,
        )

    def count(self, n: int) -> str:
        """One count, as it may be printed."""
        if not self.enabled:
            return f"{n:,}"
        safe, _ = disclose(
            pa.table({"all": ["all"], "n": [n]}), by=["all"], counts=["n"], rules=self.rules
        )
        shown = safe.column("n")[0].as_py()
        return MARKER if shown is None else f"{shown:,}"


def _shown(row: dict[str, Any], col: str, fmt: str = "{:,}") -> str:
    value = row[col]
    if value is None:
        return escape(row.get(col + "_marker") or "")
    return fmt.format(value)


def _published_first(table: pa.Table, col: str, names: list[str]) -> pa.Table:
    """Rows by their published value, largest first, withheld ones after in name order:
    the order must not depend on a value that is not shown."""
    shown = table.filter(pc.is_valid(table.column(col)))
    hidden = table.filter(pc.is_null(table.column(col)))
    return pa.concat_tables(
        [
            shown.sort_by([(col, "descending"), *((n, "ascending") for n in names)]),
            hidden.sort_by([(n, "ascending") for n in names]),
        ]
    )


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        console.print(escape(note), highlight=False)


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


def _print_map(result: journeys.ProcessMap, top: int, outputs: _Outputs) -> None:
    hours = pa.table(
        {
            "source": result.dfg.column("source"),
            "target": result.dfg.column("target"),
            "frequency": result.dfg.column("frequency"),
            "median_h": pc.divide(result.dfg.column("median_seconds"), 3600.0),
            "p95_h": pc.divide(result.dfg.column("p95_seconds"), 3600.0),
        }
    )
    graph, notes = outputs.table(
        hours,
        "printout",
        by=["source", "target"],
        counts=["frequency"],
        keep=["median_h", "p95_h"],
    )
    if outputs.enabled:
        graph = _published_first(graph, "frequency", ["source", "target"])
    table = Table(
        title=f"directly-follows graph: {outputs.count(result.cases)} cases, "
        f"{outputs.count(result.events)} events"
    )
    for col in ("source", "target", "frequency", "median (h)", "p95 (h)"):
        table.add_column(col, justify="right" if col[0] in "fmp" else "left")
    for r in graph.slice(0, top).to_pylist():
        table.add_row(
            escape(r["source"]),
            escape(r["target"]),
            _shown(r, "frequency"),
            _shown(r, "median_h", "{:.1f}"),
            _shown(r, "p95_h", "{:.1f}"),
        )
    console.print(table)
    _print_notes(notes)
    if result.variants.num_rows:
        variants, vnotes = outputs.table(
            _variant_table(result.variants, outputs),
            "printout of variants",
            by=["variant"],
            counts=["cases"],
        )
        if outputs.enabled:
            variants = _published_first(variants, "cases", ["variant"])
        console.print(f"\ntop variants of {outputs.count(result.cases)} cases:")
        for r in variants.slice(0, min(top, 5)).to_pylist():
            console.print(f"{_shown(r, 'cases'):>7}  {escape(r['variant'])}", highlight=False)
        _print_notes(vnotes + _variant_notes(outputs))


def _variant_notes(outputs: _Outputs) -> list[str]:
    if not outputs.enabled:
        return []
    return [
        f"{OTHER_VARIANTS} is every variant followed by fewer than {outputs.threshold} "
        "cases, together: a path so rare is not listed."
    ]


def _variant_table(variants: pa.Table, outputs: _Outputs) -> pa.Table:
    """Variants and their cases; with disclosure control, every variant followed by
    fewer cases than the threshold is one row, :data:`OTHER_VARIANTS`. A rare path is
    itself what must not be shown (it is what a handful of people did, step by step),
    and a withheld count beside it would still say that someone followed it."""
    table = variants.select(["variant", "cases"])
    if not outputs.enabled:
        return table
    rare = pc.less(table.column("cases"), outputs.threshold)
    common = table.filter(pc.invert(rare))
    few = pc.sum(table.filter(rare).column("cases")).as_py() or 0
    if not few:
        return common
    other = pa.table({"variant": [OTHER_VARIANTS], "cases": [few]}, schema=common.schema)
    return pa.concat_tables([common, other])


@app.command("map")
@_friendly
def map_cmd(
    workspace: WorkspaceOpt = Path("workspace"),
    by: Annotated[str, typer.Option(help="Label events by activity, org or channel.")] = "activity",
    service: Annotated[str | None, typer.Option(help="Only episodes of this service.")] = None,
    contacts_only: Annotated[
        bool, typer.Option(help="Only citizens' contacts, not organisations' own actions.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write the graph here (.csv, .parquet or .json).")
    ] = None,
    variants: Annotated[Path | None, typer.Option(help="Write the variants here.")] = None,
    ends: Annotated[Path | None, typer.Option(help="Write start and end activities here.")] = None,
    top: Annotated[int, typer.Option(help="Rows to print.", min=1)] = 15,
    agreement: AgreementOpt = None,
    no_disclosure_control: NoControlOpt = False,
    who: WhoOpt = None,
) -> None:
    """The directly-follows graph of the episodes, with durations, and their variants.

    Counts pass disclosure control (by default: under 10 and zeros withheld as \\[c],
    others rounded to 5; durations withheld with their pair) and every file written is
    recorded in the audit log.
    """
    with _workspace(workspace) as ws:
        outputs = _Outputs(workspace, agreement, no_disclosure_control, who, "journeys map")
        with _spinner("discovering"):
            result = journeys.process_map(ws, by=by, service=service, contacts_only=contacts_only)
    _save(result, out, variants, ends, outputs)
    if out is None:
        _print_map(result, top, outputs)


def _save(
    result: journeys.ProcessMap,
    out: Path | None,
    variants: Path | None,
    ends: Path | None,
    outputs: _Outputs,
) -> None:
    if out is not None:
        outputs.write(
            result.dfg,
            out,
            "directly-follows pairs",
            by=["source", "target"],
            counts=["frequency"],
            keep=["mean_seconds", "median_seconds", "p95_seconds"],
        )
    if variants is not None:
        outputs.write(
            _variant_table(result.variants, outputs),
            variants,
            "variants",
            by=["variant"],
            counts=["cases"],
            notes=_variant_notes(outputs),
        )
    if ends is not None:
        starts = {r["activity"]: r["cases"] for r in result.starts.to_pylist()}
        finals = {r["activity"]: r["cases"] for r in result.ends.to_pylist()}
        names = sorted(set(starts) | set(finals))
        outputs.write(
            pa.table(
                {
                    "activity": pa.array(names, pa.string()),
                    "start_cases": pa.array([starts.get(n, 0) for n in names], pa.int64()),
                    "end_cases": pa.array([finals.get(n, 0) for n in names], pa.int64()),
                }
            ),
            ends,
            "start and end activities",
            by=["activity"],
            counts=["start_cases", "end_cases"],
        )


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
    out: Annotated[
        Path, typer.Option(help="Where to write the graph (.csv, .parquet or .json).")
    ] = Path("dfg.csv"),
    variants: Annotated[Path | None, typer.Option(help="Write the variants here.")] = None,
    ends: Annotated[Path | None, typer.Option(help="Write start and end activities here.")] = None,
    spill_dir: Annotated[
        Path | None, typer.Option(help="Work in a database here, for logs larger than memory.")
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Record the files in this workspace's audit log."),
    ] = None,
    agreement: AgreementOpt = None,
    no_disclosure_control: NoControlOpt = False,
    who: WhoOpt = None,
) -> None:
    """Directly-follows graph (and variants) of any event log, no workspace needed.

    Counts pass disclosure control, as for `journeys map`; with --workspace the files are
    recorded in its audit log (--no-disclosure-control needs one).
    """
    if workspace is not None and not workspace.is_dir():
        raise journeys.JourneysError(f"no workspace at {workspace}")
    outputs = _Outputs(workspace, agreement, no_disclosure_control, who, "journeys dfg")
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
    _save(result, out, variants, ends, outputs)


@app.command()
@_friendly
def shape(
    workspace: WorkspaceOpt = Path("workspace"),
    settings: Annotated[
        Path | None, typer.Option(help="YAML file of shape thresholds (see docs/journeys.md).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the table here (.csv, .parquet or .json).")
    ] = None,
    agreement: AgreementOpt = None,
    no_disclosure_control: NoControlOpt = False,
    who: WhoOpt = None,
) -> None:
    """Class each service as transactional, high-variety or complex.

    The count of episodes passes disclosure control; a service whose count is withheld
    has its measures and shape withheld too.
    """
    cfg = ShapeSettings(**_settings_file(settings, "shape"))
    with _workspace(workspace) as ws:
        outputs = _Outputs(workspace, agreement, no_disclosure_control, who, "journeys shape")
        table = journeys.service_shapes(ws, cfg)
    measures = [c for c in table.column_names if c not in ("service", "episodes")]
    # The tail share times the episodes is how many episodes are off the main paths:
    # a share that gives away a count under the threshold (off them or on them) is
    # withheld as that count would be.
    off = pc.round(pc.multiply(table.column("tail_share"), table.column("episodes")))
    table = table.append_column("off_main_paths", pc.cast(off, pa.int64()))
    table = table.append_column(
        "on_main_paths", pc.subtract(table.column("episodes"), table.column("off_main_paths"))
    )
    how: dict[str, Any] = {
        "by": ["service"],
        "counts": ["episodes"],
        "keep": measures,
        "rests_on": {"tail_share": ["off_main_paths", "on_main_paths"]},
    }
    if out is not None:
        outputs.write(table, out, "services", **how)
        return
    shown, notes = outputs.table(table, "printout", **how)
    if outputs.enabled:
        shown = _published_first(shown, "episodes", ["service"])
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
    for r in shown.to_pylist():
        view.add_row(
            escape(r["service"]),
            _shown(r, "episodes"),
            _shown(r, "variants"),
            _shown(r, "entropy_ratio", "{:.2f}"),
            _shown(r, "tail_share", "{:.0%}"),
            _shown(r, "orgs_per_need", "{:.2f}"),
            _shown(r, "concurrent_needs", "{:.2f}"),
            _shown(r, "shape", "{}"),
        )
    console.print(view)
    _print_notes(notes)


#: What ``journeys export`` writes, and why it needs control turned off.
@app.command()
@_friendly
def export(
    out: Annotated[Path, typer.Argument(help="File to write: .jsonocel/.json, .sqlite or .xes.")],
    workspace: WorkspaceOpt = Path("workspace"),
    no_disclosure_control: Annotated[
        bool,
        typer.Option(
            "--no-disclosure-control",
            help="Required: the log is row-level, for use inside the secure setting only; "
            "an administrator's (in a workspace with users); recorded in the audit log.",
        ),
    ] = False,
    who: WhoOpt = None,
) -> None:
    """Export the linked log as OCEL 2.0 (JSON or SQLite) or XES, for other tools.

    The log is row-level and joins every organisation's events, so it is written only
    with --no-disclosure-control, for work inside the secure setting; the refusal, the
    turning off and the file are recorded in the audit log. For figures to share, use
    `journeys map --out` instead.
    """
    suffix = out.suffix.lower()
    if suffix == ".xes":
        write, what = journeys.export_xes, "traces"
    elif suffix in (".json", ".jsonocel", ".sqlite", ".db", ".sqlite3"):
        write, what = journeys.export_ocel, "events"
    else:
        raise journeys.JourneysError(
            f"{out}: cannot tell the format; name it .jsonocel, .json, .sqlite or .xes"
        )
    with _workspace(workspace) as ws, _spinner(f"writing {out.name}"):
        n = write(ws, out, disclosure_control=not no_disclosure_control, who=who)
    console.print(f"wrote {n:,} {what} to {escape(str(out))}")
    console.print(
        "Disclosure control was turned off for this output: it is row-level and not "
        "cleared for release outside the secure setting.",
        highlight=False,
    )
