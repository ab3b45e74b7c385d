"""Linkage at the hub: organisations' encodings in, one ``person_id`` per person out.

A Fellegi–Sunter model (Splink) is trained without labels on keyed encodings,
candidate pairs are scored, and records are clustered across all organisations. The
same code links plain files inside a trusted research environment (``plaintext``).
"""

from __future__ import annotations

from joinedup.link._errors import DifferentSecretsError, LinkageError, SchemaMismatchError
from joinedup.link._evaluate import Evaluation, evaluate
from joinedup.link._run import LinkResult, LinkSettings, link

__all__ = [
    "DifferentSecretsError",
    "Evaluation",
    "LinkResult",
    "LinkSettings",
    "LinkageError",
    "SchemaMismatchError",
    "evaluate",
    "link",
]
