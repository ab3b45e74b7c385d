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

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa

from joinedup.privacy import _normalise as norm
from joinedup.privacy._errors import PrivacyError
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


def bigrams(words: Sequence[str]) -> set[str]:
    """Padded character bigrams of each word (``_j``, ``jo`` … ``n_``), as one set."""
    grams: set[str] = set()
    for w in words:
        padded = f"_{w}_"
        grams.update(padded[i : i + 2] for i in range(len(padded) - 1))
    return grams


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


@dataclass
class EncodedField:
    """The columns one field produced, and what was learnt reading it."""

    columns: dict[str, pa.Array]
    note: str | None = None


def encode_table(table: pa.Table, schema: Schema, encoder: Encoder) -> tuple[pa.Table, list[str]]:
    """Encode every field of ``schema`` in ``table``; the notes say e.g. which date layout
    a date-of-birth column used. Returns the encodings (local reference first)."""
    n = table.num_rows
    cols: dict[str, pa.Array] = {
        "local_person_ref": table.column(schema.id_col).cast(pa.string()).combine_chunks()
    }
    notes: list[str] = []
    normalised: dict[Kind, list[Any]] = {}
    for spec in schema.fields:
        values, note = _normalised_values(table, spec)
        if note:
            notes.append(note)
        if schema.field(spec.kind) is spec:
            normalised[spec.kind] = values
        cols.update(_encode_field(spec, values, encoder))
    for key, kinds in BLOCKING_KEYS.items():
        if all(k in normalised for k in kinds):
            values = [_block_value(key, *(normalised[k][i] for k in kinds)) for i in range(n)]
            cols[f"bk__{key}"] = _token_array(encoder, f"bk_{_KEY_TOKEN.get(key, key)}", values)
    return pa.table(cols), notes


def _block_value(key: str, *values: Any) -> str | None:
    """One record's value of a blocking key (before tokenising); None when a part is
    missing. ``values`` are the normalised values of the key's kinds, in their order."""
    if any(not v for v in values):
        return None
    if key == "addr":
        return str(values[0])
    if key in ("dob_sn1", "dsw_sn1", "dob_fn1"):
        dob, name = values
        if key == "dsw_sn1":
            dob = norm.swapped(dob)
            if dob is None:
                return None
        return f"{dob.isoformat()}|{name[0]}"
    if key == "sn_yob_fn1":
        sur, dob, fore = values
        return f"{sur}|{dob.year}|{fore[0]}"
    if key == "fnsn":
        return "|".join(values)
    if key == "fn_sn_out":
        fore, sur, (_, outward) = values
        return f"{fore[:2]}|{sur}|{outward}"
    (full, _), name = values  # pc_yob, pc_fn1, pc_sn1: postcode with one more part
    return f"{full}|{name.year if isinstance(name, date) else name[0]}"


def _normalised_values(table: pa.Table, spec: FieldSpec) -> tuple[list[Any], str | None]:
    """A field's values normalised for its kind: text, a date, or a postcode pair."""
    col = table.column(spec.column)
    if spec.kind == Kind.DOB:
        return _dates(col, spec.column)
    raw = [None if v is None else str(v) for v in col.to_pylist()]
    fn: Callable[[str | None], Any] = {
        Kind.FORENAME: norm.name,
        Kind.SURNAME: norm.name,
        Kind.FULLNAME: norm.name,
        Kind.SEX: norm.sex,
        Kind.POSTCODE: norm.postcode,
        Kind.ADDRESS: norm.text,
        Kind.EXACT_ID: norm.identifier,
        Kind.TEXT: norm.text,
    }[spec.kind]
    cache: dict[str | None, Any] = {}
    out = []
    for v in raw:
        if v not in cache:
            cache[v] = fn(v) or None
        out.append(cache[v])
    return out, None


def _dates(col: pa.ChunkedArray, column: str) -> tuple[list[date | None], str | None]:
    if pa.types.is_date(col.type):
        return col.to_pylist(), None
    if pa.types.is_timestamp(col.type):
        return [None if v is None else v.date() for v in col.to_pylist()], None
    raw = [None if v is None or not str(v).strip() else str(v).strip() for v in col.to_pylist()]
    present = sorted({v for v in raw if v is not None})
    if not present:
        return [None] * len(raw), None
    layout = norm.detect_date_layout(present)
    if layout is None:
        bad = next(v for v in present if norm.detect_date_layout([v]) is None)
        raise PrivacyError(
            f"column {column!r}: cannot read {bad!r} as a date; expected one layout for the "
            "whole column: " + ", ".join(norm.DATE_LAYOUTS)
        )
    parsed = {v: norm.parse_date(v, layout) for v in present}
    return [None if v is None else parsed[v] for v in raw], f"{column}: dates read as {layout}"


