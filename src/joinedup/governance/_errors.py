"""The exceptions governance raises: each names what was refused, where and why."""

from __future__ import annotations

from joinedup.errors import JoinedupError

__all__ = [
    "AccessDenied",
    "AgreementError",
    "AuditError",
    "AuthenticationError",
    "DisclosureError",
    "GovernanceError",
    "RateLimited",
]


class GovernanceError(JoinedupError):
    """Something the rules for trusted sharing refuse."""


class AgreementError(GovernanceError, ValueError):
    """A data-sharing agreement is malformed, expired, or a run falls outside it."""


class DisclosureError(GovernanceError, ValueError):
    """A table cannot be put through disclosure control as asked."""


class AuditError(GovernanceError, RuntimeError):
    """The audit log is missing, unreadable or has been tampered with."""


class AuthenticationError(GovernanceError, PermissionError):
    """A password, session cookie or API token was refused."""


class AccessDenied(GovernanceError, PermissionError):
    """A user asked for data their organisation and role may not see."""


class RateLimited(AuthenticationError):
    """Too many failed logins for one key; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
