"""Contact notes for many contacts at once: the templates of ``_notes``, rendered a
template at a time over NumPy arrays rather than a note at a time.

A note made here is drawn from the same distribution as :func:`_notes.render_note`
makes it: the same templates, slot lists and derived slots, each choice uniform as
there, the frame's opener and closer (which ``render_note`` draws as one pair from their
product) drawn each on its own, and one typo in the same share of notes. Only the order
of the draws differs, so a seed gives other notes. It costs about a quarter as much: a
million people write some eight million notes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeAlias, cast

import numpy as np
import pyarrow as pa

from joinedup.synth import _notes as n

_Text = np.ndarray  # an object array of str


class Coded(NamedTuple):
    """A text column as codes into its names: ``names[codes[i]]`` is row i's text."""

    codes: np.ndarray
    names: Sequence[str]


#: A text column: a list or an object array of str, or codes into names.
Strings: TypeAlias = Sequence[str] | np.ndarray | Coded


class NoteColumns(NamedTuple):
    """The fields of :class:`_notes.NoteContext`, a column each (text as object arrays,
    lists or codes, ``days`` and ``amount`` as integers)."""

    org: Strings
    service: Strings
    thing: Strings
    other_org: Strings
    life_event: Strings
    days: np.ndarray
    amount: np.ndarray
    channel: Strings


class _Field:
    """One text column as codes into its distinct values, for lookups per value."""

    def __init__(self, values: Strings) -> None:
        if isinstance(values, Coded):
            self._from_codes(values)
            return
        enc = pa.array(values, pa.string()).dictionary_encode()
        self.codes = enc.indices.to_numpy().astype(np.intp)
        self.values: list[str] = enc.dictionary.to_pylist()
        self.text = np.array(self.values, dtype=object)[self.codes]

    def _from_codes(self, coded: Coded) -> None:
        """As from the text, numbered the same way (distinct texts in order of first
        appearance, as Arrow's dictionary encoding numbers them) without making and
        hashing a string per row: a fifth of the cost of a batch's note context."""
        distinct, text_of = np.unique(np.array(coded.names, dtype=object), return_inverse=True)
        ids = text_of[coded.codes]
        seen, first = np.unique(ids, return_index=True)
        order = seen[np.argsort(first)]
        number = np.empty(len(distinct), np.intp)
        number[order] = np.arange(len(order))
        self.codes = number[ids]
        self.values = distinct[order].tolist()
        self.text = distinct[ids]

    def choose(
        self, g: np.random.Generator, rows: np.ndarray, options: Callable[[str], Sequence[str]]
    ) -> _Text:
        """For each row, one of ``options(value)`` uniformly."""
        table = [tuple(options(v)) for v in self.values]
        width = max(len(t) for t in table)
        padded = np.array([list(t) + [t[0]] * (width - len(t)) for t in table], dtype=object)
        lens = np.array([len(t) for t in table])
        codes = self.codes[rows]
        pick = (g.random(len(rows)) * lens[codes]).astype(np.intp)
        return padded[codes, pick]

    def each(self, rows: np.ndarray, fn: Callable[[str], str]) -> _Text:
        """``fn`` of each row's value, computed once per distinct value."""
        return np.array([fn(v) for v in self.values], dtype=object)[self.codes[rows]]


class _Ctx:
    """The batch's context columns, and their text where a template shows them."""

    def __init__(self, cols: NoteColumns) -> None:
        self.org, self.service, self.thing = (
            _Field(cols.org),
            _Field(cols.service),
            _Field(cols.thing),
        )
        self.other_org, self.life_event = _Field(cols.other_org), _Field(cols.life_event)
        self.channel = _Field(cols.channel)
        self.days = np.asarray(cols.days, dtype=np.int64)
        self.amount = np.asarray(cols.amount, dtype=np.int64)
        self._numbers: dict[str, _Text] = {}

    def text(self, field: int, rows: np.ndarray) -> _Text:
        """A context field (numbered as in NoteContext) as text."""
        name = n._CTX_FIELDS[field]
        if name in ("days", "amount"):
            if name not in self._numbers:
                numbers = pa.array(getattr(self, name)).cast(pa.string())
                self._numbers[name] = np.array(numbers.to_pylist(), dtype=object)
            return self._numbers[name][rows]
        column: _Field = getattr(self, name)
        return column.text[rows]


_VSlot = Callable[[np.random.Generator, np.ndarray, _Ctx], _Text]
# A compiled template: plain text, or its pieces (literal text, a context field's
# number, or a slot function) to join.
_VCompiled = str | tuple[str | int | _VSlot, ...]

_cap = np.frompyfunc(n._cap, 1, 1)


