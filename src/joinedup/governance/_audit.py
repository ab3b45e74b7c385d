"""The audit log: who did what, when, in a file where any change shows.

Each line of ``<workspace>/audit.jsonl`` is one JSON entry: its sequence number, the time
(UTC), who, what, details, the hash of the entry before it and its own hash, the SHA-256
of its canonical JSON (sorted keys, no spaces, UTF-8) without the ``hash`` key. Editing a
line breaks its hash; deleting, inserting or moving lines breaks the chain of ``prev``
hashes and the sequence numbers. Removing lines from the end leaves a valid chain, so the
number and hash of the last entry are also kept in ``audit.head`` beside the log; copy
the head that ``joinedup audit verify`` prints somewhere else (a ticket, an email) to
detect someone who rewrites both files.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from joinedup.governance._errors import AuditError

try:  # POSIX: serialise appends from several processes (CLI, web workers)
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer at a time is assumed
    fcntl = None  # type: ignore[assignment]

__all__ = ["AuditEntry", "AuditLog", "AuditProblem", "AuditReport"]

LOG_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
GENESIS = "0" * 64


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def _digest(entry: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the log."""

    seq: int
    at: datetime
    who: str
    what: str
    details: dict[str, Any]
    prev: str
    hash: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditEntry:
        return cls(
            seq=int(data["seq"]),
            at=datetime.fromisoformat(data["at"]),
            who=str(data["who"]),
            what=str(data["what"]),
            details=dict(data.get("details") or {}),
            prev=str(data["prev"]),
            hash=str(data["hash"]),
        )


