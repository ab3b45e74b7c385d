"""The report's figures, with and without filters, against direct counts of the tables."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from joinedup.report import Filters, compute
from joinedup.workspace import Workspace


def _contacts(events, **where):  # type: ignore[no-untyped-def]
    mask = pc.or_kleene(pc.is_null(events["direction"]), pc.equal(events["direction"], "in"))
    for col, value in where.items():
        mask = pc.and_(mask, pc.equal(events[col], value))
    return int(pc.sum(pc.cast(mask, "int64")).as_py() or 0)


def test_unfiltered_figures_match_the_tables(loaded_workspace_dir: Path) -> None:
    with Workspace(loaded_workspace_dir, create=False) as ws:
        events = ws.read("events")
        fig = compute(ws)
        assert fig.contacts == _contacts(events)
        assert fig.contacts + fig.actions == events.num_rows
        for org in fig.orgs:
            assert fig.contacts_by_org[org] == _contacts(events, org=org)


def test_filter_by_organisation_and_channel(loaded_workspace_dir: Path) -> None:
    with Workspace(loaded_workspace_dir, create=False) as ws:
        events = ws.read("events")
        fig = compute(ws, Filters(orgs=("council",), channels=("phone",)))
        assert fig.orgs == ["council"]
        assert fig.contacts == _contacts(events, org="council", channel="phone") > 0
        assert fig.contacts_by_org_channel == {"council": {"phone": fig.contacts}}


def test_filter_by_period_is_inclusive_and_narrows(loaded_workspace_dir: Path) -> None:
    with Workspace(loaded_workspace_dir, create=False) as ws:
        whole = compute(ws)
        assert whole.period is not None
        first = date.fromisoformat(whole.period[0])
        one_day = compute(ws, Filters(start=first, end=first))
        assert one_day.period == (whole.period[0], whole.period[0])
        assert 0 < one_day.contacts + one_day.actions < whole.contacts + whole.actions


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": ("ph\x00one",)}, "without NUL characters"),
        ({"orgs": ("council", "\x00")}, "filter orgs"),
        ({"services": "benefits"}, "a tuple of names"),
        ({"start": date(2024, 2, 1), "end": date(2024, 1, 1)}, "swap the dates"),
    ],
)
def test_a_filter_that_cannot_be_a_query_is_refused_with_a_reason(
    kwargs: dict[str, Any], message: str
) -> None:
    # A NUL once reached the SQL from the web service's filters and failed in the engine.
    with pytest.raises(ValueError, match=message):
        Filters(**kwargs)
