"""The dashboard views computed before anyone asks for them.

The first view of a filter combination is computed from the workspace's tables, which
takes seconds at 50,000 people and grows with the workspace. The views every service is
asked for first (the whole workspace, each organisation) are therefore computed in one
background thread when the service starts, saying how far it has got, and again after
the workspace changes under the service (a label correction). A request for a view
being computed waits for that computation rather than starting another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")


class Warmer(Generic[K]):
    """Computes ``wanted`` views (name, key) in order, in a daemon thread, skipping those
    already kept; ``progress`` is told before, after each view, and of any failure (the
    view is then computed, or fails, for its first visitor as it would without this)."""

    def __init__(
        self,
        wanted: Sequence[tuple[str, K]],
        compute: Callable[[K], object],
        kept: Callable[[K], bool],
        progress: Callable[[str], None],
    ) -> None:
        self.wanted = list(wanted)
        self._compute, self._kept, self._progress = compute, kept, progress
        self._due = threading.Event()
        self._stop = threading.Event()
        self._not_before = 0.0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: Set whenever the thread has nothing left to do (for tests and benchmarks).
        self.idle = threading.Event()
        self.idle.set()

    def start(self) -> None:
        """Begin now."""
        self.changed(0.0)

    def changed(self, settle: float) -> None:
        """The workspace changed: compute the views again once it has not changed for
        ``settle`` seconds."""
        with self._lock:
            self._not_before = time.monotonic() + settle
            self.idle.clear()
            self._due.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="joinedup-warm", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Stop after the view being computed (a query cannot be interrupted)."""
        self._stop.set()
        self._due.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._due.wait()
            while not self._stop.is_set():
                wait = self._not_before - time.monotonic()
                if wait <= 0:
                    break
                self._stop.wait(wait)
            self._due.clear()
            if self._stop.is_set():
                break
            self._round()
            with self._lock:
                if not self._due.is_set():
                    self.idle.set()

    def _round(self) -> None:
        todo = [(name, key) for name, key in self.wanted if not self._kept(key)]
        if not todo:
            return
        names = ", ".join(name for name, _ in todo)
        self._progress(f"computing {len(todo)} dashboard views in the background: {names}")
        began = time.perf_counter()
        for i, (name, key) in enumerate(todo, 1):
            if self._stop.is_set() or self._due.is_set():
                return  # stopping, or the workspace changed again: start over later
            start = time.perf_counter()
            try:
                self._compute(key)
            except Exception as exc:  # told, and left to the view's first visitor
                self._progress(f"view {i}/{len(todo)} ({name}) failed: {exc}")
                continue
            took = time.perf_counter() - start
            self._progress(f"view {i}/{len(todo)} ({name}) ready in {took:.1f} s")
        self._progress(f"dashboard views ready in {time.perf_counter() - began:.1f} s")
