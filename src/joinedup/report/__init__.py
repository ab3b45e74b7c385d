"""The report: one self-contained HTML file a service owner can read in five minutes.

Each section appears only when the stage behind it has run; nothing is shown that the
workspace's tables cannot support. The page uses the GOV.UK Design System's styles,
embedded with the charts (Vega-Lite, rendered to SVG), so the file opens offline with no
external requests and prints cleanly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from joinedup._version import __version__
from joinedup.report._figures import Figures, Filters, compute
from joinedup.report._sections import SECTIONS
from joinedup.web import asset
from joinedup.workspace import Workspace

__all__ = ["Figures", "Filters", "ReportResult", "build", "compute", "headline"]


@dataclass
class ReportResult:
    """Where the report went and the figures it states."""

    path: Path
    figures: Figures


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("joinedup.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["pct"] = lambda x: f"{100 * x:.1f}%"
    return env


def build(workspace: Workspace, out: Path | str) -> ReportResult:
    """Write the report for ``workspace`` to ``out`` and return the figures it states."""
    out = Path(out)
    with workspace.run("report", settings={"out": str(out)}) as run:
        fig = compute(workspace)
        sections = [s for s in (build_section(workspace, fig) for build_section in SECTIONS) if s]
        html = (
            _env()
            .get_template("report.html.j2")
            .render(
                fig=fig,
                sections=sections,
                stages_run=False,
                disclosure_controlled=False,
                govuk_css=asset("govuk-frontend.min.css"),
                version=__version__,
                generated=datetime.now(UTC).strftime("%d %B %Y %H:%M UTC"),
                figures_json=json.dumps(fig.as_dict(), sort_keys=True, default=str).replace(
                    "</", "<\\/"
                ),
            )
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
        run.outputs["report"] = str(out)
        run.outputs["sections"] = [s.id for s in sections]
    return ReportResult(out, fig)


def headline(fig: Figures) -> list[tuple[str, Any]]:
    """The headline figures as (label, value) pairs, for the command line."""
    rows: list[tuple[str, Any]] = [
        ("Organisations", len(fig.orgs)),
        ("Person records held", f"{fig.person_records:,}"),
        ("Contacts from citizens", f"{fig.contacts:,}"),
        ("Organisation actions", f"{fig.actions:,}"),
    ]
    for org in fig.orgs:
        rows.append((f"  contacts at {org}", f"{fig.contacts_by_org.get(org, 0):,}"))
    if fig.quarantined:
        rows.append(("Rows quarantined", f"{fig.quarantined:,}"))
    return rows
