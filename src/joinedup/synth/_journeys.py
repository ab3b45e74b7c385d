"""Life events, needs, and the contacts they produce, with failures of known cause.

A person's life events raise needs; each need is a small process at one organisation
(first contact, evidence, decision, payment, close). A failure, drawn at a rate that
depends on the person's group, adds failure demand at the organisation that caused it
and, often, at another one ("knock-on"): the cross-organisation cost joinedup measures.

The world is described here and numbered for the compiled loop in ``_kernel.py``, which
simulates a batch of people into rows of codes; ``Events`` turns those into text
columns and writes each contact's note.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from joinedup.synth import _kernel as k
from joinedup.synth._config import FAILURES, LIFE_EVENTS, ORG_DISPLAY, ORGS, SynthConfig
from joinedup.synth._identity import Identity, age_band, age_on
from joinedup.synth._notes import CATEGORIES
from joinedup.synth._notes_batch import Coded, NoteColumns, render_notes

_LONDON = ZoneInfo("Europe/London")

CHANNELS: tuple[str, ...] = ("phone", "web", "letter", "face_to_face", "webchat", "email")
# Channel mix by digital access; health is phone-heavy, as GP surgeries are.
_MIX_DIGITAL = (0.30, 0.34, 0.04, 0.08, 0.12, 0.12)
_MIX_LOW_DIGITAL = (0.56, 0.02, 0.18, 0.20, 0.01, 0.03)
_MIX_HEALTH = (0.60, 0.20, 0.02, 0.12, 0.02, 0.04)
#: Channels staffed in office hours (and letters, sent in them).
STAFFED: tuple[str, ...] = ("phone", "face_to_face", "webchat", "letter")

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
#: Every activity: the citizens' (first those of the first contacts), then the
#: organisations' own, in the order ``_kernel`` numbers them.
ACTIVITIES: tuple[str, ...] = (
    *dict.fromkeys(a for acts in _IN_ACTIVITY.values() for a in acts if a != "Evidence received"),
    "Evidence received",
    "Acknowledgement sent",
    "Decision revised",
    "Decision issued",
    "Payment made",
    "Case closed",
)
OUTCOMES: tuple[str, ...] = (
    "resolved",
    "pending",
    "referred",
    "escalated",
    "sent",
    "revised",
    "decided",
    "paid",
    "need met",
)
_VALUE_OUTCOMES = ("resolved", "resolved", "pending", "referred")
_FAILURE_OUTCOMES = ("resolved", "pending", "pending", "escalated")
_SERVICE_AT = {
    "benefits": "Universal Credit",
    "tax": "PAYE tax code",
    "council": "Customer services",
    "health": "GP practice",
}
_NEEDS = tuple(need for life in LIFE_EVENTS for need in life.needs)
_NEED_SERVICES: tuple[str, ...] = tuple(need.service for need in _NEEDS)
_NEED_THINGS: tuple[str, ...] = tuple(need.thing for need in _NEEDS)
SERVICES: tuple[str, ...] = tuple(
    dict.fromkeys([*(n.service for n in _NEEDS), *_SERVICE_AT.values()])
)
_FAILURE_CODES: tuple[str, ...] = tuple(f.code for f in FAILURES)
_FAILURE_CATEGORIES = frozenset(
    {"chase", "error", "clarify", "repeat", "misrouted", "duplicate", "complaint"}
)


@dataclass(frozen=True, slots=True)
class _Step:
    """Contacts a failure adds: ``category`` at ``where``, ``lo`` to ``hi`` days after
    the need's first contact (or its decision, ``from_decision``); one, then one more
    with each chance in ``more``; only when the failure knocks on to more contacts
    (``knock``). ``where`` is the organisation that caused the failure ("own"), one
    other organisation drawn once per failure ("elsewhere"), another drawn per contact
    ("any other"), "council or benefits" (the council, or benefits when the council
    caused it), or a named one; ``own_as_other`` names the causing organisation in the
    note, and ``first_activity`` logs the contact as the need's first one was."""

    category: str
    where: str
    lo: float
    hi: float
    from_decision: bool = False
    more: tuple[float, ...] = ()
    knock: bool = False
    own_as_other: bool = False
    first_activity: bool = False


def _knock(category: str, where: str, lo: float, hi: float, from_decision: bool = False) -> _Step:
    """The contact a failure knocks on to, naming the causing organisation."""
    return _Step(category, where, lo, hi, from_decision, knock=True, own_as_other=True)


