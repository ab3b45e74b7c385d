"""Unit costs: the cost of one contact by organisation and channel, read from YAML.

joinedup ships defaults (``unit_costs_uk.yaml``, sources in docs/methods/costs.md). A
user's file is laid over them: an entry for the same organisation and channel replaces
the default, anything else is added. A file with ``defaults: false`` stands alone.

Money is carried as whole ten-thousandths of a pound (:data:`UNITS_PER_GBP`) so that sums
over millions of contacts are exact and the ledger reconciles to the penny.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from joinedup.model import UNIT_COSTS
from joinedup.value._errors import CostError

#: The shipped defaults, inside the package.
DEFAULT_FILE = Path(__file__).with_name("unit_costs_uk.yaml")
#: Money is summed in whole units of 1/10,000 of a pound.
UNITS_PER_GBP = 10_000
#: Matches any organisation or any channel.
ANY = "*"


class UnitCost(BaseModel):
    """The cost of one contact with one organisation (or any, ``*``) by one channel."""

    model_config = ConfigDict(extra="forbid")

    org: str = ANY
    channel: str
    cost_gbp: float = Field(ge=0)
    source: str | None = None
    year: int | None = None


class UnitCostFile(BaseModel):
    """A unit-cost YAML file."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    currency: str = "GBP"
    defaults: bool = True
    costs: list[UnitCost]


@dataclass(frozen=True)
class UnitCosts:
    """The unit costs in force, and a label naming the file(s) they came from."""

    entries: tuple[UnitCost, ...]
    label: str

    def lookup(self, org: str, channel: str | None) -> UnitCost | None:
        """The most specific entry for a contact: org and channel, then any org, then
        any channel, then any of both."""
        table = {(e.org, e.channel): e for e in self.entries}
        ch = channel if channel is not None else ANY
        for key in ((org, ch), (ANY, ch), (org, ANY), (ANY, ANY)):
            if key in table:
                return table[key]
        return None

    def to_arrow(self) -> pa.Table:
        """The entries as rows of the standard ``unit_costs`` table."""
        return pa.table(
            {
                "org": [e.org for e in self.entries],
                "channel": [e.channel for e in self.entries],
                "cost_gbp": [e.cost_gbp for e in self.entries],
                "source": [e.source for e in self.entries],
                "year": [e.year for e in self.entries],
            },
            schema=UNIT_COSTS,
        )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _read(path: Path) -> UnitCostFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CostError(f"unit-cost file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise CostError(f"unit-cost file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise CostError(f"unit-cost file {path}: expected a mapping with a 'costs' list")
    try:
        parsed = UnitCostFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CostError(f"unit-cost file {path}: {where}: {first['msg']}") from None
    if parsed.currency != "GBP":
        raise CostError(f"unit-cost file {path}: currency {parsed.currency!r}; only GBP is used")
    seen: set[tuple[str, str]] = set()
    for i, e in enumerate(parsed.costs):
        key = (e.org, e.channel)
        if key in seen:
            raise CostError(
                f"unit-cost file {path}: costs[{i}] repeats org={e.org} channel={e.channel}"
            )
        seen.add(key)
    return parsed


def load_unit_costs(path: Path | str | None = None) -> UnitCosts:
    """Read unit costs: the shipped defaults, with ``path`` (if given) laid over them."""
    base = _read(DEFAULT_FILE)
    default_label = f"joinedup default {DEFAULT_FILE.name} (sha256 {_digest(DEFAULT_FILE)})"
    if path is None:
        return UnitCosts(tuple(base.costs), default_label)
    p = Path(path)
    own = _read(p)
    label = f"{p.name} (sha256 {_digest(p)})"
    if not own.defaults:
        return UnitCosts(tuple(own.costs), label)
    merged = {(e.org, e.channel): e for e in base.costs}
    merged.update({(e.org, e.channel): e for e in own.costs})
    return UnitCosts(tuple(merged.values()), f"{label} over {default_label}")


def units(cost_gbp: float) -> int:
    """A cost in pounds as whole ten-thousandths of a pound."""
    return round(cost_gbp * UNITS_PER_GBP)
