"""Audit entries from concurrent requests, written together (group commit).

Every view and data access is recorded in the workspace's audit log before it is
answered. :meth:`joinedup.governance.AuditLog.append` takes the log's file lock and
syncs the file to disk once per entry, so a busy service would answer no more requests
a second than the disk can sync. Here the requests that arrive while one batch is being
written wait together and go into the next batch: one lock, one write and one sync for
all of them, in the log's own format (the same hash chain, checked by
``joinedup audit verify``). Each request still returns only once its entry is on disk.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from joinedup.governance import AuditLog
from joinedup.governance._errors import AuditError


@dataclass
class _Pending:
    who: str
    what: str
    details: dict[str, Any]
    at: datetime
    #: Called from the writer's thread once the entry is on disk (or could not be).
    done: Callable[[], None]
    error: BaseException | None = field(default=None)


class GroupCommit:
    """Append entries to one audit log from many requests, a batch at a time.

    One thread writes: each time it finishes a batch, it takes every entry that arrived
    meanwhile as the next. Entries keep the order in which they arrived and the time at
    which they did. Threads wait with :meth:`append`, coroutines with
    :meth:`append_async` (without holding a thread while the disk syncs).
    """

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self._cond = threading.Condition()
        self._waiting: list[_Pending] = []
        self._writer: threading.Thread | None = None

    def append(self, who: str, what: str, details: dict[str, Any] | None = None) -> None:
        """Record an entry; return once it is on disk (raise if it could not be)."""
        written = threading.Event()
        mine = self._submit(who, what, details, written.set)
        written.wait()
        if mine.error is not None:
            raise mine.error

    async def append_async(
        self, who: str, what: str, details: dict[str, Any] | None = None
    ) -> None:
        """:meth:`append` for a coroutine."""
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()

        def finish() -> None:
            if not written.done():
                written.set_result(None)

        def done() -> None:
            loop.call_soon_threadsafe(finish)

        mine = self._submit(who, what, details, done)
        await written
        if mine.error is not None:
            raise mine.error

    def _submit(
        self, who: str, what: str, details: dict[str, Any] | None, done: Callable[[], None]
    ) -> _Pending:
        if not what:
            raise AuditError("an audit entry needs a 'what'")
        mine = _Pending(who, what, details or {}, datetime.now(UTC), done)
        with self._cond:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_batches, name="joinedup-audit", daemon=True
                )
                self._writer.start()
            self._waiting.append(mine)
            self._cond.notify()
        return mine

    def _write_batches(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    self._cond.wait()
                batch, self._waiting = self._waiting, []
            try:
                _write(self.log, batch)
            except Exception as exc:  # each request waiting on the batch raises it
                for p in batch:
                    p.error = exc
            for p in batch:
                p.done()


def _write(log: AuditLog, batch: list[_Pending]) -> None:
    """Append ``batch`` to the log as consecutive entries, with one sync."""
    log.append_many([(p.who, p.what, p.details, p.at) for p in batch])
