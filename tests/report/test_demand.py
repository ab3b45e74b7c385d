"""The demand section's table of contacts by category and organisation."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from joinedup.report import compute, publish
from joinedup.report._publish import grid
from joinedup.report._stages import demand
from joinedup.workspace import Workspace

#: Contacts moved to the review label, keeping their demand type: both parts are under
#: the suppression threshold (10), their sum is not.
FAILURE, VALUE = 8, 7


def _review_of_two_types(pipeline_dir: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A copy of the pipeline workspace in which each organisation's needs_review category
    holds failure and value contacts (as the text model leaves it when the type is sure
    and the category is not)."""
    shutil.copytree(pipeline_dir, tmp_path / "ws")
    with Workspace(tmp_path / "ws", create=False) as ws:
        con = ws.engine.raw
        orgs = [
            o for (o,) in con.execute("SELECT DISTINCT org FROM events ORDER BY org").fetchall()
        ]
        for org, (kind, n) in itertools.product(orgs, (("failure", FAILURE), ("value", VALUE))):
            con.execute(
                "UPDATE demand SET category = 'needs_review' WHERE event_id IN ("
                "SELECT d.event_id FROM demand d JOIN events e USING (event_id) "
                "WHERE e.org = ? AND d.demand_type = ? AND d.category <> 'needs_review' "
                "ORDER BY d.event_id LIMIT ?)",
                [org, kind, n],
            )
    return tmp_path / "ws", orgs


def _truth(ws: Workspace) -> tuple[dict[str, dict[str, int]], dict[str, set[str]]]:
    """Contacts by category and organisation, and each category's demand types, counted
    straight from the tables."""
    rows = ws.engine.raw.execute(
        "SELECT coalesce(d.category, 'unclassified'), e.org, "
        "coalesce(d.demand_type, 'unclassified'), count(*) "
        "FROM demand d JOIN events e USING (event_id) GROUP BY ALL"
    ).fetchall()
    cells: dict[str, dict[str, int]] = {}
    kinds: dict[str, set[str]] = {}
    for cat, org, kind, n in rows:
        cells.setdefault(cat, {})[org] = cells.get(cat, {}).get(org, 0) + n
        kinds.setdefault(cat, set()).add(kind)
    return cells, kinds


def test_a_category_of_several_demand_types_counts_all_its_contacts(
    pipeline_dir: Path, tmp_path: Path
) -> None:
    root, orgs = _review_of_two_types(pipeline_dir, tmp_path)
    with Workspace(root, create=False) as ws:
        cells, kinds = _truth(ws)
        fig = compute(ws)
        raw = demand(ws, fig, publish(fig, enabled=False))
        pub = publish(fig)
        controlled = demand(ws, fig, pub)
    assert kinds["needs_review"] >= {"failure", "value"}
    assert all(cells["needs_review"][o] >= FAILURE + VALUE for o in orgs)
    assert raw is not None and controlled is not None
    # Unprotected (a secure setting): every cell is the category's whole count there.
    shown = {
        c: {o: n for o, n in v.items() if o != "Total"}
        for c, v in raw.context["by_category"].items()
        if c != "Total"
    }
    assert shown == cells
    # Protected: disclosure control applied to those sums, not to the parts by type.
    expected, _ = grid(cells, pub.rules, True)
    assert controlled.context["by_category"] == expected
    # A sum (15) is published where neither part by type (8, 7) could be; other
    # organisations' cells may still be withheld as partners of small cells elsewhere.
    review = controlled.context["by_category"]["needs_review"]
    assert any(review[o] == cells["needs_review"][o] for o in orgs), review
    # The type column names a category's type only when all its contacts share it.
    assert raw.context["types"] == {
        c: next(iter(k)) if len(k) == 1 else "mixed" for c, k in kinds.items()
    }
    assert raw.context["types"]["needs_review"] == "mixed"