def _run(c: _VCompiled, g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
    """Render one compiled template for every row in ``rows``."""
    if isinstance(c, str):
        return np.full(len(rows), c, dtype=object)
    out: _Text | None = None
    text: str | _Text
    for piece in c:
        if isinstance(piece, str):
            text = piece
        elif isinstance(piece, int):
            text = ctx.text(piece, rows)
        else:
            text = piece(g, rows, ctx)
        if out is None:
            out = text.copy() if isinstance(text, np.ndarray) else np.full(len(rows), text, object)
        else:
            out = out + text
    assert out is not None
    return out


def _choose(
    compiled: Sequence[_VCompiled], g: np.random.Generator, rows: np.ndarray, ctx: _Ctx
) -> _Text:
    """One of ``compiled`` uniformly for each row, rendered."""
    pick = (g.random(len(rows)) * len(compiled)).astype(np.intp)
    out = np.empty(len(rows), dtype=object)
    for j in np.unique(pick).tolist():
        at = pick == j
        out[at] = _run(compiled[j], g, rows[at], ctx)
    return out


def _pick(entries: Sequence[str]) -> _VSlot:
    compiled = tuple(_compile(e) for e in entries)
    if all(isinstance(c, str) for c in compiled):
        plain = np.array(entries, dtype=object)

        def pick_plain(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
            return plain[(g.random(len(rows)) * len(plain)).astype(np.intp)]

        return pick_plain

    def pick(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
        return _choose(compiled, g, rows, ctx)

    return pick


def _abbreviated(field: str, abbreviations: Callable[[str], str | None], p: float) -> _VSlot:
    """A context field's abbreviation with chance ``p`` where it has one, else itself."""

    def slot(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
        column: _Field = getattr(ctx, field)
        full = column.text[rows]
        abbr = column.each(rows, lambda v: abbreviations(v) or "")
        use = (abbr != "") & (g.random(len(rows)) < p)
        return np.where(use, abbr, full)

    return slot


def _waits(table: tuple[tuple[str, ...], ...]) -> _VSlot:
    width = max(len(t) for t in table)
    padded = np.array([list(t) + [t[0]] * (width - len(t)) for t in table], dtype=object)
    lens = np.array([len(t) for t in table])

    def slot(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
        d = np.clip(ctx.days[rows], 1, n._MAX_DAYS)  # as _notes._days_index
        return padded[d, (g.random(len(rows)) * lens[d]).astype(np.intp)]

    return slot


def _amt(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
    amounts = ctx.amount[rows]
    plain = np.array([f"£{a:,}" for a in amounts.tolist()], dtype=object)
    return np.where(g.random(len(rows)) < 0.15, plain + ".00", plain)


def _refno(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
    numbers = 10_000_000 + (g.random(len(rows)) * 90_000_000).astype(np.int64)
    return np.array(pa.array(numbers).cast(pa.string()).to_pylist(), dtype=object)


def _cust(cap: bool) -> _VSlot:
    def slot(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
        return ctx.org.choose(g, rows, lambda org: n._sector_custs(org)[cap])

    return slot


def _rang(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
    return ctx.channel.choose(g, rows, lambda ch: n._RANG_BY_CHANNEL.get(ch, n._RANG_DEFAULT))


def _each(field: str, fn: Callable[[str], str]) -> _VSlot:
    def slot(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
        column: _Field = getattr(ctx, field)
        return column.each(rows, fn)

    return slot


#: The derived slots of ``_notes._DERIVED``, a column at a time.
_DERIVED: dict[str, _VSlot] = {
    "life3": _each("life_event", n._third_person),
    "orgab": _each("org", n._org_abbrev),
    "otherab": _each("other_org", n._org_abbrev),
    "cust": _cust(False),
    "Cust": _cust(True),
    "rang": _rang,
    "svc": _abbreviated("service", lambda s: n.SERVICE_ABBREVIATIONS.get(s.lower()), 0.7),
    "thg": _abbreviated("thing", n.THING_ABBREVIATIONS.get, 0.6),
    "wait": _waits(n._CITIZEN_WAITS),
    "wk": _waits(n._ADVISER_WAITS),
    "amt": _amt,
    "refno": _refno,
}
if set(_DERIVED) != set(n._DERIVED):
    raise AssertionError("every derived slot of _notes needs its batch form here")
_SLOTS: dict[str, _VSlot] = {}


def _capitalised(fn: _VSlot) -> _VSlot:
    def cap(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
        return cast(_Text, _cap(fn(g, rows, ctx)))

    return cap


def _context(field: int) -> _VSlot:
    def get(g: np.random.Generator, rows: np.ndarray, ctx: _Ctx) -> _Text:
        return ctx.text(field, rows)

    return get


def _slot(name: str) -> _VSlot:
    """A field's slot function, resolved as ``_notes._slot`` resolves it."""
    fn = _DERIVED.get(name) or _SLOTS.get(name)
    if fn is not None:
        return fn
    if name in n._LISTS:
        fn = _pick(n._LISTS[name])
    else:
        low = name[:1].lower() + name[1:]
        if not name[:1].isupper() or low == name:
            raise KeyError(f"unknown template field {{{name}}}")
        if low in n._LISTS:
            fn = _pick([n._cap_template(e) for e in n._LISTS[low]])
        elif low in _DERIVED:
            fn = _capitalised(_DERIVED[low])
        elif low in n._CTX_INDEX:
            fn = _capitalised(_context(n._CTX_INDEX[low]))
        else:
            raise KeyError(f"unknown template field {{{name}}}")
    _SLOTS[name] = fn
    return fn


def _compile(template: str) -> _VCompiled:
    pieces: list[str | int | _VSlot] = []
    for literal, field, spec, conv in n._FORMATTER.parse(template):
        if literal:
            pieces.append(literal)
        if field is None:
            continue
        if spec or conv:
            raise ValueError(f"format specs are not supported: {template!r}")
        pieces.append(n._CTX_INDEX[field] if field in n._CTX_INDEX else _slot(field))
    if all(isinstance(p, str) for p in pieces):
        return "".join(p for p in pieces if isinstance(p, str))
    return tuple(pieces)


# category -> (adviser pool, citizen pool)
_COMPILED: dict[str, tuple[tuple[_VCompiled, ...], tuple[_VCompiled, ...]]] = {
    cat: (tuple(_compile(t) for t in adv), tuple(_compile(t) for t in cit))
    for cat, (adv, cit) in n._TEMPLATES.items()
}
# channel -> (openers with whether what follows is lowercased, closers)
_FRAMES: dict[str, tuple[tuple[tuple[_VCompiled, bool], ...], tuple[_VCompiled, ...]]] = {
    ch: (
        tuple((_compile(o), bool(o) and not o.rstrip().endswith((".", ":", "!", "?"))) for o in op),
        tuple(_compile(c) for c in cl),
    )
    for ch, (op, cl) in n._FRAMES.items()
}


def _lowered(text: str) -> str:
    """The first letter lowercased after an opener, as ``_notes._render`` does it."""
    if text[:1].isupper() and not text[1:2].isupper() and not text.startswith(("I ", "I'")):
        return text[0].lower() + text[1:]
    return text


_lower = np.frompyfunc(_lowered, 1, 1)


def render_notes(
    g: np.random.Generator,
    typos: random.Random,
    categories: Strings,
    cols: NoteColumns,
    typo_rate: float = n.TYPO_RATE,
) -> _Text:
    """A note for each contact of ``categories`` about its row of ``cols`` (text as
    object arrays of str or as codes); choices drawn from ``g``, and typos, where a
    note gets one, from ``typos``."""
    cat = _Field(categories)
    size = len(cat.codes)
    if size == 0:
        return np.empty(0, dtype=object)
    ctx = _Ctx(cols)
    unknown = set(cat.values) - set(_COMPILED)
    if unknown:
        raise ValueError(
            f"unknown note category {sorted(unknown)[0]!r}; expected one of {n.CATEGORIES}"
        )
    # Unknown channels get the citizen's voice and the web's frames, as in render_note.
    channel = [v if v in _FRAMES else n._FALLBACK_CHANNEL for v in ctx.channel.values]
    adviser = np.array([v in n.ADVISER_CHANNELS for v in channel])[ctx.channel.codes]
    out = np.empty(size, dtype=object)
    for code, name in enumerate(cat.values):
        for voice in (True, False):
            rows = np.flatnonzero((cat.codes == code) & (adviser == voice))
            if len(rows):
                out[rows] = _choose(_COMPILED[name][0 if voice else 1], g, rows, ctx)
    for code, name in enumerate(channel):
        rows = np.flatnonzero(ctx.channel.codes == code)
        openers, closers = _FRAMES[name]
        pick = (g.random(len(rows)) * len(openers)).astype(np.intp)
        for j in np.unique(pick).tolist():
            opener, lower_next = openers[j]
            if opener:
                at = rows[pick == j]
                text = _lower(out[at]) if lower_next else out[at]
                out[at] = _run(opener, g, at, ctx) + text
        pick = (g.random(len(rows)) * len(closers)).astype(np.intp)
        for j in np.unique(pick).tolist():
            if closers[j]:
                at = rows[pick == j]
                out[at] = out[at] + _run(closers[j], g, at, ctx)
    typo = np.flatnonzero(g.random(size) < typo_rate)
    for i in typo.tolist():
        out[i] = n._add_typo(typos, out[i])
    return out
