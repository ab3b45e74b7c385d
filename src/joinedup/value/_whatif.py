"""What-if: re-price the contacts with one cause of failure demand reduced.

A fix names the organisation whose failure it is, the cause, and the share of the
failure it removes: ``org=benefits,cause=late_payment,reduce=0.8``. The contacts it
removes are

- the *attributed* contacts: failure demand caused by that organisation with that cause
  (the demand table's optional ``cause`` column where filled, else its category), at any
  organisation; and
- their *knock-ons*: every other failure contact caused by the same organisation in the
  same need episode, wherever it landed (a chase call at the council after a late
  payment is in the same episode as the payment).

With ``reduce = r`` the saving is r times the cost of those contacts. The interval
reflects uncertainty in the classification: a bootstrap that resamples the affected
incidents (episodes, or single contacts where there are no episodes) and keeps each
contact with probability equal to its classification confidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from joinedup.engine import Engine
from joinedup.governance import OutputRules
from joinedup.value._contacts import _lit, stage_contacts
from joinedup.value._costs import UNITS_PER_GBP, UnitCosts
from joinedup.value._errors import FixError
from joinedup.value._ledger import resolve_costs
from joinedup.value._published import publish_by_org, publish_count
from joinedup.workspace import Workspace

_KEYS = ("org", "cause", "reduce", "cost")


@dataclass(frozen=True)
class Fix:
    """A proposed fix: which organisation removes which cause, by how much, at what cost."""

    org: str
    cause: str
    reduce: float
    cost_gbp: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Fix:
        """From ``org=benefits,cause=late_payment,reduce=0.8[,cost=25000]``."""
        parts: dict[str, str] = {}
        for item in text.split(","):
            if not item.strip():
                continue
            key, sep, val = item.partition("=")
            key = key.strip().lower()
            if not sep or not val.strip():
                raise FixError(f"fix {text!r}: {item.strip()!r} is not key=value")
            if key not in _KEYS:
                raise FixError(f"fix {text!r}: unknown key {key!r}; expected {', '.join(_KEYS)}")
            parts[key] = val.strip()
        for need in ("org", "cause"):
            if need not in parts:
                raise FixError(f"fix {text!r}: {need}= is required")
        try:
            reduce = float(parts.get("reduce", "1"))
            cost = float(parts.get("cost", "0"))
        except ValueError:
            raise FixError(f"fix {text!r}: reduce and cost must be numbers") from None
        if not 0 <= reduce <= 1:
            raise FixError(f"fix {text!r}: reduce must be between 0 and 1, got {reduce}")
        if cost < 0:
            raise FixError(f"fix {text!r}: cost must not be negative")
        return cls(parts["org"], parts["cause"], reduce, cost)

    def __str__(self) -> str:
        text = f"org={self.org},cause={self.cause},reduce={self.reduce:g}"
        return text + (f",cost={self.cost_gbp:g}" if self.cost_gbp else "")


@dataclass(frozen=True)
class OrgSaving:
    """One organisation's position under a fix."""

    org: str
    contacts: int
    cost_gbp: float
    attributed_contacts: int  # contacts the fix would remove at reduce = 1
    contacts_removed: float  # reduce x attributed_contacts
    saving_gbp: float  # reduce x cost of the attributed contacts
    saving_low_gbp: float
    saving_high_gbp: float
    cost_after_gbp: float


