"""Command-line options that several command groups share, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: The workspace a command works in.
WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory.")]

#: Who a command records in the workspace's audit log.
WhoOpt = Annotated[
    str | None, typer.Option("--as", help="Who to record in the audit log (default: OS user).")
]

#: A data-sharing agreement whose output rules the command's figures follow.
AgreementOpt = Annotated[
    Path | None,
    typer.Option("--agreement", help="Take the disclosure-control rules from this agreement."),
]
