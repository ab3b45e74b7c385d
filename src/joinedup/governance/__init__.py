"""Governance: the rules for trusted sharing, enforced rather than left to good intentions.

- **Agreements** (:func:`load_agreement`, :func:`check_run`): parties, purpose, legal
  gateway, the fields each party shares, retention and output rules, as a YAML file; a
  run outside it is refused. :func:`purge` removes data past its retention period.
- **Disclosure control** (:func:`disclose`): every table of counts or money that leaves
  the workspace passes threshold, zero, dominance and secondary suppression and rounding;
  suppressed values become markers with footnotes, never numbers.
  :func:`write_disclosed` writes such a table to CSV, Parquet or JSON with its footnotes
  and records the export in the audit log.
- **Audit log** (:class:`AuditLog`): append-only JSON Lines in the workspace, each entry
  chained to the one before by SHA-256, so an edit, deletion or reordering is found.
- **Access control** (:class:`AccessStore`, :func:`can_read`): users with an organisation
  and a role, argon2 password hashes, expiring sessions, revocable API tokens and a rate
  limit on logins; :func:`acting_user` says who a command-line command acts as.
"""

from __future__ import annotations

from joinedup.governance._access import AccessStore, ApiToken, acting_user, control_off_by
from joinedup.governance._agreement import (
    Agreement,
    Dominance,
    OutputRules,
    Party,
    PlannedRun,
    Retention,
    check_run,
    load_agreement,
    workspace_plan,
)
from joinedup.governance._audit import AuditEntry, AuditLog, AuditProblem, AuditReport
from joinedup.governance._disclosure import MARKER, Disclosed, disclose, tabulate
from joinedup.governance._errors import (
    AccessDenied,
    AgreementError,
    AuditError,
    AuthenticationError,
    DisclosureError,
    GovernanceError,
    RateLimited,
)
from joinedup.governance._export import Exported, write_disclosed
from joinedup.governance._policy import (
    ACTIONS,
    TABLE_SCOPE,
    Role,
    User,
    can,
    can_read,
    require_read,
    row_filter,
)
from joinedup.governance._ratelimit import LoginRateLimiter
from joinedup.governance._retention import PurgeResult, purge
from joinedup.governance._run import governed_run

__all__ = [
    "ACTIONS",
    "MARKER",
    "TABLE_SCOPE",
    "AccessDenied",
    "AccessStore",
    "Agreement",
    "AgreementError",
    "ApiToken",
    "AuditEntry",
    "AuditError",
    "AuditLog",
    "AuditProblem",
    "AuditReport",
    "AuthenticationError",
    "Disclosed",
    "DisclosureError",
    "Dominance",
    "Exported",
    "GovernanceError",
    "LoginRateLimiter",
    "OutputRules",
    "Party",
    "PlannedRun",
    "PurgeResult",
    "RateLimited",
    "Retention",
    "Role",
    "User",
    "acting_user",
    "can",
    "can_read",
    "check_run",
    "control_off_by",
    "disclose",
    "governed_run",
    "load_agreement",
    "purge",
    "require_read",
    "row_filter",
    "tabulate",
    "workspace_plan",
    "write_disclosed",
]
