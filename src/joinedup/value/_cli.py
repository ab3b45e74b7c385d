"""``joinedup value ...``: the ledger, the what-if, the gain-share deal and attribution."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from joinedup._options import AgreementOpt, WhoOpt, WorkspaceOpt
from joinedup.errors import JoinedupError
from joinedup.governance import MARKER, OutputRules
from joinedup.value._published import PublishedMatrix, merge_notes

app = typer.Typer(
    name="value",
    help="Price failure demand, show who causes it and who pays, and share a fix's saving.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

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


def _rules(agreement: Path | None) -> OutputRules | None:
    from joinedup.governance import load_agreement

    return load_agreement(agreement).outputs if agreement is not None else None


def _notes(notes: Iterable[str]) -> None:
    for note in merge_notes(notes):
        console.print(escape(note), highlight=False)


#: The withheld marker as Rich markup (a bare "[c]" would be read as a style tag).
_WITHHELD = escape(MARKER)


def _money(x: float | None) -> str:
    """An amount that may be withheld."""
    return _WITHHELD if x is None else f"£{x:,.0f}"


def _count(n: float | None, fmt: str = "{:,.0f}") -> str:
    return _WITHHELD if n is None else fmt.format(n)


@app.command("ledger")
@_friendly
def ledger_cmd(
    workspace: WorkspaceOpt = Path("workspace"),
    costs: CostsOpt = None,
    agreement: AgreementOpt = None,
    who: WhoOpt = None,
) -> None:
    """Price every contact per organisation, service and month, and build the
    cost-shunting matrix (tables value_ledger and cost_shunting, and a heat map).

    What is printed and drawn passes disclosure control: counts under the threshold,
    and money resting on them, are withheld as \\[c]; other counts are rounded.
    """
    from joinedup.value._ledger import ledger
    from joinedup.value._published import publish_by_org
    from joinedup.workspace import Workspace

    rules = _rules(agreement) or OutputRules()
    with Workspace(workspace, create=False) as ws, console.status("pricing contacts"):
        res = ledger(ws, costs, rules=rules, who=who)
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
    shown = {
        key: publish_by_org({org: int(o[key]) for org, o in per_org.items()}, rules)
        for key in ("contacts", "failure", "else")
    }
    t = Table(title="Value ledger by organisation")
    for col in ("org", "contacts", "failure", "cost", "failure cost", "caused elsewhere"):
        t.add_column(col, justify="left" if col == "org" else "right")
    for org, o in sorted(per_org.items()):
        n, f, e = (shown[k].values[org] for k in ("contacts", "failure", "else"))
        t.add_row(
            org,
            _count(n),
            _count(f),
            _money(o["cost"] if n is not None else None),
            _money(o["fcost"] if f is not None else None),
            # From the published counts, so the share gives no withheld count away.
            _WITHHELD if f is None or e is None else f"{e / f:.0%}" if f else "",
        )
    console.print(t)
    _print_matrix(res.published)
    _notes([*(n for b in shown.values() for n in b.notes), *res.published.notes])
    console.print(f"unit costs: {res.unit_costs}", highlight=False)
    console.print(
        f"wrote value_ledger ({res.table.num_rows} rows), cost_shunting "
        f"({res.matrix.num_rows} rows)" + (f", {res.chart}" if res.chart else ""),
        highlight=False,
    )


def _print_matrix(matrix: PublishedMatrix) -> None:
    from joinedup.governance._disclosure import TOTAL

    cells = {(c.caused_by_org, c.absorbed_by_org): c for c in matrix.cells}
    if not cells:
        console.print("no failure demand: the cost-shunting matrix is empty")
        return
    absorbing = [*sorted({a for _, a in cells} - {TOTAL}), TOTAL]
    t = Table(title="Cost-shunting matrix: failure demand £ (caused by ↓, absorbed by →)")
    t.add_column("caused by")
    for a in absorbing:
        t.add_column(a, justify="right")
    for c in [*sorted({c for c, _ in cells} - {TOTAL}), TOTAL]:
        t.add_row(
            c,
            *[_money(cells[(c, a)].cost_gbp) if (c, a) in cells else "" for a in absorbing],
        )
    console.print(t)


@app.command("matrix")
@_friendly
def matrix_cmd(
    workspace: WorkspaceOpt = Path("workspace"),
    agreement: AgreementOpt = None,
) -> None:
    """Show the cost-shunting matrix, priced with the unit costs of the last
    `value ledger`, with the main causes in each cell, under disclosure control."""
    from joinedup.value._ledger import published_matrix
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws:
        matrix = published_matrix(ws, rules=_rules(agreement))
    _print_matrix(matrix)
    t = Table(title="Main causes per cell")
    for col in ("caused by", "absorbed by", "contacts", "cost", "main causes"):
        t.add_column(col)
    for c in matrix.cells:
        t.add_row(
            c.caused_by_org,
            c.absorbed_by_org,
            _count(c.contacts),
            _money(c.cost_gbp),
            ", ".join(c.top_causes),
        )
    console.print(t)
    _notes(matrix.notes)
    console.print(
        "Main causes: the root causes with the most contacts in the cell, each named only "
        "where enough contacts and people are behind it; their counts are not shown.",
        highlight=False,
    )
    console.print(f"unit costs: {matrix.unit_costs}", highlight=False)


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
    agreement: AgreementOpt = None,
) -> None:
    """Re-price the contacts with one cause of failure reduced, knock-ons included;
    the saving per organisation with an interval for classification uncertainty.
    Counts under the threshold, and the money resting on them, are withheld as \\[c]."""
    from joinedup.value._whatif import what_if
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws, console.status("re-pricing"):
        res = what_if(ws, fix, costs, replicates=replicates, level=level, seed=seed)
    pub = res.published(_rules(agreement))
    t = Table(title=f"What if: {res.fix}")
    cols = ("org", "contacts", "cost", "contacts removed", "saving", f"{level:.0%} interval")
    for col in cols:
        t.add_column(col, justify="left" if col == "org" else "right")
    for o in (*pub.orgs, pub.total):
        t.add_row(
            o.org,
            _count(o.contacts),
            _money(o.cost_gbp),
            _count(o.contacts_removed),
            _money(o.saving_gbp),
            _WITHHELD
            if o.saving_low_gbp is None
            else f"{_gbp(o.saving_low_gbp)} – {_gbp(o.saving_high_gbp)}",
        )
    console.print(t)
    console.print(
        f"{_count(pub.contacts_at_fixer)} affected contacts at {escape(res.fix.org)}, "
        f"{_count(pub.knock_on_contacts)} knock-ons at other organisations "
        f"({_count(pub.found_via_episodes)} found through need episodes); "
        f"unit costs: {escape(res.unit_costs)}",
        highlight=False,
    )
    _notes(pub.notes)


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
    agreement: AgreementOpt = None,
    who: WhoOpt = None,
) -> None:
    """Propose how a fix's saving could be shared (Shapley value or pro-rata), net of
    the fixer's cost, as a one-page deal sheet in Markdown and HTML. A saving resting on
    fewer contacts than the threshold is withheld as \\[c], with what it would give away."""
    from joinedup.value._gainshare import gainshare
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws, console.status("sharing the gain"):
        deal = gainshare(
            ws,
            fix,
            costs,
            rule=rule,
            fix_cost=fix_cost,
            years=years,
            out_dir=out,
            seed=seed,
            rules=_rules(agreement),
            who=who,
        )
    assert deal.published is not None
    t = Table(title=f"Gain-share ({deal.rule}): {deal.fix}")
    for col in ("org", "saves", "invests", "share", "transfer"):
        t.add_column(col, justify="left" if col == "org" else "right")
    for s in deal.published.shares:
        t.add_row(
            s.org,
            _money(s.saving_gbp),
            _gbp(s.invests_gbp),
            _money(s.share_gbp),
            _money(s.transfer_gbp),
        )
    console.print(t)
    if not deal.viable:
        console.print("the savings do not cover the fix's cost: no transfer proposed")
    _notes(deal.published.notes)
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