@dataclass(frozen=True)
class WhatIf:
    """The result of re-pricing with a fix."""

    fix: Fix
    unit_costs: str
    orgs: tuple[OrgSaving, ...]
    contacts_at_fixer: int  # affected contacts received by the fixing organisation
    knock_on_contacts: int  # affected contacts received by other organisations
    found_via_episodes: int  # affected contacts without the cause, found in its episodes
    knock_ons_via: str  # "episodes" or "cause labels only"
    level: float
    replicates: int
    period_start: datetime | None
    period_end: datetime | None
    total_low_gbp: float = 0.0
    total_high_gbp: float = 0.0

    @property
    def total_saving_gbp(self) -> float:
        """Saving summed over organisations."""
        return sum(o.saving_gbp for o in self.orgs)

    def to_arrow(self) -> pa.Table:
        """One row per organisation."""
        rows = [
            o.__dict__ | {"unit_costs": self.unit_costs, "fix": str(self.fix)} for o in self.orgs
        ]
        return pa.Table.from_pylist(rows)

    def published(
        self, rules: OutputRules | None = None, *, orgs: Iterable[str] | None = None
    ) -> PublishedWhatIf:
        """The result as it may be shown (see :mod:`joinedup.value._published`): each
        organisation's contacts and affected contacts under disclosure control, with the
        money behind a withheld count withheld too. ``orgs`` limits it to some
        organisations (a deal's), whose total is then theirs alone."""
        rules = rules or OutputRules()
        keep = set(orgs) if orgs is not None else None
        lines = [o for o in self.orgs if keep is None or o.org in keep]
        contacts = publish_by_org({o.org: o.contacts for o in lines}, rules)
        hit = publish_by_org({o.org: o.attributed_contacts for o in lines}, rules)
        at_fixer = hit.values.get(self.fix.org)
        knock = sum(o.attributed_contacts for o in lines if o.org != self.fix.org)
        rows = []
        for o in lines:
            n, a = contacts.values.get(o.org), hit.values.get(o.org)
            rows.append(
                PublishedSaving(
                    org=o.org,
                    contacts=n,
                    cost_gbp=o.cost_gbp if n is not None else None,
                    attributed_contacts=a,
                    contacts_removed=self.fix.reduce * a if a is not None else None,
                    saving_gbp=o.saving_gbp if a is not None else None,
                    saving_low_gbp=o.saving_low_gbp if a is not None else None,
                    saving_high_gbp=o.saving_high_gbp if a is not None else None,
                )
            )
        whole = hit.total is not None
        total = PublishedSaving(
            org="all",
            contacts=contacts.total,
            cost_gbp=sum(o.cost_gbp for o in lines) if contacts.total is not None else None,
            attributed_contacts=hit.total,
            contacts_removed=self.fix.reduce * hit.total if hit.total is not None else None,
            saving_gbp=sum(o.saving_gbp for o in lines) if whole else None,
            # The interval of the total is of all organisations' savings.
            saving_low_gbp=self.total_low_gbp if whole and keep is None else None,
            saving_high_gbp=self.total_high_gbp if whole and keep is None else None,
        )
        notes = list(contacts.notes) + [n for n in hit.notes if n not in contacts.notes]
        return PublishedWhatIf(
            orgs=tuple(rows),
            total=total,
            contacts_at_fixer=at_fixer,
            # The knock-ons are the total less the fixer's: shown only where both are.
            knock_on_contacts=publish_count(knock, rules)
            if at_fixer is not None and whole
            else None,
            found_via_episodes=publish_count(self.found_via_episodes, rules),
            notes=tuple(notes),
        )


@dataclass(frozen=True)
class PublishedSaving:
    """One organisation's line of a what-if as it may be shown: None where withheld."""

    org: str
    contacts: int | None
    cost_gbp: float | None
    attributed_contacts: int | None
    contacts_removed: float | None
    saving_gbp: float | None
    saving_low_gbp: float | None
    saving_high_gbp: float | None


@dataclass(frozen=True)
class PublishedWhatIf:
    """A what-if as it may be shown, with the footnotes that go with it."""

    orgs: tuple[PublishedSaving, ...]
    total: PublishedSaving
    contacts_at_fixer: int | None
    knock_on_contacts: int | None
    found_via_episodes: int | None
    notes: tuple[str, ...]


