"""Shapley values of a cooperative game, exact for a few players and sampled above.

The Shapley value gives each player its marginal contribution averaged over every order
in which the coalition could form (Shapley, 1953). Exactly, that is a weighted sum over
all 2^n coalitions:

    phi_i = sum over S not containing i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))

which for 12 organisations is 4,096 coalitions: milliseconds with NumPy. Above the exact
limit, orders are drawn at random (Castro, Gómez and Tejada, 2009); every drawn order's
marginals sum to v(N), so the sampled split is still efficient.

Players are put in sorted order before anything is computed, so the split does not
depend on the order they were listed in, to the last bit.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import numpy as np

#: Above this many players the Shapley value is estimated from sampled orders.
EXACT_LIMIT = 12

Game = Callable[[frozenset[str]], float]


def _check(players: Sequence[str]) -> list[str]:
    order = sorted(players)
    if len(set(order)) != len(order):
        dup = sorted({p for p in order if order.count(p) > 1})
        raise ValueError(f"players must be distinct; repeated: {', '.join(dup)}")
    return order


def coalition_values(players: Sequence[str], game: Game) -> np.ndarray:
    """v(S) for every coalition S, indexed by bitmask over ``players`` (bit i = player i)."""
    n = len(players)
    values = np.empty(1 << n, dtype=np.float64)
    for mask in range(1 << n):
        members = frozenset(players[i] for i in range(n) if mask >> i & 1)
        values[mask] = game(members)
    return values


def shapley_exact(values: np.ndarray) -> np.ndarray:
    """Exact Shapley values from v over all 2^n bitmask coalitions."""
    size = values.shape[0]
    n = size.bit_length() - 1
    if size != 1 << n:
        raise ValueError(f"expected 2^n coalition values, got {size}")
    masks = np.arange(size, dtype=np.int64)
    popcount = np.zeros(size, dtype=np.int64)
    for i in range(n):
        popcount += (masks >> i) & 1
    # Weight of a coalition of size s that a further player joins: s! (n - s - 1)! / n!
    weight = np.array(
        [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
        if n
        else [],
        dtype=np.float64,
    )
    phi = np.empty(n, dtype=np.float64)
    for i in range(n):
        without = masks[((masks >> i) & 1) == 0]
        gain = values[without | (1 << i)] - values[without]
        phi[i] = float(np.dot(weight[popcount[without]], gain))
    return phi


def shapley_sampled(players: Sequence[str], game: Game, samples: int, seed: int) -> np.ndarray:
    """Shapley values estimated from ``samples`` random orders of the players."""
    n = len(players)
    rng = random.Random(seed)
    cache: dict[int, float] = {0: game(frozenset())}

    def v(mask: int) -> float:
        if mask not in cache:
            cache[mask] = game(frozenset(players[i] for i in range(n) if mask >> i & 1))
        return cache[mask]

    total = np.zeros(n, dtype=np.float64)
    order = list(range(n))
    for _ in range(samples):
        rng.shuffle(order)
        mask, before = 0, cache[0]
        for i in order:
            mask |= 1 << i
            after = v(mask)
            total[i] += after - before
            before = after
    return total / samples


def shapley(
    players: Sequence[str],
    game: Game,
    *,
    exact_limit: int = EXACT_LIMIT,
    samples: int = 5_000,
    seed: int = 0,
) -> dict[str, float]:
    """Each player's Shapley value in ``game`` (a function of a coalition, a frozenset of
    player names, with v(empty) = 0): exact up to ``exact_limit`` players, else sampled."""
    order = _check(players)
    if not order:
        return {}
    if len(order) <= exact_limit:
        phi = shapley_exact(coalition_values(order, game))
    else:
        phi = shapley_sampled(order, game, samples, seed)
    return {p: float(x) for p, x in zip(order, phi, strict=True)}


def pro_rata(benefit: dict[str, float], total: float) -> dict[str, float]:
    """``total`` shared in proportion to each player's (non-negative) benefit."""
    weights = {p: max(b, 0.0) for p, b in benefit.items()}
    base = sum(weights.values())
    if base <= 0:
        share = total / len(weights) if weights else 0.0
        return dict.fromkeys(weights, share)
    return {p: total * w / base for p, w in weights.items()}
