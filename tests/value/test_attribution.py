"""Cause attribution against truth: measured, not assumed."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from joinedup import value
from joinedup.synth import SynthResult
from joinedup.workspace import Workspace


def _truth_path(synth: SynthResult) -> Path:
    return synth.root / "truth" / "events.parquet"


def test_truth_filled_demand_is_fully_accurate(
    value_ws: Workspace, small_synth: SynthResult
) -> None:
    res = value.attribution(value_ws, _truth_path(small_synth))
    assert res.failures > 100
    assert res.accuracy == 1.0 and res.precision == 1.0 and res.agreement == 1.0
    assert sum(o.failures for o in res.by_org) == res.failures


def test_wrong_causes_lower_the_accuracy_by_exactly_their_share(
    value_ws: Workspace, small_synth: SynthResult, truth: pa.Table
) -> None:
    demand = value_ws.read("demand")
    caused = demand.column("caused_by_org").to_pylist()
    failures = [i for i, c in enumerate(caused) if c is not None]
    flipped = failures[::10]  # every tenth failure blamed on the wrong organisation
    for i in flipped:
        caused[i] = "health" if caused[i] != "health" else "tax"
    # And one value contact given a cause it does not have.
    value_i = next(i for i, c in enumerate(caused) if c is None)
    caused[value_i] = "benefits"
    col = demand.schema.get_field_index("caused_by_org")
    value_ws.engine.write(
        "demand", demand.set_column(col, "caused_by_org", pa.array(caused)), mode="replace"
    )
    res = value.attribution(value_ws, _truth_path(small_synth))
    assert res.correct == len(failures) - len(flipped)
    assert res.accuracy == pytest.approx(1 - len(flipped) / len(failures))
    assert res.given == len(failures) + 1
    assert res.precision == pytest.approx((len(failures) - len(flipped)) / (len(failures) + 1))
    contacts = pc.sum(pc.equal(truth.column("direction"), "in")).as_py()
    assert res.agreement == pytest.approx(1 - (len(flipped) + 1) / contacts)


def test_unclassified_contacts_count_as_wrong(
    value_ws: Workspace, small_synth: SynthResult, truth: pa.Table
) -> None:
    value_ws.engine.delete("demand", "caused_by_org = 'tax'")
    by_tax = sum(
        1 for r in truth.to_pylist() if r["direction"] == "in" and r["caused_by_org"] == "tax"
    )
    res = value.attribution(value_ws, _truth_path(small_synth))
    assert by_tax > 0
    assert res.correct == res.failures - by_tax
    tax = {o.org: o for o in res.by_org}
    assert sum(o.failures - o.correct for o in tax.values()) == by_tax


def test_missing_truth_and_empty_demand_are_clear_errors(
    value_ws: Workspace, tmp_path: Path, small_synth: SynthResult
) -> None:
    with pytest.raises(value.ValueInputError, match="does not exist"):
        value.attribution(value_ws, tmp_path / "nope.parquet")
    value_ws.engine.delete("demand", "true")
    with pytest.raises(value.ValueInputError, match="run the demand stage"):
        value.attribution(value_ws, _truth_path(small_synth))
