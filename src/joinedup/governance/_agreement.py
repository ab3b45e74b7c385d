"""Data-sharing agreements as files, and the check that a run stays inside one.

An agreement names the parties, the purpose, the legal gateway, the fields each party
shares, how long data may be kept and the rules every output must pass. It is YAML that a
data-protection officer can read; it is validated with a typed model and an error names
the file and the line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from joinedup.governance._errors import AgreementError
from joinedup.governance._yaml import load_yaml_model
from joinedup.model import EVENTS, PEOPLE

if TYPE_CHECKING:
    from joinedup.workspace import Workspace

__all__ = [
    "Agreement",
    "Dominance",
    "OutputRules",
    "Party",
    "PlannedRun",
    "Retention",
    "check_run",
    "load_agreement",
    "workspace_plan",
]

#: The tables a party shares, and the fields each may hold (``org`` and ``source`` are
#: added by ingest, not shared by anyone).
SHAREABLE: dict[str, frozenset[str]] = {
    "events": frozenset(EVENTS.names) - {"org", "source"},
    "people": frozenset(PEOPLE.names) - {"org", "source"},
}


class Dominance(BaseModel):
    """The dominance rule for money: the largest ``contributors`` over ``share`` of a total."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contributors: int = Field(2, ge=1, le=10)
    share: float = Field(0.9, gt=0, le=1)


class OutputRules(BaseModel):
    """Statistical disclosure control for every output (UK output-checking defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: int = Field(10, ge=1, description="counts below this are suppressed")
    suppress_zeros: bool = Field(True, description="zeros are suppressed too")
    rounding_base: int = Field(5, ge=1, description="published counts are rounded to this")
    dominance: Dominance = Field(default_factory=Dominance)


class Retention(BaseModel):
    """How long shared data may be kept, and from which date that is counted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: int = Field(ge=1, description="data older than this many days is past retention")
    basis: Literal["occurred_at", "ingested_at"] = Field(
        "occurred_at",
        description="count from when an event happened, or from when it was loaded",
    )


class Party(BaseModel):
    """One organisation in the agreement and the fields it shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="the organisation's full name")
    shares: dict[Literal["events", "people"], list[str]] = Field(
        description="standard table -> the fields of it this party shares"
    )
    retention_days: int | None = Field(
        None, ge=1, description="a shorter retention for this party's data, if any"
    )

    @model_validator(mode="after")
    def _known_fields(self) -> Party:
        for table, fields in self.shares.items():
            unknown = sorted(set(fields) - SHAREABLE[table])
            if unknown:
                raise ValueError(
                    f"{table}: unknown field(s) {unknown}; expected some of "
                    f"{sorted(SHAREABLE[table])}"
                )
            if len(set(fields)) != len(fields):
                raise ValueError(f"{table}: a field is listed twice")
        return self


class Agreement(BaseModel):
    """A data-sharing agreement between two or more organisations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    purpose: str = Field(min_length=10, description="why the data is shared, in plain words")
    legal_gateway: str = Field(
        min_length=5,
        description="the power that allows the sharing, e.g. a Digital Economy Act 2017 "
        "public-service-delivery objective",
    )
    starts: date
    expires: date
    parties: dict[str, Party]
    retention: Retention
    outputs: OutputRules = Field(default_factory=OutputRules)

    _path: Path | None = PrivateAttr(None)
    _fingerprint: str = PrivateAttr("")

    @field_validator("parties")
    @classmethod
    def _two_or_more(cls, v: dict[str, Party]) -> dict[str, Party]:
        if len(v) < 2:
            raise ValueError(f"an agreement needs at least two parties; found {len(v)}")
        for org in v:
            if not org or not org[0].isalpha() or not org.replace("_", "").isalnum():
                raise ValueError(f"party code {org!r} must be like an org code: benefits, tax")
        return v

    @model_validator(mode="after")
    def _dates(self) -> Agreement:
        if self.expires <= self.starts:
            raise ValueError(f"expires ({self.expires}) must be after starts ({self.starts})")
        return self

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the agreement file as read (or of its canonical form if built in code)."""
        if not self._fingerprint:
            self._fingerprint = hashlib.sha256(self.model_dump_json().encode("utf-8")).hexdigest()
        return self._fingerprint

    def is_expired(self, on: date | None = None) -> bool:
        """Whether the agreement has ended on ``on`` (today, UTC, by default)."""
        return (on or datetime.now(UTC).date()) > self.expires

    def in_force(self, on: date | None = None) -> bool:
        """Whether the agreement covers ``on`` (today, UTC, by default)."""
        day = on or datetime.now(UTC).date()
        return self.starts <= day <= self.expires

    def retention_cutoff(self, org: str, now: datetime | None = None) -> datetime:
        """Data of ``org`` dated before this instant is past its retention period."""
        days = self.retention.days
        party = self.parties.get(org)
        if party is not None and party.retention_days is not None:
            days = min(days, party.retention_days)
        return (now or datetime.now(UTC)) - timedelta(days=days)

    def record(self) -> dict[str, Any]:
        """What a run records about the agreement it ran under."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "path": str(self._path) if self._path else None,
            "expires": self.expires.isoformat(),
        }


