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

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from joinedup.governance import AuditLog
from joinedup.governance._audit import GENESIS, _canonical, _digest, _last_line, _locked
from joinedup.governance._errors import AuditError


@dataclass
class _Pending:
    who: str
    what: str
    details: dict[str, Any]
    at: datetime
    done: bool = False
    error: BaseException | None = field(default=None)


class GroupCommit:
    """Append entries to one audit log from many threads, a batch at a time.

    The first thread to find no batch being written writes every entry waiting (its own
    and those that arrived meanwhile); the others wait for it. Entries keep the order
    in which they arrived and the time at which they did.
    """

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self._cond = threading.Condition()
        self._waiting: list[_Pending] = []
        self._writing = False

    def append(self, who: str, what: str, details: dict[str, Any] | None = None) -> None:
        """Record an entry; return once it is on disk (raise if it could not be)."""
        if not what:
            raise AuditError("an audit entry needs a 'what'")
        mine = _Pending(who, what, details or {}, datetime.now(UTC))
        with self._cond:
            self._waiting.append(mine)
            while not mine.done and self._writing:
                self._cond.wait()
            if mine.done:
                if mine.error is not None:
                    raise mine.error
                return
            batch, self._waiting, self._writing = self._waiting, [], True
        try:
            _write(self.log, batch)
        except BaseException as exc:
            for p in batch:
                p.error = exc
        finally:
            with self._cond:
                for p in batch:
                    p.done = True
                self._writing = False
                self._cond.notify_all()
        if mine.error is not None:
            raise mine.error


def _write(log: AuditLog, batch: list[_Pending]) -> None:
    """Append ``batch`` to the log as consecutive entries with one sync (the steps of
    :meth:`AuditLog.append`, once for the whole batch)."""
    log.folder.mkdir(parents=True, exist_ok=True)
    with open(log.path, "a+b") as f, _locked(f):
        last = _last_line(f)
        if last is None:
            seq, prev = 1, GENESIS
        else:
            try:
                before = json.loads(last)
                seq, prev = int(before["seq"]) + 1, str(before["hash"])
            except (ValueError, KeyError, TypeError) as exc:
                raise AuditError(
                    f"{log.path}: the last line is not an audit entry; run "
                    "`joinedup audit verify` and restore the log before adding to it"
                ) from exc
        lines = []
        for p in batch:
            entry: dict[str, Any] = {
                "seq": seq,
                "at": p.at.isoformat(timespec="microseconds"),
                "who": p.who,
                "what": p.what,
                "details": json.loads(json.dumps(p.details, default=str)),
                "prev": prev,
            }
            entry["hash"] = prev = _digest(entry)
            lines.append(_canonical(entry) + b"\n")
            seq += 1
        f.seek(0, os.SEEK_END)
        f.write(b"".join(lines))
        f.flush()
        os.fsync(f.fileno())
        tmp = log.head_path.with_suffix(".head.tmp")
        tmp.write_text(json.dumps({"seq": seq - 1, "hash": prev}) + "\n")
        tmp.replace(log.head_path)
