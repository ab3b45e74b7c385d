"""Need episodes: the invariants, and placement against the synthetic truth."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from joinedup import journeys
from joinedup.journeys import EpisodeSettings, JourneysError
from joinedup.journeys._score import score_placement
from joinedup.model import EVENTS, LINKS
from joinedup.synth import SynthResult
from joinedup.workspace import Workspace
from tests.journeys.conftest import write_true_links

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)


def _check_invariants(ws: Workspace) -> None:
    eng = ws.engine
    linked = eng.count(
        eng.sql(
            "SELECT e.event_id FROM events e JOIN links l "
            "ON e.org = l.org AND e.local_person_ref = l.local_person_ref"
        )
    )
    placed = ws.read("episode_events")
    # none lost, none in two episodes
    assert placed.num_rows == linked
    assert len(set(placed.column("event_id").to_pylist())) == linked
    eps = ws.read("episodes").to_pylist()
    assert {e["episode_id"] for e in eps} == set(placed.column("episode_id").to_pylist())
    for e in eps:
        assert e["elapsed_seconds"] is None or e["elapsed_seconds"] >= 0
        if e["ended_at"] is not None:
            assert e["ended_at"] >= e["started_at"]
        assert e["end_reason"] in ("met", "abandoned", "open")
        assert 0 <= e["handoffs"] <= max(e["contacts"] - 1, 0)
        if e["contacts"] <= 1:
            assert e["handoffs"] == 0
    # positions run 1..n within each episode, in time order
    check = eng.to_arrow(
        eng.sql(
            """
            SELECT ee.episode_id, count(*) AS n, min(position) AS lo, max(position) AS hi,
                   count(DISTINCT position) AS k,
                   bool_and(ok) AS ordered
            FROM (
                SELECT ee.*, e.occurred_at >= coalesce(LAG(e.occurred_at) OVER (
                    PARTITION BY ee.episode_id ORDER BY ee.position), e.occurred_at) AS ok
                FROM episode_events ee JOIN events e USING (event_id)
            ) ee GROUP BY ee.episode_id
            """
        )
    ).to_pylist()
    for row in check:
        assert row["lo"] == 1 and row["hi"] == row["n"] == row["k"] and row["ordered"]
    # contacts and hand-offs agree with the events themselves
    recount = eng.to_arrow(
        eng.sql(
            """
            SELECT ep.episode_id, ep.contacts, ep.handoffs,
                   count(*) FILTER (WHERE coalesce(e.direction, 'in') = 'in') AS n
            FROM episodes ep JOIN episode_events ee USING (episode_id)
            JOIN events e USING (event_id) GROUP BY ALL
            """
        )
    ).to_pylist()
    for row in recount:
        assert row["contacts"] == row["n"]


def test_synthetic_episodes_hold_the_invariants(linked_workspace_dir: Path) -> None:
    with Workspace(linked_workspace_dir, create=False) as ws:
        _check_invariants(ws)
        assert ws.count("episodes") > 0
        runs = [r for r in ws.runs() if r["command"] == "journeys build"]
        assert runs and runs[-1]["status"] == "ok"
        assert runs[-1]["outputs"]["unlinked_events"] == 0


def test_contacts_land_in_the_right_episode(
    linked_workspace_dir: Path, small_synth: SynthResult
) -> None:
    truth = pq.read_table(small_synth.root / "truth" / "events.parquet")
    with Workspace(linked_workspace_dir, create=False) as ws:
        score = score_placement(ws.engine, truth)
    assert score.contacts > 1000
    # the target: at least 95% of contacts placed in the right episode
    assert score.accuracy >= 0.95, score
    assert score.pair_precision > 0.85 and score.pair_recall > 0.85, score


def test_without_note_names_placement_is_lower_but_whole(
    linked_ws: Workspace, small_synth: SynthResult
) -> None:
    journeys.episodes(linked_ws, EpisodeSettings())
    _check_invariants(linked_ws)
    truth = pq.read_table(small_synth.root / "truth" / "events.parquet")
    assert 0.85 < score_placement(linked_ws.engine, truth).accuracy < 0.99


def test_building_twice_gives_the_same_episodes(linked_ws: Workspace) -> None:
    before = linked_ws.read("episode_events").sort_by("event_id")
    from tests.journeys.conftest import SYNTH_SETTINGS

    journeys.episodes(linked_ws, SYNTH_SETTINGS)
    assert linked_ws.read("episode_events").sort_by("event_id").equals(before)


def test_an_empty_links_table_is_a_clear_error(tmp_path: Path, loaded_workspace_dir: Path) -> None:
    shutil.copytree(loaded_workspace_dir, tmp_path / "ws")
    with Workspace(tmp_path / "ws") as ws, pytest.raises(JourneysError, match="links"):
        journeys.episodes(ws)


def test_a_record_linked_to_two_people_is_refused(
    tmp_path: Path, loaded_workspace_dir: Path, small_synth: SynthResult
) -> None:
    shutil.copytree(loaded_workspace_dir, tmp_path / "ws")
    with Workspace(tmp_path / "ws") as ws:
        write_true_links(ws, small_synth.root / "truth")
        row = ws.read("links").slice(0, 1).to_pylist()[0]
        row["person_id"] = "someone-else"
        ws.engine.write("links", pa.Table.from_pylist([row], schema=LINKS))
        with pytest.raises(JourneysError, match="more than one person_id"):
            journeys.episodes(ws)


# -- small hand-made workspaces ------------------------------------------------------------


def _event(
    i: int,
    org: str,
    days: float,
    *,
    person: str = "a",
    case: str | None = None,
    direction: str = "in",
    outcome: str | None = None,
    service: str = "S",
    channel: str = "phone",
    activity: str = "Enquiry",
) -> dict[str, object]:
    return {
        "event_id": f"{org}:{i}",
        "org": org,
        "service": service,
        "channel": channel,
        "occurred_at": T0 + timedelta(days=days),
        "activity": activity,
        "direction": direction,
        "local_person_ref": person,
        "case_ref": case,
        "note": None,
        "outcome": outcome,
        "source": "test",
    }


def _workspace(tmp_path: Path, events: list[dict[str, object]]) -> Workspace:
    ws = Workspace(tmp_path / "hand")
    ws.engine.write("events", pa.Table.from_pylist(events, schema=EVENTS))
    refs = sorted({(e["org"], e["local_person_ref"]) for e in events})
    ws.engine.write(
        "links",
        pa.Table.from_pylist(
            [
                {"org": o, "local_person_ref": r, "person_id": f"P-{r}", "match_probability": 1.0}
                for o, r in refs
            ],
            schema=LINKS,
        ),
    )
    return ws


def test_a_knock_on_contact_joins_the_need_at_another_organisation(tmp_path: Path) -> None:
    events = [
        _event(1, "benefits", 0, case="B1"),
        _event(2, "benefits", 1, case="B1", direction="out", activity="Decision"),
        _event(3, "council", 5, case="C9"),  # a contact-only case at the council
        _event(4, "benefits", 9, case="B1", direction="out", outcome="need met"),
    ]
    with _workspace(tmp_path, events) as ws:
        journeys.episodes(ws)
        _check_invariants(ws)
        eps = ws.read("episodes").to_pylist()
        assert len(eps) == 1
        ep = eps[0]
        assert ep["orgs"] == ["benefits", "council"] and ep["need_org"] == "benefits"
        assert ep["contacts"] == 2 and ep["handoffs"] == 1
        assert ep["end_reason"] == "met"
        assert ep["elapsed_seconds"] == 9 * 86_400


def test_a_need_met_at_the_first_contact_has_no_handoffs(tmp_path: Path) -> None:
    events = [
        _event(1, "tax", 0, case="T1"),
        _event(2, "tax", 0.1, case="T1", direction="out", outcome="need met"),
        _event(3, "health", 40, case="H1"),
        _event(4, "health", 41, case="H1", direction="out", activity="Referral"),
    ]
    with _workspace(tmp_path, events) as ws:
        journeys.episodes(ws)
        eps = {e["need_org"]: e for e in ws.read("episodes").to_pylist()}
        assert eps["tax"]["contacts"] == 1 and eps["tax"]["handoffs"] == 0
        assert eps["tax"]["end_reason"] == "met"
        # the health need is the last thing in the data: still open, no end yet
        assert eps["health"]["end_reason"] == "open"
        assert eps["health"]["ended_at"] is None


def test_a_quiet_need_is_abandoned_and_caseless_contacts_split_on_quiet(
    tmp_path: Path,
) -> None:
    events = [
        _event(1, "council", 0),
        _event(2, "council", 3),
        _event(3, "council", 60),  # after a 57-day gap: a new run of contacts
        _event(4, "council", 120, person="b"),
    ]
    with _workspace(tmp_path, events) as ws:
        journeys.episodes(ws, EpisodeSettings(quiet_days=28))
        _check_invariants(ws)
        eps = sorted(ws.read("episodes").to_pylist(), key=lambda e: e["started_at"])
        assert [e["contacts"] for e in eps] == [2, 1, 1]
        assert [e["end_reason"] for e in eps] == ["abandoned", "abandoned", "open"]


def test_a_contact_prefers_the_organisation_its_note_names(tmp_path: Path) -> None:
    events = [
        _event(1, "benefits", 0, case="B1"),
        _event(2, "benefits", 1, case="B1", direction="out"),
        _event(3, "tax", 0.5, case="T1"),
        _event(4, "tax", 1, case="T1", direction="out"),
        _event(5, "council", 2, case="C1"),
    ]
    events[4]["note"] = "Caller says HMRC sent them here."
    with _workspace(tmp_path, events) as ws:
        journeys.episodes(ws, EpisodeSettings(org_names={"tax": ["HMRC"]}))
        home = {r["event_id"]: r["episode_id"] for r in ws.read("episode_events").to_pylist()}
        assert home["council:5"] == home["tax:3"] != home["benefits:1"]
        journeys.episodes(ws, EpisodeSettings())
        home = {r["event_id"]: r["episode_id"] for r in ws.read("episode_events").to_pylist()}
        # without names the earliest-starting need in reach wins
        assert home["council:5"] == home["benefits:1"]


_orgs = st.sampled_from(["benefits", "tax", "council"])


@st.composite
def _random_events(draw: st.DrawFn) -> list[dict[str, object]]:
    n = draw(st.integers(1, 25))
    out = []
    for i in range(n):
        case = draw(st.one_of(st.none(), st.sampled_from(["K1", "K2", "K3"])))
        out.append(
            _event(
                i,
                draw(_orgs),
                draw(st.integers(0, 200)) / 2,
                person=draw(st.sampled_from(["a", "b"])),
                case=case,
                direction=draw(st.sampled_from(["in", "in", "out"])),
                outcome=draw(st.sampled_from([None, None, "need met"])),
            )
        )
    return out


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=_random_events())
def test_invariants_hold_on_random_timelines(
    tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, object]]
) -> None:
    with _workspace(tmp_path_factory.mktemp("rand"), events) as ws:
        journeys.episodes(ws, EpisodeSettings(quiet_days=10, attach_days=20))
        _check_invariants(ws)
