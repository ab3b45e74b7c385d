"""Normalisation applied to every identity value before it is encoded.

Every organisation must normalise the same way, or the same person's values encode
differently; so the rules live here, once, and both the keyed (privacy) and the plain
(trusted research environment) paths call them.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import cache

import nicknames
import pyarrow as pa
import pyarrow.compute as pc

# Letters Unicode decomposition leaves whole (Polish ł, Nordic ø …), spelt as a UK
# clerk would key them.
_FOLD = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
     "ß": "ss", "đ": "d", "Đ": "D", "ı": "i"}
)  # fmt: skip
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_APOSTROPHES = re.compile(r"['’`]")
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "rev", "lady", "lord"})
_POSTCODE_PARTS = r"^(?P<outward>[A-Z]{1,2}[0-9][A-Z0-9]?)(?P<inward>[0-9][A-Z]{2})$"
_POSTCODE = re.compile(_POSTCODE_PARTS)

#: Date layouts a date-of-birth column may use, tried in this order; the first that
#: reads every non-empty value wins and is reported.
DATE_LAYOUTS: dict[str, str] = {
    "yyyy-mm-dd": "%Y-%m-%d",
    "dd/mm/yyyy": "%d/%m/%Y",
    "yyyymmdd": "%Y%m%d",
    "dd-mm-yyyy": "%d-%m-%Y",
    "dd.mm.yyyy": "%d.%m.%Y",
}


def text(value: str | None) -> str:
    """Lower case, no accents, punctuation and runs of spaces made one space."""
    if value is None:
        return ""
    folded = unicodedata.normalize("NFKD", value.translate(_FOLD))
    plain = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    plain = _APOSTROPHES.sub("", plain)  # O'Brien and OBrien are one name
    return _NON_ALNUM.sub(" ", plain).strip()


def name(value: str | None) -> str:
    """A personal name: normalised text without leading titles."""
    words = text(value).split()
    while len(words) > 1 and words[0] in _TITLES:
        words = words[1:]
    return " ".join(words)


def name_parts(value: str | None) -> list[str]:
    """The parts of a hyphenated or double-barrelled name, each on its own."""
    return name(value).split()


@cache
def _namer() -> nicknames.NickNamer:
    return nicknames.NickNamer()


@cache
def aliases(forename: str) -> tuple[str, ...]:
    """A normalised forename with the formal names it may stand for (Bill: William …).

    Two forenames that share an alias may be the same person's: William and Bill share
    ``william``, Bill and Will share it too. The table is the ``nicknames`` package's
    curated list (Carlton Northern's), not one of our own.
    """
    first = forename.split()[0] if forename else ""
    if not first:
        return ()
    found = {first} | {c for c in _namer().canonicals_of(first) if len(c) > 1}
    return tuple(sorted(found))


def postcode(value: str | None) -> tuple[str, str] | None:
    """A UK postcode formatted canonically (``SW1A 1AA``) and its outward code alone.

    Values that are not postcode-shaped are kept, spaces removed, as their own
    canonical form with no outward code split, so they still compare with themselves.
    """
    if value is None:
        return None
    compact = re.sub(r"[^A-Z0-9]", "", text(value).upper())
    if not compact:
        return None
    m = _POSTCODE.match(compact)
    if m is None:
        return compact, compact
    return f"{m.group(1)} {m.group(2)}", m.group(1)


def sex(value: str | None) -> str:
    """``M``, ``F`` or the normalised text of anything else."""
    t = text(value)
    if t in ("m", "male", "man", "1"):
        return "M"
    if t in ("f", "female", "woman", "2"):
        return "F"
    return t


def identifier(value: str | None) -> str:
    """An exact identifier (NI or NHS number): upper case letters and digits only."""
    if value is None:
        return ""
    return re.sub(r"[^A-Z0-9]", "", value.upper())


def detect_date_layout(values: list[str]) -> str | None:
    """The first layout of :data:`DATE_LAYOUTS` that reads every value, or None."""
    for label, fmt in DATE_LAYOUTS.items():
        try:
            for v in values:
                datetime.strptime(v, fmt)
        except ValueError:
            continue
        return label
    return None


def parse_date(value: str, layout: str) -> date:
    """A date read with one of :data:`DATE_LAYOUTS`."""
    return datetime.strptime(value, DATE_LAYOUTS[layout]).date()


def swapped(d: date) -> date | None:
    """The date with day and month exchanged, where that is another valid date."""
    if d.day > 12 or d.day == d.month:
        return None
    return date(d.year, d.day, d.month)


# The same rules over many values at once, in Arrow, for text that is all ASCII (the
# Unicode folding above leaves such text as it is). Each gives exactly what its Python
# rule gives (tests/privacy/test_normalise.py checks them against each other); values
# with other characters go through the Python rules.

_TITLES_AHEAD = r"^(?:(?:" + "|".join(sorted(_TITLES)) + r") )+"


def text_ascii(values: pa.Array) -> pa.Array:
    """:func:`text` of ASCII values."""
    lower = pc.replace_substring_regex(pc.ascii_lower(values), "['`]", "")
    return pc.utf8_trim(pc.replace_substring_regex(lower, "[^a-z0-9]+", " "), " ")


def name_ascii(values: pa.Array) -> pa.Array:
    """:func:`name` of ASCII values: leading titles go while another word follows."""
    return pc.replace_substring_regex(text_ascii(values), _TITLES_AHEAD, "")


def identifier_ascii(values: pa.Array) -> pa.Array:
    """:func:`identifier` of ASCII values."""
    return pc.replace_substring_regex(pc.ascii_upper(values), "[^A-Z0-9]", "")


def postcode_ascii(values: pa.Array) -> list[tuple[str, str] | None]:
    """:func:`postcode` of ASCII values."""
    compact = identifier_ascii(values)
    parts = pc.extract_regex(compact, _POSTCODE_PARTS)
    outward = parts.field("outward").to_pylist()
    inward = parts.field("inward").to_pylist()
    valid = parts.is_valid().to_pylist()
    return [
        None if not c else (f"{o} {i}", o) if ok else (c, c)
        for c, o, i, ok in zip(compact.to_pylist(), outward, inward, valid, strict=True)
    ]
