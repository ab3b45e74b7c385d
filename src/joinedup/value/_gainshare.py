"""Gain-share: how a fix's saving could be shared when the payer is not the saver.

The game. The organisation whose failure it is (the fixer) pays for the fix; the saving
lands wherever the failure demand landed. A coalition S of organisations can do the fix
only if the fixer is in it, and will only do it if its members' savings cover the cost:

    v(S) = max(0, sum of savings of S - cost of the fix)   if the fixer is in S
    v(S) = 0                                               otherwise

The Shapley value of this game splits v(N), the net gain, so that each organisation gets
its average marginal contribution; pro-rata splits it in proportion to each
organisation's gross saving. Either way, the transfer is what moves each organisation
from where the fix leaves it (its own saving, less the cost for the fixer) to its share.

Savings are scaled from the period the data cover to a year, then to the horizon of the
deal (``years``); the fix's declared cost is a one-off over that horizon.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from joinedup.governance import MARKER, AuditLog, OutputRules
from joinedup.value._errors import FixError
from joinedup.value._published import merge_notes, shown
from joinedup.value._shapley import EXACT_LIMIT, Game, pro_rata, shapley
from joinedup.value._whatif import Fix, WhatIf, what_if
from joinedup.workspace import Workspace

RULES = ("shapley", "pro-rata")
_DAYS_PER_YEAR = 365.25


def fix_game(savings: dict[str, float], fixer: str, cost: float) -> Game:
    """The characteristic function of a fix (see the module docstring)."""

    def v(coalition: frozenset[str]) -> float:
        if fixer not in coalition:
            return 0.0
        return max(0.0, sum(savings.get(o, 0.0) for o in coalition) - cost)

    return v


@dataclass(frozen=True)
class Share:
    """One organisation's line of the deal."""

    org: str
    saving_gbp: float  # gross saving over the horizon
    saving_low_gbp: float
    saving_high_gbp: float
    invests_gbp: float
    net_before_gbp: float  # saving less investment, before any transfer
    share_gbp: float  # the proposed share of the net gain
    transfer_gbp: float  # positive: receives; negative: pays


@dataclass(frozen=True)
class Deal:
    """A proposed gain-share deal and where its sheet was written."""

    fix: Fix
    rule: str
    exact: bool
    years: float
    period_days: float
    unit_costs: str
    net_gain_gbp: float
    viable: bool
    shares: tuple[Share, ...]
    markdown: Path | None
    html: Path | None
    #: The deal as the sheet shows it (under disclosure control), once written.
    published: PublishedDeal | None = None


def _allocate(
    savings: dict[str, float], fixer: str, cost: float, rule: str, seed: int
) -> tuple[dict[str, float], bool]:
    players = sorted(set(savings) | {fixer})
    game = fix_game(savings, fixer, cost)
    total = game(frozenset(players))
    if rule == "shapley":
        return shapley(players, game, seed=seed), len(players) <= EXACT_LIMIT
    return pro_rata({p: savings.get(p, 0.0) for p in players}, total), True


def build_deal(
    result: WhatIf,
    *,
    rule: str = "shapley",
    fix_cost: float | None = None,
    years: float = 1.0,
    seed: int = 0,
) -> Deal:
    """Share a what-if's saving between the organisations involved."""
    if rule not in RULES:
        raise FixError(f"unknown gain-share rule {rule!r}: expected {' or '.join(RULES)}")
    if years <= 0:
        raise FixError(f"the deal's horizon must be positive, got {years} years")
    f = result.fix
    cost = f.cost_gbp if fix_cost is None else fix_cost
    if cost < 0:
        raise FixError("the fix's cost must not be negative")
    if result.period_start is None or result.period_end is None:
        raise FixError("no contacts: cannot tell what period the savings cover")
    days = max((result.period_end - result.period_start).total_seconds() / 86_400, 1.0)
    scale = _DAYS_PER_YEAR / days * years
    involved = [o for o in result.orgs if o.attributed_contacts > 0 or o.org == f.org]
    savings = {o.org: o.saving_gbp * scale for o in involved}
    savings.setdefault(f.org, 0.0)
    alloc, exact = _allocate(savings, f.org, cost, rule, seed)
    net_gain = sum(savings.values()) - cost
    viable = net_gain > 0
    by_org = {o.org: o for o in involved}
    shares = []
    for org in sorted(alloc):
        invests = cost if org == f.org else 0.0
        before = savings.get(org, 0.0) - invests
        share = alloc[org]
        o = by_org.get(org)
        shares.append(
            Share(
                org=org,
                saving_gbp=savings.get(org, 0.0),
                saving_low_gbp=(o.saving_low_gbp * scale) if o else 0.0,
                saving_high_gbp=(o.saving_high_gbp * scale) if o else 0.0,
                invests_gbp=invests,
                net_before_gbp=before,
                share_gbp=share,
                transfer_gbp=(share - before) if viable else 0.0,
            )
        )
    return Deal(
        fix=f,
        rule=rule,
        exact=exact,
        years=years,
        period_days=days,
        unit_costs=result.unit_costs,
        net_gain_gbp=net_gain,
        viable=viable,
        shares=tuple(shares),
        markdown=None,
        html=None,
    )


