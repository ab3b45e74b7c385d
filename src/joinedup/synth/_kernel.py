"""The journey simulation's inner loop, compiled: people in, events out, as numbers.

``_journeys.py`` describes the world (life events, needs, failures, channels) and
numbers its values; this loop walks each person's life events and needs and appends one
row of codes per event to a float array. It follows the process the model describes
step by step, drawing from NumPy's Mersenne Twister as Numba compiles it, seeded per
batch. The loop was Python; compiled it costs about a hundredth as much, and a million
people make some twenty million events. Notes are written afterwards, in Python, from
the codes a contact row carries (see ``_journeys.Events``).
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from joinedup._numba import use_cache_beside

# Organisations, in ORGS order.
BENEFITS, TAX, COUNCIL, HEALTH = 0, 1, 2, 3
# Categories, in _notes.CATEGORIES order.
SERVICE, INFO, CHANGE, HELP, CHASE, ERROR, CLARIFY, REPEAT, MISROUTED, DUPLICATE = range(10)
COMPLAINT = 10
# Failures, in _config.FAILURES order.
LATE_PAYMENT, WRONG_TAX_CODE, LETTER_UNCLEAR, CHANGE_NOT_PASSED_ON = 0, 1, 2, 3
REFERRAL_LOST, WRONG_ORG, WRONG_DECISION, EVIDENCE_ASKED_AGAIN = 4, 5, 6, 7
# Channels, in _journeys.CHANNELS order.
PHONE, WEB, LETTER = 0, 1, 2
# Activities and outcomes of the organisations' own actions, in _journeys' lists.
EVIDENCE_RECEIVED, ACK, REVISED, DECIDED, PAID, CLOSED = 9, 10, 11, 12, 13, 14
SENT, REVISED_OUT, DECIDED_OUT, PAID_OUT, NEED_MET = 4, 5, 6, 7, 8

#: The columns of a failure's step (see _journeys.FAILURE_STEPS), and its places.
S_KNOCK, S_MORE, S_FROM_DECISION, S_LO, S_HI, S_CATEGORY, S_WHERE = 0, 1, 3, 4, 5, 6, 7
S_OTHER, S_FIRST_ACTIVITY = 8, 9
STEP_FIELDS = 10
OWN, ELSEWHERE, ANY_OTHER, COUNCIL_OR_BENEFITS = -1, -2, -3, -4

#: The columns of an event row.
F_ORG, F_PERSON, F_N, F_K, F_SERVICE, F_DAY, F_CHANNEL, F_ACTIVITY, F_IN = range(9)
F_OUTCOME, F_CATEGORY, F_CAUSED, F_FAILURE, F_LIFE, F_NEED, F_OTHER = range(9, 16)
F_DAYS, F_AMOUNT = 16, 17
FIELDS = 18
#: The most events one need can make (wrong organisation, evidence, four failure
#: contacts, complaint and five actions), with a margin.
_PER_NEED = 20

use_cache_beside(__file__)

_JIT: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}


@nb.njit(**_JIT)
def _bisect(cum: np.ndarray, x: float, n: int) -> int:
    """``bisect.bisect(cum, x, 0, n - 1)``: the first of the first ``n`` cumulative
    weights above ``x``, or the last."""
    i = 0
    while i < n - 1 and cum[i] <= x:
        i += 1
    return i


@nb.njit(**_JIT)
def _u() -> float:
    return np.random.random()


@nb.njit(**_JIT)
def _poisson(lam: float) -> int:
    # Knuth's method: fine for the small means used here.
    limit, k, p = np.exp(-lam), 0, 1.0
    while True:
        p *= _u()
        if p <= limit:
            return k
        k += 1


@nb.njit(**_JIT)
def _action(
    ev: np.ndarray, i: int, row: np.ndarray, at: float, activity: int, outcome: int, channel: int
) -> int:
    """The organisation's own action (direction out): ``row`` holds the need's columns."""
    ev[i, :] = row
    ev[i, F_DAY] = at
    ev[i, F_CHANNEL] = channel
    ev[i, F_ACTIVITY] = activity
    ev[i, F_IN] = 0
    ev[i, F_OUTCOME] = outcome
    return i + 1


@nb.njit(**_JIT)
def _contact(
    ev: np.ndarray,
    i: int,
    row: np.ndarray,
    w: tuple,  # the world's tables, as _journeys.World.tables() gives them
    low_digital: bool,
    t_first: float,
    at: float,
    category: int,
    where: int,
    caused: int,
    failure: int,
    other: int,
    activity: int,
) -> int:
    """A citizen's contact (direction in) at ``where``; -1 for caused, failure, other or
    activity means none given (other and activity are then drawn)."""
    mix, in_act, in_act_n, service_at, others, outcomes = w[6], w[7], w[8], w[9], w[10], w[11]
    if category in (CHASE, REPEAT) and _u() < 0.4:
        channel = PHONE  # people chase by phone
    else:
        cum = mix[2] if where == HEALTH else mix[1] if low_digital else mix[0]
        channel = _bisect(cum, _u(), 6)
    if other < 0:
        other = others[where, int(_u() * 3)]
    if activity < 0:
        activity = in_act[category, int(_u() * in_act_n[category])]
    outcome = outcomes[0 if caused < 0 else 1, int(_u() * 4)]
    ev[i, :] = row
    if where != row[F_ORG]:
        ev[i, F_SERVICE] = service_at[where]
    ev[i, F_ORG] = where
    ev[i, F_DAY] = at
    ev[i, F_CHANNEL] = channel
    ev[i, F_ACTIVITY] = activity
    ev[i, F_IN] = 1
    ev[i, F_OUTCOME] = outcome
    ev[i, F_CATEGORY] = category
    ev[i, F_CAUSED] = caused
    ev[i, F_FAILURE] = failure
    ev[i, F_OTHER] = other
    ev[i, F_DAYS] = max(1, int(at - t_first))  # int() truncates towards zero, as Python's
    return i + 1


@nb.njit(**_JIT)
def _failure(
    ev: np.ndarray,
    i: int,
    row: np.ndarray,
    w: tuple,
    low: bool,
    t_first: float,
    code: int,
    org: int,
    category: int,
    t: float,
    decided: float,
    knock_rate: float,
) -> tuple[int, float]:
    """Add a failure's contacts, as its steps describe them (see ``_journeys``); returns
    the next row and the time of the last contact (``t`` if none). A wrong organisation
    adds its contacts before the first contact (see ``_need``)."""
    others, steps = w[10], w[18]
    knock = _u() < knock_rate
    elsewhere = others[org, int(_u() * 3)]
    last = -np.inf
    for s in range(steps.shape[1]):
        step = steps[code, s]
        if step[S_CATEGORY] < 0:
            break
        if step[S_KNOCK] and not knock:
            continue
        count = 1
        for extra in (S_MORE, S_MORE + 1):
            if step[extra] > 0 and _u() < step[extra]:
                count += 1
        base = decided if step[S_FROM_DECISION] else t
        for _ in range(count):
            at = base + step[S_LO] + (step[S_HI] - step[S_LO]) * _u()
            last = max(last, at)
            where = int(step[S_WHERE])
            if where == OWN:
                where = org
            elif where == ELSEWHERE:
                where = elsewhere
            elif where == ANY_OTHER:
                where = others[org, int(_u() * 3)]
            elif where == COUNCIL_OR_BENEFITS:
                where = BENEFITS if org == COUNCIL else COUNCIL
            other = org if step[S_OTHER] == OWN else -1
            activity = w[7][category, 0] if step[S_FIRST_ACTIVITY] else -1
            kind = int(step[S_CATEGORY])
            i = _contact(ev, i, row, w, low, t_first, at, kind, where, org, code, other, activity)
    return i, (t if last == -np.inf else last)


@nb.njit(**_JIT)
def _need(
    ev: np.ndarray,
    i: int,
    row: np.ndarray,
    w: tuple,
    low: bool,
    p_fail: float,
    t_life: float,
    knock_rate: float,
    abandon_rate: float,
) -> tuple[int, bool]:
    """One need's events; returns the next row and whether the need failed."""
    need_org, need_category, need_pays = w[3], w[4], w[5]
    fail_cum, fail_code, fail_n = w[12], w[13], w[14]
    others = w[10]
    need = int(row[F_NEED])
    org, category, pays = need_org[need], need_category[need], need_pays[need]
    first_activity = w[7][category, 0]
    row[F_AMOUNT] = 20 + int(_u() * 1480)

    t = t_life + _u() * 10
    t_first = t
    failure = -1
    if _u() < p_fail:
        m = fail_n[org, pays]
        failure = fail_code[
            org, pays, _bisect(fail_cum[org, pays], _u() * fail_cum[org, pays, m - 1], m)
        ]

    if failure == WRONG_ORG:
        # Sent to the wrong organisation first, then sent back.
        wrong = others[org, int(_u() * 3)]
        t_first = t - (1 + 5 * _u())
        i = _contact(ev, i, row, w, low, t_first, t_first, MISROUTED, wrong, org, failure, org, -1)
        at = t - 0.8 * _u()
        i = _contact(
            ev, i, row, w, low, t_first, at, REPEAT, org, org, failure, wrong, first_activity
        )
    elif _u() < 0.25:
        t_first = t - (0.5 + 4.5 * _u())
        i = _contact(ev, i, row, w, low, t_first, t_first, INFO, org, -1, -1, -1, -1)

    i = _contact(ev, i, row, w, low, t_first, t, category, org, -1, -1, -1, first_activity)
    i = _action(ev, i, row, t + (0.1 + 1.9 * _u()), ACK, SENT, LETTER)
    if _u() < 0.3:
        at = t + (2 + 6 * _u())
        i = _contact(ev, i, row, w, low, t_first, at, SERVICE, org, -1, -1, -1, EVIDENCE_RECEIVED)
    decided = t + (6 + 24 * _u())
    paid = decided + (2 + 6 * _u()) if pays else -1.0
    last = paid if pays else decided

    if failure >= 0:
        i, when = _failure(
            ev, i, row, w, low, t_first, failure, org, category, t, decided, knock_rate
        )
        last = max(last, when)
        if failure == LATE_PAYMENT and pays:
            paid = last + (0.5 + 2.5 * _u())
            last = paid
        if failure == WRONG_DECISION:
            again = last + (3 + 17 * _u())
            i = _action(ev, i, row, again, REVISED, REVISED_OUT, LETTER)
            last = again
        if _u() < 0.12:
            last += 1 + 9 * _u()
            i = _contact(ev, i, row, w, low, t_first, last, COMPLAINT, org, org, failure, -1, -1)

    i = _action(ev, i, row, decided, DECIDED, DECIDED_OUT, LETTER)
    if pays:
        i = _action(ev, i, row, paid, PAID, PAID_OUT, WEB)
    if _u() >= abandon_rate:
        i = _action(ev, i, row, max(last, decided) + (1 + 6 * _u()), CLOSED, NEED_MET, WEB)
    return i, failure >= 0


