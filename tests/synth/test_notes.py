"""Tests for the synthetic contact-note generator (joinedup.synth._notes).

They check the interface, determinism, and the properties that make the notes
useful for training text classifiers: no single keyword gives a category away,
categories share vocabulary, both voices occur, lengths vary and a minority of
notes carry a typo.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from functools import cache

import pytest

from joinedup.synth._notes import (
    ADVISER_CHANNELS,
    CATEGORIES,
    SERVICE_ABBREVIATIONS,
    THING_ABBREVIATIONS,
    TYPO_RATE,
    NoteContext,
    RenderedNote,
    render_note,
    render_note_with_meta,
    template_count,
)

ORGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the DWP", ("Universal Credit", "Personal Independence Payment", "State Pension", "PIP")),
    ("HMRC", ("PAYE tax code", "tax code", "Child Benefit", "Self Assessment")),
    ("the council", ("Council Tax Reduction", "Housing options", "Council Tax", "housing")),
    ("the GP surgery", ("GP registration", "Hospital referral", "repeat prescriptions")),
)
THINGS = (
    "payment",
    "decision",
    "appointment",
    "refund",
    "repair",
    "letter",
    "referral",
    "form",
    "bill",
    "tax code",
    "registration",
    "assessment",
    "housing",
)
LIFE_EVENTS = (
    "lost my job",
    "had a baby",
    "moved house",
    "split up with my partner",
    "started a new job",
    "retired",
    "was diagnosed with diabetes",
    "became a carer for my dad",
)
CHANNELS = ("phone", "web", "letter", "face_to_face", "webchat", "email")
# From the spec: advisers write phone and face-to-face notes, citizens the rest.
SPEC_ADVISER_CHANNELS = frozenset({"phone", "face_to_face"})

# English function words. Content words such as "again", "still" or "same" are
# deliberately not here: they are exactly the words that could give a label away.
_STOP_TEXT = """
    a about above after all am an and any are as at be been before being below between
    both but by can cant could did didnt do does doesnt doing dont down during each few
    for from further had has hasnt have havent having he her here him his how i id ill
    im ive if in into is isnt it its itll just me more most my myself no nor not now of
    off on once only or other our ours out over own she should so some such than that
    thats the their theirs them then there theres these they theyd theyre theyve this
    those through to too under until up us very was wasnt we were what whats when where
    which while who whom why will with would wont you youd youll your youre youve yours
    w s t d
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
# Singular only: advisers may write "we"/"us" for the organisation.
_FIRST_PERSON_EXACT = frozenset({"I", "I'm", "I've", "I'd", "I'll"})
_FIRST_PERSON_ANY_CASE = frozenset({"my", "me", "myself"})
_WORDS = re.compile(r"[A-Za-z']+")
SAMPLE_PER_CATEGORY = 400

