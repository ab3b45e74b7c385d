"""The demand taxonomy: the default one from :mod:`joinedup.model`, optionally extended.

An organisation extends it with a YAML file listing new categories::

    categories:
      - code: appeal_delay
        demand_type: failure
        meaning: chasing an appeal that is late

Existing codes may not be redefined with another demand type: a category means the
same thing in every organisation's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from joinedup.demand._errors import DemandError
from joinedup.model import TAXONOMY, Category, DemandType

#: The label given when neither the rules nor the model can decide with enough confidence.
NEEDS_REVIEW = "needs_review"


@dataclass(frozen=True)
class Taxonomy:
    """Categories, each with its demand type."""

    categories: tuple[Category, ...]

    def type_of(self, code: str) -> str:
        """``value`` or ``failure`` for a category, ``needs_review`` for the review label."""
        for c in self.categories:
            if c.code == code:
                return c.demand_type.value
        if code == NEEDS_REVIEW:
            return NEEDS_REVIEW
        raise DemandError(
            f"unknown demand category {code!r}: expected one of {', '.join(self.codes)} "
            "(extend the taxonomy with --taxonomy FILE.yaml)"
        )

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.categories)

    def failure_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.categories if c.demand_type is DemandType.FAILURE)


DEFAULT_TAXONOMY = Taxonomy(TAXONOMY)


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """The default taxonomy, extended by the categories in a YAML file if one is given."""
    if path is None:
        return DEFAULT_TAXONOMY
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DemandError(f"cannot read taxonomy file {p}: {exc}") from None
    items = doc.get("categories") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise DemandError(f"{p}: expected a top-level 'categories:' list")
    cats = list(TAXONOMY)
    known = {c.code: c for c in cats}
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or "code" not in item or "demand_type" not in item:
            raise DemandError(f"{p}: category {n} needs 'code' and 'demand_type'")
        code, dtype = str(item["code"]).strip(), str(item["demand_type"]).strip()
        if dtype not in ("value", "failure"):
            raise DemandError(
                f"{p}: category {code!r} has demand_type {dtype!r}; expected value or failure"
            )
        if code == NEEDS_REVIEW or not code:
            raise DemandError(f"{p}: {code!r} is reserved")
        if code in known:
            if known[code].demand_type.value != dtype:
                raise DemandError(
                    f"{p}: {code!r} is already a {known[code].demand_type.value} category"
                )
            continue
        cat = Category(code, DemandType(dtype), str(item.get("meaning", "")))
        cats.append(cat)
        known[code] = cat
    return Taxonomy(tuple(cats))
