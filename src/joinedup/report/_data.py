"""The data section (sources, quarantine, linkage quality) and the method and provenance
section (unit costs, demand model, agreement, run record, disclosure-control notes).

Everything here is read from the workspace: its tables and the record of its runs. A
thing the runs did not record is said to be unrecorded, never guessed.
"""

from __future__ import annotations

from typing import Any

from joinedup.report._figures import Figures
from joinedup.report._publish import Published, grid
from joinedup.report._sections import Section
from joinedup.report._stages import _present, _publish_grid, _rows
from joinedup.workspace import Workspace


def _last(runs: list[dict[str, Any]], command: str) -> dict[str, Any] | None:
    ok = [r for r in runs if r["command"] == command and r["status"] == "ok"]
    return ok[-1] if ok else None


def data(ws: Workspace, fig: Figures, pub: Published) -> Section | None:
    runs = ws.runs()
    return Section(
        "data",
        "Data",
        {"sources": _sources(fig, pub), "linkage": _linkage(ws, runs, pub)},
    )


def _sources(fig: Figures, pub: Published) -> list[dict[str, object]]:
    """Rows loaded and quarantined per source, through disclosure control."""
    counts: dict[str, dict[str, int]] = {}
    orgs: dict[str, str] = {}
    for s in fig.sources:
        name = str(s.get("source"))
        orgs[name] = str(s.get("org"))
        ev, pe = s.get("events") or {}, s.get("people") or {}
        counts[name] = {
            "events": int(ev.get("loaded", 0)),
            "people": int(pe.get("loaded", 0)),
            "quarantined": int(ev.get("quarantined", 0)) + int(pe.get("quarantined", 0)),
        }
    # Each column is its own table: a source's events, people and quarantined rows add up
    # to nothing anyone would publish, so a small count in one column must not withhold
    # the others.
    out: dict[str, dict[str, object]] = {k: {"source": k, "org": orgs[k]} for k in counts}
    for col in ("events", "people", "quarantined"):
        safe, notes = grid({k: {col: v[col]} for k, v in counts.items()}, pub.rules, pub.controlled)
        pub.notes.extend(n for n in notes if n not in pub.notes)
        for k in counts:
            out[k][col] = safe.get(k, {}).get(col)
    return list(out.values())


def _linkage(ws: Workspace, runs: list[dict[str, Any]], pub: Published) -> dict[str, Any] | None:
    """How well records were linked: the link run's own estimates, and the clusters it
    made (people, and how many organisations hold a record of each)."""
    run = _last(runs, "link")
    if run is None or not _present(ws, "links"):
        return None
    out = run["outputs"]
    spread = _rows(
        ws,
        "SELECT orgs, count(*) AS people FROM (SELECT person_id, count(DISTINCT org) AS orgs "
        "FROM links GROUP BY person_id) GROUP BY orgs ORDER BY orgs",
    )
    cells = {f"{int(r['orgs'])}": {"people": int(r["people"])} for r in spread}
    doubtful = _rows(
        ws,
        "SELECT count(*) FILTER (WHERE match_probability < 0.95) AS doubtful, "
        "count(*) AS records FROM links",
    )[0]
    safe = _publish_grid(pub, cells)
    # Records linked with a probability under 0.95 and the rest, as one protected table.
    recs = _publish_grid(
        pub,
        {
            "records": {
                "doubtful": int(doubtful["doubtful"]),
                "sure": int(doubtful["records"]) - int(doubtful["doubtful"]),
            }
        },
    )
    return {
        "run_id": run["run_id"],
        "when": run["started_at"],
        "precision": out.get("estimated_precision"),
        "recall": out.get("estimated_recall"),
        "threshold": out.get("threshold"),
        "pairs_scored": out.get("pairs_scored"),
        "orgs": run["inputs"].get("orgs", []),
        "privacy": "plain identifiers"
        if run["settings"].get("plaintext")
        else "encodings only (Bloom filters and keyed tokens)",
        "people": safe.get("Total", {}).get("people"),
        "records": recs.get("Total", {}).get("Total"),
        "doubtful": recs.get("records", {}).get("doubtful"),
        "spread": [(k, v.get("people")) for k, v in sorted(safe.items()) if k != "Total"],
    }


def provenance(ws: Workspace, fig: Figures, pub: Published) -> Section | None:
    runs = ws.runs()
    return Section(
        "provenance",
        "Method and provenance",
        {
            "runs": runs,
            "unit_costs": _unit_costs(ws, runs),
            "model": _model(runs),
            "agreements": _agreements(runs),
        },
    )


def _unit_costs(ws: Workspace, runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    run = _last(runs, "value ledger")
    if run is None or not _present(ws, "unit_costs"):
        return None
    rows = _rows(
        ws,
        "SELECT org, channel, cost_gbp, source, year FROM unit_costs ORDER BY org, channel",
    )
    return {"label": run["settings"].get("unit_costs"), "rows": rows}


def _model(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the last demand run recorded about how it decided."""
    run = _last(runs, "demand classify")
    if run is None:
        return None
    s = run["settings"]
    recorded = s.get("model") or run["outputs"].get("model")
    rules = sorted(k for k, v in (s.get("rules") or {}).items() if v.get("enabled", True))
    return {
        "run_id": run["run_id"],
        "version": run["package_version"],
        "model": recorded,
        "rules": rules,
        "threshold": s.get("threshold"),
        "type_threshold": s.get("type_threshold"),
    }


def _agreements(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each data-sharing agreement a run was checked against, with the runs under it."""
    seen: dict[str, dict[str, Any]] = {}
    for r in runs:
        a = r["settings"].get("agreement")
        if not isinstance(a, dict) or "fingerprint" not in a:
            continue
        entry = seen.setdefault(a["fingerprint"], {**a, "runs": []})
        entry["runs"].append(r["command"])
    return list(seen.values())
