"""The report's sections. Each builder returns a section, or None when the stage behind
it has not run, so the report never shows a figure the workspace cannot support.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from joinedup.report import _charts
from joinedup.report._charts import Chart
from joinedup.report._figures import Figures
from joinedup.workspace import Workspace


@dataclass
class Section:
    """One section of the report: a template under ``sections/`` and what it shows."""

    id: str
    title: str
    context: dict[str, Any] = field(default_factory=dict)
    charts: list[Chart] = field(default_factory=list)

    @property
    def template(self) -> str:
        return f"sections/{self.id}.html.j2"


Builder = Callable[[Workspace, Figures], Section | None]


def headline(ws: Workspace, fig: Figures) -> Section | None:
    return Section("headline", "Headline")


def contacts(ws: Workspace, fig: Figures) -> Section | None:
    if not fig.contacts:
        return None
    rows = [
        {"organisation": org, "channel": ch.replace("_", " "), "contacts": n}
        for org, chans in sorted(fig.contacts_by_org_channel.items())
        for ch, n in sorted(chans.items())
    ]
    charts = [
        _charts.stacked_bars(
            rows,
            category="organisation",
            stack="channel",
            value="contacts",
            title="Contacts from citizens at each organisation, by channel",
            value_title="contacts from citizens",
        )
    ]
    monthly = [
        {"month": month, "organisation": org, "contacts": n}
        for org, months in sorted(fig.contacts_by_month.items())
        for month, n in sorted(months.items())
    ]
    if monthly:
        charts.append(
            _charts.lines(
                monthly,
                x="month",
                series="organisation",
                value="contacts",
                title="Contacts from citizens per calendar month, by organisation",
                value_title="contacts",
            )
        )
    channels = sorted({c for v in fig.contacts_by_org_channel.values() for c in v})
    return Section(
        "contacts", "Contacts by organisation and channel", {"channels": channels}, charts
    )


def data(ws: Workspace, fig: Figures) -> Section | None:
    return Section("data", "Data")


def provenance(ws: Workspace, fig: Figures) -> Section | None:
    return Section("provenance", "Method and provenance", {"runs": ws.runs()})


#: The sections in reading order.
SECTIONS: list[Builder] = [headline, contacts, data, provenance]
