"""The exceptions joinedup raises, one per kind of failure a person can act on.

Each message names what was wrong and where (file, row, column, setting). The command
line prints the message without a traceback and exits non-zero.
"""

from __future__ import annotations

__all__ = ["ContractError", "EngineError", "JoinedupError", "WorkspaceError"]


class JoinedupError(Exception):
    """Base class: something the user can fix, described in the message."""


class ContractError(JoinedupError, ValueError):
    """A data contract is missing, malformed, or does not fit its export."""


class EngineError(JoinedupError, RuntimeError):
    """An engine could not do what was asked (unknown engine, missing table, bad SQL)."""


class WorkspaceError(JoinedupError, RuntimeError):
    """A workspace could not be opened or used."""
