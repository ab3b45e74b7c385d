"""Settings of demand classification: thresholds, journey rules, organisation names.

Every rule is named, can be switched off, and has its windows and activity lists here,
so an organisation whose systems name things differently changes a YAML file, not code::

    threshold: 0.6
    rules:
      chase: {expected_days: 28}
      duplicate: {enabled: false}
    causes:                      # replaces the default list of root causes
      - {code: late_payment, categories: [chase], before: [Payment made]}
      - {code: letter_unclear, categories: [clarify]}

``docs/methods/demand.md`` explains each rule and each default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from joinedup.demand._errors import DemandError

_REQUESTS = ["Application", "Change reported", "Support request"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True


class RepeatRule(_Rule):
    """The same request made again for the same need, after the first had time to work."""

    category: str = "repeat"
    request_activities: list[str] = Field(default_factory=lambda: list(_REQUESTS))
    #: Two requests less than this apart are one contact recorded twice, not a repeat.
    min_days: float = 1.0
    within_days: float = 60.0
    #: Only after the organisation had responded to the first request (any outbound
    #: event of the need in between): before that, a second request is more often the
    #: first one arriving in two parts than the need presented again.
    after_response: bool = True


class ChaseRule(_Rule):
    """A contact while the need's request is still open past its expected time."""

    category: str = "chase"
    request_activities: list[str] = Field(default_factory=lambda: list(_REQUESTS))
    #: Activities that end the wait (the thing chased has arrived).
    done_activities: list[str] = Field(default_factory=lambda: ["Payment made", "Case closed"])
    expected_days: float = 21.0


class ErrorRule(_Rule):
    """A dispute, or a contact soon after the organisation corrected something."""

    category: str = "error"
    error_activities: list[str] = Field(default_factory=lambda: ["Dispute"])
    correction_activities: list[str] = Field(
        default_factory=lambda: ["Decision revised", "Correction", "Overpayment cancelled"]
    )
    within_days: float = 30.0


class MisroutedRule(_Rule):
    """A transfer, or a contact the organisation recorded as redirected elsewhere."""

    category: str = "misrouted"
    activities: list[str] = Field(default_factory=lambda: ["Transfer"])
    outcomes: list[str] = Field(default_factory=lambda: ["transferred", "redirected"])


class DuplicateRule(_Rule):
    """Evidence supplied again: a second time for the same need, or to an organisation
    with no request of its own when another organisation already had it."""

    category: str = "duplicate"
    evidence_activities: list[str] = Field(default_factory=lambda: ["Evidence received"])
    request_activities: list[str] = Field(default_factory=lambda: list(_REQUESTS))
    within_days: float = 60.0


class Rules(BaseModel):
    """The journey rules, in the order they are tried: the first that fires decides."""

    model_config = ConfigDict(extra="forbid")
    misrouted: MisroutedRule = Field(default_factory=MisroutedRule)
    error: ErrorRule = Field(default_factory=ErrorRule)
    duplicate: DuplicateRule = Field(default_factory=DuplicateRule)
    repeat: RepeatRule = Field(default_factory=RepeatRule)
    chase: ChaseRule = Field(default_factory=ChaseRule)


class CauseRule(BaseModel):
    """One root cause of failure demand (``late_payment``, ``wrong_tax_code`` ...) and how
    it shows in a journey. A failure contact gets the first rule it meets: its category is
    one of ``categories``, it landed where ``where`` says, and the causing organisation's
    case (the one ``caused_by_org`` was found in) meets every journey condition given."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1)
    #: The failure categories this cause shows as.
    categories: list[str] = Field(min_length=1)
    #: ``own``: at the causing organisation; ``elsewhere``: at another one; or ``any``.
    where: Literal["own", "elsewhere", "any"] = "any"
    #: Causing organisations it applies to (empty: any).
    orgs: list[str] = Field(default_factory=list)
    #: The causing case had one of these activities before the contact ...
    after: list[str] = Field(default_factory=list)
    #: ... or has one after it (the thing waited for, or the correction that followed).
    before: list[str] = Field(default_factory=list)
    #: The contact came before the causing case began, or on its first day (a person at
    #: the wrong door before reaching the right one, and their first contact there).
    at_case_start: bool = False


def _causes() -> list[CauseRule]:
    # Tried in order; the ones with journey conditions first, since a condition met is
    # more telling than a category alone. docs/methods/demand.md gives the reasons.
    return [
        CauseRule(code="wrong_org", categories=["misrouted", "repeat"], at_case_start=True),
        CauseRule(
            code="late_payment",
            categories=["chase", "misrouted"],
            after=["Decision issued"],
            before=["Payment made"],
        ),
        CauseRule(
            code="wrong_decision", categories=["error", "chase"], before=["Decision revised"]
        ),
        CauseRule(code="wrong_tax_code", categories=["error"], orgs=["tax"]),
        CauseRule(code="referral_lost", categories=["repeat", "chase"], orgs=["health", "council"]),
        CauseRule(code="letter_unclear", categories=["clarify"]),
        CauseRule(code="evidence_asked_again", categories=["duplicate"], where="own"),
        CauseRule(
            code="change_not_passed_on", categories=["duplicate", "error"], where="elsewhere"
        ),
    ]


def _aliases() -> dict[str, list[str]]:
    return {
        "benefits": ["dwp", "jobcentre", "job centre", "benefits office", "pension service"],
        "tax": ["hmrc", "tax office", "revenue"],
        "council": ["council", "local authority", "town hall"],
        "health": ["gp", "surgery", "hospital", "nhs", "practice"],
    }


class DemandSettings(BaseModel):
    """Everything that shapes a classification run."""

    model_config = ConfigDict(extra="forbid")

    #: Below this probability of its best category a note is labelled needs_review.
    threshold: float = Field(0.5, ge=0, le=1)
    #: When the category is unsure, the type (value/failure) is still given if its
    #: probability reaches this.
    type_threshold: float = Field(0.7, ge=0, le=1)
    #: Share of a note's words that must be words the model knows (else needs_review).
    min_known: float = Field(0.4, ge=0, le=1)
    #: When a rule fires, a failure category from the text at this confidence or more
    #: names the kind of failure instead of the rule's default (the rule still decides
    #: that it is failure demand).
    text_refines_rule: float = Field(0.8, ge=0, le=1)
    #: The same need without episodes and case references: same person and service
    #: within this many days.
    same_need_days: float = 60.0
    #: Window around a contact in which another organisation's open case may be its cause.
    cause_window_days: float = 120.0
    rules: Rules = Field(default_factory=Rules)
    #: Words in a note that name each organisation (lower case), for cause attribution.
    org_aliases: dict[str, list[str]] = Field(default_factory=_aliases)
    #: Root causes of failure demand, tried in order (the demand table's ``cause``).
    causes: list[CauseRule] = Field(default_factory=_causes)
    #: Failure categories that are about an earlier failure of the same case (a
    #: complaint): they take the commonest root cause of that case's other failure
    #: contacts, and the rules only when it has none.
    cause_follows: list[str] = Field(default_factory=lambda: ["complaint"])


def load_settings(path: Path | str | None = None) -> DemandSettings:
    """Default settings, overridden by a YAML file if one is given."""
    if path is None:
        return DemandSettings()
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        return DemandSettings.model_validate(doc)
    except (OSError, yaml.YAMLError) as exc:
        raise DemandError(f"cannot read demand settings {p}: {exc}") from None
    except ValidationError as exc:
        raise DemandError(f"{p}: invalid demand settings: {exc}") from None