#: The contacts each failure adds (a wrong organisation adds its own in ``_kernel``).
FAILURE_STEPS: dict[str, tuple[_Step, ...]] = {
    "late_payment": (
        _Step("chase", "own", 8, 35, True, (0.6, 0.3)),
        _knock("misrouted", "council or benefits", 10, 35, True),
    ),
    "wrong_tax_code": (
        _Step("error", "own", 3, 25, True, (0.5,)),
        _knock("error", "benefits", 10, 40, True),
    ),
    "letter_unclear": (
        _Step("clarify", "own", 1, 12, True, (0.4,)),
        _knock("clarify", "any other", 2, 15, True),
    ),
    "change_not_passed_on": (
        _Step("duplicate", "elsewhere", 5, 40, more=(0.5,), own_as_other=True),
        _knock("error", "elsewhere", 10, 50),
    ),
    "referral_lost": (
        _Step("repeat", "own", 10, 40, more=(0.5,), first_activity=True),
        _Step("chase", "own", 15, 45),
        _knock("repeat", "any other", 15, 50),
    ),
    "wrong_org": (),
    "wrong_decision": (
        _Step("error", "own", 1, 15, True, (0.5,)),
        _knock("chase", "any other", 5, 25, True),
    ),
    "evidence_asked_again": (
        _Step("duplicate", "own", 2, 12, more=(0.5,)),
        _knock("duplicate", "any other", 3, 15),
    ),
}
_WHERE = {
    "own": k.OWN,
    "elsewhere": k.ELSEWHERE,
    "any other": k.ANY_OTHER,
    "council or benefits": k.COUNCIL_OR_BENEFITS,
    **{org: i for i, org in enumerate(ORGS)},
}


def _steps() -> np.ndarray:
    """FAILURE_STEPS as ``_kernel._failure`` reads them; a category of -1 ends a list."""
    out = np.full((len(FAILURES), 4, k.STEP_FIELDS), -1.0)
    for f, failure in enumerate(FAILURES):
        for s, step in enumerate(FAILURE_STEPS[failure.code]):
            row = out[f, s]
            row[k.S_KNOCK] = step.knock
            row[k.S_MORE : k.S_MORE + 2] = [*step.more, 0, 0][:2]
            row[k.S_FROM_DECISION] = step.from_decision
            row[k.S_LO], row[k.S_HI] = step.lo, step.hi
            row[k.S_CATEGORY] = CATEGORIES.index(step.category)
            row[k.S_WHERE] = _WHERE[step.where]
            row[k.S_OTHER] = k.OWN if step.own_as_other else -9
            row[k.S_FIRST_ACTIVITY] = step.first_activity
    return out


def _check_numbering() -> None:
    """The codes ``_kernel`` names must match the lists here."""
    expected = {
        (CATEGORIES, "misrouted"): k.MISROUTED,
        (CATEGORIES, "complaint"): k.COMPLAINT,
        (ORGS, "health"): k.HEALTH,
        (ORGS, "council"): k.COUNCIL,
        (_FAILURE_CODES, "wrong_org"): k.WRONG_ORG,
        (_FAILURE_CODES, "evidence_asked_again"): k.EVIDENCE_ASKED_AGAIN,
        (CHANNELS, "letter"): k.LETTER,
        (ACTIVITIES, "Evidence received"): k.EVIDENCE_RECEIVED,
        (ACTIVITIES, "Case closed"): k.CLOSED,
        (OUTCOMES, "sent"): k.SENT,
        (OUTCOMES, "need met"): k.NEED_MET,
    }
    for (names, name), code in expected.items():
        if names.index(name) != code:
            raise AssertionError(f"{name!r} is numbered {names.index(name)}, not {code}")


_check_numbering()


