"""The errors pseudonymisation raises."""

from __future__ import annotations

from joinedup.errors import JoinedupError


class PrivacyError(JoinedupError, ValueError):
    """An input, schema or secret that pseudonymisation cannot use."""


class MissingFieldError(PrivacyError):
    """A field the schema names is not a column of the input."""


class EmptyInputError(PrivacyError):
    """The input holds no person records."""


class SecretError(PrivacyError):
    """The secret is missing, too short, or was given in an unsafe way."""
