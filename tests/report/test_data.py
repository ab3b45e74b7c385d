"""The data and provenance sections: sources, linkage quality, unit costs, the demand
model, the agreement and the run record, read from the workspace and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

from joinedup.governance import governed_run, load_agreement
from joinedup.report import build, compute, publish
from joinedup.report._data import data, provenance
from joinedup.workspace import Workspace
from tests.governance.conftest import AGREEMENT


def test_linkage_quality_is_the_link_runs_record_and_its_clusters(pipeline_dir: Path) -> None:
    with Workspace(pipeline_dir, create=False) as ws:
        fig = compute(ws)
        section = data(ws, fig, publish(fig))
        run = next(r for r in ws.runs() if r["command"] == "link")
        links = ws.read("links").to_pylist()
    assert section is not None
    link = section.context["linkage"]
    assert link["precision"] == run["outputs"]["estimated_precision"]
    assert link["recall"] == run["outputs"]["estimated_recall"]
    assert link["orgs"] == ["benefits", "council", "health", "tax"]
    assert "encodings only" in link["privacy"]
    people = {r["person_id"] for r in links}
    assert abs(link["people"] - len(people)) <= 2.5 and link["people"] % 5 == 0
    assert abs(link["records"] - len(links)) <= 2.5
    orgs_of: dict[str, set[str]] = {}
    for r in links:
        orgs_of.setdefault(r["person_id"], set()).add(r["org"])
    for k, n in link["spread"]:
        true = sum(len(v) == int(k) for v in orgs_of.values())
        assert n is None or (n >= 10 and abs(n - true) <= 2.5)


def test_sources_publish_each_column_on_its_own(pipeline_dir: Path) -> None:
    with Workspace(pipeline_dir, create=False) as ws:
        fig = compute(ws)
        section = data(ws, fig, publish(fig))
    assert section is not None
    sources = section.context["sources"]
    assert {s["org"] for s in sources} == {"benefits", "council", "health", "tax"}
    for s in sources:
        # Nothing was quarantined (zeros are withheld); that must not withhold the rest.
        assert s["quarantined"] is None
        assert s["events"] >= 10 and s["people"] >= 10


def test_provenance_states_costs_model_and_runs(pipeline_dir: Path) -> None:
    with Workspace(pipeline_dir, create=False) as ws:
        fig = compute(ws)
        section = provenance(ws, fig, publish(fig))
        costs = ws.read("unit_costs").to_pylist()
    assert section is not None
    c = section.context
    assert {(u["org"], u["channel"], u["cost_gbp"]) for u in c["unit_costs"]["rows"]} == {
        (u["org"], u["channel"], u["cost_gbp"]) for u in costs
    }
    assert "unit_costs_uk.yaml" in c["unit_costs"]["label"]
    assert c["model"]["rules"] and "chase" in c["model"]["rules"]
    assert c["agreements"] == []
    assert [r["command"] for r in c["runs"]][:2] == ["synth", "ingest"]


def test_a_run_under_an_agreement_is_named_in_the_report(
    pipeline_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(pipeline_dir, copy)
    (tmp_path / "agreement.yaml").write_text(AGREEMENT, encoding="utf-8")
    agreement = load_agreement(tmp_path / "agreement.yaml")
    with Workspace(copy, create=False) as ws:
        with governed_run(ws, agreement, "report check", parties=["benefits", "tax"]):
            pass
        result = build(ws, tmp_path / "report.html")
        fig = compute(ws)
        section = provenance(ws, fig, publish(fig))
    assert section is not None
    [recorded] = section.context["agreements"]
    assert recorded["name"] == "jobloss-2026" and recorded["runs"] == ["report check"]
    html = result.path.read_text(encoding="utf-8")
    assert "jobloss-2026" in html and agreement.fingerprint[:16] in html
    assert "Estimated precision" in html and "Cost of one contact" in html
    assert '"file": "default.npz"' in html.replace("&#34;", '"')
