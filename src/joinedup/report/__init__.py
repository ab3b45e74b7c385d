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

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from joinedup._version import __version__
from joinedup.governance import MARKER, AuditLog, OutputRules
from joinedup.report._figures import Figures, Filters, compute
from joinedup.report._publish import Published, publish
from joinedup.report._sections import SECTIONS
from joinedup.report._sections import headline as headline_section
from joinedup.web._assets import asset
from joinedup.workspace import Workspace

__all__ = [
    "Figures",
    "Filters",
    "Published",
    "ReportResult",
    "build",
    "compute",
    "headline",
    "publish",
]


@dataclass
class ReportResult:
    """Where the report went and the figures it states."""

    path: Path
    figures: Figures
    published: Published


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("joinedup.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["pct"] = lambda x: f"{100 * x:.1f}%"
    env.filters["cell"] = _cell
    return env


def _cell(value: int | float | None) -> Markup:
    """A published value: the number, or the withheld marker with its meaning."""
    if value is None:
        withheld = '<abbr title="withheld by disclosure control" data-withheld>{}</abbr>'
        return Markup(withheld).format(MARKER)
    return Markup("{:,}").format(value)


def build(
    workspace: Workspace,
    out: Path | str,
    *,
    rules: OutputRules | None = None,
    disclosure_control: bool = True,
    who: str | None = None,
) -> ReportResult:
    """Write the report for ``workspace`` to ``out`` and return the figures it states.

    Every count passes disclosure control under ``rules`` (the defaults, or an
    agreement's). ``disclosure_control=False`` is for work inside a secure setting only:
    the report then says so on its face, and the audit log records who turned it off.
    Either way the audit log records the export.
    """
    out = Path(out)
    settings = {"out": str(out), "disclosure_control": disclosure_control}
    with workspace.run("report", settings=settings) as run:
        log = AuditLog(workspace.path)
        if not disclosure_control:
            log.append(who, "disclosure.off", {"output": str(out), "command": "report"})
        fig = compute(workspace)
        pub = publish(fig, rules=rules, enabled=disclosure_control)
        sections = [s for s in (make(workspace, fig, pub) for make in SECTIONS) if s]
        sections.insert(0, headline_section(workspace, fig, pub))
        html = (
            _env()
            .get_template("report.html.j2")
            .render(
                fig=fig,
                pub=pub,
                sections=sections,
                govuk_css=asset("govuk-frontend.min.css"),
                version=__version__,
                generated=datetime.now(UTC).strftime("%d %B %Y %H:%M UTC"),
                figures_json=json.dumps(pub.as_dict(), sort_keys=True, default=str).replace(
                    "</", "<\\/"
                ),
            )
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
        log.append(who, "export", {"output": str(out), "command": "report", **settings})
        run.outputs["report"] = str(out)
        run.outputs["sections"] = [s.id for s in sections]
    return ReportResult(out, fig, pub)


def headline(pub: Published) -> list[tuple[str, str]]:
    """The headline figures as (label, value) pairs for the command line, published
    through the same disclosure control as the report."""

    def show(v: int | None) -> str:
        return MARKER if v is None else f"{v:,}"

    rows: list[tuple[str, str]] = []
    # The later stages' figures, where they ran and their counts could be published.
    extra = pub.extra
    if extra.get("failure_share") is not None:
        rows.append(("Failure demand share", f"{100 * extra['failure_share']:.0f}%"))
    if extra.get("failure_cost") is not None:
        rows.append(("Cost of failure demand", f"£{extra['failure_cost']:,.0f}"))
    if extra.get("median_days") is not None:
        rows.append(
            ("Median days from first contact to end of need", f"{extra['median_days']:.1f}")
        )
    if extra.get("first_contact_share") is not None:
        rows.append(("Needs met at first contact", f"{100 * extra['first_contact_share']:.0f}%"))
    rows += [
        ("Organisations", str(len(pub.contacts_by_org))),
        ("Person records held", show(pub.person_records)),
        ("Contacts from citizens", show(pub.contacts)),
        ("Organisation actions", show(pub.actions)),
    ]
    for org, n in sorted(pub.contacts_by_org.items()):
        rows.append((f"  contacts at {org}", show(n)))
    if pub.quarantined:
        rows.append(("Rows quarantined", show(pub.quarantined)))
    return rows
