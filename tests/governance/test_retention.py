"""Retention: data past the agreement's period is found, removed, counted and logged."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from joinedup.governance import AuditLog, load_agreement, purge
from joinedup.model import DEMAND, EPISODE_EVENTS, EPISODES
from joinedup.workspace import Workspace

NOW = datetime(2026, 7, 1, tzinfo=UTC)  # council keeps 365 days, the others 730


@pytest.fixture
def ws_dir(loaded_workspace_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    shutil.copytree(loaded_workspace_dir, path)
    return path


def _scalar(ws: Workspace, sql: str) -> int:
    return int(ws.engine.to_arrow(ws.engine.sql(sql)).column(0)[0].as_py())


def _add_derived(ws: Workspace) -> tuple[str, str]:
    """One old council event and one recent one, classified and put in episodes."""
    old = (
        ws.engine.to_arrow(
            ws.engine.sql(
                "SELECT event_id FROM events WHERE org = 'council' ORDER BY occurred_at LIMIT 1"
            )
        )
        .column(0)[0]
        .as_py()
    )
    new = (
        ws.engine.to_arrow(
            ws.engine.sql(
                "SELECT event_id FROM events WHERE org = 'council' "
                "ORDER BY occurred_at DESC LIMIT 1"
            )
        )
        .column(0)[0]
        .as_py()
    )
    ws.engine.write(
        "demand",
        pa.Table.from_pylist(
            [{"event_id": e, "demand_type": "failure", "category": "chase"} for e in (old, new)],
            schema=DEMAND,
        ),
    )
    ws.engine.write(
        "episode_events",
        pa.Table.from_pylist(
            [
                {"event_id": old, "episode_id": "ep-old", "person_id": "p1", "position": 1},
                {"event_id": new, "episode_id": "ep-new", "person_id": "p1", "position": 1},
            ],
            schema=EPISODE_EVENTS,
        ),
    )
    ws.engine.write(
        "episodes",
        pa.Table.from_pylist(
            [
                {"episode_id": "ep-old", "person_id": "p1"},
                {"episode_id": "ep-new", "person_id": "p1"},
            ],
            schema=EPISODES,
        ),
    )
    return old, new


def test_dry_run_flags_without_removing(ws_dir: Path, agreement_path: Path) -> None:
    a = load_agreement(agreement_path)
    with Workspace(ws_dir, create=False) as ws:
        before = ws.count("events")
        res = purge(ws, a, now=NOW, dry_run=True)
        assert ws.count("events") == before
        assert set(res.removed["events"]) == {"council"}
        assert res.removed["events"]["council"] > 0
        assert not any(r["command"] == "retention purge" for r in ws.runs())


def test_purge_removes_old_events_and_what_hangs_off_them(
    ws_dir: Path, agreement_path: Path, tmp_path: Path
) -> None:
    a = load_agreement(agreement_path)
    log = AuditLog(tmp_path / "audit")
    with Workspace(ws_dir, create=False) as ws:
        _old, new = _add_derived(ws)
        people_before = ws.count("people")
        planned = purge(ws, a, now=NOW, dry_run=True)
        res = purge(ws, a, now=NOW, audit=log, who="dpo")
        assert res.removed == planned.removed | {"episodes": res.removed["episodes"]}
        cutoff = a.retention_cutoff("council", NOW)
        assert (
            _scalar(
                ws,
                f"SELECT count(*) FROM events WHERE org = 'council' AND "
                f"occurred_at < CAST('{cutoff.isoformat()}' AS TIMESTAMPTZ)",
            )
            == 0
        )
        assert _scalar(ws, "SELECT count(*) FROM events WHERE org = 'council'") > 0
        assert res.removed["demand"] == {"council": 1}
        assert res.removed["episode_events"] == {"council": 1}
        assert res.removed["episodes"] == {"(joined)": 1}
        ids = ws.read("demand").column("event_id").to_pylist()
        assert ids == [new]
        assert ws.read("episodes").column("episode_id").to_pylist() == ["ep-new"]
        # people records are removed only when none of their events remain
        assert ws.count("people") == people_before - res.removed.get("people", {}).get("council", 0)
        assert res.removed["people"]["council"] > 0
        [run] = [r for r in ws.runs() if r["command"] == "retention purge"]
        assert run["outputs"]["removed"]["events"]["council"] == res.removed["events"]["council"]
        again = purge(ws, a, now=NOW)
        assert again.total == 0
    [entry] = list(log.entries(what="retention"))
    assert entry.who == "dpo" and entry.details["removed"]["events"] == res.removed["events"]


def test_ingest_time_basis_removes_whole_sources(
    ws_dir: Path, agreement_path: Path, agreement_text: str
) -> None:
    text = agreement_text.replace("basis: occurred_at", "basis: ingested_at")
    agreement_path.write_text(text, encoding="utf-8")
    a = load_agreement(agreement_path)
    with Workspace(ws_dir, create=False) as ws:
        quarantined = ws.count("quarantine")
        res = purge(ws, a, now=datetime.now(UTC) + timedelta(days=400))
        assert set(res.removed["events"]) == {"council"}  # only council keeps < 400 days
        assert _scalar(ws, "SELECT count(*) FROM events WHERE org = 'council'") == 0
        assert _scalar(ws, "SELECT count(*) FROM people WHERE org = 'council'") == 0
        assert _scalar(ws, "SELECT count(*) FROM events WHERE org = 'tax'") > 0
        assert ws.count("quarantine") == quarantined - sum(
            res.removed.get("quarantine", {}).values()
        )
        res = purge(ws, a, now=datetime.now(UTC) + timedelta(days=800))
        assert ws.count("events") == 0 and ws.count("people") == 0
        assert ws.count("quarantine") == 0


def test_organisations_outside_the_agreement_are_reported(
    ws_dir: Path, agreement_path: Path, agreement_text: str
) -> None:
    start = agreement_text.index("  health:")
    end = agreement_text.index("retention:\n")
    agreement_path.write_text(agreement_text[:start] + agreement_text[end:], encoding="utf-8")
    with Workspace(ws_dir, create=False) as ws:
        res = purge(ws, load_agreement(agreement_path), now=NOW, dry_run=True)
    assert res.not_covered == ["health"]
