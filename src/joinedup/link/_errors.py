"""The errors linkage raises."""

from __future__ import annotations

from joinedup.errors import JoinedupError


class LinkageError(JoinedupError, ValueError):
    """Inputs or settings linkage cannot use."""


class DifferentSecretsError(LinkageError):
    """Two encoded files were made with different secrets, so nothing in them can match."""


class SchemaMismatchError(LinkageError):
    """Encoded files disagree on how a field is encoded (kind, filter size, version)."""
