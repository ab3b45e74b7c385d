"""The demand stage's own error, a :class:`~joinedup.errors.JoinedupError`."""

from __future__ import annotations

from joinedup.errors import JoinedupError


class DemandError(JoinedupError, ValueError):
    """Demand classification could not run: a bad model file, labels file or setting."""
