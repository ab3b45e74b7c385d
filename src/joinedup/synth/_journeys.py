"""Life events, needs, and the contacts they produce, with failures of known cause.

A person's life events raise needs; each need is a small process at one organisation
(first contact, evidence, decision, payment, close). A failure, drawn at a rate that
depends on the person's group, adds failure demand at the organisation that caused it
and, often, at another one ("knock-on"): the cross-organisation cost joinedup measures.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from joinedup.synth._config import (
    FAILURES,
    LIFE_EVENTS,
    ORG_DISPLAY,
    ORGS,
    FailureKind,
    LifeEvent,
    Need,
    SynthConfig,
)
from joinedup.synth._identity import Identity, age_band, age_on
from joinedup.synth._notes import NoteContext, render_note

_LONDON = ZoneInfo("Europe/London")

_CHANNELS = ("phone", "web", "letter", "face_to_face", "webchat", "email")
# Channel mix by digital access; health is phone-heavy, as GP surgeries are.
_MIX_DIGITAL = (0.30, 0.34, 0.04, 0.08, 0.12, 0.12)
_MIX_LOW_DIGITAL = (0.56, 0.02, 0.18, 0.20, 0.01, 0.03)
_MIX_HEALTH = (0.60, 0.20, 0.02, 0.12, 0.02, 0.04)

_IN_ACTIVITY: dict[str, tuple[str, ...]] = {
    "service": ("Application",),
    "info": ("Enquiry",),
    "change": ("Change reported",),
    "help": ("Support request",),
    "chase": ("Enquiry", "Progress enquiry"),
    "error": ("Account query", "Dispute"),
    "clarify": ("Enquiry", "Account query"),
    "misrouted": ("Enquiry", "Transfer"),
    "repeat": ("Enquiry", "Progress enquiry", "Support request"),
    "duplicate": ("Evidence received", "Enquiry"),
    "complaint": ("Complaint",),
}
_VALUE_OUTCOMES = ("resolved", "resolved", "pending", "referred")
_FAILURE_OUTCOMES = ("resolved", "pending", "pending", "escalated")


@dataclass(slots=True)
class SimEvent:
    """One event of a synthetic journey, before it is shaped into an organisation's export."""

    org: str
    person_id: str
    need_id: str
    service: str
    occurred_at: datetime  # UTC
    channel: str
    activity: str
    direction: str  # "in" for a citizen's contact, "out" for the organisation's own action
    outcome: str
    note: str | None
    category: str | None
    caused_by: str | None
    failure: str | None
    life_event: str


@dataclass(frozen=True, slots=True)
class Groups:
    """The groups a person belongs to, for fairness findings."""

    age_band: str
    disability: bool
    low_digital: bool


def draw_groups(rng: random.Random, who: Identity, cfg: SynthConfig) -> Groups:
    """Age band, disability and digital access for one person."""
    age = age_on(who.date_of_birth, cfg.start)
    band = age_band(age)
    disability = rng.random() < cfg.disability_rate * (1.6 if age >= 65 else 0.85)
    low_rate = cfg.low_digital_rate_65_plus if age >= 65 else cfg.low_digital_rate
    low_digital = rng.random() < low_rate * (1.5 if disability else 1.0)
    return Groups(band, disability, low_digital)


