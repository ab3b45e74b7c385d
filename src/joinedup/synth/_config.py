"""Settings of the synthetic population, and the world it lives in.

The world is a small model of how UK public services meet people's needs: life events
raise needs; each need is served by one of four organisations; some needs go wrong
through a failure with a known cause, which produces failure demand — often at another
organisation than the one that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator

ORGS: tuple[str, ...] = ("benefits", "tax", "council", "health")

#: How a citizen or adviser names each organisation in a note.
ORG_DISPLAY: dict[str, str] = {
    "benefits": "the DWP",
    "tax": "HMRC",
    "council": "the council",
    "health": "the GP surgery",
}

AGE_BANDS: tuple[str, ...] = ("16-24", "25-34", "35-49", "50-64", "65+")


@dataclass(frozen=True, slots=True)
class Need:
    """A need raised by a life event, served by one organisation's service."""

    org: str
    service: str
    category: str  # the value category of the first real contact: service, change or help
    thing: str  # what the citizen waits for: payment, decision, appointment ...
    pays: bool  # whether meeting the need ends in a payment


@dataclass(frozen=True, slots=True)
class LifeEvent:
    """Something that happens to a person and raises needs."""

    code: str
    phrase: str  # first person, for notes
    min_age: int
    max_age: int
    weight: float
    needs: tuple[Need, ...]


_UC_CLAIM = Need("benefits", "Universal Credit", "service", "payment", True)
_UC_CHANGE = Need("benefits", "Universal Credit", "change", "payment", True)
_CTR = Need("council", "Council Tax Reduction", "service", "decision", False)

