"""The audit log: appends chain by hash; every kind of tampering is found and located."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from joinedup.governance import AuditError, AuditLog


def filled(tmp_path: Path, n: int = 5) -> AuditLog:
    log = AuditLog(tmp_path)
    for i in range(n):
        log.append(f"user{i % 2}", "run" if i % 2 else "login", {"i": i})
    return log


def lines(log: AuditLog) -> list[str]:
    return log.path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_entries_chain_and_verify(tmp_path: Path) -> None:
    log = filled(tmp_path)
    got = list(log.entries())
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert got[0].prev == "0" * 64
    assert all(b.prev == a.hash for a, b in itertools.pairwise(got))
    report = log.verify()
    assert report.ok and report.entries == 5 and report.head == got[-1].hash


def test_empty_log_verifies(tmp_path: Path) -> None:
    report = AuditLog(tmp_path).verify()
    assert report.ok and report.entries == 0


def test_an_edited_line_is_found(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    text[2] = text[2].replace('"who":"user0"', '"who":"mallory"')
    log.path.write_text("".join(text), encoding="utf-8")
    report = log.verify()
    assert not report.ok
    assert [p.line for p in report.problems] == [3]
    assert "edited" in str(report.problems[0])


def test_an_edit_that_also_fixes_the_hash_breaks_the_next_link(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    data = json.loads(text[1])
    data["details"] = {"i": 99}
    from joinedup.governance._audit import _canonical, _digest

    data["hash"] = _digest(data)
    text[1] = _canonical(data).decode() + "\n"
    log.path.write_text("".join(text), encoding="utf-8")
    report = log.verify()
    assert [p.line for p in report.problems] == [3]
    assert "does not follow line 2" in str(report.problems[0])


def test_a_deleted_line_is_found(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    del text[2]
    log.path.write_text("".join(text), encoding="utf-8")
    report = log.verify()
    assert [p.line for p in report.problems] == [3]
    assert "entry 3 is missing" in str(report.problems[0])


def test_a_deleted_last_line_is_found_through_the_head(tmp_path: Path) -> None:
    log = filled(tmp_path)
    log.path.write_text("".join(lines(log)[:-1]), encoding="utf-8")
    report = log.verify()
    assert not report.ok
    assert "removed from the end" in str(report.problems[0])


def test_reordered_lines_are_found(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    text[1], text[2] = text[2], text[1]
    log.path.write_text("".join(text), encoding="utf-8")
    report = log.verify()
    assert report.problems[0].line == 2
    assert "moved" in str(report.problems[0])
    assert any("out of order" in str(p) for p in report.problems)


def test_garbage_line_is_found(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    text[0] = "not json\n"
    log.path.write_text("".join(text), encoding="utf-8")
    assert log.verify().problems[0].line == 1


def test_appending_after_a_damaged_last_line_is_refused(tmp_path: Path) -> None:
    log = filled(tmp_path, 2)
    with open(log.path, "a", encoding="utf-8") as f:
        f.write("oops\n")
    with pytest.raises(AuditError, match="last line is not an audit entry"):
        log.append("x", "run")


def test_filters(tmp_path: Path) -> None:
    log = filled(tmp_path)
    log.append("ana", "login.failed", {"ip": "10.0.0.1"})
    assert [e.seq for e in log.entries(who="user1")] == [2, 4]
    assert [e.what for e in log.entries(what="login")] == [
        "login",
        "login",
        "login",
        "login.failed",
    ]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert list(log.entries(since=future)) == []
    assert len(list(log.entries(since=datetime(2000, 1, 1)))) == 6


def test_who_defaults_to_the_os_user(tmp_path: Path) -> None:
    entry = AuditLog(tmp_path).append(None, "run")
    assert entry.who


def test_details_are_kept_as_json(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.append("a", "export", {"path": Path("/x/y.csv"), "when": datetime(2026, 1, 1)})
    [e] = list(log.entries())
    assert e.details == {"path": "/x/y.csv", "when": "2026-01-01 00:00:00"}
    assert log.verify().ok


def test_a_copied_line_is_found(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    text.insert(3, text[1])
    log.path.write_text("".join(text), encoding="utf-8")
    [problem] = log.verify().problems
    assert problem.line == 4 and "copy of line 2" in str(problem)


def test_deleting_the_first_line_is_found(tmp_path: Path) -> None:
    log = filled(tmp_path)
    log.path.write_text("".join(lines(log)[1:]), encoding="utf-8")
    [problem] = log.verify().problems
    assert problem.line == 1 and "entry 1 is missing" in str(problem)


def test_moved_lines_are_described_as_moved(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    text[1], text[2] = text[2], text[1]
    log.path.write_text("".join(text), encoding="utf-8")
    problems = log.verify().problems
    assert "entry 2 is on line 3 instead" in str(problems[0])
    assert all("moved" in str(p) for p in problems)