def multiplier(groups: Groups, cfg: SynthConfig) -> float:
    """How much more often this person's needs fail than the base rate."""
    m = 1.0
    mult = cfg.failure_multipliers
    if groups.disability:
        m *= mult.get("disability", 1.0)
    if groups.low_digital:
        m *= mult.get("low_digital", 1.0)
    if groups.age_band == "65+":
        m *= mult.get("age_65_plus", 1.0)
    if groups.age_band == "16-24":
        m *= mult.get("age_16_24", 1.0)
    return m


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: fine for the small means used here.
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class JourneySimulator:
    """Turns one person into their life events, needs and events."""

    def __init__(self, cfg: SynthConfig, fail_p: float, mean_multiplier: float) -> None:
        self.cfg = cfg
        self.fail_p = fail_p
        self.mean_multiplier = mean_multiplier
        self.start = datetime(cfg.start.year, cfg.start.month, cfg.start.day, tzinfo=UTC)
        end = _add_months(cfg.start, cfg.months)
        # London's offset from UTC at noon of each day of the period (and a margin for
        # journeys that run past its end): contacts fall between 06:00 and 23:00, after
        # the 01:00 clock change, so the day's noon offset is the right one.
        noon = datetime(cfg.start.year, cfg.start.month, cfg.start.day, 12, tzinfo=_LONDON)
        self._offsets = [
            _utc_offset(noon + timedelta(days=d)) for d in range(-30, (end - cfg.start).days + 400)
        ]
        # Life events stop 90 days before the end so most needs can finish in the period.
        self.span_days = max(1, (end - cfg.start).days - 90)
        self.failure_incidents = 0
        self.needs = 0

    def person(self, rng: random.Random, who: Identity, groups: Groups) -> list[SimEvent]:
        """Every event of one person's journeys over the period, in no particular order."""
        out: list[SimEvent] = []
        p = min(1.0, self.fail_p * multiplier(groups, self.cfg) / self.mean_multiplier)
        age = age_on(who.date_of_birth, self.cfg.start)
        eligible = [e for e in LIFE_EVENTS if e.min_age <= age <= e.max_age]
        weights = [e.weight for e in eligible]
        for n in range(_poisson(rng, self.cfg.life_events_per_person)):
            life = rng.choices(eligible, weights=weights, k=1)[0]
            t0 = rng.uniform(0, self.span_days)
            needs = [nd for nd in life.needs if rng.random() < 0.8] or [life.needs[0]]
            for k, need in enumerate(needs):
                need_id = f"{who.person_id}-{n}-{k}"
                self._need(rng, out, who, groups, life, need, need_id, t0, p)
        return out

    # -- one need -------------------------------------------------------------------------

    def _need(
        self,
        rng: random.Random,
        out: list[SimEvent],
        who: Identity,
        groups: Groups,
        life: LifeEvent,
        need: Need,
        need_id: str,
        t_life: float,
        p_fail: float,
    ) -> None:
        self.needs += 1
        org = need.org
        others = [o for o in ORGS if o != org]
        amount = rng.randrange(20, 1500)

        def contact(
            at: float,
            category: str,
            *,
            where: str = org,
            caused: str | None = None,
            failure: str | None = None,
            other: str | None = None,
            activity: str | None = None,
        ) -> None:
            channel = self._channel(rng, groups, where, chasing=category in ("chase", "repeat"))
            when = self._when(rng, at, channel)
            other_org = other or rng.choice([o for o in ORGS if o != where])
            ctx = NoteContext(
                org=ORG_DISPLAY[where],
                service=need.service,
                thing=need.thing,
                other_org=ORG_DISPLAY[other_org],
                life_event=life.phrase,
                days=max(1, int(at - t_first)),
                amount=amount,
                channel=channel,
            )
            is_failure = caused is not None
            out.append(
                SimEvent(
                    org=where,
                    person_id=who.person_id,
                    need_id=need_id,
                    service=need.service if where == org else _service_at(where),
                    occurred_at=when,
                    channel=channel,
                    activity=activity or rng.choice(_IN_ACTIVITY[category]),
                    direction="in",
                    outcome=rng.choice(_FAILURE_OUTCOMES if is_failure else _VALUE_OUTCOMES),
                    note=render_note(rng, category, ctx),
                    category=category,
                    caused_by=caused,
                    failure=failure,
                    life_event=life.code,
                )
            )

        def action(at: float, activity: str, outcome: str, channel: str = "letter") -> None:
            out.append(
                SimEvent(
                    org=org,
                    person_id=who.person_id,
                    need_id=need_id,
                    service=need.service,
                    occurred_at=self._when(rng, at, "letter"),
                    channel=channel,
                    activity=activity,
                    direction="out",
                    outcome=outcome,
                    note=None,
                    category=None,
                    caused_by=None,
                    failure=None,
                    life_event=life.code,
                )
            )

        t = t_life + rng.uniform(0, 10)
        t_first = t
        failure = self._pick_failure(rng, need) if rng.random() < p_fail else None
        if failure is not None:
            self.failure_incidents += 1

        if failure is not None and failure.code == "wrong_org":
            # Sent to the wrong organisation first, then sent back.
            wrong = rng.choice(others)
            t_first = t - rng.uniform(1, 6)
            contact(t_first, "misrouted", where=wrong, caused=org, failure="wrong_org", other=org)
            contact(
                t - rng.uniform(0, 0.8),
                "repeat",
                caused=org,
                failure="wrong_org",
                other=wrong,
                activity=_IN_ACTIVITY[need.category][0],
            )
        elif rng.random() < 0.25:
            t_first = t - rng.uniform(0.5, 5)
            contact(t_first, "info")

        contact(t, need.category, activity=_IN_ACTIVITY[need.category][0])
        action(t + rng.uniform(0.1, 2), "Acknowledgement sent", "sent")
        if rng.random() < 0.3:
            contact(t + rng.uniform(2, 8), "service", activity="Evidence received")
        decided = t + rng.uniform(6, 30)
        paid = decided + rng.uniform(2, 8) if need.pays else None
        last = paid if paid is not None else decided

        if failure is not None:
            last = max(last, self._failure(rng, failure, need, t, decided, contact, others))
            if failure.code == "late_payment" and paid is not None:
                paid = last + rng.uniform(0.5, 3)
                last = paid
            if failure.code == "wrong_decision":
                decided_again = last + rng.uniform(3, 20)
                action(decided_again, "Decision revised", "revised")
                last = decided_again
            if rng.random() < 0.12:
                last += rng.uniform(1, 10)
                contact(last, "complaint", caused=org, failure=failure.code)

        action(decided, "Decision issued", "decided")
        if paid is not None:
            action(paid, "Payment made", "paid", channel="web")
        if rng.random() >= self.cfg.abandon_rate:
            action(max(last, decided) + rng.uniform(1, 7), "Case closed", "need met", "web")

    def _pick_failure(self, rng: random.Random, need: Need) -> FailureKind:
        fits = [
            f for f in FAILURES if need.org in f.cause_orgs and (need.pays or not f.needs_payment)
        ]
        return rng.choices(fits, weights=[f.weight for f in fits], k=1)[0]

    def _failure(
        self,
        rng: random.Random,
        failure: FailureKind,
        need: Need,
        t: float,
        decided: float,
        contact: _Contact,
        others: list[str],
    ) -> float:
        """Add a failure's contacts; returns the time of the last one."""
        org, code = need.org, failure.code
        knock = rng.random() < self.cfg.knock_on_rate
        times: list[float] = []

        def at(base: float, lo: float, hi: float) -> float:
            v = base + rng.uniform(lo, hi)
            times.append(v)
            return v

        if code == "late_payment":
            for _ in range(1 + (rng.random() < 0.6) + (rng.random() < 0.3)):
                contact(at(decided, 8, 35), "chase", caused=org, failure=code)
            if knock:
                elsewhere = "council" if org != "council" else "benefits"
                contact(
                    at(decided, 10, 35),
                    "misrouted",
                    where=elsewhere,
                    caused=org,
                    failure=code,
                    other=org,
                )
        elif code == "wrong_tax_code":
            for _ in range(1 + (rng.random() < 0.5)):
                contact(at(decided, 3, 25), "error", caused=org, failure=code)
            if knock:
                contact(
                    at(decided, 10, 40),
                    "error",
                    where="benefits",
                    caused=org,
                    failure=code,
                    other=org,
                )
        elif code == "letter_unclear":
            for _ in range(1 + (rng.random() < 0.4)):
                contact(at(decided, 1, 12), "clarify", caused=org, failure=code)
            if knock:
                contact(
                    at(decided, 2, 15),
                    "clarify",
                    where=rng.choice(others),
                    caused=org,
                    failure=code,
                    other=org,
                )
        elif code == "change_not_passed_on":
            elsewhere = rng.choice(others)
            for _ in range(1 + (rng.random() < 0.5)):
                contact(
                    at(t, 5, 40), "duplicate", where=elsewhere, caused=org, failure=code, other=org
                )
            if knock:
                contact(
                    at(t, 10, 50), "error", where=elsewhere, caused=org, failure=code, other=org
                )
        elif code == "referral_lost":
            for _ in range(1 + (rng.random() < 0.5)):
                contact(
                    at(t, 10, 40),
                    "repeat",
                    caused=org,
                    failure=code,
                    activity=_IN_ACTIVITY[need.category][0],
                )
            contact(at(t, 15, 45), "chase", caused=org, failure=code)
            if knock:
                contact(
                    at(t, 15, 50),
                    "repeat",
                    where=rng.choice(others),
                    caused=org,
                    failure=code,
                    other=org,
                )
        elif code == "wrong_decision":
            for _ in range(1 + (rng.random() < 0.5)):
                contact(at(decided, 1, 15), "error", caused=org, failure=code)
            if knock:
                contact(
                    at(decided, 5, 25),
                    "chase",
                    where=rng.choice(others),
                    caused=org,
                    failure=code,
                    other=org,
                )
        elif code == "evidence_asked_again":
            for _ in range(1 + (rng.random() < 0.5)):
                contact(at(t, 2, 12), "duplicate", caused=org, failure=code)
            if knock:
                contact(
                    at(t, 3, 15),
                    "duplicate",
                    where=rng.choice(others),
                    caused=org,
                    failure=code,
                    other=org,
                )
        # wrong_org adds its contacts before the first contact (see _need).
        return max(times, default=t)

    # -- channels and clocks --------------------------------------------------------------

    def _channel(self, rng: random.Random, groups: Groups, org: str, *, chasing: bool) -> str:
        if org == "health":
            mix = _MIX_HEALTH
        else:
            mix = _MIX_LOW_DIGITAL if groups.low_digital else _MIX_DIGITAL
        if chasing and rng.random() < 0.4:
            return "phone"  # people chase by phone
        return rng.choices(_CHANNELS, weights=mix, k=1)[0]

    def _when(self, rng: random.Random, day: float, channel: str) -> datetime:
        """A UTC time on a day of the period: office hours on weekdays for staffed channels."""
        d = int(day)
        if channel in ("phone", "face_to_face", "webchat", "letter"):
            weekday = (self.start.weekday() + d) % 7
            if weekday >= 5:
                d += 7 - weekday
            secs = int(rng.random() * 600) * 60 + 8 * 3600  # whole minutes, as systems log
        else:
            secs = int(rng.random() * 1020) * 60 + 6 * 3600  # avoids the clock-change hour
        return self.start + timedelta(days=d, seconds=secs - self._offsets[d + 30])


def _service_at(org: str) -> str:
    """The service that fields failure demand arriving at an organisation from elsewhere."""
    return {
        "benefits": "Universal Credit",
        "tax": "PAYE tax code",
        "council": "Customer services",
        "health": "GP practice",
    }[org]


def _utc_offset(when: datetime) -> int:
    offset = when.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, 1)


class _Contact(Protocol):
    """The signature of the contact() closure in JourneySimulator._need."""

    def __call__(
        self,
        at: float,
        category: str,
        *,
        where: str = ...,
        caused: str | None = ...,
        failure: str | None = ...,
        other: str | None = ...,
        activity: str | None = ...,
    ) -> None: ...
