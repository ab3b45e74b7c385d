"""Gain-share deal: shares sum to the net gain, transfers balance, the sheet is written."""

from __future__ import annotations

import pytest

from joinedup import value
from joinedup.value import FixError
from joinedup.value._gainshare import build_deal
from joinedup.workspace import Workspace

FIX = "org=benefits,cause=late_payment,reduce=0.8"


@pytest.mark.parametrize("rule", ["shapley", "pro-rata"])
def test_deal_balances(cause_ws: Workspace, rule: str) -> None:
    res = value.what_if(cause_ws, FIX, replicates=100)
    cost = 0.3 * res.total_saving_gbp
    deal = build_deal(res, rule=rule, fix_cost=cost)
    assert deal.viable
    shares = {s.org: s for s in deal.shares}
    assert {"benefits", "council"} <= set(shares)
    assert sum(s.share_gbp for s in deal.shares) == pytest.approx(deal.net_gain_gbp)
    assert sum(s.transfer_gbp for s in deal.shares) == pytest.approx(0.0, abs=1e-6)
    assert shares["benefits"].invests_gbp == cost
    for s in deal.shares:
        assert s.net_before_gbp + s.transfer_gbp == pytest.approx(s.share_gbp)
        assert s.share_gbp >= -1e-9, "nobody is left worse off than without the deal"
    # The saving is scaled from the observed period to one year.
    scale = 365.25 / deal.period_days
    assert sum(s.saving_gbp for s in deal.shares) == pytest.approx(res.total_saving_gbp * scale)


def test_shapley_and_pro_rata_differ_and_the_beneficiary_pays_the_fixer(
    cause_ws: Workspace,
) -> None:
    res = value.what_if(cause_ws, FIX, replicates=0)
    cost = 0.2 * res.total_saving_gbp
    sh = {s.org: s for s in build_deal(res, rule="shapley", fix_cost=cost).shares}
    pr = {s.org: s for s in build_deal(res, rule="pro-rata", fix_cost=cost).shares}
    assert sh["council"].transfer_gbp < 0 < sh["benefits"].transfer_gbp
    assert sh["council"].share_gbp != pytest.approx(pr["council"].share_gbp)


def test_unviable_fix_proposes_no_transfer(cause_ws: Workspace) -> None:
    res = value.what_if(cause_ws, FIX, replicates=0)
    deal = build_deal(res, fix_cost=1e9)
    assert not deal.viable
    assert all(s.transfer_gbp == 0 for s in deal.shares)
    assert all(s.share_gbp == 0 for s in deal.shares)


def test_deal_sheet_written_in_markdown_and_html(cause_ws: Workspace) -> None:
    deal = value.gainshare(cause_ws, FIX + ",cost=100", replicates=50)
    assert deal.markdown is not None and deal.html is not None
    md = deal.markdown.read_text(encoding="utf-8")
    page = deal.html.read_text(encoding="utf-8")
    assert "# Deal sheet: benefits fixes late_payment" in md
    assert "**Who invests:** benefits, £100" in md
    assert "Proposed transfer:" in md and "council pays" in md
    assert deal.unit_costs in md and "unit_costs_uk.yaml" in md
    assert page.startswith("<!doctype html>") and "<table>" in page
    assert "<strong>Who invests:</strong> benefits, £100" in page
    assert deal.unit_costs in page


def test_bad_rule_and_horizon(cause_ws: Workspace) -> None:
    res = value.what_if(cause_ws, FIX, replicates=0)
    with pytest.raises(FixError, match="unknown gain-share rule"):
        build_deal(res, rule="nash")
    with pytest.raises(FixError, match="horizon must be positive"):
        build_deal(res, years=0)
