"""Who may read what: an organisation sees its own rows, and only disclosure-controlled
aggregates of everyone else's.

The policy is a pure function of the user and the request, so the web service, the
Python API and the tests all ask the same question the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from joinedup.governance._errors import AccessDenied

__all__ = [
    "ACTIONS",
    "TABLE_SCOPE",
    "Role",
    "User",
    "can",
    "can_read",
    "require_read",
    "row_filter",
]


class Role(StrEnum):
    """What a user does; data access depends on the organisation, not the role."""

    ANALYST = "analyst"
    SERVICE_OWNER = "service_owner"
    ADMINISTRATOR = "administrator"


@dataclass(frozen=True)
class User:
    """A person who uses joinedup, in one organisation, with one role."""

    username: str
    org: str
    role: Role
    created_at: datetime
    deleted_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.deleted_at is None


Level = Literal["row", "aggregate"]

#: How each table of a workspace is owned. ``org``: each row belongs to one organisation
#: (the column that says which is given; ``None`` for the quarantine, whose rows belong to
#: the organisation of their source). ``joined``: rows join up several organisations'
#: records, so no single organisation owns them. ``shared``: nothing personal (costs,
#: the record of runs). Every standard table (``joinedup.model.STANDARD_TABLES``) and
#: every table a stage writes beside them must be listed: a test checks it.
TABLE_SCOPE: dict[str, tuple[str, str | None]] = {
    "events": ("org", "org"),
    "people": ("org", "org"),
    "links": ("org", "org"),
    "quarantine": ("org", None),
    # Sources and their quality measures describe one organisation's export: small
    # counts of its own records (three rows with an impossible date) are its to see.
    "sources": ("org", "org"),
    "quality": ("org", "org"),
    "demand": ("org", "received_by_org"),
    # A correction is made by the organisation that received the contact.
    "label_corrections": ("org", "org"),
    # Exact figures per receiving organisation, service and month: the organisation's own
    # management information; other organisations see them only through disclosure control.
    "value_ledger": ("org", "org"),
    "episodes": ("joined", None),
    "episode_events": ("joined", None),
    # Who caused the failure demand another organisation absorbed: two organisations per row.
    "cost_shunting": ("joined", None),
    "unit_costs": ("shared", None),
    "runs": ("shared", None),
}

#: What each role may do beyond reading. Turning disclosure control off is for work
#: inside a secure setting and is kept to administrators (and audited when used).
ACTIONS: dict[str, frozenset[Role]] = {
    "run": frozenset({Role.ANALYST, Role.ADMINISTRATOR}),
    "export": frozenset({Role.ANALYST, Role.SERVICE_OWNER, Role.ADMINISTRATOR}),
    "correct_demand": frozenset({Role.ANALYST, Role.SERVICE_OWNER}),
    "manage_users": frozenset({Role.ADMINISTRATOR}),
    "purge": frozenset({Role.ADMINISTRATOR}),
    "no_disclosure_control": frozenset({Role.ADMINISTRATOR}),
}


def can(user: User, action: str) -> bool:
    """Whether ``user``'s role allows ``action`` (one of :data:`ACTIONS`)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    return user.active and user.role in ACTIONS[action]


def _decide(user: User, table: str, org: str | None, level: str) -> str | None:
    """None if allowed, else the reason it is not."""
    if not user.active:
        return f"user {user.username} has been deleted"
    if table not in TABLE_SCOPE:
        return f"unknown table {table!r}; known tables: {sorted(TABLE_SCOPE)}"
    if level == "aggregate":
        return None  # aggregates only ever leave through disclosure control
    if level != "row":
        return f"unknown level {level!r}: expected 'row' or 'aggregate'"
    scope, _ = TABLE_SCOPE[table]
    if scope == "shared":
        return None
    if scope == "joined":
        return (
            f"{table} joins up several organisations' records: it is available only as "
            "disclosure-controlled aggregates"
        )
    if org is None:
        return f"row-level {table} must be asked for one organisation at a time"
    if org != user.org:
        return (
            f"{user.username} ({user.org}) may not read {org}'s row-level {table}; "
            "only disclosure-controlled aggregates of other organisations"
        )
    return None


def can_read(user: User, table: str, org: str | None, level: Level) -> bool:
    """Whether ``user`` may read ``table`` of organisation ``org`` at ``level``.

    ``row``: rows as stored, allowed only for the user's own organisation (and for
    tables with nothing personal in them). ``aggregate``: counts and sums that have been
    through :func:`joinedup.governance.disclose`, allowed for every organisation.
    """
    return _decide(user, table, org, level) is None


def require_read(user: User, table: str, org: str | None, level: Level) -> None:
    """Like :func:`can_read`, but raise :class:`AccessDenied` with the reason."""
    why = _decide(user, table, org, level)
    if why is not None:
        raise AccessDenied(why)


def row_filter(user: User, table: str) -> str:
    """A SQL condition keeping only the rows of ``table`` that ``user`` may read."""
    require_read(user, table, user.org, "row")
    scope, column = TABLE_SCOPE[table]
    if scope == "shared":
        return "TRUE"
    org = "'" + user.org.replace("'", "''") + "'"
    if column is None:  # quarantine: rows are tied to the source, which names its org
        # ``sources`` is written in the same transaction as the quarantine, so a source
        # whose every row was quarantined is still its organisation's.
        return f"source IN (SELECT source FROM sources WHERE org = {org})"
    return f'"{column}" = {org}'
