"""Life events, needs, and the contacts they produce, with failures of known cause.

A person's life events raise needs; each need is a small process at one organisation
(first contact, evidence, decision, payment, close). A failure, drawn at a rate that
depends on the person's group, adds failure demand at the organisation that caused it
and, often, at another one ("knock-on"): the cross-organisation cost joinedup measures.
"""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

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
_CUM_DIGITAL = tuple(itertools.accumulate(_MIX_DIGITAL))
_CUM_LOW_DIGITAL = tuple(itertools.accumulate(_MIX_LOW_DIGITAL))
_CUM_HEALTH = tuple(itertools.accumulate(_MIX_HEALTH))
#: Channels staffed in office hours (and letters, sent in them).
STAFFED: tuple[str, ...] = ("phone", "face_to_face", "webchat", "letter")
_CHASING = frozenset({"chase", "repeat"})
_OTHERS: dict[str, tuple[str, ...]] = {o: tuple(x for x in ORGS if x != o) for o in ORGS}
_DISPLAY = ORG_DISPLAY

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


#: The fields of one simulated event, in the order of the tuples the simulator appends.
#: Plain tuples, not objects: a million people make about twenty million events.
EVENT_FIELDS: tuple[str, ...] = (
    "org",
    "person",  # index of the person in their batch
    "need_id",
    "service",
    "day",  # days since the start of the period; ``times`` makes it a clock time
    "channel",
    "activity",
    "direction",  # "in" for a citizen's contact, "out" for the organisation's own action
    "outcome",
    "note",
    "category",
    "caused_by",
    "failure",
    "life_event",
)
SimEvent = tuple[
    str, int, str, str, float, str, str, str, str, str | None, str | None, str | None,
    str | None, str,
]  # fmt: skip
E_DIRECTION, E_CAUSED_BY = EVENT_FIELDS.index("direction"), EVENT_FIELDS.index("caused_by")


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

    def __init__(
        self, cfg: SynthConfig, fail_p: float, mean_multiplier: float, notes: bool = True
    ) -> None:
        self.cfg = cfg
        self.notes = notes  # without, contacts have no note (for calibration: faster)
        self.fail_p = fail_p
        self.mean_multiplier = mean_multiplier
        self.start = datetime(cfg.start.year, cfg.start.month, cfg.start.day, tzinfo=UTC)
        end = _add_months(cfg.start, cfg.months)
        # London's offset from UTC at noon of each day of the period (and a margin for
        # journeys that run past its end): contacts fall between 06:00 and 23:00, after
        # the 01:00 clock change, so the day's noon offset is the right one.
        noon = datetime(cfg.start.year, cfg.start.month, cfg.start.day, 12, tzinfo=_LONDON)
        self._offsets_us = np.array(
            [
                _utc_offset(noon + timedelta(days=d)) * 1_000_000
                for d in range(-30, (end - cfg.start).days + 400)
            ],
            dtype=np.int64,
        )
        self._start_us = int(self.start.timestamp()) * 1_000_000
        self._weekday0 = self.start.weekday()
        # Life events stop 90 days before the end so most needs can finish in the period.
        self.span_days = max(1, (end - cfg.start).days - 90)
        self.failure_incidents = 0
        self.needs = 0

    def person(
        self, rng: random.Random, who: Identity, groups: Groups, index: int, out: list[SimEvent]
    ) -> None:
        """Append every event of one person's journeys over the period to ``out``, in no
        particular order; ``index`` is the person's place in their batch."""
        p = min(1.0, self.fail_p * multiplier(groups, self.cfg) / self.mean_multiplier)
        age = age_on(who.date_of_birth, self.cfg.start)
        eligible, cum = _eligible(age)
        total = cum[-1]
        for n in range(_poisson(rng, self.cfg.life_events_per_person)):
            life = eligible[bisect(cum, rng.random() * total, 0, len(cum) - 1)]
            t0 = rng.random() * self.span_days
            needs = [nd for nd in life.needs if rng.random() < 0.8] or [life.needs[0]]
            for k, need in enumerate(needs):
                need_id = f"{who.person_id}-{n}-{k}"
                self._need(rng, out, who, index, groups, life, need, need_id, t0, p)

    # -- one need -------------------------------------------------------------------------

    def _need(
        self,
        rng: random.Random,
        out: list[SimEvent],
        who: Identity,
        index: int,
        groups: Groups,
        life: LifeEvent,
        need: Need,
        need_id: str,
        t_life: float,
        p_fail: float,
    ) -> None:
        self.needs += 1
        org = need.org
        others = _OTHERS[org]
        amount = 20 + int(rng.random() * 1480)
        rand = rng.random
        service, life_code = need.service, life.code
        mix = _CUM_LOW_DIGITAL if groups.low_digital else _CUM_DIGITAL
        notes = self.notes

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
            if category in _CHASING and rand() < 0.4:
                channel = "phone"  # people chase by phone
            else:
                channel = _CHANNELS[bisect(_CUM_HEALTH if where == "health" else mix, rand(), 0, 5)]
            if other is None:
                other = _OTHERS[where][int(rand() * 3)]
            note = None
            if notes:
                ctx = NoteContext(
                    _DISPLAY[where],
                    service,
                    need.thing,
                    _DISPLAY[other],
                    life.phrase,
                    max(1, int(at - t_first)),
                    amount,
                    channel,
                )
                note = render_note(rng, category, ctx)
            if activity is None:
                choices = _IN_ACTIVITY[category]
                activity = choices[int(rand() * len(choices))]
            outcomes = _VALUE_OUTCOMES if caused is None else _FAILURE_OUTCOMES
            out.append(
                (
                    where,
                    index,
                    need_id,
                    service if where == org else _SERVICE_AT[where],
                    at,
                    channel,
                    activity,
                    "in",
                    outcomes[int(rand() * 4)],
                    note,
                    category,
                    caused,
                    failure,
                    life_code,
                )
            )

        def action(at: float, activity: str, outcome: str, channel: str = "letter") -> None:
            out.append(
                (
                    org,
                    index,
                    need_id,
                    service,
                    at,
                    channel,
                    activity,
                    "out",
                    outcome,
                    None,
                    None,
                    None,
                    None,
                    life_code,
                )
            )

        t = t_life + rand() * 10
        t_first = t
        failure = self._pick_failure(rng, need) if rand() < p_fail else None
        if failure is not None:
            self.failure_incidents += 1

        if failure is not None and failure.code == "wrong_org":
            # Sent to the wrong organisation first, then sent back.
            wrong = others[int(rand() * 3)]
            t_first = t - (1 + 5 * rand())
            contact(t_first, "misrouted", where=wrong, caused=org, failure="wrong_org", other=org)
            contact(
                t - 0.8 * rand(),
                "repeat",
                caused=org,
                failure="wrong_org",
                other=wrong,
                activity=_IN_ACTIVITY[need.category][0],
            )
        elif rand() < 0.25:
            t_first = t - (0.5 + 4.5 * rand())
            contact(t_first, "info")

        contact(t, need.category, activity=_IN_ACTIVITY[need.category][0])
        action(t + (0.1 + 1.9 * rand()), "Acknowledgement sent", "sent")
        if rand() < 0.3:
            contact(t + (2 + 6 * rand()), "service", activity="Evidence received")
        decided = t + (6 + 24 * rand())
        paid = decided + (2 + 6 * rand()) if need.pays else None
        last = paid if paid is not None else decided

        if failure is not None:
            last = max(last, self._failure(rng, failure, need, t, decided, contact, others))
            if failure.code == "late_payment" and paid is not None:
                paid = last + (0.5 + 2.5 * rand())
                last = paid
            if failure.code == "wrong_decision":
                decided_again = last + (3 + 17 * rand())
                action(decided_again, "Decision revised", "revised")
                last = decided_again
            if rand() < 0.12:
                last += 1 + 9 * rand()
                contact(last, "complaint", caused=org, failure=failure.code)

        action(decided, "Decision issued", "decided")
        if paid is not None:
            action(paid, "Payment made", "paid", channel="web")
        if rand() >= self.cfg.abandon_rate:
            action(max(last, decided) + (1 + 6 * rand()), "Case closed", "need met", "web")

    def _pick_failure(self, rng: random.Random, need: Need) -> FailureKind:
        fits, cum = _failure_kinds(need.org, need.pays)
        return fits[bisect(cum, rng.random() * cum[-1], 0, len(cum) - 1)]

    def _failure(
        self,
        rng: random.Random,
        failure: FailureKind,
        need: Need,
        t: float,
        decided: float,
        contact: _Contact,
        others: tuple[str, ...],
    ) -> float:
        """Add a failure's contacts; returns the time of the last one."""
        org, code = need.org, failure.code
        knock = rng.random() < self.cfg.knock_on_rate
        rand = rng.random
        times: list[float] = []

        def at(base: float, lo: float, hi: float) -> float:
            v = base + lo + (hi - lo) * rand()
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
                    where=others[int(rng.random() * 3)],
                    caused=org,
                    failure=code,
                    other=org,
                )
        elif code == "change_not_passed_on":
            elsewhere = others[int(rng.random() * 3)]
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
                    where=others[int(rng.random() * 3)],
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
                    where=others[int(rng.random() * 3)],
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
                    where=others[int(rng.random() * 3)],
                    caused=org,
                    failure=code,
                    other=org,
                )
        # wrong_org adds its contacts before the first contact (see _need).
        return max(times, default=t)

    # -- channels and clocks --------------------------------------------------------------

    def times(
        self, days: np.ndarray, staffed: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Clock times for events on ``days`` (days since the start, as simulated), as
        (UTC, London wall clock) microseconds since 1970: office hours on weekdays where
        ``staffed`` (phone, face to face, webchat, letters), whole minutes as systems log
        them."""
        d = days.astype(np.int64)  # towards zero, as int() does
        weekday = (self._weekday0 + d) % 7
        d = d + np.where(staffed & (weekday >= 5), 7 - weekday, 0)
        u = rng.random(len(d))
        secs = np.where(
            staffed,
            (u * 600).astype(np.int64) * 60 + 8 * 3600,
            (u * 1020).astype(np.int64) * 60 + 6 * 3600,  # avoids the clock-change hour
        )
        local = self._start_us + d * 86_400_000_000 + secs * 1_000_000
        return local - self._offsets_us[d + 30], local


@cache
def _eligible(age: int) -> tuple[tuple[LifeEvent, ...], tuple[float, ...]]:
    """The life events open to a person of this age, and their cumulative weights."""
    eligible = tuple(e for e in LIFE_EVENTS if e.min_age <= age <= e.max_age)
    return eligible, tuple(itertools.accumulate(e.weight for e in eligible))


@cache
def _failure_kinds(org: str, pays: bool) -> tuple[tuple[FailureKind, ...], tuple[float, ...]]:
    """The failures a need at ``org`` can suffer, and their cumulative weights."""
    fits = tuple(f for f in FAILURES if org in f.cause_orgs and (pays or not f.needs_payment))
    return fits, tuple(itertools.accumulate(f.weight for f in fits))


_SERVICE_AT = {
    "benefits": "Universal Credit",
    "tax": "PAYE tax code",
    "council": "Customer services",
    "health": "GP practice",
}


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
