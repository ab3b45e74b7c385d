"""Notes rendered a batch at a time come from the same distribution as one at a time."""

from __future__ import annotations

import random
import re
from collections import Counter

import numpy as np
import pytest

from joinedup.synth._notes import CATEGORIES, NoteContext, render_note_with_meta
from joinedup.synth._notes_batch import Coded, NoteColumns, render_notes

N = 20_000
_DIGITS = re.compile(r"\d+")


def _shares(texts: list[str]) -> Counter[str]:
    # Reference numbers are drawn from tens of millions: compare the notes' shape.
    return Counter(_DIGITS.sub("#", t) for t in texts)


def _columns(ctx: NoteContext, size: int) -> NoteColumns:
    def col(v: str) -> np.ndarray:
        return np.full(size, v, dtype=object)

    return NoteColumns(
        col(ctx.org),
        col(ctx.service),
        col(ctx.thing),
        col(ctx.other_org),
        col(ctx.life_event),
        np.full(size, ctx.days),
        np.full(size, ctx.amount),
        col(ctx.channel),
    )


_CASES = [
    ("chase", ("the DWP", "Universal Credit", "payment", "HMRC", "lost my job", 23, 640, "phone")),
    ("complaint", ("the council", "Council Tax", "bill", "the DWP", "moved house", 75, 12,
                   "letter")),
    ("service", ("HMRC", "Child Benefit", "payment", "the GP surgery", "had a baby", 1, 95, "web")),
    ("misrouted", ("the GP surgery", "GP registration", "appointment", "the council", "been unwell",
                   9, 20, "face_to_face")),
    ("repeat", ("the DWP", "State Pension", "payment", "HMRC", "retired", 140, 1499, "webchat")),
]  # fmt: skip


@pytest.mark.parametrize(("category", "fields"), _CASES)
def test_batch_notes_are_drawn_as_single_ones(category: str, fields: tuple) -> None:
    ctx = NoteContext(*fields)
    rng = random.Random(5)
    single = _shares(
        [render_note_with_meta(rng, category, ctx, typo_rate=0).text for _ in range(N)]
    )
    batch = _shares(
        render_notes(
            np.random.default_rng(5), random.Random(5), [category] * N, _columns(ctx, N), 0.0
        )
    )
    # Every common note shape made one way is about as common made the other way.
    for text in {t for t, c in (single + batch).items() if c >= 0.01 * N}:
        p, q = single[text] / N, batch[text] / N
        sd = (max(p, q) * (1 - max(p, q)) * 2 / N) ** 0.5
        assert abs(p - q) < 5 * sd + 1e-3, text
    # Rare shapes too, taken together: the batch's overlap the single notes' as much as
    # a second sample of single notes does.
    again = _shares([render_note_with_meta(rng, category, ctx, typo_rate=0).text for _ in range(N)])

    def overlap(a: Counter[str], b: Counter[str]) -> int:
        return sum(min(a[t], b[t]) for t in a.keys() | b.keys())

    assert overlap(single, batch) > 0.97 * overlap(single, again)


def test_typos_in_the_configured_share() -> None:
    ctx = NoteContext(
        "the DWP", "Universal Credit", "payment", "HMRC", "lost my job", 23, 640, "web"
    )
    cols = _columns(ctx, N)
    clean = render_notes(np.random.default_rng(1), random.Random(1), ["info"] * N, cols, 0.0)
    typed = render_notes(np.random.default_rng(1), random.Random(1), ["info"] * N, cols, 0.08)
    changed = sum(a != b for a, b in zip(clean, typed, strict=True)) / N
    assert 0.07 < changed < 0.09


def test_every_category_and_channel_renders() -> None:
    channels = ("phone", "web", "letter", "face_to_face", "webchat", "email", "fax")
    cats = [c for c in CATEGORIES for _ in channels]
    ctx = NoteContext("the council", "Housing options", "housing", "the DWP", "retired", 3, 400, "")
    cols = _columns(ctx, len(cats))._replace(channel=list(channels) * len(CATEGORIES))
    notes = render_notes(np.random.default_rng(2), random.Random(2), cats, cols)
    assert len(notes) == len(cats) and all(isinstance(t, str) and t for t in notes)
    with pytest.raises(ValueError, match="unknown note category"):
        render_notes(np.random.default_rng(2), random.Random(2), ["nonsense"], _columns(ctx, 1))


def test_columns_given_as_codes_give_the_same_notes_as_their_text() -> None:
    # The simulation hands over codes into name lists (some names repeated, as services
    # are across needs); numbered from them, the draws must fall exactly as from text.
    g = np.random.default_rng(5)
    size = 3000
    orgs = ("the DWP", "HMRC", "the council", "the GP surgery")
    services = ("Universal Credit", "Council Tax", "Universal Credit", "Child Benefit")
    channels = ("phone", "web", "letter", "face_to_face", "webchat", "email")
    coded = {
        "org": Coded(g.integers(0, 4, size), orgs),
        "service": Coded(g.integers(0, 4, size), services),
        "thing": Coded(g.integers(0, 4, size), ("payment", "bill", "payment", "award")),
        "other_org": Coded(g.integers(0, 4, size), orgs),
        "life_event": Coded(g.integers(0, 2, size), ("retired", "moved house")),
        "channel": Coded(g.integers(0, 6, size), channels),
    }
    numbers = {"days": g.integers(1, 90, size), "amount": g.integers(5, 2000, size)}
    cats = Coded(g.integers(0, len(CATEGORIES), size), CATEGORIES)

    def text(c: Coded) -> np.ndarray:
        return np.array(c.names, dtype=object)[c.codes]

    def notes(cols: dict, categories: object) -> list[str]:
        both = NoteColumns(**cols, **numbers)
        return list(render_notes(np.random.default_rng(9), random.Random(9), categories, both))

    as_text = notes({k: text(c) for k, c in coded.items()}, text(cats))
    assert notes(coded, cats) == as_text
    assert len(set(as_text)) > size // 3
