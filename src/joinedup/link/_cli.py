"""``joinedup link``: link encoded files at the hub, and score links against a truth.

``joinedup link A B …`` and ``joinedup link evaluate …`` share one command group, so
the group runs its default command (``run``) when the first word is not a command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from joinedup.privacy._cli import friendly


class DefaultCommandGroup(TyperGroup):
    """A command group that runs ``run`` when the first argument names no command."""

    default_command = "run"

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="link",
    cls=DefaultCommandGroup,
    help="Link organisations' encoded people into one person_id per person.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True, soft_wrap=True)


@app.command("run")
@friendly
def run(
    files: Annotated[list[Path], typer.Argument(help="Encoded files, one per organisation.")],
    out: Annotated[Path | None, typer.Option(help="links.parquet to write.")] = None,
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", help="Workspace to write links to.")
    ] = None,
    plaintext: Annotated[
        bool, typer.Option(help="Link plain people files (trusted research environment).")
    ] = False,
    schema: Annotated[
        Path | None, typer.Option(help="Linkage schema for plain people files.")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Match probability to link at (default: the best expected F1)."),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Threads for the database.")] = None,
) -> None:
    """Link two or more organisations' encodings (the default command of `link`).

    Trains a Fellegi-Sunter model without labels, scores candidate pairs, clusters
    across all organisations and writes person_id per (org, local_person_ref) with a
    match probability. Prints the precision and recall the model expects, and writes a
    match-weight chart beside the links.
    """
    from joinedup.link import LinkageError, LinkSettings, link
    from joinedup.privacy import load_schema

    if out is None and workspace is None:
        raise LinkageError("nowhere to write: give --out links.parquet and/or --workspace DIR")
    spec = load_schema(schema) if schema else None
    with console.status("linking") as status:
        res = link(
            files,
            out=out,
            workspace=workspace,
            plaintext=plaintext,
            schema=spec,
            config=LinkSettings(threshold=threshold, threads=threads),
            on_step=lambda s: status.update(s),
        )
    people = len(set(res.links.column("person_id").to_pylist()))
    table = Table(show_header=False, title="Linkage", title_justify="left")
    rows: list[tuple[str, Any]] = [
        ("records", f"{res.links.num_rows:,}"),
        ("people", f"{people:,}"),
        ("fields compared", ", ".join(res.fields)),
        ("pairs scored", f"{res.pairs_scored:,}"),
        ("threshold (match probability)", f"{res.threshold:.3f}"),
        ("estimated precision", f"{res.estimated_precision:.4f}"),
        ("estimated recall", f"{res.estimated_recall:.4f}"),
        ("time", f"{res.seconds:.1f} s"),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    console.print(
        "Estimates come from the model's own probabilities over scored pairs; "
        "pairs blocking never scored are not counted."
    )
    if res.chart:
        console.print(f"Match-weight chart: {res.chart}")
    if out:
        console.print(f"Wrote {out}")


@app.command("evaluate")
@friendly
def evaluate_cmd(
    links: Annotated[Path, typer.Argument(help="links.parquet, or a workspace folder.")],
    truth: Annotated[
        Path, typer.Option(help="Truth: org, local_person_ref and true person_id (Parquet).")
    ],
) -> None:
    """Pairwise precision, recall and F1 of links against the truth."""
    from joinedup.link import evaluate

    e = evaluate(truth, links)
    table = Table("measure", "value", title="Linkage against the truth", title_justify="left")
    table.add_row("precision", f"{e.precision:.4f}")
    table.add_row("recall", f"{e.recall:.4f}")
    table.add_row("F1", f"{e.f1:.4f}")
    table.add_row("true pairs", f"{e.true_pairs:,}")
    table.add_row("linked pairs", f"{e.predicted_pairs:,}")
    table.add_row("correct pairs", f"{e.correct_pairs:,}")
    table.add_row("clusters mixing people", f"{e.mixed_clusters:,} of {e.clusters:,}")
    console.print(table)