_APOSTROPHES = re.compile(r"['\u2019]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lowercase word tokens with apostrophes dropped and other punctuation as spaces."""
    return _NON_ALNUM.sub(" ", _APOSTROPHES.sub("", text.lower())).split()


def first_person(text: str) -> bool:
    """Whether a note speaks in the first person ("ID" is not "I'd")."""
    return any(
        w in _FIRST_PERSON_EXACT or w.lower() in _FIRST_PERSON_ANY_CASE
        for w in _WORDS.findall(text.replace("\u2019", "'"))
    )


def random_context(rng: random.Random, channel: str | None = None) -> NoteContext:
    """A varied, realistic context."""
    i = rng.randrange(len(ORGS))
    org, services = ORGS[i]
    other_org = ORGS[(i + rng.randrange(1, len(ORGS))) % len(ORGS)][0]
    return NoteContext(
        org=org,
        service=rng.choice(services),
        thing=rng.choice(THINGS),
        other_org=other_org,
        life_event=rng.choice(LIFE_EVENTS),
        days=rng.randint(1, 120),
        amount=rng.randint(10, 3000),
        channel=channel if channel is not None else rng.choice(CHANNELS),
    )


def slot_tokens(ctx: NoteContext) -> set[str]:
    """Tokens that come from the context's slot values (and their abbreviations)."""
    parts = [ctx.org, ctx.service, ctx.thing, ctx.other_org, ctx.life_event]
    parts.append(SERVICE_ABBREVIATIONS.get(ctx.service.lower(), ""))
    parts.append(THING_ABBREVIATIONS.get(ctx.thing, ""))
    return set(tokens(" ".join(parts)))


def content_tokens(note: str, ctx: NoteContext) -> set[str]:
    """Distinct non-stop-word, non-slot, non-numeric tokens of a note."""
    skip = slot_tokens(ctx)
    return {t for t in tokens(note) if t not in STOP_WORDS and t not in skip and not t.isdigit()}


@cache
def sample(
    category: str, seed: int = 7, n: int = SAMPLE_PER_CATEGORY
) -> tuple[tuple[NoteContext, RenderedNote], ...]:
    """``n`` notes of one category with varied contexts and channels."""
    ctx_rng = random.Random(f"ctx-{seed}-{category}")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ctx = random_context(ctx_rng)
        out.append((ctx, render_note_with_meta(rng, category, ctx)))
    return tuple(out)


# ---------------------------------------------------------------------------
# Interface
# ---------------------------------------------------------------------------


def test_categories_are_the_default_taxonomy() -> None:
    assert CATEGORIES == (
        "service",
        "info",
        "change",
        "help",
        "chase",
        "error",
        "clarify",
        "repeat",
        "misrouted",
        "duplicate",
        "complaint",
    )


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_category_has_at_least_15_templates(category: str) -> None:
    assert template_count(category) >= 15


@pytest.mark.parametrize("category", CATEGORIES)
def test_template_count_agrees_with_rendered_templates(category: str) -> None:
    rng = random.Random(11)
    ctx_rng = random.Random(12)
    seen: dict[str, set[int]] = {"adviser": set(), "citizen": set()}
    for i in range(4000):
        ctx = random_context(ctx_rng, CHANNELS[i % len(CHANNELS)])
        meta = render_note_with_meta(rng, category, ctx)
        assert meta.category == category
        seen[meta.voice].add(meta.template_id)
    n = template_count(category)
    assert seen["adviser"] | seen["citizen"] == set(range(n))
    # Each template belongs to exactly one voice, and both voices have templates.
    assert not seen["adviser"] & seen["citizen"]
    assert seen["adviser"] and seen["citizen"]


@pytest.mark.parametrize("bad", ["bogus", "", "Chase", "failure"])
def test_unknown_category_raises_value_error_naming_it(bad: str) -> None:
    ctx = random_context(random.Random(0))
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        render_note(random.Random(0), bad, ctx)
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        render_note_with_meta(random.Random(0), bad, ctx)
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        template_count(bad)


def test_adviser_channels_match_spec() -> None:
    assert ADVISER_CHANNELS == SPEC_ADVISER_CHANNELS


def test_note_context_is_frozen() -> None:
    ctx = random_context(random.Random(0))
    with pytest.raises(AttributeError):
        ctx.days = 3  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------


def _sequence(seed: int, n: int = 300) -> list[str]:
    rng = random.Random(seed)
    ctx_rng = random.Random(99)
    return [
        render_note(rng, CATEGORIES[i % len(CATEGORIES)], random_context(ctx_rng)) for i in range(n)
    ]


def test_same_seed_gives_same_notes() -> None:
    assert _sequence(5) == _sequence(5)


def test_different_seeds_give_different_notes() -> None:
    a, b = _sequence(5), _sequence(6)
    assert a != b
    assert sum(x != y for x, y in zip(a, b, strict=True)) > len(a) // 2


def test_only_the_given_rng_is_used() -> None:
    random.seed(1)
    a = _sequence(5)
    random.seed(2)
    b = _sequence(5)
    assert a == b


def test_meta_path_matches_render_note_and_consumes_rng_the_same() -> None:
    ctx_rng = random.Random(3)
    r1, r2 = random.Random(42), random.Random(42)
    for i in range(2000):
        ctx = random_context(ctx_rng)
        cat = CATEGORIES[i % len(CATEGORIES)]
        assert render_note(r1, cat, ctx) == render_note_with_meta(r2, cat, ctx).text
    assert r1.random() == r2.random()


# ---------------------------------------------------------------------------
# No fixed keyword; shared vocabulary; variety
# ---------------------------------------------------------------------------


def _doc_freq(category: str, voice: str | None = None) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    n = 0
    for ctx, meta in sample(category):
        if voice is not None and meta.voice != voice:
            continue
        counts.update(content_tokens(meta.text, ctx))
        n += 1
    return counts, n


@pytest.mark.parametrize("category", CATEGORIES)
def test_no_token_appears_in_more_than_60_percent_of_a_category(category: str) -> None:
    counts, n = _doc_freq(category)
    word, top = counts.most_common(1)[0]
    assert top / n <= 0.60, f"{category}: {word!r} in {top}/{n} notes"


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("voice", ["adviser", "citizen"])
def test_no_fixed_keyword_within_one_voice(category: str, voice: str) -> None:
    # A stricter form: even if a service takes nearly all contacts by one channel,
    # no word should be a giveaway there.
    counts, n = _doc_freq(category, voice)
    assert n >= 100
    word, top = counts.most_common(1)[0]
    assert top / n <= 0.60, f"{category}/{voice}: {word!r} in {top}/{n} notes"


@pytest.mark.parametrize(
    ("word", "categories"),
    [
        ("payment", ("service", "chase", "error")),
        ("letter", ("clarify", "error", "duplicate")),
        ("again", ("repeat", "chase", "complaint")),
        ("still", ("chase", "repeat", "clarify")),
        ("wrong", ("error", "misrouted")),
        ("told", ("misrouted", "repeat", "chase")),
    ],
)
def test_categories_share_vocabulary(word: str, categories: tuple[str, ...]) -> None:
    for category in categories:
        hits = sum(word in tokens(meta.text) for _, meta in sample(category))
        assert hits > 0, f"{word!r} never appears in {category} notes"


@pytest.mark.parametrize("name", ["chase", "misrouted", "duplicate", "clarify"])
def test_category_names_are_rare(name: str) -> None:
    for category in CATEGORIES:
        hits = sum(name in tokens(meta.text) for _, meta in sample(category))
        assert hits / SAMPLE_PER_CATEGORY <= 0.05, f"{name!r} in {hits} {category} notes"


@pytest.mark.parametrize("category", CATEGORIES)
def test_many_distinct_notes(category: str) -> None:
    texts = {meta.text for _, meta in sample(category)}
    assert len(texts) >= 100


# ---------------------------------------------------------------------------
# Voices, length, language
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("category", CATEGORIES)
def test_both_voices_occur_by_channel(category: str) -> None:
    rng = random.Random(21)
    ctx_rng = random.Random(22)
    adviser_notes: list[str] = []
    citizen_notes: list[str] = []
    for channel in CHANNELS:
        for _ in range(150):
            meta = render_note_with_meta(
                rng, category, random_context(ctx_rng, channel), typo_rate=0.0
            )
            expected = "adviser" if channel in SPEC_ADVISER_CHANNELS else "citizen"
            assert meta.voice == expected, (channel, meta)
            (adviser_notes if expected == "adviser" else citizen_notes).append(meta.text)
    # Advisers write in the third person; citizens mostly in the first.
    for text in adviser_notes:
        assert not first_person(text), text
    first = sum(first_person(t) for t in citizen_notes)
    assert first / len(citizen_notes) >= 0.6
    # Advisers use contact-centre shorthand.
    shorthand = {"cust", "clmt", "pt", "adv", "re", "pymt", "appt", "w", "cb", "asap", "ref"}
    shorthand |= {"sys", "recd", "tl", "nfa", "docs", "prev", "dept", "approx", "no"}
    short = sum(bool(shorthand & set(tokens(t))) for t in adviser_notes)
    assert short / len(adviser_notes) >= 0.4


def test_adviser_voice_uses_service_abbreviations() -> None:
    rng = random.Random(1)
    ctx = NoteContext(
        "the DWP", "Universal Credit", "payment", "HMRC", "lost my job", 20, 300, "phone"
    )
    texts = [render_note(rng, c, ctx) for c in CATEGORIES for _ in range(50)]
    assert any("UC" in t.split() or "UC," in t for t in texts)
    assert any("pymt" in t.lower() for t in texts)
    assert any("lost their job" in t for t in texts)
    assert not any("lost my job" in t for t in texts)


def test_lengths_vary() -> None:
    counts = [len(meta.text.split()) for c in CATEGORIES for _, meta in sample(c)]
    assert min(counts) <= 5
    assert max(counts) >= 25
    # Neither all short nor all long.
    assert sum(n <= 8 for n in counts) / len(counts) >= 0.05
    assert sum(n >= 20 for n in counts) / len(counts) >= 0.03


def test_text_is_clean_without_typos() -> None:
    rng = random.Random(8)
    ctx_rng = random.Random(9)
    for i in range(5000):
        ctx = random_context(ctx_rng)
        text = render_note_with_meta(rng, CATEGORIES[i % 11], ctx, typo_rate=0.0).text
        assert text == text.strip(), text
        assert "  " not in text, text
        assert "{" not in text and "}" not in text, text
        assert ".." not in text and " ." not in text and " ," not in text, text
        if ctx.channel != "webchat":  # webchat openers are typed in lower case
            assert not text[0].islower(), text


AMERICAN = ("color", "organiz", "apologiz", "realiz", "favor", "behavior", "center", "canceled")


def test_british_spelling() -> None:
    for category in CATEGORIES:
        for _, meta in sample(category):
            low = meta.text.lower()
            assert not any(a in low for a in AMERICAN), meta.text


# ---------------------------------------------------------------------------
# Typos
# ---------------------------------------------------------------------------


def test_typo_rate_in_range() -> None:
    rng = random.Random(31)
    ctx_rng = random.Random(32)
    n = 20000
    typos = sum(
        render_note_with_meta(rng, CATEGORIES[i % 11], random_context(ctx_rng)).typo
        for i in range(n)
    )
    assert 0.03 <= typos / n <= 0.15
    assert 0.03 <= TYPO_RATE <= 0.15


def _edit_span(a: str, b: str) -> int:
    """Length of the longer middle part left after removing a common prefix and suffix."""
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    s = 0
    while s < min(len(a), len(b)) - p and a[-1 - s] == b[-1 - s]:
        s += 1
    return max(len(a), len(b)) - p - s


def test_typos_are_small_visible_edits() -> None:
    rng = random.Random(41)
    ctx_rng = random.Random(42)
    n_typo = 0
    for i in range(5000):
        ctx = random_context(ctx_rng)
        cat = CATEGORIES[i % 11]
        state = rng.getstate()
        noisy = render_note_with_meta(rng, cat, ctx)
        clean_rng = random.Random()
        clean_rng.setstate(state)
        clean = render_note_with_meta(clean_rng, cat, ctx, typo_rate=0.0)
        assert clean.template_id == noisy.template_id
        if noisy.typo:
            n_typo += 1
            assert noisy.text != clean.text
            assert abs(len(noisy.text) - len(clean.text)) <= 1
            assert _edit_span(clean.text, noisy.text) <= 2, (clean.text, noisy.text)
        else:
            assert noisy.text == clean.text
    assert n_typo > 0


def test_typo_rate_zero_and_one() -> None:
    rng = random.Random(3)
    ctx_rng = random.Random(4)
    metas = [
        render_note_with_meta(rng, "chase", random_context(ctx_rng), typo_rate=1.0)
        for _ in range(200)
    ]
    assert all(m.typo for m in metas)
    metas = [
        render_note_with_meta(rng, "chase", random_context(ctx_rng), typo_rate=0.0)
        for _ in range(200)
    ]
    assert not any(m.typo for m in metas)


# ---------------------------------------------------------------------------
# Speed (loose bound; the real target is well under 10 microseconds per call)
# ---------------------------------------------------------------------------


def test_render_is_fast_enough() -> None:
    ctx_rng = random.Random(0)
    contexts = [random_context(ctx_rng) for _ in range(200)]
    rng = random.Random(0)
    n = 20000
    start = time.perf_counter()
    for i in range(n):
        render_note(rng, CATEGORIES[i % 11], contexts[i % 200])
    per_call = (time.perf_counter() - start) / n
    assert per_call < 100e-6, f"{per_call * 1e6:.1f} us per call"