def _encode_field(spec: FieldSpec, values: list[Any], enc: Encoder) -> dict[str, pa.Array]:
    p, kind, out = spec.name, spec.kind, {}
    if kind == Kind.DOB:
        out[f"{p}__tok"] = _token_array(enc, p, [d.isoformat() if d else None for d in values])
        swaps = [norm.swapped(d) if d else None for d in values]
        out[f"{p}__swap"] = _token_array(enc, p, [d.isoformat() if d else None for d in swaps])
        fuzzy: list[Any] = values
    elif kind == Kind.POSTCODE:
        out[f"{p}__tok"] = _token_array(enc, p, [v[0] if v else None for v in values])
        out[f"{p}__out"] = _token_array(enc, f"{p}_out", [v[1] if v else None for v in values])
        fuzzy = [v[0] if v else None for v in values]
    elif kind in (Kind.SEX, Kind.EXACT_ID):
        out[f"{p}__tok"] = _token_array(enc, p, values)
        return out
    else:
        fuzzy = values
    if kind == Kind.FORENAME:
        out[f"{p}__alias"] = _token_lists(enc, p, [norm.aliases(v) if v else None for v in values])
    if kind == Kind.SURNAME:
        out[f"{p}__parts"] = _token_lists(enc, p, [v.split() if v else None for v in values])
    out.update(_fuzzy(spec, fuzzy, enc))
    return out


def _grams(kind: Kind, value: Any) -> set[str]:
    if kind == Kind.DOB:
        return dob_grams(value)
    if kind == Kind.POSTCODE:
        return bigrams([value.replace(" ", "")])
    words = value.split()
    return bigrams(sorted(words) if kind == Kind.FULLNAME else words)


def _fuzzy(spec: FieldSpec, values: list[Any], enc: Encoder) -> dict[str, pa.Array]:
    p = spec.name
    if not enc.keyed:
        text = [
            None if v is None else v.isoformat() if isinstance(v, date) else str(v) for v in values
        ]
        return {f"{p}__txt": pa.array(text, pa.string())}
    # Encode each distinct value once: names, dates and postcodes repeat a great deal.
    index: dict[Any, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    uniques: list[int] = []
    for i, v in enumerate(values):
        if v is None:
            codes[i] = -1
            continue
        j = index.get(v)
        if j is None:
            j = index[v] = len(uniques)
            uniques.append(enc.filter(p, _grams(spec.kind, v)))
        codes[i] = j
    words = enc.bloom.words
    table = np.zeros((len(uniques) + 1, words), dtype=np.uint64)
    pops = np.zeros(len(uniques) + 1, dtype=np.int32)
    low = (1 << 64) - 1
    for j, f in enumerate(uniques):
        table[j] = [(f >> (64 * w)) & low for w in range(words)]
        pops[j] = f.bit_count()
    missing = codes < 0
    rows = table.view(np.int64)[codes]  # row -1 is the all-zero filler for missing values
    out = {f"{p}__bf{w}": pa.array(rows[:, w], pa.int64(), mask=missing) for w in range(words)}
    out[f"{p}__pop"] = pa.array(pops[codes], pa.int32(), mask=missing)
    return out


def _token_array(enc: Encoder, name: str, values: Sequence[str | None]) -> pa.Array:
    cache: dict[str, str] = {}
    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        t = cache.get(v)
        if t is None:
            t = cache[v] = enc.token(name, v)
        out.append(t)
    return pa.array(out, pa.string())


def _token_lists(enc: Encoder, name: str, values: Sequence[Sequence[str] | None]) -> pa.Array:
    cache: dict[str, str] = {}

    def tok(x: str) -> str:
        t = cache.get(x)
        if t is None:
            t = cache[x] = enc.token(name, x)
        return t

    return pa.array(
        [None if v is None else sorted(tok(x) for x in v) for v in values],
        pa.list_(pa.string()),
    )
