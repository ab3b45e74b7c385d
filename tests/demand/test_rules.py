"""Each journey rule on a tiny hand-made journey, and cause attribution across orgs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from joinedup.demand import DemandError, DemandSettings, classify, load_settings
from joinedup.demand._text import TextModel
from joinedup.model import DEMAND, EPISODE_EVENTS, EVENTS, LINKS
from joinedup.workspace import Workspace

T0 = datetime(2025, 3, 3, 10, tzinfo=UTC)
# Notes the text model reads as plain value demand, so only a rule can say failure.
NEUTRAL = "Hello, I would like to apply for Universal Credit please."


def _event(eid: str, org: str, day: float, activity: str, **kw: Any) -> dict[str, Any]:
    row = {
        "event_id": eid,
        "org": org,
        "service": kw.pop("service", "Universal Credit"),
        "channel": kw.pop("channel", "phone"),
        "occurred_at": T0 + timedelta(days=day),
        "activity": activity,
        "direction": kw.pop("direction", "in"),
        "local_person_ref": kw.pop("ref", f"{org}-1"),
        "case_ref": kw.pop("case", f"{org}-C1"),
        "note": kw.pop("note", NEUTRAL),
        "outcome": kw.pop("outcome", "pending"),
        "source": "test",
    }
    assert not kw
    return row


def _workspace(
    path: Path, events: list[dict[str, Any]], episodes: dict[str, str] | None = None
) -> Workspace:
    ws = Workspace(path)
    ws.engine.write("events", pa.Table.from_pylist(events, schema=EVENTS))
    refs = sorted({(e["org"], e["local_person_ref"]) for e in events})
    ws.engine.write(
        "links",
        pa.Table.from_pylist(
            [
                {"org": o, "local_person_ref": r, "person_id": "P1", "match_probability": 1.0}
                for o, r in refs
            ],
            schema=LINKS,
        ),
    )
    if episodes:
        rows = [
            {"event_id": e, "episode_id": ep, "person_id": "P1", "position": i}
            for i, (e, ep) in enumerate(episodes.items())
        ]
        ws.engine.write("episode_events", pa.Table.from_pylist(rows, schema=EPISODE_EVENTS))
    return ws


def _labels(ws: Workspace) -> dict[str, dict[str, Any]]:
    return {r["event_id"]: r for r in ws.read("demand").to_pylist()}


def _run(
    tmp_path: Path, model: TextModel, events: list[dict[str, Any]], **kw: Any
) -> dict[str, dict[str, Any]]:
    settings = kw.pop("settings", DemandSettings())
    with _workspace(tmp_path / "ws", events, **kw) as ws:
        classify(ws, model=model, settings=settings)
        return _labels(ws)


def test_chase_fires_when_the_request_is_overdue(tmp_path: Path, shipped_model: TextModel) -> None:
    out = _run(
        tmp_path,
        shipped_model,
        [
            _event("a", "benefits", 0, "Application"),
            _event("b", "benefits", 30, "Enquiry", note="Hello, just calling in."),
            _event("c", "benefits", 5, "Enquiry", note="Hello, just calling in."),
        ],
    )
    assert out["a"]["demand_type"] == "value"
    assert out["b"]["decided_by"].startswith("rule:chase")
    assert out["b"]["demand_type"] == "failure"
    assert not out["c"]["decided_by"].startswith("rule:")  # not yet overdue


def test_chase_does_not_fire_once_paid(tmp_path: Path, shipped_model: TextModel) -> None:
    out = _run(
        tmp_path,
        shipped_model,
        [
            _event("a", "benefits", 0, "Application"),
            _event("p", "benefits", 20, "Payment made", direction="out"),
            _event("b", "benefits", 30, "Enquiry", note="Hello, just calling in."),
        ],
    )
    assert "p" not in out  # the organisation's own actions are not demand
    assert not out["b"]["decided_by"].startswith("rule:")


def test_repeat_needs_time_between_requests(tmp_path: Path, shipped_model: TextModel) -> None:
    out = _run(
        tmp_path,
        shipped_model,
        [
            _event("a", "benefits", 0, "Application"),
            _event("b", "benefits", 0.2, "Application"),
            _event("k", "benefits", 2, "Acknowledgement sent", direction="out"),
            _event("c", "benefits", 12, "Application"),
        ],
    )
    assert out["a"]["decided_by"] == "model"
    assert out["b"]["decided_by"] == "model"  # same day: one contact recorded twice
    assert out["c"]["decided_by"] == "rule:repeat"
    assert out["c"]["category"] == "repeat"


def test_repeat_needs_a_response_in_between(tmp_path: Path, shipped_model: TextModel) -> None:
    events = [
        _event("a", "benefits", 0, "Application"),
        _event("c", "benefits", 12, "Application"),
    ]
    assert _run(tmp_path / "1", shipped_model, events)["c"]["decided_by"] == "model"
    cfg = tmp_path / "s.yaml"
    cfg.write_text("rules: {repeat: {after_response: false}}\n", encoding="utf-8")
    out = _run(tmp_path / "2", shipped_model, events, settings=load_settings(cfg))
    assert out["c"]["decided_by"] == "rule:repeat"


def test_error_after_a_correction_and_on_a_dispute(
    tmp_path: Path, shipped_model: TextModel
) -> None:
    out = _run(
        tmp_path,
        shipped_model,
        [
            _event("a", "tax", 0, "Change reported", service="PAYE tax code"),
            _event("r", "tax", 10, "Decision revised", direction="out", service="PAYE tax code"),
            _event("b", "tax", 12, "Enquiry", service="PAYE tax code", note="Hello, a question."),
            _event("d", "tax", 1, "Dispute", service="PAYE tax code", note="Hello, a question."),
        ],
    )
    assert out["b"]["decided_by"].startswith("rule:error")
    assert out["d"]["decided_by"].startswith("rule:error")


def test_misrouted_on_a_transfer(tmp_path: Path, shipped_model: TextModel) -> None:
    out = _run(tmp_path, shipped_model, [_event("a", "council", 0, "Transfer", note="Hello.")])
    assert out["a"]["decided_by"].startswith("rule:misrouted")
    assert out["a"]["demand_type"] == "failure"


def test_duplicate_evidence_and_its_cause_elsewhere(
    tmp_path: Path, shipped_model: TextModel
) -> None:
    out = _run(
        tmp_path,
        shipped_model,
        [
            _event("a", "benefits", 0, "Change reported", note="I have moved house."),
            _event("o", "benefits", 1, "Acknowledgement sent", direction="out"),
            # The council never had a request of its own: its case starts with evidence.
            _event(
                "b",
                "council",
                9,
                "Evidence received",
                service="Council Tax",
                note="Hello, attached.",
            ),
        ],
    )
    assert out["b"]["decided_by"].startswith("rule:duplicate")
    assert out["b"]["caused_by_org"] == "benefits"
    assert out["b"]["received_by_org"] == "council"
    assert out["a"]["caused_by_org"] is None  # value demand has no cause


def test_a_named_organisation_wins_the_cause(tmp_path: Path, shipped_model: TextModel) -> None:
    events = [
        _event("a", "benefits", 0, "Application"),
        _event("a2", "benefits", 1, "Acknowledgement sent", direction="out"),
        _event(
            "t", "tax", 2, "Change reported", service="PAYE tax code", note="I started a new job."
        ),
        _event("t2", "tax", 3, "Acknowledgement sent", direction="out", service="PAYE tax code"),
        _event(
            "x",
            "council",
            4,
            "Enquiry",
            service="Customer services",
            note="HMRC got my tax code wrong and now I'm paying too much, can you help?",
        ),
    ]
    out = _run(tmp_path, shipped_model, events)
    assert out["x"]["demand_type"] == "failure"
    assert out["x"]["caused_by_org"] == "tax"


def test_episodes_are_the_same_need_when_present(tmp_path: Path, shipped_model: TextModel) -> None:
    # Different case references, one episode: the second request is a repeat.
    events = [
        _event("a", "benefits", 0, "Application", case="C1"),
        _event("k", "benefits", 2, "Acknowledgement sent", case="C1", direction="out"),
        _event("b", "benefits", 14, "Application", case="C2"),
    ]
    without = _run(tmp_path / "1", shipped_model, events)
    with_ep = _run(
        tmp_path / "2", shipped_model, events, episodes={"a": "E1", "k": "E1", "b": "E1"}
    )
    assert without["b"]["decided_by"] == "model"
    assert with_ep["b"]["decided_by"] == "rule:repeat"


def test_rules_can_be_switched_off(tmp_path: Path, shipped_model: TextModel) -> None:
    cfg = tmp_path / "demand.yaml"
    cfg.write_text("rules:\n  misrouted: {enabled: false}\n", encoding="utf-8")
    out = _run(
        tmp_path,
        shipped_model,
        [_event("a", "council", 0, "Transfer", note=NEUTRAL)],
        settings=load_settings(cfg),
    )
    assert out["a"]["decided_by"] == "model"


def test_bad_settings_name_the_file(tmp_path: Path) -> None:
    from joinedup.demand import DemandError

    cfg = tmp_path / "demand.yaml"
    cfg.write_text("rules:\n  chaser: {}\n", encoding="utf-8")
    with pytest.raises(DemandError, match=r"demand\.yaml"):
        load_settings(cfg)


def test_same_person_and_service_is_the_proxy_without_cases(
    tmp_path: Path, shipped_model: TextModel
) -> None:
    events = [
        _event("a", "benefits", 0, "Application", case=None),
        _event("k", "benefits", 2, "Acknowledgement sent", case=None, direction="out"),
        _event("b", "benefits", 14, "Application", case=None),
        # Far apart: a new need by the proxy, so not a repeat.
        _event("c", "benefits", 200, "Application", case=None),
        _event("d", "benefits", 14.5, "Application", case=None, service="Child Benefit"),
    ]
    out = _run(tmp_path, shipped_model, events)
    assert out["b"]["decided_by"] == "rule:repeat"
    assert out["c"]["decided_by"] == "model"
    assert out["d"]["decided_by"] == "model"


def _late_payment(**chase: Any) -> list[dict[str, Any]]:
    return [
        _event("a", "benefits", 0, "Application"),
        _event("k", "benefits", 1, "Acknowledgement sent", direction="out"),
        _event("d", "benefits", 10, "Decision issued", direction="out"),
        _event("b", "benefits", 40, "Enquiry", note="Where is my payment? It is late.", **chase),
        _event("p", "benefits", 45, "Payment made", direction="out"),
        _event(
            "c",
            "benefits",
            50,
            "Complaint",
            note="I want to make a formal complaint about how I have been treated.",
        ),
    ]


def test_root_cause_is_read_from_the_causing_case(tmp_path: Path, shipped_model: TextModel) -> None:
    out = _run(tmp_path, shipped_model, _late_payment())
    assert out["b"]["category"] == "chase"
    # Chased after the decision and before the payment: a late payment.
    assert out["b"]["cause"] == "late_payment"
    # A complaint takes the root cause of its case's other failure contacts.
    assert out["c"]["category"] == "complaint"
    assert out["c"]["cause"] == "late_payment"
    assert out["a"]["cause"] is None  # value demand has no root cause


def test_no_root_cause_when_the_journey_does_not_fit(
    tmp_path: Path, shipped_model: TextModel
) -> None:
    # Without the payment that followed, the chase is not shown to be about a payment,
    # and benefits is not an organisation that refers people (referral_lost).
    events = [e for e in _late_payment() if e["event_id"] != "p"]
    out = _run(tmp_path, shipped_model, events)
    assert out["b"]["demand_type"] == "failure"
    assert out["b"]["cause"] is None
    assert out["c"]["cause"] is None


def test_root_causes_come_from_the_settings(tmp_path: Path, shipped_model: TextModel) -> None:
    cfg = tmp_path / "demand.yaml"
    cfg.write_text(
        "causes:\n  - {code: slow_money, categories: [chase], before: [Payment made]}\n",
        encoding="utf-8",
    )
    out = _run(tmp_path, shipped_model, _late_payment(), settings=load_settings(cfg))
    assert out["b"]["cause"] == "slow_money"
    cfg.write_text("causes:\n  - {code: x, categories: []}\n", encoding="utf-8")
    with pytest.raises(DemandError, match="categories"):
        load_settings(cfg)


def test_a_workspace_from_before_root_causes_gets_the_column(
    tmp_path: Path, shipped_model: TextModel
) -> None:
    with _workspace(tmp_path / "ws", _late_payment()) as ws:
        assert "cause" not in ws.engine.table("demand").columns
        classify(ws, model=shipped_model, settings=DemandSettings())
        assert ws.read("demand").column_names == [*DEMAND.names, "cause"]
        assert "late_payment" in ws.read("demand").column("cause").to_pylist()


def test_named_orgs_finds_every_organisation_a_note_names_by_whole_words() -> None:
    from joinedup.demand._reading import named_orgs

    notes = pa.array(
        [
            "HMRC said the Council had the wrong address",
            None,
            "rang the gpx line and the hmrcs portal",  # no whole word: nothing named
            "",
            "Job Centre then the hospital",
        ]
    )
    at, orgs = named_orgs(notes, DemandSettings())
    assert list(zip(at.tolist(), orgs, strict=True)) == [
        (0, "tax"),
        (0, "council"),
        (4, "benefits"),
        (4, "health"),
    ]