@dataclass(frozen=True)
class AuditProblem:
    """Where the log stops being trustworthy, and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class AuditReport:
    """The outcome of :meth:`AuditLog.verify`."""

    entries: int
    head: str
    problems: list[AuditProblem]

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    """The append-only, hash-chained audit log of one workspace folder."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOG_FILE
        self.head_path = self.folder / HEAD_FILE

    def append(
        self, who: str | None, what: str, details: dict[str, Any] | None = None
    ) -> AuditEntry:
        """Add an entry; ``who`` defaults to the operating-system user."""
        return self.append_many([(who, what, details, None)])[0]

    def append_many(
        self, batch: Sequence[tuple[str | None, str, dict[str, Any] | None, datetime | None]]
    ) -> list[AuditEntry]:
        """Add ``(who, what, details, at)`` entries as consecutive lines, under one lock
        and with one sync; ``at`` defaults to now, ``who`` to the operating-system user."""
        if any(not what for _, what, _, _ in batch):
            raise AuditError("an audit entry needs a 'what'")
        if not batch:
            return []
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as f, _locked(f):
            last = _last_line(f)
            if last is None:
                seq, prev = 1, GENESIS
            else:
                try:
                    before = json.loads(last)
                    seq, prev = int(before["seq"]) + 1, str(before["hash"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise AuditError(
                        f"{self.path}: the last line is not an audit entry; run "
                        "`joinedup audit verify` and restore the log before adding to it"
                    ) from exc
            entries: list[dict[str, Any]] = []
            for who, what, details, at in batch:
                entry: dict[str, Any] = {
                    "seq": seq,
                    "at": (at or datetime.now(UTC)).isoformat(timespec="microseconds"),
                    "who": who or _os_user(),
                    "what": what,
                    "details": json.loads(json.dumps(details or {}, default=str)),
                    "prev": prev,
                }
                entry["hash"] = prev = _digest(entry)
                entries.append(entry)
                seq += 1
            f.seek(0, os.SEEK_END)
            f.write(b"".join(_canonical(e) + b"\n" for e in entries))
            f.flush()
            os.fsync(f.fileno())
            tmp = self.head_path.with_suffix(".head.tmp")
            tmp.write_text(json.dumps({"seq": seq - 1, "hash": prev}) + "\n")
            tmp.replace(self.head_path)
        return [AuditEntry.from_json(e) for e in entries]

    def entries(
        self,
        *,
        who: str | None = None,
        what: str | None = None,
        since: datetime | None = None,
    ) -> Iterator[AuditEntry]:
        """Entries in order, optionally only one user's, one kind (``what`` or its
        dotted prefix: ``login`` matches ``login.failed``) or from a time on."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    e = AuditEntry.from_json(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    raise AuditError(f"{self.path}, line {n}: not an audit entry") from exc
                if who is not None and e.who != who:
                    continue
                if what is not None and not (e.what == what or e.what.startswith(what + ".")):
                    continue
                if since is not None and e.at < since:
                    continue
                yield e

    def verify(self) -> AuditReport:
        """Check every hash and link of the chain; report each line where it breaks."""
        problems: list[AuditProblem] = []
        prev, expected, count, last_hash = GENESIS, 1, 0, GENESIS
        lines = self.path.read_bytes().split(b"\n") if self.path.exists() else []
        if lines and lines[-1] == b"":
            lines.pop()
        where: dict[int, list[int]] = {}  # entry number -> lines holding it
        for n, raw in enumerate(lines, 1):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                where.setdefault(int(json.loads(raw)["seq"]), []).append(n)
        for n, raw in enumerate(lines, 1):
            try:
                data = json.loads(raw)
                seq, stored, linked = int(data["seq"]), str(data["hash"]), str(data["prev"])
            except (ValueError, KeyError, TypeError):
                problems.append(AuditProblem(n, "not a valid audit entry (edited or damaged)"))
                prev, expected = "?", expected + 1
                continue
            count += 1
            first = where.get(seq, [n])[0]
            if first != n and _digest(data) == stored:
                problems.append(
                    AuditProblem(n, f"entry {seq} appears again: a copy of line {first}")
                )
                continue  # judge the next line against the entry before the copy
            if _digest(data) != stored:
                problems.append(
                    AuditProblem(
                        n, f"entry {seq} was edited: its content no longer matches its hash"
                    )
                )
            if linked != prev and prev != "?":
                why = _why_unlinked(seq, expected, n, where)
                after = f"follow line {n - 1}" if n > 1 else "start the log"
                problems.append(AuditProblem(n, f"does not {after}: {why}"))
            elif seq != expected and prev != "?":
                problems.append(
                    AuditProblem(n, f"holds entry {seq} where entry {expected} was expected")
                )
            prev, expected, last_hash = stored, seq + 1, stored
        head = self._head()
        if head is not None:
            head_seq, head_hash = head
            if head_seq > expected - 1:
                problems.append(
                    AuditProblem(
                        len(lines) + 1,
                        f"the log ends at entry {expected - 1} but {HEAD_FILE} records "
                        f"{head_seq}: entries were removed from the end",
                    )
                )
            elif head_seq < expected - 1:
                problems.append(
                    AuditProblem(
                        len(lines),
                        f"{HEAD_FILE} records entry {head_seq} as the last, but the log goes on "
                        f"to {expected - 1}: entries were added by something other than joinedup",
                    )
                )
            elif head_hash != last_hash:
                problems.append(
                    AuditProblem(len(lines), f"the last entry does not match {HEAD_FILE}")
                )
        elif lines:
            problems.append(AuditProblem(len(lines), f"{HEAD_FILE} is missing beside the log"))
        return AuditReport(entries=count, head=last_hash, problems=problems)

    def _head(self) -> tuple[int, str] | None:
        if not self.head_path.exists():
            return None
        try:
            data = json.loads(self.head_path.read_text())
            return int(data["seq"]), str(data["hash"])
        except (ValueError, KeyError, TypeError):
            return (-1, "")


def _why_unlinked(seq: int, expected: int, line: int, where: dict[int, list[int]]) -> str:
    """Why entry ``seq`` on ``line`` does not link to the line before it."""
    if seq > expected:
        parts = []
        for s in range(expected, seq):
            elsewhere = [x for x in where.get(s, []) if x != line]
            parts.append(
                f"entry {s} is on line {elsewhere[0]} instead (lines were moved)"
                if elsewhere
                else f"entry {s} is missing (deleted)"
            )
        return "; ".join(parts[:3]) + ("; …" if len(parts) > 3 else "")
    if seq < expected:
        return f"entry {seq} is out of order (lines were moved)"
    return "its link to the line before is broken (an entry was replaced)"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


@contextlib.contextmanager
def _locked(f: IO[bytes]) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _last_line(f: IO[bytes]) -> bytes | None:
    """The last non-empty line of a file, read from the end."""
    end = f.seek(0, os.SEEK_END)
    if end == 0:
        return None
    block, buf, pos = 4096, b"", end
    while pos > 0:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        buf = f.read(step) + buf
        stripped = buf.rstrip(b"\n")
        if b"\n" in stripped or pos == 0:
            return stripped.rsplit(b"\n", 1)[-1] or None
    return None
