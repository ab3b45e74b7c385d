"""The shipped text model: generalisation to hand-written notes, garbage in, storage."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest

from joinedup.demand import NEEDS_REVIEW, DemandError, evaluate_labels, load_model
from joinedup.demand._hashing import hashed_ngrams
from joinedup.demand._text import TextModel, clean, default_model_path
from tests.demand.conftest import DATA

HAND_TEST = DATA / "handwritten.csv"
TRAIN_EXAMPLES = Path(__file__).parents[2] / "src/joinedup/demand/data/examples.csv"


def _notes(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_shipped_model_is_small_and_loads(shipped_model: TextModel) -> None:
    assert default_model_path().stat().st_size < 5_000_000
    assert set(shipped_model.classes) == set(shipped_model.taxonomy.codes)
    assert 0 < shipped_model.temperature < 10


def test_hand_written_test_set_is_big_varied_and_never_trained_on() -> None:
    rows = _notes(HAND_TEST)
    assert len(rows) >= 150
    assert {r["style"] for r in rows} >= {"email", "webchat", "adviser", "letter"}
    train = {clean(r["note"]) for r in _notes(TRAIN_EXAMPLES)}
    assert not train & {clean(r["note"]) for r in rows}


def test_generalises_to_hand_written_notes(shipped_model: TextModel) -> None:
    ev = evaluate_labels(HAND_TEST, model=shipped_model)
    assert ev.n >= 150
    assert ev.binary_accuracy >= 0.90, ev.binary_accuracy
    assert ev.macro_f1 >= 0.75, ev.macro_f1
    # What is not sent for review is right at least as often as the best guesses.
    assert ev.decided_accuracy is not None
    assert ev.decided_accuracy >= ev.category_accuracy
    assert ev.review_rate < 0.25


@pytest.mark.parametrize(
    "note",
    [
        "",
        "   \n\t ",
        None,
        float("nan"),
        "Rwyf wedi aros tair wythnos am fy nhaliad Credyd Cynhwysol a does neb wedi ffonio'n ôl.",
        "Dw i ddim yn deall y llythyr am fy nhreth gyngor, allwch chi esbonio os gwelwch yn dda?",
        "Czekam na wypłatę zasiłku od trzech tygodni i nikt nie oddzwonił.",
        "J'attends mon paiement depuis trois semaines et personne ne m'a rappelé.",
        "😡😡😡 💷❓❓",
        "🙏",
        "&nbsp;<br/><div></div>",
        "x7#kq!! zzv9 qqq",
        "\x00\x01\x02",
    ],
)
def test_garbage_is_sent_for_review(shipped_model: TextModel, note: object) -> None:
    pred = shipped_model.predict([note])
    assert pred.category == [NEEDS_REVIEW]
    assert pred.demand_type == [NEEDS_REVIEW]


def test_html_is_read_as_text(shipped_model: TextModel) -> None:
    note = (
        "<html><head><style>p {color: red}</style></head><body><p>Dear Sir,</p>"
        "<p>I applied for <b>Universal Credit</b> seven weeks ago and I am still waiting"
        " for my first payment. When will it arrive?</p><p>Regards,<br>Ann</p></body></html>"
    )
    pred = shipped_model.predict([note])
    assert pred.best == ["chase"]
    assert "color" not in clean(note)


def test_emoji_within_english_still_reads(shipped_model: TextModel) -> None:
    pred = shipped_model.predict(["still waiting for my payment 😡 its been 5 weeks!!"])
    assert pred.demand_type == ["failure"]


def test_a_100kb_note_is_handled_quickly(shipped_model: TextModel) -> None:
    big = "I want to make a formal complaint about how I was treated by your staff. " * 1500
    assert len(big) > 100_000
    start = time.perf_counter()
    pred = shipped_model.predict([big, "x" * 100_000, "<p>" * 40_000])
    assert time.perf_counter() - start < 2
    assert pred.best[0] == "complaint"
    assert pred.category[1] == NEEDS_REVIEW


def test_review_label_below_threshold(shipped_model: TextModel) -> None:
    notes = [r["note"] for r in _notes(HAND_TEST)]
    strict = shipped_model.predict(notes, threshold=0.99, type_threshold=0.999)
    loose = shipped_model.predict(notes, threshold=0.0)
    assert strict.category.count(NEEDS_REVIEW) > loose.category.count(NEEDS_REVIEW)
    assert NEEDS_REVIEW not in loose.category
    # Sure of the type but not of the category: the type is still given.
    mid = shipped_model.predict(notes, threshold=1.01, type_threshold=0.5)
    assert set(mid.category) == {NEEDS_REVIEW}
    assert set(mid.demand_type) <= {"value", "failure"}


def test_probabilities_are_probabilities(shipped_model: TextModel) -> None:
    p = shipped_model.proba([clean("where is my money"), clean("")])
    assert p.shape == (2, len(shipped_model.classes))
    assert np.allclose(p.sum(axis=1), 1)


def test_features_do_not_depend_on_the_batch() -> None:
    docs = ["where is my payment", "", "naïve café £20 – ok", "a b c d"]
    kw = {"char_bits": 12, "word_bits": 12, "char_ngrams": (2, 4), "word_ngrams": (1, 2)}
    together = hashed_ngrams(docs, **kw).toarray()  # type: ignore[arg-type]
    for i, d in enumerate(docs):
        alone = hashed_ngrams([d], **kw).toarray()  # type: ignore[arg-type]
        assert np.array_equal(alone[0], together[i])
    # Each block has unit length for a note with any n-gram.
    assert np.isclose(np.linalg.norm(together[0, : 2**12]), 1)
    assert np.isclose(np.linalg.norm(together[0, 2**12 :]), 1)


def test_clean() -> None:
    assert clean(None) == ""
    assert clean("  Hello <b>World</b> &amp; 2024 ") == "hello world & 0000"
    assert clean("<script>alert(1)</script>hi") == "hi"


#: Notes that take every branch of the vectorised cleaning and word count: runs of
#: Python's spaces (0x1C to 0x1F among them), leading and trailing space, HTML and
#: entities, characters Python lower-cases or reads as a space or digit (İ, Σ, a
#: no-break space, Arabic-Indic digits), chains of apostrophes, and empty notes.
ODD_NOTES = [
    "  Paid £50\t\tlate\x1c\x1dagain  ",
    "don't won't'cha a'b'c'd 'lead trail' x''y",
    "<p>Called &amp; chased</p>",
    "İSTANBUL ΣΟΦΙΑ café ß",
    "no\u00a0break and \u0663\u0664 digits",
    "",
    " ",
    "\x0b\x0c\r\n",
    "ÀÉÎ upper accents",
    "x" * 13_000,
    "plain ascii note about a payment",
]


def test_vectorised_cleaning_and_word_count_match_python(shipped_model: TextModel) -> None:
    import re

    import pyarrow as pa
    import pyarrow.compute as pc

    from joinedup.demand._notes import as_notes, clean_notes, count_words

    notes = [*ODD_NOTES, None, float("nan"), 42]
    cleaned = clean_notes(as_notes(notes), clean)
    assert cleaned.to_pylist() == [clean(t) for t in notes]
    # One note at a time too: a batch of notes that all take the fast path.
    for t in ODD_NOTES:
        assert clean_notes(as_notes([t, t]), clean).to_pylist() == [clean(t)] * 2
    word = re.compile(r"[a-z]+(?:'[a-z]+)?")
    texts = pc.utf8_slice_codeunits(cleaned, 0, 3000)
    vocab = pa.array(sorted(shipped_model.vocab), pa.large_string())
    words, known = count_words(texts, vocab)
    for i, t in enumerate(texts.to_pylist()):
        found = [w for w in word.findall(t) if len(w) > 1]
        assert words[i] == len(found)
        assert known[i] == sum(w in shipped_model.vocab for w in found)


def test_features_from_arrow_match_features_from_a_list() -> None:
    import pyarrow as pa

    docs = [clean(t) for t in ODD_NOTES]
    kw = {"char_bits": 12, "word_bits": 12, "char_ngrams": (1, 5), "word_ngrams": (1, 3)}
    from_list = hashed_ngrams(docs, **kw)  # type: ignore[arg-type]
    sliced = pa.array(["skip", *docs], pa.large_string()).slice(1)
    from_arrow = hashed_ngrams(sliced, **kw)  # type: ignore[arg-type]
    assert (from_list != from_arrow).nnz == 0
    assert np.array_equal(from_list.indices, from_arrow.indices)
    # Columns sorted within each note, no duplicates: the order scipy's product adds in.
    for i in range(len(docs)):
        cols = from_list.indices[from_list.indptr[i] : from_list.indptr[i + 1]]
        assert np.all(np.diff(cols) > 0)


def test_save_and_load_round_trip(shipped_model: TextModel, tmp_path: Path) -> None:
    path = shipped_model.save(tmp_path / "m.npz")
    again = load_model(path)
    notes = [r["note"] for r in _notes(HAND_TEST)[:30]]
    assert again.predict(notes).best == shipped_model.predict(notes).best


def test_bad_model_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DemandError, match="no demand model"):
        load_model(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a model")
    with pytest.raises(DemandError, match="not a joinedup demand model"):
        load_model(junk)
    np.savez(tmp_path / "obj.npz", meta=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DemandError):
        load_model(tmp_path / "obj.npz")
