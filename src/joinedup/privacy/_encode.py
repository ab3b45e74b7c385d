"""Turning normalised identity values into encodings: keyed tokens and Bloom filters.

Two modes share this code, so privacy-preserving and plain linkage differ only in the
last step:

- **keyed** (a secret is given): exact values become HMAC-SHA256 tokens; fuzzy values
  become per-field Bloom filters of their q-grams, each q-gram's bit positions taken
  from HMAC-SHA256 under a key derived for that field alone. Without the secret nobody
  can compute a token or a filter for a guessed value (no dictionary attack), and the
  same q-gram sets different bits in different fields.
- **plain** (no secret, inside a trusted research environment): the same normalised
  values, kept as text, under the same column names bar the filters.

The column layout, by field name ``f``: ``f__bf0`` … ``f__bfN`` (signed 64-bit words of
the filter) and ``f__pop`` (its popcount) — or ``f__txt`` in plain mode — ``f__tok``
(token of the whole value), ``f__swap`` (date of birth with day and month exchanged),
``f__out`` (outward code of a postcode), ``f__alias`` (forename and the formal names it
may stand for), ``f__parts`` (the parts of a double-barrelled surname), and ``bk__*``
blocking keys, which are tokens too.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from joinedup.privacy import _bloom
from joinedup.privacy import _columns as cols
from joinedup.privacy import _normalise as norm
from joinedup.privacy._bloom import bigrams as bigrams
from joinedup.privacy._columns import Distinct
from joinedup.privacy._schema import BloomSettings, FieldSpec, Kind, Schema

#: Version of the encoding; files of different versions never link.
VERSION = 2  # 2: blocking keys of two or three values each (2026-11-29)
_TOKEN_HEX = 24  # 96 bits: collisions are negligible at any population size
_CHECK_MESSAGE = b"joinedup key check v1"

#: Kinds encoded as a Bloom filter (in plain mode: as normalised text).
FUZZY = frozenset(
    {Kind.FORENAME, Kind.SURNAME, Kind.FULLNAME, Kind.DOB, Kind.POSTCODE, Kind.ADDRESS, Kind.TEXT}
)
#: Kinds with a whole-value token.
TOKENISED = frozenset({Kind.DOB, Kind.POSTCODE, Kind.SEX, Kind.EXACT_ID})

#: The blocking keys and the single-valued kinds each needs. Each combines values so
#: that a key's blocks stay a handful of records however large the population: one value
#: alone (a date of birth, a postcode, a surname with its year of birth) is shared by
#: thousands of people at a million, and the pairs it lets through grow with the square
#: of the population. Together the keys still let through the pairs whose records
#: disagree on one thing or another: a maiden name, a nickname, a moved house, a missing
#: or swapped date of birth (docs/methods/linkage.md, "Blocking").
BLOCKING_KEYS: dict[str, tuple[Kind, ...]] = {
    "dob_sn1": (Kind.DOB, Kind.SURNAME),
    "dsw_sn1": (Kind.DOB, Kind.SURNAME),
    "dob_fn1": (Kind.DOB, Kind.FORENAME),
    "sn_yob_fn1": (Kind.SURNAME, Kind.DOB, Kind.FORENAME),
    "fnsn": (Kind.FORENAME, Kind.SURNAME),
    "fn_sn_out": (Kind.FORENAME, Kind.SURNAME, Kind.POSTCODE),
    "pc_yob": (Kind.POSTCODE, Kind.DOB),
    "pc_fn1": (Kind.POSTCODE, Kind.FORENAME),
    "pc_sn1": (Kind.POSTCODE, Kind.SURNAME),
    "addr": (Kind.ADDRESS,),
}
#: Keys tokenised under another key's name, so the two compare: the date of birth with
#: day and month exchanged meets the unswapped key of the other record.
_KEY_TOKEN = {"dsw_sn1": "dob_sn1"}


def key_check(secret: bytes) -> str:
    """A keyed check value stored with every encoding, so the hub can tell whether two
    files were made with the same secret without learning anything about it."""
    return hmac.digest(_derive(secret, "check", ""), _CHECK_MESSAGE, "sha256").hex()[:32]


def _derive(secret: bytes, purpose: str, name: str) -> bytes:
    """A key for one purpose and field, so no two fields share bit positions or tokens."""
    return hmac.digest(secret, f"joinedup/v{VERSION}/{purpose}/{name}".encode(), "sha256")


def dob_grams(d: date) -> set[str]:
    """Day, month, year and decade as separate items: one wrong component keeps 3 of 4."""
    return {f"d:{d.day:02d}", f"m:{d.month:02d}", f"y:{d.year:04d}", f"c:{d.year // 10:03d}"}


class Encoder:
    """Encodes one organisation's values; ``secret=None`` gives the plain mode."""

    def __init__(self, secret: bytes | None, bloom: BloomSettings) -> None:
        self.keyed = secret is not None
        self._secret = secret or b""
        self.bloom = bloom
        self._keys: dict[tuple[str, str], bytes] = {}
        self._gram_masks: dict[tuple[str, str], int] = {}

    def _key(self, purpose: str, name: str) -> bytes:
        k = self._keys.get((purpose, name))
        if k is None:
            k = self._keys[(purpose, name)] = _derive(self._secret, purpose, name)
        return k

    def token(self, name: str, value: str) -> str:
        """A keyed token of a value (in plain mode, the value itself)."""
        if not self.keyed:
            return value
        return hmac.digest(self._key("token", name), value.encode(), "sha256").hex()[:_TOKEN_HEX]

    def tokens(self, name: str, values: Sequence[str | None]) -> list[str | None]:
        """:meth:`token` of many values (None stays None), the same tokens, faster.

        HMAC as RFC 2104 defines it, ``H((K ^ opad) || H((K ^ ipad) || m))``, with the
        hash states of the two padded keys computed once and copied for each value:
        OpenSSL's one-shot HMAC sets its key up again on every call, which takes most
        of the time for values this short.
        """
        if not self.keyed:
            return list(values)
        key = self._key("token", name).ljust(_BLOCK, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        seen: dict[str, str] = {}
        out: list[str | None] = []
        for v in values:
            if v is None:
                out.append(None)
                continue
            t = seen.get(v)
            if t is None:
                h = inner.copy()
                h.update(v.encode())
                o = outer.copy()
                o.update(h.digest())
                t = seen[v] = o.hexdigest()[:_TOKEN_HEX]
            out.append(t)
        return out

    def _mask(self, name: str, gram: str) -> int:
        """The filter bits one q-gram sets: ``hashes`` positions read from HMAC output
        ("random hashing"; double hashing is open to a known pattern attack)."""
        m = self._gram_masks.get((name, gram))
        if m is not None:
            return m
        key, bits, mask = self._key("bloom", name), self.bloom.bits, 0
        need, counter = self.bloom.hashes, 0
        while need:
            digest = hmac.digest(key, f"{counter}:{gram}".encode(), "sha256")
            for i in range(0, min(need, 16) * 2, 2):
                mask |= 1 << (int.from_bytes(digest[i : i + 2], "little") & (bits - 1))
            need -= min(need, 16)
            counter += 1
        self._gram_masks[(name, gram)] = mask
        return mask

    def filter(self, name: str, grams: set[str]) -> int:
        """The Bloom filter of a set of q-grams, as one integer of ``bits`` bits."""
        f = 0
        for g in grams:
            f |= self._mask(name, g)
        return f


#: SHA-256's block size: an HMAC key is padded to it.
_BLOCK = 64


def encode_table(table: pa.Table, schema: Schema, encoder: Encoder) -> tuple[pa.Table, list[str]]:
    """Encode every field of ``schema`` in ``table``; the notes say e.g. which date layout
    a date-of-birth column used. Returns the encodings (local reference first)."""
    out: dict[str, pa.Array] = {
        "local_person_ref": table.column(schema.id_col).cast(pa.string()).combine_chunks()
    }
    notes: list[str] = []
    normalised: dict[Kind, Distinct] = {}
    for spec in schema.fields:
        values, note = _normalised_values(table, spec)
        if note:
            notes.append(note)
        if schema.field(spec.kind) is spec:
            normalised[spec.kind] = values
        out.update(_encode_field(spec, values, encoder))
    for key, kinds in BLOCKING_KEYS.items():
        if all(k in normalised for k in kinds):
            rows = _block_values(key, [normalised[k] for k in kinds])
            out[f"bk__{key}"] = _token_rows(encoder, f"bk_{_KEY_TOKEN.get(key, key)}", rows)
    return pa.table(out), notes


def _iso(d: date) -> str:
    return d.isoformat()


def _swapped_iso(d: date) -> str | None:
    s = norm.swapped(d)
    return None if s is None else s.isoformat()


def _year(d: date) -> str:
    return str(d.year)


def _initial(name: str) -> str:
    return name[0]


def _full(postcode: tuple[str, str]) -> str:
    return postcode[0]


#: How each blocking key is made: one part from each of its kinds' normalised values
#: (in :data:`BLOCKING_KEYS` order), joined with ``|``; a key with a part missing (or
#: a date of birth that has no valid day-month swap) is missing.
_KEY_PARTS: dict[str, tuple[Callable[[Any], str | None], ...]] = {
    "dob_sn1": (_iso, _initial),
    "dsw_sn1": (_swapped_iso, _initial),
    "dob_fn1": (_iso, _initial),
    "sn_yob_fn1": (str, _year, _initial),
    "fnsn": (str, str),
    "fn_sn_out": (lambda fore: fore[:2], str, lambda postcode: postcode[1]),
    "pc_yob": (_full, _year),
    "pc_fn1": (_full, _initial),
    "pc_sn1": (_full, _initial),
    "addr": (str,),
}


def _block_values(key: str, parts: list[Distinct]) -> pa.Array:
    """Every record's value of a blocking key, before tokenising (null where missing):
    each part computed per distinct value, joined row by row in Arrow."""
    columns = [
        d.spread([make(v) for v in d.values])
        for d, make in zip(parts, _KEY_PARTS[key], strict=True)
    ]
    if len(columns) == 1:
        return columns[0]
    return pc.binary_join_element_wise(*columns, "|")


#: Each kind's normalising rule, and the same rule for many ASCII values in Arrow.
_RULES: dict[Kind, tuple[Callable[[str], Any], cols.Bulk | None]] = {
    Kind.FORENAME: (norm.name, norm.name_ascii),
    Kind.SURNAME: (norm.name, norm.name_ascii),
    Kind.FULLNAME: (norm.name, norm.name_ascii),
    Kind.SEX: (norm.sex, None),
    Kind.POSTCODE: (norm.postcode, norm.postcode_ascii),
    Kind.ADDRESS: (norm.text, norm.text_ascii),
    Kind.EXACT_ID: (norm.identifier, norm.identifier_ascii),
    Kind.TEXT: (norm.text, norm.text_ascii),
}


def _normalised_values(table: pa.Table, spec: FieldSpec) -> tuple[Distinct, str | None]:
    """A field's values normalised for its kind: text, a date, or a postcode pair."""
    col = table.column(spec.column)
    if spec.kind == Kind.DOB:
        return cols.dates(col, spec.column)
    fn, bulk = _RULES[spec.kind]
    return cols.normalised(col, fn, bulk), None


def _encode_field(spec: FieldSpec, d: Distinct, enc: Encoder) -> dict[str, pa.Array]:
    p, kind, out = spec.name, spec.kind, {}
    if kind == Kind.DOB:
        out[f"{p}__tok"] = _tokens(enc, p, d, [v.isoformat() for v in d.values])
        out[f"{p}__swap"] = _tokens(enc, p, d, [_swapped_iso(v) for v in d.values])
    elif kind == Kind.POSTCODE:
        out[f"{p}__tok"] = _tokens(enc, p, d, [v[0] for v in d.values])
        out[f"{p}__out"] = _tokens(enc, f"{p}_out", d, [v[1] for v in d.values])
    elif kind in (Kind.SEX, Kind.EXACT_ID):
        out[f"{p}__tok"] = _tokens(enc, p, d, d.values)
        return out
    if kind == Kind.FORENAME:
        out[f"{p}__alias"] = _token_lists(enc, p, d, [norm.aliases(v) for v in d.values])
    if kind == Kind.SURNAME:
        out[f"{p}__parts"] = _token_lists(enc, p, d, [v.split() for v in d.values])
    out.update(_fuzzy(spec, d, enc))
    return out


def _fuzzy(spec: FieldSpec, d: Distinct, enc: Encoder) -> dict[str, pa.Array]:
    p, kind = spec.name, spec.kind
    if not enc.keyed:
        text = [v.isoformat() if isinstance(v, date) else v[0] if isinstance(v, tuple) else v
                for v in d.values]  # fmt: skip
        return {f"{p}__txt": d.spread(text)}

    def mask(gram: str) -> int:
        return enc._mask(p, gram)

    if kind == Kind.DOB:
        words, pops = _bloom.filters(
            mask, enc.bloom.bits, grams=lambda i: dob_grams(d.values[i]), count=len(d.values)
        )
    else:
        texts = [v[0].replace(" ", "") for v in d.values] if kind == Kind.POSTCODE else d.values
        words, pops = _bloom.filters(mask, enc.bloom.bits, texts=texts)
    # One more row, all zero, for the rows without a value (code -1).
    table = np.vstack([words, np.zeros((1, enc.bloom.words), np.uint64)]).view(np.int64)
    pops = np.append(pops, np.int32(0))
    missing = d.codes < 0
    rows = table[d.codes]
    out = {
        f"{p}__bf{w}": pa.array(rows[:, w], pa.int64(), mask=missing)
        for w in range(enc.bloom.words)
    }
    out[f"{p}__pop"] = pa.array(pops[d.codes], pa.int32(), mask=missing)
    return out


def _tokens(enc: Encoder, name: str, d: Distinct, values: Sequence[str | None]) -> pa.Array:
    """The row-wise tokens of one string per distinct value."""
    return d.spread(enc.tokens(name, values))


def _token_rows(enc: Encoder, name: str, rows: pa.Array) -> pa.Array:
    """The tokens of a row-wise string array, each distinct string hashed once."""
    values, codes = cols.raw_values(rows)
    return Distinct(values, codes).spread(enc.tokens(name, values))


def _token_lists(enc: Encoder, name: str, d: Distinct, values: Sequence[Sequence[str]]) -> pa.Array:
    """The row-wise sorted token lists of one list of strings per distinct value."""
    flat = [x for v in values for x in v]
    tokens = iter([t for t in enc.tokens(name, flat) if t is not None])  # none are None
    lists = [sorted(next(tokens) for _ in v) for v in values]
    return d.spread(lists, pa.list_(pa.string()))