def _world() -> tuple[np.ndarray, ...]:
    """The world as ``_kernel.simulate`` takes it: a tuple of arrays (see there)."""
    i64, f64 = np.int64, np.float64
    need0 = list(itertools.accumulate((len(e.needs) for e in LIFE_EVENTS), initial=0))[:-1]
    acts = [[ACTIVITIES.index(a) for a in _IN_ACTIVITY[c]] for c in CATEGORIES]
    fail_cum = np.zeros((len(ORGS), 2, len(FAILURES)), f64)
    fail_code = np.zeros((len(ORGS), 2, len(FAILURES)), i64)
    fail_n = np.zeros((len(ORGS), 2), i64)
    for o, org in enumerate(ORGS):
        for pays in (0, 1):
            fits = [
                j
                for j, f in enumerate(FAILURES)
                if org in f.cause_orgs and (pays or not f.needs_payment)
            ]
            fail_n[o, pays] = len(fits)
            fail_code[o, pays, : len(fits)] = fits
            fail_cum[o, pays, : len(fits)] = list(
                itertools.accumulate(FAILURES[j].weight for j in fits)
            )
    return (
        np.array([e.min_age for e in LIFE_EVENTS], i64),
        np.array([e.max_age for e in LIFE_EVENTS], i64),
        np.array([e.weight for e in LIFE_EVENTS], f64),
        np.array([ORGS.index(n.org) for n in _NEEDS], i64),
        np.array([CATEGORIES.index(n.category) for n in _NEEDS], i64),
        np.array([int(n.pays) for n in _NEEDS], i64),
        np.array(
            [list(itertools.accumulate(m)) for m in (_MIX_DIGITAL, _MIX_LOW_DIGITAL, _MIX_HEALTH)],
            f64,
        ),
        np.array([a + [a[0]] * (3 - len(a)) for a in acts], i64),
        np.array([len(a) for a in acts], i64),
        np.array([SERVICES.index(_SERVICE_AT[o]) for o in ORGS], i64),
        np.array([[ORGS.index(x) for x in ORGS if x != o] for o in ORGS], i64),
        np.array(
            [[OUTCOMES.index(x) for x in o] for o in (_VALUE_OUTCOMES, _FAILURE_OUTCOMES)], i64
        ),
        fail_cum,
        fail_code,
        fail_n,
        np.array(need0, i64),
        np.array([len(e.needs) for e in LIFE_EVENTS], i64),
        np.array([SERVICES.index(n.service) for n in _NEEDS], i64),
        _steps(),
    )


_WORLD = _world()


@dataclass(frozen=True, slots=True)
class Groups:
    """The groups a person belongs to, for fairness findings."""

    age_band: str
    disability: bool
    low_digital: bool


def draw_groups(g: np.random.Generator, people: list[Identity], cfg: SynthConfig) -> list[Groups]:
    """Age band, disability and digital access for each person."""
    age = np.array([age_on(w.date_of_birth, cfg.start) for w in people], np.int64)
    old = age >= 65
    disability = g.random(len(people)) < cfg.disability_rate * np.where(old, 1.6, 0.85)
    low_rate = np.where(old, cfg.low_digital_rate_65_plus, cfg.low_digital_rate)
    low_digital = g.random(len(people)) < low_rate * np.where(disability, 1.5, 1.0)
    return [
        Groups(age_band(a), d, lo)
        for a, d, lo in zip(age.tolist(), disability.tolist(), low_digital.tolist(), strict=True)
    ]


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


class JourneySimulator:
    """Turns a batch of people into their life events, needs and events."""

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

    def simulate(self, seed: int, people: list[tuple[Identity, Groups]]) -> Events:
        """Every event of these people's journeys over the period, in no particular
        order, from a generator seeded with ``seed`` (32 bits)."""
        cfg = self.cfg
        age = np.array([age_on(w.date_of_birth, cfg.start) for w, _ in people], np.int64)
        p_fail = np.array(
            [min(1.0, self.fail_p * multiplier(g, cfg) / self.mean_multiplier) for _, g in people],
            np.float64,
        )
        low = np.array([g.low_digital for _, g in people], np.bool_)
        rows, needs, failed = k.simulate(
            seed, age, p_fail, low, _WORLD, cfg.life_events_per_person, float(self.span_days),
            cfg.knock_on_rate, cfg.abandon_rate,
        )  # fmt: skip
        self.needs += needs
        self.failure_incidents += failed
        return Events(rows)

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