@nb.njit(**_JIT)
def simulate(
    seed: int,
    age: np.ndarray,
    p_fail: np.ndarray,
    low_digital: np.ndarray,
    w: tuple,
    life_events: float,
    span_days: float,
    knock_rate: float,
    abandon_rate: float,
) -> tuple[np.ndarray, int, int]:
    """Every event of every person's journeys over the period, a row of codes each, in
    the order simulated; and how many needs there were and how many failed."""
    np.random.seed(seed)
    life_min, life_max, life_weight, need_org = w[0], w[1], w[2], w[3]
    life_need0, life_needs = w[15], w[16]
    n_life = life_min.shape[0]
    ev = np.empty((max(64, age.shape[0] * 24), FIELDS), dtype=np.float64)
    row = np.full(FIELDS, -1.0)
    cum = np.empty(n_life)
    pick = np.empty(n_life, dtype=np.int64)
    chosen = np.empty(8, dtype=np.int64)
    i = needs = failed = 0
    for person in range(age.shape[0]):
        # The life events open to a person of this age, and their cumulative weights.
        m, total = 0, 0.0
        for e in range(n_life):
            if life_min[e] <= age[person] <= life_max[e]:
                total += life_weight[e]
                cum[m] = total
                pick[m] = e
                m += 1
        for n in range(_poisson(life_events)):
            life = pick[_bisect(cum, _u() * total, m)]
            t0 = _u() * span_days
            k_needs = 0
            for j in range(life_needs[life]):
                if _u() < 0.8:
                    chosen[k_needs] = life_need0[life] + j
                    k_needs += 1
            if k_needs == 0:
                chosen[0] = life_need0[life]
                k_needs = 1
            for k in range(k_needs):
                if i + _PER_NEED > ev.shape[0]:
                    grown = np.empty((ev.shape[0] * 2, FIELDS), dtype=np.float64)
                    grown[:i] = ev[:i]
                    ev = grown
                need = chosen[k]
                row[:] = -1.0
                row[F_ORG] = need_org[need]
                row[F_PERSON] = person
                row[F_N] = n
                row[F_K] = k
                row[F_SERVICE] = w[17][need]
                row[F_LIFE] = life
                row[F_NEED] = need
                i, fails = _need(
                    ev, i, row, w, low_digital[person], p_fail[person], t0, knock_rate,
                    abandon_rate,
                )  # fmt: skip
                needs += 1
                failed += fails
    return ev[:i], needs, failed
