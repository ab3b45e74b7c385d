"""``joinedup pseudonymise``: run inside an organisation, writes encodings only."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from joinedup.errors import JoinedupError

app = typer.Typer(
    name="pseudonymise",
    help="Encode an organisation's people for privacy-preserving linkage.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Print joinedup's own errors as one line and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JoinedupError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@friendly
def pseudonymise(
    source: Annotated[
        Path, typer.Argument(help="People file (CSV or Parquet) or workspace folder.")
    ],
    org: Annotated[str, typer.Option(help="This organisation's name, as the hub will see it.")],
    out: Annotated[Path, typer.Option(help="Encoded Parquet file to write.")],
    schema: Annotated[
        Path | None, typer.Option(help="Linkage schema (YAML): id column and fields.")
    ] = None,
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="Column of the local person reference.")
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help="COLUMN=KIND[:NAME], repeated; KIND is forename, surname, fullname, dob, "
            "sex, postcode, address, exact_id or text.",
        ),
    ] = None,
    secret_file: Annotated[
        Path | None, typer.Option(help="File holding the shared secret (never pass it inline).")
    ] = None,
    secret_env: Annotated[
        str, typer.Option(help="Environment variable holding the secret, if no file.")
    ] = "JOINEDUP_SECRET",
) -> None:
    """Encode one organisation's people: keyed tokens and Bloom filters, no plain values.

    The secret comes from --secret-file or the environment variable named by
    --secret-env, never from the command line, and is never written anywhere. Fields come
    from --schema, or from --id-col with repeated --field; a workspace's standard people
    table needs neither.
    """
    from joinedup.privacy import (
        PrivacyError,
        load_schema,
        read_secret,
        schema_from_options,
    )
    from joinedup.privacy import (
        pseudonymise as run,
    )

    if schema is not None and (id_col or field):
        raise PrivacyError("give either --schema or --id-col/--field, not both")
    if (id_col is None) != (not field):
        raise PrivacyError("--id-col and --field go together: name the reference and the fields")
    spec = (
        load_schema(schema)
        if schema is not None
        else schema_from_options(id_col, field or [])
        if id_col is not None
        else None
    )
    secret = read_secret(secret_file, secret_env)
    res = run(source, org=org, secret=secret, schema=spec, out=out)
    fields = ", ".join(f"{f['name']} ({f['kind']})" for f in res.header["fields"])
    console.print(f"{res.table.num_rows:,} {org} records encoded: {fields}")
    for note in res.notes:
        console.print(f"  {note}")
    console.print(f"Wrote {out}")


app.command("pseudonymise")(pseudonymise)