def _affected_sql(contacts: str, fix: Fix, episodes: bool) -> str:
    direct = (
        f"SELECT event_id FROM \"{contacts}\" WHERE demand_type = 'failure' "
        f"AND caused_by_org = {_lit(fix.org)} AND cause = {_lit(fix.cause)}"
    )
    if not episodes:
        return f"""
        SELECT c.event_id, c.event_id AS incident, c.org, c.cost_units,
               coalesce(c.confidence, 1.0) AS confidence, TRUE AS direct
        FROM "{contacts}" c WHERE c.event_id IN ({direct})
        """
    return f"""
    WITH direct AS ({direct}),
    hit AS (
        SELECT DISTINCT ee.episode_id FROM direct d
        JOIN episode_events ee ON ee.event_id = d.event_id
    ),
    knock AS (
        SELECT c.event_id, ee.episode_id FROM "{contacts}" c
        JOIN episode_events ee ON ee.event_id = c.event_id
        JOIN hit h ON h.episode_id = ee.episode_id
        WHERE c.demand_type = 'failure' AND c.caused_by_org = {_lit(fix.org)}
    ),
    affected AS (
        SELECT event_id FROM direct UNION SELECT event_id FROM knock
    )
    SELECT c.event_id,
           coalesce(ee.episode_id, c.event_id) AS incident,
           c.org, c.cost_units, coalesce(c.confidence, 1.0) AS confidence,
           c.event_id IN (SELECT event_id FROM direct) AS direct
    FROM "{contacts}" c
    JOIN affected a ON a.event_id = c.event_id
    LEFT JOIN episode_events ee ON ee.event_id = c.event_id
    """


