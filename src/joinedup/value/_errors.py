"""The value stage's exceptions."""

from __future__ import annotations

from joinedup.errors import JoinedupError


class CostError(JoinedupError, ValueError):
    """Unit costs are missing, malformed, or do not cover the contacts being priced."""


class FixError(JoinedupError, ValueError):
    """A fix (``org=...,cause=...,reduce=...``) is malformed or matches nothing."""


class ValueInputError(JoinedupError, RuntimeError):
    """The workspace lacks what the value stage needs (contacts, demand, truth)."""
