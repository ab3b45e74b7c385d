"""Service shapes count variants as the episodes' contact sequences, checked against a
plain reading of the workspace's log."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from joinedup import journeys
from joinedup.journeys import ShapeSettings
from joinedup.journeys._map import stage_workspace_log
from joinedup.workspace import Workspace


def test_variety_matches_the_contact_sequences(linked_workspace_dir: Path) -> None:
    settings = ShapeSettings()
    with Workspace(linked_workspace_dir, create=False) as ws:
        shapes = {r["service"]: r for r in journeys.service_shapes(ws, settings).to_pylist()}
        log = stage_workspace_log(ws.engine, by="activity", contacts_only=True)
        rows = ws.engine.to_arrow(log).to_pylist()
        ws.engine.drop_temp(log)
        episodes = ws.engine.to_arrow(
            ws.engine.sql("SELECT episode_id, need_type FROM episodes")
        ).to_pylist()
    contacts: dict[str, list[tuple[object, int, str]]] = defaultdict(list)
    for r in rows:
        contacts[r["case_id"]].append((r["ts"], r["ord"], r["activity"]))
    per_service: dict[str, Counter[tuple[str, ...]]] = defaultdict(Counter)
    for ep in episodes:
        trace = tuple(a for _, _, a in sorted(contacts.get(ep["episode_id"], [])))
        per_service[ep["need_type"]][trace] += 1
    assert set(per_service) == set(shapes)
    checked_repeats = False
    for service, counts in per_service.items():
        got = shapes[service]
        n = sum(counts.values())
        p = [c / n for c in counts.values()]
        top = sorted(counts.values(), reverse=True)[: settings.top_variants]
        assert got["episodes"] == n
        assert got["variants"] == len(counts)
        assert got["entropy_bits"] == pytest.approx(-sum(x * math.log2(x) for x in p), abs=1e-9)
        assert got["tail_share"] == pytest.approx(1 - sum(top) / n, abs=1e-9)
        checked_repeats |= len(counts) < n
    assert checked_repeats  # some episodes share a sequence, so grouping was exercised
