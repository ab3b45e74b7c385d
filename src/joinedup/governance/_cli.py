"""Command line for governance: agreements, retention, the audit log and users.

Mounted by ``joinedup.cli`` as top-level groups: ``joinedup agreement check``,
``joinedup retention purge``, ``joinedup audit verify|show`` and
``joinedup access user-add|user-delete|users|token-create|token-revoke``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from joinedup._options import WhoOpt, WorkspaceOpt
from joinedup.errors import JoinedupError
from joinedup.governance._audit import AuditLog

app = typer.Typer(
    help="Data-sharing agreements, retention, the audit log and access control.",
    no_args_is_help=True,
)
agreement_app = typer.Typer(help="Check data-sharing agreements.", no_args_is_help=True)
retention_app = typer.Typer(help="Find and remove data past retention.", no_args_is_help=True)
audit_app = typer.Typer(help="Verify and read the audit log.", no_args_is_help=True)
access_app = typer.Typer(help="Users and API tokens of a workspace.", no_args_is_help=True)
app.add_typer(agreement_app, name="agreement")
app.add_typer(retention_app, name="retention")
app.add_typer(audit_app, name="audit")
app.add_typer(access_app, name="access")

console = Console()
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Print joinedup's own errors as one message and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JoinedupError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


# agreement ---------------------------------------------------------------------------


@agreement_app.command("check")
@_friendly
def agreement_check(
    agreement: Annotated[Path, typer.Argument(help="The agreement YAML file.")],
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Also check what this workspace holds against it."),
    ] = None,
    on: Annotated[
        str | None, typer.Option(help="Check as of this date (YYYY-MM-DD; default today).")
    ] = None,
    who: WhoOpt = None,
) -> None:
    """Validate an agreement; with --workspace, check the data held and retention too.

    Fails if the file is malformed, the agreement has expired, or the workspace holds an
    organisation or a field the agreement does not cover.
    """
    from joinedup.governance import AuditLog, check_run, load_agreement, purge, workspace_plan

    a = load_agreement(agreement)
    day = _date(on) if on else datetime.now(UTC).date()
    table = Table("party", "name", "shares", "retention (days)", title=f"Agreement {a.name}")
    for code, party in a.parties.items():
        shares = "; ".join(f"{t}: {len(fs)} fields" for t, fs in party.shares.items())
        table.add_row(code, party.name, shares, str(party.retention_days or a.retention.days))
    console.print(table)
    console.print(f"Legal gateway: {a.legal_gateway.strip()}")
    console.print(
        f"In force {a.starts} to {a.expires}; outputs: threshold {a.outputs.threshold}, "
        f"rounding to {a.outputs.rounding_base}, dominance {a.outputs.dominance.contributors} "
        f"over {a.outputs.dominance.share:.0%}"
    )
    console.print(f"Fingerprint (SHA-256): {a.fingerprint}")
    if a.is_expired(day):
        raise _error(f"{agreement}: the agreement expired on {a.expires}")
    if day < a.starts:
        raise _error(f"{agreement}: the agreement does not start until {a.starts}")
    console.print(f"[green]valid[/]: {(a.expires - day).days} days until it expires")
    if workspace is None:
        return
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws:
        check_run(a, workspace_plan(ws, on=day))
        due = purge(ws, a, dry_run=True)
    AuditLog(workspace).append(who, "agreement.check", {"agreement": a.record()})
    console.print(f"[green]{workspace} holds only parties and fields the agreement covers[/]")
    if due.total:
        console.print(
            f"[yellow]{due.total:,} rows are past retention[/]: run "
            f"`joinedup retention purge {agreement} -w {workspace}`"
        )
        _removed_table(due.removed, "Past retention")
    else:
        console.print("Nothing is past retention.")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _error(f"--on {text!r}: expected a date like 2026-03-31") from None


def _error(message: str) -> JoinedupError:
    from joinedup.governance import GovernanceError

    return GovernanceError(message)


def _removed_table(removed: dict[str, dict[str, int]], title: str) -> None:
    table = Table("table", "organisation", "rows", title=title)
    for name, per in removed.items():
        for org, n in per.items():
            table.add_row(name, org, f"{n:,}")
    console.print(table)


# retention ---------------------------------------------------------------------------


@retention_app.command("purge")
@_friendly
def retention_purge(
    agreement: Annotated[Path, typer.Argument(help="The agreement YAML file.")],
    workspace: WorkspaceOpt = Path("workspace"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what is past retention.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    who: WhoOpt = None,
) -> None:
    """Remove data kept longer than the agreement allows, and log what was removed.

    Events past their party's retention period go, with their demand classification,
    episode membership, person records left without events, their links and old
    quarantined rows. The counts are recorded as a run and in the audit log.
    """
    from joinedup.governance import AuditLog, load_agreement, purge
    from joinedup.workspace import Workspace

    a = load_agreement(agreement)
    log = AuditLog(workspace)
    with Workspace(workspace, create=False) as ws:
        due = purge(ws, a, dry_run=True)
        if not due.total:
            console.print("Nothing is past retention.")
            return
        _removed_table(due.removed, "Past retention" + (" (dry run)" if dry_run else ""))
        if due.not_covered:
            console.print(f"[yellow]not covered by the agreement:[/] {', '.join(due.not_covered)}")
        if dry_run:
            log.append(who, "retention.check", due.as_dict())
            return
        if not yes and not typer.confirm(f"Remove these {due.total:,} rows?"):
            raise typer.Exit(1)
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("purging", total=None)
            done = purge(
                ws,
                a,
                audit=log,
                who=who,
                progress=lambda t: bar.update(task, description=f"purging {t}"),
            )
    console.print(f"Removed {done.total:,} rows; recorded in the runs table and {log.path}.")


# audit -------------------------------------------------------------------------------


@audit_app.command("verify")
@_friendly
def audit_verify(workspace: WorkspaceOpt = Path("workspace")) -> None:
    """Check that no line of the audit log was edited, deleted or moved.

    Prints the hash of the last entry: keep it somewhere else, to notice later if both
    the log and its head file were rewritten.
    """

    log = _audit_log(workspace)
    if not log.path.exists():
        console.print(f"No audit log at {log.path} yet: nothing has been recorded.")
        return
    report = log.verify()
    if not report.ok:
        for p in report.problems:
            err.print(f"[bold red]{log.path}, {p}[/]", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]intact[/]: {report.entries:,} entries; head {report.head}")


@audit_app.command("show")
@_friendly
def audit_show(
    workspace: WorkspaceOpt = Path("workspace"),
    who: Annotated[str | None, typer.Option(help="Only this user's entries.")] = None,
    what: Annotated[
        str | None, typer.Option(help="Only this kind (login matches login.failed).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only entries from this time on (ISO 8601).")
    ] = None,
    last: Annotated[int | None, typer.Option(help="Only the last N matching entries.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List audit entries: who did what, when, filtered by user, kind and time."""

    start = None
    if since:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise _error(f"--since {since!r}: expected a time like 2026-03-31T09:00") from None
    entries = list(_audit_log(workspace).entries(who=who, what=what, since=start))
    if last is not None:
        entries = entries[-last:] if last > 0 else []
    if as_json:
        for e in entries:
            row = {
                "seq": e.seq,
                "at": e.at.isoformat(),
                "who": e.who,
                "what": e.what,
                "details": e.details,
            }
            typer.echo(json.dumps(row, sort_keys=True))
        return
    table = Table("#", "when (UTC)", "who", "what", "details")
    for e in entries:
        table.add_row(
            str(e.seq),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.who,
            e.what,
            json.dumps(e.details, sort_keys=True)[:120],
        )
    console.print(table)


