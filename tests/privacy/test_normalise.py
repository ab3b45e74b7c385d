"""Normalisation: the same person's values written differently become the same."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joinedup.privacy import _normalise as norm


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("  Zoë  O'Brien-Smith ", "zoe obrien smith"),
        ("ŁUKASZ", "lukasz"),
        ("Siân", "sian"),
        ("JOHN,  PAUL", "john paul"),
        (None, ""),
    ],
)
def test_text_folds_case_accents_punctuation_and_spacing(raw: str | None, want: str) -> None:
    assert norm.text(raw) == want


def test_titles_are_dropped_from_names_but_not_a_name_alone() -> None:
    assert norm.name("Mrs Margaret Thatcher") == "margaret thatcher"
    assert norm.name("Miss") == "miss"


def test_double_barrelled_surnames_split_into_parts() -> None:
    assert norm.name_parts("Bowes-Lyon") == ["bowes", "lyon"]
    assert norm.name_parts("bowes lyon") == ["bowes", "lyon"]


@pytest.mark.parametrize(("a", "b"), [("William", "Bill"), ("Margaret", "Peggy"), ("Bill", "Will")])
def test_nicknames_share_an_alias_with_their_formal_name(a: str, b: str) -> None:
    assert set(norm.aliases(norm.name(a))) & set(norm.aliases(norm.name(b)))


def test_unrelated_forenames_share_no_alias() -> None:
    assert not set(norm.aliases("william")) & set(norm.aliases("margaret"))


@pytest.mark.parametrize("raw", ["sw1a1aa", "SW1A 1AA", " sw1a  1aa", "SW1A-1AA"])
def test_postcodes_are_formatted_canonically_with_their_outward_code(raw: str) -> None:
    assert norm.postcode(raw) == ("SW1A 1AA", "SW1A")


def test_a_value_that_is_not_a_postcode_is_kept_compactly() -> None:
    assert norm.postcode("n/a x") == ("NAX", "NAX")
    assert norm.postcode("  ") is None


@pytest.mark.parametrize(
    ("values", "layout"),
    [
        (["31/12/1980", "01/02/1999"], "dd/mm/yyyy"),
        (["1980-12-31"], "yyyy-mm-dd"),
        (["19801231", "19990201"], "yyyymmdd"),
        (["12/31/1980"], None),  # American order is not guessed at
    ],
)
def test_date_layout_is_detected_for_a_whole_column(values: list[str], layout: str | None) -> None:
    assert norm.detect_date_layout(values) == layout


def test_day_and_month_swap_only_where_it_makes_another_date() -> None:
    assert norm.swapped(date(1980, 3, 7)) == date(1980, 7, 3)
    assert norm.swapped(date(1980, 3, 13)) is None
    assert norm.swapped(date(1980, 4, 4)) is None


def test_sex_and_identifiers() -> None:
    assert [norm.sex(v) for v in ("female", "M", " male ", "x")] == ["F", "M", "M", "x"]
    assert norm.identifier("ab 12 34 56 c") == "AB123456C"


# Text of the characters names, addresses and identifiers are written in, titles and
# separators made likely, so that the rules' corners (a title alone, runs of spaces,
# apostrophes, postcode shapes) come up often.
_WORDS = st.sampled_from(["mr", "MRS", "Dr", "lord", "o'", "`", "-", "  ", "\t", ",", "."])
_ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=12)
_PIECES = st.lists(st.one_of(_WORDS, _ASCII, st.sampled_from(["SW1A 1AA", "m11ae", "ec1a-1bb"])))
_VALUES = _PIECES.map(lambda parts: " ".join(parts))


@settings(max_examples=300, deadline=None)
@given(st.lists(_VALUES, min_size=1, max_size=20))
def test_the_arrow_rules_match_the_python_rules_on_ascii(values: list[str]) -> None:
    arr = pa.array(values, pa.string())
    assert norm.text_ascii(arr).to_pylist() == [norm.text(v) for v in values]
    assert norm.name_ascii(arr).to_pylist() == [norm.name(v) for v in values]
    assert norm.identifier_ascii(arr).to_pylist() == [norm.identifier(v) for v in values]
    assert norm.postcode_ascii(arr) == [norm.postcode(v) for v in values]


def test_the_arrow_rules_on_known_values() -> None:
    arr = pa.array(["Mr Dr  O'Brien-Smith ", "mr", "sw1a1aa", "not a postcode", "  "])
    assert norm.name_ascii(arr).to_pylist() == [
        "obrien smith",
        "mr",
        "sw1a1aa",
        "not a postcode",
        "",
    ]
    assert norm.postcode_ascii(arr)[2:] == [("SW1A 1AA", "SW1A"), ("NOTAPOSTCODE",) * 2, None]
