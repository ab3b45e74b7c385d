"""Charts as inline SVG, drawn with matplotlib, in a palette readable in greyscale."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no screen needed
import matplotlib.pyplot as plt

# Colours from the GOV.UK Design System palette, which public-sector readers know.
PALETTE = ["#1d70b8", "#f47738", "#00703c", "#912b88", "#d4351c", "#505a5f", "#28a197"]
CHANNEL_ORDER = ["phone", "web", "webchat", "email", "letter", "face_to_face", "unknown"]


def _svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "joinedup", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _style(ax: plt.Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=9)


def channel_bars(by_org_channel: dict[str, dict[str, int]]) -> str:
    """Contacts per organisation, stacked by channel."""
    orgs = sorted(by_org_channel)
    channels = [c for c in CHANNEL_ORDER if any(c in v for v in by_org_channel.values())]
    channels += sorted({c for v in by_org_channel.values() for c in v} - set(channels))
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(orgs) + 1.2))
    left = [0] * len(orgs)
    for i, ch in enumerate(channels):
        vals = [by_org_channel[o].get(ch, 0) for o in orgs]
        ax.barh(orgs, vals, left=left, label=ch.replace("_", " "), color=PALETTE[i % len(PALETTE)])
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("contacts from citizens")
    ax.legend(
        ncols=min(len(channels), 4),
        fontsize=8,
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.35 if len(orgs) < 4 else -0.18),
    )
    _style(ax)
    return _svg(fig)


def monthly_lines(by_month: dict[str, dict[str, int]]) -> str:
    """Contacts per month, one line per organisation."""
    months = sorted({m for v in by_month.values() for m in v})
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    for i, org in enumerate(sorted(by_month)):
        ax.plot(
            months,
            [by_month[org].get(m, 0) for m in months],
            label=org,
            color=PALETTE[i % len(PALETTE)],
            linewidth=1.8,
        )
    step = max(1, len(months) // 9)
    ax.set_xticks(range(0, len(months), step), [months[i] for i in range(0, len(months), step)])
    ax.set_ylabel("contacts")
    ax.legend(fontsize=8, frameon=False, ncols=min(4, len(by_month)))
    _style(ax)
    return _svg(fig)