def _audit_log(workspace: Path) -> AuditLog:
    if not workspace.is_dir():
        raise _error(f"no workspace at {workspace}: pass --workspace")
    return AuditLog(workspace)


# access ------------------------------------------------------------------------------


@access_app.command("user-add")
@_friendly
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    org: Annotated[str, typer.Option(help="The user's organisation code.")],
    role: Annotated[str, typer.Option(help="analyst, service_owner or administrator.")],
    workspace: WorkspaceOpt = Path("workspace"),
    who: WhoOpt = None,
) -> None:
    """Add a user; the password is asked for and stored only as an argon2 hash."""
    from joinedup.governance import AccessStore, AuditLog

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    store = AccessStore(workspace, audit=AuditLog(workspace))
    user = store.add_user(username, password, org, role, by=who)
    console.print(f"Added {user.username} ({user.org}, {user.role.value}).")


@access_app.command("user-delete")
@_friendly
def user_delete(
    username: Annotated[str, typer.Argument(help="Login name.")],
    workspace: WorkspaceOpt = Path("workspace"),
    who: WhoOpt = None,
) -> None:
    """Delete a user: their sessions and API tokens stop working at once."""
    from joinedup.governance import AccessStore, AuditLog

    AccessStore(workspace, audit=AuditLog(workspace)).delete_user(username, by=who)
    console.print(f"Deleted {username}.")


@access_app.command("users")
@_friendly
def users(workspace: WorkspaceOpt = Path("workspace")) -> None:
    """List users with their organisation, role and status."""
    from joinedup.governance import AccessStore

    table = Table("user", "organisation", "role", "created", "status")
    for u in AccessStore(workspace).users():
        status = "active" if u.active else f"deleted {u.deleted_at:%Y-%m-%d}"
        table.add_row(u.username, u.org, u.role.value, f"{u.created_at:%Y-%m-%d}", status)
    console.print(table)


@access_app.command("token-create")
@_friendly
def token_create(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option(help="What the token is for.")],
    days: Annotated[int, typer.Option(help="Days until it expires.", min=1)] = 90,
    workspace: WorkspaceOpt = Path("workspace"),
    who: WhoOpt = None,
) -> None:
    """Create an API token; it is shown once and only its hash is kept."""
    from joinedup.governance import AccessStore, AuditLog

    token = AccessStore(workspace, audit=AuditLog(workspace)).create_token(
        username, name, days=days, by=who
    )
    typer.echo(token)


@access_app.command("token-revoke")
@_friendly
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (the part after jdu_).")],
    workspace: WorkspaceOpt = Path("workspace"),
    who: WhoOpt = None,
) -> None:
    """Revoke an API token so that it stops working at once."""
    from joinedup.governance import AccessStore, AuditLog

    AccessStore(workspace, audit=AuditLog(workspace)).revoke_token(token_id, by=who)
    console.print(f"Revoked {token_id}.")
