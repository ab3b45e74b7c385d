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
from joinedup.report._publish import Published
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


Builder = Callable[[Workspace, Figures, Published], Section | None]


def headline(ws: Workspace, fig: Figures, pub: Published) -> Section:
    """The headline cards, each with its month-on-month trend; built after the other
    sections, whose published figures it reads."""
    from joinedup.report import _trends

    series = _trends.trends(ws, fig, pub)
    picture = _trends.chart(series)
    return Section(
        "headline",
        "Headline",
        {
            "stages_run": bool(pub.extra),
            "trends": {t.key: t.sentence() for t in series},
            "series": series,
        },
        [picture] if picture else [],
    )


def contacts(ws: Workspace, fig: Figures, pub: Published) -> Section | None:
    if not fig.contacts:
        return None
    # Charts are drawn from the published (disclosure-controlled) figures: a withheld
    # value is left out of the picture and shown as a marker in the tables.
    rows = [
        {"organisation": org, "channel": ch.replace("_", " "), "contacts": n}
        for org, chans in sorted(pub.contacts_by_org_channel.items())
        for ch, n in sorted(chans.items())
        if n is not None
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
        for org, months in sorted(pub.contacts_by_month.items())
        for month, n in sorted(months.items())
        if n is not None
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
    channels = sorted(pub.contacts_by_channel)
    return Section(
        "contacts", "Contacts by organisation and channel", {"channels": channels}, charts
    )


def _stage_sections() -> list[Builder]:
    from joinedup.report import _data, _fairness, _journeys, _stages

    return [
        _stages.demand,
        _journeys.journeys,
        _stages.money,
        _fairness.fairness,
        _data.data,
        _data.provenance,
    ]


#: The sections in reading order. The headline is built last (its cards are read from
#: the other sections) but shown first.
SECTIONS: list[Builder] = [contacts, *_stage_sections()]