def _bootstrap(
    rows: pa.Table, orgs: list[str], reduce: float, replicates: int, seed: int
) -> np.ndarray:
    """Saving per replicate and organisation (replicates x orgs), in units."""
    out = np.zeros((replicates, len(orgs)), dtype=np.float64)
    if rows.num_rows == 0 or replicates == 0:
        return out
    rng = np.random.default_rng(seed)
    _, incident = np.unique(
        rows.column("incident").to_numpy(zero_copy_only=False), return_inverse=True
    )
    org_index = {o: i for i, o in enumerate(orgs)}
    org_of = np.array([org_index[o] for o in rows.column("org").to_pylist()], dtype=np.int64)
    cost = rows.column("cost_units").to_numpy().astype(np.float64)
    conf = np.clip(rows.column("confidence").to_numpy().astype(np.float64), 0.0, 1.0)
    n_inc = int(incident.max()) + 1
    n = rows.num_rows
    block = max(1, 4_000_000 // max(n, 1))
    for start in range(0, replicates, block):
        k = min(block, replicates - start)
        # Poisson(1) weights per incident: the bootstrap's resampling with replacement,
        # drawn independently so blocks of replicates need no shared state.
        weight = rng.poisson(1.0, size=(k, n_inc))[:, incident]
        keep = rng.random(size=(k, n)) < conf
        value = weight * keep * cost
        for j in range(len(orgs)):
            out[start : start + k, j] = value[:, org_of == j].sum(axis=1)
    return out * reduce


def _period(engine: Engine, contacts: str) -> tuple[datetime | None, datetime | None]:
    row = engine.to_arrow(
        engine.sql(f'SELECT min(occurred_at) AS a, max(occurred_at) AS b FROM "{contacts}"')
    ).to_pylist()[0]
    return row["a"], row["b"]


def _no_match(engine: Engine, contacts: str, f: Fix) -> FixError:
    """The error for a fix that matches no contact, naming the causes there are."""
    query = (
        f"SELECT DISTINCT cause FROM \"{contacts}\" WHERE demand_type = 'failure' "
        f"AND caused_by_org = {_lit(f.org)} AND cause IS NOT NULL ORDER BY cause"
    )
    causes = engine.to_arrow(engine.sql(query)).column("cause").to_pylist()
    known = (
        f"causes recorded for {f.org}: {', '.join(causes)}"
        if causes
        else f"no failure demand is attributed to {f.org!r}"
    )
    return FixError(
        f"fix {f}: no failure demand caused by {f.org!r} with cause {f.cause!r}; {known}"
    )


def what_if(
    ws: Workspace,
    fix: Fix | str,
    costs: UnitCosts | Path | str | None = None,
    *,
    replicates: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> WhatIf:
    """Re-price the workspace's contacts with ``fix`` applied; savings per organisation."""
    f = Fix.parse(fix) if isinstance(fix, str) else fix
    if not 0 < level < 1:
        raise FixError(f"interval level must be between 0 and 1, got {level}")
    uc = resolve_costs(costs)
    engine = ws.engine
    with ws.run("value what-if", inputs={"fix": str(f)}, settings={"unit_costs": uc.label}) as run:
        contacts = stage_contacts(engine, uc)
        try:
            episodes = engine.count("episode_events") > 0
            before = engine.to_arrow(
                engine.sql(
                    f"SELECT org, count(*) AS n, CAST(sum(cost_units) AS BIGINT) AS units "
                    f'FROM "{contacts}" GROUP BY org ORDER BY org'
                )
            ).to_pylist()
            rows = engine.to_arrow(engine.sql(_affected_sql(contacts, f, episodes)))
            period = _period(engine, contacts)
            if rows.num_rows == 0:
                raise _no_match(engine, contacts, f)
        finally:
            engine.drop_temp(contacts)
        orgs = [b["org"] for b in before]
        attributed: dict[str, int] = defaultdict(int)
        units_hit: dict[str, int] = defaultdict(int)
        for org, u in zip(
            rows.column("org").to_pylist(), rows.column("cost_units").to_pylist(), strict=True
        ):
            attributed[org] += 1
            units_hit[org] += u
        boot = _bootstrap(rows, orgs, f.reduce, replicates, seed)
        tail = (1 - level) / 2 * 100
        lo = np.percentile(boot, tail, axis=0) if replicates else np.zeros(len(orgs))
        hi = np.percentile(boot, 100 - tail, axis=0) if replicates else np.zeros(len(orgs))
        totals = boot.sum(axis=1)
        result_orgs = []
        for j, b in enumerate(before):
            org = b["org"]
            saving_units = f.reduce * units_hit[org]
            result_orgs.append(
                OrgSaving(
                    org=org,
                    contacts=int(b["n"]),
                    cost_gbp=b["units"] / UNITS_PER_GBP,
                    attributed_contacts=attributed[org],
                    contacts_removed=f.reduce * attributed[org],
                    saving_gbp=saving_units / UNITS_PER_GBP,
                    saving_low_gbp=float(lo[j]) / UNITS_PER_GBP,
                    saving_high_gbp=float(hi[j]) / UNITS_PER_GBP,
                    cost_after_gbp=(b["units"] - saving_units) / UNITS_PER_GBP,
                )
            )
        at_fixer = attributed[f.org]
        labelled = int(sum(rows.column("direct").to_pylist()))
        result = WhatIf(
            fix=f,
            unit_costs=uc.label,
            orgs=tuple(result_orgs),
            contacts_at_fixer=at_fixer,
            knock_on_contacts=rows.num_rows - at_fixer,
            found_via_episodes=rows.num_rows - labelled,
            knock_ons_via="episodes" if episodes else "cause labels only",
            level=level,
            replicates=replicates,
            period_start=period[0],
            period_end=period[1],
            total_low_gbp=float(np.percentile(totals, tail)) / UNITS_PER_GBP if replicates else 0.0,
            total_high_gbp=float(np.percentile(totals, 100 - tail)) / UNITS_PER_GBP
            if replicates
            else 0.0,
        )
        run.outputs.update(
            {"saving_gbp": round(result.total_saving_gbp, 2), "attributed": rows.num_rows}
        )
    return result
