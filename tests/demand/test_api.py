"""The demand package's public API is small and listed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from joinedup import demand
from joinedup.errors import JoinedupError


def test_all_names_exist_and_are_public() -> None:
    for name in demand.__all__:
        assert hasattr(demand, name), name
        assert not name.startswith("_")
    assert issubclass(demand.DemandError, JoinedupError)


def test_taxonomy_extension(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(
        "categories:\n"
        "  - {code: appeal_delay, demand_type: failure, meaning: late appeal}\n"
        "  - {code: chase, demand_type: failure}\n",
        encoding="utf-8",
    )
    tax = demand.load_taxonomy(f)
    assert tax.type_of("appeal_delay") == "failure"
    assert "appeal_delay" in tax.failure_codes()
    assert len(tax.codes) == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories:\n  - {code: chase, demand_type: value}\n", "already a failure"),
        ("categories:\n  - {code: x, demand_type: maybe}\n", "expected value or failure"),
        ("categories:\n  - {code: needs_review, demand_type: value}\n", "reserved"),
        ("nope: 1\n", "categories"),
        ("categories: [\n", "cannot read"),
    ],
)
def test_bad_taxonomy_files(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(demand.DemandError, match=message):
        demand.load_taxonomy(f)


def test_unknown_category_names_the_fix() -> None:
    with pytest.raises(demand.DemandError, match="--taxonomy"):
        demand.load_taxonomy().type_of("nonsense")