def _gbp(x: float | None) -> str:
    if x is None:
        return MARKER
    sign = "−" if x < -0.005 else ""
    return f"{sign}£{abs(x):,.0f}"


@dataclass(frozen=True)
class PublishedShare:
    """One organisation's line of the deal as it may be shown: None where withheld."""

    org: str
    saving_gbp: float | None
    saving_low_gbp: float | None
    saving_high_gbp: float | None
    invests_gbp: float  # the fixer's declared cost: an input, not a figure from contacts
    net_before_gbp: float | None
    share_gbp: float | None
    transfer_gbp: float | None


@dataclass(frozen=True)
class PublishedDeal:
    """A deal as it may be shown, with the footnotes that go with it.

    An organisation's saving is withheld when the contacts it rests on are (fewer than
    the threshold, or enough to work out a withheld one from the total), and with it
    everything worked out from it: its net position, share and transfer. When the total
    is withheld, so are the net gain and every share and transfer, since they add up
    to it."""

    shares: tuple[PublishedShare, ...]
    net_gain_gbp: float | None
    contacts_at_fixer: int | None
    knock_on_contacts: int | None
    notes: tuple[str, ...]


def publish_deal(deal: Deal, result: WhatIf, rules: OutputRules | None = None) -> PublishedDeal:
    """The deal under disclosure control (see :class:`PublishedDeal`)."""
    rules = rules or OutputRules()
    pw = result.published(rules, orgs=[s.org for s in deal.shares])
    shown = {o.org for o in pw.orgs if o.attributed_contacts is not None}
    whole = pw.total.attributed_contacts is not None
    shares = []
    for s in deal.shares:
        own = s.org in shown
        shares.append(
            PublishedShare(
                org=s.org,
                saving_gbp=s.saving_gbp if own else None,
                saving_low_gbp=s.saving_low_gbp if own else None,
                saving_high_gbp=s.saving_high_gbp if own else None,
                invests_gbp=s.invests_gbp,
                net_before_gbp=s.net_before_gbp if own else None,
                share_gbp=s.share_gbp if own and whole else None,
                transfer_gbp=s.transfer_gbp if own and whole else None,
            )
        )
    notes = list(pw.notes)
    if len(shown) < len(deal.shares) or not whole:
        notes.append(
            f"{MARKER}: a saving resting on fewer than {rules.threshold} contacts is withheld, "
            "with every figure it could be worked out from (the organisation's net position, "
            "share and transfer; the net gain and all shares when the total is withheld)."
        )
    return PublishedDeal(
        shares=tuple(shares),
        net_gain_gbp=deal.net_gain_gbp if whole else None,
        contacts_at_fixer=pw.contacts_at_fixer,
        knock_on_contacts=pw.knock_on_contacts,
        notes=tuple(notes),
    )


def _what_each_does(deal: PublishedDeal) -> list[str] | None:
    lines = []
    for s in deal.shares:
        if s.transfer_gbp is None:
            return None
        if s.transfer_gbp > 0.5:
            lines.append(f"{s.org} receives {_gbp(s.transfer_gbp)}")
        elif s.transfer_gbp < -0.5:
            lines.append(f"{s.org} pays {_gbp(-s.transfer_gbp)}")
    return lines


def _interval(s: PublishedShare) -> str:
    if s.saving_low_gbp is None or s.saving_high_gbp is None:
        return MARKER
    return f"{_gbp(s.saving_low_gbp)} – {_gbp(s.saving_high_gbp)}"


