"""A rate limit on failed logins: a sliding window of failures per key."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from joinedup.governance._errors import RateLimited

__all__ = ["LoginRateLimiter"]


class LoginRateLimiter:
    """Refuse a key (a username, an address, or both) after ``max_failures`` failed
    attempts within ``window`` seconds, until the oldest of them leaves the window.

    In memory and thread-safe: one instance serves one process (the web service keeps
    one; several worker processes each keep their own, which multiplies the allowance by
    the number of workers). A success clears the key's failures.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 15 * 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window <= 0:
            raise ValueError("max_failures must be at least 1 and window positive")
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def check(self, key: str) -> None:
        """Raise :class:`RateLimited` if ``key`` may not try now."""
        with self._lock:
            now = self._clock()
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                wait = times[0] + self.window - now
                raise RateLimited(
                    f"too many failed logins for {key}: try again in {int(wait) + 1} s",
                    retry_after=wait,
                )

    def failure(self, key: str) -> None:
        """Record a failed attempt."""
        with self._lock:
            now = self._clock()
            self._recent(key, now).append(now)

    def success(self, key: str) -> None:
        """Forget a key's failures after it succeeds."""
        with self._lock:
            self._failures.pop(key, None)
