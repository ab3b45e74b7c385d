"""Group commit of the web service's audit entries: many threads, one valid chain."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from joinedup.governance import AuditLog
from joinedup.governance._errors import AuditError
from joinedup.web import _audit
from joinedup.web._audit import GroupCommit


def test_concurrent_entries_form_one_valid_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(tmp_path)
    log.append("cli", "before")  # the batches continue a log written the usual way
    batches: list[int] = []
    write = _audit._write

    def counted(log: AuditLog, batch: list[_audit._Pending]) -> None:
        batches.append(len(batch))
        write(log, batch)

    monkeypatch.setattr(_audit, "_write", counted)
    journal = GroupCommit(log)
    start = threading.Barrier(16)

    def client(k: int) -> None:
        start.wait()
        for i in range(25):
            journal.append(f"user{k}", "web.view", {"i": i})

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.append("cli", "after")  # and the usual way goes on from them
    report = log.verify()
    assert report.ok, report.problems
    entries = list(log.entries())
    assert report.entries == len(entries) == 2 + 16 * 25 == sum(batches) + 2
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    # Each thread's entries are there once, in the order it made them.
    for k in range(16):
        assert [e.details["i"] for e in entries if e.who == f"user{k}"] == list(range(25))
    # Threads that arrived while a batch was written shared the next one.
    assert len(batches) < 16 * 25


def test_a_failed_write_is_raised_to_the_request(tmp_path: Path) -> None:
    (tmp_path / "audit.jsonl").write_text("not an entry\n")
    journal = GroupCommit(AuditLog(tmp_path))
    with pytest.raises(AuditError, match="not an audit entry"):
        journal.append("someone", "web.view", {})
    with pytest.raises(AuditError, match="needs a 'what'"):
        journal.append("someone", "", {})


def test_coroutines_and_threads_share_the_batches(tmp_path: Path) -> None:
    import asyncio

    log = AuditLog(tmp_path)
    journal = GroupCommit(log)

    async def many() -> None:
        await asyncio.gather(
            *(journal.append_async("async", "api.figures", {"i": i}) for i in range(40))
        )

    worker = threading.Thread(
        target=lambda: [journal.append("thread", "web.view", {"i": i}) for i in range(40)]
    )
    worker.start()
    asyncio.run(many())
    worker.join()
    assert log.verify().ok
    entries = list(log.entries())
    assert len(entries) == 80
    assert sorted(e.details["i"] for e in entries if e.who == "async") == list(range(40))
    assert [e.details["i"] for e in entries if e.who == "thread"] == list(range(40))
