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
