"""``joinedup value ...``: the ledger, the what-if, the gain-share deal and attribution."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from joinedup.errors import JoinedupError

app = typer.Typer(
    name="value",
    help="Price failure demand, show who causes it and who pays, and share a fix's saving.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory.")]
CostsOpt = Annotated[
    Path | None,
    typer.Option(
        "--costs", help="Unit-cost YAML laid over joinedup's defaults (default: the defaults)."
    ),
]
FixOpt = Annotated[
    str,
    typer.Option(
        "--fix",
        help='The fix, e.g. "org=benefits,cause=late_payment,reduce=0.8" (optional cost=GBP).',
    ),
]


def _friendly(fn: F) -> F:
    """Print joinedup's own errors as one line and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JoinedupError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except ValidationError as exc:
            err.print(
                f"[bold red]error:[/] invalid settings: {escape(str(exc))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _gbp(x: float | None) -> str:
    return "" if x is None else f"£{x:,.0f}"


@app.command("ledger")
@_friendly
def ledger_cmd(workspace: WorkspaceOpt = Path("workspace"), costs: CostsOpt = None) -> None:
    """Price every contact per organisation, service and month, and build the
    cost-shunting matrix (tables value_ledger and cost_shunting, and a heat map)."""
    from joinedup.value._ledger import ledger
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws, console.status("pricing contacts"):
        res = ledger(ws, costs)
    per_org: dict[str, dict[str, float]] = {}
    for r in res.table.to_pylist():
        o = per_org.setdefault(
            r["org"], {"contacts": 0, "failure": 0, "cost": 0.0, "fcost": 0.0, "else": 0}
        )
        o["contacts"] += r["contacts"]
        o["failure"] += r["failure_contacts"]
        o["cost"] += r["cost_gbp"]
        o["fcost"] += r["failure_cost_gbp"]
        o["else"] += r["failure_caused_elsewhere"]
    t = Table(title="Value ledger by organisation")
    for col in ("org", "contacts", "failure", "cost", "failure cost", "caused elsewhere"):
        t.add_column(col, justify="left" if col == "org" else "right")
    for org, o in sorted(per_org.items()):
        share = f"{o['else'] / o['failure']:.0%}" if o["failure"] else ""
        t.add_row(
            org,
            f"{o['contacts']:,.0f}",
            f"{o['failure']:,.0f}",
            _gbp(o["cost"]),
            _gbp(o["fcost"]),
            share,
        )
    console.print(t)
    _print_matrix(res.matrix.to_pylist())
    console.print(f"unit costs: {res.unit_costs}", highlight=False)
    console.print(
        f"wrote value_ledger ({res.table.num_rows} rows), cost_shunting "
        f"({res.matrix.num_rows} rows)" + (f", {res.chart}" if res.chart else ""),
        highlight=False,
    )


def _print_matrix(rows: list[dict[str, Any]]) -> None:
    absorbing = sorted({r["absorbed_by_org"] for r in rows})
    t = Table(title="Cost-shunting matrix: failure demand £ (caused by ↓, absorbed by →)")
    t.add_column("caused by")
    for a in absorbing:
        t.add_column(a, justify="right")
    cells = {(r["caused_by_org"], r["absorbed_by_org"]): r for r in rows}
    for c in sorted({r["caused_by_org"] for r in rows}):
        t.add_row(
            c, *[_gbp(cells[(c, a)]["cost_gbp"]) if (c, a) in cells else "" for a in absorbing]
        )
    console.print(t)


@app.command("matrix")
@_friendly
def matrix_cmd(workspace: WorkspaceOpt = Path("workspace")) -> None:
    """Show the cost-shunting matrix last written by `value ledger`, with top causes."""
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws:
        if not ws.engine.has_table("cost_shunting") or ws.count("cost_shunting") == 0:
            raise JoinedupError("no cost-shunting matrix yet: run `joinedup value ledger` first")
        rows = ws.read("cost_shunting").to_pylist()
    _print_matrix(rows)
    t = Table(title="Top causes per cell")
    for col in ("caused by", "absorbed by", "contacts", "cost", "top causes"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["caused_by_org"],
            r["absorbed_by_org"],
            f"{r['contacts']:,}",
            _gbp(r["cost_gbp"]),
            r["top_causes"] or "",
        )
    console.print(t)
    console.print(f"unit costs: {rows[0]['unit_costs']}", highlight=False)


@app.command("what-if")
@_friendly
def what_if_cmd(
    fix: FixOpt,
    workspace: WorkspaceOpt = Path("workspace"),
    costs: CostsOpt = None,
    replicates: Annotated[
        int, typer.Option(help="Bootstrap replicates for the interval.", min=0)
    ] = 1000,
    level: Annotated[float, typer.Option(help="Interval level.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Random seed of the bootstrap.")] = 0,
) -> None:
    """Re-price the contacts with one cause of failure reduced, knock-ons included;
    the saving per organisation with an interval for classification uncertainty."""
    from joinedup.value._whatif import what_if
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws, console.status("re-pricing"):
        res = what_if(ws, fix, costs, replicates=replicates, level=level, seed=seed)
    t = Table(title=f"What if: {res.fix}")
    cols = ("org", "contacts", "cost", "contacts removed", "saving", f"{level:.0%} interval")
    for col in cols:
        t.add_column(col, justify="left" if col == "org" else "right")
    for o in res.orgs:
        t.add_row(
            o.org,
            f"{o.contacts:,}",
            _gbp(o.cost_gbp),
            f"{o.contacts_removed:,.1f}",
            _gbp(o.saving_gbp),
            f"{_gbp(o.saving_low_gbp)} – {_gbp(o.saving_high_gbp)}",
        )
    t.add_row(
        "all",
        f"{sum(o.contacts for o in res.orgs):,}",
        _gbp(sum(o.cost_gbp for o in res.orgs)),
        f"{sum(o.contacts_removed for o in res.orgs):,.1f}",
        _gbp(res.total_saving_gbp),
        f"{_gbp(res.total_low_gbp)} – {_gbp(res.total_high_gbp)}",
    )
    console.print(t)
    console.print(
        f"{res.contacts_at_fixer:,} affected contacts at {res.fix.org}, "
        f"{res.knock_on_contacts:,} knock-ons at other organisations "
        f"({res.found_via_episodes:,} found through need episodes); "
        f"unit costs: {res.unit_costs}",
        highlight=False,
    )


@app.command("gainshare")
@_friendly
def gainshare_cmd(
    fix: FixOpt,
    workspace: WorkspaceOpt = Path("workspace"),
    costs: CostsOpt = None,
    rule: Annotated[str, typer.Option(help="shapley or pro-rata.")] = "shapley",
    fix_cost: Annotated[
        float | None,
        typer.Option(help="The fixer's declared cost (GBP), one-off over the horizon."),
    ] = None,
    years: Annotated[float, typer.Option(help="The deal's horizon in years.")] = 1.0,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the deal sheet (default WORKSPACE/value).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Propose how a fix's saving could be shared (Shapley value or pro-rata), net of
    the fixer's cost, as a one-page deal sheet in Markdown and HTML."""
    from joinedup.value._gainshare import gainshare
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws, console.status("sharing the gain"):
        deal = gainshare(
            ws, fix, costs, rule=rule, fix_cost=fix_cost, years=years, out_dir=out, seed=seed
        )
    t = Table(title=f"Gain-share ({deal.rule}): {deal.fix}")
    for col in ("org", "saves", "invests", "share", "transfer"):
        t.add_column(col, justify="left" if col == "org" else "right")
    for s in deal.shares:
        t.add_row(
            s.org, _gbp(s.saving_gbp), _gbp(s.invests_gbp), _gbp(s.share_gbp), _gbp(s.transfer_gbp)
        )
    console.print(t)
    if not deal.viable:
        console.print("the savings do not cover the fix's cost: no transfer proposed")
    console.print(f"unit costs: {deal.unit_costs}", highlight=False)
    console.print(f"deal sheet: {deal.markdown} and {deal.html}", highlight=False)


@app.command("attribution")
@_friendly
def attribution_cmd(
    truth: Annotated[
        Path, typer.Option("--truth", help="Truth file: the synthetic truth/events.parquet.")
    ],
    workspace: WorkspaceOpt = Path("workspace"),
) -> None:
    """How often the demand table names the right causing organisation, against truth."""
    from joinedup.value._attribution import attribution
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws:
        res = attribution(ws, truth)
    t = Table(title="Cause attribution (caused_by_org) against truth")
    for col in ("received by", "failure contacts", "attributed correctly", "accuracy"):
        t.add_column(col, justify="left" if col == "received by" else "right")
    for o in res.by_org:
        acc = "" if o.accuracy is None else f"{o.accuracy:.3f}"
        t.add_row(o.org, f"{o.failures:,}", f"{o.correct:,}", acc)
    t.add_row("all", f"{res.failures:,}", f"{res.correct:,}", f"{res.accuracy:.3f}")
    console.print(t)
    console.print(
        f"accuracy {res.accuracy:.3f} over {res.failures:,} failure contacts; "
        f"precision {res.precision:.3f} over {res.given:,} contacts given a cause; "
        f"agreement {res.agreement:.3f} over all {res.contacts:,} contacts",
        highlight=False,
    )
