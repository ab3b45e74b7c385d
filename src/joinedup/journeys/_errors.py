"""The journeys stage's own error."""

from __future__ import annotations

from joinedup.errors import JoinedupError


class JourneysError(JoinedupError, ValueError):
    """A log, a workspace or a setting the journeys stage cannot work with."""