def load_agreement(path: Path | str) -> Agreement:
    """Read and validate an agreement file; errors give the file, line and problem."""
    path = Path(path)
    agreement = load_yaml_model(path, Agreement, "agreement")
    agreement._path = path.resolve()
    agreement._fingerprint = hashlib.sha256(path.read_bytes()).hexdigest()
    return agreement


@dataclass(frozen=True)
class PlannedRun:
    """What a run is about to use: the parties and, per party, ``table.field`` names."""

    parties: frozenset[str]
    fields: Mapping[str, frozenset[str]]
    on: date | None = None

    @classmethod
    def of(
        cls,
        parties: Iterable[str],
        fields: Mapping[str, Iterable[str]] | Iterable[str] = (),
        on: date | None = None,
    ) -> PlannedRun:
        """A plan from parties and fields; fields as ``{org: ["events.channel"]}`` or,
        when every party uses the same ones, as a plain list."""
        orgs = frozenset(parties)
        if isinstance(fields, Mapping):
            per = {org: frozenset(fs) for org, fs in fields.items()}
        else:
            same = frozenset(fields)
            per = dict.fromkeys(orgs, same)
        return cls(orgs | frozenset(per), per, on)


def check_run(agreement: Agreement, plan: PlannedRun) -> dict[str, Any]:
    """Refuse a run that falls outside the agreement; return what the run should record.

    Checks that the agreement is in force on the run's date, that every organisation is a
    party and that every field is one that party shares. Every problem is listed in one
    :class:`AgreementError`.
    """
    where = str(agreement._path) if agreement._path else f"agreement {agreement.name}"
    day = plan.on or datetime.now(UTC).date()
    problems: list[str] = []
    if day > agreement.expires:
        problems.append(
            f"the agreement expired on {agreement.expires}; renew it (a new 'expires' date "
            "signed by every party) before running"
        )
    elif day < agreement.starts:
        problems.append(f"the agreement does not start until {agreement.starts}")
    for org in sorted(plan.parties - set(agreement.parties)):
        problems.append(
            f"{org!r} is not a party to the agreement (parties: "
            f"{', '.join(sorted(agreement.parties))})"
        )
    for org in sorted(plan.fields):
        party = agreement.parties.get(org)
        if party is None:
            continue
        for name in sorted(plan.fields[org]):
            table, _, column = name.partition(".")
            if not column:
                problems.append(f"{org}: field {name!r} should be written as table.field")
            elif column not in party.shares.get(table, []):  # type: ignore[call-overload]
                problems.append(
                    f"{org} does not share {name} under this agreement (it shares {_shared(party)})"
                )
    if problems:
        raise AgreementError(f"{where}: run refused:\n  " + "\n  ".join(problems))
    return agreement.record()


def _shared(party: Party) -> str:
    parts = [f"{t}.{f}" for t, fs in party.shares.items() for f in fs]
    return ", ".join(parts) if parts else "nothing"


def workspace_plan(workspace: Workspace, on: date | None = None) -> PlannedRun:
    """The plan implied by what a workspace holds: every organisation with rows in
    ``events`` or ``people``, and every field that has at least one value."""
    engine = workspace.engine
    fields: dict[str, set[str]] = {}
    for table, allowed in SHAREABLE.items():
        t = engine.table(table)
        cols = sorted(allowed)
        counts = engine.to_arrow(t.group_by("org").aggregate(**{c: t[c].count() for c in cols}))
        for row in counts.to_pylist():
            held = fields.setdefault(row["org"], set())
            held.update(f"{table}.{c}" for c in cols if row[c])
    return PlannedRun.of(fields, fields, on)
