"""The report's money section: causes named, under disclosure control, without counts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from joinedup import report
from joinedup.workspace import Workspace


def _causes(html: str) -> list[str]:
    """The last column of the table of causes by causing and absorbing organisation."""
    table = html.split("Top causes of failure demand", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', table, re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)[-1] for r in rows if "<td" in r]


def test_causes_are_named_without_their_counts(pipeline_dir: Path, tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    shutil.copytree(pipeline_dir, ws_dir)
    with Workspace(ws_dir, create=False) as ws:
        controlled = report.build(ws, tmp_path / "report.html").path.read_text(encoding="utf-8")
        raw = report.build(ws, tmp_path / "raw.html", disclosure_control=False)
        plain = _causes(raw.path.read_text(encoding="utf-8"))
    assert "Main causes (each behind at least 10 contacts)" in controlled
    named = _causes(controlled)
    assert named, "no cell names a cause"
    # Root causes (late_payment, wrong_tax_code ...), never a count beside them.
    assert not any(re.search(r"\d", c) for c in named), named
    # With control off (a secure setting) the stored matrix's counts are shown.
    assert any(re.search(r"\d", c) for c in plain), plain