LIFE_EVENTS: tuple[LifeEvent, ...] = (
    LifeEvent(
        "job_loss",
        "lost my job",
        18,
        66,
        1.0,
        (
            _UC_CLAIM,
            Need("tax", "PAYE tax code", "change", "refund", True),
            _CTR,
        ),
    ),
    LifeEvent(
        "new_job",
        "started a new job",
        18,
        66,
        1.2,
        (
            _UC_CHANGE,
            Need("tax", "PAYE tax code", "change", "tax code", False),
        ),
    ),
    LifeEvent(
        "new_baby",
        "had a baby",
        18,
        46,
        0.8,
        (
            Need("tax", "Child Benefit", "service", "payment", True),
            Need("health", "GP registration", "service", "appointment", False),
            _UC_CHANGE,
        ),
    ),
    LifeEvent(
        "moving_house",
        "moved house",
        18,
        95,
        1.1,
        (
            Need("council", "Council Tax", "change", "bill", False),
            Need("health", "GP registration", "change", "registration", False),
            _UC_CHANGE,
        ),
    ),
    LifeEvent(
        "illness",
        "been unwell",
        16,
        95,
        1.0,
        (
            Need("health", "Hospital referral", "service", "referral", False),
            Need("benefits", "Personal Independence Payment", "service", "decision", True),
            Need("council", "Adult social care", "help", "assessment", False),
        ),
    ),
    LifeEvent(
        "bereavement",
        "lost my partner",
        25,
        95,
        0.4,
        (
            Need("benefits", "Bereavement Support Payment", "service", "payment", True),
            Need("tax", "PAYE tax code", "change", "tax code", False),
            Need("council", "Council Tax", "change", "bill", False),
        ),
    ),
    LifeEvent(
        "retirement",
        "retired",
        60,
        80,
        0.5,
        (
            Need("benefits", "State Pension", "service", "payment", True),
            Need("tax", "PAYE tax code", "change", "tax code", False),
        ),
    ),
    LifeEvent(
        "relationship_breakdown",
        "split up with my partner",
        18,
        80,
        0.6,
        (
            _UC_CHANGE,
            Need("council", "Housing options", "help", "housing", False),
            Need("tax", "Child Benefit", "change", "payment", True),
        ),
    ),
    LifeEvent(
        "eviction_threat",
        "been told I'm being evicted",
        18,
        90,
        0.35,
        (
            Need("council", "Homelessness prevention", "help", "housing", False),
            Need("benefits", "Universal Credit", "help", "payment", True),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class FailureKind:
    """A failure with a known cause and the failure demand it produces."""

    code: str
    weight: float
    needs_payment: bool = False
    cause_orgs: tuple[str, ...] = ORGS


FAILURES: tuple[FailureKind, ...] = (
    FailureKind("late_payment", 1.2, needs_payment=True),
    FailureKind("wrong_tax_code", 1.0, cause_orgs=("tax",)),
    FailureKind("letter_unclear", 1.0),
    FailureKind("change_not_passed_on", 0.9),
    FailureKind("referral_lost", 1.0, cause_orgs=("health", "council")),
    FailureKind("wrong_org", 0.8),
    FailureKind("wrong_decision", 0.7),
    FailureKind("evidence_asked_again", 0.7),
)


class IdentityErrorRates(BaseModel):
    """How often one organisation's copy of an identity field disagrees with the truth.

    Each rate applies to the records where the disagreement is possible: a nickname only
    where the forename has one, a maiden name only where the person has one, a swapped
    date of birth only where day and month can be swapped, an old postcode only where the
    person has moved.
    """

    model_config = ConfigDict(extra="forbid")

    forename_typo: float = Field(0.02, ge=0, le=1)
    nickname: float = Field(0.04, ge=0, le=1)
    surname_typo: float = Field(0.02, ge=0, le=1)
    maiden_name: float = Field(0.25, ge=0, le=1)
    dob_swapped: float = Field(0.02, ge=0, le=1)
    dob_missing: float = Field(0.01, ge=0, le=1)
    old_postcode: float = Field(0.2, ge=0, le=1)
    postcode_missing: float = Field(0.02, ge=0, le=1)
    id_missing: float = Field(0.03, ge=0, le=1)


def _default_identity_rates() -> dict[str, IdentityErrorRates]:
    return {
        "benefits": IdentityErrorRates(),
        "tax": IdentityErrorRates(nickname=0.01, old_postcode=0.3, maiden_name=0.35),
        "council": IdentityErrorRates(
            nickname=0.10,
            forename_typo=0.03,
            surname_typo=0.03,
            dob_missing=0.12,
            old_postcode=0.1,
        ),
        "health": IdentityErrorRates(nickname=0.02, dob_swapped=0.005, old_postcode=0.4),
    }


class SynthConfig(BaseModel):
    """Everything that shapes a synthetic population; the same settings and seed give
    byte-identical exports."""

    model_config = ConfigDict(extra="forbid")

    people: int = Field(5_000, ge=1, description="number of people in the population")
    seed: int = Field(42, description="random seed")
    start: date = Field(date(2025, 1, 1), description="first day of the period")
    months: int = Field(18, ge=3, le=120, description="length of the period in months")
    life_events_per_person: float = Field(
        1.5, gt=0, description="mean number of life events per person over the period"
    )
    failure_share: float = Field(
        0.40, gt=0, lt=0.9, description="target share of contacts that are failure demand"
    )
    failure_multipliers: dict[str, float] = Field(
        default_factory=lambda: {
            "disability": 1.5,
            "low_digital": 1.4,
            "age_65_plus": 1.2,
            "age_16_24": 1.1,
        },
        description="how much more often needs fail for each group (before normalising)",
    )
    disability_rate: float = Field(0.18, ge=0, le=1)
    low_digital_rate: float = Field(0.08, ge=0, le=1)
    low_digital_rate_65_plus: float = Field(0.40, ge=0, le=1)
    knock_on_rate: float = Field(
        0.45,
        ge=0,
        le=1,
        description="chance that a failure also produces contacts at another organisation",
    )
    abandon_rate: float = Field(0.06, ge=0, le=1, description="needs given up without an end")
    identity_errors: dict[str, IdentityErrorRates] = Field(default_factory=_default_identity_rates)
    chunk_size: int = Field(2_000, ge=10, description="people generated per batch")

    @field_validator("failure_multipliers")
    @classmethod
    def _known_groups(cls, v: dict[str, float]) -> dict[str, float]:
        allowed = {"disability", "low_digital", "age_65_plus", "age_16_24"}
        unknown = set(v) - allowed
        if unknown:
            raise ValueError(
                f"unknown group(s) {sorted(unknown)}: expected some of {sorted(allowed)}"
            )
        if any(m <= 0 for m in v.values()):
            raise ValueError("failure multipliers must be positive")
        return v

    @field_validator("identity_errors")
    @classmethod
    def _known_orgs(cls, v: dict[str, IdentityErrorRates]) -> dict[str, IdentityErrorRates]:
        unknown = set(v) - set(ORGS)
        if unknown:
            raise ValueError(f"unknown organisation(s) {sorted(unknown)}: expected {ORGS}")
        return {org: v.get(org, IdentityErrorRates()) for org in ORGS}
