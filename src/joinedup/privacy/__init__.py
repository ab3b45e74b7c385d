"""Pseudonymisation, run inside each organisation: identity fields become encodings.

Exact identifiers (NI and NHS numbers) become keyed tokens (HMAC-SHA256); fuzzy fields
(names, date of birth, postcode, address) become per-field keyed Bloom filters of their
q-grams, so the hub can measure how alike two values are without seeing either. Values
are normalised first, the same way at every organisation. See ``docs/privacy.md`` for
what the hub can and cannot learn.
"""

from __future__ import annotations

from joinedup.privacy._encode import key_check
from joinedup.privacy._errors import (
    EmptyInputError,
    MissingFieldError,
    PrivacyError,
    SecretError,
)
from joinedup.privacy._pseudonymise import (
    SECRET_ENV,
    Pseudonymised,
    header_of,
    pseudonymise,
    read_secret,
)
from joinedup.privacy._schema import (
    STANDARD,
    BloomSettings,
    FieldSpec,
    Kind,
    Schema,
    load_schema,
    schema_from_options,
)

__all__ = [
    "SECRET_ENV",
    "STANDARD",
    "BloomSettings",
    "EmptyInputError",
    "FieldSpec",
    "Kind",
    "MissingFieldError",
    "PrivacyError",
    "Pseudonymised",
    "Schema",
    "SecretError",
    "header_of",
    "key_check",
    "load_schema",
    "pseudonymise",
    "read_secret",
    "schema_from_options",
]
