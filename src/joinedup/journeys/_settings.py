"""Settings of the journeys stage: how contacts are grouped into needs, and how a
service's shape is judged. Both say nothing about an engine."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EpisodeSettings(BaseModel):
    """How a person's events are grouped into need episodes (``docs/methods/episodes.md``)."""

    model_config = ConfigDict(extra="forbid")

    quiet_days: float = Field(
        28.0,
        gt=0,
        description=(
            "an episode with no event for this many days before the end of the data, and "
            "no need-met marker, ended abandoned; events without a case reference are cut "
            "into separate units wherever this long a gap falls between them"
        ),
    )
    attach_days: float = Field(
        60.0,
        ge=0,
        description=(
            "how far in time (days) a contact-only case may lie from another organisation's "
            "case and still be attached to it as part of the same need"
        ),
    )
    met_outcomes: tuple[str, ...] = Field(
        ("need met",), description="event outcomes that mark the need as met"
    )
    met_activities: tuple[str, ...] = Field(
        (), description="event activities that mark the need as met"
    )
    org_names: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "for each organisation, phrases by which contact notes name it (matched "
            "case-insensitively); a contact-only case whose note names another organisation "
            "is attached to that organisation's case first"
        ),
    )
    match_services: bool = Field(
        True,
        description=(
            "attach a contact-only case whose note names the service of one of the "
            "person's needs (its need type, matched case-insensitively) to that need, "
            "after the organisation named in the note and before nearness in time"
        ),
    )
    prefer_other_org: bool = Field(
        True,
        description=(
            "attach a contact-only case to another organisation's case in preference to one "
            "at its own organisation (a contact about an organisation's own need would have "
            "been recorded on that need's case)"
        ),
    )


class ShapeSettings(BaseModel):
    """Thresholds that class a service as transactional, high-variety or complex
    (``docs/journeys.md``). Variety is measured on the citizens' contacts of each episode."""

    model_config = ConfigDict(extra="forbid")

    top_variants: int = Field(5, ge=1, description="how many variants count as 'the top ones'")
    complex_orgs_per_need: float = Field(
        1.5, gt=0, description="complex when needs touch at least this many organisations on mean"
    )
    complex_concurrent_needs: float = Field(
        3.0,
        gt=0,
        description=(
            "complex when, on mean, the person has at least this many needs open at once "
            "(the episode itself included)"
        ),
    )
    variety_tail_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="high-variety when this share of episodes follows none of the top variants",
    )
    variety_entropy: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "high-variety when variant entropy, divided by its largest possible value "
            "(log2 of the number of episodes), reaches this"
        ),
    )
    min_cases: int = Field(
        10, ge=2, description="services with fewer episodes are not classed ('too few')"
    )