def render_markdown(
    deal: Deal,
    result: WhatIf,
    rules: OutputRules | None = None,
    *,
    published: PublishedDeal | None = None,
) -> str:
    """The one-page deal sheet in Markdown, under disclosure control (``rules``: the
    standard output rules, or an agreement's; or the deal as already published)."""
    pub = published or publish_deal(deal, result, rules)
    f = deal.fix
    rule = (
        "Shapley value" + ("" if deal.exact else " (estimated from sampled orders)")
        if deal.rule == "shapley"
        else "pro-rata to gross saving"
    )
    horizon = f"{deal.years:g} year" + ("s" if deal.years != 1 else "")
    lines = [
        f"# Deal sheet: {f.org} fixes {f.cause}",
        "",
        f"**The fix.** {f.org} reduces failure demand it causes through *{f.cause}* by "
        f"{f.reduce:.0%}, at a declared cost of {_gbp(_invest(deal))}. "
        f"It affects {shown(pub.contacts_at_fixer)} contacts at {f.org} and "
        f"{shown(pub.knock_on_contacts)} knock-on contacts at other organisations.",
        "",
        f"**Who invests:** {f.org}, {_gbp(_invest(deal))}.  ",
        "**Who saves:** "
        + ", ".join(
            f"{s.org} {_gbp(s.saving_gbp)}"
            for s in pub.shares
            if s.saving_gbp is None or s.saving_gbp > 0.5
        )
        + f" over {horizon}.  ",
        f"**Net gain:** {_gbp(pub.net_gain_gbp)}; split by {rule}.",
        "",
        "| organisation | saves | interval | invests | net before transfer | share | transfer |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in pub.shares:
        lines.append(
            f"| {s.org} | {_gbp(s.saving_gbp)} | {_interval(s)} | "
            f"{_gbp(s.invests_gbp)} | {_gbp(s.net_before_gbp)} | "
            f"{_gbp(s.share_gbp)} | {_gbp(s.transfer_gbp)} |"
        )
    lines.append("")
    if deal.viable:
        moves = _what_each_does(pub)
        lines.append(
            "**Proposed transfer:** "
            + (MARKER if moves is None else "; ".join(moves) if moves else "none")
            + "."
        )
    else:
        lines.append(
            "**No deal proposed:** the savings do not cover the cost of the fix over "
            f"{horizon}, so no transfer can leave every organisation better off."
        )
    start = result.period_start.date().isoformat() if result.period_start else "?"
    end = result.period_end.date().isoformat() if result.period_end else "?"
    lines += ["", *(f"{n}  " for n in merge_notes(pub.notes))] if pub.notes else []
    lines += [
        "",
        "---",
        f"Savings observed over {start} to {end} ({deal.period_days:,.0f} days), scaled to "
        f"{horizon}. Interval: {result.level:.0%} bootstrap over incidents and "
        f"classification confidence ({result.replicates:,} replicates). "
        f"Unit costs: {deal.unit_costs}. Fix: `{f}`. "
        f"Made by joinedup on {datetime.now(UTC):%Y-%m-%d}.",
        "",
    ]
    return "\n".join(lines)


def _invest(deal: Deal) -> float:
    return sum(s.invests_gbp for s in deal.shares)


_HTML = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font-family:Arial,Helvetica,sans-serif;max-width:52rem;margin:2rem auto;color:#0b0c0c}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #b1b4b6;padding:.35rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}
.foot{font-size:.8rem;color:#505a5f;border-top:1px solid #b1b4b6;margin-top:1.5rem}
@media print{body{margin:0}}
</style></head><body>
{% for block in blocks %}{{ block }}
{% endfor %}</body></html>
"""
)


def render_html(markdown_text: str) -> str:
    """The deal sheet as a standalone HTML page (a small Markdown subset, rendered here)."""
    blocks: list[str] = []
    table: list[list[str]] = []

    def inline(text: str) -> str:
        out = html.escape(text)
        for mark, tag in (("**", "strong"), ("*", "em"), ("`", "code")):
            parts = out.split(mark)
            if len(parts) % 2 == 1:  # only balanced marks
                out = "".join(
                    p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(parts)
                )
        return out

    def flush() -> None:
        if table:
            head, body = table[0], table[2:]
            rows = "".join(
                "<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in body
            )
            blocks.append(
                "<table><thead><tr>"
                + "".join(f"<th>{inline(c)}</th>" for c in head)
                + f"</tr></thead><tbody>{rows}</tbody></table>"
            )
            table.clear()

    title = ""
    foot = False
    for line in markdown_text.splitlines():
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        flush()
        if line.startswith("# "):
            title = line[2:]
            blocks.append(f"<h1>{inline(title)}</h1>")
        elif line.strip() == "---":
            foot = True
        elif line.strip():
            cls = ' class="foot"' if foot else ""
            blocks.append(f"<p{cls}>{inline(line.rstrip())}</p>")
    flush()
    return _HTML.render(title=title, blocks=[Markup(b) for b in blocks])


def gainshare(
    ws: Workspace,
    fix: Fix | str,
    costs: Path | str | None = None,
    *,
    rule: str = "shapley",
    fix_cost: float | None = None,
    years: float = 1.0,
    out_dir: Path | None = None,
    replicates: int = 1000,
    seed: int = 0,
    rules: OutputRules | None = None,
    who: str | None = None,
) -> Deal:
    """Propose a gain-share for ``fix`` and write the deal sheet (Markdown and HTML) to
    ``out_dir`` (default WORKSPACE/value).

    The sheet is under disclosure control (``rules``: the standard output rules, or an
    agreement's): see :class:`PublishedDeal`. Writing it is recorded in the audit log,
    as ``who``; the returned deal holds the exact figures, for use inside the workspace.
    """
    result = what_if(ws, fix, costs, replicates=replicates, seed=seed)
    deal = build_deal(result, rule=rule, fix_cost=fix_cost, years=years, seed=seed)
    folder = out_dir or ws.path / "value"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"deal-{deal.fix.org}-{deal.fix.cause}-{deal.rule}".replace("/", "_")
    pub = publish_deal(deal, result, rules)
    md = render_markdown(deal, result, published=pub)
    md_path, html_path = folder / f"{stem}.md", folder / f"{stem}.html"
    md_path.write_text(md, encoding="utf-8")
    html_path.write_text(render_html(md), encoding="utf-8")
    log = AuditLog(ws.path)
    for path in (md_path, html_path):
        log.append(who, "export", {"output": str(path), "command": "value gainshare"})
    return Deal(**{**deal.__dict__, "markdown": md_path, "html": html_path, "published": pub})
