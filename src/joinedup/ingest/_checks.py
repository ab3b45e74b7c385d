"""Checks of UK identifiers and postcodes, shared by the quality report and by inference."""

from __future__ import annotations

import re

from stdnum.gb import nhs

# HMRC's National Insurance number rules (HMRC manual NIM39110): two prefix letters (D, F,
# I, Q, U and V never used; O never second), six digits, a suffix A–D; some prefixes are
# never allocated. A NINO has no check digit, so its format is all that can be checked.
_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]")
_NINO_NEVER = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}

# The shape of a UK postcode (outward code, space optional, inward code); BFPO and
# GIR 0AA are the special cases.
_POSTCODE = re.compile(
    r"(GIR ?0AA|BFPO ?[0-9]{1,4}|"
    r"[A-PR-UWYZ]([0-9][0-9A-HJKPS-UW]?|[A-HK-Y][0-9][0-9ABEHMNPRV-Y]?) ?[0-9][ABD-HJLNP-UW-Z]{2})"
)


def nino_valid(value: str) -> bool:
    """Whether a National Insurance number is well formed (spaces ignored)."""
    v = value.replace(" ", "").upper()
    return bool(_NINO.fullmatch(v)) and v[:2] not in _NINO_NEVER


def nhs_valid(value: str) -> bool:
    """Whether an NHS number has ten digits and a correct modulus-11 check digit."""
    return bool(nhs.is_valid(value))


def postcode_valid(value: str) -> bool:
    """Whether a value has the shape of a UK postcode."""
    return bool(_POSTCODE.fullmatch(value.strip().upper()))