def _decode(codes: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    """Codes as their names; -1 as null."""
    index = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.array(names, pa.string()).take(index)


_STAFFED_CODES = np.array([c in STAFFED for c in CHANNELS])
_DIRECTIONS = pa.array(["out", "in"], pa.string())  # by whether an event is inbound
_DISPLAY: tuple[str, ...] = tuple(ORG_DISPLAY[o] for o in ORGS)
_PHRASES: tuple[str, ...] = tuple(e.phrase for e in LIFE_EVENTS)
_LIFE_CODES: tuple[str, ...] = tuple(e.code for e in LIFE_EVENTS)


class Events:
    """A batch's events as the compiled loop made them: a row of codes each."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, rows: np.ndarray) -> Events:
        """These events at ``rows``."""
        return Events(self.rows[rows])

    @property
    def orgs(self) -> np.ndarray:
        """Where each event happens, numbered in ORGS order."""
        return self.column(k.F_ORG)

    def need_keys(self) -> np.ndarray:
        """A number for each event's need, the same for all events of one need."""
        c = self.column
        return (c(k.F_PERSON) * 1024 + c(k.F_N)) * 8 + c(k.F_K)

    def column(self, field: int) -> np.ndarray:
        """One column of codes, as integers."""
        return self.rows[:, field].astype(np.int64)

    @property
    def days(self) -> np.ndarray:
        """When each event happens, in days since the start of the period."""
        return self.rows[:, k.F_DAY]

    @property
    def inbound(self) -> np.ndarray:
        """Which events are citizens' contacts."""
        return self.rows[:, k.F_IN] == 1

    @property
    def failure_demand(self) -> np.ndarray:
        """Which events are contacts caused by a failure."""
        return self.inbound & (self.rows[:, k.F_CAUSED] >= 0)

    @property
    def staffed(self) -> np.ndarray:
        """Which events happen in office hours: the organisations' own, and contacts by
        a staffed channel."""
        return ~self.inbound | _STAFFED_CODES[self.column(k.F_CHANNEL)]

    def notes(self, g: np.random.Generator, typos: random.Random) -> pa.Array:
        """Each contact's note (null for the organisations' own actions): choices drawn
        from ``g``, typos from ``typos``."""
        contacts = self.rows[self.inbound]
        if not len(contacts):
            return pa.nulls(len(self.rows), pa.string())

        def text(field: int, names: tuple[str, ...]) -> Coded:
            return Coded(contacts[:, field].astype(np.intp), names)

        need = contacts[:, k.F_NEED].astype(np.intp)
        cols = NoteColumns(
            org=text(k.F_ORG, _DISPLAY),
            service=Coded(need, _NEED_SERVICES),
            thing=Coded(need, _NEED_THINGS),
            other_org=text(k.F_OTHER, _DISPLAY),
            life_event=text(k.F_LIFE, _PHRASES),
            days=contacts[:, k.F_DAYS].astype(np.int64),
            amount=contacts[:, k.F_AMOUNT].astype(np.int64),
            channel=text(k.F_CHANNEL, CHANNELS),
        )
        notes = render_notes(g, typos, text(k.F_CATEGORY, CATEGORIES), cols)
        out = np.full(len(self.rows), None, dtype=object)
        out[self.inbound] = notes
        return pa.array(out, pa.string())

    def table(
        self, person_ids: pa.Array, notes: pa.Array, utc: np.ndarray, local: np.ndarray
    ) -> pa.Table:
        """The events as text columns, in the order simulated, with their truth."""
        c = self.column
        person = pa.array(c(k.F_PERSON).astype(np.int32))
        pid = person_ids.take(person)
        n_str = pa.array(c(k.F_N)).cast(pa.string())
        k_str = pa.array(c(k.F_K)).cast(pa.string())
        category = _decode(c(k.F_CATEGORY), CATEGORIES)
        failure_demand = pc.is_in(category, pa.array(sorted(_FAILURE_CATEGORIES)))
        demand_type = pc.if_else(
            pc.is_valid(category),
            pc.if_else(failure_demand, pa.scalar("failure"), pa.scalar("value")),
            pa.scalar(None, pa.string()),
        )
        caused = c(k.F_CAUSED)
        return pa.table(
            {
                "org": _decode(c(k.F_ORG), ORGS),
                "person": person,
                "person_id": pid,
                "need_id": pc.binary_join_element_wise(pid, n_str, k_str, "-"),
                "service": _decode(c(k.F_SERVICE), SERVICES),
                "utc": pa.array(utc, pa.timestamp("us", tz="UTC")),
                "local": pa.array(local, pa.timestamp("us")),
                "channel": _decode(c(k.F_CHANNEL), CHANNELS),
                "activity": _decode(c(k.F_ACTIVITY), ACTIVITIES),
                "direction": _DIRECTIONS.take(pa.array(self.inbound.astype(np.int8))),
                "outcome": _decode(c(k.F_OUTCOME), OUTCOMES),
                "note": notes,
                "category": category,
                "caused_by": _decode(caused, ORGS),
                "failure": _decode(c(k.F_FAILURE), _FAILURE_CODES),
                "life_event": _decode(c(k.F_LIFE), _LIFE_CODES),
                "demand_type": demand_type,
            }
        )


def _utc_offset(when: datetime) -> int:
    offset = when.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, 1)
